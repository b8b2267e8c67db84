//! The set checker: every acknowledged create is present at the end on every member,
//! nothing is present that was never attempted, and a create that definitely failed is
//! absent.
use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use super::CheckResult;
use crate::history::{EventType, History, Op};

/// Checks a set history (its `add` operations against every `read-set` observation).
pub fn check(history: &History) -> CheckResult {
    let mut r = CheckResult::new("set");
    let mut ok = BTreeMap::new();
    let mut failed = BTreeSet::new();
    let mut attempted = BTreeSet::new();
    for o in history.operations() {
        if let Op::Add { path } = &o.invoke.op {
            attempted.insert(path.clone());
            match o.outcome() {
                EventType::Ok => {
                    ok.insert(path.clone(), o.invoke.index);
                }
                EventType::Fail => {
                    failed.insert(path.clone());
                }
                _ => {}
            }
        }
    }
    r.count("attempted", attempted.len() as u64);
    r.count("ok", ok.len() as u64);
    r.count("failed", failed.len() as u64);
    let members = match history.run_info() {
        Some(Op::Run { members, .. }) => *members,
        _ => 0,
    };
    let mut reads = 0;
    let mut unknown_present = BTreeSet::new();
    for e in history.observations() {
        let Op::ReadSet { paths } = &e.op else {
            continue;
        };
        reads += 1;
        let present: BTreeSet<&String> = paths.iter().collect();
        let lost: Vec<&String> = ok.keys().filter(|p| !present.contains(p)).collect();
        if !lost.is_empty() {
            r.count("lost", lost.len() as u64);
            r.violation(json!({
                "problem": "acknowledged creates missing at the end",
                "member": e.member,
                "missing": lost.iter().take(20).collect::<Vec<_>>(),
                "missing_count": lost.len(),
                "first_ack_event": ok.get(lost[0]),
            }));
        }
        for p in &present {
            if !attempted.contains(*p) {
                r.violation(
                    json!({"problem": "a node nobody created", "member": e.member, "path": p}),
                );
            } else if failed.contains(*p) {
                r.violation(json!({"problem": "a create that failed definitely is present", "member": e.member, "path": p}));
            } else if !ok.contains_key(*p) {
                unknown_present.insert((*p).clone());
            }
        }
    }
    r.count("final_reads", reads);
    r.count("unknown_present", unknown_present.len() as u64);
    if reads < members {
        r.violation(json!({"problem": "not every member could be read at the end", "reads": reads, "members": members}));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::Validity;
    use crate::history::build::Builder;

    fn run_info(b: &mut Builder, members: u64) {
        b.observe(
            0,
            "harness",
            Op::Run {
                workload: "set".into(),
                nemeses: vec![],
                members,
                floor: 0,
                session_timeout_ms: 4000,
                seed: 1,
                time_s: 1,
            },
        );
    }

    fn add(b: &mut Builder, t: u64, p: &str, kind: EventType) {
        let op = Op::Add { path: p.into() };
        b.op(t, t + 1, "c1", kind, op.clone(), op, None);
    }

    fn read(b: &mut Builder, t: u64, paths: &[&str]) {
        b.observe(
            t,
            "final",
            Op::ReadSet {
                paths: paths.iter().map(|s| s.to_string()).collect(),
            },
        );
    }

    #[test]
    fn all_acknowledged_present_is_valid() {
        let mut b = Builder::new();
        run_info(&mut b, 2);
        add(&mut b, 1, "/set/a", EventType::Ok);
        add(&mut b, 3, "/set/b", EventType::Info);
        add(&mut b, 5, "/set/c", EventType::Fail);
        read(&mut b, 10, &["/set/a", "/set/b"]);
        read(&mut b, 11, &["/set/a"]);
        let r = check(&b.build());
        assert_eq!(r.valid, Validity::Valid, "{r:?}");
        assert_eq!(r.counts["unknown_present"], 1);
    }

    #[test]
    fn a_lost_write_is_caught() {
        let mut b = Builder::new();
        run_info(&mut b, 1);
        add(&mut b, 1, "/set/a", EventType::Ok);
        add(&mut b, 3, "/set/b", EventType::Ok);
        read(&mut b, 10, &["/set/a"]);
        let r = check(&b.build());
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(r.counts["lost"], 1);
        assert!(r.counterexample.unwrap().to_string().contains("/set/b"));
    }

    #[test]
    fn phantoms_and_failed_creates_are_caught() {
        let mut b = Builder::new();
        run_info(&mut b, 1);
        add(&mut b, 1, "/set/a", EventType::Fail);
        read(&mut b, 10, &["/set/a", "/set/zzz"]);
        let r = check(&b.build());
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(r.counts["violations"], 2);
    }

    #[test]
    fn a_member_left_unread_is_caught() {
        let mut b = Builder::new();
        run_info(&mut b, 3);
        add(&mut b, 1, "/set/a", EventType::Ok);
        read(&mut b, 10, &["/set/a"]);
        assert_eq!(check(&b.build()).valid, Validity::Invalid);
    }
}
