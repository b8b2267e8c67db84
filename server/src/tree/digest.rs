//! The tree digest: a 64-bit fingerprint of all replicated state, kept incrementally.
//!
//! digest = wrapping sum of `node_hash` over every node + `session_hash` over every session.
//! A sum is order-free, so it can be updated in O(1) per change (subtract the old share,
//! add the new) and recomputed from scratch in any order with the same answer.
//!
//! Invariants:
//! - `DataTree::digest() == DataTree::recompute_digest()` after every apply and rollback.
//! - Every field that a client or a later transaction can observe is covered: a node's path,
//!   kind, TTL, data and full stat; a session's id, password, timeout and remembered writes.
//!   (The session's ephemeral set is derived from the nodes, so it is covered through them.)
use paddock::Stat;
use xxhash_rust::xxh3::{xxh3_64, Xxh3};

use super::codec::{put_stat, put_writes, Writer, STAT_LEN};
use super::node::NodeKind;
use super::session::SessionInfo;

/// Hash of what does not change when only the stat changes: path, kind, TTL, data.
pub(crate) fn content_hash(path: &str, kind: NodeKind, data: &[u8]) -> u64 {
    let mut h = Xxh3::new();
    h.update(&(path.len() as u64).to_le_bytes());
    h.update(path.as_bytes());
    h.update(&[kind.tag()]);
    h.update(&kind.ttl_ms().to_le_bytes());
    h.update(&(data.len() as u64).to_le_bytes());
    h.update(data);
    h.digest()
}

/// A node's share of the digest, from its content hash and stat.
pub(crate) fn node_hash(content_hash: u64, stat: &Stat) -> u64 {
    let mut w = Writer {
        buf: Vec::with_capacity(8 + STAT_LEN),
    };
    w.u64(content_hash);
    put_stat(&mut w, stat);
    xxh3_64(&w.buf)
}

/// A session's share of the digest.
pub(crate) fn session_hash(id: u64, s: &SessionInfo) -> u64 {
    let mut w = Writer::default();
    // A tag keeps session records apart from node records of the same bytes.
    w.u8(0xA5);
    w.u64(id);
    w.bytes(&s.password);
    w.u32(s.timeout_ms);
    put_writes(&mut w, &s.writes);
    xxh3_64(&w.buf)
}
