//! Session liveness and expiry, the leases a member vouches for, and the leader's
//! other timers (container and TTL node deletion).
//!
//! - Every member records which sessions it heard from (a request or ping on a
//!   connection; connections report at most once per [`TOUCH_EVERY`]).
//! - Every forward interval (a quarter session tick) the member hands what it heard to
//!   the leader in a numbered round, empty or not: the leader takes its own rounds at
//!   once, the others travel as `SessionTouch` frames on the peer link (never through
//!   the Raft log) and are answered with a `TouchAck`. A round is granted when the
//!   leader's lead was confirmed by a quorum within the grant window (an election
//!   timeout); see [`standing`] for what a granted round vouches for.
//! - A member answers for a session only while it has contact with such a leader:
//!   each response carries the session's lease (how long it is known to stay valid),
//!   and a member whose newest granted round is older than the contact window closes
//!   its client connections and refuses new ones (see [`Sessions::in_contact`]).
//! - The leader expires a session that no member has heard from within its timeout by
//!   proposing a `CloseSession` through Raft, stamped with its term so that it never
//!   commits once the lead is lost; the tree then deletes its ephemerals in the same
//!   transaction. A member that becomes leader first gives every session a full
//!   timeout plus the grant window (an election alone never expires anyone, and no
//!   lease a predecessor granted is cut short). A leader expires no one while its
//!   lead is unconfirmed (no quorum within the grant window: it was paused, or cut
//!   off, and no member could vouch for anyone), and once it is confirmed again it gives
//!   every session the same fresh start as a new leader (a pause alone expires no one,
//!   even when the others could not elect a successor meanwhile).
//! - The leader also deletes, through Raft, containers that had children and have
//!   none left, and TTL nodes unchanged and childless for their TTL.
//!
//! Everything that changes replicated state goes through Raft; this module only
//! decides when to propose.
//!
//! Lock order (to ensure there is no deadlock with the Raft loop, which calls
//! [`Sessions::opened`] and [`Sessions::closed`] while it holds the tree's write lock):
//! the tree's lock, when needed, is always taken before the `leader` and `standing`
//! mutexes (never both of those at once), and at most once per call (a second read lock
//! in the same thread would wait behind a queued writer).
pub mod expiry;
pub mod reaper;
pub mod standing;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use paddock::proto::replication as rpb;
use parking_lot::Mutex;

use crate::consensus::handle::{RaftHandle, RaftStatus, Role};
use crate::peer::{PeerOutbox, TouchSink};
use expiry::ExpiryQueue;
use standing::Standing;

/// A connection reports liveness of its session at most this often.
pub const TOUCH_EVERY: Duration = Duration::from_millis(100);

/// The leader's view of session deadlines.
struct LeaderState {
    /// Term in which this member seeded the queue as leader (0: not leading).
    term: u64,
    queue: ExpiryQueue,
    /// Sessions whose CloseSession is proposed and not yet applied.
    closing: HashSet<u64>,
    /// The lead went unconfirmed (no quorum within the grant window) since the queue
    /// was last seeded: no member could vouch for anyone meanwhile, so the deadlines
    /// are stale and are given a fresh start once the lead is confirmed again.
    unconfirmed: bool,
}

/// Session liveness on one member (and expiry, when it leads).
pub struct Sessions {
    raft: RaftHandle,
    epoch: Instant,
    /// Sessions heard from since the last forward.
    heard: Mutex<HashSet<u64>>,
    leader: Mutex<LeaderState>,
    standing: Mutex<Standing>,
    /// Granted rounds waiting for this member to apply the leader's commit index of
    /// the grant: (round, commit index).
    awaiting_apply: Mutex<Vec<(u64, u64)>>,
    peers: Mutex<Option<PeerOutbox>>,
    /// The session tick: a quarter of it is the expiry bucket width, the period of the
    /// leader's checks and of liveness forwarding.
    pub(crate) interval: Duration,
    /// How long after a quorum confirmed its lead a leader still grants rounds; also
    /// the extra time a new leader gives every session.
    grant_window: Duration,
}

