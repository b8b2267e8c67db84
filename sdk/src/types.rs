//! Plain Rust types for znodes, shared by the SDK's API and the server's tree.
//!
//! They mirror the wire messages but are ordinary structs and enums, so that code
//! outside the codec never touches generated types.
use std::time::Duration;

use crate::acl::Acl;
use crate::proto::paddock as pb;

/// A zxid: the Raft log index of the entry that made a change. Every zxid in the SDK
/// (stats, watch events, [`Client::last_zxid`](crate::Client::last_zxid)) has this type.
pub type Zxid = u64;

/// A session id, as [`Client::session_id`](crate::Client::session_id) and
/// [`Stat::ephemeral_owner`] give it.
pub type SessionId = u64;

/// The metadata of a znode, with ZooKeeper's meaning for every field.
///
/// Zxids are Raft log indexes of the entries that made the change; times are
/// milliseconds since the Unix epoch, stamped by the member that proposed the change,
/// so every replica holds the same values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Stat {
    /// Zxid of the change that created the node.
    pub czxid: Zxid,
    /// Zxid of the change that last modified the node's data.
    pub mzxid: Zxid,
    /// Zxid of the change that last added or removed a child.
    pub pzxid: Zxid,
    /// Creation time (ms since epoch).
    pub ctime: i64,
    /// Last data modification time (ms since epoch).
    pub mtime: i64,
    /// Number of changes to the data.
    pub version: i32,
    /// Number of changes to the children.
    pub cversion: i32,
    /// Number of changes to the ACL (`set_acl` calls).
    pub aversion: i32,
    /// Session id of the owner for an ephemeral node, else 0.
    pub ephemeral_owner: SessionId,
    /// Length of the data in bytes.
    pub data_length: i32,
    /// Number of children.
    pub num_children: i32,
}

#[doc(hidden)]
impl From<&pb::Stat> for Stat {
    fn from(s: &pb::Stat) -> Self {
        Stat {
            czxid: s.czxid as Zxid,
            mzxid: s.mzxid as Zxid,
            pzxid: s.pzxid as Zxid,
            ctime: s.ctime,
            mtime: s.mtime,
            version: s.version,
            cversion: s.cversion,
            aversion: s.aversion,
            ephemeral_owner: s.ephemeral_owner as SessionId,
            data_length: s.data_length,
            num_children: s.num_children,
        }
    }
}

#[doc(hidden)]
impl From<&Stat> for pb::Stat {
    fn from(s: &Stat) -> Self {
        let mut p = pb::Stat::new();
        p.czxid = s.czxid as i64;
        p.mzxid = s.mzxid as i64;
        p.pzxid = s.pzxid as i64;
        p.ctime = s.ctime;
        p.mtime = s.mtime;
        p.version = s.version;
        p.cversion = s.cversion;
        p.aversion = s.aversion;
        p.ephemeral_owner = s.ephemeral_owner as i64;
        p.data_length = s.data_length;
        p.num_children = s.num_children;
        p
    }
}

/// How a znode is created (ZooKeeper's `CreateMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CreateMode {
    /// Lives until deleted.
    #[default]
    Persistent,
    /// Deleted when the creating session ends; cannot have children.
    Ephemeral,
    /// Persistent, with a 10-digit counter from the parent appended to the name.
    PersistentSequential,
    /// Ephemeral, with a 10-digit counter from the parent appended to the name.
    EphemeralSequential,
    /// Deleted by the ensemble once it has had children and has none left.
    Container,
    /// Persistent, deleted after its TTL passes with no change and no children.
    PersistentWithTtl,
    /// Persistent-sequential, deleted after its TTL passes with no change and no children.
    PersistentSequentialWithTtl,
}

impl CreateMode {
    /// Whether a sequence counter is appended to the name.
    pub fn is_sequential(self) -> bool {
        matches!(
            self,
            CreateMode::PersistentSequential
                | CreateMode::EphemeralSequential
                | CreateMode::PersistentSequentialWithTtl
        )
    }

    /// Whether the node is owned by the creating session.
    pub fn is_ephemeral(self) -> bool {
        matches!(
            self,
            CreateMode::Ephemeral | CreateMode::EphemeralSequential
        )
    }

    /// Whether the node carries a TTL.
    pub fn is_ttl(self) -> bool {
        matches!(
            self,
            CreateMode::PersistentWithTtl | CreateMode::PersistentSequentialWithTtl
        )
    }
}

