//! The async side of the Raft loop: what client connections and the admin endpoint
//! use to propose transactions, ask for a ReadIndex, wait for the applied index and
//! read the tree.
//!
//! Guarantees:
//! - A proposal's reply carries the zxid (Raft index) at which it applied and the
//!   tree's result; it arrives after the tree has applied that entry on this member.
//! - A `ProposeError` means the outcome is unknown (`Dropped`, `Timeout`, `Stopped`)
//!   or that nothing was proposed (`NoLeader`, `TooLarge`); retrying with the same
//!   (session, xid) is safe because the tree applies a (session, xid) at most once.
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};

use paddock::proto::replication as rpb;
use parking_lot::{Mutex, RwLock, RwLockReadGuard};
use tokio::sync::{oneshot, watch};

use crate::tree::{DataTree, TxnResult};

/// A transaction that applied: its zxid and the tree's result.
#[derive(Debug)]
pub struct Committed {
    /// The Raft index of the entry, i.e. the zxid of the change.
    pub zxid: u64,
    /// What the tree answered.
    pub result: TxnResult,
}

/// Why a proposal or ReadIndex did not complete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProposeError {
    /// No leader is known; nothing was proposed. Retry later or elsewhere.
    #[error("no leader")]
    NoLeader,
    /// The proposal was lost in a leader change; it may or may not apply later.
    #[error("proposal dropped by a leader change; outcome unknown")]
    Dropped,
    /// No answer in time; the outcome is unknown.
    #[error("timed out waiting for the ensemble; outcome unknown")]
    Timeout,
    /// The entry is larger than the ensemble accepts.
    #[error("proposal of {0} bytes exceeds the limit")]
    TooLarge(usize),
    /// The member is stopping (or its Raft loop failed).
    #[error("member is stopping")]
    Stopped,
    /// The Raft loop already has [`INPUT_QUEUE`] proposals, reads and peer messages
    /// waiting; nothing was proposed. Retry later or elsewhere.
    #[error("member overloaded: too many requests wait for the raft loop")]
    Busy,
    /// A leader's decision (it carries `leader_term`) reached the Raft loop, or
    /// committed, outside the term it was decided in; it did not and will not apply.
    #[error("decided as leader of term {0}, which this member no longer leads; not applied")]
    Deposed(u64),
}

/// Role of this member in the current term.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Follower.
    Follower,
    /// Pre-vote candidate.
    PreCandidate,
    /// Candidate.
    Candidate,
    /// Leader.
    Leader,
}

impl Role {
    /// Lower-case name as shown in /status.
    pub fn name(self) -> &'static str {
        match self {
            Role::Follower => "follower",
            Role::PreCandidate => "pre-candidate",
            Role::Candidate => "candidate",
            Role::Leader => "leader",
        }
    }
}

/// The Raft loop's view of itself, republished after every Ready.
#[derive(Debug, Clone, Copy)]
pub struct RaftStatus {
    /// This member's id.
    pub id: u64,
    /// Current role.
    pub role: Role,
    /// Known leader (0: none).
    pub leader_id: u64,
    /// Current term.
    pub term: u64,
    /// Highest index known committed.
    pub commit_index: u64,
    /// Highest index applied to the tree.
    pub applied_index: u64,
    /// Index of the newest durable snapshot.
    pub snapshot_index: u64,
    /// The newest log position, (term, index), this member holds, or knows a peer
    /// held when it rejoined after a data loss (its vote floor): what it answers a
    /// rejoining peer's probe with.
    pub log_position: (u64, u64),
    /// Whether the loop has stopped (after a stop request or a fatal storage error).
    pub stopped: bool,
    /// While leading: the newest instant such that a quorum acknowledged a heartbeat
    /// this leader sent after it (a completed lease probe). No successor can be
    /// elected before it: every quorum holds a voter that acknowledged this leader's
    /// term after that instant. `None` when not leading or not yet confirmed.
    pub quorum_contact: Option<Instant>,
}

/// What the Raft loop takes in.
pub enum Input {
    /// Replicate a transaction and answer when it applies here.
    Propose(rpb::Txn, oneshot::Sender<Result<Committed, ProposeError>>),
    /// Confirm leadership and answer with an index that, once applied here, makes a
    /// read linearizable.
    ReadIndex(oneshot::Sender<Result<u64, ProposeError>>),
    /// A message from a peer.
    Peer(raft::eraftpb::Message),
    /// The link to a peer failed.
    Unreachable(u64),
    /// Sending a snapshot to a peer failed.
    SnapshotFailed(u64),
    /// A snapshot was written to a peer's connection (it may still be lost: the peer
    /// is then probed again and gets a new one).
    SnapshotSent(u64),
    /// A snapshot file finished writing (index, term, the configuration at index).
    SnapshotSaved(u64, u64, raft::eraftpb::ConfState),
    /// Writing a snapshot file failed: fatal for the member.
    SnapshotWriteFailed(String),
    /// Hand leadership to this voter (on a follower, raft-rs passes it to the leader).
    TransferLeader(u64),
    /// Check and propose a membership change (leader only: elsewhere it is refused with
    /// [`crate::membership::NOT_LEADER`]); answered with the index of its entry once
    /// it applied here.
    ChangeMembers(
        paddock::proto::paddock::MemberChangeRequest,
        oneshot::Sender<Result<u64, crate::membership::Refusal>>,
    ),
    /// Stop the loop.
    Stop,
}

