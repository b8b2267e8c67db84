//! The linearizability checker for the register workload.
//!
//! Property checked: for every key (znode `r0..rK`, each pre-created with data `init` at
//! version 0), the linearizable reads (`linearizable: true`), the writes and the CASes
//! form a linearizable history of a *versioned register*: there is a total order of the
//! operations, consistent with real time (an operation that returned before another was
//! invoked comes first), in which every operation's result is what a sequential register
//! would have returned. Keys are independent (P-compositionality), so each key is
//! searched on its own. Local reads (`linearizable: false`) are not part of this
//! property; `checker::register_local` checks their weaker promise.
//!
//! The model state is `(data, version)`:
//! - `write(value)`: `→ (value, version + 1)`; an ok write's recorded result version must
//!   be `version + 1`.
//! - `cas(expect, value)` ok: requires `version == expect`, `→ (value, expect + 1)` (and
//!   the recorded version, if any, must be `expect + 1`).
//! - `cas` failed with `bad-version`: a real observation, requires `version != expect`
//!   and changes nothing. A CAS that failed with any other error did not take effect and
//!   is dropped, as is a write that failed.
//! - `read`: requires `(data, version) == state`.
//!
//! A write or CAS whose outcome is unknown (`info`, or no completion) may take effect at
//! any point after its invocation, or never; reads with an unknown outcome are dropped.
//!
//! Every written value is unique (the workload's promise; a value written twice makes the
//! key's result `Unknown`), so a value, once read at a version, pins the write of it.
//!
//! # How
//!
//! Each key goes through three passes; the first that finds a violation reports it.
//! 1. **Values** (linear): a read of a value no write or CAS that may have taken effect
//!    wrote; of `init` at a version other than 0; of a value at a version other than the
//!    one its acknowledged write produced; or of one value at two versions.
//! 2. **Real time** (O(n log n)): an operation whose *ceiling* (the highest version the
//!    register may have just before it: a read's version, a CAS's `expect`, an
//!    acknowledged write's result minus one) is below the *floor* (the version the
//!    register has at least from then on) of an operation that completed before it was
//!    invoked: a read older than a write or read that had already finished, a CAS
//!    expecting a version already overwritten. Versions never decrease, so that alone
//!    proves it; it names the exact pair.
//! 3. **Search**: the Wing–Gong–Lowe algorithm (Lowe, "Testing for linearizability",
//!    2017). The calls and returns sit in a doubly-linked list in time order; the search
//!    repeatedly linearizes a pending call (one before the first return still in the
//!    list) whose model step succeeds, lifting its call and return out of the list, and
//!    backtracks, with an explicit stack (never recursion), when it reaches a return it
//!    has not linearized. Configurations (the linearized set and the model state) are
//!    memoised and never explored twice.
//!
//! Choices made in the search:
//! - **Ties.** Two operations overlap when `a.start <= b.end`: at equal timestamps a call
//!   is ordered *before* a return. That is the permissive choice (it makes more operations
//!   concurrent), so a clock that cannot separate two events never causes a false
//!   violation.
//! - **Unknown outcomes.** An operation with an unknown outcome has a call but no return,
//!   so nothing forces it to be linearized: the search succeeds once every operation with
//!   a known outcome is. An unknown write or CAS whose value some read returned is pinned
//!   to the version the read saw (a value is written once and a write applies at most
//!   once) and is searched like the others, from a second list. One whose value no read
//!   returned (a *filler*) can only have added one to the version, so fillers are not
//!   searched at all: they are applied lazily, exactly when an operation needs a higher
//!   version than the state has (an acknowledged write, a CAS, a `bad-version` CAS at
//!   `version == expect`, a pinned unknown op), and canonically (at each version, a filler
//!   CAS expecting it if one was invoked, else the earliest-invoked unused filler write).
//!   That loses no linearization: in any linearization, a filler can be moved later to
//!   just before the operation that needs its version (nothing in between reads its
//!   value), an invoked filler CAS can replace a filler write (the write can go where the
//!   CAS was, or nowhere), and invoked filler writes are interchangeable. A write
//!   acknowledged without a result version (not produced by the workload) is tried after
//!   0, 1, 2, ... fills.
//! - **Pruning.** An unknown op or a fill is only applied if the version stays at or below
//!   the ceilings of the known operations on the frontier (the pending calls and the first
//!   return), since versions never decrease. That keeps the search from placing pinned
//!   unknown writes early. It is local on purpose: a global minimum would let one bad
//!   read late in a history block every fill from the start, and the counterexample would
//!   point far from the violation.
//! - **Memo.** The linearized set is represented by a 128-bit Zobrist hash (the XOR of a
//!   fixed pseudo-random key per operation, updated in O(1) per step; two different sets
//!   collide with probability 2^-128 per pair), with the exact model state. Fillers are
//!   not in the hash: each entry keeps the fewest filler writes used by a visit, and a
//!   visit that used as many or more is pruned. It has no more fillers left: used filler
//!   CASes can never apply again, as the version has passed their `expect`.
//! - **Bound.** The search of one key stops after [`Limits::max_steps`] steps or
//!   [`Limits::max_memo`] memo entries, whichever comes first; that key's result is then
//!   `Unknown`. Overall, the result is `Invalid` if any key is invalid, else `Unknown` if
//!   any key is unknown (or had malformed operations), else `Valid`.
//!
//! # Counterexamples
//!
//! `{"key", "problem", "op", "invoke", "completion", "state", "concurrent",
//! "concurrent_count", ...}`: `op` is the invoke event index of the operation that could
//! not be linearized, `invoke`/`completion` are its events, `state` is the model state
//! there (`data`, `version`, and `written_by`, the invoke index of the write that
//! produced it), `concurrent` lists the invoke indexes of the operations overlapping it
//! (at most 64; `concurrent_count` has them all). From the search, it is the deepest point
//! reached (the most operations with a known outcome linearized) and the return the
//! search could not get past there, with `linearized` (that count). From the real-time
//! pass, `after` is the operation that had completed and `state` what it left.
use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{json, Value};

use crate::checker::{CheckResult, Validity};
use crate::history::{EventType, History, Op, Operation};

/// The default bound on search steps per key (each step examines one list entry or
/// undoes one linearization).
pub const MAX_STEPS: u64 = 5_000_000;
/// The default bound on memoised configurations per key.
pub const MAX_MEMO: usize = 20_000_000;
/// How many concurrent operations a counterexample lists (the total is also given).
const MAX_CONCURRENT_LISTED: usize = 64;

/// Bounds on the work spent on one key; a key whose search exceeds either is `Unknown`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Search steps per key.
    pub max_steps: u64,
    /// Memoised configurations per key.
    pub max_memo: usize,
}

impl Default for Limits {
    /// [`MAX_STEPS`] and [`MAX_MEMO`].
    fn default() -> Self {
        Limits {
            max_steps: MAX_STEPS,
            max_memo: MAX_MEMO,
        }
    }
}

/// Checks that, per key, the linearizable reads, writes and CASes of a register history
/// are linearizable (with the default [`Limits`]). `Valid` means a linearization was found
/// for every key; `Invalid` means some key has none (the counterexample names the key and
/// the operation that could not be linearized); `Unknown` means a key's search hit its
/// bound or the history had malformed register operations and no key was invalid.
pub fn check(history: &History) -> CheckResult {
    check_with_limits(history, Limits::default())
}

/// [`check`] with explicit bounds on the search; the verdicts mean the same.
pub fn check_with_limits(history: &History, limits: Limits) -> CheckResult {
    let mut r = CheckResult::new("linearizable");
    for c in [
        "keys",
        "ops",
        "reads",
        "writes",
        "cas",
        "unknown",
        "violations",
        "malformed",
        "limited",
        "vanished",
    ] {
        r.count(c, 0);
    }
    // Every register key exists from setup on and is never deleted: a member that
    // answers "no node" for one has lost it (e.g. an ensemble that came back empty).
    for o in history.operations() {
        if o.invoke.op.key().is_some()
            && o.outcome() == EventType::Fail
            && o.completion.and_then(|c| c.error.as_deref()) == Some("no-node")
        {
            r.count("vanished", 1);
            if r.counts["vanished"] == 1 {
                r.violation(json!({
                    "problem": "a register key that exists since setup was answered no-node",
                    "key": o.invoke.op.key(),
                    "invoke": o.invoke.index,
                    "member": o.completion.and_then(|c| c.member),
                }));
            }
        }
    }
    let keys = collect(history);
    r.count("keys", keys.len() as u64);
    let mut unknown = Vec::new();
    let mut total_steps = 0u64;
    let mut max_memo = 0usize;
    for (key, k) in &keys {
        r.count("ops", k.ops.len() as u64);
        r.count("reads", k.reads);
        r.count("writes", k.writes);
        r.count("cas", k.cas);
        r.count("unknown", k.unknown);
        r.count("malformed", k.malformed);
        if let Some(b) = bad_read(k) {
            r.violation(bad_read_counterexample(key, k, &b));
            continue;
        }
        if let Some(st) = stale(k) {
            r.violation(stale_counterexample(key, k, &st));
            continue;
        }
        let mut search = Search::new(k, limits);
        let outcome = search.run();
        total_steps += search.steps;
        max_memo = max_memo.max(search.memo.len());
        match outcome {
            Outcome::Valid => {
                if k.malformed > 0 {
                    unknown.push(json!({
                        "key": key,
                        "reason": "malformed register operations were left out or treated as unknown",
                        "malformed": k.malformed,
                        "examples": k.malformed_examples,
                    }));
                }
            }
            Outcome::Invalid(block) => r.violation(counterexample(key, k, block.as_ref())),
            Outcome::Unknown(reason) => {
                r.count("limited", 1);
                unknown.push(json!({"key": key, "reason": reason}));
            }
        }
    }
    r.measurements
        .insert("search_steps".into(), total_steps as f64);
    r.measurements
        .insert("max_memo_entries".into(), max_memo as f64);
    if r.valid == Validity::Valid && !unknown.is_empty() {
        r.valid = Validity::Unknown;
        r.counterexample = Some(json!({ "unknown": unknown }));
    }
    r
}

// ---------------------------------------------------------------------------------------
// The operations of one key.

/// What an operation does to (or requires of) the model. Values are interned per key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Requires `state == (value, version)`.
    Read { value: u32, version: i64 },
    /// `→ (value, version + 1)`; `result` must equal `version + 1` when known.
    Write { value: u32, result: Option<i64> },
    /// Requires `version == expect`; `→ (value, expect + 1)`; `result` likewise.
    Cas {
        expect: i64,
        value: u32,
        result: Option<i64>,
    },
    /// Requires `version != expect`; no change.
    CasBadVersion { expect: i64 },
}