#[doc(hidden)]
impl From<pb::CreateMode> for CreateMode {
    fn from(m: pb::CreateMode) -> Self {
        match m {
            pb::CreateMode::PERSISTENT => CreateMode::Persistent,
            pb::CreateMode::EPHEMERAL => CreateMode::Ephemeral,
            pb::CreateMode::PERSISTENT_SEQUENTIAL => CreateMode::PersistentSequential,
            pb::CreateMode::EPHEMERAL_SEQUENTIAL => CreateMode::EphemeralSequential,
            pb::CreateMode::CONTAINER => CreateMode::Container,
            pb::CreateMode::PERSISTENT_WITH_TTL => CreateMode::PersistentWithTtl,
            pb::CreateMode::PERSISTENT_SEQUENTIAL_WITH_TTL => {
                CreateMode::PersistentSequentialWithTtl
            }
        }
    }
}

#[doc(hidden)]
impl From<CreateMode> for pb::CreateMode {
    fn from(m: CreateMode) -> Self {
        match m {
            CreateMode::Persistent => pb::CreateMode::PERSISTENT,
            CreateMode::Ephemeral => pb::CreateMode::EPHEMERAL,
            CreateMode::PersistentSequential => pb::CreateMode::PERSISTENT_SEQUENTIAL,
            CreateMode::EphemeralSequential => pb::CreateMode::EPHEMERAL_SEQUENTIAL,
            CreateMode::Container => pb::CreateMode::CONTAINER,
            CreateMode::PersistentWithTtl => pb::CreateMode::PERSISTENT_WITH_TTL,
            CreateMode::PersistentSequentialWithTtl => {
                pb::CreateMode::PERSISTENT_SEQUENTIAL_WITH_TTL
            }
        }
    }
}

/// One operation of a [`multi`](crate::Client::multi): all of them apply, or none.
/// Build them with the constructors:
///
/// ```
/// use std::time::Duration;
/// use paddock::{CreateMode, Op};
/// let ops = [
///     Op::check("/config").version(3),                  // fails the multi unless at version 3
///     Op::set_data("/config", b"v4"),                   // any version
///     Op::create("/config/history-", b"v4").mode(CreateMode::PersistentSequential),
///     Op::create("/tmp/lease", b"").mode(CreateMode::PersistentWithTtl).ttl(Duration::from_secs(60)),
///     Op::delete("/config/old").version(0),
/// ];
/// assert_eq!(ops[1].path(), "/config");
/// ```
///
/// `version: None` matches any version, everywhere in the SDK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Create a node.
    Create {
        /// Path (for sequential modes, the prefix).
        path: String,
        /// Initial data.
        data: Vec<u8>,
        /// Node kind.
        mode: CreateMode,
        /// Time to live, required for the TTL modes and refused otherwise.
        ttl: Option<Duration>,
        /// The node's ACL (see [`crate::acl`]); empty: everybody may do everything.
        acl: Vec<Acl>,
    },
    /// Delete a node.
    Delete {
        /// Path.
        path: String,
        /// Expected version (`None`: any).
        version: Option<i32>,
    },
    /// Replace a node's data.
    SetData {
        /// Path.
        path: String,
        /// New data.
        data: Vec<u8>,
        /// Expected version (`None`: any).
        version: Option<i32>,
    },
    /// Fail the multi unless the node exists (with this version, if one is given).
    Check {
        /// Path.
        path: String,
        /// Expected version (`None`: any).
        version: Option<i32>,
    },
}

impl Op {
    /// Creates a persistent node (change the kind with [`Op::mode`]).
    pub fn create(path: impl Into<String>, data: impl AsRef<[u8]>) -> Op {
        Op::Create {
            path: path.into(),
            data: data.as_ref().to_vec(),
            mode: CreateMode::Persistent,
            ttl: None,
            acl: Vec::new(),
        }
    }

    /// Deletes a node, whatever its version (restrict with [`Op::version`]).
    pub fn delete(path: impl Into<String>) -> Op {
        Op::Delete {
            path: path.into(),
            version: None,
        }
    }

    /// Replaces a node's data, whatever its version (restrict with [`Op::version`]).
    pub fn set_data(path: impl Into<String>, data: impl AsRef<[u8]>) -> Op {
        Op::SetData {
            path: path.into(),
            data: data.as_ref().to_vec(),
            version: None,
        }
    }

    /// Checks that a node exists (at a version, with [`Op::version`]).
    pub fn check(path: impl Into<String>) -> Op {
        Op::Check {
            path: path.into(),
            version: None,
        }
    }

    /// The kind of node a create makes; no effect on other operations.
    pub fn mode(mut self, kind: CreateMode) -> Op {
        if let Op::Create { mode, .. } = &mut self {
            *mode = kind;
        }
        self
    }

    /// The time to live of a create in a TTL mode; no effect on other operations.
    pub fn ttl(mut self, time_to_live: Duration) -> Op {
        if let Op::Create { ttl, .. } = &mut self {
            *ttl = Some(time_to_live);
        }
        self
    }

