//! The Raft loop: one OS thread that owns the `RawNode`, its durable log and the
//! write side of the tree.
//!
//! Each turn it takes every input that is waiting (proposals, peer messages,
//! ReadIndex requests) before it asks for a Ready, so all proposals that queued while
//! the previous fsync ran share the next one (group commit). A Ready is handled in
//! raft-rs's documented order:
//! 1. messages (the leader sends appends while it persists them itself);
//! 2. an incoming snapshot: written to the snapshot directory, recorded in the log,
//!    and the tree is replaced by it;
//! 3. committed entries, applied to the tree;
//! 4. new entries and 5. the hard state, made durable by one fsync;
//! 6. persisted messages (votes, append responses: only after the fsync);
//! 7. `advance`, then the light ready's commit index, messages and committed entries;
//!    `advance_apply`.
//!
//! Applying entries, answering this member's proposals, installing a leader's snapshot
//! and taking this member's own snapshots is the apply stage's work (`apply.rs`, with
//! its contract); the loop calls it at steps 2, 3 and 7.
//!
//! Storage errors are fatal: the loop stops and marks itself stopped; the member then
//! refuses requests and the binary exits non-zero. A member must never go on with a
//! log it could not write.
use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use paddock::proto::replication as rpb;
use raft::eraftpb::{Message, MessageType};
use raft::{RawNode, StateRole};
use slog::{crit, debug, info, Logger};
use tokio::sync::oneshot;

use super::apply::{Applier, ApplierParts};
use super::conf_change;
use super::handle::{Committed, Input, ProposeError, RaftStatus, Role, Shared};
use super::snapshots::SnapshotDir;
use super::storage::{DiskStorage, StorageFailure};
use crate::membership::{plan, Refusal, Roster, NOT_LEADER};
use crate::metrics::Metrics;
use crate::tree::Change;

/// Where the loop sends messages for peers. Must not block.
pub trait Outbox: Send {
    /// Queues messages for their recipients (dropping them if a link is saturated:
    /// Raft retransmits).
    fn send(&self, msgs: Vec<Message>);
}

/// Sees every applied change, in zxid order, while the tree's write lock is held
/// (so that a watch event is queued before any read can observe the change).
pub trait ApplyObserver: Send {
    /// Called for every applied transaction that changed the tree.
    fn applied(&mut self, zxid: u64, changes: &[Change]);
    /// Called when the tree is replaced by a snapshot.
    fn restored(&mut self, _zxid: u64) {}
    /// Called when a session was created through Raft.
    fn session_opened(&mut self, _session: u64, _timeout_ms: u32) {}
    /// Called when a session was closed (by its client or by expiry) through Raft.
    fn session_closed(&mut self, _session: u64) {}
    /// Called when the configuration or the member list changed (the roster already
    /// holds the new view); `removed` lists the members a change removed.
    fn members_changed(&mut self, _removed: &[u64]) {}
}

/// A ReadIndex request: (first asked, last asked, reply).
type PendingRead = (Instant, Instant, oneshot::Sender<Result<u64, ProposeError>>);

/// Settings of the loop.
#[derive(Debug, Clone)]
pub struct LoopConfig {
    /// This member's id.
    pub id: u64,
    /// Interval between raft ticks.
    pub tick: Duration,
    /// Ticks without a leader before an election.
    pub election_ticks: usize,
    /// Ticks between leader heartbeats.
    pub heartbeat_ticks: usize,
    /// Take a snapshot after this many applied entries.
    pub snapshot_entries: u64,
    /// Entries kept in the log before the snapshot index (for slightly lagging peers).
    pub keep_entries: u64,
    /// Largest entry payload accepted.
    pub max_entry_bytes: usize,
    /// How long a proposal or ReadIndex may wait.
    pub request_timeout: Duration,
    /// How a member that rejoins after losing its log votes until it has caught up with
    /// a leader (see `incarnation.rs`); the loop clears the log's rejoining state then.
    pub rejoin: RejoinVotes,
}

