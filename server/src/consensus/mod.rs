//! Raft: the loop that owns the RawNode (`driver`), its async handle (`handle`), the
//! durable log (`storage`) and the snapshot files (`snapshots`).
#[cfg(feature = "failpoints")]
pub mod deferred;
pub mod driver;
pub mod handle;
pub mod snapshots;
pub mod storage;
