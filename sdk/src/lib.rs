//! Paddock SDK: the wire protocol and the async client of a Paddock ensemble.
//!
//! Modules, bottom-up:
//! - `proto` and `codec` (not part of the public API): the message types generated from
//!   `proto/*.proto` and the length-delimited framing. Only `paddock-server` sees them,
//!   through the `internal` cargo feature; they may change in any release.
//! - [`path`]: ZooKeeper's path rules.
//! - [`acl`]: ACLs with ZooKeeper's schemes and permissions.
//! - [`types`]: plain Rust types for stats, create modes and multi operations.
//! - [`error`]: the error codes (ZooKeeper's) and the SDK's error type.
//! - [`client`]: the session: connect, pipelined requests, reconnect, watches and
//!   connection states.
//! - [`tls`]: TLS to the members (a CA, optionally a client certificate).
//! - [`recipes`]: locks with fencing tokens and the other coordination recipes, on the
//!   client's public API.
pub mod acl;
pub mod client;
#[cfg(feature = "internal")]
#[doc(hidden)]
pub mod codec;
#[cfg(not(feature = "internal"))]
mod codec;
pub mod error;
pub mod path;
#[cfg(feature = "internal")]
#[doc(hidden)]
pub mod proto;
#[cfg(not(feature = "internal"))]
mod proto;
pub mod recipes;
#[cfg(test)]
mod test_seed;
pub mod tls;
pub mod types;

pub use client::{
    Client, ClientConfig, EventKind, Member, NewMember, RetryPolicy, SnapshotInfo, State,
    StateStream, WatchFuture, WatchStream, WatchedEvent, WatcherKind,
};
pub use error::{Code, Error, Result};
pub use types::{CreateMode, Op, OpResult, SessionId, Stat, Zxid};