/// Which votes a member grants while it rejoins after losing its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejoinVotes {
    /// Not rejoining: raft-rs decides.
    Any,
    /// Only for candidates whose log is at least as up to date as this (term, index):
    /// the newest position any peer held when every peer answered its start. A majority
    /// that lost its data can then never elect one of its own over a member that kept
    /// the ensemble's log.
    AtLeast((u64, u64)),
    /// None at all: some peer could not tell it what it holds. The position is the
    /// newest one it knows a peer held (told on an earlier start), passed on to peers
    /// that rejoin in turn.
    Abstain((u64, u64)),
}

impl RejoinVotes {
    /// The log position to tell rejoining peers: `own`, or the floor if newer.
    pub fn position(&self, own: (u64, u64)) -> (u64, u64) {
        match self {
            RejoinVotes::Any => own,
            RejoinVotes::AtLeast(floor) | RejoinVotes::Abstain(floor) => own.max(*floor),
        }
    }

    /// Whether a candidate whose last entry is at `candidate` (term, index) may get
    /// this member's vote (raft-rs still applies its own rules after this).
    pub fn may_vote_for(&self, candidate: (u64, u64)) -> bool {
        match self {
            RejoinVotes::Any => true,
            RejoinVotes::AtLeast(floor) => candidate >= *floor,
            RejoinVotes::Abstain(_) => false,
        }
    }
}

/// The Raft loop's state. Created by [`RaftLoop::new`], consumed by [`RaftLoop::run`].
pub struct RaftLoop {
    cfg: LoopConfig,
    node: RawNode<DiskStorage>,
    inputs: Receiver<Input>,
    outbox: Box<dyn Outbox>,
    /// Committed entries into the tree, answers to proposals, snapshots.
    applier: Applier,
    shared: Arc<Shared>,
    metrics: Arc<Metrics>,
    log: Logger,
    /// Random per boot: proposal ids of earlier boots never match ours.
    boot: u64,
    /// The log held nothing when this process started (a new or emptied data directory):
    /// a leader may still count on entries this member held before, see
    /// [`RaftLoop::check_leader_commit`].
    started_empty: bool,
    /// Which vote requests are dropped until caught up (see [`LoopConfig::rejoin`]).
    rejoin: RejoinVotes,
    next_proposal: u64,
    /// The membership view (kept current by the apply stage).
    roster: Arc<Roster>,
    /// Numbers ReadIndex requests and lease probes (with `boot` in its top half).
    next_read: u64,
    /// ReadIndex requests waiting for raft's answer, by number: (first asked, last
    /// asked, reply). raft-rs drops a ReadIndex silently while a new leader has not yet
    /// committed an entry of its term, so unanswered ones are asked again.
    reads: HashMap<u64, PendingRead>,
    /// Lease probes in flight while leading (ReadIndex requests of the loop itself),
    /// by number, with the instant each was sent.
    probes: BTreeMap<u64, Instant>,
    /// When the last lease probe was sent.
    last_probe: Instant,
    /// The send instant of the newest completed probe of this term (see
    /// [`RaftStatus::quorum_contact`]).
    quorum_contact: Option<Instant>,
    role: StateRole,
    leader: u64,
}