impl Sessions {
    /// Liveness tracking for a member; `interval` is the session tick and
    /// `election_timeout` the Raft election timeout (the grant window).
    pub fn new(raft: RaftHandle, interval: Duration, election_timeout: Duration) -> Sessions {
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
                unconfirmed: false,
            }),
            standing: Mutex::new(Standing::new(election_timeout.max(interval))),
            awaiting_apply: Mutex::new(Vec::new()),
            peers: Mutex::new(None),
            interval,
            grant_window: election_timeout,
        }
    }

    /// Sets the peer link used to forward liveness to the leader.
    pub fn set_peers(&self, peers: PeerOutbox) {
        *self.peers.lock() = Some(peers);
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// The period of forwarding rounds.
    pub fn forward_interval(&self) -> Duration {
        (self.interval / 4).max(Duration::from_millis(10))
    }

    /// How long a member may go without a granted round before it stops serving
    /// clients: an election timeout plus one forward interval.
    pub fn contact_window(&self) -> Duration {
        self.grant_window + self.forward_interval()
    }

    /// Whether a leader with this status may grant a round now: it leads, and a quorum
    /// confirmed its lead within the grant window.
    fn may_grant(&self, status: &RaftStatus, now: Instant) -> bool {
        status.role == Role::Leader
            && status
                .quorum_contact
                .is_some_and(|q| now.saturating_duration_since(q) <= self.grant_window)
    }

    /// Records that this member heard from `session`'s client.
    pub fn touch(&self, session: u64) {
        self.heard.lock().insert(session);
    }

    /// Hands what this member heard to the leader as one round (itself, or over the
    /// peer link), empty or not, and gives up rounds left unanswered too long. What
    /// cannot be handed on now (no leader known, link saturated) is kept for the next
    /// round, so a live client's session is never expired for a lost report.
    pub fn forward(&self) {
        let heard: Vec<u64> = std::mem::take(&mut *self.heard.lock())
            .into_iter()
            .collect();
        let status = self.raft.status();
        let now = Instant::now();
        if status.role == Role::Leader {
            self.touched_here(&heard);
            let mut st = self.standing.lock();
            let round = st.start(now, heard);
            if self.may_grant(&status, now) {
                st.granted(round);
            } else {
                st.failed(round);
            }
            return;
        }
        let mut resend = self.grant_applied();
        resend.extend(self.standing.lock().give_up(now));
        if status.leader_id != 0 {
            let round = self.standing.lock().start(now, heard.clone());
            let sent = match self.peers.lock().as_ref() {
                Some(peers) => peers.send_touch(status.leader_id, round, heard),
                None => false,
            };
            if !sent {
                resend.extend(self.standing.lock().failed(round));
            }
        } else {
            resend.extend(heard);
        }
        if !resend.is_empty() {
            self.heard.lock().extend(resend);
        }
    }

    /// Whether this member may serve clients: it had a round granted within the
    /// contact window. A member that is cut off from the leader, or whose leader lost
    /// its quorum, stops being in contact within that window.
    pub fn in_contact(&self) -> bool {
        self.since_contact()
            .is_some_and(|d| d <= self.contact_window())
    }

    /// Time since this member's newest granted round was sent (`None`: never).
    pub fn since_contact(&self) -> Option<Duration> {
        let contact = self.standing.lock().contact()?;
        Some(Instant::now().saturating_duration_since(contact))
    }

    /// How long from now `session` is known to stay valid, whatever happens to this
    /// member or the leader (`None`: this member cannot vouch for it, or it is gone).
    pub fn lease(&self, session: u64) -> Option<Duration> {
        let timeout = {
            let tree = self.raft.tree();
            Duration::from_millis(u64::from(tree.session(session)?.timeout_ms))
        };
        let until = self.standing.lock().valid_until(session, timeout)?;
        until.checked_duration_since(Instant::now())
    }

    /// Records that this member created `session` from a connect request it received at
    /// `received`: it vouches for the session from then on (see [`Standing::vouch`]).
    pub fn created_here(&self, session: u64, received: Instant) {
        self.standing.lock().vouch(session, received);
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
        {
            let mut l = self.leader.lock();
            l.queue.remove(session);
            l.closing.remove(&session);
        }
        self.standing.lock().forget(session);
    }

    /// Sessions the leader should expire now, with the term this member leads in: the
    /// expiries must be proposed with that term (`leader_term`), so they never commit
    /// if this member's view was stale (it was paused or cut off and lost the lead).
    /// Seeds the queue with a full timeout plus the grant window for every session when
    /// this member has just become leader, and again when its lead is confirmed after a
    /// time it was not; returns nothing when it does not lead, or while its lead is
    /// unconfirmed.
    pub fn due(&self) -> (u64, Vec<u64>) {
        let status = self.raft.status();
        let confirmed = self.may_grant(&status, Instant::now());
        if status.role != Role::Leader {
            let mut l = self.leader.lock();
            if l.term != 0 {
                l.term = 0;
                l.queue.clear();
                l.closing.clear();
            }
            return (0, Vec::new());
        }
        // Tree first, then the leader state (see the lock order in the module doc).
        let tree = self.raft.tree();
        let now = self.now_ms();
        let grace = self.grant_window.as_millis() as u64;
        let mut l = self.leader.lock();
        if l.term != status.term {
            l.term = status.term;
            l.queue.clear();
            l.closing.clear();
            l.unconfirmed = false;
            for (id, info) in tree.sessions() {
                l.queue.touch(id, now, u64::from(info.timeout_ms) + grace);
            }
        }
        if !confirmed {
            l.unconfirmed = true;
            return (status.term, Vec::new());
        }
        if std::mem::take(&mut l.unconfirmed) {
            for (id, info) in tree.sessions() {
                l.queue.touch(id, now, u64::from(info.timeout_ms) + grace);
            }
        }
        let expired = l.queue.expired(now);
        let mut out = Vec::new();
        for id in expired {
            if tree.session(id).is_some() && l.closing.insert(id) {
                out.push(id);
            }
        }
        (status.term, out)
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

    /// Counts the granted rounds whose commit index this member has applied; returns
    /// the sessions of earlier rounds given up by it (to be sent again).
    fn grant_applied(&self) -> Vec<u64> {
        let applied = self.raft.applied();
        let ready: Vec<u64> = {
            let mut waiting = self.awaiting_apply.lock();
            let ready = waiting
                .iter()
                .filter(|(_, commit)| *commit <= applied)
                .map(|(round, _)| *round)
                .collect();
            waiting.retain(|(_, commit)| *commit > applied);
            // Rounds given up meanwhile are simply not found by `granted`.
            ready
        };
        let mut st = self.standing.lock();
        ready.into_iter().flat_map(|r| st.granted(r)).collect()
    }

    /// Refreshes the leader's deadlines of sessions heard from (no-op unless leading).
    fn touched_here(&self, sessions: &[u64]) {
        if sessions.is_empty() {
            return;
        }
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

impl TouchSink for Sessions {
    fn touched(&self, from: u64, touch: &rpb::SessionTouch) {
        // The refresh happens before the grant is decided: a granted round's sessions
        // were refreshed no later than the instant the grant was checked for.
        self.touched_here(&touch.session_ids);
        let status = self.raft.status();
        let granted =
            self.may_grant(&status, Instant::now()) && self.leader.lock().term == status.term;
        let mut ack = rpb::TouchAck::new();
        ack.round = touch.round;
        ack.granted = granted;
        ack.term = status.term;
        ack.commit = status.commit_index;
        if let Some(peers) = self.peers.lock().as_ref() {
            peers.send_touch_ack(from, ack);
        }
    }

    fn acked(&self, _from: u64, ack: &rpb::TouchAck) {
        if ack.granted {
            let mut waiting = self.awaiting_apply.lock();
            waiting.push((ack.round, ack.commit));
            // A member that never catches up keeps only the newest grants.
            let excess = waiting.len().saturating_sub(64);
            waiting.drain(..excess);
        } else {
            let resend = self.standing.lock().failed(ack.round);
            self.heard.lock().extend(resend);
        }
        let resend = self.grant_applied();
        if !resend.is_empty() {
            self.heard.lock().extend(resend);
        }
    }
}

/// Shared handle.
pub type SharedSessions = Arc<Sessions>;
