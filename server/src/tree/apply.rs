//! Applying one committed transaction: zxid order, sessions, at-most-once, multi.
//!
//! The order of checks in [`DataTree::apply`]:
//! 1. A zxid at or below the applied zxid is ignored (RuntimeInconsistency, no change,
//!    applied zxid unchanged). Otherwise the applied zxid becomes this zxid, whatever the
//!    outcome: a failed transaction is still an applied log entry.
//! 2. CreateSession / CloseSession are applied as such (they are not deduplicated), and so
//!    is Reap (session 0 only; it deletes only the very node the reaper saw, still idle).
//! 3. Any other txn from a session (id != 0) that the tree does not know fails with
//!    SessionExpired (ZOOKEEPER-1208: a closed or expired session can create nothing).
//! 4. Exactly once: an xid whose result the session still remembers returns that result
//!    again; an older xid fails with RuntimeInconsistency; neither changes anything.
//! 5. Session FIFO: a write whose `prev_xid` is not the session's newest applied write
//!    fails with PreviousWriteMissing, changes nothing and is not remembered: a write
//!    never applies after an earlier one of its session was lost. `prev_xid` 0 names
//!    no predecessor (a session's first write, or a client that does not order its
//!    writes) and is not checked.
//! 6. The operation is applied (a multi all-or-nothing; a Refused write just fails) and,
//!    for sessions, its (xid, result) is remembered as the session's newest write.
use paddock::{Code, OpResult};

use super::digest;
use super::mutate::UndoLog;
use super::node::NodeKind;
use super::ops::Ctx;
use super::session::{LastWrite, SessionInfo};
use super::txn::{Applied, Change, Output, Txn, TxnError, TxnOp, TxnResult};
use super::DataTree;
use std::collections::VecDeque;

fn failed(code: Code, message: impl Into<String>) -> Applied {
    Applied {
        result: Err(TxnError::new(code, message)),
        changes: Vec::new(),
    }
}

fn output(r: OpResult) -> Output {
    match r {
        OpResult::Create { path, stat } => Output::Created { path, stat },
        OpResult::Delete => Output::Deleted,
        OpResult::SetData { stat } => Output::DataSet { stat },
        OpResult::Check => Output::Checked,
    }
}

impl DataTree {
    /// Applies the transaction committed at `zxid` and returns its result and changes.
    ///
    /// Deterministic: the outcome depends only on the tree and the arguments. Never panics
    /// on any input. See the module doc for the order of checks.
    pub fn apply(&mut self, zxid: u64, txn: &Txn) -> Applied {
        if zxid <= self.applied_zxid {
            return failed(
                Code::RuntimeInconsistency,
                format!(
                    "zxid {zxid} is not after the applied zxid {}",
                    self.applied_zxid
                ),
            );
        }
        self.applied_zxid = zxid;
        match &txn.op {
            TxnOp::CreateSession {
                session_id,
                password,
                timeout_ms,
            } => self.create_session(*session_id, password, *timeout_ms),
            TxnOp::CloseSession { session_id } => self.close_session(zxid, *session_id),
            TxnOp::Reap { path, czxid, mzxid } => self.reap(zxid, txn, path, *czxid, *mzxid),
            TxnOp::RecordMember { id, addrs } => {
                self.set_member(*id, addrs.clone());
                Applied {
                    result: Ok(Output::MemberRecorded),
                    changes: Vec::new(),
                }
            }
            op => self.apply_write(zxid, txn, op),
        }
    }

    fn create_session(&mut self, id: u64, password: &[u8], timeout_ms: u32) -> Applied {
        if id == 0 {
            return failed(
                Code::BadArguments,
                "session id 0 is reserved for the ensemble",
            );
        }
        if self.sessions.contains_key(&id) {
            return failed(
                Code::BadArguments,
                format!("session {id:#x} already exists"),
            );
        }
        let mut s = SessionInfo {
            password: password.to_vec(),
            timeout_ms,
            ephemerals: Default::default(),
            writes: VecDeque::new(),
            hash: 0,
        };
        s.hash = digest::session_hash(id, &s);
        self.digest = self.digest.wrapping_add(s.hash);
        self.sessions.insert(id, s);
        Applied {
            result: Ok(Output::SessionCreated),
            changes: Vec::new(),
        }
    }

    /// Deletes the session's ephemerals in path order, then the session. Idempotent.
    fn close_session(&mut self, zxid: u64, id: u64) -> Applied {
        let Some(s) = self.sessions.get(&id) else {
            return Applied {
                result: Ok(Output::SessionClosed),
                changes: Vec::new(),
            };
        };
        let paths: Vec<String> = s.ephemerals.iter().cloned().collect();
        let mut changes = Vec::with_capacity(paths.len() * 2);
        let mut undo = UndoLog::off();
        for path in &paths {
            // Ephemerals never have children, so each can go.
            self.unlink(zxid, path, &mut undo, &mut changes);
        }
        if let Some(s) = self.sessions.remove(&id) {
            self.digest = self.digest.wrapping_sub(s.hash);
        }
        Applied {
            result: Ok(Output::SessionClosed),
            changes,
        }
    }

