//! The single operations: create, delete, set data, check (ZooKeeper 3.9 semantics).
//!
//! Contract of every operation here:
//! - It checks everything first (in ZooKeeper's order) and changes nothing when it fails,
//!   so a failed single operation needs no rollback.
//! - When it succeeds it records an undo entry for every primitive change (used by multi)
//!   and appends its change events.
use std::sync::Arc;

use paddock::acl::{self, Acl, Perms};
use paddock::path;
use paddock::{Code, CreateMode, OpResult, Stat};

use super::mutate::{len_i32, split, Undo, UndoLog};
use super::node::{open_acl, NodeAcl, NodeKind};
use super::txn::{Change, ChangeKind, Output, TxnError, TxnOp, Who};
use super::DataTree;

/// Who is applying and when: the parts of a transaction every operation needs.
#[derive(Clone, Copy)]
pub(crate) struct Ctx<'a> {
    pub(crate) zxid: u64,
    pub(crate) session_id: u64,
    pub(crate) time_ms: i64,
    pub(crate) who: &'a Who,
}

impl Ctx<'_> {
    /// NoAuth unless `acl` grants `needed` to the sender. The ensemble's own
    /// transactions (session 0) and a superuser pass every check.
    fn permit(&self, acl: &[Acl], needed: Perms, path: &str) -> Result<(), TxnError> {
        if self.session_id == 0
            || self.who.superuser
            || acl::allows(acl, needed, &self.who.identities)
        {
            return Ok(());
        }
        Err(TxnError::new(
            Code::NoAuth,
            format!("{path}: the ACL does not grant {needed}"),
        ))
    }
}

/// The ACL a create or setACL stores: the default for an empty one, else the given one
/// if it is valid (InvalidAcl otherwise), sharing `like`'s allocation when equal.
fn stored_acl(path: &str, acl: &[Acl], like: &NodeAcl) -> Result<NodeAcl, TxnError> {
    if acl.is_empty() {
        return Ok(open_acl());
    }
    acl::validate(acl).map_err(|e| TxnError::new(Code::InvalidAcl, format!("{path}: {e}")))?;
    if acl.iter().any(|a| a.id.scheme == "auth") {
        return Err(TxnError::new(
            Code::InvalidAcl,
            format!("{path}: an auth entry was not expanded by the proposing member"),
        ));
    }
    if **like == *acl {
        Ok(like.clone())
    } else if super::digest::is_open(acl) {
        Ok(open_acl())
    } else {
        Ok(Arc::from(acl))
    }
}

fn bad_args(msg: impl Into<String>) -> TxnError {
    TxnError::new(Code::BadArguments, msg)
}

fn validate(p: &str) -> Result<(), TxnError> {
    path::validate(p).map_err(bad_args)
}

fn check_version(path: &str, expected: i32, actual: i32) -> Result<(), TxnError> {
    if expected != -1 && expected != actual {
        return Err(TxnError::new(
            Code::BadVersion,
            format!("{path}: expected version {expected}, node has {actual}"),
        ));
    }
    Ok(())
}

fn change(kind: ChangeKind, path: &str) -> Change {
    Change {
        kind,
        path: path.to_string(),
    }
}

