//! Outgoing peer connections: one task per peer, fed by a bounded queue.
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use protobuf::Message as _;
use raft::eraftpb::{Message, MessageType};
use slog::{debug, info, warn, Logger};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{PeerMsg, TAG_RAFT, TAG_TOUCH, TAG_TOUCH_ACK};
use crate::consensus::driver::Outbox;
use crate::consensus::handle::{Input, RaftHandle};
use crate::metrics::Metrics;
use crate::tls::{connect_peer, PeerTls};
use paddock::proto::replication as rpb;

/// Messages queued per peer before new ones are dropped.
const QUEUE: usize = 4096;

/// The Raft loop's outbox: routes messages to the per-peer sender tasks.
#[derive(Clone)]
pub struct PeerOutbox {
    peers: HashMap<u64, mpsc::Sender<PeerMsg>>,
    metrics: std::sync::Arc<Metrics>,
    /// Tells the loop about snapshots that never left (see [`Outbox::send`]).
    raft: RaftHandle,
}

impl PeerOutbox {
    #[allow(clippy::too_many_arguments)]
    /// Starts one sender task per peer (`peers` excludes this member) on the runtime;
    /// each connection starts with `hello` (this member's link hello).
    pub fn start(
        rt: &tokio::runtime::Handle,
        hello: super::hello::Hello,
        peers: &[(u64, String)],
        max_frame: usize,
        raft: RaftHandle,
        metrics: std::sync::Arc<Metrics>,
        tls: Option<Arc<PeerTls>>,
        stop: CancellationToken,
        log: &Logger,
    ) -> PeerOutbox {
        let mut map = HashMap::new();
        for (id, addr) in peers {
            let (tx, rx) = mpsc::channel::<PeerMsg>(QUEUE);
            map.insert(*id, tx);
            let link = Link {
                hello: hello.encode(),
                peer: *id,
                addr: addr.clone(),
                max_frame,
                raft: raft.clone(),
                metrics: metrics.clone(),
                tls: tls.clone(),
                log: log.new(slog::o!("component" => "peer-link", "peer" => *id)),
            };
            rt.spawn(link.run(rx, stop.clone()));
        }
        PeerOutbox {
            peers: map,
            metrics,
            raft,
        }
    }
}

impl PeerOutbox {
    /// Queues a round of session liveness for member `to`; `false` if it could not be
    /// queued (unknown member, link saturated): the caller keeps it for its next round.
    pub fn send_touch(&self, to: u64, round: u64, sessions: Vec<u64>) -> bool {
        match self.peers.get(&to) {
            Some(tx) => tx.try_send(PeerMsg::Touch { round, sessions }).is_ok(),
            None => false,
        }
    }

    /// Queues the answer to a round for member `to` (dropped when the link is
    /// saturated: the round then goes unanswered, which only costs its vouches).
    pub fn send_touch_ack(&self, to: u64, ack: rpb::TouchAck) {
        if let Some(tx) = self.peers.get(&to) {
            let _ = tx.try_send(PeerMsg::TouchAck(ack));
        }
    }
}

impl Outbox for PeerOutbox {
    /// Queues each message for its peer; a message that does not fit is dropped and
    /// counted (Raft retransmits). A dropped snapshot is reported as `SnapshotFailed`, or
    /// raft-rs would wait for it forever and the follower would stay paused.
    fn send(&self, msgs: Vec<Message>) {
        for m in msgs {
            let to = m.to;
            match self.peers.get(&to) {
                Some(tx) => {
                    let snapshot = m.get_msg_type() == MessageType::MsgSnapshot;
                    if tx.try_send(PeerMsg::Raft(m)).is_err() {
                        self.metrics
                            .peer_messages_dropped_total
                            .with_label_values(&[&to.to_string()])
                            .inc();
                        if snapshot {
                            self.raft.report(Input::SnapshotFailed(to));
                        }
                    }
                }
                None => {
                    self.metrics
                        .peer_messages_dropped_total
                        .with_label_values(&[&to.to_string()])
                        .inc();
                }
            }
        }
    }
}

struct Link {
    hello: Bytes,
    peer: u64,
    addr: String,
    max_frame: usize,
    raft: RaftHandle,
    metrics: std::sync::Arc<Metrics>,
    /// Mutual TLS on the link (none: plain TCP).
    tls: Option<Arc<PeerTls>>,
    log: Logger,
}

