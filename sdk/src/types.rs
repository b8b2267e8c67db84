//! Plain Rust types for znodes, shared by the SDK's API and the server's tree.
//!
//! They mirror the wire messages in [`crate::proto::paddock`] but are ordinary
//! structs and enums, so that code outside the codec never touches generated types.
use crate::proto::paddock as pb;

/// The metadata of a znode, with ZooKeeper's meaning for every field.
///
/// Zxids are Raft log indexes of the entries that made the change; times are
/// milliseconds since the Unix epoch, stamped by the member that proposed the change,
/// so every replica holds the same values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Stat {
    /// Zxid of the change that created the node.
    pub czxid: i64,
    /// Zxid of the change that last modified the node's data.
    pub mzxid: i64,
    /// Zxid of the change that last added or removed a child.
    pub pzxid: i64,
    /// Creation time (ms since epoch).
    pub ctime: i64,
    /// Last data modification time (ms since epoch).
    pub mtime: i64,
    /// Number of changes to the data.
    pub version: i32,
    /// Number of changes to the children.
    pub cversion: i32,
    /// Number of changes to the ACL (always 0: Paddock has no ACLs yet).
    pub aversion: i32,
    /// Session id of the owner for an ephemeral node, else 0.
    pub ephemeral_owner: i64,
    /// Length of the data in bytes.
    pub data_length: i32,
    /// Number of children.
    pub num_children: i32,
}

impl From<&pb::Stat> for Stat {
    fn from(s: &pb::Stat) -> Self {
        Stat {
            czxid: s.czxid,
            mzxid: s.mzxid,
            pzxid: s.pzxid,
            ctime: s.ctime,
            mtime: s.mtime,
            version: s.version,
            cversion: s.cversion,
            aversion: s.aversion,
            ephemeral_owner: s.ephemeral_owner,
            data_length: s.data_length,
            num_children: s.num_children,
        }
    }
}

impl From<&Stat> for pb::Stat {
    fn from(s: &Stat) -> Self {
        let mut p = pb::Stat::new();
        p.czxid = s.czxid;
        p.mzxid = s.mzxid;
        p.pzxid = s.pzxid;
        p.ctime = s.ctime;
        p.mtime = s.mtime;
        p.version = s.version;
        p.cversion = s.cversion;
        p.aversion = s.aversion;
        p.ephemeral_owner = s.ephemeral_owner;
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
        /// TTL in ms for the TTL modes, else 0.
        ttl_ms: i64,
    },
    /// Delete a node; `version` -1 matches any version.
    Delete {
        /// Path.
        path: String,
        /// Expected version or -1.
        version: i32,
    },
    /// Replace a node's data; `version` -1 matches any version.
    SetData {
        /// Path.
        path: String,
        /// New data.
        data: Vec<u8>,
        /// Expected version or -1.
        version: i32,
    },
    /// Fail the multi unless the node exists with this version (-1: any version).
    Check {
        /// Path.
        path: String,
        /// Expected version or -1.
        version: i32,
    },
}

impl Op {
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
pub fn is_ordered_write(op: &pb::Request_oneof_op) -> bool {
    use pb::Request_oneof_op as O;
    matches!(
        op,
        O::create(_) | O::delete(_) | O::set_data(_) | O::multi(_) | O::check(_)
    )
}

/// Converts a multi operation to its wire form.
pub fn op_to_proto(op: &Op) -> pb::MultiOp {
    let mut m = pb::MultiOp::new();
    match op {
        Op::Create {
            path,
            data,
            mode,
            ttl_ms,
        } => {
            let mut c = pb::CreateRequest::new();
            c.path = path.clone();
            c.data = data.clone();
            c.mode = (*mode).into();
            c.ttl_ms = *ttl_ms;
            m.set_create(c);
        }
        Op::Delete { path, version } => {
            let mut d = pb::DeleteRequest::new();
            d.path = path.clone();
            d.version = *version;
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
            s.version = *version;
            m.set_set_data(s);
        }
        Op::Check { path, version } => {
            let mut c = pb::CheckVersionRequest::new();
            c.path = path.clone();
            c.version = *version;
            m.set_check(c);
        }
    }
    m
}

/// Converts a multi operation from its wire form; `None` if no operation is set.
pub fn op_from_proto(m: &pb::MultiOp) -> Option<Op> {
    use pb::MultiOp_oneof_op as O;
    Some(match m.op.as_ref()? {
        O::create(c) => Op::Create {
            path: c.path.clone(),
            data: c.data.clone(),
            mode: c.mode.into(),
            ttl_ms: c.ttl_ms,
        },
        O::delete(d) => Op::Delete {
            path: d.path.clone(),
            version: d.version,
        },
        O::set_data(s) => Op::SetData {
            path: s.path.clone(),
            data: s.data.clone(),
            version: s.version,
        },
        O::check(c) => Op::Check {
            path: c.path.clone(),
            version: c.version,
        },
    })
}