impl RaftLoop {
    /// Builds the loop around an opened log and the tree restored from the newest
    /// snapshot (whose index must equal the log's snapshot index).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        cfg: LoopConfig,
        storage: DiskStorage,
        inputs: Receiver<Input>,
        feedback: Sender<Input>,
        outbox: Box<dyn Outbox>,
        observer: Box<dyn ApplyObserver>,
        shared: Arc<Shared>,
        snapshots: Arc<SnapshotDir>,
        roster: Arc<Roster>,
        metrics: Arc<Metrics>,
        log: &Logger,
    ) -> raft::Result<RaftLoop> {
        let snap = storage.snapshot_metadata().clone();
        let raft_cfg = raft::Config {
            id: cfg.id,
            election_tick: cfg.election_ticks,
            heartbeat_tick: cfg.heartbeat_ticks,
            applied: snap.index,
            max_size_per_msg: 1024 * 1024,
            max_inflight_msgs: 256,
            check_quorum: true,
            pre_vote: true,
            ..Default::default()
        };
        raft_cfg.validate()?;
        let raft_log = log.new(slog::o!("component" => "raft"));
        let started_empty = storage.is_empty();
        let node = RawNode::new(&raft_cfg, storage, &raft_log)?;
        let boot = u64::from(rand::random::<u32>()) << 32;
        let log = log.new(slog::o!("component" => "raft-loop"));
        let applier = Applier::new(
            ApplierParts {
                me: cfg.id,
                boot,
                shared: shared.clone(),
                observer,
                roster: roster.clone(),
                snapshots,
                feedback,
                snapshot_entries: cfg.snapshot_entries,
                keep_entries: cfg.keep_entries,
                metrics: metrics.clone(),
                log: log.clone(),
            },
            snap.index,
            snap.term,
        );
        Ok(RaftLoop {
            boot,
            started_empty,
            rejoin: cfg.rejoin,
            next_proposal: 1,
            roster,
            next_read: 1,
            reads: HashMap::new(),
            probes: BTreeMap::new(),
            last_probe: Instant::now(),
            quorum_contact: None,
            role: StateRole::Follower,
            leader: 0,
            cfg,
            node,
            inputs,
            outbox,
            applier,
            shared,
            metrics,
            log,
        })
    }

    /// Runs until asked to stop or until storage fails (the error is returned).
    pub fn run(mut self) -> Result<(), StorageFailure> {
        // A single-member ensemble elects itself at once. A voter of a larger one starts
        // with its election clock one tick short of the shortest timeout (etcd's
        // initial election tick advance), so a restarted ensemble elects within about
        // one timeout's random part instead of a whole timeout and more. Pre-vote keeps
        // this from disturbing a running ensemble: its peers, following a leader, refuse.
        let voters = self.node.raft.prs().conf().voters().ids().len();
        if voters == 1 {
            let _ = self.node.campaign();
        } else if voters > 1 && self.node.raft.promotable() {
            for _ in 1..self.cfg.election_ticks {
                self.node.tick();
            }
        }
        let result = self.run_inner();
        self.shared.status.lock().stopped = true;
        self.applier.stop();
        for (_, (_, _, reply)) in std::mem::take(&mut self.reads) {
            let _ = reply.send(Err(ProposeError::Stopped));
        }
        if let Err(e) = &result {
            crit!(self.log, "raft log failed; stopping this member"; "error" => %e);
        }
        result
    }

    /// Handles one input taken from the queue, freeing its place.
    fn take(&mut self, input: Input) -> Result<(), StorageFailure> {
        if input.is_heavy() {
            self.shared.taken();
        }
        self.handle(input)
    }

    fn run_inner(&mut self) -> Result<(), StorageFailure> {
        let mut next_tick = Instant::now() + self.cfg.tick;
        loop {
            let wait = next_tick.saturating_duration_since(Instant::now());
            match self.inputs.recv_timeout(wait) {
                Ok(Input::Stop) => return Ok(()),
                Ok(input) => self.take(input)?,
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            }
            // Group commit: everything that queued meanwhile joins this Ready.
            for _ in 0..8192 {
                match self.inputs.try_recv() {
                    Ok(Input::Stop) => return Ok(()),
                    Ok(input) => self.take(input)?,
                    Err(_) => break,
                }
            }
            let now = Instant::now();
            if now >= next_tick {
                self.node.tick();
                next_tick = now + self.cfg.tick;
                self.expire(now);
            }
            self.probe_lease(now);
            self.on_ready()?;
        }
    }

    fn handle(&mut self, input: Input) -> Result<(), StorageFailure> {
        match input {
            Input::Propose(txn, reply) => self.propose(txn, reply),
            Input::ReadIndex(reply) => {
                if self.node.raft.leader_id == raft::INVALID_ID {
                    let _ = reply.send(Err(ProposeError::NoLeader));
                } else {
                    let n = self.next_read_number();
                    self.node.read_index(self.read_ctx(n));
                    let now = Instant::now();
                    self.reads.insert(n, (now, now, reply));
                }
            }
            Input::Peer(mut m) => {
                if matches!(
                    m.get_msg_type(),
                    MessageType::MsgRequestVote | MessageType::MsgRequestPreVote
                ) && !self.rejoin.may_vote_for((m.log_term, m.index))
                {
                    debug!(self.log, "refused a vote while rejoining"; "from" => m.from, "term" => m.term,
                        "candidate_log" => format!("{}/{}", m.log_term, m.index));
                    return Ok(());
                }
                if m.get_msg_type() == MessageType::MsgAppend
                    && m.term >= self.node.raft.term
                    && conf_change::joining(&self.node)
                {
                    debug!(self.log, "joining: asking the leader for a snapshot"; "leader" => m.from, "commit" => m.commit);
                    self.outbox
                        .send(vec![conf_change::ask_for_snapshot(&m, self.cfg.id)]);
                    return Ok(());
                }
                self.check_leader_commit(&mut m)?;
                if let Err(e) = self.node.step(m) {
                    debug!(self.log, "dropped a peer message"; "error" => %e);
                }
            }
            Input::Unreachable(id) => self.node.report_unreachable(id),
            Input::SnapshotFailed(id) => {
                self.node.report_snapshot(id, raft::SnapshotStatus::Failure)
            }
            Input::SnapshotSent(id) => self.node.report_snapshot(id, raft::SnapshotStatus::Finish),
            Input::SnapshotSaved(index, term, conf) => {
                self.applier
                    .snapshot_saved(&mut self.node, index, term, conf)?;
            }
            Input::SnapshotWriteFailed(reason) => return Err(StorageFailure::Snapshot(reason)),
            Input::TransferLeader(to) => {
                info!(self.log, "leadership transfer asked"; "to" => to,
                      "leader" => self.node.raft.leader_id);
                self.node.transfer_leader(to);
            }
            Input::ChangeMembers(req, reply) => self.propose_change(req, reply),
            Input::Stop => {}
        }
        Ok(())
    }

    fn propose(
        &mut self,
        mut txn: rpb::Txn,
        reply: oneshot::Sender<Result<Committed, ProposeError>>,
    ) {
        if self.node.raft.leader_id == raft::INVALID_ID {
            let _ = reply.send(Err(ProposeError::NoLeader));
            return;
        }
        // A leader's decision is only proposed by that leader in that term: raft-rs
        // would forward it to a successor, which must not act on a deposed view.
        if txn.leader_term != 0
            && (self.node.raft.state != StateRole::Leader || self.node.raft.term != txn.leader_term)
        {
            let _ = reply.send(Err(ProposeError::Deposed(txn.leader_term)));
            return;
        }
        let id = self.boot | (self.next_proposal & 0xffff_ffff);
        self.next_proposal += 1;
        txn.origin = self.cfg.id;
        txn.proposal_id = id;
        let data = paddock::codec::encode_vec(&txn);
        if data.len() > self.cfg.max_entry_bytes {
            let _ = reply.send(Err(ProposeError::TooLarge(data.len())));
            return;
        }
        self.metrics.proposals_total.inc();
        match self.node.propose(Vec::new(), data) {
            Ok(()) => self.applier.track(id, reply),
            Err(_) => {
                self.metrics.proposals_failed_total.inc();
                let _ = reply.send(Err(ProposeError::NoLeader));
            }
        }
    }

    /// Checks membership change `req` as the leader and proposes it (see
    /// `membership::plan`); `reply` is answered when it applies here.
    fn propose_change(
        &mut self,
        req: paddock::proto::paddock::MemberChangeRequest,
        reply: oneshot::Sender<Result<u64, Refusal>>,
    ) {
        if self.node.raft.state != StateRole::Leader {
            let _ = reply.send(Err((paddock::Code::NotReady, NOT_LEADER.into())));
            return;
        }
        let view = self.roster.view();
        let prs = self.node.raft.prs();
        let progress = |id: u64| prs.get(id).map(|p| (p.matched, p.recent_active));
        let planned = plan::plan(
            &req,
            &plan::LeaderView {
                me: self.cfg.id,
                roster: &view,
                pending: self.node.raft.has_pending_conf(),
                committed: self.node.raft.raft_log.committed,
                progress: &progress,
            },
        );
        let planned = match planned {
            Ok(p) => p,
            Err(refusal) => {
                let _ = reply.send(Err(refusal));
                return;
            }
        };
        let id = self.boot | (self.next_proposal & 0xffff_ffff);
        self.next_proposal += 1;
        let mut ctx = rpb::MemberChange::new();
        ctx.origin = self.cfg.id;
        ctx.proposal_id = id;
        ctx.added = planned.added.into();
        info!(self.log, "proposing a membership change"; "kind" => ?req.kind, "id" => req.id,
              "replace" => req.replace, "changes" => ?planned.cc.changes);
        match self
            .node
            .propose_conf_change(paddock::codec::encode_vec(&ctx), planned.cc)
        {
            Ok(()) => self.applier.track_change(id, reply),
            Err(e) => {
                let _ = reply.send(Err((paddock::Code::NotReady, e.to_string())));
            }
        }
    }

    /// Fails requests that waited longer than the request timeout.
    fn expire(&mut self, now: Instant) {
        let limit = self.cfg.request_timeout;
        self.applier.expire(now, limit);
        let late: Vec<u64> = self
            .reads
            .iter()
            .filter(|(_, (t, _, reply))| now.duration_since(*t) > limit || reply.is_closed())
            .map(|(ctx, _)| *ctx)
            .collect();
        for ctx in late {
            if let Some((_, _, reply)) = self.reads.remove(&ctx) {
                let _ = reply.send(Err(ProposeError::Timeout));
            }
        }
        let retry = self.cfg.tick * 3;
        if self.node.raft.leader_id != raft::INVALID_ID {
            let again: Vec<u64> = self
                .reads
                .iter_mut()
                .filter(|(_, (_, last, _))| now.duration_since(*last) >= retry)
                .map(|(n, (_, last, _))| {
                    *last = now;
                    *n
                })
                .collect();
            for n in again {
                let ctx = self.read_ctx(n);
                self.node.read_index(ctx);
            }
        }
    }

    /// The next read number: unique per boot (the boot's random half on top).
    fn next_read_number(&mut self) -> u64 {
        let n = self.boot | (self.next_read & 0xffff_ffff);
        self.next_read += 1;
        n
    }

    /// The ReadIndex context of read number `n`: this member's id, then `n`. raft-rs
    /// answers (and de-duplicates) reads by context, so contexts are unique across
    /// members and boots: no read is ever answered for another.
    fn read_ctx(&self, n: u64) -> Vec<u8> {
        read_ctx(self.cfg.id, n)
    }

    /// While leading, asks a quorum to confirm the lead every heartbeat interval: the
    /// send instant of the newest confirmed probe is the quorum contact that session
    /// leases are counted from (see `sessions`).
    fn probe_lease(&mut self, now: Instant) {
        if self.node.raft.state != StateRole::Leader {
            return;
        }
        let every = self.cfg.tick * self.cfg.heartbeat_ticks as u32;
        if now.duration_since(self.last_probe) < every {
            return;
        }
        self.last_probe = now;
        // raft-rs drops reads silently before the leader commits in its term; forget
        // probes that stay unanswered for long.
        while self.probes.len() >= 32 {
            self.probes.pop_first();
        }
        let n = self.next_read_number();
        self.probes.insert(n, now);
        let ctx = self.read_ctx(n);
        self.node.read_index(ctx);
    }

    fn on_ready(&mut self) -> Result<(), StorageFailure> {
        if !self.node.has_ready() {
            return Ok(());
        }
        let mut rd = self.node.ready();
        if !rd.messages().is_empty() {
            self.outbox.send(rd.take_messages());
        }
        if !rd.snapshot().is_empty() {
            let status = self.status();
            self.applier
                .install_snapshot(&mut self.node, rd.snapshot().clone(), status)?;
        }
        let committed = rd.take_committed_entries();
        if !committed.is_empty() {
            let status = self.status();
            self.applier.apply(&mut self.node, committed, status);
        }
        if !rd.entries().is_empty() {
            self.metrics
                .proposal_batch_size
                .observe(rd.entries().len() as f64);
            self.node.mut_store().append(rd.entries())?;
        }
        if let Some(hs) = rd.hs() {
            self.node.mut_store().set_hard_state(hs)?;
        }
        let started = Instant::now();
        if self.node.mut_store().persist()? {
            self.metrics
                .fsync_duration_seconds
                .observe(started.elapsed().as_secs_f64());
        }
        if !rd.persisted_messages().is_empty() {
            self.outbox.send(rd.take_persisted_messages());
        }
        for rs in rd.take_read_states() {
            let Some(n) = self.read_number(&rs.request_ctx) else {
                continue;
            };
            if let Some((_, _, reply)) = self.reads.remove(&n) {
                let _ = reply.send(Ok(rs.index));
            } else if let Some(sent) = self.probes.remove(&n) {
                // Older probes can only confirm earlier instants.
                self.probes.retain(|_, t| *t > sent);
                self.quorum_contact = Some(self.quorum_contact.map_or(sent, |q| q.max(sent)));
            }
        }
        if let Some(ss) = rd.ss() {
            self.on_soft_state(ss.raft_state, ss.leader_id);
        }
        let mut light = self.node.advance(rd);
        if let Some(commit) = light.commit_index() {
            self.node.mut_store().set_commit(commit)?;
        }
        if !light.messages().is_empty() {
            self.outbox.send(light.take_messages());
        }
        let committed = light.take_committed_entries();
        if !committed.is_empty() {
            let status = self.status();
            self.applier.apply(&mut self.node, committed, status);
        }
        self.node.advance_apply();
        if self.rejoin != RejoinVotes::Any {
            let raft = &self.node.raft;
            let committed = raft.raft_log.committed;
            let applied = self.applier.applied();
            if raft.leader_id != raft::INVALID_ID && committed > 0 && applied >= committed {
                // Durably first: a restart after this point votes as usual.
                super::incarnation::set_rejoining(&self.node.store().engine(), None)?;
                self.rejoin = RejoinVotes::Any;
                info!(self.log, "caught up after rejoining: votes again";
                    "leader" => raft.leader_id, "term" => raft.term, "applied" => applied);
            }
        }
        self.applier.maybe_snapshot(&self.node);
        self.publish();
        Ok(())
    }

    /// A leader's heartbeat carries the commit index up to what this member acknowledged
    /// (`min(match, commit)`). If the log ends before it, entries this member had made
    /// durable are gone, and raft-rs would panic. Two cases:
    /// - the process started with an empty log (a new or emptied data directory): the
    ///   leader's match index is left over from before. The heartbeat is taken with the
    ///   commit index cut to the log's end (every entry held came from this leader or its
    ///   snapshot, so it is committed up to there), and the member answers with
    ///   rejections at and past that match index, so that the leader probes back and
    ///   sends a snapshot or the entries it lacks even when no write comes;
    /// - otherwise the disk lost data: the member stops with [`StorageFailure::DataLoss`].
    fn check_leader_commit(&mut self, m: &mut Message) -> Result<(), StorageFailure> {
        if m.get_msg_type() != MessageType::MsgHeartbeat || m.term < self.node.raft.term {
            return Ok(());
        }
        let last = self.node.raft.raft_log.last_index();
        if m.commit <= last {
            return Ok(());
        }
        if !self.started_empty {
            return Err(StorageFailure::DataLoss(format!(
                "member {} (leader in term {}) counts entries up to {} as acknowledged by this \
                 member, but its log ends at {last}",
                m.from, m.term, m.commit
            )));
        }
        debug!(self.log, "started empty: asking the leader for what it still needs";
               "leader" => m.from, "leader_commit" => m.commit, "last" => last);
        // raft-rs only takes a rejection of `match` in probe state and of an index past
        // `match` in replicate state, and the leader's state is not known here: send both.
        for index in [m.commit, m.commit + 1] {
            let mut reject = Message::default();
            reject.set_msg_type(MessageType::MsgAppendResponse);
            reject.to = m.from;
            reject.from = self.cfg.id;
            reject.term = m.term;
            reject.reject = true;
            reject.index = index;
            reject.reject_hint = last;
            self.outbox.send(vec![reject]);
        }
        m.commit = last;
        Ok(())
    }

    /// The read number in a context this member made, if it did.
    fn read_number(&self, ctx: &[u8]) -> Option<u64> {
        read_number(self.cfg.id, ctx)
    }

    fn on_soft_state(&mut self, role: StateRole, leader: u64) {
        if role != self.role || leader != self.leader {
            info!(self.log, "raft role changed"; "role" => ?role, "leader" => leader,
                  "term" => self.node.raft.term);
            // A quorum contact belongs to one term's lead.
            self.probes.clear();
            self.quorum_contact = None;
        }
        // Pending ReadIndex requests are asked again (see `expire`), of the new leader.
        self.role = role;
        self.leader = leader;
    }

    /// Publishes the Raft status (the apply stage publishes it too, with the tree).
    fn publish(&self) {
        *self.shared.status.lock() = self.status();
    }

    /// The Raft status now.
    fn status(&self) -> RaftStatus {
        let raft = &self.node.raft;
        let role = match raft.state {
            StateRole::Follower => Role::Follower,
            StateRole::PreCandidate => Role::PreCandidate,
            StateRole::Candidate => Role::Candidate,
            StateRole::Leader => Role::Leader,
        };
        RaftStatus {
            id: self.cfg.id,
            role,
            leader_id: raft.leader_id,
            term: raft.term,
            commit_index: raft.raft_log.committed,
            applied_index: self.applier.applied(),
            snapshot_index: self.applier.last_snapshot(),
            log_position: {
                let own = (raft.raft_log.last_term(), raft.raft_log.last_index());
                self.rejoin.position(own)
            },
            stopped: false,
            quorum_contact: if raft.state == StateRole::Leader {
                self.quorum_contact
            } else {
                None
            },
        }
    }
}