/// State shared by the Raft loop (the only writer of the tree) and the async world.
pub struct Shared {
    /// The replicated tree. Written only by the Raft loop; locks are never held across
    /// an await.
    pub tree: RwLock<DataTree>,
    /// Raft status, republished after every Ready.
    pub status: Mutex<RaftStatus>,
    /// Highest applied index, for waiting.
    pub applied: watch::Sender<u64>,
    /// The Raft index the tree reflects, stored while the tree's write lock is held, so
    /// that a reader holding the read lock sees an index and a tree that belong together.
    pub tree_index: std::sync::atomic::AtomicU64,
    /// Proposals, ReadIndex requests and peer messages handed to the loop and not yet
    /// taken by it (at most about [`INPUT_QUEUE`]).
    pub queued: std::sync::atomic::AtomicUsize,
}

/// Most proposals, ReadIndex requests and peer messages waiting for the Raft loop. Beyond
/// it a proposal or read fails with [`ProposeError::Busy`] and a peer message is dropped
/// (Raft sends it again); reports and stop requests are always taken.
pub const INPUT_QUEUE: usize = 100_000;

impl Shared {
    /// Takes a place in the loop's queue for one heavy input; false when it is full.
    fn admit(&self) -> bool {
        use std::sync::atomic::Ordering;
        self.queued.fetch_add(1, Ordering::AcqRel) < INPUT_QUEUE || {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            false
        }
    }

    /// Gives back the place of a heavy input the loop took (or that was never sent).
    pub(crate) fn taken(&self) {
        self.queued
            .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

impl Input {
    /// Whether this input counts against [`INPUT_QUEUE`].
    pub(crate) fn is_heavy(&self) -> bool {
        matches!(
            self,
            Input::Propose(..) | Input::ReadIndex(_) | Input::Peer(_)
        )
    }
}

/// A cheap, cloneable handle on the Raft loop.
#[derive(Clone)]
pub struct RaftHandle {
    pub(crate) inputs: Sender<Input>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) request_timeout: Duration,
}

impl RaftHandle {
    /// Replicates `txn` and waits until it has applied on this member.
    pub async fn propose(&self, txn: rpb::Txn) -> Result<Committed, ProposeError> {
        self.submit(txn).await
    }

    /// Hands `txn` to the Raft loop now (so proposals of one caller keep their order)
    /// and returns a future that resolves when it has applied on this member.
    pub fn submit(
        &self,
        txn: rpb::Txn,
    ) -> impl std::future::Future<Output = Result<Committed, ProposeError>> + Send + 'static {
        let (tx, rx) = oneshot::channel();
        let sent = if self.shared.admit() {
            let sent = self.inputs.send(Input::Propose(txn, tx)).is_ok();
            if !sent {
                self.shared.taken();
            }
            Ok(sent)
        } else {
            Err(ProposeError::Busy)
        };
        let timeout = self.request_timeout;
        async move {
            if !sent? {
                return Err(ProposeError::Stopped);
            }
            match tokio::time::timeout(timeout, rx).await {
                Ok(Ok(r)) => r,
                Ok(Err(_)) => Err(ProposeError::Stopped),
                Err(_) => Err(ProposeError::Timeout),
            }
        }
    }

    /// Waits until this member has applied everything the leader had committed when
    /// the call was made (Raft ReadIndex). Returns the applied index reached.
    pub async fn read_barrier(&self) -> Result<u64, ProposeError> {
        let (tx, rx) = oneshot::channel();
        if !self.shared.admit() {
            return Err(ProposeError::Busy);
        }
        if self.inputs.send(Input::ReadIndex(tx)).is_err() {
            self.shared.taken();
            return Err(ProposeError::Stopped);
        }
        let index = match tokio::time::timeout(self.request_timeout, rx).await {
            Ok(Ok(r)) => r?,
            Ok(Err(_)) => return Err(ProposeError::Stopped),
            Err(_) => return Err(ProposeError::Timeout),
        };
        if self.wait_applied(index, self.request_timeout).await {
            Ok(index)
        } else {
            Err(ProposeError::Timeout)
        }
    }

    /// Waits until the applied index reaches `index`; false on timeout or stop.
    pub async fn wait_applied(&self, index: u64, timeout: Duration) -> bool {
        let mut rx = self.shared.applied.subscribe();
        let ok = matches!(
            tokio::time::timeout(timeout, rx.wait_for(|&a| a >= index)).await,
            Ok(Ok(_))
        );
        ok
    }

