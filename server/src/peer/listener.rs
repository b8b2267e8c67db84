//! Incoming peer connections: hello, then Raft messages handed to the loop; one
//! connection per peer (a newer one replaces the older). A peer whose hello names
//! another data directory than the one recorded for it is refused (see
//! `consensus/incarnation.rs`), and probes are answered with the recorded one.
use std::collections::HashMap;
use std::sync::Arc;

use futures::{SinkExt, StreamExt};
use paddock::tls::Stream;
use parking_lot::Mutex;
use protobuf::Message as _;
use raft::eraftpb::{Message, MessageType};
use slog::{debug, info, warn, Logger};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::hello::{Hello, ProbeAnswer};
use super::{
    MemberSink, TouchSink, TAG_MEMBER_ANSWER, TAG_MEMBER_CHANGE, TAG_RAFT, TAG_TOUCH, TAG_TOUCH_ACK,
};
use crate::consensus::handle::RaftHandle;
use crate::consensus::incarnation::{Admitted, Incarnations};
use crate::membership::{Roster, MAX_MEMBERS};
use crate::tls::PeerTls;
use paddock::proto::replication as rpb;

/// The connection each peer uses now: a newer one from the same peer replaces it.
#[derive(Default)]
struct Current {
    next: u64,
    by_peer: HashMap<u64, (u64, CancellationToken)>,
}

impl Current {
    /// Makes a new connection of `peer` the current one, closing the one it replaces.
    fn replace(&mut self, peer: u64) -> (u64, CancellationToken) {
        self.next += 1;
        let token = CancellationToken::new();
        if let Some((_, old)) = self.by_peer.insert(peer, (self.next, token.clone())) {
            old.cancel();
        }
        (self.next, token)
    }

    /// Forgets connection `generation` of `peer` if it is still the current one.
    fn ended(&mut self, peer: u64, generation: u64) {
        if self
            .by_peer
            .get(&peer)
            .is_some_and(|(g, _)| *g == generation)
        {
            self.by_peer.remove(&peer);
        }
    }
}

