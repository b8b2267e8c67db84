//! Raft: the loop that owns the RawNode (`driver`), its async handle (`handle`), the
//! durable log (`storage`), the snapshot files (`snapshots`), and which data directory
//! each member runs on (`incarnation`).
pub mod apply;
pub mod conf_change;
#[cfg(feature = "failpoints")]
pub mod deferred;
pub mod driver;
pub mod handle;
pub mod incarnation;
pub mod snapshots;
pub mod storage;