impl DataTree {
    /// Applies one of Create, Delete, SetData, Check. Any other operation is BadArguments
    /// (they are handled by `apply`, and may not appear inside a multi).
    pub(crate) fn apply_op(
        &mut self,
        ctx: Ctx,
        op: &TxnOp,
        undo: &mut UndoLog,
        changes: &mut Vec<Change>,
    ) -> Result<OpResult, TxnError> {
        match op {
            TxnOp::Create {
                path,
                data,
                mode,
                ttl_ms,
                acl,
            } => self.create(ctx, path, data, (*mode, *ttl_ms), acl, undo, changes),
            TxnOp::Delete { path, version } => self.delete(ctx, path, *version, undo, changes),
            TxnOp::SetData {
                path,
                data,
                version,
            } => self.set_data(ctx, path, data, *version, undo, changes),
            TxnOp::Check { path, version } => self.check(ctx, path, *version),
            TxnOp::Multi(_)
            | TxnOp::SetAcl { .. }
            | TxnOp::CreateSession { .. }
            | TxnOp::CloseSession { .. }
            | TxnOp::Reap { .. }
            | TxnOp::RecordMember { .. }
            | TxnOp::Refused { .. } => Err(bad_args(
                "only create, delete, setData and check may appear inside a multi",
            )),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn create(
        &mut self,
        ctx: Ctx,
        path: &str,
        data: &[u8],
        (mode, ttl_ms): (CreateMode, i64),
        acl: &[Acl],
        undo: &mut UndoLog,
        changes: &mut Vec<Change>,
    ) -> Result<OpResult, TxnError> {
        if mode.is_ttl() && ttl_ms <= 0 {
            return Err(bad_args(format!(
                "{path}: TTL must be positive, got {ttl_ms}"
            )));
        }
        if !mode.is_ttl() && ttl_ms != 0 {
            return Err(bad_args(format!("{path}: TTL given for a {mode:?} node")));
        }
        let sequential = mode.is_sequential();
        if sequential {
            path::validate_sequential(path).map_err(bad_args)?;
        } else {
            validate(path)?;
            if path == "/" {
                return Err(TxnError::new(Code::NodeExists, "/"));
            }
        }
        let ephemeral = mode.is_ephemeral();
        if ephemeral && (ctx.session_id == 0 || !self.sessions.contains_key(&ctx.session_id)) {
            return Err(TxnError::new(
                Code::SessionExpired,
                format!("{path}: ephemeral nodes need a live session"),
            ));
        }
        // For sequential creates the counter completes the last segment, so the parent is
        // everything before the prefix's last '/'.
        let (parent, _) = split(path);
        let (parent_cversion, parent_kind, parent_acl) = match self.nodes.get(parent) {
            Some(p) => (p.stat.cversion, p.kind, p.acl.clone()),
            None => return Err(TxnError::new(Code::NoNode, parent)),
        };
        ctx.permit(&parent_acl, Perms::CREATE, parent)?;
        let acl = stored_acl(path, acl, &parent_acl)?;
        let full_path = if sequential {
            // ZooKeeper: String.format("%010d", parentCVersion).
            let p = format!("{path}{parent_cversion:010}");
            validate(&p)?;
            p
        } else {
            path.to_string()
        };
        if self.nodes.contains_key(&full_path) {
            return Err(TxnError::new(Code::NodeExists, full_path));
        }
        if parent_kind == NodeKind::Ephemeral {
            return Err(TxnError::new(Code::NoChildrenForEphemerals, full_path));
        }
        let kind = match mode {
            CreateMode::Ephemeral | CreateMode::EphemeralSequential => NodeKind::Ephemeral,
            CreateMode::Container => NodeKind::Container,
            CreateMode::PersistentWithTtl | CreateMode::PersistentSequentialWithTtl => {
                NodeKind::Ttl(ttl_ms)
            }
            CreateMode::Persistent | CreateMode::PersistentSequential => NodeKind::Persistent,
        };
        let zxid = ctx.zxid;
        let stat = Stat {
            czxid: zxid,
            mzxid: zxid,
            pzxid: zxid,
            ctime: ctx.time_ms,
            mtime: ctx.time_ms,
            version: 0,
            cversion: 0,
            aversion: 0,
            ephemeral_owner: if ephemeral { ctx.session_id } else { 0 },
            data_length: len_i32(data.len()),
            num_children: 0,
        };
        if let Some(old) = self.update_stat(parent, |s| {
            s.cversion = s.cversion.wrapping_add(1);
            s.pzxid = zxid;
        }) {
            undo.record(|| Undo::Stat {
                path: parent.to_string(),
                stat: old,
            });
        }
        let node = DataTree::new_node(&full_path, data.to_vec(), stat, kind, acl);
        self.insert_node(full_path.clone(), node);
        undo.record(|| Undo::Created {
            path: full_path.clone(),
        });
        changes.push(change(ChangeKind::NodeCreated, &full_path));
        changes.push(change(ChangeKind::NodeChildrenChanged, parent));
        Ok(OpResult::Create {
            path: full_path,
            stat,
        })
    }

    fn delete(
        &mut self,
        ctx: Ctx,
        path: &str,
        version: i32,
        undo: &mut UndoLog,
        changes: &mut Vec<Change>,
    ) -> Result<OpResult, TxnError> {
        validate(path)?;
        if path == "/" {
            return Err(bad_args("cannot delete /"));
        }
        // ZooKeeper's order: the parent's DELETE permission before the node's existence.
        let (parent, _) = split(path);
        if let Some(p) = self.nodes.get(parent) {
            ctx.permit(&p.acl, Perms::DELETE, parent)?;
        }
        let node = self
            .nodes
            .get(path)
            .ok_or_else(|| TxnError::new(Code::NoNode, path))?;
        check_version(path, version, node.stat.version)?;
        if !node.children.is_empty() {
            return Err(TxnError::new(Code::NotEmpty, path));
        }
        self.unlink(ctx.zxid, path, undo, changes);
        Ok(OpResult::Delete)
    }

    /// Deletes an existing childless node other than "/": bumps the parent's cversion and
    /// pzxid, records undo entries and the change events.
    pub(crate) fn unlink(
        &mut self,
        zxid: u64,
        path: &str,
        undo: &mut UndoLog,
        changes: &mut Vec<Change>,
    ) {
        let (parent, _) = split(path);
        if let Some(old) = self.update_stat(parent, |s| {
            s.cversion = s.cversion.wrapping_add(1);
            s.pzxid = zxid;
        }) {
            undo.record(|| Undo::Stat {
                path: parent.to_string(),
                stat: old,
            });
        }
        if let Some(node) = self.remove_node(path) {
            undo.record(|| Undo::Deleted {
                path: path.to_string(),
                node,
            });
        }
        changes.push(change(ChangeKind::NodeDeleted, path));
        changes.push(change(ChangeKind::NodeChildrenChanged, parent));
    }

    fn set_data(
        &mut self,
        ctx: Ctx,
        path: &str,
        data: &[u8],
        version: i32,
        undo: &mut UndoLog,
        changes: &mut Vec<Change>,
    ) -> Result<OpResult, TxnError> {
        validate(path)?;
        let node = self
            .nodes
            .get(path)
            .ok_or_else(|| TxnError::new(Code::NoNode, path))?;
        ctx.permit(&node.acl, Perms::WRITE, path)?;
        check_version(path, version, node.stat.version)?;
        if let Some(old) = self.replace_data(path, data.to_vec()) {
            undo.record(|| Undo::Data {
                path: path.to_string(),
                data: old,
            });
        }
        let zxid = ctx.zxid;
        if let Some(old) = self.update_stat(path, |s| {
            s.version = s.version.wrapping_add(1);
            s.mzxid = zxid;
            s.mtime = ctx.time_ms;
        }) {
            undo.record(|| Undo::Stat {
                path: path.to_string(),
                stat: old,
            });
        }
        changes.push(change(ChangeKind::NodeDataChanged, path));
        let stat = self.nodes.get(path).map(|n| n.stat).unwrap_or_default();
        Ok(OpResult::SetData { stat })
    }

    fn check(&self, ctx: Ctx, path: &str, version: i32) -> Result<OpResult, TxnError> {
        validate(path)?;
        let node = self
            .nodes
            .get(path)
            .ok_or_else(|| TxnError::new(Code::NoNode, path))?;
        ctx.permit(&node.acl, Perms::READ, path)?;
        check_version(path, version, node.stat.version)?;
        Ok(OpResult::Check)
    }

    /// Replaces a node's ACL (ADMIN on the node; `version` against its aversion) and
    /// bumps its aversion. Not allowed in a multi; fires no watch (as in ZooKeeper).
    pub(crate) fn set_acl(
        &mut self,
        ctx: Ctx,
        path: &str,
        acl: &[Acl],
        version: i32,
    ) -> Result<Output, TxnError> {
        validate(path)?;
        let node = self
            .nodes
            .get(path)
            .ok_or_else(|| TxnError::new(Code::NoNode, path))?;
        ctx.permit(&node.acl, Perms::ADMIN, path)?;
        if version != -1 && version != node.stat.aversion {
            return Err(TxnError::new(
                Code::BadVersion,
                format!(
                    "{path}: expected ACL version {version}, node has {}",
                    node.stat.aversion
                ),
            ));
        }
        if acl.is_empty() {
            return Err(TxnError::new(
                Code::InvalidAcl,
                format!("{path}: an ACL needs at least one entry"),
            ));
        }
        let stored = stored_acl(path, acl, &node.acl)?;
        self.replace_acl(path, stored);
        self.update_stat(path, |s| s.aversion = s.aversion.wrapping_add(1));
        let stat = self.nodes.get(path).map(|n| n.stat).unwrap_or_default();
        Ok(Output::AclSet { stat })
    }
}
