//! The peer link: Raft messages between members over TCP.
//!
//! Each member listens on its peer address; for every other voter it keeps one
//! outgoing connection, owned by a sender task that reconnects with exponential
//! backoff. A connection starts with a hello frame (magic + the sender's id), then
//! carries length-delimited frames, each a one-byte tag and a protobuf message:
//! [`TAG_RAFT`] + `raft::eraftpb::Message`, [`TAG_TOUCH`] + `replication::SessionTouch`
//! (a round of sessions whose clients this member heard from, for the leader's expiry
//! queue), or [`TAG_TOUCH_ACK`] + `replication::TouchAck` (the leader's answer to a
//! round, sent on the leader's own link to that member).
//!
//! Guarantees and limits:
//! - Sending never blocks the Raft loop: messages go into a bounded queue per peer
//!   and are dropped when it is full or the peer is down (Raft retransmits; the loop
//!   is told the peer is unreachable, and a failed snapshot is reported as such).
//! - Frames on the peer link may be as large as a whole snapshot (`max_peer_frame_bytes`,
//!   1 GiB by default); the client link has a much smaller limit.
//! - Inbound messages are accepted only from configured voters, addressed to this
//!   member; the listener holds at most a few connections per voter.
//! - The link is not authenticated: peer ports belong on a trusted network.
mod listener;
mod sender;

pub use listener::serve as listen;
pub use sender::PeerOutbox;

/// Receives session liveness from other members, and the leader's answers to this
/// member's rounds (the session tracker).
pub trait TouchSink: Send + Sync {
    /// A round of sessions member `from` heard from; answered with a `TouchAck`.
    fn touched(&self, from: u64, touch: &paddock::proto::replication::SessionTouch);
    /// The leader's answer to one of this member's rounds.
    fn acked(&self, from: u64, ack: &paddock::proto::replication::TouchAck);
}

/// First bytes of every peer connection.
pub(crate) const HELLO_MAGIC: &[u8; 8] = b"PDKPEER2";
/// Frame tag: a Raft message follows.
pub const TAG_RAFT: u8 = 0;
/// Frame tag: a `SessionTouch` follows.
pub const TAG_TOUCH: u8 = 1;
/// Frame tag: a `TouchAck` follows.
pub const TAG_TOUCH_ACK: u8 = 2;

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
}
