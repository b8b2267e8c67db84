//! The znode tree, pure: (zxid, transaction) -> (result, change events).
//!
//! It sits at the end of the write path: the apply stage hands it every committed Raft
//! entry in log order; it returns the client's result and the list of changes, which the
//! watch layer turns into events. It knows nothing of connections, watches, clocks or
//! randomness, so it is tested alone.
//!
//! Modules:
//! - [`txn`]: transactions, results, change events.
//! - [`node`]: the stored znode and its kind.
//! - [`session`]: the replicated part of a session (password, ephemerals, last write).
//! - `apply`: applying a transaction: zxid order, session checks, at-most-once, multi.
//! - `ops`: the single operations (create, delete, set data, check).
//! - `mutate`: the primitive changes every operation is built from, and their undo log.
//! - `digest`: the incremental digest.
//! - [`members`]: the replicated member list (addresses; not part of the digest).
//! - `codec` / [`snapshot`]: the checksummed byte format.
//!
//! Invariants:
//! - Determinism: replicas applying equal transactions in equal order hold equal trees,
//!   return equal results and report equal digests. Nothing observable depends on hash-map
//!   iteration order (every listing is sorted).
//! - "/" always exists; every other node's parent exists and lists it as a child.
//! - `containers` and `ttls` hold exactly the paths of the nodes of those kinds; each
//!   session's `ephemerals` holds exactly the paths of the nodes it owns.
//! - `digest == recompute_digest()` between applies.
//! - `applied_zxid` only grows.
use std::collections::{BTreeMap, BTreeSet, HashMap};

use paddock::{Code, Stat};

mod apply;
mod codec;
mod digest;
pub mod members;
mod mutate;
pub mod node;
mod ops;
pub mod session;
pub mod snapshot;
pub mod txn;

#[cfg(test)]
mod model_test;
#[cfg(test)]
mod tests;

pub use members::MemberAddrs;
pub use node::{open_acl, Node, NodeAcl, NodeKind};
pub use session::{LastWrite, SessionInfo, RESULT_WINDOW};
pub use snapshot::SnapshotError;
pub use txn::{Applied, Change, ChangeKind, Output, Txn, TxnError, TxnOp, TxnResult, Who};

/// The replicated znode tree plus the replicated session table.
///
/// Nodes live in a hash map keyed by full path (O(1) lookups for the hot read path, no
/// path walking), each behind a pointer: a large table is partly empty buckets, which
/// then cost a pointer each instead of a whole node. Each node keeps its children's names
/// in a sorted set, so listings are sorted without sorting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataTree {
    /// Every node by full path, "/" included (boxed: see the type's doc).
    nodes: HashMap<String, Box<Node>>,
    /// Live sessions by id; ordered so iteration is deterministic.
    sessions: BTreeMap<u64, SessionInfo>,
    /// Paths of container nodes, so `containers_to_delete` does not scan the tree.
    containers: BTreeSet<String>,
    /// Paths of TTL nodes, so `expired_ttl_nodes` does not scan the tree.
    ttls: BTreeSet<String>,
    /// Zxid of the last applied transaction (0: none yet).
    applied_zxid: u64,
    /// Incremental digest, see `digest`.
    digest: u64,
    /// The replicated member list (see [`members`]).
    members: BTreeMap<u64, MemberAddrs>,
}

impl Default for DataTree {
    fn default() -> Self {
        DataTree::new()
    }
}

fn no_node(path: &str) -> TxnError {
    TxnError::new(Code::NoNode, path)
}

fn check_path(path: &str) -> Result<(), TxnError> {
    paddock::path::validate(path).map_err(|e| TxnError::new(Code::BadArguments, e))
}

impl DataTree {
    /// An empty tree: only "/", with an all-zero stat, no sessions, applied zxid 0.
    pub fn new() -> DataTree {
        let mut tree = DataTree {
            nodes: HashMap::new(),
            sessions: BTreeMap::new(),
            containers: BTreeSet::new(),
            ttls: BTreeSet::new(),
            applied_zxid: 0,
            digest: 0,
            members: BTreeMap::new(),
        };
        let root = DataTree::new_node(
            "/",
            Vec::new(),
            Stat::default(),
            NodeKind::Persistent,
            node::open_acl(),
        );
        tree.digest = root.hash;
        tree.nodes.insert("/".to_string(), Box::new(root));
        tree
    }

    /// Zxid of the last applied transaction, failed ones included (0 before any).
    pub fn applied_zxid(&self) -> u64 {
        self.applied_zxid
    }

    /// The node at `path`, if any.
    pub fn node(&self, path: &str) -> Option<&Node> {
        self.nodes.get(path).map(|n| &**n)
    }

