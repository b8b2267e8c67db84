//! The local-read checker for the register workload: the weaker promise of reads served
//! from a member's own tree (`linearizable: false`), which may be stale but never
//! inconsistent, and never older than what the session has already seen.
//!
//! Properties checked, for every ok local read, by a process `P` of a key `K` (process
//! names are identities: the workload starts a new name for each session, and after an
//! operation whose outcome is unknown). Only operations of `P` that *completed before the
//! read was invoked* count as earlier (a process does one operation at a time, so this is
//! its invocation order):
//! - **(a) no going back in time**: the read's version is at least that of every earlier
//!   ok read of `K` by `P` (local or linearizable). Across keys, versions are unrelated,
//!   so the session's position is compared through zxids instead: once `P` has read any
//!   node with mzxid `m`, its member had applied every transaction up to `m`, so a later
//!   read of `K` must show at least the highest version of `K` that any read in the
//!   history showed with an mzxid `<= m`.
//! - **(b) read-your-writes**: the read's version is at least the resulting version of
//!   every earlier acknowledged write or CAS of `K` by `P`.
//! - **(c) the value is real and consistent**: the data was written to `K` by a write or
//!   CAS that did not definitely fail (or is `init`); a value written by an acknowledged
//!   operation whose resulting version is known is read at that version (`init` at 0);
//!   and across every ok read in the history (local or linearizable), one value of `K`
//!   always comes with one version, and one version of `K` with one value and one mzxid.
//!
//! Each read is reported at most once, for the first of (c), (b), (a) it breaks. Checks
//! that need a value written exactly once skip values written more than once (the
//! workload writes unique values; such a history is malformed and the result is at best
//! `Unknown`), as do ok local reads without a value.
use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{json, Value};

use crate::checker::{CheckResult, Validity};
use crate::history::{EventType, History, Op, Operation, Versioned};

/// Checks the local reads of a register history against properties (a), (b) and (c) of
/// the module documentation. `Valid` means every ok local read keeps them; `Invalid`
/// means one does not (the counterexample names the read, the earlier event it
/// contradicts and both values); `Unknown` means nothing was violated but some local
/// reads or writes were malformed and could not be checked.
pub fn check(history: &History) -> CheckResult {
    let mut r = CheckResult::new("register-local");
    for c in [
        "reads",
        "processes",
        "violations",
        "unknown_value",
        "inconsistent",
        "missed_own_write",
        "went_back",
        "went_back_zxid",
        "malformed",
    ] {
        r.count(c, 0);
    }
    let ops = history.operations();
    let facts = Facts::collect(&ops);
    r.count("malformed", facts.malformed.len() as u64);
    let by_id: HashMap<u64, &Operation<'_>> = ops.iter().map(|o| (o.invoke.id, o)).collect();
    let mut sessions: HashMap<&str, Session<'_>> = HashMap::new();
    let mut pending: HashMap<u64, Snapshot<'_>> = HashMap::new();
    let mut readers: HashSet<&str> = HashSet::new();
    let mut malformed_reads = Vec::new();
    for e in &history.events {
        let Some(o) = by_id.get(&e.id) else { continue };
        let process = o.invoke.process.as_str();
        if e.kind == EventType::Invoke {
            if e.index != o.invoke.index {
                continue;
            }
            if let Op::Read {
                key,
                linearizable: false,
                ..
            } = &o.invoke.op
            {
                let s = sessions.entry(process).or_default();
                pending.insert(e.id, s.snapshot(key));
            }
            continue;
        }
        if o.completion.map(|c| c.index) != Some(e.index) || e.kind != EventType::Ok {
            continue;
        }
        match (&o.invoke.op, &e.op) {
            (
                Op::Read {
                    key, linearizable, ..
                },
                done,
            ) => {
                let value = match done {
                    Op::Read {
                        key: k2,
                        value: Some(v),
                        ..
                    } if k2 == key => v,
                    _ => {
                        if !linearizable {
                            malformed_reads.push(json!({"read": o.invoke.index, "why": "ok local read without a value of its key"}));
                        }
                        continue;
                    }
                };
                if !linearizable {
                    r.count("reads", 1);
                    readers.insert(process);
                    if let Some(snap) = pending.remove(&e.id) {
                        let read = Read {
                            process,
                            key,
                            index: o.invoke.index,
                            value,
                        };
                        if let Some((kind, example)) = judge(&facts, &snap, &read) {
                            r.count(kind, 1);
                            r.violation(example);
                        }
                    }
                }
                sessions
                    .entry(process)
                    .or_default()
                    .saw(key, o.invoke.index, value);
            }
            (Op::Write { key, .. } | Op::Cas { key, .. }, done) => {
                if let Some((v, value)) = resulting_version(&o.invoke.op, done) {
                    sessions
                        .entry(process)
                        .or_default()
                        .wrote(key, o.invoke.index, v, value);
                }
            }
            _ => {}
        }
    }
    r.count("processes", readers.len() as u64);
    r.count("malformed", malformed_reads.len() as u64);
    if r.valid == Validity::Valid && (!facts.malformed.is_empty() || !malformed_reads.is_empty()) {
        let mut all = facts.malformed.clone();
        all.extend(malformed_reads);
        all.truncate(20);
        r.valid = Validity::Unknown;
        r.counterexample = Some(json!({
            "problem": "malformed register operations could not be checked",
            "examples": all,
        }));
    }
    r
}

