//! The apply stage of the Raft loop: committed entries into the tree in log order, the
//! answers to this member's proposals, a leader's snapshot replacing the tree, and this
//! member's own snapshots of the tree. The loop (`driver.rs`) keeps the Ready order and
//! calls in here; nothing here sends to peers.
//!
//! The apply contract:
//! - every committed entry is applied once per tree, in index order, at zxid = its
//!   index; entries at or below `applied` are skipped (raft-rs hands the log after the
//!   restored snapshot to a restarted member again);
//! - a normal entry's payload is a `replication::Txn` (`txn_codec`). A leader's decision
//!   (`leader_term` set) appended in another term is dropped, alike on every replica.
//!   The tree applies the rest; its changes reach the [`ApplyObserver`] (watch events,
//!   session tracking) while the tree's write lock is held, so an event is queued before
//!   any read can observe its change. A member's announcement of its own addresses is
//!   recorded only while it is in the configuration at that entry;
//! - a ConfChangeV2 entry changes raft-rs's configuration and the member list
//!   (`conf_change`), then the [`Roster`] and, through the observer, the peer links;
//! - the member that proposed an entry (its `origin`) answers the waiting request with
//!   the result; as proposal ids grow per boot and one origin's entries reach the log in
//!   proposal order, every earlier proposal of this boot still waiting was dropped by a
//!   leader change and fails with [`ProposeError::Dropped`] (outcome unknown);
//! - the status (applied and snapshot index included) is published with the tree,
//!   under its lock, so a status read beside the tree never mixes old and new.
//!
//! Snapshots of this member: every `snapshot_entries` applied entries, at once when the
//! newest file turned out damaged, or when a follower asked for a newer one than there
//! is (a member that joins). The tree is serialised under its read lock on the loop's
//! thread; a thread of its own writes the file and reports back
//! ([`Input::SnapshotSaved`]), and only then is the log compacted.
use std::collections::BTreeMap;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};

use raft::eraftpb::{Entry, EntryType, Snapshot};
use raft::{RawNode, StateRole};
use slog::{crit, info, warn, Logger};
use tokio::sync::oneshot;

use super::conf_change;
use super::driver::ApplyObserver;
use super::handle::{Committed, Input, ProposeError, RaftStatus, Shared};
use super::snapshots::SnapshotDir;
use super::storage::{DiskStorage, StorageFailure};
use crate::membership::{Refusal, Roster, RosterView};
use crate::metrics::Metrics;
use crate::tree::{DataTree, MemberAddrs, TxnError, TxnOp};
use crate::txn_codec;

/// A proposal of this member waiting to apply: (proposed, reply).
type PendingProposal = (Instant, oneshot::Sender<Result<Committed, ProposeError>>);

/// A membership change of this member waiting to apply: (asked, reply).
type PendingChange = (Instant, oneshot::Sender<Result<u64, Refusal>>);

/// Removes and returns the replies of `waiting` entries older than `limit` at `now`.
fn take_older<R>(
    waiting: &mut BTreeMap<u64, (Instant, R)>,
    now: Instant,
    limit: Duration,
) -> Vec<R> {
    let old: Vec<u64> = waiting
        .iter()
        .filter(|(_, (t, _))| now.duration_since(*t) > limit)
        .map(|(id, _)| *id)
        .collect();
    old.into_iter()
        .filter_map(|id| waiting.remove(&id).map(|(_, reply)| reply))
        .collect()
}

/// What the apply stage is built with.
pub struct ApplierParts {
    /// This member's id.
    pub me: u64,
    /// The top half of every proposal id of this boot.
    pub boot: u64,
    /// The tree and the published status.
    pub shared: Arc<Shared>,
    /// Watches, sessions, peer links.
    pub observer: Box<dyn ApplyObserver>,
    /// The membership view to keep current.
    pub roster: Arc<Roster>,
    /// Snapshot files.
    pub snapshots: Arc<SnapshotDir>,
    /// Where the snapshot-writing thread reports back.
    pub feedback: Sender<Input>,
    /// Take a snapshot after this many applied entries.
    pub snapshot_entries: u64,
    /// Entries kept in the log before a snapshot's index.
    pub keep_entries: u64,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The loop's logger.
    pub log: Logger,
}