/// The model state: interned data and version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct State {
    value: u32,
    version: i64,
}

/// The initial state of every key: `("init", 0)` (`init` is value 0).
const INIT: State = State {
    value: 0,
    version: 0,
};

impl Kind {
    /// The model step: the next state, or `None` if the operation cannot happen here.
    fn step(self, s: State) -> Option<State> {
        match self {
            Kind::Read { value, version } => {
                (s.value == value && s.version == version).then_some(s)
            }
            Kind::Write { value, result } => {
                let version = s.version.checked_add(1)?;
                match result {
                    Some(r) if r != version => None,
                    _ => Some(State { value, version }),
                }
            }
            Kind::Cas {
                expect,
                value,
                result,
            } => {
                if s.version != expect {
                    return None;
                }
                let version = expect.checked_add(1)?;
                match result {
                    Some(r) if r != version => None,
                    _ => Some(State { value, version }),
                }
            }
            Kind::CasBadVersion { expect } => (s.version != expect).then_some(s),
        }
    }

    /// The highest version the state may have before this operation for it to be
    /// linearizable at all (versions never decrease); `i64::MAX` when unconstrained.
    fn ceiling(self) -> i64 {
        match self {
            Kind::Read { version, .. } => version,
            Kind::Write {
                result: Some(r), ..
            } => r.saturating_sub(1),
            Kind::Write { result: None, .. } | Kind::CasBadVersion { .. } => i64::MAX,
            Kind::Cas { expect, .. } => expect,
        }
    }

    /// The state right after this operation when it is fixed by the operation itself (a
    /// read's, an acknowledged write's or CAS's); versions never decrease, so from then on
    /// the register's version is at least this one's.
    fn floor(self) -> Option<State> {
        match self {
            Kind::Read { value, version } => Some(State { value, version }),
            Kind::Write {
                value,
                result: Some(version),
            } => Some(State { value, version }),
            Kind::Cas { expect, value, .. } => Some(State {
                value,
                version: expect.saturating_add(1),
            }),
            Kind::Write { result: None, .. } | Kind::CasBadVersion { .. } => None,
        }
    }
}

/// One operation in the model of a key.
struct LinOp<'a> {
    kind: Kind,
    /// Invocation time.
    start: u64,
    /// Completion time; `None` when the outcome is unknown.
    end: Option<u64>,
    /// The operation as recorded.
    op: Operation<'a>,
}

impl LinOp<'_> {
    fn known(&self) -> bool {
        self.end.is_some()
    }
}

/// Everything the search of one key needs.
#[derive(Default)]
struct KeyOps<'a> {
    ops: Vec<LinOp<'a>>,
    /// Interned data; index 0 is `init`.
    values: Vec<String>,
    ids: HashMap<String, u32>,
    /// For each value, the invoke index of the (first) write or CAS that may have written
    /// it (one that did not definitely fail), and how many such operations there are
    /// (the workload writes every value once; `init` counts the initial state).
    writer: Vec<Option<u64>>,
    writers: Vec<u32>,
    /// For each value written exactly once, the version it has whenever it is the data:
    /// fixed by an acknowledged write's or CAS's result (`None` otherwise).
    fixed: Vec<Option<i64>>,
    reads: u64,
    writes: u64,
    cas: u64,
    unknown: u64,
    /// Malformed operations (left out, or taken as unknown), and the first few of them.
    malformed: u64,
    malformed_examples: Vec<Value>,
}

impl<'a> KeyOps<'a> {
    fn with_init() -> Self {
        let mut k = KeyOps::default();
        k.intern("init");
        k.writers[0] = 1;
        k.fixed[0] = Some(0);
        k
    }

    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.values.len() as u32;
        self.values.push(s.to_string());
        self.ids.insert(s.to_string(), id);
        self.writer.push(None);
        self.writers.push(0);
        self.fixed.push(None);
        id
    }

    fn intern_written(&mut self, s: &str, by: u64) -> u32 {
        let id = self.intern(s);
        let w = &mut self.writer[id as usize];
        if w.is_none() {
            *w = Some(by);
        }
        self.writers[id as usize] += 1;
        id
    }

    fn note_malformed(&mut self, o: &Operation<'_>, why: &str) {
        self.malformed += 1;
        if self.malformed_examples.len() < 20 {
            self.malformed_examples
                .push(json!({"op": o.invoke.index, "why": why}));
        }
    }

    /// Whether `value` was written at most once (so reasoning by value is sound).
    fn unique(&self, value: u32) -> bool {
        self.writers.get(value as usize).is_some_and(|&n| n <= 1)
    }

    /// After every operation is in: flags values written more than once (malformed: the
    /// workload writes unique values), fixes the version of each value written by an
    /// acknowledged write or CAS, and pins an unknown-outcome write or CAS whose value a
    /// read returned at version `v` to producing `v` (a value is written once and a write
    /// applies at most once, so that is the only way the read can be right).
    fn finish(&mut self) {
        for i in 0..self.ops.len() {
            let o = &self.ops[i];
            let value = match o.kind {
                Kind::Write { value, .. } | Kind::Cas { value, .. } => value,
                _ => continue,
            };
            if !self.unique(value) {
                let o = o.op;
                self.note_malformed(&o, "a value written more than once (or `init` written)");
                continue;
            }
            if o.known() {
                self.fixed[value as usize] = match o.kind {
                    Kind::Write { result, .. } => result,
                    Kind::Cas { expect, .. } => expect.checked_add(1),
                    _ => None,
                };
            }
        }
        let mut seen: Vec<Option<i64>> = vec![None; self.values.len()];
        for o in &self.ops {
            if let Kind::Read { value, version } = o.kind {
                seen[value as usize].get_or_insert(version);
            }
        }
        for i in 0..self.ops.len() {
            if self.ops[i].known() {
                continue;
            }
            let unique = match self.ops[i].kind {
                Kind::Write { value, .. } | Kind::Cas { value, .. } => self.unique(value),
                _ => false,
            };
            match &mut self.ops[i].kind {
                Kind::Write { value, result } | Kind::Cas { value, result, .. }
                    if unique && result.is_none() =>
                {
                    *result = seen[*value as usize];
                }
                _ => {}
            }
        }
    }

    /// Adds an operation; `end == None` means its outcome is unknown.
    fn push(&mut self, o: Operation<'a>, kind: Kind, end: Option<u64>) {
        let start = o.start();
        let end = match end {
            Some(e) if e < start => {
                // Times never go backwards in a well-formed history; widen the interval
                // (the permissive choice) and say so.
                self.note_malformed(&o, "completion before invocation");
                Some(start)
            }
            e => e,
        };
        self.ops.push(LinOp {
            kind,
            start,
            end,
            op: o,
        });
    }
}

/// Partitions the register operations of a history by key, in the model's terms.
fn collect(history: &History) -> BTreeMap<String, KeyOps<'_>> {
    let mut keys: BTreeMap<String, KeyOps<'_>> = BTreeMap::new();
    for o in history.operations() {
        let inv = &o.invoke.op;
        let Some(key) = inv.key() else { continue };
        if matches!(
            inv,
            Op::Read {
                linearizable: false,
                ..
            }
        ) {
            continue;
        }
        let k = keys
            .entry(key.to_string())
            .or_insert_with(KeyOps::with_init);
        let outcome = o.outcome();
        let done = o.completion.map(|c| c.time);
        let completed = o.completion.map(|c| &c.op);
        match inv {
            Op::Read { .. } => {
                if outcome != EventType::Ok {
                    continue;
                }
                match completed {
                    Some(Op::Read {
                        key: k2,
                        value: Some(v),
                        ..
                    }) if k2 == key => {
                        let value = k.intern(&v.data);
                        k.reads += 1;
                        k.push(
                            o,
                            Kind::Read {
                                value,
                                version: i64::from(v.version),
                            },
                            done,
                        );
                    }
                    _ => k.note_malformed(&o, "ok read without a value of its key"),
                }
            }
            Op::Write { value, .. } => {
                if outcome == EventType::Fail {
                    continue;
                }
                let value_id = k.intern_written(value, o.invoke.index);
                let (result, end) = match outcome {
                    EventType::Ok => match completed {
                        Some(Op::Write {
                            key: k2,
                            value: v2,
                            version,
                        }) if k2 == key && v2 == value => (version.map(i64::from), done),
                        _ => {
                            k.note_malformed(
                                &o,
                                "ok write whose completion does not match it; taken as unknown",
                            );
                            (None, None)
                        }
                    },
                    _ => (None, None),
                };
                k.writes += 1;
                if end.is_none() {
                    k.unknown += 1;
                }
                k.push(
                    o,
                    Kind::Write {
                        value: value_id,
                        result,
                    },
                    end,
                );
            }
            Op::Cas { expect, value, .. } => {
                let expect = i64::from(*expect);
                if outcome == EventType::Fail {
                    if o.completion.and_then(|c| c.error.as_deref()) == Some("bad-version") {
                        k.cas += 1;
                        k.push(o, Kind::CasBadVersion { expect }, done);
                    }
                    continue;
                }
                let value_id = k.intern_written(value, o.invoke.index);
                let (kind, end) = match outcome {
                    EventType::Ok => match completed {
                        Some(Op::Cas {
                            key: k2,
                            value: v2,
                            expect: e2,
                            version,
                        }) if k2 == key && v2 == value && i64::from(*e2) == expect => (
                            Kind::Cas {
                                expect,
                                value: value_id,
                                result: version.map(i64::from),
                            },
                            done,
                        ),
                        _ => {
                            k.note_malformed(
                                &o,
                                "ok cas whose completion does not match it; taken as unknown",
                            );
                            (
                                Kind::Cas {
                                    expect,
                                    value: value_id,
                                    result: None,
                                },
                                None,
                            )
                        }
                    },
                    _ => (
                        Kind::Cas {
                            expect,
                            value: value_id,
                            result: None,
                        },
                        None,
                    ),
                };
                k.cas += 1;
                if end.is_none() {
                    k.unknown += 1;
                }
                k.push(o, kind, end);
            }
            _ => {}
        }
    }
    for k in keys.values_mut() {
        k.finish();
    }
    keys
}

// ---------------------------------------------------------------------------------------
// The value pre-pass.

/// A read that no linearization can explain, whatever the order.
struct BadRead {
    op: usize,
    problem: &'static str,
    /// The state the value always has, when fixed.
    fixed: Option<State>,
}

