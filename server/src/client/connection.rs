//! One client connection: the handshake, then a pipeline of requests answered in
//! the order they arrived (many in flight at once).
//!
//! A frame that is not a valid protobuf `ClientFrame`, or larger than the frame
//! limit, ends the connection (its requests in flight are answered by nobody; their
//! writes may still apply). A valid frame with a bad request gets an error response.
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::FuturesOrdered;
use futures::{FutureExt, SinkExt, StreamExt};
use paddock::codec;
use paddock::proto::paddock as pb;
use paddock::tls::Stream;

use crate::sessions::TOUCH_EVERY;
use crate::watch::{ConnEvent, ConnId, Hub};

type Framed = tokio_util::codec::Framed<Stream, paddock::codec::FrameCodec>;

use super::dispatch::{dispatch, outcome_unknown, Pipe};
use super::{handshake, ClientContext, MAX_IN_FLIGHT};

/// How long a new connection may take to send its connect request.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest frame before the handshake is done: a connect request is a few dozen bytes,
/// so a connection that has not shown it speaks the protocol costs little memory.
pub const HANDSHAKE_MAX_FRAME: usize = 64 * 1024;

fn server_frame_response(r: pb::Response) -> bytes::Bytes {
    let mut f = pb::ServerFrame::new();
    f.set_response(r);
    codec::encode(&f)
}

/// Unregisters the connection's watches however the connection ends.
struct ConnGuard {
    hub: Arc<Hub>,
    id: ConnId,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.hub.unregister_conn(self.id);
    }
}

/// How long one write to a client may block (its socket buffers full because it does
/// not read) before the connection is closed.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Queues a frame for the client, within [`WRITE_TIMEOUT`].
async fn feed(framed: &mut Framed, frame: bytes::Bytes) -> Result<(), String> {
    match tokio::time::timeout(WRITE_TIMEOUT, framed.feed(frame)).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err(not_reading()),
    }
}

/// Writes out what is queued, within [`WRITE_TIMEOUT`].
async fn flush(framed: &mut Framed) -> Result<(), String> {
    match tokio::time::timeout(WRITE_TIMEOUT, SinkExt::<bytes::Bytes>::flush(framed)).await {
        Ok(r) => r.map_err(|e: std::io::Error| e.to_string()),
        Err(_) => Err(not_reading()),
    }
}

fn not_reading() -> String {
    format!(
        "the client has not read for {} s; closing its connection",
        WRITE_TIMEOUT.as_secs()
    )
}

/// Writes one hub event; `false` when the connection must end.
async fn write_event(framed: &mut Framed, ev: ConnEvent) -> Result<bool, String> {
    match ev {
        ConnEvent::Watch(e) => {
            let mut f = pb::ServerFrame::new();
            f.set_event(e);
            feed(framed, codec::encode(&f)).await?;
            Ok(true)
        }
        ConnEvent::Close => {
            flush(framed).await?;
            Ok(false)
        }
        ConnEvent::Overflow => {
            // What was queued before still goes out; then the client reconnects.
            let _ = flush(framed).await;
            Err(format!(
                "the client reads too slowly: more than {} KiB of watch events waited for \
                 it; closing its connection",
                crate::watch::EVENT_BACKLOG_BYTES / 1024
            ))
        }
    }
}

