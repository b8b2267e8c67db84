//! The lock checker. A hold lasts from the acquire's ok to the moment its holder stopped
//! acting on it (the invocation of its release, or of its lost signal; a hold that never
//! ended lasts to the end of the run). The harness's clients share one clock, so:
//! - no two holds may overlap;
//! - in the order of their grants, every token must be greater than the one before;
//! - every acknowledged increment happened inside its own grant's hold;
//! - no two acknowledged increments started from the same value (a lost update), and at
//!   the end every member's counter is at least the number of acknowledged increments
//!   and at most that plus the increments whose outcome is unknown.
//!
//! It also measures hand-offs: the longest gap between the end of one hold and the next
//! grant (reported, not judged; a holder whose session died leaves the lock until the
//! session expires).
use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use super::CheckResult;
use crate::history::{EventType, History, Op};

/// Checks a lock history.
pub fn check(history: &History) -> CheckResult {
    let mut r = CheckResult::new("lock");
    struct Hold {
        token: u64,
        start: u64,
        end: u64,
        invoke: u64,
    }
    let mut holds: BTreeMap<u64, Hold> = BTreeMap::new();
    let mut ends: BTreeMap<u64, u64> = BTreeMap::new();
    let mut lost = 0;
    for o in history.operations() {
        match (o.op(), o.outcome()) {
            (Op::LockAcquire { token: Some(t) }, EventType::Ok) => {
                let start = o.completion.map_or(u64::MAX, |c| c.time);
                if let Some(h) = holds.insert(
                    *t,
                    Hold {
                        token: *t,
                        start,
                        end: u64::MAX,
                        invoke: o.invoke.index,
                    },
                ) {
                    r.violation(json!({"problem": "two grants with one token", "token": t, "invokes": [h.invoke, o.invoke.index]}));
                }
            }
            (Op::LockRelease { token, lost: l }, _) => {
                ends.insert(*token, o.start());
                if *l {
                    lost += 1;
                }
            }
            _ => {}
        }
    }
    for (t, end) in &ends {
        match holds.get_mut(t) {
            Some(h) => h.end = *end,
            None => r.violation(json!({"problem": "a release of a grant nobody had", "token": t})),
        }
    }
    r.count("grants", holds.len() as u64);
    r.count("lost_signals", lost);
    let mut by_start: Vec<&Hold> = holds.values().collect();
    by_start.sort_by_key(|h| h.start);
    let mut longest_handoff = 0u64;
    for w in by_start.windows(2) {
        let (a, b) = (w[0], w[1]);
        if b.start < a.end {
            r.violation(json!({
                "problem": "two holders at once",
                "first": {"token": a.token, "invoke": a.invoke},
                "second": {"token": b.token, "invoke": b.invoke},
                "overlap_ms": (a.end != u64::MAX).then(|| (a.end - b.start) as f64 / 1e6),
            }));
        } else {
            longest_handoff = longest_handoff.max(b.start - a.end);
        }
        if b.token <= a.token {
            r.violation(json!({
                "problem": "a later grant has a token not greater than an earlier one",
                "earlier": {"token": a.token, "invoke": a.invoke},
                "later": {"token": b.token, "invoke": b.invoke},
            }));
        }
    }
    r.measurements.insert(
        "longest_handoff_ms".into(),
        (longest_handoff / 1_000_000) as f64,
    );

    let (mut ok, mut unknown) = (0u64, 0u64);
    let mut froms: BTreeMap<u64, u64> = BTreeMap::new();
    for o in history.operations() {
        let Op::LockIncrement { token, from } = o.op() else {
            continue;
        };
        match o.outcome() {
            EventType::Ok => {
                ok += 1;
                if let Some(other) = froms.insert(*from, o.invoke.index) {
                    r.violation(json!({"problem": "two increments from the same value (a lost update)", "from": from, "invokes": [other, o.invoke.index]}));
                }
                match holds.get(token) {
                    Some(h) if h.start <= o.start() && o.end() <= h.end => {}
                    _ => r.violation(json!({"problem": "an increment outside its grant's hold", "token": token, "invoke": o.invoke.index})),
                }
            }
            EventType::Info => unknown += 1,
            _ => {
                if o.completion.and_then(|c| c.error.as_deref()) == Some("bad-version") {
                    r.violation(json!({"problem": "a holder's increment found the counter changed under it", "token": token, "invoke": o.invoke.index}));
                }
            }
        }
    }
    r.count("increments_ok", ok);
    r.count("increments_unknown", unknown);
    let mut reads = 0;
    let mut values = BTreeSet::new();
    for e in history.observations() {
        let Op::LockCounter { value } = &e.op else {
            continue;
        };
        reads += 1;
        values.insert(*value);
        if *value < ok || *value > ok + unknown {
            r.violation(json!({"problem": "the final counter disagrees with the acknowledged increments", "member": e.member, "value": value, "ok": ok, "unknown": unknown}));
        }
    }
    r.count("final_reads", reads);
    if reads == 0 {
        r.violation(json!({"problem": "no final read"}));
    }
    if values.len() > 1 {
        r.violation(json!({"problem": "members disagree on the counter", "values": values}));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::Validity;
    use crate::history::build::Builder;

    /// A grant of `token` to `p` from `t0` (acquired) to `t1` (release invoked), with
    /// one ok increment from `from` in between.
    fn hold(b: &mut Builder, p: &str, token: u64, t0: u64, t1: u64, from: u64) {
        b.op(
            t0.saturating_sub(1),
            t0,
            p,
            EventType::Ok,
            Op::LockAcquire { token: None },
            Op::LockAcquire { token: Some(token) },
            None,
        );
        let inc = Op::LockIncrement { token, from };
        b.op(t0 + 1, t0 + 2, p, EventType::Ok, inc.clone(), inc, None);
        let rel = Op::LockRelease { token, lost: false };
        b.op(t1, t1 + 1, p, EventType::Ok, rel.clone(), rel, None);
    }

    fn counter(b: &mut Builder, value: u64) {
        b.observe(1000, "final", Op::LockCounter { value });
    }

    #[test]
    fn hand_offs_in_order_are_valid() {
        let mut b = Builder::new();
        hold(&mut b, "a", 10, 5, 20, 0);
        hold(&mut b, "b", 12, 25, 40, 1);
        hold(&mut b, "a", 30, 41, 50, 2);
        counter(&mut b, 3);
        let r = check(&b.build());
        assert_eq!(r.valid, Validity::Valid, "{r:?}");
        assert_eq!(r.counts["grants"], 3);
        assert_eq!(r.measurements["longest_handoff_ms"], 5.0);
    }

    #[test]
    fn two_holders_at_once_are_caught() {
        let mut b = Builder::new();
        hold(&mut b, "a", 10, 5, 30, 0);
        hold(&mut b, "b", 12, 25, 40, 1);
        counter(&mut b, 2);
        let r = check(&b.build());
        assert!(r
            .counterexample
            .unwrap()
            .to_string()
            .contains("two holders"));
    }

    #[test]
    fn a_hold_that_never_ended_overlaps_every_later_one() {
        let mut b = Builder::new();
        b.op(
            0,
            5,
            "a",
            EventType::Ok,
            Op::LockAcquire { token: None },
            Op::LockAcquire { token: Some(10) },
            None,
        );
        hold(&mut b, "b", 12, 100, 110, 0);
        counter(&mut b, 1);
        assert_eq!(check(&b.build()).valid, Validity::Invalid);
    }

    #[test]
    fn a_token_that_does_not_grow_is_caught() {
        let mut b = Builder::new();
        hold(&mut b, "a", 12, 5, 20, 0);
        hold(&mut b, "b", 10, 25, 40, 1);
        counter(&mut b, 2);
        let r = check(&b.build());
        assert!(r
            .counterexample
            .unwrap()
            .to_string()
            .contains("token not greater"));
    }

    #[test]
    fn lost_and_doubled_increments_are_caught() {
        // Two increments from the same value: one update was lost.
        let mut b = Builder::new();
        hold(&mut b, "a", 10, 5, 20, 0);
        hold(&mut b, "b", 12, 25, 40, 0);
        counter(&mut b, 1);
        let r = check(&b.build());
        assert!(r.counterexample.unwrap().to_string().contains("same value"));
        // A final counter past what was acknowledged or unknown.
        let mut b = Builder::new();
        hold(&mut b, "a", 10, 5, 20, 0);
        counter(&mut b, 3);
        let r = check(&b.build());
        assert!(r
            .counterexample
            .unwrap()
            .to_string()
            .contains("final counter"));
        // A counter that changed under a holder.
        let mut b = Builder::new();
        hold(&mut b, "a", 10, 5, 20, 0);
        let inc = Op::LockIncrement { token: 10, from: 1 };
        b.op(
            8,
            9,
            "a",
            EventType::Fail,
            inc.clone(),
            inc,
            Some("bad-version"),
        );
        counter(&mut b, 1);
        assert_eq!(check(&b.build()).valid, Validity::Invalid);
        // No final read at all.
        let mut b = Builder::new();
        hold(&mut b, "a", 10, 5, 20, 0);
        assert_eq!(check(&b.build()).valid, Validity::Invalid);
    }

    #[test]
    fn an_increment_outside_its_hold_is_caught() {
        let mut b = Builder::new();
        hold(&mut b, "a", 10, 5, 20, 0);
        let inc = Op::LockIncrement { token: 10, from: 1 };
        b.op(30, 31, "a", EventType::Ok, inc.clone(), inc, None);
        counter(&mut b, 2);
        let r = check(&b.build());
        assert!(r.counterexample.unwrap().to_string().contains("outside"));
    }
}
