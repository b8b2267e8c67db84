//! Outgoing peer connections: one task per peer, fed by a bounded queue.
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use parking_lot::RwLock;
use protobuf::Message as _;
use raft::eraftpb::{Message, MessageType};
use slog::{debug, info, warn, Logger};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{PeerMsg, TAG_MEMBER_ANSWER, TAG_MEMBER_CHANGE, TAG_RAFT, TAG_TOUCH, TAG_TOUCH_ACK};
use crate::consensus::driver::Outbox;
use crate::consensus::handle::{Input, RaftHandle};
use crate::metrics::Metrics;
use crate::tls::{connect_peer, PeerTls};
use paddock::proto::replication as rpb;

/// Messages queued per peer before new ones are dropped.
const QUEUE: usize = 4096;

/// What every outgoing link is made with.
#[derive(Clone)]
pub struct LinkSettings {
    /// The runtime the sender tasks run on.
    pub rt: tokio::runtime::Handle,
    /// This member's link hello, the first frame of every connection.
    pub hello: super::hello::Hello,
    /// Largest frame.
    pub max_frame: usize,
    /// Mutual TLS on the link (none: plain TCP).
    pub tls: Option<Arc<PeerTls>>,
    /// Ends every link.
    pub stop: CancellationToken,
    /// The members' logger.
    pub log: Logger,
}

/// One running sender task: its address, queue and stop.
struct LinkHandle {
    addr: String,
    tx: mpsc::Sender<PeerMsg>,
    stop: CancellationToken,
}

/// The Raft loop's outbox: routes messages to the per-peer sender tasks. Clones share
/// the links.
#[derive(Clone)]
pub struct PeerOutbox {
    peers: Arc<RwLock<HashMap<u64, LinkHandle>>>,
    settings: Arc<LinkSettings>,
    metrics: std::sync::Arc<Metrics>,
    /// Tells the loop about snapshots that never left (see [`Outbox::send`]).
    raft: RaftHandle,
}

impl PeerOutbox {
    /// Starts one sender task per peer in `peers` (this member excluded).
    pub fn start(
        settings: LinkSettings,
        peers: &BTreeMap<u64, String>,
        raft: RaftHandle,
        metrics: std::sync::Arc<Metrics>,
    ) -> PeerOutbox {
        let outbox = PeerOutbox {
            peers: Arc::default(),
            settings: Arc::new(settings),
            metrics,
            raft,
        };
        outbox.set_links(peers);
        outbox
    }

    /// Keeps exactly one link per member of `peers`, to its address: starts the missing
    /// ones, stops the links of members no longer listed, and re-dials a member whose
    /// address changed. What was queued for a stopped link is dropped.
    pub fn set_links(&self, peers: &BTreeMap<u64, String>) {
        let mut map = self.peers.write();
        map.retain(|id, link| {
            let keep = peers.get(id) == Some(&link.addr);
            if !keep {
                link.stop.cancel();
            }
            keep
        });
        let s = &self.settings;
        for (id, addr) in peers {
            if map.contains_key(id) {
                continue;
            }
            let (tx, rx) = mpsc::channel::<PeerMsg>(QUEUE);
            let stop = s.stop.child_token();
            let link = Link {
                hello: s.hello.encode(),
                peer: *id,
                addr: addr.clone(),
                max_frame: s.max_frame,
                raft: self.raft.clone(),
                metrics: self.metrics.clone(),
                tls: s.tls.clone(),
                log: s
                    .log
                    .new(slog::o!("component" => "peer-link", "peer" => *id)),
            };
            s.rt.spawn(link.run(rx, stop.clone()));
            map.insert(
                *id,
                LinkHandle {
                    addr: addr.clone(),
                    tx,
                    stop,
                },
            );
        }
    }

    /// The members this outbox keeps links to.
    pub fn linked(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self.peers.read().keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// Queues `m` for `to`; false if there is no link to it or its queue is full.
    fn try_send(&self, to: u64, m: PeerMsg) -> bool {
        match self.peers.read().get(&to) {
            Some(link) => link.tx.try_send(m).is_ok(),
            None => false,
        }
    }
}

impl PeerOutbox {
    /// Queues a round of session liveness for member `to`; `false` if it could not be
    /// queued (unknown member, link saturated): the caller keeps it for its next round.
    pub fn send_touch(&self, to: u64, round: u64, sessions: Vec<u64>) -> bool {
        self.try_send(to, PeerMsg::Touch { round, sessions })
    }

    /// Queues the answer to a round for member `to` (dropped when the link is
    /// saturated: the round then goes unanswered, which only costs its vouches).
    pub fn send_touch_ack(&self, to: u64, ack: rpb::TouchAck) {
        let _ = self.try_send(to, PeerMsg::TouchAck(ack));
    }

    /// Queues a membership change for the leader `to`; `false` if it could not be
    /// queued (no link to it, link saturated).
    pub fn send_member_change(&self, to: u64, change: rpb::ForwardedMemberChange) -> bool {
        self.try_send(to, PeerMsg::MemberChange(change))
    }

    /// Queues the answer to a membership change member `to` passed on (dropped when
    /// the link is saturated: that member's request then times out).
    pub fn send_member_answer(&self, to: u64, answer: rpb::MemberChangeAnswer) {
        let _ = self.try_send(to, PeerMsg::MemberAnswer(answer));
    }
}

impl Outbox for PeerOutbox {
    /// Queues each message for its peer; a message that does not fit is dropped and
    /// counted (Raft retransmits). A dropped snapshot is reported as `SnapshotFailed`, or
    /// raft-rs would wait for it forever and the follower would stay paused.
    fn send(&self, msgs: Vec<Message>) {
        let peers = self.peers.read();
        for m in msgs {
            let to = m.to;
            let snapshot = m.get_msg_type() == MessageType::MsgSnapshot;
            let queued = match peers.get(&to) {
                Some(link) => link.tx.try_send(PeerMsg::Raft(m)).is_ok(),
                None => false,
            };
            if !queued {
                self.metrics
                    .peer_messages_dropped_total
                    .with_label_values(&[&to.to_string()])
                    .inc();
                if snapshot {
                    self.raft.report(Input::SnapshotFailed(to));
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
        PeerMsg::MemberChange(c) => {
            out.push(TAG_MEMBER_CHANGE);
            c.write_to_vec(&mut out).ok()?;
        }
        PeerMsg::MemberAnswer(a) => {
            out.push(TAG_MEMBER_ANSWER);
            a.write_to_vec(&mut out).ok()?;
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
            LinkSettings {
                rt: idle.handle().clone(),
                hello: super::super::hello::Hello::Link {
                    from: 1,
                    incarnation: 1,
                    rejoin: false,
                },
                max_frame: 1 << 20,
                tls: None,
                stop: stop.clone(),
                log: slog::Logger::root(slog::Discard, slog::o!()),
            },
            &BTreeMap::from([(2, "127.0.0.1:9".to_string())]),
            raft,
            Arc::new(Metrics::new()),
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
