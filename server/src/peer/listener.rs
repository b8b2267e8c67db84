//! Incoming peer connections: hello, then Raft messages handed to the loop.
use std::collections::BTreeSet;
use std::sync::Arc;

use futures::StreamExt;
use protobuf::Message as _;
use raft::eraftpb::Message;
use slog::{debug, warn, Logger};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::{TouchSink, HELLO_MAGIC, TAG_RAFT, TAG_TOUCH, TAG_TOUCH_ACK};
use crate::consensus::handle::RaftHandle;
use paddock::proto::replication as rpb;

/// Accepts peer connections until `stop` fires.
#[allow(clippy::too_many_arguments)]
pub async fn serve(
    listener: TcpListener,
    my_id: u64,
    voters: BTreeSet<u64>,
    max_frame: usize,
    raft: RaftHandle,
    touches: Arc<dyn TouchSink>,
    stop: CancellationToken,
    log: Logger,
) {
    // A few connections per voter are plenty (reconnects overlap briefly).
    let slots = Arc::new(Semaphore::new(voters.len() * 4));
    loop {
        let (stream, addr) = tokio::select! {
            _ = stop.cancelled() => return,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    warn!(log, "peer accept failed"; "error" => %e);
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            warn!(log, "too many peer connections; refusing one"; "from" => %addr);
            continue;
        };
        let conn_log = log.new(slog::o!("from" => addr.to_string()));
        let (raft, voters, stop, touches) =
            (raft.clone(), voters.clone(), stop.clone(), touches.clone());
        tokio::spawn(async move {
            let _permit = permit;
            tokio::select! {
                _ = stop.cancelled() => {}
                r = read_peer(stream, my_id, &voters, max_frame, &raft, touches.as_ref()) => {
                    if let Err(e) = r {
                        debug!(conn_log, "peer connection ended"; "reason" => e);
                    }
                }
            }
        });
    }
}

async fn read_peer(
    stream: TcpStream,
    my_id: u64,
    voters: &BTreeSet<u64>,
    max_frame: usize,
    raft: &RaftHandle,
    touches: &dyn TouchSink,
) -> Result<(), String> {
    let _ = stream.set_nodelay(true);
    let mut framed = paddock::codec::framed(stream, max_frame);
    let hello = match tokio::time::timeout(std::time::Duration::from_secs(5), framed.next()).await {
        Ok(Some(Ok(h))) => h,
        _ => return Err("no hello".into()),
    };
    if hello.len() != 16 || &hello[..8] != HELLO_MAGIC {
        return Err("bad hello".into());
    }
    let mut id = [0u8; 8];
    id.copy_from_slice(&hello[8..]);
    let from = u64::from_be_bytes(id);
    if !voters.contains(&from) || from == my_id {
        return Err(format!("hello from unknown member {from}"));
    }
    while let Some(frame) = framed.next().await {
        let frame = frame.map_err(|e| e.to_string())?;
        match frame.first() {
            Some(&TAG_RAFT) => {
                let m = Message::parse_from_bytes(&frame[1..]).map_err(|e| e.to_string())?;
                if m.from != from || m.to != my_id {
                    return Err(format!("misaddressed message {} -> {}", m.from, m.to));
                }
                raft.step(m);
            }
            Some(&TAG_TOUCH) => {
                let t =
                    rpb::SessionTouch::parse_from_bytes(&frame[1..]).map_err(|e| e.to_string())?;
                touches.touched(from, &t);
            }
            Some(&TAG_TOUCH_ACK) => {
                let a = rpb::TouchAck::parse_from_bytes(&frame[1..]).map_err(|e| e.to_string())?;
                touches.acked(from, &a);
            }
            _ => return Err("unknown frame tag".into()),
        }
    }
    Ok(())
}
