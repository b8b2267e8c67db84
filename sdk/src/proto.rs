//! Message types generated from `proto/*.proto` (protobuf 2.x, pure-Rust codegen).
//!
//! [`paddock`] is the client protocol. [`replication`] is the format of Raft log
//! entries inside the ensemble; clients never send it, but it lives here so that the
//! protocol has a single home shared by server and SDK.
#![allow(
    dead_code,
    missing_docs,
    clippy::all,
    clippy::pedantic,
    unused_results,
    renamed_and_removed_lints
)]
#![allow(
    unknown_lints,
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals
)]
#![allow(
    trivial_casts,
    unused_imports,
    unused_qualifications,
    deprecated,
    unused_parens
)]
#![allow(
    clippy::needless_lifetimes,
    elided_lifetimes_in_paths,
    mismatched_lifetime_syntaxes
)]

/// Client protocol messages.
pub mod paddock {
    include!(concat!(env!("OUT_DIR"), "/paddock.rs"));
}

/// Raft log entry payloads (server-internal).
pub mod replication {
    include!(concat!(env!("OUT_DIR"), "/replication.rs"));
}
