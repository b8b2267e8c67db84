//! paddock-jepsen: a fault-injection harness for Paddock.
//!
//! It starts real `paddockd` processes, drives real SDK clients against them, injects
//! real faults (kill -9, SIGSTOP, partitions through proxies it owns, damaged files),
//! records everything that happened as a history, and checks the history against what
//! Paddock promises. The modules, in the order a run uses them:
//!
//! - [`cluster`]: the members as child processes on loopback, their admin endpoints;
//! - [`proxy`]: one TCP proxy per directed peer link and per client port, with a switch;
//! - [`nemesis`]: the faults and their seeded schedule ([`nemesis::partition`] shapes,
//!   [`nemesis::disk`] damage);
//! - [`workload`]: what the clients do, and the final reads;
//! - [`history`]: the recorded events (`history.jsonl`);
//! - [`checker`]: pure functions from a history to a verdict (linearizability by
//!   Wing-Gong-Lowe search, session order, set, FIFO, sequential, watch, session,
//!   cluster and fault checks);
//! - [`plot`]: latency and throughput over time with the faults shaded;
//! - [`run`]: one cell, start to results; [`matrix`]: lists of cells and their report.
pub mod admin;
pub mod checker;
pub mod cluster;
pub mod history;
pub mod matrix;
pub mod nemesis;
pub mod plot;
pub mod proxy;
pub mod run;
pub mod workload;
