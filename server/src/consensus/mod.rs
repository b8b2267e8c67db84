//! Raft: consensus on the order of transactions (being written).
pub mod driver;
pub mod handle;
pub mod snapshots;
pub mod storage;
