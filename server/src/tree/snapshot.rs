//! Snapshots: the whole tree as one checksummed byte string, and back.
//!
//! Format, version 4 (version 3, without the member list, is read too; versions 1 and 2,
//! without ACLs, as well: their nodes get the default open ACL; version 1 kept at most one
//! write per session with the same encoding). Integers little-endian; `bytes` = u64 length + that many bytes;
//! `stat` = czxid, mzxid, pzxid, ctime, mtime (i64), version, cversion, aversion (i32),
//! ephemeral_owner (i64), data_length, num_children (i32).
//!
//! ```text
//! magic         8 bytes  "PDKTREE\0"
//! version       u32      4
//! total_len     u64      length of the whole snapshot, checksum included
//! applied_zxid  u64
//! acl_count     u64      (version 3) the distinct ACLs, each stored once:
//! acl_count x   { entries: u32, entries x { perms: u32, scheme: bytes, id: bytes } }
//! node_count    u64
//! node_count x  { path: bytes, kind: u8 (0 persistent, 1 ephemeral, 2 container, 3 ttl),
//!                 ttl_ms: i64, stat, data: bytes, acl: u32 (version 3: index into the
//!                 ACL table) }                       sorted by path, so "/" first and
//!                                                    every parent before its children
//! session_count u64
//! session_count x { id: u64, password: bytes, timeout_ms: u32,
//!                   writes: u8 flag 0 | 1 (xid: i64, result)
//!                           | 2 (count: u32, count x (xid: i64, result)) }
//!                   sorted by id; xids ascending, at most RESULT_WINDOW per session
//! member_count  u64      (version 4) the replicated member list:
//! member_count x { id: u64, peer: bytes, client: bytes }   ids strictly ascending
//! digest        u64      the tree's digest at applied_zxid
//! checksum      u32      crc32 of every byte before it
//! ```
//!
//! Guarantees of [`DataTree::restore`]: it never panics and never allocates more than the
//! input can justify; it returns a [`SnapshotError`] unless the magic, version, length and
//! checksum are right, every record decodes, the structure is a valid tree (paths valid and
//! strictly ascending, parents present and not ephemeral, num_children and data_length
//! consistent, every ephemeral's owner a listed session) and the recomputed digest equals
//! the stored one. Sessions' ephemeral sets and the container/TTL indexes are rebuilt.
use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::codec::{get_stat, get_writes, put_stat, put_writes, Reader, Writer, STAT_LEN};
use super::members::MemberAddrs;
use super::mutate::{len_i32, split};
use super::node::{open_acl, Node, NodeAcl, NodeKind};
use super::session::{SessionInfo, RESULT_WINDOW};
use super::{digest, DataTree};
use paddock::acl::{Acl, Id, Perms};

const MAGIC: &[u8; 8] = b"PDKTREE\0";
/// Version 3 added ACLs, version 2 the window of remembered writes; 1 and 2 still read.
const VERSION: u32 = 4;
/// magic + version + total_len.
const HEADER_LEN: usize = 8 + 4 + 8;
const CHECKSUM_LEN: usize = 4;

/// Why a snapshot could not be restored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// The input does not start with the snapshot magic bytes.
    #[error("not a tree snapshot (bad magic)")]
    BadMagic,
    /// The snapshot was written in a format version this build does not read.
    #[error("unsupported snapshot format version {0}")]
    UnsupportedVersion(u32),
    /// The input ends before the snapshot does.
    #[error("snapshot is truncated")]
    Truncated,
    /// The checksum does not match the contents.
    #[error("snapshot checksum mismatch (stored {stored:#010x}, computed {computed:#010x})")]
    Checksum {
        /// The checksum in the snapshot.
        stored: u32,
        /// The checksum of the bytes read.
        computed: u32,
    },
    /// The bytes decode but do not describe a valid tree.
    #[error("corrupt snapshot: {0}")]
    Corrupt(String),
    /// The digest recomputed from the restored tree differs from the stored one.
    #[error("snapshot digest mismatch (stored {stored:#018x}, computed {computed:#018x})")]
    DigestMismatch {
        /// The digest in the snapshot.
        stored: u64,
        /// The digest of the restored tree.
        computed: u64,
    },
}

