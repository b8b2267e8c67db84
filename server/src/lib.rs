//! paddockd, a member of a Paddock ensemble.
//!
//! Data flow (one module per stage):
//! - [`tree`]: the znode tree, pure: (transaction, zxid, time) -> (result, change events).
//!
//! Operator-facing pieces:
//! - [`config`]: flags + TOML file + defaults -> one validated `Config`.
//! - [`logging`]: the one slog logger tree (text or JSON to stderr).
//! - [`metrics`]: the Prometheus registry and the handles the hot paths update.
//! - [`admin`]: the HTTP admin endpoint (`/status`, `/metrics`, `/health`).
pub mod admin;
pub mod config;
pub mod logging;
pub mod metrics;
pub mod tree;
pub mod consensus;
pub mod txn_codec;
pub mod peer;
pub mod metrics;
pub mod client;