/// The resulting version (and value) of an acknowledged write or CAS whose completion
/// matches its invocation, when known.
fn resulting_version<'a>(invoked: &'a Op, done: &'a Op) -> Option<(i64, &'a str)> {
    match (invoked, done) {
        (
            Op::Write { key, value, .. },
            Op::Write {
                key: k2,
                value: v2,
                version: Some(v),
            },
        ) if key == k2 && value == v2 => Some((i64::from(*v), value)),
        (
            Op::Cas {
                key, value, expect, ..
            },
            Op::Cas {
                key: k2,
                value: v2,
                expect: e2,
                version,
            },
        ) if key == k2 && value == v2 && expect == e2 => {
            Some((version.map_or(i64::from(*expect) + 1, i64::from), value))
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------
// What the whole history says about values.

/// How a value's write ended.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Outcome {
    /// Acknowledged, with this resulting version if known.
    Ok(Option<i64>),
    /// Definitely did not take effect.
    Failed,
    /// May or may not have taken effect.
    Unknown,
}

/// One write or CAS of a value.
#[derive(Clone, Copy, Debug)]
struct Written {
    outcome: Outcome,
    /// Its invoke index.
    index: u64,
}

/// The first ok read (by invocation) that showed something.
#[derive(Clone, Debug)]
struct Seen<'a> {
    index: u64,
    value: &'a Versioned,
}

/// Facts from the whole history that every local read is judged against.
#[derive(Default)]
struct Facts<'a> {
    /// (key, value) -> its writes (more than one: malformed).
    writes: HashMap<(&'a str, &'a str), Vec<Written>>,
    /// value -> the keys it was written to (to name the key of a misplaced value).
    keys_of: HashMap<&'a str, Vec<&'a str>>,
    /// (key, data) -> the first ok read of it; (key, version) -> likewise.
    by_data: HashMap<(&'a str, &'a str), Seen<'a>>,
    by_version: HashMap<(&'a str, i32), Seen<'a>>,
    /// key -> every (mzxid, version, read index) the ok reads showed, sorted by mzxid,
    /// with the running maximum of the version (and the read that showed it).
    zxids: BTreeMap<&'a str, Vec<(u64, i32, u64)>>,
    /// Malformed register operations.
    malformed: Vec<Value>,
}

impl<'a> Facts<'a> {
    fn collect(ops: &[Operation<'a>]) -> Facts<'a> {
        let mut f = Facts::default();
        for o in ops {
            match (&o.invoke.op, o.outcome()) {
                (Op::Write { key, value, .. } | Op::Cas { key, value, .. }, outcome) => {
                    let outcome = match outcome {
                        EventType::Fail => Outcome::Failed,
                        EventType::Ok => match o
                            .completion
                            .and_then(|c| resulting_version(&o.invoke.op, &c.op))
                        {
                            Some((v, _)) => Outcome::Ok(Some(v)),
                            None => Outcome::Ok(None),
                        },
                        _ => Outcome::Unknown,
                    };
                    let w = f.writes.entry((key.as_str(), value.as_str())).or_default();
                    w.push(Written {
                        outcome,
                        index: o.invoke.index,
                    });
                    if w.len() == 2 || value == "init" {
                        f.malformed.push(json!({
                            "op": o.invoke.index,
                            "why": "a value written more than once (or `init` written)",
                        }));
                    }
                    let keys = f.keys_of.entry(value.as_str()).or_default();
                    if !keys.contains(&key.as_str()) {
                        keys.push(key.as_str());
                    }
                }
                (Op::Read { key, .. }, EventType::Ok) => {
                    let Some(Op::Read {
                        key: k2,
                        value: Some(v),
                        ..
                    }) = o.completion.map(|c| &c.op)
                    else {
                        continue;
                    };
                    if k2 != key {
                        continue;
                    }
                    let seen = Seen {
                        index: o.invoke.index,
                        value: v,
                    };
                    f.by_data
                        .entry((key.as_str(), v.data.as_str()))
                        .or_insert_with(|| seen.clone());
                    f.by_version
                        .entry((key.as_str(), v.version))
                        .or_insert(seen);
                    f.zxids.entry(key.as_str()).or_default().push((
                        v.mzxid,
                        v.version,
                        o.invoke.index,
                    ));
                }
                _ => {}
            }
        }
        for list in f.zxids.values_mut() {
            list.sort_unstable();
            // Turn each entry's version into the running maximum (keeping its reader).
            let mut best: Option<(i32, u64)> = None;
            for e in list.iter_mut() {
                if best.is_none_or(|(v, _)| e.1 > v) {
                    best = Some((e.1, e.2));
                }
                if let Some((v, i)) = best {
                    e.1 = v;
                    e.2 = i;
                }
            }
        }
        f
    }

    /// The single write of `value` to `key`, if it was written exactly once.
    fn write_of(&self, key: &str, value: &str) -> Option<Written> {
        match self.writes.get(&(key, value)).map(Vec::as_slice) {
            Some([w]) => Some(*w),
            _ => None,
        }
    }

    /// The highest version of `key` any read showed with an mzxid at most `m`, and that
    /// read's invoke index.
    fn version_by_zxid(&self, key: &str, m: u64) -> Option<(i32, u64)> {
        let list = self.zxids.get(key)?;
        let n = list.partition_point(|e| e.0 <= m);
        n.checked_sub(1).map(|i| (list[i].1, list[i].2))
    }
}

// ---------------------------------------------------------------------------------------
// What each session has seen.

/// An earlier event of the session: its invoke index and what it showed or wrote.
#[derive(Clone, Debug)]
struct Mark<'a> {
    index: u64,
    version: i64,
    value: Value,
    key: &'a str,
    mzxid: u64,
}

/// Per process: the highest version read and written per key, and the highest mzxid read.
#[derive(Default)]
struct Session<'a> {
    read: HashMap<&'a str, Mark<'a>>,
    wrote: HashMap<&'a str, Mark<'a>>,
    zxid: Option<Mark<'a>>,
}

/// A session's marks for one key (and its zxid) when a local read of it was invoked.
struct Snapshot<'a> {
    read: Option<Mark<'a>>,
    wrote: Option<Mark<'a>>,
    zxid: Option<Mark<'a>>,
}

