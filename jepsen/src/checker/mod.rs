//! Checkers: pure functions from a [`History`] to a [`CheckResult`].
//!
//! A checker never talks to a cluster; everything it needs is in the history (the
//! final reads and statuses are observations recorded by the run). So a stored
//! history can be re-checked (`paddock-jepsen check DIR`), and every checker is unit
//! tested against hand-made histories, bad ones included.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::history::History;

/// A checker's verdict.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "lowercase")]
pub enum Validity {
    /// The history satisfies the property.
    Valid,
    /// The history violates it; `counterexample` says where.
    Invalid,
    /// The checker could not decide (e.g. the search hit its limit).
    Unknown,
}

/// What one checker found.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct CheckResult {
    /// The checker's name (`linearizable`, `set`, ...).
    pub name: String,
    /// The verdict.
    pub valid: Validity,
    /// What it counted (operations checked, ok/fail/unknown, violations, ...).
    pub counts: BTreeMap<String, u64>,
    /// The first violation found, in a form a person can read (event indexes, values).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counterexample: Option<serde_json::Value>,
    /// Measurements that are reported but not judged (e.g. how long a client stayed
    /// connected to a member without a leader).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub measurements: BTreeMap<String, f64>,
}

impl CheckResult {
    /// A result with no counts yet.
    pub fn new(name: &str) -> CheckResult {
        CheckResult {
            name: name.to_string(),
            valid: Validity::Valid,
            counts: BTreeMap::new(),
            counterexample: None,
            measurements: BTreeMap::new(),
        }
    }

    /// Adds `n` to a count.
    pub fn count(&mut self, what: &str, n: u64) {
        *self.counts.entry(what.to_string()).or_default() += n;
    }

    /// Marks the result invalid; the first counterexample is kept, later ones are counted.
    pub fn violation(&mut self, example: serde_json::Value) {
        self.valid = Validity::Invalid;
        self.count("violations", 1);
        if self.counterexample.is_none() {
            self.counterexample = Some(example);
        }
    }

    /// Whether the property held.
    pub fn is_valid(&self) -> bool {
        self.valid == Validity::Valid
    }
}

/// Every checker that applies to histories of `workload`, run over `history`.
pub fn check_all(workload: &str, history: &History, floor: f64) -> Vec<CheckResult> {
    let mut out = match workload {
        "register" => vec![linearizable::check(history), register_local::check(history)],
        "set" => vec![set::check(history)],
        "fifo" => vec![fifo::check(history)],
        "sequential" => vec![sequential::check(history)],
        "watch" => vec![watch::check(history)],
        "session" => vec![session::check(history)],
        "lock" | "election" => vec![lock::check(history)],
        _ => Vec::new(),
    };
    out.push(cluster::check(history));
    out.push(faults::check(history, floor));
    out
}

pub mod cluster;
pub mod faults;
pub mod fifo;
pub mod linearizable;
pub mod lock;
pub mod register_local;
pub mod sequential;
pub mod session;
pub mod set;
pub mod watch;
