//! The session-FIFO checker: the writes a session got applied are a prefix of those it
//! sent. Writes that definitely failed are not part of what was sent (the client knows
//! they did not apply); every other write before the last applied one must have applied
//! (a gap is a violation), acknowledged ones must be present, failed ones absent.
use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use super::CheckResult;
use crate::history::{EventType, History, Op};

/// Checks a fifo history (`fifo-create` operations against `fifo-read` observations).
pub fn check(history: &History) -> CheckResult {
    let mut r = CheckResult::new("fifo");
    // client -> n -> (outcome, invoke index)
    let mut sent: BTreeMap<u64, BTreeMap<u64, (EventType, u64)>> = BTreeMap::new();
    for o in history.operations() {
        if let Op::FifoCreate { client, n } = o.invoke.op {
            sent.entry(client)
                .or_default()
                .insert(n, (o.outcome(), o.invoke.index));
        }
    }
    let mut read: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
    for e in history.observations() {
        if let Op::FifoRead { client, ns } = &e.op {
            read.insert(*client, ns.iter().copied().collect());
        }
    }
    r.count("clients", sent.len() as u64);
    r.count("writes", sent.values().map(|m| m.len() as u64).sum());
    for (client, writes) in &sent {
        let Some(applied) = read.get(client) else {
            r.violation(json!({"problem": "no final read of a client", "client": client}));
            continue;
        };
        let last = applied.iter().next_back().copied();
        for &n in applied {
            match writes.get(&n) {
                None => r.violation(json!({"problem": "applied a write that was never sent", "client": client, "n": n})),
                Some((EventType::Fail, idx)) => r.violation(json!({"problem": "a write that failed definitely was applied", "client": client, "n": n, "invoke": idx})),
                _ => {}
            }
        }
        for (&n, &(outcome, idx)) in writes {
            let present = applied.contains(&n);
            if outcome == EventType::Ok && !present {
                r.count("lost", 1);
                r.violation(json!({"problem": "an acknowledged write is missing", "client": client, "n": n, "invoke": idx}));
            } else if outcome != EventType::Fail && !present && last.is_some_and(|l| n < l) {
                r.count("gaps", 1);
                r.violation(json!({
                    "problem": "gap: a write was lost while a later write of the same session applied",
                    "client": client,
                    "missing_n": n,
                    "missing_outcome": format!("{outcome:?}").to_lowercase(),
                    "missing_invoke": idx,
                    "later_applied_n": last,
                }));
            }
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::Validity;
    use crate::history::build::Builder;

    fn create(b: &mut Builder, client: u64, n: u64, kind: EventType) {
        let op = Op::FifoCreate { client, n };
        b.op(
            n * 2,
            n * 2 + 1,
            &format!("c{client}"),
            kind,
            op.clone(),
            op,
            None,
        );
    }

    #[test]
    fn a_prefix_is_valid_even_with_unknowns_at_the_end() {
        let mut b = Builder::new();
        for n in 0..5 {
            create(
                &mut b,
                1,
                n,
                if n < 3 {
                    EventType::Ok
                } else {
                    EventType::Info
                },
            );
        }
        b.observe(
            100,
            "final",
            Op::FifoRead {
                client: 1,
                ns: vec![0, 1, 2, 3],
            },
        );
        let r = check(&b.build());
        assert_eq!(r.valid, Validity::Valid, "{r:?}");
    }

    #[test]
    fn a_gap_after_a_lost_write_is_caught() {
        let mut b = Builder::new();
        create(&mut b, 1, 0, EventType::Ok);
        create(&mut b, 1, 1, EventType::Info);
        create(&mut b, 1, 2, EventType::Ok);
        b.observe(
            100,
            "final",
            Op::FifoRead {
                client: 1,
                ns: vec![0, 2],
            },
        );
        let r = check(&b.build());
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(r.counts["gaps"], 1);
    }

    #[test]
    fn definite_failures_are_not_gaps() {
        let mut b = Builder::new();
        create(&mut b, 1, 0, EventType::Ok);
        create(&mut b, 1, 1, EventType::Fail);
        create(&mut b, 1, 2, EventType::Ok);
        b.observe(
            100,
            "final",
            Op::FifoRead {
                client: 1,
                ns: vec![0, 2],
            },
        );
        assert_eq!(check(&b.build()).valid, Validity::Valid);
    }

    #[test]
    fn lost_acknowledged_and_applied_failed_writes_are_caught() {
        let mut b = Builder::new();
        create(&mut b, 1, 0, EventType::Ok);
        create(&mut b, 2, 0, EventType::Fail);
        b.observe(
            100,
            "final",
            Op::FifoRead {
                client: 1,
                ns: vec![],
            },
        );
        b.observe(
            100,
            "final",
            Op::FifoRead {
                client: 2,
                ns: vec![0],
            },
        );
        let r = check(&b.build());
        assert_eq!(r.counts["violations"], 2);
    }
}
