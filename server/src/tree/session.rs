//! The replicated part of a session: what every replica must agree on.
//!
//! Liveness (heartbeats, expiry deadlines) is not here: the leader decides expiry and
//! replicates a `CloseSession`. The tree keeps only what changes results:
//! - the password and timeout, so any member can reattach the client;
//! - the session's ephemeral paths (exactly the nodes whose `ephemeral_owner` is the id);
//! - the last write's xid and result, so a retried write is answered, not applied twice.
use std::collections::BTreeSet;

use super::txn::TxnResult;

/// The last write a session applied, remembered for at-most-once retries.
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
    /// The last write applied for this session, if any.
    pub last_write: Option<LastWrite>,
    /// This session's share of the tree digest; kept current by the tree.
    pub(crate) hash: u64,
}