/// The apply stage (see the module doc).
pub struct Applier {
    p: ApplierParts,
    /// Proposals of this member waiting to apply, by proposal id.
    pending: BTreeMap<u64, PendingProposal>,
    /// Membership changes this member proposed, waiting to apply, by proposal id.
    changes: BTreeMap<u64, PendingChange>,
    applied: u64,
    applied_term: u64,
    last_snapshot: u64,
    snapshot_in_flight: bool,
}

impl Applier {
    /// The stage for a tree restored from the snapshot at (`index`, `term`) (0 for none).
    pub fn new(parts: ApplierParts, index: u64, term: u64) -> Applier {
        Applier {
            p: parts,
            pending: BTreeMap::new(),
            changes: BTreeMap::new(),
            applied: index,
            applied_term: term,
            last_snapshot: index,
            snapshot_in_flight: false,
        }
    }

    /// The index of the last applied entry.
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// The index of the newest snapshot this member holds.
    pub fn last_snapshot(&self) -> u64 {
        self.last_snapshot
    }

    /// Waits for proposal `id` to apply, to answer `reply`.
    pub fn track(&mut self, id: u64, reply: oneshot::Sender<Result<Committed, ProposeError>>) {
        self.pending.insert(id, (Instant::now(), reply));
    }

    /// Waits for membership change `id` to apply, to answer `reply`.
    pub fn track_change(&mut self, id: u64, reply: oneshot::Sender<Result<u64, Refusal>>) {
        self.changes.insert(id, (Instant::now(), reply));
    }

    /// Fails the proposals and changes that waited longer than `limit` (their outcome
    /// is unknown).
    pub fn expire(&mut self, now: Instant, limit: Duration) {
        for reply in take_older(&mut self.pending, now, limit) {
            let _ = reply.send(Err(ProposeError::Timeout));
        }
        for reply in take_older(&mut self.changes, now, limit) {
            let _ = reply.send(Err(crate::membership::timed_out()));
        }
    }

    /// Fails everything still waiting: the loop stops.
    pub fn stop(&mut self) {
        for (_, (_, reply)) in std::mem::take(&mut self.pending) {
            let _ = reply.send(Err(ProposeError::Stopped));
        }
        for (_, (_, reply)) in std::mem::take(&mut self.changes) {
            let _ = reply.send(Err((paddock::Code::NotReady, "member is stopping".into())));
        }
    }

    /// Publishes `status` with this stage's indexes (call it under the tree's lock).
    fn publish(&self, mut status: RaftStatus) {
        status.applied_index = self.applied;
        status.snapshot_index = self.last_snapshot;
        *self.p.shared.status.lock() = status;
    }

    /// Replaces the tree with the leader's snapshot `snap` (raft-rs has taken it, and its
    /// configuration, in this Ready). `status` is the loop's status to publish with it.
    pub fn install_snapshot(
        &mut self,
        node: &mut RawNode<DiskStorage>,
        snap: Snapshot,
        status: RaftStatus,
    ) -> Result<(), StorageFailure> {
        let meta = snap.get_metadata().clone();
        // raft-rs already considers the snapshot installed once this Ready is advanced,
        // so a snapshot that cannot be restored or stored must stop the member rather
        // than leave Raft's view and the tree apart.
        let tree = DataTree::restore(&snap.data).map_err(|e| {
            StorageFailure::Snapshot(format!(
                "snapshot {} from the leader is unusable: {e}",
                meta.index
            ))
        })?;
        self.p
            .snapshots
            .save(meta.index, Arc::new(snap.data.to_vec()))
            .map_err(|e| {
                StorageFailure::Snapshot(format!("writing snapshot {}: {e}", meta.index))
            })?;
        node.mut_store().install_snapshot(&meta)?;
        self.p.snapshots.prune_below(meta.index);
        let members;
        {
            // Connections are told to close before the new tree can be read, so no
            // client sees the snapshot's changes without the events a reconnect brings.
            let mut current = self.p.shared.tree.write();
            *current = tree;
            self.p
                .shared
                .tree_index
                .store(meta.index, std::sync::atomic::Ordering::Release);
            self.p.observer.restored(meta.index);
            members = current.members().clone();
            self.applied = meta.index;
            self.applied_term = meta.term;
            self.last_snapshot = meta.index;
            self.publish(status);
        }
        self.refresh_roster(node, &members, &[]);
        // Waiters (linearizable reads, sync, resumes, grants) watch this, and on an idle
        // ensemble no entry may follow the snapshot to move it.
        self.p.shared.applied.send_replace(self.applied);
        info!(self.p.log, "installed a snapshot from the leader"; "index" => meta.index, "term" => meta.term);
        Ok(())
    }

