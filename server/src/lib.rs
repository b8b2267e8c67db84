//! paddockd, a member of a Paddock ensemble.
//!
//! Data flow, one module per stage:
//!
//! ```text
//! client conn ──► client (handshake, pipeline, dispatch)
//!                   │ read: local tree (after the session's previous write)
//!                   │ write: consensus::handle::RaftHandle::submit
//!                   ▼
//!            consensus::driver (one thread owns the RawNode)
//!              persist: consensus::storage (raft-engine, one fsync per Ready)
//!              send:    peer (TCP links to the other members)
//!              apply:   tree (pure) ──► results to the waiting connections
//!              snapshots: consensus::snapshots (checksummed files, log compaction)
//! ```
//!
//! - [`tree`]: the znode tree, pure: (transaction, zxid) -> (result, change events).
//! - [`txn_codec`]: Raft entry payload <-> tree transaction.
//! - [`consensus`]: the Raft loop, its durable log and snapshot files.
//! - [`peer`]: Raft messages between members.
//! - [`membership`]: the member list and changes to it (learners, promote, remove).
//! - [`client`]: the client listener and request pipeline.
//! - [`watch`]: watches per member, fired from the apply path's change events.
//! - [`sessions`]: session liveness, the leader's expiry queue, container/TTL timers.
//! - [`node`]: wires a member together, starts and stops it.
//! - [`restore`]: seeds a new member's data directory from a backup snapshot.
//!
//! Operator-facing pieces:
//! - [`config`]: flags + TOML file + defaults -> one validated `Config`.
//! - [`logging`]: the one slog logger tree (text or JSON to stderr).
//! - [`metrics`]: the Prometheus registry and the handles the hot paths update.
//! - [`admin`]: the HTTP admin endpoint (`/status`, `/metrics`, `/health`).
//! - [`tls`]: TLS on the client, peer and admin listeners; certificates reloaded on
//!   SIGHUP or file change.
pub mod admin;
pub mod client;
pub mod config;
pub mod consensus;
pub mod logging;
pub mod membership;
pub mod metrics;
pub mod node;
pub mod peer;
pub mod restore;
pub mod sessions;
#[cfg(test)]
mod test_seed;
pub mod tls;
pub mod tree;
pub mod txn_codec;
pub mod watch;
