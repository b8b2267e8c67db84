//! The end-of-run checker that applies to every workload: after healing, every member is
//! up and healthy, members at the same applied index have the same digest (no replica
//! diverged), every fault was healed, no member exited by itself, and a member that met
//! damaged files either refused to start with a clear message or came back.
use std::collections::BTreeMap;

use serde_json::json;

use super::CheckResult;
use crate::history::{History, Op};

/// Checks the final state of the cluster as the history recorded it.
pub fn check(history: &History) -> CheckResult {
    let mut r = CheckResult::new("cluster");
    let members = match history.run_info() {
        Some(Op::Run { members, .. }) => *members,
        _ => 0,
    };
    let mut statuses = 0;
    let mut by_applied: BTreeMap<u64, Vec<(Option<u64>, String)>> = BTreeMap::new();
    for e in history.observations() {
        match &e.op {
            Op::Status {
                applied,
                digest,
                healthy,
            } => {
                statuses += 1;
                if !healthy {
                    r.violation(json!({"problem": "a member is not healthy at the end", "member": e.member}));
                }
                by_applied
                    .entry(*applied)
                    .or_default()
                    .push((e.member, digest.clone()));
            }
            Op::Note { what } => {
                if what.starts_with("member-exited") {
                    r.count("unexpected_exits", 1);
                    r.violation(json!({"problem": "a member exited by itself", "note": what, "event": e.index}));
                } else if what.starts_with("refused-to-start") {
                    r.count("refused_to_start", 1);
                    let message = what
                        .split_once("message=")
                        .map(|(_, m)| m.trim())
                        .unwrap_or("");
                    if what.contains(" panic") {
                        r.violation(json!({"problem": "a member panicked on damaged files instead of refusing with a message", "note": what}));
                    } else if message.is_empty() {
                        r.violation(json!({"problem": "a member refused to start without saying why", "note": what}));
                    }
                } else if what.starts_with("started-after-damage") {
                    r.count("recovered_after_damage", 1);
                } else if what.starts_with("final read")
                    || what.starts_with("not every member healthy")
                    || what.starts_with("restart failed")
                    || what.contains("did not answer /status")
                {
                    r.violation(json!({"problem": what, "member": e.member, "event": e.index}));
                }
            }
            _ => {}
        }
    }
    r.count("statuses", statuses);
    if statuses < members {
        r.violation(json!({"problem": "not every member reported its status at the end", "statuses": statuses, "members": members}));
    }
    for (applied, v) in &by_applied {
        let first = &v[0].1;
        if v.iter().any(|(_, d)| d != first) {
            r.violation(json!({"problem": "members at the same applied index have different digests", "applied": applied, "digests": v.iter().map(|(m, d)| json!({"member": m, "digest": d})).collect::<Vec<_>>()}));
        }
    }
    r.count("distinct_applied_indexes", by_applied.len() as u64);
    for f in history.faults() {
        if !f.healed {
            r.violation(json!({"problem": "a fault was never healed", "fault": f.name, "targets": f.targets}));
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::Validity;
    use crate::history::build::Builder;

    fn base(digests: &[(u64, &str)]) -> Builder {
        let mut b = Builder::new();
        b.observe(
            0,
            "harness",
            Op::Run {
                workload: "set".into(),
                nemeses: vec![],
                members: digests.len() as u64,
                floor: 0,
                session_timeout_ms: 4000,
                seed: 1,
                time_s: 1,
            },
        );
        for (applied, d) in digests {
            b.observe(
                10,
                "final",
                Op::Status {
                    applied: *applied,
                    digest: d.to_string(),
                    healthy: true,
                },
            );
        }
        b
    }

    #[test]
    fn equal_digests_are_valid() {
        let r = check(&base(&[(10, "ab"), (10, "ab"), (9, "cd")]).build());
        assert_eq!(r.valid, Validity::Valid, "{r:?}");
    }

    #[test]
    fn divergence_is_caught() {
        let r = check(&base(&[(10, "ab"), (10, "ac"), (10, "ab")]).build());
        assert_eq!(r.valid, Validity::Invalid);
    }

    #[test]
    fn crashes_panics_and_missing_members_are_caught() {
        let mut b = base(&[(10, "ab"), (10, "ab")]);
        b.observe(
            5,
            "harness",
            Op::Note {
                what: "member-exited member=1 status=signal: 6".into(),
            },
        );
        assert_eq!(check(&b.build()).valid, Validity::Invalid);

        let mut b = base(&[(10, "ab")]);
        b.observe(5, "nemesis", Op::Note { what: "refused-to-start member=1 status=exit status: 101 panic message=thread 'main' panicked".into() });
        assert_eq!(check(&b.build()).valid, Validity::Invalid);

        let mut b = base(&[(10, "ab")]);
        b.observe(5, "nemesis", Op::Note { what: "refused-to-start member=1 status=exit status: 1 message=paddockd: starting the member: raft log: corruption".into() });
        assert_eq!(check(&b.build()).valid, Validity::Valid);

        let mut b = Builder::new();
        b.observe(
            0,
            "harness",
            Op::Run {
                workload: "set".into(),
                nemeses: vec![],
                members: 3,
                floor: 0,
                session_timeout_ms: 4000,
                seed: 1,
                time_s: 1,
            },
        );
        assert_eq!(check(&b.build()).valid, Validity::Invalid);
    }

    #[test]
    fn an_unhealed_fault_is_caught() {
        let mut b = base(&[(10, "ab")]);
        b.invoke(
            3,
            "nemesis",
            Op::Fault {
                name: "pause-one".into(),
                targets: vec![1],
                detail: String::new(),
            },
        );
        assert_eq!(check(&b.build()).valid, Validity::Invalid);
    }
}