fn corrupt(msg: impl Into<String>) -> SnapshotError {
    SnapshotError::Corrupt(msg.into())
}

impl DataTree {
    /// Serialises the whole tree (nodes, sessions, applied zxid, digest) in the format
    /// described in this module's doc. Deterministic: equal trees give equal bytes.
    pub fn snapshot(&self) -> Vec<u8> {
        self.snapshot_as(VERSION)
    }

    /// The snapshot in format `version` (tests write older formats with it; before 3,
    /// ACLs are left out).
    pub(crate) fn snapshot_as(&self, version: u32) -> Vec<u8> {
        let mut w = Writer::default();
        w.buf.extend_from_slice(MAGIC);
        w.u32(version);
        w.u64(0); // total_len, patched below
        w.u64(self.applied_zxid);
        let mut paths: Vec<&String> = self.nodes.keys().collect();
        paths.sort_unstable();
        // The distinct ACLs in order of first use (by path), so equal trees give equal
        // bytes; nodes sharing an allocation are found without comparing the lists.
        let mut table: Vec<&[Acl]> = Vec::new();
        let mut by_ptr: HashMap<*const Acl, u32> = HashMap::new();
        let mut by_value: HashMap<&[Acl], u32> = HashMap::new();
        let mut index = Vec::with_capacity(paths.len());
        for path in &paths {
            let Some(n) = self.nodes.get(*path) else {
                continue;
            };
            let acl: &[Acl] = &n.acl;
            let i = match by_ptr.get(&acl.as_ptr()) {
                Some(i) => *i,
                None => {
                    let i = *by_value.entry(acl).or_insert_with(|| {
                        table.push(acl);
                        (table.len() - 1) as u32
                    });
                    by_ptr.insert(acl.as_ptr(), i);
                    i
                }
            };
            index.push(i);
        }
        if version >= 3 {
            w.u64(table.len() as u64);
            for acl in &table {
                w.u32(acl.len() as u32);
                for a in acl.iter() {
                    w.u32(a.perms.bits());
                    w.bytes(a.id.scheme.as_bytes());
                    w.bytes(a.id.id.as_bytes());
                }
            }
        }
        w.u64(paths.len() as u64);
        for (path, acl) in paths.into_iter().zip(index) {
            let Some(n) = self.nodes.get(path) else {
                continue;
            };
            w.bytes(path.as_bytes());
            w.u8(n.kind.tag());
            w.i64(n.kind.ttl_ms());
            put_stat(&mut w, &n.stat);
            w.bytes(&n.data);
            if version >= 3 {
                w.u32(acl);
            }
        }
        w.u64(self.sessions.len() as u64);
        for (id, s) in &self.sessions {
            w.u64(*id);
            w.bytes(&s.password);
            w.u32(s.timeout_ms);
            put_writes(&mut w, &s.writes);
        }
        if version >= 4 {
            w.u64(self.members.len() as u64);
            for (id, m) in &self.members {
                w.u64(*id);
                w.bytes(m.peer.as_bytes());
                w.bytes(m.client.as_bytes());
            }
        }
        w.u64(self.digest);
        let total = (w.len() + CHECKSUM_LEN) as u64;
        w.buf[12..HEADER_LEN].copy_from_slice(&total.to_le_bytes());
        let crc = crc32fast::hash(&w.buf);
        w.u32(crc);
        w.buf
    }

