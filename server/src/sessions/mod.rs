//! Session liveness and expiry, and the leader's other timers (container and TTL
//! node deletion).
//!
//! - Every member records which sessions it heard from (a request or ping on a
//!   connection; connections report at most once per [`TOUCH_EVERY`]).
//! - Every `forward_interval` the member hands what it heard to the leader: the
//!   leader's own touches go straight into its [`ExpiryQueue`], the others travel as
//!   `SessionTouch` frames on the peer link (never through the Raft log).
//! - The leader expires a session that no member has heard from within its timeout by
//!   proposing a `CloseSession` through Raft; the tree then deletes its ephemerals in
//!   the same transaction. A member that becomes leader first gives every session a
//!   full timeout (an election alone never expires anyone).
//! - The leader also deletes, through Raft, containers that had children and have
//!   none left, and TTL nodes unchanged and childless for their TTL.
//!
//! Everything that changes replicated state goes through Raft; this module only
//! decides when to propose.
//!
//! Lock order (to ensure there is no deadlock with the Raft loop, which calls
//! [`Sessions::opened`] and [`Sessions::closed`] while it holds the tree's write lock):
//! the tree's lock, when needed, is always taken before the `leader` mutex, and at most
//! once per call (a second read lock in the same thread would wait behind a queued writer).
pub mod expiry;
pub mod reaper;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::consensus::handle::{RaftHandle, Role};
use crate::peer::{PeerOutbox, TouchSink};
use expiry::ExpiryQueue;

/// A connection reports liveness of its session at most this often.
pub const TOUCH_EVERY: Duration = Duration::from_millis(100);

/// The leader's view of session deadlines.
struct LeaderState {
    /// Term in which this member seeded the queue as leader (0: not leading).
    term: u64,
    queue: ExpiryQueue,
    /// Sessions whose CloseSession is proposed and not yet applied.
    closing: HashSet<u64>,
}

/// Session liveness on one member (and expiry, when it leads).
pub struct Sessions {
    raft: RaftHandle,
    epoch: Instant,
    /// Sessions heard from since the last forward.
    heard: Mutex<HashSet<u64>>,
    leader: Mutex<LeaderState>,
    peers: Mutex<Option<PeerOutbox>>,
    /// The session tick: a quarter of it is the expiry bucket width, the period of the
    /// leader's checks and of liveness forwarding.
    pub(crate) interval: Duration,
}

impl Sessions {
    /// Liveness tracking for a member; `interval` is the session tick.
    pub fn new(raft: RaftHandle, interval: Duration) -> Sessions {
        // Buckets a quarter of a session tick wide: expiry lands within a tick of the deadline.
        let ms = (interval.as_millis() as u64 / 4).max(1);
        Sessions {
            raft,
            epoch: Instant::now(),
            heard: Mutex::new(HashSet::new()),
            leader: Mutex::new(LeaderState {
                term: 0,
                queue: ExpiryQueue::new(ms),
                closing: HashSet::new(),
            }),
            peers: Mutex::new(None),
            interval,
        }
    }

    /// Sets the peer link used to forward liveness to the leader.
    pub fn set_peers(&self, peers: PeerOutbox) {
        *self.peers.lock() = Some(peers);
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Records that this member heard from `session`'s client.
    pub fn touch(&self, session: u64) {
        self.heard.lock().insert(session);
    }

    /// Hands what this member heard to the leader (itself, or over the peer link).
    /// What cannot be handed on now (no leader known, link saturated) is kept for the
    /// next round, so a live client's session is never expired for a lost report.
    pub fn forward(&self) {
        let heard: Vec<u64> = std::mem::take(&mut *self.heard.lock())
            .into_iter()
            .collect();
        if heard.is_empty() {
            return;
        }
        let status = self.raft.status();
        let delivered = if status.role == Role::Leader {
            self.touched(&heard);
            true
        } else if status.leader_id != 0 {
            match self.peers.lock().as_ref() {
                Some(peers) => peers.send_touch(status.leader_id, heard.clone()),
                None => false,
            }
        } else {
            false
        };
        if !delivered {
            self.heard.lock().extend(heard);
        }
    }

    /// Called when a session was created through Raft (on every member).
    pub fn opened(&self, session: u64, timeout_ms: u32) {
        let now = self.now_ms();
        let mut l = self.leader.lock();
        if l.term != 0 {
            l.queue.touch(session, now, u64::from(timeout_ms));
        }
    }

    /// Called when a session was closed or expired through Raft (on every member).
    pub fn closed(&self, session: u64) {
        let mut l = self.leader.lock();
        l.queue.remove(session);
        l.closing.remove(&session);
    }

    /// Sessions the leader should expire now. Seeds the queue with a full timeout for
    /// every session when this member has just become leader; returns nothing when it
    /// does not lead.
    pub fn due(&self) -> Vec<u64> {
        let status = self.raft.status();
        if status.role != Role::Leader {
            let mut l = self.leader.lock();
            if l.term != 0 {
                l.term = 0;
                l.queue.clear();
                l.closing.clear();
            }
            return Vec::new();
        }
        // Tree first, then the leader state (see the lock order in the module doc).
        let tree = self.raft.tree();
        let now = self.now_ms();
        let mut l = self.leader.lock();
        if l.term != status.term {
            l.term = status.term;
            l.queue.clear();
            l.closing.clear();
            for (id, info) in tree.sessions() {
                l.queue.touch(id, now, u64::from(info.timeout_ms));
            }
        }
        let expired = l.queue.expired(now);
        let mut out = Vec::new();
        for id in expired {
            if tree.session(id).is_some() && l.closing.insert(id) {
                out.push(id);
            }
        }
        out
    }

    /// A proposed close did not go through: give the session another interval.
    pub fn close_failed(&self, session: u64) {
        let now = self.now_ms();
        let mut l = self.leader.lock();
        l.closing.remove(&session);
        if l.term != 0 {
            l.queue.touch(session, now, 0);
        }
    }

    /// Sessions queued by the leader, with their remaining time (for tests and /status).
    pub fn leader_deadlines(&self) -> HashMap<u64, u64> {
        let tree = self.raft.tree();
        let now = self.now_ms();
        let l = self.leader.lock();
        tree.sessions()
            .filter_map(|(id, _)| l.queue.deadline_of(id).map(|d| (id, d.saturating_sub(now))))
            .collect()
    }
}

impl TouchSink for Sessions {
    fn touched(&self, sessions: &[u64]) {
        let now = self.now_ms();
        let tree = self.raft.tree();
        let mut l = self.leader.lock();
        if l.term == 0 {
            return;
        }
        for id in sessions {
            if let Some(info) = tree.session(*id) {
                l.queue.touch(*id, now, u64::from(info.timeout_ms));
            }
        }
    }
}

/// Shared handle.
pub type SharedSessions = Arc<Sessions>;