/// Finds the first read (by invocation) of a value nobody may have written, of `init` at
/// a version other than 0, or of a value at a version other than the one it always has.
/// Values written more than once are skipped (they are malformed; see `finish`).
fn bad_read(k: &KeyOps<'_>) -> Option<BadRead> {
    let mut first_seen: HashMap<u32, (i64, usize)> = HashMap::new();
    for (i, o) in k.ops.iter().enumerate() {
        let Kind::Read { value, version } = o.kind else {
            continue;
        };
        let writers = k.writers.get(value as usize).copied().unwrap_or(0);
        if writers == 0 {
            return Some(BadRead {
                op: i,
                problem: "a read of a value that no write or CAS of this key (that did not definitely fail) wrote",
                fixed: None,
            });
        }
        if writers > 1 {
            continue;
        }
        if let Some(Some(f)) = k.fixed.get(value as usize) {
            if *f != version {
                return Some(BadRead {
                    op: i,
                    problem: "a read of a value at a version other than the one its write produced (init is version 0)",
                    fixed: Some(State { value, version: *f }),
                });
            }
        }
        let (v0, _) = *first_seen.entry(value).or_insert((version, i));
        if v0 != version {
            return Some(BadRead {
                op: i,
                problem:
                    "two reads of the same value at different versions (a value is written once)",
                fixed: Some(State { value, version: v0 }),
            });
        }
    }
    None
}

// ---------------------------------------------------------------------------------------
// The real-time pre-pass.

/// Operation `op` cannot be linearized: operation `after` completed before `op` was
/// invoked and left the register at a version above `op`'s ceiling.
struct Stale {
    op: usize,
    after: usize,
    floor: State,
}

/// Finds the first (by invocation) known-outcome operation whose ceiling is below the
/// floor of a known-outcome operation that completed strictly before it was invoked.
fn stale(k: &KeyOps<'_>) -> Option<Stale> {
    let known: Vec<usize> = (0..k.ops.len()).filter(|&i| k.ops[i].known()).collect();
    let mut by_end = known.clone();
    by_end.sort_by_key(|&i| (k.ops[i].end, i));
    let mut by_start = known;
    by_start.sort_by_key(|&i| (k.ops[i].start, i));
    let mut highest: Option<(State, usize)> = None;
    let mut j = 0;
    for &x in &by_start {
        let start = k.ops[x].start;
        while let Some(&w) = by_end.get(j) {
            if k.ops[w].end.is_none_or(|e| e >= start) {
                break;
            }
            if let Some(f) = k.ops[w].kind.floor() {
                if highest.is_none_or(|(h, _)| f.version > h.version) {
                    highest = Some((f, w));
                }
            }
            j += 1;
        }
        if let Some((floor, after)) = highest {
            if floor.version > k.ops[x].kind.ceiling() {
                return Some(Stale {
                    op: x,
                    after,
                    floor,
                });
            }
        }
    }
    None
}

// ---------------------------------------------------------------------------------------
// The search.

/// The end of a list: each list is circular through its head sentinel.
const NIL: usize = usize::MAX;

/// One call or return in time order.
struct Entry {
    op: usize,
    call: bool,
}

/// Where the search stopped at its deepest point.
struct Block {
    /// The operation whose return could not be passed.
    op: usize,
    state: State,
    /// Known-outcome operations linearized at that point.
    depth: usize,
}

enum Outcome {
    Valid,
    Invalid(Option<Block>),
    Unknown(String),
}

/// Where the scan continues after undoing a linearization.
#[derive(Clone, Copy)]
enum Resume {
    /// The op came from the known list.
    Known,
    /// The op came from the list of unknown-outcome ops whose values are read.
    Unknown { bound: usize },
}

/// A linearization on the stack, for backtracking.
struct Frame {
    op: usize,
    before: State,
    resume: Resume,
    /// The fills applied just before the op: how many entries of `Search::fills` are its.
    fills: usize,
    /// For an op whose pre-version is free (a write without a result version), the number
    /// of fills this attempt used; the next attempt uses one more.
    extra: i64,
}

/// Where the scan is. At each frontier (the first return still in the list, at position
/// `bound`), the candidates are the known calls before it, then the unknown-outcome calls
/// whose values some read returns; then the search backtracks.
#[derive(Clone, Copy)]
enum Cursor {
    /// At an entry of the known list, trying it with `extra` fills (see [`Frame::extra`]).
    Known { entry: usize, extra: i64 },
    /// At an entry of the unknown list; candidates are calls before position `bound`.
    Unknown {
        entry: usize,
        bound: usize,
        extra: i64,
    },
    /// Undo the last linearization.
    Backtrack,
}

