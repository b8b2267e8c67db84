//! Paddock SDK: the wire protocol and the async client of a Paddock ensemble.
//!
//! Modules, bottom-up:
//! - [`proto`]: message types generated from `proto/*.proto` (client protocol and the
//!   ensemble's replication format).
//! - [`codec`]: length-delimited framing with a maximum frame size, encode/decode.
//! - [`path`]: ZooKeeper's path rules.
//! - [`types`]: plain Rust types for stats, create modes and multi operations.
//! - [`error`]: the error codes (ZooKeeper's) and the SDK's error type.
//! - [`client`]: the session: connect, pipelined requests, reconnect, watches and
//!   connection states.
//! - [`recipes`]: locks with fencing tokens and the other coordination recipes, on the
//!   client's public API.
pub mod client;
pub mod codec;
pub mod error;
pub mod path;
pub mod proto;
pub mod recipes;
pub mod types;

pub use client::{
    Client, ClientConfig, EventKind, State, StateStream, WatchFuture, WatchStream, WatchedEvent,
    WatcherKind,
};
pub use error::{Code, Error, Result};
pub use types::{CreateMode, Op, OpResult, Stat};
