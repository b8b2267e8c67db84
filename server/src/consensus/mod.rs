//! Raft: consensus on the order of transactions (being written).
pub mod storage;
pub mod snapshots;
pub mod handle;
pub mod driver;