impl Link {
    async fn run(self, mut rx: mpsc::Receiver<PeerMsg>, stop: CancellationToken) {
        let mut backoff = Duration::from_millis(50);
        let label = self.peer.to_string();
        loop {
            let conn = tokio::select! {
                _ = stop.cancelled() => return,
                c = connect_peer(self.tls.as_deref(), &self.addr, Duration::from_secs(1)) => c,
            };
            let stream = match conn {
                Ok(s) => s,
                Err(e) => {
                    if e.kind() == std::io::ErrorKind::InvalidData {
                        // A TLS refusal (unknown CA, wrong name) does not pass by itself.
                        warn!(self.log, "TLS handshake with a peer failed"; "addr" => &self.addr, "error" => %e);
                    }
                    // Peer down: drop what queued (Raft retransmits) and say so.
                    self.discard(&mut rx);
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                    continue;
                }
            };
            backoff = Duration::from_millis(50);
            info!(self.log, "connected to peer"; "addr" => &self.addr);
            let mut framed = paddock::codec::framed(stream, self.max_frame);
            if framed.send(self.hello.clone()).await.is_err() {
                continue;
            }
            let sent = self
                .metrics
                .peer_messages_sent_total
                .with_label_values(&[&label]);
            loop {
                let first = tokio::select! {
                    _ = stop.cancelled() => return,
                    m = rx.recv() => match m { Some(m) => m, None => return },
                    // The peer never writes on this connection, so anything read is its
                    // end: a peer that died (or restarted) is noticed while the link is
                    // idle, not by losing the next messages into a dead socket.
                    r = framed.next() => match r {
                        Some(Ok(_)) => continue,
                        _ => {
                            debug!(self.log, "peer closed the link while it was idle");
                            break;
                        }
                    },
                };
                let mut batch = vec![first];
                while batch.len() < 256 {
                    match rx.try_recv() {
                        Ok(m) => batch.push(m),
                        Err(_) => break,
                    }
                }
                let frames: Vec<Bytes> = batch.iter().filter_map(encode).collect();
                // A link that makes no progress fails (and is re-dialled) instead of
                // holding the queue: LINK_TIMEOUT, plus 1 ms per KiB for big snapshots.
                let bytes: usize = frames.iter().map(Bytes::len).sum();
                let limit = super::LINK_TIMEOUT + Duration::from_millis((bytes / 1024) as u64);
                let write = async {
                    for f in frames {
                        framed.feed(f).await?;
                    }
                    SinkExt::<Bytes>::flush(&mut framed).await
                };
                let flushed = match tokio::time::timeout(limit, write).await {
                    Ok(r) => r,
                    Err(_) => Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("no progress writing {bytes} bytes for {limit:?}"),
                    )),
                };
                match flushed {
                    Ok(()) => {
                        sent.inc_by(batch.len() as u64);
                        if batch.iter().any(is_snapshot) {
                            self.raft.report(Input::SnapshotSent(self.peer));
                        }
                    }
                    Err(e) => {
                        debug!(self.log, "peer link failed"; "error" => %e);
                        for m in &batch {
                            self.report_failure(m);
                        }
                        break;
                    }
                }
            }
        }
    }

    fn discard(&self, rx: &mut mpsc::Receiver<PeerMsg>) {
        let mut any = false;
        while let Ok(m) = rx.try_recv() {
            self.report_failure(&m);
            any = true;
        }
        if any {
            self.raft.report(Input::Unreachable(self.peer));
        }
    }

    fn report_failure(&self, m: &PeerMsg) {
        if is_snapshot(m) {
            self.raft.report(Input::SnapshotFailed(self.peer));
        }
    }
}

fn is_snapshot(m: &PeerMsg) -> bool {
    matches!(m, PeerMsg::Raft(r) if r.get_msg_type() == MessageType::MsgSnapshot)
}

/// A tagged frame for `m`.
fn encode(m: &PeerMsg) -> Option<Bytes> {
    let mut out = Vec::new();
    match m {
        PeerMsg::Raft(r) => {
            out.push(TAG_RAFT);
            r.write_to_vec(&mut out).ok()?;
        }
        PeerMsg::Touch { round, sessions } => {
            out.push(TAG_TOUCH);
            let mut t = rpb::SessionTouch::new();
            t.session_ids = sessions.clone();
            t.round = *round;
            t.write_to_vec(&mut out).ok()?;
        }
        PeerMsg::TouchAck(ack) => {
            out.push(TAG_TOUCH_ACK);
            ack.write_to_vec(&mut out).ok()?;
        }
    }
    Some(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::consensus::handle::tests::handle;

    fn msg(t: MessageType) -> Message {
        let mut m = Message::default();
        m.set_msg_type(t);
        m.to = 2;
        m.from = 1;
        m
    }

    /// Finding 6 of the session-safety review: a snapshot dropped because the peer's
    /// queue was full was only counted; raft-rs kept waiting for it, and the follower
    /// stayed paused. It must be reported as failed so that raft-rs sends another.
    #[test]
    fn a_snapshot_dropped_on_a_full_queue_is_reported_failed() {
        // A runtime that is never driven: the sender task never drains its queue.
        let idle = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let (raft, inputs) = handle();
        let stop = CancellationToken::new();
        let outbox = PeerOutbox::start(
            idle.handle(),
            super::super::hello::Hello::Link {
                from: 1,
                incarnation: 1,
                rejoin: false,
            },
            &[(2, "127.0.0.1:9".to_string())],
            1 << 20,
            raft,
            Arc::new(Metrics::new()),
            None,
            stop.clone(),
            &slog::Logger::root(slog::Discard, slog::o!()),
        );
        outbox.send((0..QUEUE).map(|_| msg(MessageType::MsgAppend)).collect());
        assert!(inputs.try_recv().is_err(), "nothing failed yet");
        outbox.send(vec![msg(MessageType::MsgSnapshot)]);
        let reported: Vec<bool> = inputs
            .try_iter()
            .map(|i| matches!(i, Input::SnapshotFailed(2)))
            .collect();
        assert_eq!(
            reported,
            vec![true],
            "the dropped snapshot is reported failed"
        );
        // A dropped append is only counted.
        outbox.send(vec![msg(MessageType::MsgAppend)]);
        assert!(inputs.try_recv().is_err());
        stop.cancel();
    }
}