    /// Checks a snapshot's envelope without decoding it: magic, version, length and
    /// checksum. Cheap next to [`restore`](Self::restore); a file that passes was written
    /// whole by [`snapshot`](Self::snapshot) and not damaged since (short of a checksum
    /// collision). Returns the body between the header and the checksum.
    pub fn check_snapshot(bytes: &[u8]) -> Result<&[u8], SnapshotError> {
        if bytes.len() < MAGIC.len() {
            return Err(if MAGIC.starts_with(bytes) {
                SnapshotError::Truncated
            } else {
                SnapshotError::BadMagic
            });
        }
        if &bytes[..MAGIC.len()] != MAGIC {
            return Err(SnapshotError::BadMagic);
        }
        let mut r = Reader::new(&bytes[MAGIC.len()..]);
        let version = r.u32()?;
        if !(1..=VERSION).contains(&version) {
            return Err(SnapshotError::UnsupportedVersion(version));
        }
        let total = r.u64()?;
        if total < (HEADER_LEN + CHECKSUM_LEN) as u64 {
            return Err(corrupt(format!("length field {total} is too small")));
        }
        if (bytes.len() as u64) < total {
            return Err(SnapshotError::Truncated);
        }
        if (bytes.len() as u64) > total {
            return Err(corrupt(format!(
                "{} bytes after the snapshot's end",
                bytes.len() as u64 - total
            )));
        }
        let (body, tail) = bytes.split_at(bytes.len() - CHECKSUM_LEN);
        let mut stored = [0u8; CHECKSUM_LEN];
        stored.copy_from_slice(tail);
        let stored = u32::from_le_bytes(stored);
        let computed = crc32fast::hash(body);
        if stored != computed {
            return Err(SnapshotError::Checksum { stored, computed });
        }
        Ok(&body[HEADER_LEN..])
    }

    /// Rebuilds a tree from [`snapshot`](Self::snapshot)'s bytes; see the module doc for
    /// everything it checks. Never panics on any input.
    pub fn restore(bytes: &[u8]) -> Result<DataTree, SnapshotError> {
        let body = Self::check_snapshot(bytes)?;
        // check_snapshot read the version at this offset.
        let version = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        let mut r = Reader::new(body);
        let tree = decode(&mut r, version)?;
        if r.remaining() != 0 {
            return Err(corrupt(format!(
                "{} unread bytes before the checksum",
                r.remaining()
            )));
        }
        Ok(tree)
    }
}

/// Decodes the ACL table of a version 3 snapshot.
fn decode_acls(r: &mut Reader<'_>) -> Result<Vec<NodeAcl>, SnapshotError> {
    // An ACL takes at least its entry count.
    let count = r.count(4)?;
    let mut table = Vec::with_capacity(count);
    for i in 0..count {
        let n = r.u32()? as usize;
        // An entry takes at least: perms, scheme length, id length.
        if n > r.remaining() / (4 + 8 + 8) {
            return Err(SnapshotError::Truncated);
        }
        let mut acl = Vec::with_capacity(n);
        for _ in 0..n {
            let perms = Perms::from_bits(r.u32()?);
            let scheme = r.string()?;
            let id = r.string()?;
            acl.push(Acl::new(perms, Id::new(scheme, id)));
        }
        paddock::acl::validate(&acl).map_err(|e| corrupt(format!("ACL {i}: {e}")))?;
        table.push(if digest::is_open(&acl) {
            open_acl()
        } else {
            acl.into()
        });
    }
    Ok(table)
}