/// A deterministic pseudo-random 64-bit sequence (splitmix64) for the Zobrist keys.
fn splitmix(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Unknown-outcome operations whose values no read returns ("fillers"): all their effect
/// is to add one to the version. A group holds those that are interchangeable (all such
/// writes; or all such CASes with one `expect`), in invocation order; the first `used`
/// of them are linearized (the search only ever takes the first unused one).
struct Group {
    members: Vec<usize>,
    used: usize,
}

/// The memo: for each configuration (hash of the linearized known and read-unknown ops,
/// state), the fewest filler writes used by a visit. A configuration visited with at
/// most as many used is at least as completable (it has a superset of unused fillers;
/// filler CASes already used can never apply again, as the version has passed their
/// `expect`), so a new visit with as many or more is pruned.
type Memo = HashMap<(u64, u64, u32, i64), u32>;

struct Search<'k, 'a> {
    k: &'k KeyOps<'a>,
    limits: Limits,
    /// Every call and return in time order (calls before returns on ties); an entry's
    /// index is its position in that order.
    entries: Vec<Entry>,
    /// Links of both lists; `known_head` and `unknown_head` are sentinels.
    next: Vec<usize>,
    prev: Vec<usize>,
    known_head: usize,
    unknown_head: usize,
    call_of: Vec<usize>,
    ret_of: Vec<usize>,
    groups: Vec<Group>,
    /// The group of filler writes.
    write_group: Option<usize>,
    /// The groups of filler CASes, by `expect`.
    cas_groups: HashMap<i64, usize>,
    /// The groups used by the fills of every frame, in order.
    fills: Vec<usize>,
    zobrist: Vec<(u64, u64)>,
    state: State,
    hash: (u64, u64),
    known_total: usize,
    known_done: usize,
    stack: Vec<Frame>,
    memo: Memo,
    steps: u64,
    best: Option<Block>,
}

/// How [`Search::try_linearize`] went.
enum Try {
    /// Linearized; continue from the head of the list.
    Done,
    /// This configuration was already explored (an op whose pre-version is free may still
    /// be tried with one more fill).
    Explored,
    /// Not possible here, with this many fills or more.
    No,
}

impl<'k, 'a> Search<'k, 'a> {
    fn new(k: &'k KeyOps<'a>, limits: Limits) -> Self {
        let n = k.ops.len();
        // (time, 0 = call / 1 = return, event index) orders entries; calls first on ties.
        let mut order: Vec<(u64, u8, u64, Entry)> = Vec::with_capacity(2 * n);
        for (i, o) in k.ops.iter().enumerate() {
            order.push((o.start, 0, o.op.invoke.index, Entry { op: i, call: true }));
            if let Some(end) = o.end {
                let idx = o.op.completion.map_or(u64::MAX, |c| c.index);
                order.push((end, 1, idx, Entry { op: i, call: false }));
            }
        }
        order.sort_by_key(|(t, r, idx, _)| (*t, *r, *idx));
        let entries: Vec<Entry> = order.into_iter().map(|(_, _, _, e)| e).collect();
        // Values some read returns: an unknown-outcome op writing one of them is not a
        // filler.
        let read: HashSet<u32> = k
            .ops
            .iter()
            .filter_map(|o| match o.kind {
                Kind::Read { value, .. } => Some(value),
                _ => None,
            })
            .collect();
        let m = entries.len();
        let known_head = m;
        let unknown_head = m + 1;
        let mut next = vec![NIL; m + 2];
        let mut prev = vec![NIL; m + 2];
        let mut call_of = vec![NIL; n];
        let mut ret_of = vec![NIL; n];
        let mut groups: Vec<Group> = Vec::new();
        let mut write_group = None;
        let mut cas_slots: HashMap<i64, Option<usize>> = HashMap::new();
        let (mut last_known, mut last_unknown) = (known_head, unknown_head);
        for (i, e) in entries.iter().enumerate() {
            let o = &k.ops[e.op];
            if e.call {
                call_of[e.op] = i;
            } else {
                ret_of[e.op] = i;
            }
            let last = if o.known() {
                &mut last_known
            } else {
                let slot = match o.kind {
                    Kind::Write { value, .. } if !read.contains(&value) => Some(&mut write_group),
                    Kind::Cas { expect, value, .. } if !read.contains(&value) => {
                        Some(cas_slots.entry(expect).or_insert(None))
                    }
                    _ => None,
                };
                if let Some(slot) = slot {
                    let g = *slot.get_or_insert_with(|| {
                        groups.push(Group {
                            members: Vec::new(),
                            used: 0,
                        });
                        groups.len() - 1
                    });
                    groups[g].members.push(e.op);
                    continue;
                }
                &mut last_unknown
            };
            next[*last] = i;
            prev[i] = *last;
            *last = i;
        }
        next[last_known] = known_head;
        prev[known_head] = last_known;
        next[last_unknown] = unknown_head;
        prev[unknown_head] = last_unknown;
        let cas_groups = cas_slots
            .into_iter()
            .filter_map(|(e, g)| g.map(|g| (e, g)))
            .collect();
        let mut seed = 0x5EED_0F11_AE5E_ED00_u64;
        let zobrist = (0..n)
            .map(|_| (splitmix(&mut seed), splitmix(&mut seed)))
            .collect();
        let known_total = k.ops.iter().filter(|o| o.known()).count();
        Search {
            k,
            limits,
            entries,
            next,
            prev,
            known_head,
            unknown_head,
            call_of,
            ret_of,
            groups,
            write_group,
            cas_groups,
            fills: Vec::new(),
            zobrist,
            state: INIT,
            hash: (0, 0),
            known_total,
            known_done: 0,
            stack: Vec::new(),
            memo: HashMap::new(),
            steps: 0,
            best: None,
        }
    }

    fn unlink(&mut self, x: usize) {
        let (p, n) = (self.prev[x], self.next[x]);
        self.next[p] = n;
        self.prev[n] = p;
    }

    /// Undoes `unlink(x)`; undos must come in the reverse order of the unlinks.
    fn relink(&mut self, x: usize) {
        let (p, n) = (self.prev[x], self.next[x]);
        self.next[p] = x;
        self.prev[n] = x;
    }

    /// The position of the first return at or after known-list entry `from`: calls before
    /// it are invoked before the current frontier closes.
    fn first_return_from(&self, mut from: usize) -> usize {
        while from != self.known_head && self.entries[from].call {
            from = self.next[from];
        }
        if from == self.known_head {
            usize::MAX
        } else {
            from
        }
    }

    /// How many fills `kind` needs in state `s` right before it (`extra` for a write
    /// whose pre-version is free); `None` if no number of fills makes it possible.
    fn fills_needed(kind: Kind, s: State, extra: i64) -> Option<i64> {
        let k = match kind {
            Kind::Read { .. } => 0,
            Kind::Write {
                result: Some(r), ..
            } => r.checked_sub(1)?.checked_sub(s.version)?,
            Kind::Write { result: None, .. } => extra,
            Kind::Cas { expect, .. } => expect.checked_sub(s.version)?,
            Kind::CasBadVersion { expect } => i64::from(s.version == expect),
        };
        (k >= 0).then_some(k)
    }

    /// Chooses `count` fillers invoked before position `bound`, in the canonical order (at
    /// each version, a filler CAS expecting it if there is one, else the earliest unused
    /// filler write), appending their groups to `self.fills`. Returns the state after
    /// them, or `None` (and appends nothing) if there are not enough.
    fn choose_fills(&mut self, count: i64, bound: usize) -> Option<State> {
        let mark = self.fills.len();
        let mut state = self.state;
        let mut writes = 0;
        for _ in 0..count {
            let cas = self.cas_groups.get(&state.version).and_then(|&g| {
                let op = *self.groups[g].members.get(self.groups[g].used)?;
                (self.call_of[op] < bound).then_some((g, op))
            });
            let pick = cas.or_else(|| {
                let g = self.write_group?;
                let op = *self.groups[g].members.get(self.groups[g].used + writes)?;
                (self.call_of[op] < bound).then_some((g, op))
            });
            let Some((g, op)) = pick else {
                self.fills.truncate(mark);
                return None;
            };
            if Some(g) == self.write_group {
                writes += 1;
            }
            self.fills.push(g);
            let value = match self.k.ops[op].kind {
                Kind::Write { value, .. } | Kind::Cas { value, .. } => value,
                _ => state.value,
            };
            state = State {
                value,
                version: state.version.checked_add(1)?,
            };
        }
        Some(state)
    }

    /// The highest version the state may reach before the frontier's known operations (the
    /// calls before the first return still in the list, and that return's) are
    /// linearized: the minimum of their ceilings. Versions never decrease, so going past
    /// it leaves one of them impossible.
    fn ceiling(&self) -> i64 {
        let mut c = i64::MAX;
        let mut x = self.next[self.known_head];
        while x != self.known_head {
            c = c.min(self.k.ops[self.entries[x].op].kind.ceiling());
            if !self.entries[x].call {
                break;
            }
            x = self.next[x];
        }
        c
    }

    fn writes_used(&self) -> u32 {
        self.write_group.map_or(0, |g| self.groups[g].used as u32)
    }

    /// Tries to linearize `op` now, preceded by the fills it needs.
    fn try_linearize(
        &mut self,
        op: usize,
        entry: usize,
        resume: Resume,
        extra: i64,
    ) -> Result<Try, String> {
        let o = &self.k.ops[op];
        let known = o.known();
        let Some(count) = Self::fills_needed(o.kind, self.state, extra) else {
            return Ok(Try::No);
        };
        let mark = self.fills.len();
        let filled = if count == 0 {
            self.state
        } else {
            // Fills only keep the search alive if the version stays within what the ops
            // still to be linearized allow.
            if self.state.version.saturating_add(count) > self.ceiling() {
                return Ok(Try::No);
            }
            let bound = match resume {
                Resume::Known => self.first_return_from(entry),
                Resume::Unknown { bound } => bound,
            };
            match self.choose_fills(count, bound) {
                Some(s) => s,
                None => return Ok(Try::No),
            }
        };
        let Some(next) = o.kind.step(filled) else {
            self.fills.truncate(mark);
            return Ok(Try::No);
        };
        if !known && next.version > self.ceiling() {
            // An operation still to be linearized needs a lower version than this leaves.
            self.fills.truncate(mark);
            return Ok(Try::No);
        }
        // Apply the fills' usage before judging the configuration.
        for &g in &self.fills[mark..] {
            self.groups[g].used += 1;
        }
        let (z0, z1) = self.zobrist[op];
        let hash = (self.hash.0 ^ z0, self.hash.1 ^ z1);
        let used = self.writes_used();
        let key = (hash.0, hash.1, next.value, next.version);
        let fresh = match self.memo.get_mut(&key) {
            Some(best) if *best <= used => false,
            Some(best) => {
                *best = used;
                true
            }
            None => {
                self.memo.insert(key, used);
                true
            }
        };
        if !fresh {
            for &g in &self.fills[mark..] {
                self.groups[g].used -= 1;
            }
            self.fills.truncate(mark);
            return Ok(Try::Explored);
        }
        if self.memo.len() > self.limits.max_memo {
            return Err(format!(
                "search stopped after {} memoised configurations",
                self.limits.max_memo
            ));
        }
        self.stack.push(Frame {
            op,
            before: self.state,
            resume,
            fills: self.fills.len() - mark,
            extra,
        });
        self.state = next;
        self.hash = hash;
        self.unlink(self.call_of[op]);
        if known {
            self.unlink(self.ret_of[op]);
            self.known_done += 1;
        }
        Ok(Try::Done)
    }

    /// Undoes the last linearization; returns where the scan continues, or `None` when
    /// there is nothing left to undo.
    fn backtrack(&mut self) -> Option<Cursor> {
        let f = self.stack.pop()?;
        let o = &self.k.ops[f.op];
        self.state = f.before;
        let (z0, z1) = self.zobrist[f.op];
        self.hash = (self.hash.0 ^ z0, self.hash.1 ^ z1);
        for _ in 0..f.fills {
            if let Some(g) = self.fills.pop() {
                self.groups[g].used -= 1;
            }
        }
        if o.known() {
            self.known_done -= 1;
            self.relink(self.ret_of[f.op]);
        }
        let call = self.call_of[f.op];
        self.relink(call);
        // An op whose pre-version is free is tried again with one more fill; any other
        // op gives way to the next candidate.
        let again = matches!(o.kind, Kind::Write { result: None, .. });
        let (entry, extra) = if again {
            (call, f.extra + 1)
        } else {
            (self.next[call], 0)
        };
        Some(match f.resume {
            Resume::Known => Cursor::Known { entry, extra },
            Resume::Unknown { bound } => Cursor::Unknown {
                entry,
                bound,
                extra,
            },
        })
    }

    fn run(&mut self) -> Outcome {
        let mut cursor = Cursor::Known {
            entry: self.next[self.known_head],
            extra: 0,
        };
        loop {
            if self.known_done == self.known_total {
                return Outcome::Valid;
            }
            self.steps += 1;
            if self.steps > self.limits.max_steps {
                return Outcome::Unknown(format!(
                    "search stopped after {} steps",
                    self.limits.max_steps
                ));
            }
            cursor = match cursor {
                Cursor::Known { entry: e, extra }
                    if e != self.known_head && self.entries[e].call =>
                {
                    let op = self.entries[e].op;
                    match self.try_linearize(op, e, Resume::Known, extra) {
                        Ok(Try::Done) => Cursor::Known {
                            entry: self.next[self.known_head],
                            extra: 0,
                        },
                        Ok(Try::Explored)
                            if matches!(self.k.ops[op].kind, Kind::Write { result: None, .. }) =>
                        {
                            Cursor::Known {
                                entry: e,
                                extra: extra + 1,
                            }
                        }
                        Ok(_) => Cursor::Known {
                            entry: self.next[e],
                            extra: 0,
                        },
                        Err(why) => return Outcome::Unknown(why),
                    }
                }
                Cursor::Known { entry: e, .. } => {
                    // The first return still in the list (or, defensively, the end): every
                    // known call before it has been tried. Record the deepest point.
                    let bound = if e == self.known_head {
                        usize::MAX
                    } else {
                        let op = self.entries[e].op;
                        if self.best.as_ref().is_none_or(|b| self.known_done > b.depth) {
                            self.best = Some(Block {
                                op,
                                state: self.state,
                                depth: self.known_done,
                            });
                        }
                        e
                    };
                    // Unknown operations raise the version, which needs room below the
                    // ceiling of what is still to be linearized.
                    if self.state.version < self.ceiling() {
                        Cursor::Unknown {
                            entry: self.next[self.unknown_head],
                            bound,
                            extra: 0,
                        }
                    } else {
                        Cursor::Backtrack
                    }
                }
                Cursor::Unknown {
                    entry,
                    bound,
                    extra,
                } => {
                    if entry == self.unknown_head || entry > bound {
                        Cursor::Backtrack
                    } else {
                        let op = self.entries[entry].op;
                        match self.try_linearize(op, entry, Resume::Unknown { bound }, extra) {
                            Ok(Try::Done) => Cursor::Known {
                                entry: self.next[self.known_head],
                                extra: 0,
                            },
                            Ok(Try::Explored)
                                if matches!(
                                    self.k.ops[op].kind,
                                    Kind::Write { result: None, .. }
                                ) =>
                            {
                                Cursor::Unknown {
                                    entry,
                                    bound,
                                    extra: extra + 1,
                                }
                            }
                            Ok(_) => Cursor::Unknown {
                                entry: self.next[entry],
                                bound,
                                extra: 0,
                            },
                            Err(why) => return Outcome::Unknown(why),
                        }
                    }
                }
                Cursor::Backtrack => match self.backtrack() {
                    Some(c) => c,
                    None => return Outcome::Invalid(self.best.take()),
                },
            };
        }
    }
}

// ---------------------------------------------------------------------------------------
// Reporting.

fn event_json(e: Option<&crate::history::Event>) -> Value {
    e.and_then(|e| serde_json::to_value(e).ok())
        .unwrap_or(Value::Null)
}

/// The common part of a counterexample: the key, the operation (by its invoke index),
/// its events, a model state and the operations concurrent with it.
fn describe(
    key: &str,
    k: &KeyOps<'_>,
    op: usize,
    state: Option<State>,
    problem: &str,
) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("key".into(), json!(key));
    m.insert("problem".into(), json!(problem));
    let Some(o) = k.ops.get(op) else {
        return m;
    };
    let (start, end) = (o.start, o.end.unwrap_or(u64::MAX));
    let overlapping: Vec<u64> = k
        .ops
        .iter()
        .enumerate()
        .filter(|(i, x)| *i != op && x.start <= end && start <= x.end.unwrap_or(u64::MAX))
        .map(|(_, x)| x.op.invoke.index)
        .collect();
    m.insert("op".into(), json!(o.op.invoke.index));
    m.insert("invoke".into(), event_json(Some(o.op.invoke)));
    m.insert("completion".into(), event_json(o.op.completion));
    if let Some(state) = state {
        let idx = state.value as usize;
        m.insert(
            "state".into(),
            json!({
                "data": k.values.get(idx),
                "version": state.version,
                "written_by": k.writer.get(idx).copied().flatten(),
            }),
        );
    }
    m.insert(
        "concurrent".into(),
        json!(overlapping
            .iter()
            .take(MAX_CONCURRENT_LISTED)
            .collect::<Vec<_>>()),
    );
    m.insert("concurrent_count".into(), json!(overlapping.len()));
    m
}