    /// The ACL of a create (see [`crate::acl`]); no effect on other operations.
    pub fn acl(mut self, entries: Vec<Acl>) -> Op {
        if let Op::Create { acl, .. } = &mut self {
            *acl = entries;
        }
        self
    }

    /// The version a delete, set or check expects; no effect on a create.
    pub fn version(mut self, expected: i32) -> Op {
        match &mut self {
            Op::Delete { version, .. }
            | Op::SetData { version, .. }
            | Op::Check { version, .. } => *version = Some(expected),
            Op::Create { .. } => {}
        }
        self
    }

    /// The path the operation works on.
    pub fn path(&self) -> &str {
        match self {
            Op::Create { path, .. }
            | Op::Delete { path, .. }
            | Op::SetData { path, .. }
            | Op::Check { path, .. } => path,
        }
    }
}

/// The wire form of an expected version (`-1`: any).
pub(crate) fn version_to_wire(version: Option<i32>) -> i32 {
    version.unwrap_or(-1)
}

/// An expected version from its wire form (any negative value: any version).
#[doc(hidden)]
pub fn version_from_wire(version: i32) -> Option<i32> {
    (version >= 0).then_some(version)
}

/// The wire form of a TTL, in milliseconds (0: none).
pub(crate) fn ttl_to_wire(ttl: Option<Duration>) -> i64 {
    ttl.map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A TTL from its wire form (milliseconds; 0 or less: none).
#[doc(hidden)]
pub fn ttl_from_wire(ms: i64) -> Option<Duration> {
    (ms > 0).then(|| Duration::from_millis(ms as u64))
}

/// The result of one successful operation of a multi.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpResult {
    /// The created path and the new node's stat.
    Create {
        /// Created path (with the sequence suffix for sequential modes).
        path: String,
        /// Stat of the new node.
        stat: Stat,
    },
    /// The node was deleted.
    Delete,
    /// The node's new stat.
    SetData {
        /// Stat after the change.
        stat: Stat,
    },
    /// The check passed.
    Check,
}

/// Whether a request is a write of its session's ordered stream: it names the previous
/// write (`prev_write_xid`), the ensemble applies it only right after that one, and the
/// SDK resends it after a reconnect. Client and server decide this with this one function.
#[doc(hidden)]
pub fn is_ordered_write(op: &pb::Request_oneof_op) -> bool {
    use pb::Request_oneof_op as O;
    matches!(
        op,
        O::create(_) | O::delete(_) | O::set_data(_) | O::multi(_) | O::check(_) | O::set_acl(_)
    )
}

/// Converts a multi operation to its wire form.
#[doc(hidden)]
pub fn op_to_proto(op: &Op) -> pb::MultiOp {
    let mut m = pb::MultiOp::new();
    match op {
        Op::Create {
            path,
            data,
            mode,
            ttl,
            acl,
        } => {
            let mut c = pb::CreateRequest::new();
            c.path = path.clone();
            c.data = data.clone();
            c.mode = (*mode).into();
            c.ttl_ms = ttl_to_wire(*ttl);
            c.acl = acl.iter().map(pb::Acl::from).collect();
            m.set_create(c);
        }
        Op::Delete { path, version } => {
            let mut d = pb::DeleteRequest::new();
            d.path = path.clone();
            d.version = version_to_wire(*version);
            m.set_delete(d);
        }
        Op::SetData {
            path,
            data,
            version,
        } => {
            let mut s = pb::SetDataRequest::new();
            s.path = path.clone();
            s.data = data.clone();
            s.version = version_to_wire(*version);
            m.set_set_data(s);
        }
        Op::Check { path, version } => {
            let mut c = pb::CheckVersionRequest::new();
            c.path = path.clone();
            c.version = version_to_wire(*version);
            m.set_check(c);
        }
    }
    m
}

/// Converts a multi operation from its wire form; `None` if no operation is set.
#[doc(hidden)]
pub fn op_from_proto(m: &pb::MultiOp) -> Option<Op> {
    use pb::MultiOp_oneof_op as O;
    Some(match m.op.as_ref()? {
        O::create(c) => Op::Create {
            path: c.path.clone(),
            data: c.data.clone(),
            mode: c.mode.into(),
            ttl: ttl_from_wire(c.ttl_ms),
            acl: c.acl.iter().map(Acl::from).collect(),
        },
        O::delete(d) => Op::Delete {
            path: d.path.clone(),
            version: version_from_wire(d.version),
        },
        O::set_data(s) => Op::SetData {
            path: s.path.clone(),
            data: s.data.clone(),
            version: version_from_wire(s.version),
        },
        O::check(c) => Op::Check {
            path: c.path.clone(),
            version: version_from_wire(c.version),
        },
    })
}