/// Decodes everything between the header and the checksum.
fn decode(r: &mut Reader<'_>, version: u32) -> Result<DataTree, SnapshotError> {
    let applied_zxid = r.u64()?;
    let acls = if version >= 3 {
        decode_acls(r)?
    } else {
        Vec::new()
    };
    let acl_len = if version >= 3 { 4 } else { 0 };
    // A node takes at least: path length, kind, ttl, stat, data length, ACL index.
    let node_count = r.count(8 + 1 + 8 + STAT_LEN + 8 + acl_len)?;
    let mut nodes: HashMap<String, Box<Node>> = HashMap::with_capacity(node_count);
    let mut containers = BTreeSet::new();
    let mut ttls = BTreeSet::new();
    let mut ephemerals: Vec<(u64, String)> = Vec::new();
    let mut prev: Option<String> = None;
    for i in 0..node_count {
        let path = r.string()?;
        let tag = r.u8()?;
        let ttl = r.i64()?;
        let kind = NodeKind::from_parts(tag, ttl)
            .ok_or_else(|| corrupt(format!("{path}: bad kind {tag} with ttl {ttl}")))?;
        let stat = get_stat(r)?;
        let data = r.bytes()?.to_vec();
        let acl = if version >= 3 {
            let i = r.u32()? as usize;
            acls.get(i)
                .cloned()
                .ok_or_else(|| corrupt(format!("{path}: ACL index {i} out of range")))?
        } else {
            open_acl()
        };
        if i == 0 {
            if path != "/" || kind != NodeKind::Persistent {
                return Err(corrupt("the first node is not a persistent /"));
            }
        } else {
            paddock::path::validate(&path).map_err(|e| corrupt(format!("bad path: {e}")))?;
            if path == "/" || prev.as_deref().is_some_and(|p| p >= path.as_str()) {
                return Err(corrupt(format!("{path}: paths not strictly ascending")));
            }
            let (parent, name) = split(&path);
            let p = nodes
                .get_mut(parent)
                .ok_or_else(|| corrupt(format!("{path}: parent missing")))?;
            if p.kind == NodeKind::Ephemeral {
                return Err(corrupt(format!("{path}: parent is ephemeral")));
            }
            p.children.insert(name.to_string());
        }
        if stat.data_length != len_i32(data.len()) {
            return Err(corrupt(format!(
                "{path}: data_length does not match the data"
            )));
        }
        if (kind == NodeKind::Ephemeral) != (stat.ephemeral_owner != 0) {
            return Err(corrupt(format!(
                "{path}: ephemeral owner does not match the kind"
            )));
        }
        match kind {
            NodeKind::Container => {
                containers.insert(path.clone());
            }
            NodeKind::Ttl(_) => {
                ttls.insert(path.clone());
            }
            NodeKind::Ephemeral => ephemerals.push((stat.ephemeral_owner, path.clone())),
            NodeKind::Persistent => {}
        }
        let node = DataTree::new_node(&path, data, stat, kind, acl);
        prev = Some(path.clone());
        nodes.insert(path, Box::new(node));
    }
    if node_count == 0 {
        return Err(corrupt("no root node"));
    }
    for (path, n) in &nodes {
        if n.stat.num_children != len_i32(n.children.len()) {
            return Err(corrupt(format!(
                "{path}: num_children does not match the children"
            )));
        }
    }

    // A session takes at least: id, password length, timeout, last-write flag.
    let session_count = r.count(8 + 8 + 4 + 1)?;
    let mut sessions = BTreeMap::new();
    for _ in 0..session_count {
        let id = r.u64()?;
        let password = r.bytes()?.to_vec();
        let timeout_ms = r.u32()?;
        let writes = get_writes(r, RESULT_WINDOW)?;
        if id == 0 {
            return Err(corrupt("session id 0"));
        }
        let mut s = SessionInfo {
            password,
            timeout_ms,
            ephemerals: BTreeSet::new(),
            writes,
            hash: 0,
        };
        s.hash = digest::session_hash(id, &s);
        if sessions.insert(id, s).is_some() {
            return Err(corrupt(format!("session {id:#x} listed twice")));
        }
    }
    for (owner, path) in ephemerals {
        let s = sessions
            .get_mut(&owner)
            .ok_or_else(|| corrupt(format!("{path}: owner session {owner:#x} is not listed")))?;
        s.ephemerals.insert(path);
    }
    let mut members = BTreeMap::new();
    if version >= 4 {
        // A member takes at least: id, two lengths.
        let count = r.count(8 + 8 + 8)?;
        let mut prev = 0u64;
        for _ in 0..count {
            let id = r.u64()?;
            let peer = r.string()?;
            let client = r.string()?;
            if id == 0 || id <= prev {
                return Err(corrupt(format!("member ids not ascending at {id}")));
            }
            prev = id;
            members.insert(id, MemberAddrs { peer, client });
        }
    }
    let stored = r.u64()?;
    let mut tree = DataTree {
        nodes,
        sessions,
        containers,
        ttls,
        applied_zxid,
        digest: 0,
        members,
    };
    let computed = tree.recompute_digest();
    if computed != stored {
        return Err(SnapshotError::DigestMismatch { stored, computed });
    }
    tree.digest = computed;
    Ok(tree)
}