    /// A node's data (borrowed, not copied) and stat. BadArguments for an invalid path,
    /// NoNode (message: the path) if it does not exist.
    pub fn get(&self, path: &str) -> Result<(&[u8], Stat), TxnError> {
        check_path(path)?;
        let node = self.nodes.get(path).ok_or_else(|| no_node(path))?;
        Ok((&node.data, node.stat))
    }

    /// A node's stat, `None` if there is no node at `path` (valid or not).
    pub fn exists(&self, path: &str) -> Option<Stat> {
        self.nodes.get(path).map(|n| n.stat)
    }

    /// A node's children's names, sorted, and its stat. BadArguments / NoNode as [`get`](Self::get).
    pub fn children(&self, path: &str) -> Result<(Vec<String>, Stat), TxnError> {
        check_path(path)?;
        let node = self.nodes.get(path).ok_or_else(|| no_node(path))?;
        Ok((node.children.iter().cloned().collect(), node.stat))
    }

    /// The number of descendants of a node (children, grandchildren, ...), like ZooKeeper's
    /// getAllChildrenNumber. O(1) for "/", O(descendants) otherwise.
    pub fn all_children_number(&self, path: &str) -> Result<u64, TxnError> {
        check_path(path)?;
        let node = self.nodes.get(path).ok_or_else(|| no_node(path))?;
        if path == "/" {
            return Ok(self.nodes.len() as u64 - 1);
        }
        let mut count = 0u64;
        let mut stack: Vec<String> = node
            .children
            .iter()
            .map(|c| paddock::path::join(path, c))
            .collect();
        while let Some(p) = stack.pop() {
            count += 1;
            if let Some(n) = self.nodes.get(&p) {
                stack.extend(n.children.iter().map(|c| paddock::path::join(&p, c)));
            }
        }
        Ok(count)
    }

    /// The paths of the ephemeral nodes a session owns, sorted (empty for unknown sessions).
    pub fn ephemerals(&self, session_id: u64) -> Vec<String> {
        self.sessions
            .get(&session_id)
            .map(|s| s.ephemerals.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The digest of all replicated state (nodes and sessions), kept incrementally.
    /// Replicas at the same applied zxid report the same digest.
    pub fn digest(&self) -> u64 {
        self.digest
    }

    /// The digest computed from scratch; equals [`digest`](Self::digest) unless there is a bug.
    pub fn recompute_digest(&self) -> u64 {
        let nodes = self.nodes.iter().fold(0u64, |acc, (path, n)| {
            let content = digest::content_hash(path, n.kind, &n.data, &n.acl);
            acc.wrapping_add(digest::node_hash(content, &n.stat))
        });
        self.sessions.iter().fold(nodes, |acc, (id, s)| {
            acc.wrapping_add(digest::session_hash(*id, s))
        })
    }

    /// The number of nodes, "/" included.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// A live session.
    pub fn session(&self, id: u64) -> Option<&SessionInfo> {
        self.sessions.get(&id)
    }

    /// All live sessions, ordered by id.
    pub fn sessions(&self) -> impl Iterator<Item = (u64, &SessionInfo)> {
        self.sessions.iter().map(|(id, s)| (*id, s))
    }

    /// The number of live sessions.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Containers that have had children (cversion > 0) and have none now, sorted: the
    /// ensemble should delete them (with session 0 transactions).
    pub fn containers_to_delete(&self) -> Vec<String> {
        self.containers
            .iter()
            .filter(|p| {
                self.nodes
                    .get(p.as_str())
                    .is_some_and(|n| n.stat.cversion > 0 && n.children.is_empty())
            })
            .cloned()
            .collect()
    }

    /// What the leader's reaper should propose now: one [`TxnOp::Reap`] per empty container
    /// and per expired TTL node (see [`DataTree::containers_to_delete`] and
    /// [`DataTree::expired_ttl_nodes`]), pinned to the node as it is now, so that a node
    /// deleted and re-created, or changed, before the reap commits is left alone.
    pub fn reap_candidates(&self, now_ms: i64) -> Vec<TxnOp> {
        self.containers_to_delete()
            .into_iter()
            .chain(self.expired_ttl_nodes(now_ms))
            .filter_map(|path| {
                let stat = &self.nodes.get(path.as_str())?.stat;
                Some(TxnOp::Reap {
                    czxid: stat.czxid,
                    mzxid: stat.mzxid,
                    path,
                })
            })
            .collect()
    }

    /// TTL nodes without children whose mtime + TTL <= `now_ms`, sorted: the ensemble
    /// should delete them (with session 0 transactions).
    pub fn expired_ttl_nodes(&self, now_ms: i64) -> Vec<String> {
        self.ttls
            .iter()
            .filter(|p| {
                self.nodes.get(p.as_str()).is_some_and(|n| {
                    n.children.is_empty() && n.stat.mtime.saturating_add(n.kind.ttl_ms()) <= now_ms
                })
            })
            .cloned()
            .collect()
    }
}