/// Serves a connection until the client goes away, closes its session, or breaks
/// the protocol (the error says how).
pub async fn run(stream: Stream, ctx: &Arc<ClientContext>) -> Result<(), String> {
    let mut framed = codec::framed(stream, HANDSHAKE_MAX_FRAME.min(ctx.max_frame));
    let first = match tokio::time::timeout(HANDSHAKE_TIMEOUT, framed.next()).await {
        Err(_) => return Err("no connect request in time".into()),
        Ok(None) => return Ok(()),
        Ok(Some(Err(e))) => return Err(format!("bad frame: {e}")),
        Ok(Some(Ok(buf))) => buf,
    };
    framed.codec_mut().set_max_frame(ctx.max_frame);
    let frame: pb::ClientFrame = codec::decode_frame(&first).map_err(|e| e.to_string())?;
    let Some(pb::ClientFrame_oneof_kind::connect(connect)) = frame.kind else {
        return Err("the first frame must be a connect request".into());
    };
    let mut outcome = handshake::accept(ctx, &connect).await;
    // Register before answering, then look at the session again: a CloseSession that
    // applies after this check reaches the connection through the hub (the apply path
    // ends a session's connections under the tree's write lock), and one that applied
    // since the handshake's check is seen here. Either way no connection outlives its
    // session.
    let (events_tx, mut events) = crate::watch::event_channel();
    let mut conn = None;
    if let Some(session_id) = outcome.session {
        let guard = ConnGuard {
            hub: ctx.hub.clone(),
            id: ctx.hub.register_conn(session_id, events_tx),
        };
        if ctx.raft.tree().session(session_id).is_some() {
            conn = Some(guard);
        } else {
            outcome = handshake::expired(ctx, session_id);
        }
    }
    let mut reply = pb::ServerFrame::new();
    reply.set_connect(outcome.response);
    feed(&mut framed, codec::encode(&reply)).await?;
    flush(&mut framed).await?;
    let (Some(session_id), Some(conn)) = (outcome.session, conn) else {
        return Ok(());
    };
    if let Some(m) = ctx.ops.get("connect") {
        m.request();
    }
    ctx.sessions.touch(session_id);
    let mut last_touch = Instant::now();
    let who = super::auth::initial(
        framed.get_ref().tcp().peer_addr().ok(),
        framed
            .get_ref()
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.as_ref()),
    );
    let mut pipe = Pipe::new(session_id, conn.id, who, ctx.ops.clone());
    let mut inflight = FuturesOrdered::new();
    loop {
        tokio::select! {
            biased;
            ev = events.recv() => {
                // Watch events go out before any response that follows them.
                let Some(ev) = ev else { return Ok(()) };
                // A session the client itself is closing ends after the close's answer.
                if !write_event(&mut framed, ev).await? && !pipe.closing {
                    return Ok(());
                }
                while let Ok(ev) = events.try_recv() {
                    if !write_event(&mut framed, ev).await? && !pipe.closing {
                        return Ok(());
                    }
                }
                flush(&mut framed).await?;
            }
            Some(resp) = inflight.next(), if !inflight.is_empty() => {
                let mut resp = resp;
                let mut unknown = false;
                // What this member vouches for, counted from now (the client counts it
                // from when it sent the request, which was earlier).
                let lease_ms = ctx
                    .sessions
                    .lease(session_id)
                    .map_or(0, |d| u32::try_from(d.as_millis()).unwrap_or(u32::MAX));
                loop {
                    // Events queued before this response was ready precede it.
                    while let Ok(ev) = events.try_recv() {
                        if !write_event(&mut framed, ev).await? && !pipe.closing {
                            return Ok(());
                        }
                    }
                    unknown = unknown || outcome_unknown(&resp);
                    resp.lease_ms = lease_ms;
                    feed(&mut framed, server_frame_response(resp)).await?;
                    if unknown {
                        break;
                    }
                    // Write every answer that is already done in the same flush.
                    match inflight.next().now_or_never() {
                        Some(Some(next)) => resp = next,
                        _ => break,
                    }
                }
                flush(&mut framed).await?;
                if unknown {
                    return Err("a write's outcome is unknown; closing the connection".into());
                }
                if pipe.closing && inflight.is_empty() {
                    return Ok(());
                }
            }
            frame = framed.next(), if inflight.len() < MAX_IN_FLIGHT && !pipe.closing => {
                let buf = match frame {
                    None => return Ok(()),
                    Some(Err(e)) => return Err(format!("bad frame: {e}")),
                    Some(Ok(buf)) => buf,
                };
                if last_touch.elapsed() >= TOUCH_EVERY {
                    ctx.sessions.touch(session_id);
                    last_touch = Instant::now();
                }
                let frame: pb::ClientFrame = codec::decode_frame(&buf).map_err(|e| e.to_string())?;
                match frame.kind {
                    Some(pb::ClientFrame_oneof_kind::request(req)) => {
                        inflight.push_back(dispatch(ctx, &mut pipe, req));
                    }
                    _ => return Err("expected a request frame".into()),
                }
            }
        }
    }
}
