//! The tree digest: a 64-bit fingerprint of all replicated state, kept incrementally.
//!
//! digest = wrapping sum of `node_hash` over every node + `session_hash` over every session.
//! A sum is order-free, so it can be updated in O(1) per change (subtract the old share,
//! add the new) and recomputed from scratch in any order with the same answer.
//!
//! Invariants:
//! - `DataTree::digest() == DataTree::recompute_digest()` after every apply and rollback.
//! - Every field that a client or a later transaction can observe is covered: a node's path,
//!   kind, TTL, data, ACL (when it is not the default open one, so trees from before ACLs
//!   keep their digests) and full stat; a session's id, password, timeout and remembered writes.
//!   (The session's ephemeral set is derived from the nodes, so it is covered through them.)
use paddock::acl::{Acl, Perms};
use paddock::Stat;
use xxhash_rust::xxh3::{xxh3_64, Xxh3};

use super::codec::{put_stat, put_writes, Writer, STAT_LEN};
use super::node::NodeKind;
use super::session::SessionInfo;

/// Hash of what does not change when only the stat changes: path, kind, TTL, data, ACL.
pub(crate) fn content_hash(path: &str, kind: NodeKind, data: &[u8], acl: &[Acl]) -> u64 {
    let mut h = Xxh3::new();
    h.update(&(path.len() as u64).to_le_bytes());
    h.update(path.as_bytes());
    h.update(&[kind.tag()]);
    h.update(&kind.ttl_ms().to_le_bytes());
    h.update(&(data.len() as u64).to_le_bytes());
    h.update(data);
    if !is_open(acl) {
        h.update(&[0xAC]);
        h.update(&(acl.len() as u64).to_le_bytes());
        for a in acl {
            h.update(&a.perms.bits().to_le_bytes());
            for s in [&a.id.scheme, &a.id.id] {
                h.update(&(s.len() as u64).to_le_bytes());
                h.update(s.as_bytes());
            }
        }
    }
    h.digest()
}

/// Whether `acl` is the default (world:anyone, every permission).
pub(crate) fn is_open(acl: &[Acl]) -> bool {
    matches!(acl, [a] if a.perms == Perms::ALL && a.id.scheme == "world" && a.id.id == "anyone")
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
