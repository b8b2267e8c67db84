//! Transactions the tree applies, their results and the change events they produce.
//!
//! A [`Txn`] is what a committed Raft entry carries: who sent it (session, xid), when the
//! proposer stamped it (`time_ms`) and the operation. Applying it yields an [`Applied`]:
//! the result for the client and the list of [`Change`]s for the watch layer.
//!
//! Invariants:
//! - Everything here is plain data: two replicas that apply equal `Txn`s in the same order
//!   produce equal `Applied` values.
//! - A successful result never carries node data, so results stay small enough to be
//!   remembered per session for at-most-once retries.
use paddock::acl::{Acl, Id};
use paddock::{Code, CreateMode, OpResult, Stat};

/// One replicated write, as stamped by the member that proposed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Txn {
    /// The session that sent the write; 0 is the ensemble itself (internal txns such as
    /// container and TTL deletion), which is always allowed and never deduplicated.
    pub session_id: u64,
    /// The client's request id within its session; used for at-most-once retries.
    pub xid: i64,
    /// For a session's write: the xid of the write the client sent just before it. The
    /// write applies only right after that one (session FIFO); 0 names none and is not
    /// checked (a session's first write, or a client that does not order its writes).
    pub prev_xid: i64,
    /// For a session's write: the client's oldest write still waiting for its result;
    /// results of older ones may be forgotten (0: no hint).
    pub oldest_pending_xid: i64,
    /// Proposer's wall clock (ms since epoch), used for ctime/mtime.
    pub time_ms: i64,
    /// Who sent it: the identities of the sending connection, checked against the
    /// nodes' ACLs as they are when the write applies.
    pub who: Who,
    /// What to do.
    pub op: TxnOp,
}

/// The identities a session's write carries for the ACL checks at apply time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Who {
    /// The connection's identities (`ip:ADDR`, `digest:user:hash`, `x509:subject`).
    pub identities: Vec<Id>,
    /// The connection authenticated as its member's superuser: no ACL applies.
    pub superuser: bool,
}

/// The operation of a [`Txn`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnOp {
    /// Create a node (for sequential modes `path` is the prefix the counter is appended to).
    Create {
        /// Path, or prefix for sequential modes.
        path: String,
        /// Initial data.
        data: Vec<u8>,
        /// Node kind.
        mode: CreateMode,
        /// TTL in ms: > 0 for TTL modes, 0 for all others.
        ttl_ms: i64,
        /// The node's ACL, final (the proposer expanded `auth` entries); empty means
        /// the default open ACL.
        acl: Vec<Acl>,
    },
    /// Delete a childless node.
    Delete {
        /// Path.
        path: String,
        /// Expected version, -1 for any.
        version: i32,
    },
    /// Replace a node's data.
    SetData {
        /// Path.
        path: String,
        /// New data.
        data: Vec<u8>,
        /// Expected version, -1 for any.
        version: i32,
    },
    /// Replace a node's ACL (not inside a multi).
    SetAcl {
        /// Path.
        path: String,
        /// The new ACL, final (the proposer expanded `auth` entries).
        acl: Vec<Acl>,
        /// Expected ACL version (aversion), -1 for any.
        version: i32,
    },
    /// Fail unless the node exists with this version (-1: any); meant for use in a multi.
    Check {
        /// Path.
        path: String,
        /// Expected version, -1 for any.
        version: i32,
    },
    /// All-or-nothing group; only Create, Delete, SetData and Check may appear inside.
    Multi(Vec<TxnOp>),
    /// Register a new session.
    CreateSession {
        /// The new session's id (never 0).
        session_id: u64,
        /// Password the client must present to reattach.
        password: Vec<u8>,
        /// Negotiated session timeout.
        timeout_ms: u32,
    },
    /// End a session and delete its ephemeral nodes; unknown sessions are a no-op.
    CloseSession {
        /// The session to close.
        session_id: u64,
    },
    /// A session's write the proposing member refused (bad path, value too large, ...):
    /// it fails with this error, and takes its place in the session's order like any
    /// write, so the session's next write may follow it.
    Refused {
        /// Why.
        code: Code,
        /// Detail for people.
        message: String,
    },
    /// The ensemble's deletion of an empty container or an expired TTL node (session 0
    /// only, never inside a multi): deletes it only if it is still the node the reaper
    /// looked at (see [`crate::tree::DataTree::reap_candidates`]).
    Reap {
        /// Path.
        path: String,
        /// The node's czxid when the reaper looked: a node re-created since differs.
        czxid: u64,
        /// The node's mzxid when the reaper looked: a node changed since differs.
        mzxid: u64,
    },
    /// A member announces its own addresses for the replicated member list (session 0
    /// only). The apply path passes it to the tree only while `id` is in the Raft
    /// configuration at that entry, so a removed member's late announcement is ignored.
    RecordMember {
        /// The member.
        id: u64,
        /// Its addresses.
        addrs: super::MemberAddrs,
    },
}

/// The successful result of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// The node was created at `path` (with the counter for sequential modes).
    Created {
        /// Created path.
        path: String,
        /// The new node's stat.
        stat: Stat,
    },
    /// The node was deleted.
    Deleted,
    /// The data was replaced; the node's new stat.
    DataSet {
        /// Stat after the change.
        stat: Stat,
    },
    /// The check passed.
    Checked,
    /// The ACL was replaced; the node's new stat.
    AclSet {
        /// Stat after the change.
        stat: Stat,
    },
    /// Every operation of the multi succeeded, one result per operation, in order.
    Multi(Vec<OpResult>),
    /// The session was registered.
    SessionCreated,
    /// The session is gone (or never existed).
    SessionClosed,
    /// A member's addresses were recorded (or ignored: not a member).
    MemberRecorded,
}

/// A deterministic failure of a transaction: an applied result, returned to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {}", .code.describe(), .message)]
pub struct TxnError {
    /// ZooKeeper-style code.
    pub code: Code,
    /// Detail for people, usually the path involved.
    pub message: String,
    /// For a failed multi, one entry per operation as ZooKeeper reports it: `None` (OK) for
    /// operations before the failing one, its code for the failing one,
    /// `RuntimeInconsistency` for those after it. `None` for anything but a multi.
    pub multi: Option<Vec<Option<Code>>>,
}

impl TxnError {
    /// An error that is not about a multi.
    pub fn new(code: Code, message: impl Into<String>) -> TxnError {
        TxnError {
            code,
            message: message.into(),
            multi: None,
        }
    }
}

/// What a transaction returns to the client.
pub type TxnResult = Result<Output, TxnError>;

/// The kind of a change, matching ZooKeeper's watch event types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeKind {
    /// A node was created at the path.
    NodeCreated,
    /// The node at the path was deleted.
    NodeDeleted,
    /// The node's data was replaced.
    NodeDataChanged,
    /// A child of the node was added or removed.
    NodeChildrenChanged,
}

/// One change to the tree, for the watch layer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Change {
    /// What happened.
    pub kind: ChangeKind,
    /// Where.
    pub path: String,
}

/// The outcome of applying one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The result for the client.
    pub result: TxnResult,
    /// The changes made, in the order they happened; empty when the txn failed.
    pub changes: Vec<Change>,
}