/// Accepts peer connections until `stop` fires.
#[allow(clippy::too_many_arguments)]
pub async fn serve(
    listener: TcpListener,
    my_id: u64,
    roster: Arc<Roster>,
    max_frame: usize,
    raft: RaftHandle,
    touches: Arc<dyn TouchSink>,
    members: Arc<dyn MemberSink>,
    incarnations: Arc<Incarnations>,
    tls: Option<Arc<PeerTls>>,
    stop: CancellationToken,
    log: Logger,
) {
    // Connections that have not said who they are yet: a few per possible member
    // (reconnects overlap briefly). Once identified, a connection gives its slot back
    // and counts as its peer's one connection.
    let unidentified = Arc::new(Semaphore::new(MAX_MEMBERS * 4));
    let current = Arc::new(Mutex::new(Current::default()));
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
        let Ok(permit) = unidentified.clone().try_acquire_owned() else {
            warn!(log, "too many peer connections waiting for their hello; refusing one"; "from" => %addr);
            continue;
        };
        super::tune(&stream);
        let conn_log = log.new(slog::o!("from" => addr.to_string()));
        let (raft, roster, stop, touches, members, current, incarnations, tls) = (
            raft.clone(),
            roster.clone(),
            stop.clone(),
            touches.clone(),
            members.clone(),
            current.clone(),
            incarnations.clone(),
            tls.clone(),
        );
        tokio::spawn(async move {
            let ended = async {
                // A peer without a certificate from the peer CA ends here.
                let stream = crate::tls::accept(tls.as_ref().map(|t| t.server()), stream)
                    .await
                    .map_err(|e| {
                        warn!(conn_log, "refused a peer connection: TLS handshake failed"; "error" => %e);
                        format!("TLS handshake failed: {e}")
                    })?;
                let mut framed = paddock::codec::framed(stream, max_frame);
                let hello = tokio::select! {
                    _ = stop.cancelled() => return Ok(()),
                    r = hello(&mut framed, &roster) => r?,
                };
                let (from, incarnation, rejoin) = match hello {
                    Hello::Probe { from, .. } => {
                        let status = raft.status();
                        let answer = ProbeAnswer {
                            known: incarnations.known(from),
                            term: status.term,
                            position: status.log_position,
                        };
                        let _ = framed.send(answer.encode()).await;
                        return Err(format!("answered a probe from member {from}"));
                    }
                    Hello::Link {
                        from,
                        incarnation,
                        rejoin,
                    } => (from, incarnation, rejoin),
                };
                let admit = {
                    let incarnations = incarnations.clone();
                    tokio::task::spawn_blocking(move || {
                        incarnations.admit(from, incarnation, rejoin)
                    })
                };
                match admit.await.map_err(|e| e.to_string())? {
                    Ok(Admitted::Known) => {}
                    Ok(Admitted::First) => {
                        info!(conn_log, "recorded a peer's data directory"; "peer" => from,
                            "incarnation" => format!("{incarnation:016x}"));
                    }
                    Ok(Admitted::Rejoined { was }) => {
                        warn!(conn_log, "a peer rejoins after losing its data"; "peer" => from,
                            "incarnation" => format!("{incarnation:016x}"), "was" => format!("{was:016x}"));
                    }
                    Err(e) => {
                        warn!(conn_log, "refused a peer link"; "reason" => %e);
                        return Err(e.to_string());
                    }
                }
                drop(permit);
                let (generation, replaced) = current.lock().replace(from);
                let r = tokio::select! {
                    _ = stop.cancelled() => Ok(()),
                    _ = replaced.cancelled() => Err(format!("member {from} connected again; closing its older connection")),
                    r = read_peer(framed, from, my_id, &roster, &raft, touches.as_ref(), members.as_ref()) => r,
                };
                current.lock().ended(from, generation);
                r
            };
            if let Err(e) = ended.await {
                debug!(conn_log, "peer connection ended"; "reason" => e);
            }
        });
    }
}

type PeerFramed = tokio_util::codec::Framed<Stream, paddock::codec::FrameCodec>;

/// Reads the hello (within 5 s): a link or a probe from another member the roster knows.
async fn hello(framed: &mut PeerFramed, roster: &Roster) -> Result<Hello, String> {
    let frame = match tokio::time::timeout(std::time::Duration::from_secs(5), framed.next()).await {
        Ok(Some(Ok(h))) => h,
        _ => return Err("no hello".into()),
    };
    let hello = Hello::decode(&frame).ok_or("bad hello")?;
    let (Hello::Link { from, .. } | Hello::Probe { from, .. }) = hello;
    if !roster.knows(from) {
        return Err(format!("hello from unknown member {from}"));
    }
    Ok(hello)
}

/// Whether a Raft message that arrived on the link from `link_peer` may be stepped here: it
/// must be addressed to this member and come from the link's peer, except that raft-rs
/// forwards proposals, ReadIndex requests and leadership transfers (a follower passes
/// them on to the leader it knows) with the original sender (for a transfer: the
/// transferee) in `from`, which must then be another member (`known`).
fn check_addressed(
    m: &Message,
    link_peer: u64,
    my_id: u64,
    known: impl Fn(u64) -> bool,
) -> Result<(), String> {
    let forwardable = matches!(
        m.get_msg_type(),
        MessageType::MsgPropose | MessageType::MsgReadIndex | MessageType::MsgTransferLeader
    );
    let sender_ok = m.from == link_peer || (forwardable && m.from != my_id && known(m.from));
    if m.to != my_id || !sender_ok {
        return Err(format!(
            "misaddressed {:?} {} -> {} on the link from {link_peer}",
            m.get_msg_type(),
            m.from,
            m.to
        ));
    }
    Ok(())
}