/// The ReadIndex context of `member`'s read number `n` (whose top half is random per boot).
/// raft-rs answers and de-duplicates reads by context, so contexts must never collide
/// between members, nor between boots of one member.
fn read_ctx(member: u64, n: u64) -> Vec<u8> {
    let mut ctx = Vec::with_capacity(16);
    ctx.extend_from_slice(&member.to_be_bytes());
    ctx.extend_from_slice(&n.to_be_bytes());
    ctx
}

/// The read number in `ctx` if it is a context of `member`'s (see [`read_ctx`]).
fn read_number(member: u64, ctx: &[u8]) -> Option<u64> {
    if ctx.len() != 16 || ctx[..8] != member.to_be_bytes() {
        return None;
    }
    let mut n = [0u8; 8];
    n.copy_from_slice(&ctx[8..]);
    Some(u64::from_be_bytes(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rejoining_member_votes_only_for_candidates_at_its_floor() {
        assert!(RejoinVotes::Any.may_vote_for((0, 0)));
        assert!(!RejoinVotes::Abstain((0, 0)).may_vote_for((9, 9)));
        assert_eq!(RejoinVotes::Abstain((2, 9)).position((1, 20)), (2, 9));
        assert_eq!(RejoinVotes::Any.position((1, 20)), (1, 20));
        let floor = RejoinVotes::AtLeast((3, 50));
        assert!(floor.may_vote_for((3, 50)));
        assert!(
            floor.may_vote_for((4, 1)),
            "a later term is more up to date"
        );
        assert!(!floor.may_vote_for((3, 49)));
        assert!(
            !floor.may_vote_for((2, 100)),
            "a longer log of an older term is not"
        );
        assert!(!floor.may_vote_for((0, 0)), "an empty log never");
    }

    /// Finding 8: contexts used to be the bare counter, from 1 on every member and at
    /// every boot, so two members' first reads had the same context.
    #[test]
    fn read_contexts_never_collide_between_members_or_boots() {
        let (boot_a, boot_b) = (7u64 << 32, 9u64 << 32);
        assert_ne!(read_ctx(1, boot_a | 1), read_ctx(2, boot_a | 1));
        assert_ne!(read_ctx(1, boot_a | 1), read_ctx(1, boot_b | 1));
        assert_eq!(read_number(1, &read_ctx(1, boot_a | 5)), Some(boot_a | 5));
        // Another member's context, or an old 8-byte one, is not one of ours.
        assert_eq!(read_number(2, &read_ctx(1, boot_a | 5)), None);
        assert_eq!(read_number(1, &5u64.to_be_bytes()), None);
    }
}