    /// Applies committed `entries` (see the module doc); `status` is the loop's status to
    /// publish with the tree.
    pub fn apply(
        &mut self,
        node: &mut RawNode<DiskStorage>,
        entries: Vec<Entry>,
        status: RaftStatus,
    ) {
        if entries.is_empty() {
            return;
        }
        let me = self.p.me;
        let mut done: Vec<(u64, Result<Committed, ProposeError>)> = Vec::new();
        let mut changed: Vec<(u64, Result<u64, Refusal>)> = Vec::new();
        let mut members_changed = false;
        let mut removed = Vec::new();
        let mut tree = self.p.shared.tree.write();
        for entry in entries {
            if entry.index <= self.applied {
                continue;
            }
            self.applied = entry.index;
            self.applied_term = entry.term;
            if entry.get_entry_type() == EntryType::EntryConfChangeV2 {
                let applied = conf_change::apply_entry(node, &mut tree, &entry, me);
                match &applied.result {
                    Ok(()) => {
                        members_changed = true;
                        removed.extend(applied.removed.iter().copied());
                        info!(self.p.log, "membership changed"; "index" => entry.index,
                              "configuration" => ?conf_change::conf_state(node));
                    }
                    Err(e) => {
                        warn!(self.p.log, "a membership change was refused by raft"; "index" => entry.index, "error" => %e)
                    }
                }
                if let Some(p) = applied.proposal {
                    let result = applied
                        .result
                        .map(|()| entry.index)
                        .map_err(|e| (paddock::Code::BadArguments, e));
                    changed.push((p, result));
                }
                continue;
            }
            if entry.data.is_empty() || entry.get_entry_type() != EntryType::EntryNormal {
                continue;
            }
            let mut txn = match txn_codec::decode(&entry.data) {
                Ok(t) => t,
                Err(e) => {
                    warn!(self.p.log, "skipped an undecodable entry"; "index" => entry.index, "error" => %e);
                    continue;
                }
            };
            if txn.leader_term != 0 && txn.leader_term != entry.term {
                // Decided by the leader of another term: every replica sees the same
                // entry term, so every replica drops it alike.
                info!(self.p.log, "dropped a decision of a deposed leader";
                    "index" => entry.index, "decided_in" => txn.leader_term, "appended_in" => entry.term);
                if txn.origin == me {
                    done.push((txn.proposal_id, Err(ProposeError::Deposed(txn.leader_term))));
                }
                continue;
            }
            let result = match txn_codec::to_tree(&mut txn) {
                Ok(mut t) => {
                    if let TxnOp::RecordMember { id, .. } = &t.op {
                        // Only a member of the configuration at this entry is recorded;
                        // every replica sees the same configuration here.
                        if conf_change::ids(&conf_change::conf_state(node)).contains(id) {
                            members_changed = true;
                        } else {
                            t.op = TxnOp::Refused {
                                code: paddock::Code::BadArguments,
                                message: format!("member {id} is not in the configuration"),
                            };
                        }
                    }
                    let applied = tree.apply(entry.index, &t);
                    if !applied.changes.is_empty() {
                        self.p.observer.applied(entry.index, &applied.changes);
                    }
                    if applied.result.is_ok() {
                        match &t.op {
                            TxnOp::CreateSession {
                                session_id,
                                timeout_ms,
                                ..
                            } => self.p.observer.session_opened(*session_id, *timeout_ms),
                            TxnOp::CloseSession { session_id } => {
                                self.p.observer.session_closed(*session_id)
                            }
                            _ => {}
                        }
                    }
                    applied.result
                }
                Err(e) => Err(TxnError {
                    code: paddock::Code::MarshallingError,
                    message: e.to_string(),
                    multi: None,
                }),
            };
            if txn.origin == me {
                done.push((
                    txn.proposal_id,
                    Ok(Committed {
                        zxid: entry.index,
                        result,
                    }),
                ));
            }
        }
        let members = members_changed.then(|| tree.members().clone());
        self.p
            .shared
            .tree_index
            .store(self.applied, std::sync::atomic::Ordering::Release);
        self.publish(status);
        drop(tree);
        if let Some(members) = members {
            self.refresh_roster(node, &members, &removed);
        }
        for (id, result) in changed {
            if let Some((_, reply)) = self.changes.remove(&id) {
                let _ = reply.send(result);
            }
        }
        let boot = self.p.boot;
        for (id, committed) in done {
            // Earlier proposals of this boot that never applied were dropped.
            if id & 0xffff_ffff_0000_0000 == boot {
                let earlier: Vec<u64> = self.pending.range(boot..id).map(|(k, _)| *k).collect();
                for k in earlier {
                    if let Some((_, reply)) = self.pending.remove(&k) {
                        let _ = reply.send(Err(ProposeError::Dropped));
                    }
                }
            }
            if let Some((_, reply)) = self.pending.remove(&id) {
                let _ = reply.send(committed);
            }
        }
        self.p.shared.applied.send_replace(self.applied);
    }