    /// Deletes the container or TTL node at `path` if it is still the one the reaper saw:
    /// same czxid and mzxid, still a container or TTL node, still childless.
    fn reap(&mut self, zxid: u64, txn: &Txn, path: &str, czxid: u64, mzxid: u64) -> Applied {
        if txn.session_id != 0 {
            return failed(Code::BadArguments, "only the ensemble reaps nodes");
        }
        let Some(node) = self.nodes.get(path) else {
            return failed(Code::NoNode, path);
        };
        let reapable = matches!(node.kind, NodeKind::Container | NodeKind::Ttl(_));
        if path == "/"
            || !reapable
            || node.stat.czxid != czxid
            || node.stat.mzxid != mzxid
            || !node.children.is_empty()
        {
            return failed(
                Code::BadVersion,
                format!("{path}: not the node the reaper looked at, or no longer idle"),
            );
        }
        let mut changes = Vec::new();
        self.unlink(zxid, path, &mut UndoLog::off(), &mut changes);
        Applied {
            result: Ok(Output::Deleted),
            changes,
        }
    }

    fn apply_write(&mut self, zxid: u64, txn: &Txn, op: &TxnOp) -> Applied {
        let sid = txn.session_id;
        if sid != 0 {
            let Some(s) = self.sessions.get(&sid) else {
                return failed(
                    Code::SessionExpired,
                    format!("session {sid:#x} is not live"),
                );
            };
            if let Some(result) = s.result_of(txn.xid) {
                return Applied {
                    result: result.clone(),
                    changes: Vec::new(),
                };
            }
            let last = s.last_write().map_or(0, |w| w.xid);
            if txn.xid <= last {
                return failed(
                    Code::RuntimeInconsistency,
                    format!(
                        "xid {} is older than the session's last write {last} and its \
                         result is no longer kept",
                        txn.xid
                    ),
                );
            }
            if txn.prev_xid != 0 && txn.prev_xid != last {
                return failed(
                    Code::PreviousWriteMissing,
                    format!(
                        "write {} follows write {}, but the session's last applied write \
                         is {last}",
                        txn.xid, txn.prev_xid
                    ),
                );
            }
        }
        let ctx = Ctx {
            zxid,
            session_id: sid,
            time_ms: txn.time_ms,
            who: &txn.who,
        };
        let mut changes = Vec::new();
        let result = match op {
            TxnOp::Multi(ops) => self.apply_multi(ctx, ops, &mut changes),
            TxnOp::Refused { code, message } => Err(TxnError::new(*code, message.clone())),
            TxnOp::SetAcl { path, acl, version } => self.set_acl(ctx, path, acl, *version),
            op => self
                .apply_op(ctx, op, &mut UndoLog::off(), &mut changes)
                .map(output),
        };
        if sid != 0 {
            self.remember_write(sid, txn, &result);
        }
        Applied { result, changes }
    }

    /// All-or-nothing: on the first failure everything done so far is undone.
    fn apply_multi(&mut self, ctx: Ctx, ops: &[TxnOp], changes: &mut Vec<Change>) -> TxnResult {
        let digest_before = self.digest;
        let mut undo = UndoLog::on();
        let mut results = Vec::with_capacity(ops.len());
        for (i, op) in ops.iter().enumerate() {
            match self.apply_op(ctx, op, &mut undo, changes) {
                Ok(r) => results.push(r),
                Err(mut e) => {
                    self.rollback(undo);
                    debug_assert_eq!(self.digest, digest_before, "rollback restores the digest");
                    changes.clear();
                    let codes = (0..ops.len())
                        .map(|j| match j.cmp(&i) {
                            std::cmp::Ordering::Less => None,
                            std::cmp::Ordering::Equal => Some(e.code),
                            std::cmp::Ordering::Greater => Some(Code::RuntimeInconsistency),
                        })
                        .collect();
                    e.multi = Some(codes);
                    return Err(e);
                }
            }
        }
        Ok(Output::Multi(results))
    }

    fn remember_write(&mut self, sid: u64, txn: &Txn, result: &TxnResult) {
        if let Some(s) = self.sessions.get_mut(&sid) {
            let write = LastWrite {
                xid: txn.xid,
                result: result.clone(),
            };
            s.remember(write, txn.oldest_pending_xid);
            let new = digest::session_hash(sid, s);
            self.digest = self.digest.wrapping_sub(s.hash).wrapping_add(new);
            s.hash = new;
        }
    }
}
