//! paddockd, a member of a Paddock ensemble.
//!
//! Data flow (one module per stage):
//! - [`tree`]: the znode tree, pure: (transaction, zxid, time) -> (result, change events).
pub mod tree;
pub mod consensus;
pub mod txn_codec;
pub mod peer;
pub mod metrics;
pub mod client;