    /// Gives the roster the configuration raft-rs holds now and the tree's member list,
    /// and tells the observer (peer links, listener). A leader that is no longer a
    /// voter hands leadership to one.
    fn refresh_roster(
        &mut self,
        node: &mut RawNode<DiskStorage>,
        members: &BTreeMap<u64, MemberAddrs>,
        removed: &[u64],
    ) {
        let cs = conf_change::conf_state(node);
        let view = RosterView::new(&cs, members, self.p.roster.fallback());
        let me = self.p.me;
        if !view.ids().contains(&me) && !view.ids().is_empty() {
            warn!(self.p.log, "this member is no longer in the ensemble's configuration: stop it (its data directory is of no further use)");
        }
        if node.raft.state == StateRole::Leader && !view.is_voter(me) {
            if let Some(to) = view.voters.iter().find(|v| **v != me) {
                info!(self.p.log, "no longer a voter: handing leadership on"; "to" => to);
                node.transfer_leader(*to);
            }
        }
        self.p.roster.set(view);
        self.p.observer.members_changed(removed);
    }

    /// Takes a snapshot if one is due (see the module doc).
    pub fn maybe_snapshot(&mut self, node: &RawNode<DiskStorage>) {
        if self.snapshot_in_flight {
            return;
        }
        // A damaged file (found when a follower needed it) is replaced at once, from the
        // tree in memory, whatever the number of entries since the last snapshot.
        let damaged = self.p.snapshots.take_damaged();
        if damaged {
            warn!(self.p.log, "the snapshot file a follower needs is damaged; writing a fresh one"; "index" => self.last_snapshot);
        }
        // A follower (one that joins) asked for a snapshot newer than the newest one.
        // (Asked again while one is being written: the one being written may do.)
        let wanted = node.store().take_snapshot_wanted();
        let wanted = wanted > self.last_snapshot && self.applied > self.last_snapshot;
        if wanted {
            info!(self.p.log, "a follower needs a newer snapshot; taking one"; "index" => self.applied);
        }
        if !damaged && !wanted && self.applied < self.last_snapshot + self.p.snapshot_entries {
            return;
        }
        let (index, term) = (self.applied, self.applied_term);
        let conf = conf_change::conf_state(node);
        let bytes = Arc::new(self.p.shared.tree.read().snapshot());
        self.p.metrics.snapshot_bytes.set(bytes.len() as i64);
        self.p.metrics.snapshots_total.inc();
        let dir = self.p.snapshots.clone();
        let inputs = self.p.feedback.clone();
        let log = self.p.log.clone();
        self.snapshot_in_flight = true;
        std::thread::spawn(move || match dir.save(index, bytes) {
            Ok(()) => {
                let _ = inputs.send(Input::SnapshotSaved(index, term, conf));
            }
            Err(e) => {
                crit!(log, "could not write a snapshot"; "index" => index, "error" => %e);
                let _ = inputs.send(Input::SnapshotWriteFailed(format!(
                    "writing snapshot {index}: {e}"
                )));
            }
        });
    }

    /// The snapshot file at (`index`, `term`, configuration `conf`) is durable: record
    /// it in the log, compact the log, and drop older files.
    pub fn snapshot_saved(
        &mut self,
        node: &mut RawNode<DiskStorage>,
        index: u64,
        term: u64,
        conf: raft::eraftpb::ConfState,
    ) -> Result<(), StorageFailure> {
        self.snapshot_in_flight = false;
        node.mut_store()
            .snapshot_taken(index, term, self.p.keep_entries, conf)?;
        // Only files older than what the log now records durably may go.
        let recorded = node.store().snapshot_metadata().index;
        self.p.snapshots.prune_below(recorded);
        self.last_snapshot = index;
        info!(self.p.log, "snapshot taken"; "index" => index, "term" => term);
        Ok(())
    }
}
