//! The sequential checker: sequential creates under one parent get unique names; a create
//! that started after another one finished gets a higher number; at the end every member
//! holds each acknowledged create under its own name with its own data, every create at
//! most once (a second child with the same data is a double apply), and nothing else.
use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use super::CheckResult;
use crate::history::{EventType, History, Op};

/// The counter of a sequential name (its last ten digits).
pub fn sequence_number(name: &str) -> Option<u64> {
    let digits = name.get(name.len().checked_sub(10)?..)?;
    digits.parse().ok()
}

/// Checks a sequential history.
pub fn check(history: &History) -> CheckResult {
    let mut r = CheckResult::new("sequential");
    struct Done {
        start: u64,
        end: u64,
        seq: u64,
        index: u64,
    }
    let mut done = Vec::new();
    let mut by_value: BTreeMap<String, (EventType, Option<String>, u64)> = BTreeMap::new();
    let mut names: BTreeMap<String, u64> = BTreeMap::new();
    for o in history.operations() {
        let Op::SeqCreate { value, .. } = &o.invoke.op else {
            continue;
        };
        let name = match o.op() {
            Op::SeqCreate { name, .. } => name.clone(),
            _ => None,
        };
        by_value.insert(value.clone(), (o.outcome(), name.clone(), o.invoke.index));
        if o.outcome() != EventType::Ok {
            continue;
        }
        let Some(name) = name else {
            r.violation(
                json!({"problem": "an ok create without a name", "invoke": o.invoke.index}),
            );
            continue;
        };
        if let Some(other) = names.insert(name.clone(), o.invoke.index) {
            r.violation(json!({"problem": "two creates got the same name", "name": name, "invokes": [other, o.invoke.index]}));
        }
        match sequence_number(&name) {
            Some(seq) => done.push(Done {
                start: o.start(),
                end: o.end(),
                seq,
                index: o.invoke.index,
            }),
            None => {
                r.violation(json!({"problem": "a name without a 10-digit counter", "name": name}))
            }
        }
    }
    r.count("ok", done.len() as u64);
    r.count("attempted", by_value.len() as u64);
    // Real-time order: sort by end; every op must exceed the largest seq of any op that
    // ended before it started.
    let mut by_end: Vec<&Done> = done.iter().collect();
    by_end.sort_by_key(|d| d.end);
    let mut by_start: Vec<&Done> = done.iter().collect();
    by_start.sort_by_key(|d| d.start);
    let (mut i, mut best): (usize, Option<&Done>) = (0, None);
    for d in by_start {
        while i < by_end.len() && by_end[i].end < d.start {
            if best.is_none_or(|b| by_end[i].seq > b.seq) {
                best = Some(by_end[i]);
            }
            i += 1;
        }
        if let Some(b) = best {
            if b.seq >= d.seq {
                r.violation(json!({
                    "problem": "a later create got a lower or equal number",
                    "earlier": {"invoke": b.index, "seq": b.seq},
                    "later": {"invoke": d.index, "seq": d.seq},
                }));
            }
        }
    }
    let mut reads = 0;
    for e in history.observations() {
        let Op::SeqRead { children, .. } = &e.op else {
            continue;
        };
        reads += 1;
        let mut seen_values: BTreeMap<&String, &String> = BTreeMap::new();
        for (name, value) in children {
            if let Some(first) = seen_values.insert(value, name) {
                r.count("double_applies", 1);
                r.violation(json!({"problem": "one create applied twice", "member": e.member, "value": value, "names": [first, name]}));
            }
            match by_value.get(value) {
                None => r.violation(json!({"problem": "a child nobody created", "member": e.member, "name": name, "value": value})),
                Some((EventType::Fail, _, idx)) => r.violation(json!({"problem": "a create that failed definitely is present", "member": e.member, "name": name, "invoke": idx})),
                Some((EventType::Ok, Some(own), idx)) if own != name => r.violation(json!({"problem": "a create's data is under another name", "member": e.member, "name": name, "acknowledged_as": own, "invoke": idx})),
                _ => {}
            }
        }
        let present: BTreeSet<&String> = children.keys().collect();
        for (name, idx) in &names {
            if !present.contains(name) {
                r.count("lost", 1);
                r.violation(json!({"problem": "an acknowledged create is missing", "member": e.member, "name": name, "invoke": idx}));
            }
        }
    }
    r.count("final_reads", reads);
    if reads == 0 {
        r.violation(json!({"problem": "no final read"}));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::Validity;
    use crate::history::build::Builder;

    fn create(b: &mut Builder, t0: u64, t1: u64, value: &str, name: Option<&str>, kind: EventType) {
        let inv = Op::SeqCreate {
            parent: "/seq".into(),
            value: value.into(),
            name: None,
        };
        let done = Op::SeqCreate {
            parent: "/seq".into(),
            value: value.into(),
            name: name.map(String::from),
        };
        b.op(t0, t1, "c1", kind, inv, done, None);
    }

    fn read(b: &mut Builder, children: &[(&str, &str)]) {
        let children = children
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        b.observe(
            1000,
            "final",
            Op::SeqRead {
                parent: "/seq".into(),
                children,
            },
        );
    }

    #[test]
    fn sequence_numbers_parse() {
        assert_eq!(sequence_number("item-0000000042"), Some(42));
        assert_eq!(sequence_number("x"), None);
    }

    #[test]
    fn increasing_unique_names_are_valid() {
        let mut b = Builder::new();
        create(&mut b, 0, 10, "a", Some("item-0000000000"), EventType::Ok);
        create(&mut b, 5, 12, "b", Some("item-0000000002"), EventType::Ok);
        create(&mut b, 6, 8, "c", Some("item-0000000001"), EventType::Ok); // concurrent with b
        create(&mut b, 20, 30, "d", None, EventType::Info);
        read(
            &mut b,
            &[
                ("item-0000000000", "a"),
                ("item-0000000001", "c"),
                ("item-0000000002", "b"),
                ("item-0000000003", "d"),
            ],
        );
        let r = check(&b.build());
        assert_eq!(r.valid, Validity::Valid, "{r:?}");
    }

    #[test]
    fn a_lower_number_after_completion_is_caught() {
        let mut b = Builder::new();
        create(&mut b, 0, 10, "a", Some("item-0000000005"), EventType::Ok);
        create(&mut b, 11, 20, "b", Some("item-0000000004"), EventType::Ok);
        read(
            &mut b,
            &[("item-0000000004", "b"), ("item-0000000005", "a")],
        );
        assert_eq!(check(&b.build()).valid, Validity::Invalid);
    }

    #[test]
    fn duplicate_names_and_double_applies_are_caught() {
        let mut b = Builder::new();
        create(&mut b, 0, 10, "a", Some("item-0000000001"), EventType::Ok);
        create(&mut b, 0, 10, "b", Some("item-0000000001"), EventType::Ok);
        let r = check(&b.build());
        assert!(r.counterexample.unwrap().to_string().contains("same name"));

        let mut b = Builder::new();
        create(&mut b, 0, 10, "a", Some("item-0000000001"), EventType::Ok);
        read(
            &mut b,
            &[("item-0000000001", "a"), ("item-0000000002", "a")],
        );
        let r = check(&b.build());
        assert_eq!(r.counts["double_applies"], 1);
    }

    #[test]
    fn lost_and_phantom_children_are_caught() {
        let mut b = Builder::new();
        create(&mut b, 0, 10, "a", Some("item-0000000001"), EventType::Ok);
        read(&mut b, &[("item-0000000009", "zzz")]);
        let r = check(&b.build());
        assert_eq!(r.counts["lost"], 1);
        assert_eq!(r.counts["violations"], 2);
    }
}
