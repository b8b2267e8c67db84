//! One znode: its data, stat, kind and the names of its children.
//!
//! Invariants (kept by the tree, checked on restore):
//! - `stat.num_children == children.len()` and `stat.data_length == data.len()`.
//! - `stat.ephemeral_owner != 0` exactly when `kind == NodeKind::Ephemeral`.
//! - `hash == digest::node_hash(content_hash, &stat)` and
//!   `content_hash == digest::content_hash(path, kind, &data, &acl)`.
//! - `acl` is a valid, non-empty ACL (see `paddock::acl::validate`); nodes with equal
//!   ACLs often share one allocation ([`NodeAcl`]).
use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};

use paddock::acl::Acl;
use paddock::Stat;

/// A node's ACL, shared between nodes that have the same one (a child created with its
/// parent's ACL, every node with the default open ACL), so a large tree with few
/// distinct ACLs pays a pointer per node.
pub type NodeAcl = Arc<[Acl]>;

/// The default ACL (world:anyone, every permission), one allocation for every node.
pub fn open_acl() -> NodeAcl {
    static OPEN: OnceLock<NodeAcl> = OnceLock::new();
    OPEN.get_or_init(|| Acl::open().into()).clone()
}

/// What kind of node it is, fixed at creation; decides who deletes it automatically.
///
/// Sequential creation is not a kind: it only changes the name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeKind {
    /// Lives until deleted.
    Persistent,
    /// Owned by the session in `stat.ephemeral_owner`; deleted when it closes; no children.
    Ephemeral,
    /// Deleted by the ensemble once it has had children (cversion > 0) and has none.
    Container,
    /// Deleted by the ensemble once it has no children and its mtime + TTL (ms) has passed.
    Ttl(i64),
}

impl NodeKind {
    /// The kind's tag in snapshots and digests.
    pub(crate) fn tag(self) -> u8 {
        match self {
            NodeKind::Persistent => 0,
            NodeKind::Ephemeral => 1,
            NodeKind::Container => 2,
            NodeKind::Ttl(_) => 3,
        }
    }

    /// The TTL in ms for TTL nodes, 0 for the rest.
    pub fn ttl_ms(self) -> i64 {
        match self {
            NodeKind::Ttl(ttl) => ttl,
            _ => 0,
        }
    }

    /// The inverse of (`tag`, `ttl_ms`); `None` if the pair is not one that `tag` produces.
    pub(crate) fn from_parts(tag: u8, ttl_ms: i64) -> Option<NodeKind> {
        match (tag, ttl_ms) {
            (0, 0) => Some(NodeKind::Persistent),
            (1, 0) => Some(NodeKind::Ephemeral),
            (2, 0) => Some(NodeKind::Container),
            (3, ttl) if ttl > 0 => Some(NodeKind::Ttl(ttl)),
            _ => None,
        }
    }
}

/// A znode as the tree stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The node's data.
    pub(crate) data: Vec<u8>,
    /// The node's metadata; `num_children` and `data_length` always match the fields above.
    pub(crate) stat: Stat,
    /// The node's kind.
    pub(crate) kind: NodeKind,
    /// Names (last segments) of the children, sorted so listings need no sort.
    pub(crate) children: BTreeSet<String>,
    /// Who may do what with the node.
    pub(crate) acl: NodeAcl,
    /// Hash of (path, kind, data); cached so that stat-only changes (a parent gaining a
    /// child) do not rehash the data.
    pub(crate) content_hash: u64,
    /// Hash of (content_hash, stat): this node's share of the tree digest.
    pub(crate) hash: u64,
}

impl Node {
    /// The node's data.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The node's ACL.
    pub fn acl(&self) -> &[Acl] {
        &self.acl
    }

    /// The node's stat.
    pub fn stat(&self) -> &Stat {
        &self.stat
    }

    /// The node's kind.
    pub fn kind(&self) -> NodeKind {
        self.kind
    }

    /// The names of the node's children, sorted.
    pub fn children(&self) -> &BTreeSet<String> {
        &self.children
    }
}
