//! The peer link: Raft messages between members over TCP.
//!
//! Each member listens on its peer address; for every other member it keeps one
//! outgoing connection, owned by a sender task that reconnects with exponential
//! backoff. A connection starts with a hello frame ([`hello`]: magic, the sender's id,
//! its data directory's incarnation, and whether it rejoins after a data loss), then
//! carries length-delimited frames, each a one-byte tag and a protobuf message:
//! [`TAG_RAFT`] + `raft::eraftpb::Message`, [`TAG_TOUCH`] + `replication::SessionTouch`
//! (a round of sessions whose clients this member heard from, for the leader's expiry
//! queue), [`TAG_TOUCH_ACK`] + `replication::TouchAck` (the leader's answer to a
//! round, sent on the leader's own link to that member), [`TAG_MEMBER_CHANGE`] +
//! `replication::ForwardedMemberChange` (a membership change passed on to the leader)
//! or [`TAG_MEMBER_ANSWER`] + `replication::MemberChangeAnswer` (the leader's answer).
//!
//! Links follow the membership: the Raft loop tells the outbox the members of each new
//! configuration (`PeerOutbox::set_links`), and the listener admits the members the
//! [`Roster`](crate::membership::Roster) knows.
//!
//! Guarantees and limits:
//! - Sending never blocks the Raft loop: messages go into a bounded queue per peer
//!   and are dropped when it is full or the peer is down (Raft retransmits; the loop
//!   is told the peer is unreachable, and a failed snapshot is reported as such).
//! - Frames on the peer link may be as large as a whole snapshot (`max_peer_frame_bytes`,
//!   1 GiB by default); the client link has a much smaller limit.
//! - Inbound messages are accepted only from members of the configuration, addressed to
//!   this member. At most a few connections per member may be waiting for their hello; once a
//!   connection has said which member it comes from, it replaces any older connection of
//!   that member (which is closed), so connections a peer left behind (killed while
//!   partitioned, say) never use up the listener.
//! - A dead link is noticed: every peer socket sends keepalive probes after 2 s of
//!   silence (a peer that vanished without closing is dropped within about 5 s), on Linux
//!   sent data may stay unacknowledged for at most [`LINK_TIMEOUT`], and a sender's write
//!   that makes no progress for [`LINK_TIMEOUT`] (plus 1 ms per KiB) ends the link. The
//!   sender then re-dials, so after a partition heals the link is back within seconds,
//!   not after TCP's retransmission backoff.
//! - A peer whose hello names another data directory than the one first recorded for it
//!   is refused, unless it rejoins after a data loss (`consensus/incarnation.rs`); the
//!   peer port also answers probes from a member starting on a new data directory.
//! - The link is not authenticated: peer ports belong on a trusted network.
pub mod hello;
mod listener;
mod sender;

use std::time::Duration;

pub use listener::serve as listen;
pub use sender::{LinkSettings, PeerOutbox};

/// Receives membership changes other members pass on to this one (as leader), and the
/// leader's answers to the ones this member passed on.
pub trait MemberSink: Send + Sync {
    /// Member `from` passes a change on to this member, believing it leads.
    fn forwarded(&self, from: u64, change: paddock::proto::replication::ForwardedMemberChange);
    /// The leader's answer to a change this member passed on.
    fn answered(&self, from: u64, answer: paddock::proto::replication::MemberChangeAnswer);
}

/// Receives session liveness from other members, and the leader's answers to this
/// member's rounds (the session tracker).
pub trait TouchSink: Send + Sync {
    /// A round of sessions member `from` heard from; answered with a `TouchAck`.
    fn touched(&self, from: u64, touch: &paddock::proto::replication::SessionTouch);
    /// The leader's answer to one of this member's rounds.
    fn acked(&self, from: u64, ack: &paddock::proto::replication::TouchAck);
}

/// How long a peer link may fail to make progress (sent data unacknowledged, a write
/// stuck) before it is closed and re-dialled.
pub const LINK_TIMEOUT: Duration = Duration::from_secs(5);

/// Sets the socket options every peer link uses (see the module doc). Failing to set
/// one leaves the system default; the link works either way.
pub(crate) fn tune(stream: &tokio::net::TcpStream) {
    let _ = stream.set_nodelay(true);
    let sock = socket2::SockRef::from(stream);
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(Duration::from_secs(2))
        .with_interval(Duration::from_secs(1));
    #[cfg(target_os = "linux")]
    let keepalive = keepalive.with_retries(3);
    let _ = sock.set_tcp_keepalive(&keepalive);
    #[cfg(target_os = "linux")]
    let _ = sock.set_tcp_user_timeout(Some(LINK_TIMEOUT));
}

/// Frame tag: a Raft message follows.
pub const TAG_RAFT: u8 = 0;
/// Frame tag: a `SessionTouch` follows.
pub const TAG_TOUCH: u8 = 1;
/// Frame tag: a `TouchAck` follows.
pub const TAG_TOUCH_ACK: u8 = 2;
/// Frame tag: a `ForwardedMemberChange` follows (to the leader).
pub const TAG_MEMBER_CHANGE: u8 = 3;
/// Frame tag: a `MemberChangeAnswer` follows (from the leader).
pub const TAG_MEMBER_ANSWER: u8 = 4;

/// What travels to a peer.
#[derive(Debug, Clone)]
pub enum PeerMsg {
    /// A Raft message.
    Raft(raft::eraftpb::Message),
    /// A round of sessions heard from (for the leader).
    Touch {
        /// The round's number.
        round: u64,
        /// The sessions.
        sessions: Vec<u64>,
    },
    /// The leader's answer to a round.
    TouchAck(paddock::proto::replication::TouchAck),
    /// A membership change passed on to the leader.
    MemberChange(paddock::proto::replication::ForwardedMemberChange),
    /// The leader's answer to a membership change passed on to it.
    MemberAnswer(paddock::proto::replication::MemberChangeAnswer),
}
