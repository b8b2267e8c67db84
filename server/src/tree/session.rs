//! The replicated part of a session: what every replica must agree on.
//!
//! Liveness (heartbeats, expiry deadlines) is not here: the leader decides expiry and
//! replicates a `CloseSession`. The tree keeps only what changes results:
//! - the password and timeout, so any member can reattach the client;
//! - the session's ephemeral paths (exactly the nodes whose `ephemeral_owner` is the id);
//! - the results of its recent writes, newest last: the newest is the write the session's
//!   next write must name as its predecessor (session FIFO), and every one kept is
//!   answered again, not applied again, when the client resends it after a reconnect.
use std::collections::{BTreeSet, VecDeque};

use super::txn::TxnResult;

/// Most write results the tree keeps per session. The SDK never has more writes in
/// flight than this ([`paddock::client::MAX_PENDING_WRITES`]), so each one it may
/// resend is still here.
pub const RESULT_WINDOW: usize = paddock::client::MAX_PENDING_WRITES;

/// One applied write of a session, remembered so that a resend gets the same answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastWrite {
    /// The write's xid.
    pub xid: i64,
    /// Its result, returned again if the same xid arrives again.
    pub result: TxnResult,
}

/// A live session as the tree knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// Password the client must present to reattach.
    pub password: Vec<u8>,
    /// Negotiated timeout.
    pub timeout_ms: u32,
    /// Paths of the ephemeral nodes this session owns, sorted.
    pub ephemerals: BTreeSet<String>,
    /// Results of the session's recent writes in xid order, at most [`RESULT_WINDOW`];
    /// never empty once the session has written (the newest is always kept).
    pub writes: VecDeque<LastWrite>,
    /// This session's share of the tree digest; kept current by the tree.
    pub(crate) hash: u64,
}

impl SessionInfo {
    /// The newest write applied for this session, if any.
    pub fn last_write(&self) -> Option<&LastWrite> {
        self.writes.back()
    }

    /// The remembered result of the write with this xid, if it is still kept.
    pub fn result_of(&self, xid: i64) -> Option<&TxnResult> {
        // Ascending xids: a binary search finds it.
        let i = self.writes.binary_search_by_key(&xid, |w| w.xid).ok()?;
        self.writes.get(i).map(|w| &w.result)
    }

    /// Remembers a newly applied write (its xid above every kept one) and forgets what
    /// the client no longer waits for: results below `oldest_pending` (0: no hint), and
    /// the oldest beyond [`RESULT_WINDOW`]. The newest is always kept.
    pub(crate) fn remember(&mut self, write: LastWrite, oldest_pending: i64) {
        self.writes.push_back(write);
        while self.writes.len() > 1
            && (self.writes.len() > RESULT_WINDOW
                || self.writes.front().is_some_and(|w| w.xid < oldest_pending))
        {
            self.writes.pop_front();
        }
    }
}