impl<'a> Session<'a> {
    fn snapshot(&self, key: &str) -> Snapshot<'a> {
        Snapshot {
            read: self.read.get(key).cloned(),
            wrote: self.wrote.get(key).cloned(),
            zxid: self.zxid.clone(),
        }
    }

    fn saw(&mut self, key: &'a str, index: u64, v: &'a Versioned) {
        let mark = Mark {
            index,
            version: i64::from(v.version),
            value: versioned(v),
            key,
            mzxid: v.mzxid,
        };
        if self.zxid.as_ref().is_none_or(|m| v.mzxid > m.mzxid) {
            self.zxid = Some(mark.clone());
        }
        let slot = self.read.entry(key).or_insert_with(|| mark.clone());
        if mark.version > slot.version {
            *slot = mark;
        }
    }

    fn wrote(&mut self, key: &'a str, index: u64, version: i64, value: &str) {
        let mark = Mark {
            index,
            version,
            value: json!({"data": value, "version": version}),
            key,
            mzxid: 0,
        };
        let slot = self.wrote.entry(key).or_insert_with(|| mark.clone());
        if mark.version > slot.version {
            *slot = mark;
        }
    }
}

fn versioned(v: &Versioned) -> Value {
    json!({"data": v.data, "version": v.version, "mzxid": v.mzxid})
}