fn counterexample(key: &str, k: &KeyOps<'_>, block: Option<&Block>) -> Value {
    let Some(b) = block else {
        return json!({"key": key, "problem": "no linearization (the search found no blocking operation)"});
    };
    let mut m = describe(
        key,
        k,
        b.op,
        Some(b.state),
        "no linearization: at the deepest point the search reached, this operation could not be linearized in this state",
    );
    m.insert("linearized".into(), json!(b.depth));
    Value::Object(m)
}

fn bad_read_counterexample(key: &str, k: &KeyOps<'_>, b: &BadRead) -> Value {
    Value::Object(describe(key, k, b.op, b.fixed, b.problem))
}

fn stale_counterexample(key: &str, k: &KeyOps<'_>, st: &Stale) -> Value {
    let mut m = describe(
        key,
        k,
        st.op,
        Some(st.floor),
        "stale: this operation was invoked after the `after` operation had completed, which left the register at `state` (or later); this one needs an older version",
    );
    if let Some(a) = k.ops.get(st.after) {
        m.insert("after".into(), json!(a.op.invoke.index));
        m.insert("after_completion".into(), event_json(a.op.completion));
    }
    m.insert(
        "needs_version_at_most".into(),
        json!(k.ops.get(st.op).map(|o| o.kind.ceiling())),
    );
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use quickcheck::{QuickCheck, TestResult};

    use super::*;
    use crate::history::build::Builder;
    use crate::history::Versioned;

    fn read_op(key: &str, value: Option<(&str, i32)>) -> Op {
        Op::Read {
            key: key.into(),
            linearizable: true,
            value: value.map(|(d, v)| Versioned {
                data: d.into(),
                version: v,
                mzxid: 0,
            }),
        }
    }

    fn write_op(key: &str, value: &str, version: Option<i32>) -> Op {
        Op::Write {
            key: key.into(),
            value: value.into(),
            version,
        }
    }

    fn cas_op(key: &str, expect: i32, value: &str, version: Option<i32>) -> Op {
        Op::Cas {
            key: key.into(),
            expect,
            value: value.into(),
            version,
        }
    }

    /// An ok linearizable read of `key` over [t0, t1] that saw (data, version).
    fn read(b: &mut Builder, t0: u64, t1: u64, p: &str, key: &str, data: &str, version: i32) {
        b.op(
            t0,
            t1,
            p,
            EventType::Ok,
            read_op(key, None),
            read_op(key, Some((data, version))),
            None,
        );
    }

    /// An ok write over [t0, t1] whose new version is `version`.
    fn write(b: &mut Builder, t0: u64, t1: u64, p: &str, key: &str, value: &str, version: i32) {
        b.op(
            t0,
            t1,
            p,
            EventType::Ok,
            write_op(key, value, None),
            write_op(key, value, Some(version)),
            None,
        );
    }

    /// A write with an unknown outcome invoked at t0 (completed `info` at t1).
    fn write_info(b: &mut Builder, t0: u64, t1: u64, p: &str, key: &str, value: &str) {
        let w = write_op(key, value, None);
        b.op(t0, t1, p, EventType::Info, w.clone(), w, Some("timeout"));
    }

    fn cas_ok(b: &mut Builder, t0: u64, t1: u64, p: &str, key: &str, expect: i32, value: &str) {
        b.op(
            t0,
            t1,
            p,
            EventType::Ok,
            cas_op(key, expect, value, None),
            cas_op(key, expect, value, Some(expect + 1)),
            None,
        );
    }

    /// A CAS of r0 that failed with `error`.
    fn cas_fail(b: &mut Builder, t0: u64, t1: u64, p: &str, expect: i32, value: &str, error: &str) {
        let c = cas_op("r0", expect, value, None);
        b.op(t0, t1, p, EventType::Fail, c.clone(), c, Some(error));
    }

    fn verdict(b: &mut Builder) -> CheckResult {
        check(&b.build())
    }

    #[test]
    fn a_key_answered_no_node_is_a_violation() {
        let mut b = Builder::new();
        read(&mut b, 1, 2, "c1", "r0", "init", 0);
        let r0 = read_op("r0", None);
        b.op(3, 4, "c2", EventType::Fail, r0.clone(), r0, Some("no-node"));
        let r = verdict(&mut b);
        assert_eq!(r.valid, Validity::Invalid);
        assert!(r.counterexample.unwrap().to_string().contains("no-node"));
        assert_eq!(r.counts["vanished"], 1);
    }

    #[test]
    fn an_empty_history_is_valid() {
        let r = check(&History::default());
        assert_eq!(r.valid, Validity::Valid);
        assert_eq!(r.counts["keys"], 0);
    }

    #[test]
    fn a_sequential_history_is_valid() {
        let mut b = Builder::new();
        read(&mut b, 1, 2, "c1", "r0", "init", 0);
        write(&mut b, 3, 4, "c1", "r0", "a", 1);
        read(&mut b, 5, 6, "c2", "r0", "a", 1);
        cas_ok(&mut b, 7, 8, "c2", "r0", 1, "b");
        read(&mut b, 9, 10, "c1", "r0", "b", 2);
        write(&mut b, 11, 12, "c3", "r0", "c", 3);
        read(&mut b, 13, 14, "c3", "r0", "c", 3);
        let r = verdict(&mut b);
        assert_eq!(r.valid, Validity::Valid, "{r:?}");
        assert_eq!(r.counts["ops"], 7);
        assert_eq!(r.counts["reads"], 4);
        assert_eq!(r.counts["writes"], 2);
        assert_eq!(r.counts["cas"], 1);
        assert_eq!(r.counts["violations"], 0);
    }

    #[test]
    fn a_read_overlapping_a_write_may_see_either_value() {
        for seen in [("init", 0), ("a", 1)] {
            let mut b = Builder::new();
            write(&mut b, 1, 10, "c1", "r0", "a", 1);
            read(&mut b, 2, 5, "c2", "r0", seen.0, seen.1);
            read(&mut b, 11, 12, "c2", "r0", "a", 1);
            let r = verdict(&mut b);
            assert_eq!(r.valid, Validity::Valid, "{seen:?}: {r:?}");
        }
    }

    #[test]
    fn concurrent_writes_may_take_effect_in_either_order() {
        let mut b = Builder::new();
        write(&mut b, 1, 10, "c1", "r0", "a", 2);
        write(&mut b, 2, 9, "c2", "r0", "b", 1);
        read(&mut b, 3, 8, "c3", "r0", "b", 1);
        read(&mut b, 11, 12, "c3", "r0", "a", 2);
        let r = verdict(&mut b);
        assert_eq!(r.valid, Validity::Valid, "{r:?}");
    }

    #[test]
    fn equal_timestamps_count_as_concurrent() {
        // The read is invoked at the very instant the write returns: either order is fine.
        let mut b = Builder::new();
        write(&mut b, 1, 5, "c1", "r0", "a", 1);
        read(&mut b, 5, 6, "c2", "r0", "init", 0);
        assert_eq!(verdict(&mut b).valid, Validity::Valid);
    }

    #[test]
    fn a_stale_read_is_invalid() {
        let mut b = Builder::new();
        write(&mut b, 1, 2, "c1", "r0", "a", 1);
        read(&mut b, 3, 4, "c2", "r0", "init", 0);
        let h = b.build();
        let r = check(&h);
        assert_eq!(r.valid, Validity::Invalid, "{r:?}");
        assert_eq!(r.counts["violations"], 1);
        let ex = r.counterexample.unwrap();
        assert_eq!(ex["key"], "r0");
        // The read (invoked at event 2) is the op that could not be linearized, after the
        // write (event 0) that produced the state ("a", 1).
        assert_eq!(ex["op"], 2);
        assert_eq!(ex["state"]["data"], "a");
        assert_eq!(ex["state"]["version"], 1);
        assert_eq!(ex["state"]["written_by"], 0);
        assert_eq!(ex["completion"]["value"]["data"], "init");
        assert_eq!(ex["concurrent"], json!([]));
        // Found by the real-time pre-pass, which names the write that had completed.
        assert_eq!(ex["after"], 0);
        assert_eq!(ex["needs_version_at_most"], 0);
    }

    #[test]
    fn a_lost_write_is_invalid() {
        let mut b = Builder::new();
        write(&mut b, 1, 2, "c1", "r0", "a", 1);
        write(&mut b, 3, 4, "c2", "r0", "b", 2);
        // Reads after the second write still see the first: "b" was lost.
        read(&mut b, 5, 6, "c3", "r0", "a", 1);
        let r = verdict(&mut b);
        assert_eq!(r.valid, Validity::Invalid, "{r:?}");
        let ex = r.counterexample.unwrap();
        assert_eq!(ex["state"]["data"], "b");
        assert_eq!(ex["state"]["version"], 2);
        assert_eq!(ex["completion"]["value"]["data"], "a");
    }

    #[test]
    fn a_write_acknowledged_with_a_wrong_version_is_invalid() {
        let mut b = Builder::new();
        write(&mut b, 1, 2, "c1", "r0", "a", 1);
        write(&mut b, 3, 4, "c1", "r0", "b", 1);
        assert_eq!(verdict(&mut b).valid, Validity::Invalid);
    }

    #[test]
    fn a_read_of_a_value_never_written_is_invalid() {
        let mut b = Builder::new();
        write(&mut b, 1, 2, "c1", "r0", "a", 1);
        read(&mut b, 3, 10, "c2", "r0", "zzz", 1);
        let r = verdict(&mut b);
        assert_eq!(r.valid, Validity::Invalid);
        let ex = r.counterexample.unwrap();
        assert_eq!(ex["op"], 2);
        assert_eq!(ex["completion"]["value"]["data"], "zzz");
        assert!(
            ex["problem"].as_str().unwrap_or("").contains("no write"),
            "{ex}"
        );
    }

    #[test]
    fn a_read_of_init_at_a_later_version_is_invalid() {
        let mut b = Builder::new();
        write_info(&mut b, 1, 2, "c1", "r0", "a");
        read(&mut b, 3, 4, "c2", "r0", "init", 1);
        let r = verdict(&mut b);
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(r.counterexample.unwrap()["state"]["version"], 0);
    }

    #[test]
    fn a_version_owned_by_an_acknowledged_write_cannot_be_an_unknown_writes() {
        // "x" has an unknown outcome, so it may have been written, and version 2 is
        // plausible; but the acknowledged write of "b" made version 2. Only the search
        // can see it; the counterexample is the read, with the state "b" left.
        let mut b = Builder::new();
        write(&mut b, 1, 2, "c1", "r0", "a", 1);
        write_info(&mut b, 3, 4, "c3", "r0", "x");
        write(&mut b, 5, 6, "c1", "r0", "b", 2);
        read(&mut b, 7, 10, "c2", "r0", "x", 2);
        let r = verdict(&mut b);
        assert_eq!(r.valid, Validity::Invalid, "{r:?}");
        let ex = r.counterexample.unwrap();
        assert_eq!(ex["op"], 6, "{ex}");
        assert_eq!(ex["linearized"], 2, "{ex}");
        assert_eq!(ex["state"]["data"], "b");
        assert_eq!(ex["state"]["written_by"], 4);
        // The unknown write (invoked at event 2) overlaps everything after it.
        assert_eq!(ex["concurrent"], json!([2]));
    }

    #[test]
    fn a_value_written_twice_makes_the_result_unknown() {
        let mut b = Builder::new();
        write(&mut b, 1, 2, "c1", "r0", "a", 1);
        write(&mut b, 3, 4, "c1", "r0", "a", 2);
        read(&mut b, 5, 6, "c2", "r0", "a", 2);
        let r = verdict(&mut b);
        assert_eq!(r.valid, Validity::Unknown, "{r:?}");
        assert_eq!(r.counts["malformed"], 2);
    }

    #[test]
    fn a_bad_version_cas_can_prove_an_unknown_write_applied() {
        let base = || {
            let mut b = Builder::new();
            read(&mut b, 1, 2, "c1", "r0", "init", 0);
            write_info(&mut b, 3, 4, "c2", "r0", "u");
            // Refused as the version was not 0: the unknown write must have applied.
            cas_fail(&mut b, 5, 6, "c1", 0, "x", "bad-version");
            b
        };
        assert_eq!(verdict(&mut base()).valid, Validity::Valid);
        // ... so a later read of init is stale (only the search sees it).
        let mut b = base();
        read(&mut b, 7, 8, "c1", "r0", "init", 0);
        let r = verdict(&mut b);
        assert_eq!(r.valid, Validity::Invalid, "{r:?}");
        assert_eq!(r.counterexample.unwrap()["op"], 6);
    }

    #[test]
    fn writes_without_a_result_version_may_follow_unknown_ones() {
        // An acknowledged write whose new version was not recorded: an unknown write may
        // or may not have taken effect before it.
        let ok_free = |b: &mut Builder, t0: u64, t1: u64, value: &str| {
            b.op(
                t0,
                t1,
                "c1",
                EventType::Ok,
                write_op("r0", value, None),
                write_op("r0", value, None),
                None,
            );
        };
        for (version, valid) in [
            (1, Validity::Valid),
            (2, Validity::Valid),
            (3, Validity::Invalid),
        ] {
            let mut b = Builder::new();
            write_info(&mut b, 1, 2, "c2", "r0", "u");
            ok_free(&mut b, 3, 4, "a");
            read(&mut b, 5, 6, "c3", "r0", "a", version);
            let r = verdict(&mut b);
            assert_eq!(r.valid, valid, "version {version}: {r:?}");
        }
    }

    #[test]
    fn an_unknown_cas_may_fill_a_gap_when_its_expectation_holds() {
        let unknown_cas = |b: &mut Builder, t0: u64, t1: u64, p: &str, expect: i32, value: &str| {
            let c = cas_op("r0", expect, value, None);
            b.op(t0, t1, p, EventType::Info, c.clone(), c, Some("timeout"));
        };
        for (expect, valid) in [(1, Validity::Valid), (0, Validity::Invalid)] {
            let mut b = Builder::new();
            write(&mut b, 1, 2, "c1", "r0", "a", 1);
            unknown_cas(&mut b, 3, 4, "c2", expect, "u");
            write(&mut b, 5, 6, "c1", "r0", "b", 3);
            let r = verdict(&mut b);
            assert_eq!(r.valid, valid, "expect {expect}: {r:?}");
        }
    }

    #[test]
    fn an_unknown_write_that_shows_up_later_is_valid() {
        let mut b = Builder::new();
        write_info(&mut b, 1, 3, "c1", "r0", "a");
        read(&mut b, 4, 5, "c2", "r0", "init", 0);
        read(&mut b, 100, 101, "c2", "r0", "a", 1);
        write(&mut b, 102, 103, "c2", "r0", "b", 2);
        read(&mut b, 104, 105, "c3", "r0", "b", 2);
        let r = verdict(&mut b);
        assert_eq!(r.valid, Validity::Valid, "{r:?}");
        assert_eq!(r.counts["unknown"], 1);
    }

    #[test]
    fn an_unknown_write_with_no_completion_that_shows_up_is_valid() {
        let mut b = Builder::new();
        b.invoke(1, "c1", write_op("r0", "a", None));
        read(&mut b, 50, 51, "c2", "r0", "a", 1);
        let r = verdict(&mut b);
        assert_eq!(r.valid, Validity::Valid, "{r:?}");
        assert_eq!(r.counts["unknown"], 1);
    }

    #[test]
    fn an_unknown_write_never_observed_is_valid() {
        let mut b = Builder::new();
        write_info(&mut b, 1, 3, "c1", "r0", "a");
        read(&mut b, 4, 5, "c2", "r0", "init", 0);
        write(&mut b, 6, 7, "c2", "r0", "b", 1);
        read(&mut b, 8, 9, "c3", "r0", "b", 1);
        assert_eq!(verdict(&mut b).valid, Validity::Valid);
    }

    #[test]
    fn an_unknown_write_cannot_take_effect_before_its_invocation() {
        let mut b = Builder::new();
        read(&mut b, 1, 2, "c2", "r0", "a", 1);
        write_info(&mut b, 3, 4, "c1", "r0", "a");
        assert_eq!(verdict(&mut b).valid, Validity::Invalid);
    }

    #[test]
    fn an_unknown_write_fills_a_version_gap() {
        // The write acknowledged with version 2 implies one write took effect before it.
        let mut b = Builder::new();
        write_info(&mut b, 1, 2, "c1", "r0", "a");
        write_info(&mut b, 1, 2, "c4", "r0", "x");
        write(&mut b, 10, 11, "c2", "r0", "b", 2);
        read(&mut b, 12, 13, "c3", "r0", "b", 2);
        assert_eq!(verdict(&mut b).valid, Validity::Valid);
        // ... but nothing can fill a gap of two with one unknown write.
        let mut b = Builder::new();
        write_info(&mut b, 1, 2, "c1", "r0", "a");
        write(&mut b, 10, 11, "c2", "r0", "b", 3);
        assert_eq!(verdict(&mut b).valid, Validity::Invalid);
    }

    #[test]
    fn a_failed_write_does_not_take_effect() {
        let mut b = Builder::new();
        let w = write_op("r0", "a", None);
        b.op(1, 2, "c1", EventType::Fail, w.clone(), w, Some("not-ready"));
        read(&mut b, 3, 4, "c2", "r0", "a", 1);
        assert_eq!(verdict(&mut b).valid, Validity::Invalid);
    }

    #[test]
    fn bad_version_cas_consistent_is_valid() {
        let mut b = Builder::new();
        write(&mut b, 1, 2, "c1", "r0", "a", 1);
        // The version is 1, not 0: the CAS is refused.
        cas_fail(&mut b, 3, 4, "c2", 0, "x", "bad-version");
        cas_ok(&mut b, 5, 6, "c2", "r0", 1, "b");
        read(&mut b, 7, 8, "c1", "r0", "b", 2);
        // A CAS that failed for another reason did not take effect and says nothing.
        cas_fail(&mut b, 9, 10, "c2", 2, "y", "not-ready");
        read(&mut b, 11, 12, "c1", "r0", "b", 2);
        let r = verdict(&mut b);
        assert_eq!(r.valid, Validity::Valid, "{r:?}");
        assert_eq!(r.counts["cas"], 2);
    }

    #[test]
    fn bad_version_cas_inconsistent_is_invalid() {
        let mut b = Builder::new();
        write(&mut b, 1, 2, "c1", "r0", "a", 1);
        // The version is 1 throughout, yet a CAS expecting 1 was refused.
        cas_fail(&mut b, 3, 4, "c2", 1, "x", "bad-version");
        read(&mut b, 5, 6, "c1", "r0", "a", 1);
        let r = verdict(&mut b);
        assert_eq!(r.valid, Validity::Invalid, "{r:?}");
        assert_eq!(r.counterexample.unwrap()["invoke"]["f"], "cas");
    }

    #[test]
    fn a_bad_version_cas_concurrent_with_a_write_is_valid() {
        let mut b = Builder::new();
        write(&mut b, 1, 10, "c1", "r0", "a", 1);
        cas_fail(&mut b, 2, 9, "c2", 0, "x", "bad-version");
        assert_eq!(verdict(&mut b).valid, Validity::Valid);
    }

    #[test]
    fn a_cas_that_succeeded_at_the_wrong_version_is_invalid() {
        let mut b = Builder::new();
        write(&mut b, 1, 2, "c1", "r0", "a", 1);
        cas_ok(&mut b, 3, 4, "c2", "r0", 0, "b");
        assert_eq!(verdict(&mut b).valid, Validity::Invalid);
    }

    #[test]
    fn a_double_apply_is_invalid() {
        // One write, but the reads see its value at versions 1 and then 2.
        let mut b = Builder::new();
        write(&mut b, 1, 2, "c1", "r0", "a", 1);
        read(&mut b, 3, 4, "c2", "r0", "a", 1);
        read(&mut b, 5, 6, "c2", "r0", "a", 2);
        assert_eq!(verdict(&mut b).valid, Validity::Invalid);
        // The same when the write's outcome is unknown: it applies at most once.
        let mut b = Builder::new();
        write_info(&mut b, 1, 2, "c1", "r0", "a");
        read(&mut b, 3, 4, "c2", "r0", "a", 1);
        read(&mut b, 5, 6, "c2", "r0", "a", 2);
        assert_eq!(verdict(&mut b).valid, Validity::Invalid);
    }

    #[test]
    fn keys_are_independent() {
        let base = || {
            let mut b = Builder::new();
            write(&mut b, 1, 2, "c1", "r0", "a", 1);
            // r1 is untouched: init at version 0 is right even after r0's write.
            read(&mut b, 3, 4, "c2", "r1", "init", 0);
            read(&mut b, 5, 6, "c2", "r0", "a", 1);
            write(&mut b, 7, 8, "c1", "r1", "b", 1);
            read(&mut b, 9, 10, "c2", "r1", "b", 1);
            b
        };
        let r = verdict(&mut base());
        assert_eq!(r.valid, Validity::Valid, "{r:?}");
        assert_eq!(r.counts["keys"], 2);
        // A violation on one key is reported for that key only.
        let mut b = base();
        read(&mut b, 11, 12, "c3", "r1", "init", 0);
        let r = verdict(&mut b);
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(r.counts["violations"], 1);
        assert_eq!(r.counterexample.unwrap()["key"], "r1");
    }

    #[test]
    fn local_reads_are_not_checked_here() {
        let mut b = Builder::new();
        write(&mut b, 1, 2, "c1", "r0", "a", 1);
        let local = |v: Option<Versioned>| Op::Read {
            key: "r0".into(),
            linearizable: false,
            value: v,
        };
        let stale = Versioned {
            data: "init".into(),
            version: 0,
            mzxid: 0,
        };
        b.op(
            3,
            4,
            "c2",
            EventType::Ok,
            local(None),
            local(Some(stale)),
            None,
        );
        let r = verdict(&mut b);
        assert_eq!(r.valid, Validity::Valid);
        assert_eq!(r.counts["reads"], 0);
    }

    #[test]
    fn an_ok_read_without_a_value_makes_the_result_unknown() {
        let mut b = Builder::new();
        b.op(
            1,
            2,
            "c1",
            EventType::Ok,
            read_op("r0", None),
            read_op("r0", None),
            None,
        );
        let r = verdict(&mut b);
        assert_eq!(r.valid, Validity::Unknown, "{r:?}");
        assert_eq!(r.counts["malformed"], 1);
        assert!(r.counterexample.unwrap().to_string().contains("malformed"));
    }

    #[test]
    fn hitting_the_search_bound_is_unknown_unless_another_key_is_invalid() {
        let mut b = Builder::new();
        for i in 0..20 {
            write(
                &mut b,
                1,
                100,
                &format!("c{i}"),
                "r0",
                &format!("v{i}"),
                i + 1,
            );
        }
        let h = b.build();
        let tiny = Limits {
            max_steps: 10,
            max_memo: 1_000,
        };
        let r = check_with_limits(&h, tiny);
        assert_eq!(r.valid, Validity::Unknown, "{r:?}");
        assert_eq!(r.counts["limited"], 1);
        assert_eq!(check(&h).valid, Validity::Valid);
        let mut b = Builder::new();
        for i in 0..20 {
            write(
                &mut b,
                1,
                100,
                &format!("c{i}"),
                "r0",
                &format!("v{i}"),
                i + 1,
            );
        }
        write(&mut b, 1, 2, "c1", "r1", "a", 1);
        read(&mut b, 3, 4, "c2", "r1", "init", 0);
        let r = check_with_limits(&b.build(), tiny);
        assert_eq!(r.valid, Validity::Invalid, "{r:?}");
        assert_eq!(r.counts["limited"], 1);
    }

    // ---- generated histories ----

    /// A generated operation as (invoked op, completed op, outcome, error).
    type Completed = (Op, Op, EventType, Option<&'static str>);
    /// A generated sequential operation: (time, invoked op, completed op, outcome, error).
    type Timed = (u64, Op, Op, EventType, Option<&'static str>);

    /// A small deterministic PRNG for the generators (xorshift64*).
    struct Rng(u64);

    impl Rng {
        fn new(seed: u64) -> Rng {
            Rng(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) | 1)
        }
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n.max(1)
        }
    }

    /// A register as the model runs it: data, version, and whether the op that set the
    /// state had a known outcome (or it is the initial state).
    #[derive(Clone)]
    struct Reg {
        data: String,
        version: i32,
        set_by_known: bool,
        /// Previous states set by known ops (or init): (data, version).
        history: Vec<(String, i32)>,
    }

    /// Generates a sequential (non-overlapping) history from a real register model. Returns
    /// the builder and, per generated linearizable read, (key, its model state, whether
    /// the state was set by a known-outcome op, the earlier known states of that key).
    fn sequential(seed: u64, len: usize) -> (Vec<Timed>, Vec<(usize, Reg)>) {
        let mut rng = Rng::new(seed);
        let mut regs: Vec<Reg> = (0..3)
            .map(|_| Reg {
                data: "init".into(),
                version: 0,
                set_by_known: true,
                history: Vec::new(),
            })
            .collect();
        let mut ops = Vec::new();
        let mut reads = Vec::new();
        for i in 0..len {
            let k = rng.below(regs.len() as u64) as usize;
            let key = format!("r{k}");
            let reg = &mut regs[k];
            let value = format!("v{i}");
            let t = i as u64 * 2;
            let apply = |reg: &mut Reg, value: &str, known: bool| {
                if reg.set_by_known {
                    reg.history.push((reg.data.clone(), reg.version));
                }
                reg.data = value.to_string();
                reg.version += 1;
                reg.set_by_known = known;
            };
            match rng.below(10) {
                0..=3 => {
                    let seen = Versioned {
                        data: reg.data.clone(),
                        version: reg.version,
                        mzxid: 0,
                    };
                    let linearizable = rng.below(4) != 0;
                    let r = |v| Op::Read {
                        key: key.clone(),
                        linearizable,
                        value: v,
                    };
                    if linearizable {
                        reads.push((ops.len(), reg.clone()));
                    }
                    ops.push((t, r(None), r(Some(seen)), EventType::Ok, None));
                }
                4..=5 => {
                    apply(reg, &value, true);
                    ops.push((
                        t,
                        write_op(&key, &value, None),
                        write_op(&key, &value, Some(reg.version)),
                        EventType::Ok,
                        None,
                    ));
                }
                6 => {
                    // Unknown outcome: takes effect now, or never.
                    let w = write_op(&key, &value, None);
                    if rng.below(2) == 0 {
                        apply(reg, &value, false);
                    }
                    ops.push((t, w.clone(), w, EventType::Info, Some("timeout")));
                }
                7 => {
                    let w = write_op(&key, &value, None);
                    ops.push((t, w.clone(), w, EventType::Fail, Some("not-ready")));
                }
                _ => {
                    let expect = if rng.below(2) == 0 {
                        reg.version
                    } else {
                        reg.version - 1 - rng.below(2) as i32
                    };
                    let c = cas_op(&key, expect, &value, None);
                    if expect == reg.version {
                        apply(reg, &value, true);
                        ops.push((
                            t,
                            c,
                            cas_op(&key, expect, &value, Some(reg.version)),
                            EventType::Ok,
                            None,
                        ));
                    } else {
                        ops.push((t, c.clone(), c, EventType::Fail, Some("bad-version")));
                    }
                }
            }
        }
        (ops, reads)
    }

    fn build(ops: &[Timed]) -> History {
        let mut b = Builder::new();
        for (i, (t, inv, done, kind, err)) in ops.iter().enumerate() {
            b.op(
                *t,
                t + 1,
                &format!("c{}", i % 4),
                *kind,
                inv.clone(),
                done.clone(),
                *err,
            );
        }
        b.build()
    }

    #[test]
    fn quickcheck_sequential_model_histories_are_valid() {
        fn prop(seed: u64, len: u8) -> TestResult {
            let (ops, _) = sequential(seed, len as usize);
            let r = check(&build(&ops));
            TestResult::from_bool(r.valid == Validity::Valid)
        }
        QuickCheck::new()
            .tests(300)
            .quickcheck(prop as fn(u64, u8) -> TestResult);
    }

    #[test]
    fn quickcheck_a_corrupted_read_is_invalid() {
        fn prop(seed: u64, len: u8, pick: u16, how: u8) -> TestResult {
            let (mut ops, reads) = sequential(seed, len as usize);
            if reads.is_empty() {
                return TestResult::discard();
            }
            let (at, reg) = &reads[pick as usize % reads.len()];
            // Corruptions that no linearization can explain (values are unique, so a
            // value written by an acknowledged write only ever has one version).
            let corrupt = match how % 3 {
                // A value nobody wrote.
                0 => ("never-written".to_string(), reg.version),
                // The right data at another version, when the data's version is fixed.
                1 if reg.set_by_known => {
                    (reg.data.clone(), reg.version + 1 + (how as i32 % 2) * -2)
                }
                // An older state, when the current one was set by an acknowledged op.
                2 if reg.set_by_known && !reg.history.is_empty() => {
                    reg.history[how as usize % reg.history.len()].clone()
                }
                _ => return TestResult::discard(),
            };
            if corrupt.0 == reg.data && corrupt.1 == reg.version {
                return TestResult::discard();
            }
            let Op::Read {
                key, linearizable, ..
            } = ops[*at].2.clone()
            else {
                return TestResult::error("not a read");
            };
            ops[*at].2 = Op::Read {
                key,
                linearizable,
                value: Some(Versioned {
                    data: corrupt.0,
                    version: corrupt.1,
                    mzxid: 0,
                }),
            };
            let r = check(&build(&ops));
            TestResult::from_bool(r.valid == Validity::Invalid && r.counts["violations"] == 1)
        }
        QuickCheck::new()
            .tests(300)
            .max_tests(3000)
            .quickcheck(prop as fn(u64, u8, u16, u8) -> TestResult);
    }

    /// A concurrent history from a real execution: `procs` processes, each doing one op at
    /// a time; every op takes effect at an instant inside its interval (or, for some
    /// unknown-outcome writes, never).
    fn concurrent(seed: u64, n: usize, keys: usize, procs: usize) -> History {
        concurrent_with(seed, n, keys, procs, 3)
    }

    fn concurrent_with(
        seed: u64,
        n: usize,
        keys: usize,
        procs: usize,
        unknown_pct: u64,
    ) -> History {
        struct Gen {
            start: u64,
            at: u64,
            end: u64,
            key: usize,
            roll: u64,
            process: String,
            unknown: bool,
            applies: bool,
        }
        let mut rng = Rng::new(seed);
        let mut gens = Vec::with_capacity(n);
        let mut clock = vec![0u64; procs];
        let mut names: Vec<String> = (0..procs).map(|p| format!("c{p}")).collect();
        let mut next_name = procs;
        for _ in 0..n {
            let p = rng.below(procs as u64) as usize;
            let start = clock[p] + rng.below(3);
            let at = start + rng.below(5);
            let end = at + rng.below(5);
            let roll = rng.below(100);
            let unknown = (30..90).contains(&roll) && rng.below(100) < unknown_pct;
            gens.push(Gen {
                start,
                at,
                end,
                key: rng.below(keys as u64) as usize,
                roll,
                process: names[p].clone(),
                unknown,
                applies: rng.below(2) == 0,
            });
            clock[p] = end + 1;
            if unknown {
                // Like the workload: after an unknown outcome, a new process.
                names[p] = format!("c{next_name}");
                next_name += 1;
            }
        }
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|&i| gens[i].at);
        let mut state: Vec<(String, i32)> = vec![("init".into(), 0); keys];
        // Per op: (invoked op, completed op, outcome, error), filled in effect order.
        let mut done: Vec<Option<Completed>> = (0..n).map(|_| None).collect();
        for i in order {
            let g = &gens[i];
            let key = format!("r{}", g.key);
            let value = format!("v{i}");
            let s = &mut state[g.key];
            done[i] = Some(if g.roll < 30 || g.roll >= 90 {
                let linearizable = g.roll < 30;
                let seen = Versioned {
                    data: s.0.clone(),
                    version: s.1,
                    mzxid: 0,
                };
                let r = |v| Op::Read {
                    key: key.clone(),
                    linearizable,
                    value: v,
                };
                (r(None), r(Some(seen)), EventType::Ok, None)
            } else if g.roll < 65 {
                let w = write_op(&key, &value, None);
                if g.unknown {
                    if g.applies {
                        *s = (value.clone(), s.1 + 1);
                    }
                    (w.clone(), w, EventType::Info, Some("timeout"))
                } else {
                    *s = (value.clone(), s.1 + 1);
                    (w, write_op(&key, &value, Some(s.1)), EventType::Ok, None)
                }
            } else {
                let expect = if g.roll % 3 == 0 { s.1 - 1 } else { s.1 };
                let c = cas_op(&key, expect, &value, None);
                if g.unknown {
                    if g.applies && expect == s.1 {
                        *s = (value.clone(), s.1 + 1);
                    }
                    (c.clone(), c, EventType::Info, Some("timeout"))
                } else if expect == s.1 {
                    *s = (value.clone(), s.1 + 1);
                    (
                        c,
                        cas_op(&key, expect, &value, Some(s.1)),
                        EventType::Ok,
                        None,
                    )
                } else {
                    (c.clone(), c, EventType::Fail, Some("bad-version"))
                }
            });
        }
        let mut b = Builder::new();
        for (g, d) in gens.iter().zip(done) {
            let Some((inv, comp, kind, err)) = d else {
                continue;
            };
            b.op(g.start, g.end, &g.process, kind, inv, comp, err);
        }
        b.build()
    }

    #[test]
    fn generated_concurrent_histories_are_valid() {
        for seed in 1..40 {
            let h = concurrent(seed, 300, 2, 6);
            let r = check(&h);
            assert_eq!(r.valid, Validity::Valid, "seed {seed}: {r:?}");
        }
    }

    #[test]
    fn generated_histories_with_many_unknown_outcomes_are_valid() {
        for seed in 1..20 {
            let h = concurrent_with(seed, 1000, 1, 8, 25);
            let r = check(&h);
            assert_eq!(r.valid, Validity::Valid, "seed {seed}: {r:?}");
            assert!(r.counts["unknown"] > 50);
        }
    }

    #[test]
    fn generated_concurrent_histories_with_a_stale_read_are_invalid() {
        // Make one linearizable read that started after a write finished return the
        // state before that write.
        let mut caught = 0;
        for seed in 1..40 {
            let mut h = concurrent(seed, 200, 1, 5);
            let ops = h.operations();
            let write = ops.iter().find(|o| {
                o.outcome() == EventType::Ok
                    && matches!(o.op(), Op::Write { version: Some(v), .. } if *v >= 2)
            });
            let Some(w) = write else { continue };
            let Op::Write {
                version: Some(v), ..
            } = w.op()
            else {
                continue;
            };
            let v = *v;
            let read = ops.iter().find(|o| {
                o.start() > w.end()
                    && o.outcome() == EventType::Ok
                    && matches!(
                        o.invoke.op,
                        Op::Read {
                            linearizable: true,
                            ..
                        }
                    )
            });
            let Some(ops_invoke) = read.map(|r| r.invoke.index) else {
                continue;
            };
            let Some(r) = read.and_then(|r| r.completion) else {
                continue;
            };
            let idx = r.index as usize;
            // The state the write replaced, as an acknowledged write of version v - 1 left it.
            let before = ops.iter().find_map(|o| match o.op() {
                Op::Write {
                    value,
                    version: Some(x),
                    ..
                } if *x == v - 1 && o.outcome() == EventType::Ok => Some(value.clone()),
                _ => None,
            });
            let Some(before) = before else { continue };
            h.events[idx].op = read_op("r0", Some((&before, v - 1)));
            let r = check(&h);
            assert_eq!(r.valid, Validity::Invalid, "seed {seed}");
            let ex = r.counterexample.unwrap_or_default();
            let read_invoke = ops_invoke;
            assert_eq!(ex["op"], read_invoke, "seed {seed}: {ex}");
            caught += 1;
        }
        assert!(caught > 10);
    }

    #[test]
    fn performance_20000_ops_5_keys_concurrency_10() {
        let h = concurrent(7, 20_000, 5, 10);
        let t = Instant::now();
        let r = check(&h);
        let took = t.elapsed();
        println!(
            "linearizable: {} ops ({} unknown) over {} keys checked in {:?}; {:?} steps",
            r.counts["ops"],
            r.counts["unknown"],
            r.counts["keys"],
            took,
            r.measurements["search_steps"]
        );
        assert_eq!(r.valid, Validity::Valid, "{r:?}");
        assert!(r.counts["unknown"] > 50);
    }

    #[test]
    fn performance_a_stale_read_late_in_a_hot_key_is_found() {
        let mut h = concurrent(13, 10_000, 1, 10);
        // Corrupt a linearizable read near the end to a value nobody wrote.
        let ops = h.operations();
        let last = ops
            .iter()
            .rev()
            .filter(|o| {
                o.outcome() == EventType::Ok
                    && matches!(
                        o.invoke.op,
                        Op::Read {
                            linearizable: true,
                            ..
                        }
                    )
            })
            .nth(50)
            .and_then(|o| o.completion.map(|c| (c.index as usize, o.invoke.index)));
        let Some((idx, invoke)) = last else {
            panic!("no read")
        };
        h.events[idx].op = read_op("r0", Some(("stale", 0)));
        let t = Instant::now();
        let r = check(&h);
        println!(
            "linearizable: invalid hot key ({} ops) decided in {:?}; {:?} steps",
            r.counts["ops"],
            t.elapsed(),
            r.measurements["search_steps"]
        );
        assert_eq!(r.valid, Validity::Invalid, "{r:?}");
        assert_eq!(r.counterexample.unwrap()["op"], invoke);
    }

    /// Adds a write with an unknown outcome (that never took effect) just before a late
    /// linearizable read (the `nth` from the end whose state an acknowledged write
    /// produced), and makes the read return that write's value at the same version. No
    /// pre-pass can see it (the value may have been written; the version is plausible):
    /// only the search finds that the acknowledged write owns that version. Returns the
    /// invoke indexes of the read and of the acknowledged write.
    fn corrupt_late_read(h: &mut History, nth: usize) -> Option<(u64, u64)> {
        let ops = h.operations();
        let acked: HashMap<&str, (i32, u64)> = ops
            .iter()
            .filter(|o| o.outcome() == EventType::Ok)
            .filter_map(|o| match o.op() {
                Op::Write {
                    value,
                    version: Some(v),
                    ..
                }
                | Op::Cas {
                    value,
                    version: Some(v),
                    ..
                } => Some((value.as_str(), (*v, o.invoke.id))),
                _ => None,
            })
            .collect();
        let (read_id, writer_id, version, start) = ops
            .iter()
            .rev()
            .filter(|o| {
                o.outcome() == EventType::Ok
                    && matches!(
                        o.invoke.op,
                        Op::Read {
                            linearizable: true,
                            ..
                        }
                    )
            })
            .filter_map(|o| match o.op() {
                Op::Read { value: Some(v), .. } => match acked.get(v.data.as_str()) {
                    Some(&(w, id)) if w == v.version => {
                        Some((o.invoke.id, id, v.version, o.start()))
                    }
                    _ => None,
                },
                _ => None,
            })
            .nth(nth)?;
        let fresh = h.events.iter().map(|e| e.id).max().unwrap_or(0) + 1;
        let mut lost = h.events.iter().find(|e| e.id == read_id)?.clone();
        lost.id = fresh;
        lost.time = start.saturating_sub(1);
        lost.process = "lost".into();
        lost.op = write_op("r0", "lost-write", None);
        h.events.push(lost);
        h.events.sort_by_key(|e| e.time);
        for (i, e) in h.events.iter_mut().enumerate() {
            e.index = i as u64;
        }
        for e in h.events.iter_mut() {
            if e.id == read_id && e.kind == EventType::Ok {
                e.op = read_op("r0", Some(("lost-write", version)));
            }
        }
        let invoke_of = |id: u64| {
            h.events
                .iter()
                .find(|e| e.id == id && e.kind == EventType::Invoke)
                .map(|e| e.index)
        };
        Some((invoke_of(read_id)?, invoke_of(writer_id)?))
    }

    #[test]
    fn performance_a_late_impossible_read_in_a_hot_key_is_found_by_the_search() {
        let mut h = concurrent(17, 10_000, 1, 10);
        let Some((read, writer)) = corrupt_late_read(&mut h, 50) else {
            panic!("nothing to corrupt")
        };
        let t = Instant::now();
        let r = check(&h);
        println!(
            "linearizable: impossible late read in a hot key ({} ops) refuted in {:?}; {:?} steps",
            r.counts["ops"],
            t.elapsed(),
            r.measurements["search_steps"]
        );
        assert_eq!(r.valid, Validity::Invalid, "{r:?}");
        let ex = r.counterexample.unwrap();
        // The search gets that far and blames the read or the write that owns its version.
        assert!(ex["op"] == read || ex["op"] == writer, "{ex}");
        assert!(ex["linearized"].as_u64().unwrap_or(0) > 5000, "{ex}");
    }

    #[test]
    fn performance_one_hot_key_concurrency_10() {
        let h = concurrent(11, 10_000, 1, 10);
        let t = Instant::now();
        let r = check(&h);
        println!(
            "linearizable: {} ops ({} unknown) on one key checked in {:?}; {:?} steps",
            r.counts["ops"],
            r.counts["unknown"],
            t.elapsed(),
            r.measurements["search_steps"]
        );
        assert_eq!(r.valid, Validity::Valid, "{r:?}");
    }
}
