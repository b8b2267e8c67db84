//! The primitive changes every operation is built from, and the undo log of a multi.
//!
//! Each primitive keeps all of the tree's derived state consistent by itself: parent
//! links and `num_children`, the container/TTL indexes, the owner session's ephemeral set,
//! the nodes' cached hashes and the digest. Operations therefore never touch those directly.
//!
//! Rolling back a multi replays its [`Undo`] entries in reverse through the same primitives,
//! so after a rollback the tree, indexes and digest are exactly as before the multi.
use paddock::Stat;

use super::digest;
use super::node::{Node, NodeAcl, NodeKind};
use super::DataTree;

/// How to undo one primitive change.
#[derive(Debug)]
pub(crate) enum Undo {
    /// A node was inserted: remove it.
    Created { path: String },
    /// A childless node was removed: put it back.
    Deleted { path: String, node: Node },
    /// A node's stat was changed: restore it.
    Stat { path: String, stat: Stat },
    /// A node's data was replaced: restore it.
    Data { path: String, data: Vec<u8> },
}

/// The undo entries of the operations applied so far in a multi. Disabled for single
/// operations, which validate everything before changing anything and so never roll back.
pub(crate) struct UndoLog {
    enabled: bool,
    entries: Vec<Undo>,
}

impl UndoLog {
    /// A log that records.
    pub(crate) fn on() -> UndoLog {
        UndoLog {
            enabled: true,
            entries: Vec::new(),
        }
    }

    /// A log that drops everything (no cost beyond building nothing).
    pub(crate) fn off() -> UndoLog {
        UndoLog {
            enabled: false,
            entries: Vec::new(),
        }
    }

    /// Records an entry; `f` runs only if the log is enabled.
    pub(crate) fn record(&mut self, f: impl FnOnce() -> Undo) {
        if self.enabled {
            self.entries.push(f());
        }
    }
}

/// Recomputes a node's digest share after its stat changed and moves the digest with it.
fn rehash(digest: &mut u64, node: &mut Node) {
    let new = digest::node_hash(node.content_hash, &node.stat);
    *digest = digest.wrapping_sub(node.hash).wrapping_add(new);
    node.hash = new;
}

/// The i32 length ZooKeeper's stat reports (saturating; data is far below 2 GiB).
pub(crate) fn len_i32(len: usize) -> i32 {
    i32::try_from(len).unwrap_or(i32::MAX)
}

/// The parent path and the child name of a path other than "/".
pub(crate) fn split(path: &str) -> (&str, &str) {
    match path.rfind('/') {
        // '/' is one byte, so slicing after it stays on a char boundary.
        Some(0) => ("/", &path[1..]),
        Some(i) => (&path[..i], &path[i + 1..]),
        None => ("/", path),
    }
}

impl DataTree {
    /// A childless node with its hashes computed.
    pub(crate) fn new_node(
        path: &str,
        data: Vec<u8>,
        stat: Stat,
        kind: NodeKind,
        acl: NodeAcl,
    ) -> Node {
        let content_hash = digest::content_hash(path, kind, &data, &acl);
        let hash = digest::node_hash(content_hash, &stat);
        Node {
            data,
            stat,
            kind,
            children: Default::default(),
            acl,
            content_hash,
            hash,
        }
    }

    /// Inserts a childless node whose parent exists, linking it into the parent
    /// (children, num_children) and the indexes, and adding it to the digest.
    pub(crate) fn insert_node(&mut self, path: String, node: Node) {
        let (parent, name) = split(&path);
        if let Some(p) = self.nodes.get_mut(parent) {
            p.children.insert(name.to_string());
            p.stat.num_children = len_i32(p.children.len());
            rehash(&mut self.digest, p);
        }
        match node.kind {
            NodeKind::Container => {
                self.containers.insert(path.clone());
            }
            NodeKind::Ttl(_) => {
                self.ttls.insert(path.clone());
            }
            NodeKind::Ephemeral => {
                if let Some(s) = self.sessions.get_mut(&node.stat.ephemeral_owner) {
                    s.ephemerals.insert(path.clone());
                }
            }
            NodeKind::Persistent => {}
        }
        self.digest = self.digest.wrapping_add(node.hash);
        self.nodes.insert(path, Box::new(node));
    }

    /// Removes a childless node, unlinking it from its parent and the indexes and taking
    /// it out of the digest. `None` if there is no such node.
    pub(crate) fn remove_node(&mut self, path: &str) -> Option<Node> {
        let node = self.nodes.remove(path)?;
        debug_assert!(node.children.is_empty(), "removing {path} with children");
        self.digest = self.digest.wrapping_sub(node.hash);
        let (parent, name) = split(path);
        if let Some(p) = self.nodes.get_mut(parent) {
            p.children.remove(name);
            p.stat.num_children = len_i32(p.children.len());
            rehash(&mut self.digest, p);
        }
        match node.kind {
            NodeKind::Container => {
                self.containers.remove(path);
            }
            NodeKind::Ttl(_) => {
                self.ttls.remove(path);
            }
            NodeKind::Ephemeral => {
                if let Some(s) = self.sessions.get_mut(&node.stat.ephemeral_owner) {
                    s.ephemerals.remove(path);
                }
            }
            NodeKind::Persistent => {}
        }
        Some(*node)
    }

    /// Changes a node's stat through `f` and returns the old stat (`None`: no such node).
    pub(crate) fn update_stat(&mut self, path: &str, f: impl FnOnce(&mut Stat)) -> Option<Stat> {
        let node = self.nodes.get_mut(path)?;
        let old = node.stat;
        f(&mut node.stat);
        rehash(&mut self.digest, node);
        Some(old)
    }

    /// Replaces a node's data (and data_length), returning the old data.
    pub(crate) fn replace_data(&mut self, path: &str, data: Vec<u8>) -> Option<Vec<u8>> {
        let node = self.nodes.get_mut(path)?;
        let old = std::mem::replace(&mut node.data, data);
        node.stat.data_length = len_i32(node.data.len());
        node.content_hash = digest::content_hash(path, node.kind, &node.data, &node.acl);
        rehash(&mut self.digest, node);
        Some(old)
    }

    /// Replaces a node's ACL (not its aversion), returning the old one. (setACL is
    /// never part of a multi, so it has no undo entry.)
    pub(crate) fn replace_acl(&mut self, path: &str, acl: NodeAcl) -> Option<NodeAcl> {
        let node = self.nodes.get_mut(path)?;
        let old = std::mem::replace(&mut node.acl, acl);
        node.content_hash = digest::content_hash(path, node.kind, &node.data, &node.acl);
        rehash(&mut self.digest, node);
        Some(old)
    }

    /// Undoes everything in `log`, newest first.
    pub(crate) fn rollback(&mut self, log: UndoLog) {
        for undo in log.entries.into_iter().rev() {
            match undo {
                Undo::Created { path } => {
                    self.remove_node(&path);
                }
                Undo::Deleted { path, node } => self.insert_node(path, node),
                Undo::Stat { path, stat } => {
                    self.update_stat(&path, |s| *s = stat);
                }
                Undo::Data { path, data } => {
                    self.replace_data(&path, data);
                }
            }
        }
    }
}