    /// Read access to the tree. Do not hold the guard across an await.
    pub fn tree(&self) -> RwLockReadGuard<'_, DataTree> {
        self.shared.tree.read()
    }

    /// The tree with the Raft index it reflects (everything up to it applied, nothing
    /// after), read under one lock.
    pub fn tree_at(&self) -> (RwLockReadGuard<'_, DataTree>, u64) {
        let tree = self.shared.tree.read();
        let index = self
            .shared
            .tree_index
            .load(std::sync::atomic::Ordering::Acquire);
        (tree, index)
    }

    /// The latest Raft status.
    pub fn status(&self) -> RaftStatus {
        *self.shared.status.lock()
    }

    /// Highest applied index.
    pub fn applied(&self) -> u64 {
        *self.shared.applied.borrow()
    }

    /// Hands a peer's message to the loop; false when the loop's queue is full and the
    /// message was dropped (Raft sends it again).
    pub fn step(&self, m: raft::eraftpb::Message) -> bool {
        if !self.shared.admit() {
            return false;
        }
        if self.inputs.send(Input::Peer(m)).is_err() {
            self.shared.taken();
        }
        true
    }

    /// Tells the loop that a peer link failed.
    pub fn report(&self, input: Input) {
        let _ = self.inputs.send(input);
    }

    /// Asks for leadership to move to voter `to` and waits, up to `wait`, until this
    /// member sees `to` lead. `Timeout` if it did not (the leader may have refused: `to`
    /// unreachable or too far behind). The request is repeated every `retry`: a
    /// transfer the leader dropped (another was under way, the target was catching up)
    /// gets another chance.
    pub async fn transfer_leader(
        &self,
        to: u64,
        wait: Duration,
        retry: Duration,
    ) -> Result<(), ProposeError> {
        if self.inputs.send(Input::TransferLeader(to)).is_err() {
            return Err(ProposeError::Stopped);
        }
        let deadline = tokio::time::Instant::now() + wait;
        let mut again = tokio::time::Instant::now() + retry;
        loop {
            if self.status().leader_id == to {
                return Ok(());
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Err(ProposeError::Timeout);
            }
            if now >= again {
                let _ = self.inputs.send(Input::TransferLeader(to));
                again = now + retry;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Has the loop check and propose membership change `req` (this member must lead)
    /// and waits until it applied here, for at most the request timeout. Returns the
    /// index of the change's entry.
    pub async fn change_members(
        &self,
        req: paddock::proto::paddock::MemberChangeRequest,
    ) -> Result<u64, crate::membership::Refusal> {
        let (tx, rx) = oneshot::channel();
        if self.inputs.send(Input::ChangeMembers(req, tx)).is_err() {
            return Err((paddock::Code::NotReady, "member is stopping".into()));
        }
        match tokio::time::timeout(self.request_timeout, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err((paddock::Code::NotReady, "member is stopping".into())),
            Err(_) => Err(crate::membership::timed_out()),
        }
    }

    /// Asks the loop to stop.
    pub fn stop(&self) {
        let _ = self.inputs.send(Input::Stop);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A handle on a loop that never runs (the test reads what it was handed), as leader.
    pub(crate) fn handle() -> (RaftHandle, std::sync::mpsc::Receiver<Input>) {
        let (tx, rx) = std::sync::mpsc::channel();
        let shared = Arc::new(Shared {
            tree: RwLock::new(DataTree::new()),
            status: Mutex::new(RaftStatus {
                id: 1,
                role: Role::Leader,
                leader_id: 1,
                term: 1,
                commit_index: 0,
                applied_index: 0,
                snapshot_index: 0,
                log_position: (0, 0),
                stopped: false,
                quorum_contact: None,
            }),
            applied: watch::channel(0).0,
            tree_index: std::sync::atomic::AtomicU64::new(0),
            queued: Default::default(),
        });
        let h = RaftHandle {
            inputs: tx,
            shared,
            request_timeout: Duration::from_secs(1),
        };
        (h, rx)
    }

    #[tokio::test]
    async fn a_full_loop_queue_refuses_proposals_and_drops_peer_messages_but_takes_reports() {
        let (h, rx) = handle();
        // The loop is stuck: nothing is taken.
        let waiting: Vec<_> = (0..INPUT_QUEUE)
            .map(|_| h.submit(rpb::Txn::new()))
            .collect();
        assert_eq!(
            h.submit(rpb::Txn::new()).await.err(),
            Some(ProposeError::Busy)
        );
        assert_eq!(h.read_barrier().await.err(), Some(ProposeError::Busy));
        assert!(!h.step(raft::eraftpb::Message::default()));
        h.report(Input::Unreachable(2));
        let queued: Vec<Input> = rx.try_iter().collect();
        assert_eq!(queued.len(), INPUT_QUEUE + 1);
        assert!(matches!(queued.last(), Some(Input::Unreachable(2))));
        // The loop takes one: there is room for one more.
        h.shared.taken();
        assert!(h.step(raft::eraftpb::Message::default()));
        assert!(!h.step(raft::eraftpb::Message::default()));
        drop(waiting);
    }
}