async fn read_peer(
    mut framed: PeerFramed,
    from: u64,
    my_id: u64,
    roster: &Roster,
    raft: &RaftHandle,
    touches: &dyn TouchSink,
    members: &dyn MemberSink,
) -> Result<(), String> {
    while let Some(frame) = framed.next().await {
        let frame = frame.map_err(|e| e.to_string())?;
        match frame.first() {
            Some(&TAG_RAFT) => {
                let m = Message::parse_from_bytes(&frame[1..]).map_err(|e| e.to_string())?;
                check_addressed(&m, from, my_id, |id| roster.knows(id))?;
                // A full loop queue drops it; Raft sends it again.
                let _ = raft.step(m);
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
            Some(&TAG_MEMBER_CHANGE) => {
                let c = rpb::ForwardedMemberChange::parse_from_bytes(&frame[1..])
                    .map_err(|e| e.to_string())?;
                members.forwarded(from, c);
            }
            Some(&TAG_MEMBER_ANSWER) => {
                let a = rpb::MemberChangeAnswer::parse_from_bytes(&frame[1..])
                    .map_err(|e| e.to_string())?;
                members.answered(from, a);
            }
            _ => return Err("unknown frame tag".into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn msg(t: MessageType, from: u64, to: u64) -> Message {
        let mut m = Message::default();
        m.set_msg_type(t);
        m.from = from;
        m.to = to;
        m
    }

    #[test]
    fn a_proposal_forwarded_by_another_follower_is_accepted() {
        let voters: BTreeSet<u64> = [1, 2, 3].into();
        // 1 proposed to 2, which had learned that 3 leads and passed it on.
        assert!(
            check_addressed(&msg(MessageType::MsgPropose, 1, 3), 2, 3, |id| voters
                .contains(&id))
            .is_ok()
        );
        assert!(
            check_addressed(&msg(MessageType::MsgReadIndex, 1, 3), 2, 3, |id| voters
                .contains(&id))
            .is_ok()
        );
        // 2 was asked to move leadership to 1 and passed it on to the leader, 3.
        assert!(
            check_addressed(&msg(MessageType::MsgTransferLeader, 1, 3), 2, 3, |id| {
                voters.contains(&id)
            })
            .is_ok()
        );
        assert!(
            check_addressed(&msg(MessageType::MsgAppend, 2, 3), 2, 3, |id| voters
                .contains(&id))
            .is_ok()
        );
    }

    #[test]
    fn a_newer_connection_of_a_peer_closes_the_older_one() {
        let mut c = Current::default();
        let (g1, t1) = c.replace(2);
        let (g2, t2) = c.replace(2);
        let (_, t3) = c.replace(3);
        assert!(t1.is_cancelled() && !t2.is_cancelled() && !t3.is_cancelled());
        // The replaced connection ending does not forget its successor.
        c.ended(2, g1);
        assert!(c.by_peer.contains_key(&2));
        c.ended(2, g2);
        assert!(!c.by_peer.contains_key(&2));
    }

    #[test]
    fn other_misaddressed_messages_are_refused() {
        let voters: BTreeSet<u64> = [1, 2, 3].into();
        // Not for this member.
        assert!(
            check_addressed(&msg(MessageType::MsgPropose, 2, 1), 2, 3, |id| voters
                .contains(&id))
            .is_err()
        );
        // Only forwardable messages may name someone else as the sender...
        assert!(
            check_addressed(&msg(MessageType::MsgAppend, 1, 3), 2, 3, |id| voters
                .contains(&id))
            .is_err()
        );
        assert!(
            check_addressed(&msg(MessageType::MsgRequestVote, 1, 3), 2, 3, |id| voters
                .contains(&id))
            .is_err()
        );
        // ...and only another voter.
        assert!(
            check_addressed(&msg(MessageType::MsgPropose, 9, 3), 2, 3, |id| voters
                .contains(&id))
            .is_err()
        );
        assert!(
            check_addressed(&msg(MessageType::MsgPropose, 3, 3), 2, 3, |id| voters
                .contains(&id))
            .is_err()
        );
    }
}
