//! paddockd, a member of a Paddock ensemble.
//!
//! Data flow (one module per stage):
//! - [`tree`]: the znode tree, pure: (transaction, zxid, time) -> (result, change events).
pub mod tree;
