//! The peer link: Raft messages between members over TCP.
//!
//! Each member listens on its peer address; for every other voter it keeps one
//! outgoing connection, owned by a sender task that reconnects with exponential
//! backoff. A connection starts with a hello frame (magic + the sender's id), then
//! carries length-delimited frames of one `raft::eraftpb::Message` each.
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

/// First bytes of every peer connection.
pub(crate) const HELLO_MAGIC: &[u8; 8] = b"PDKPEER1";