/// An ok local read being judged.
struct Read<'a> {
    process: &'a str,
    key: &'a str,
    index: u64,
    value: &'a Versioned,
}

/// The first property the read breaks, as (count name, counterexample).
fn judge(f: &Facts<'_>, snap: &Snapshot<'_>, read: &Read<'_>) -> Option<(&'static str, Value)> {
    let v = read.value;
    let base = |problem: &str| {
        json!({
            "problem": problem,
            "process": read.process,
            "key": read.key,
            "read": read.index,
            "value": versioned(v),
        })
    };
    let with = |mut ex: Value, fields: Value| {
        if let (Some(m), Value::Object(extra)) = (ex.as_object_mut(), fields) {
            m.extend(extra);
        }
        ex
    };
    // (c) the value is real and consistent.
    if v.data == "init" {
        if !f.writes.contains_key(&(read.key, "init")) && v.version != 0 {
            return Some(("inconsistent", base("init read at a version other than 0")));
        }
    } else {
        match f.writes.get(&(read.key, v.data.as_str())) {
            None => {
                let elsewhere = f.keys_of.get(v.data.as_str()).cloned().unwrap_or_default();
                return Some((
                    "unknown_value",
                    with(
                        base("a value nobody wrote to this key"),
                        json!({"written_to_other_keys": elsewhere}),
                    ),
                ));
            }
            Some(_) => match f.write_of(read.key, &v.data) {
                Some(w) if w.outcome == Outcome::Failed => {
                    return Some((
                        "unknown_value",
                        with(
                            base("a value whose write definitely failed"),
                            json!({"write": w.index}),
                        ),
                    ));
                }
                Some(Written {
                    outcome: Outcome::Ok(Some(wv)),
                    index,
                }) if wv != i64::from(v.version) => {
                    return Some((
                        "inconsistent",
                        with(
                            base("a value read at a version other than the one its write produced"),
                            json!({"write": index, "write_version": wv}),
                        ),
                    ));
                }
                _ => {}
            },
        }
    }
    let unique = v.data == "init" && !f.writes.contains_key(&(read.key, "init"))
        || f.write_of(read.key, &v.data).is_some();
    if unique {
        if let Some(s) = f.by_data.get(&(read.key, v.data.as_str())) {
            if s.value.version != v.version {
                return Some((
                    "inconsistent",
                    with(
                        base("one value read at two versions (a value is written once)"),
                        json!({"earlier": s.index, "earlier_value": versioned(s.value)}),
                    ),
                ));
            }
        }
    }
    if let Some(s) = f.by_version.get(&(read.key, v.version)) {
        if s.value.data != v.data || s.value.mzxid != v.mzxid {
            return Some((
                "inconsistent",
                with(
                    base("one version read with two values or two mzxids"),
                    json!({"earlier": s.index, "earlier_value": versioned(s.value)}),
                ),
            ));
        }
    }
    let version = i64::from(v.version);
    // (b) read-your-writes.
    if let Some(w) = snap.wrote.as_ref().filter(|w| version < w.version) {
        return Some((
            "missed_own_write",
            with(
                base("the session's own acknowledged write is missing"),
                json!({"earlier": w.index, "earlier_value": w.value}),
            ),
        ));
    }
    // (a) no going back in time: the same key by version.
    if let Some(s) = snap.read.as_ref().filter(|s| version < s.version) {
        return Some((
            "went_back",
            with(
                base("older than what the session had already read of this key"),
                json!({"earlier": s.index, "earlier_value": s.value}),
            ),
        ));
    }
    // (a) across keys, by zxid.
    if let Some(z) = &snap.zxid {
        if let Some((newer, by)) = f.version_by_zxid(read.key, z.mzxid) {
            if version < i64::from(newer) {
                return Some((
                    "went_back_zxid",
                    with(
                        base("older than the session's zxid: the session had read a node at mzxid `earlier_value.mzxid`, by which this key had version `version_by_then`"),
                        json!({
                            "earlier": z.index,
                            "earlier_key": z.key,
                            "earlier_value": z.value,
                            "version_by_then": newer,
                            "shown_by": by,
                        }),
                    ),
                ));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use quickcheck::{QuickCheck, TestResult};

    use super::*;
    use crate::history::build::Builder;

    fn read_op(key: &str, linearizable: bool, value: Option<(&str, i32, u64)>) -> Op {
        Op::Read {
            key: key.into(),
            linearizable,
            value: value.map(|(d, v, z)| Versioned {
                data: d.into(),
                version: v,
                mzxid: z,
            }),
        }
    }

    /// An ok local read by `p` of `key` over [t, t+1] that saw (data, version, mzxid).
    fn local(b: &mut Builder, t: u64, p: &str, key: &str, seen: (&str, i32, u64)) {
        b.op(
            t,
            t + 1,
            p,
            EventType::Ok,
            read_op(key, false, None),
            read_op(key, false, Some(seen)),
            None,
        );
    }

    fn lin(b: &mut Builder, t: u64, p: &str, key: &str, seen: (&str, i32, u64)) {
        b.op(
            t,
            t + 1,
            p,
            EventType::Ok,
            read_op(key, true, None),
            read_op(key, true, Some(seen)),
            None,
        );
    }

    fn write_op(key: &str, value: &str, version: Option<i32>) -> Op {
        Op::Write {
            key: key.into(),
            value: value.into(),
            version,
        }
    }

    /// An acknowledged write by `p` over [t, t+1] with resulting version `version`.
    fn write(b: &mut Builder, t: u64, p: &str, key: &str, value: &str, version: i32) {
        b.op(
            t,
            t + 1,
            p,
            EventType::Ok,
            write_op(key, value, None),
            write_op(key, value, Some(version)),
            None,
        );
    }

    fn verdict(b: &mut Builder) -> CheckResult {
        check(&b.build())
    }

    /// init at mzxid 1 (r0) and 2 (r1); writes at later zxids.
    fn base() -> Builder {
        let mut b = Builder::new();
        write(&mut b, 10, "c1", "r0", "a", 1); // zxid 3
        write(&mut b, 20, "c1", "r0", "b", 2); // zxid 4
        write(&mut b, 30, "c2", "r1", "x", 1); // zxid 5
        b
    }

    #[test]
    fn an_empty_history_is_valid() {
        let r = check(&History::default());
        assert_eq!(r.valid, Validity::Valid);
        assert_eq!(r.counts["reads"], 0);
    }

    #[test]
    fn a_consistent_history_is_valid() {
        let mut b = base();
        local(&mut b, 1, "c3", "r0", ("init", 0, 1));
        local(&mut b, 12, "c3", "r0", ("init", 0, 1)); // stale but not going back
        local(&mut b, 14, "c3", "r0", ("a", 1, 3));
        local(&mut b, 22, "c1", "r0", ("b", 2, 4)); // c1 sees its own write
        local(&mut b, 24, "c3", "r0", ("a", 1, 3)); // c3 still lags behind b
        local(&mut b, 26, "c3", "r0", ("b", 2, 4));
        local(&mut b, 40, "c3", "r1", ("x", 1, 5));
        let r = verdict(&mut b);
        assert_eq!(r.valid, Validity::Valid, "{r:?}");
        assert_eq!(r.counts["reads"], 7);
        assert_eq!(r.counts["processes"], 2);
        assert_eq!(r.counts["violations"], 0);
    }

    #[test]
    fn going_back_in_time_is_invalid() {
        let mut b = base();
        local(&mut b, 22, "c3", "r0", ("b", 2, 4));
        local(&mut b, 24, "c3", "r0", ("a", 1, 3));
        let r = verdict(&mut b);
        assert_eq!(r.valid, Validity::Invalid, "{r:?}");
        assert_eq!(r.counts["went_back"], 1);
        let ex = r.counterexample.unwrap();
        // The read invoked at event 6 went back from the one invoked at event 4.
        assert_eq!(ex["read"], 6);
        assert_eq!(ex["value"]["data"], "a");
        assert_eq!(ex["earlier"], 4);
        assert_eq!(ex["earlier_value"]["data"], "b");
        assert_eq!(ex["process"], "c3");
    }

    #[test]
    fn going_back_after_a_linearizable_read_is_invalid() {
        let mut b = base();
        lin(&mut b, 22, "c3", "r0", ("b", 2, 4));
        local(&mut b, 24, "c3", "r0", ("a", 1, 3));
        let r = verdict(&mut b);
        assert_eq!(r.valid, Validity::Invalid, "{r:?}");
        assert_eq!(r.counts["went_back"], 1);
        assert_eq!(r.counts["reads"], 1);
    }

    #[test]
    fn a_missed_own_write_is_invalid() {
        let mut b = base();
        local(&mut b, 22, "c1", "r0", ("a", 1, 3));
        let r = verdict(&mut b);
        assert_eq!(r.valid, Validity::Invalid, "{r:?}");
        assert_eq!(r.counts["missed_own_write"], 1);
        let ex = r.counterexample.unwrap();
        assert_eq!(ex["earlier"], 2);
        assert_eq!(ex["earlier_value"]["data"], "b");
    }

    #[test]
    fn a_read_of_a_value_nobody_wrote_is_invalid() {
        let mut b = base();
        local(&mut b, 40, "c3", "r0", ("zzz", 3, 9));
        let r = verdict(&mut b);
        assert_eq!(r.valid, Validity::Invalid, "{r:?}");
        assert_eq!(r.counts["unknown_value"], 1);
        // A value written to another key is not this key's.
        let mut b = base();
        local(&mut b, 40, "c3", "r0", ("x", 1, 5));
        let r = verdict(&mut b);
        assert_eq!(r.valid, Validity::Invalid, "{r:?}");
        assert_eq!(
            r.counterexample.unwrap()["written_to_other_keys"],
            json!(["r1"])
        );
    }

    #[test]
    fn a_read_of_a_value_whose_write_failed_is_invalid() {
        let mut b = base();
        let w = write_op("r0", "f", None);
        b.op(
            40,
            41,
            "c1",
            EventType::Fail,
            w.clone(),
            w,
            Some("not-ready"),
        );
        local(&mut b, 50, "c3", "r0", ("f", 3, 9));
        let r = verdict(&mut b);
        assert_eq!(r.valid, Validity::Invalid, "{r:?}");
        assert_eq!(r.counterexample.unwrap()["write"], 6);
    }

    #[test]
    fn a_value_of_an_unknown_write_may_be_read() {
        let mut b = base();
        let w = write_op("r0", "u", None);
        b.op(40, 41, "c1", EventType::Info, w.clone(), w, Some("timeout"));
        local(&mut b, 50, "c3", "r0", ("u", 3, 9));
        assert_eq!(verdict(&mut b).valid, Validity::Valid);
    }

    #[test]
    fn inconsistent_versions_are_invalid() {
        // The write of "a" produced version 1.
        let mut b = base();
        local(&mut b, 40, "c3", "r0", ("a", 2, 3));
        let r = verdict(&mut b);
        assert_eq!(r.valid, Validity::Invalid, "{r:?}");
        assert_eq!(r.counterexample.unwrap()["write_version"], 1);
        // init is version 0.
        let mut b = base();
        local(&mut b, 40, "c3", "r0", ("init", 1, 1));
        assert_eq!(verdict(&mut b).valid, Validity::Invalid);
        // Version 2 is "b" (as another read showed), not "u".
        let mut b = base();
        let w = write_op("r0", "u", None);
        b.op(40, 41, "c1", EventType::Info, w.clone(), w, Some("timeout"));
        lin(&mut b, 42, "c2", "r0", ("b", 2, 4));
        local(&mut b, 50, "c3", "r0", ("u", 2, 4));
        let r = verdict(&mut b);
        assert_eq!(r.valid, Validity::Invalid, "{r:?}");
        assert_eq!(r.counterexample.unwrap()["earlier"], 8);
        // One version, two mzxids.
        let mut b = base();
        local(&mut b, 40, "c3", "r0", ("b", 2, 4));
        local(&mut b, 42, "c4", "r0", ("b", 2, 7));
        assert_eq!(verdict(&mut b).valid, Validity::Invalid);
    }

    #[test]
    fn a_read_by_another_process_may_be_stale() {
        let mut b = base();
        // c1 wrote "b" (version 2) and read it; c3 reads later and still sees "a", then
        // init of r1 long after "x" was written: stale, but c3 never saw newer.
        local(&mut b, 22, "c1", "r0", ("b", 2, 4));
        local(&mut b, 40, "c3", "r0", ("a", 1, 3));
        local(&mut b, 42, "c3", "r1", ("init", 0, 2));
        let r = verdict(&mut b);
        assert_eq!(r.valid, Validity::Valid, "{r:?}");
    }

    #[test]
    fn going_back_across_keys_by_zxid_is_invalid() {
        let mut b = base();
        // Somebody saw r1 at version 1 with mzxid 5.
        lin(&mut b, 40, "c2", "r1", ("x", 1, 5));
        // c3 reads r0 at mzxid 4 ... then r1 at init (mzxid 2): fine, 4 < 5.
        local(&mut b, 42, "c3", "r0", ("b", 2, 4));
        local(&mut b, 44, "c3", "r1", ("init", 0, 2));
        assert_eq!(verdict(&mut b).valid, Validity::Valid);
        // c4 had seen zxid 5 (r1's "x") and then reads r0 as "a" (version 1), though r0
        // was at version 2 by zxid 4.
        let mut b = base();
        lin(&mut b, 40, "c2", "r0", ("b", 2, 4));
        local(&mut b, 42, "c4", "r1", ("x", 1, 5));
        local(&mut b, 44, "c4", "r0", ("a", 1, 3));
        let r = verdict(&mut b);
        assert_eq!(r.valid, Validity::Invalid, "{r:?}");
        assert_eq!(r.counts["went_back_zxid"], 1);
        let ex = r.counterexample.unwrap();
        assert_eq!(ex["earlier_key"], "r1");
        assert_eq!(ex["version_by_then"], 2);
        assert_eq!(ex["shown_by"], 6);
    }

    #[test]
    fn only_operations_completed_before_the_read_count() {
        // c3's linearizable read of "b" completes after its local read was invoked (they
        // overlap, which a process should not do): the local read is not judged by it.
        let mut b = base();
        b.op(
            22,
            30,
            "c3",
            EventType::Ok,
            read_op("r0", true, None),
            read_op("r0", true, Some(("b", 2, 4))),
            None,
        );
        local(&mut b, 24, "c3", "r0", ("a", 1, 3));
        assert_eq!(verdict(&mut b).valid, Validity::Valid);
    }

    #[test]
    fn a_reused_process_name_is_one_identity() {
        let mut b = base();
        local(&mut b, 22, "c3", "r0", ("b", 2, 4));
        local(&mut b, 100, "c3", "r0", ("a", 1, 3));
        assert_eq!(verdict(&mut b).valid, Validity::Invalid);
    }

    #[test]
    fn malformed_reads_make_the_result_unknown() {
        let mut b = base();
        b.op(
            40,
            41,
            "c3",
            EventType::Ok,
            read_op("r0", false, None),
            read_op("r0", false, None),
            None,
        );
        let r = verdict(&mut b);
        assert_eq!(r.valid, Validity::Unknown, "{r:?}");
        assert_eq!(r.counts["malformed"], 1);
    }

    // ---- generated histories ----

    /// A register state as a read shows it: (data, version, mzxid).
    type Shown = (String, i32, u64);
    /// A generated operation: (process, invoked op, completed op, outcome).
    type GenOp = (String, Op, Op, EventType);
    /// For each generated local read: its position, and its key's states older than the
    /// session's floor for that key.
    type LocalRead = (usize, Vec<Shown>);

    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n.max(1)
        }
    }

    /// A sequential history from a model of lagging replicas: every change has a zxid;
    /// a local read returns each key as of some zxid between the session's (the highest
    /// it has seen or written) and now. Returns the builder's ops and, for each local read,
    /// (op position, the older states of its key below the session's floor for it).
    fn lagging(seed: u64, len: usize) -> (Vec<GenOp>, Vec<LocalRead>) {
        let mut rng = Rng(seed | 1);
        let keys = 3usize;
        let procs = 4usize;
        // Per key: (zxid, data, version) in order; init created at zxids 1..=keys.
        let mut states: Vec<Vec<(u64, String, i32)>> = (0..keys)
            .map(|k| vec![(k as u64 + 1, "init".to_string(), 0)])
            .collect();
        let mut zxid = keys as u64;
        let mut session = vec![0u64; procs];
        // Per (process, key): the highest version seen or written.
        let mut floor = vec![vec![0i32; keys]; procs];
        let mut ops = Vec::new();
        let mut local_reads = Vec::new();
        for i in 0..len {
            let p = rng.below(procs as u64) as usize;
            let k = rng.below(keys as u64) as usize;
            let key = format!("r{k}");
            let process = format!("c{p}");
            match rng.below(10) {
                0..=5 => {
                    let linearizable = rng.below(3) == 0;
                    let z = if linearizable {
                        zxid
                    } else {
                        session[p] + rng.below(zxid - session[p] + 1)
                    };
                    let Some(s) = states[k].iter().rev().find(|s| s.0 <= z) else {
                        continue;
                    };
                    let seen = (s.1.clone(), s.2, s.0);
                    if !linearizable {
                        let older = states[k]
                            .iter()
                            .filter(|o| o.2 < floor[p][k])
                            .map(|o| (o.1.clone(), o.2, o.0))
                            .collect();
                        local_reads.push((ops.len(), older));
                    }
                    session[p] = session[p].max(z);
                    floor[p][k] = floor[p][k].max(seen.1);
                    let r = |v: Option<(&str, i32, u64)>| read_op(&key, linearizable, v);
                    ops.push((
                        process,
                        r(None),
                        r(Some((&seen.0, seen.1, seen.2))),
                        EventType::Ok,
                    ));
                }
                6..=7 => {
                    zxid += 1;
                    let value = format!("v{i}");
                    let version = states[k].last().map_or(0, |s| s.2) + 1;
                    states[k].push((zxid, value.clone(), version));
                    session[p] = zxid;
                    floor[p][k] = version;
                    ops.push((
                        process,
                        write_op(&key, &value, None),
                        write_op(&key, &value, Some(version)),
                        EventType::Ok,
                    ));
                }
                8 => {
                    // Unknown outcome: applied or not; the session is not told either way.
                    let value = format!("v{i}");
                    if rng.below(2) == 0 {
                        zxid += 1;
                        let version = states[k].last().map_or(0, |s| s.2) + 1;
                        states[k].push((zxid, value.clone(), version));
                    }
                    let w = write_op(&key, &value, None);
                    ops.push((process, w.clone(), w, EventType::Info));
                }
                _ => {
                    let w = write_op(&key, &format!("v{i}"), None);
                    ops.push((process, w.clone(), w, EventType::Fail));
                }
            }
        }
        (ops, local_reads)
    }

    fn build(ops: &[GenOp]) -> History {
        let mut b = Builder::new();
        for (i, (p, inv, done, kind)) in ops.iter().enumerate() {
            let t = i as u64 * 2;
            let err = match kind {
                EventType::Info => Some("timeout"),
                EventType::Fail => Some("not-ready"),
                _ => None,
            };
            b.op(t, t + 1, p, *kind, inv.clone(), done.clone(), err);
        }
        b.build()
    }

    #[test]
    fn quickcheck_lagging_replicas_are_valid() {
        fn prop(seed: u64, len: u8) -> TestResult {
            let (ops, _) = lagging(seed, len as usize);
            let r = check(&build(&ops));
            TestResult::from_bool(r.valid == Validity::Valid)
        }
        QuickCheck::new()
            .tests(300)
            .quickcheck(prop as fn(u64, u8) -> TestResult);
    }

    #[test]
    fn quickcheck_a_local_read_below_the_sessions_floor_is_invalid() {
        fn prop(seed: u64, len: u8, pick: u16, which: u16) -> TestResult {
            let (mut ops, reads) = lagging(seed, len as usize);
            let candidates: Vec<&LocalRead> = reads
                .iter()
                .filter(|(_, older)| !older.is_empty())
                .collect();
            if candidates.is_empty() {
                return TestResult::discard();
            }
            let (at, older) = candidates[pick as usize % candidates.len()];
            let (data, version, mzxid) = &older[which as usize % older.len()];
            let Op::Read { key, .. } = ops[*at].1.clone() else {
                return TestResult::error("not a read");
            };
            ops[*at].2 = read_op(&key, false, Some((data, *version, *mzxid)));
            let r = check(&build(&ops));
            TestResult::from_bool(r.valid == Validity::Invalid && r.counts["violations"] == 1)
        }
        QuickCheck::new()
            .tests(300)
            .max_tests(5000)
            .quickcheck(prop as fn(u64, u8, u16, u16) -> TestResult);
    }
}
