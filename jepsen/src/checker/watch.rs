//! The watch checker. For each watcher (a persistent recursive watch held by one session):
//! - its events are in zxid order, with no event twice;
//! - every event is the effect of a write under the watched path (an acknowledged one
//!   with that zxid on that path, or one whose outcome is unknown);
//! - no gap within a stretch of one connection: an acknowledged write whose zxid lies
//!   between two events of the same stretch must have been seen;
//! - after the watcher caught up at the end (sync, then a read), every acknowledged write
//!   after the first event of its last stretch was seen, and the last event per node
//!   agrees with the final tree (its zxid is the node's mzxid).
//!
//! A stretch starts when the SDK reports `connected` (with the highest zxid the client
//! had seen, so events that arrived late from the previous connection are told apart)
//! and ends when it reports anything else. Changes made while a watcher was away are
//! replayed by the member it comes back to when that member still has them; otherwise
//! the stream ends with a `ResyncNeeded` item, which ends the watcher (nothing may
//! follow it, and nothing after it is owed; the workload starts a new watcher).
use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use super::CheckResult;
use crate::history::{EventType, History, Op};

#[derive(Default)]
struct Stretch {
    /// Highest zxid the client had seen when it connected.
    connected_at: u64,
    /// (zxid, path) of the events, in arrival order.
    events: Vec<(u64, String, u64)>,
    /// The connection ended (disconnected, expired, closed), or the stream did
    /// (`ResyncNeeded`).
    ended: bool,
}

/// Checks a watch history.
pub fn check(history: &History) -> CheckResult {
    let mut r = CheckResult::new("watch");
    // Acknowledged writes: zxid -> path; paths written with an unknown outcome.
    let mut acked: BTreeMap<u64, String> = BTreeMap::new();
    let mut unknown_paths: BTreeSet<String> = BTreeSet::new();
    for o in history.operations() {
        if let Op::WatchWrite { path, .. } = &o.invoke.op {
            match (o.outcome(), o.op()) {
                (EventType::Ok, Op::WatchWrite { zxid: Some(z), .. }) => {
                    acked.insert(*z, path.clone());
                }
                (EventType::Fail, _) => {}
                _ => {
                    unknown_paths.insert(path.clone());
                }
            }
        }
    }
    let finals: BTreeMap<String, Option<u64>> = history
        .observations()
        .iter()
        .filter_map(|e| match &e.op {
            Op::NodeFinal { path, mzxid } => Some((path.clone(), *mzxid)),
            _ => None,
        })
        .collect();
    r.count("acknowledged_writes", acked.len() as u64);

    // Per watcher process: its stretches, in order, and whether it caught up at the end.
    let mut watchers: BTreeMap<String, (Vec<Stretch>, bool)> = BTreeMap::new();
    // Watchers whose stream ended with ResyncNeeded, and at which event.
    let mut resynced: BTreeMap<String, u64> = BTreeMap::new();
    for e in &history.events {
        if !e.process.starts_with('w') {
            continue;
        }
        let (stretches, caught_up) = watchers.entry(e.process.clone()).or_default();
        if let Op::WatchEvent { kind, .. } = &e.op {
            if let Some(at) = resynced.get(&e.process) {
                r.violation(json!({"problem": "an event after ResyncNeeded ended the stream", "watcher": e.process, "event": e.index, "resync_event": at}));
                continue;
            }
            if kind == "ResyncNeeded" {
                r.count("resyncs", 1);
                resynced.insert(e.process.clone(), e.index);
                if let Some(s) = stretches.last_mut() {
                    s.ended = true;
                }
                continue;
            }
        }
        match &e.op {
            Op::SessionState { state, zxid, .. } => {
                if state == "connected" {
                    if let Some(s) = stretches.last_mut() {
                        s.ended = true;
                    }
                    stretches.push(Stretch {
                        connected_at: zxid.unwrap_or(0),
                        ..Default::default()
                    });
                } else if let Some(s) = stretches.last_mut() {
                    s.ended = true;
                }
            }
            Op::WatchEvent { zxid, path, .. } => {
                if stretches.is_empty() {
                    stretches.push(Stretch::default());
                }
                // An event at or below the current stretch's start came on the previous connection.
                let n = stretches.len();
                let target = if n >= 2 && *zxid <= stretches[n - 1].connected_at {
                    n - 2
                } else {
                    n - 1
                };
                stretches[target]
                    .events
                    .push((*zxid, path.clone(), e.index));
            }
            Op::Note { what } if what == "caught-up" => *caught_up = true,
            _ => {}
        }
    }
    r.count("watchers", watchers.len() as u64);
    let mut total_events = 0;
    for (w, (stretches, caught_up)) in &watchers {
        let mut seen: BTreeSet<(u64, String)> = BTreeSet::new();
        let mut last: Option<(u64, u64)> = None; // (zxid, index)
        let mut last_per_path: BTreeMap<String, u64> = BTreeMap::new();
        for s in stretches {
            for (z, path, idx) in &s.events {
                total_events += 1;
                if !seen.insert((*z, path.clone())) {
                    r.violation(json!({"problem": "an event delivered twice", "watcher": w, "zxid": z, "path": path, "event": idx}));
                }
                if let Some((lz, lidx)) = last {
                    if *z < lz {
                        r.violation(json!({"problem": "events out of zxid order", "watcher": w, "event": idx, "zxid": z, "after_event": lidx, "after_zxid": lz}));
                    }
                }
                last = Some((*z, *idx));
                last_per_path.insert(path.clone(), *z);
                match acked.get(z) {
                    Some(p) if p != path => r.violation(json!({"problem": "an event names another node than the write with its zxid", "watcher": w, "event": idx, "zxid": z, "event_path": path, "write_path": p})),
                    Some(_) => {}
                    None if unknown_paths.contains(path) => r.count("events_of_unknown_writes", 1),
                    None => r.violation(json!({"problem": "an event for a change nobody made", "watcher": w, "event": idx, "zxid": z, "path": path})),
                }
            }
        }
        // Gaps within each stretch.
        for (i, s) in stretches.iter().enumerate() {
            let (Some(first), Some(lastz)) = (
                s.events.iter().map(|e| e.0).min(),
                s.events.iter().map(|e| e.0).max(),
            ) else {
                continue;
            };
            let is_final = i + 1 == stretches.len() && *caught_up && !s.ended;
            let upper = if is_final { u64::MAX } else { lastz };
            if first + 1 >= upper {
                continue;
            }
            for (z, path) in acked.range(first + 1..upper) {
                if !seen.contains(&(*z, path.clone())) {
                    r.count("gaps", 1);
                    r.violation(json!({
                        "problem": if is_final { "an acknowledged write was never delivered to a connected, caught-up watcher" } else { "gap: an acknowledged write between two events of one connection was not delivered" },
                        "watcher": w,
                        "missing_zxid": z,
                        "path": path,
                        "stretch_first_zxid": first,
                        "stretch_last_zxid": lastz,
                    }));
                    break;
                }
            }
            if is_final {
                for (path, lz) in &last_per_path {
                    match finals.get(path) {
                        Some(Some(m)) if lz > m => r.violation(json!({"problem": "a watcher saw a change the final tree does not have", "watcher": w, "path": path, "event_zxid": lz, "final_mzxid": m})),
                        Some(Some(m)) if *m > first && lz != m => r.violation(json!({"problem": "the last event for a node disagrees with the final tree", "watcher": w, "path": path, "event_zxid": lz, "final_mzxid": m})),
                        _ => {}
                    }
                }
            }
        }
    }
    r.count("events", total_events);
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::Validity;
    use crate::history::build::Builder;

    fn write(b: &mut Builder, t: u64, path: &str, zxid: Option<u64>, kind: EventType) {
        let inv = Op::WatchWrite {
            path: path.into(),
            value: format!("v{t}"),
            zxid: None,
        };
        let done = Op::WatchWrite {
            path: path.into(),
            value: format!("v{t}"),
            zxid,
        };
        b.op(t, t + 1, "c1", kind, inv, done, None);
    }

    fn event(b: &mut Builder, t: u64, w: &str, path: &str, zxid: u64) {
        b.observe(
            t,
            w,
            Op::WatchEvent {
                watcher: 1,
                kind: "NodeDataChanged".into(),
                path: path.into(),
                zxid,
            },
        );
    }

    fn state(b: &mut Builder, t: u64, w: &str, st: &str, zxid: Option<u64>) {
        b.observe(
            t,
            w,
            Op::SessionState {
                session: 1,
                state: st.into(),
                zxid,
            },
        );
    }

    /// Three writes, a watcher that sees all of them, catches up, and the final tree.
    fn good() -> Builder {
        let mut b = Builder::new();
        state(&mut b, 0, "w1", "connected", Some(0));
        write(&mut b, 10, "/watch/a", Some(5), EventType::Ok);
        event(&mut b, 12, "w1", "/watch/a", 5);
        write(&mut b, 20, "/watch/b", Some(6), EventType::Ok);
        event(&mut b, 22, "w1", "/watch/b", 6);
        write(&mut b, 30, "/watch/a", Some(7), EventType::Ok);
        event(&mut b, 32, "w1", "/watch/a", 7);
        b.observe(
            50,
            "w1",
            Op::Note {
                what: "caught-up".into(),
            },
        );
        b.observe(
            60,
            "final",
            Op::NodeFinal {
                path: "/watch/a".into(),
                mzxid: Some(7),
            },
        );
        b.observe(
            60,
            "final",
            Op::NodeFinal {
                path: "/watch/b".into(),
                mzxid: Some(6),
            },
        );
        b
    }

    #[test]
    fn a_complete_ordered_stream_is_valid() {
        let r = check(&good().build());
        assert_eq!(r.valid, Validity::Valid, "{r:?}");
        assert_eq!(r.counts["events"], 3);
    }

    #[test]
    fn a_gap_within_a_connection_is_caught() {
        let mut b = Builder::new();
        state(&mut b, 0, "w1", "connected", Some(0));
        write(&mut b, 10, "/watch/a", Some(5), EventType::Ok);
        event(&mut b, 12, "w1", "/watch/a", 5);
        write(&mut b, 20, "/watch/b", Some(6), EventType::Ok);
        write(&mut b, 30, "/watch/a", Some(7), EventType::Ok);
        event(&mut b, 32, "w1", "/watch/a", 7);
        let r = check(&b.build());
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(r.counts["gaps"], 1);
    }

    #[test]
    fn a_gap_across_a_reconnect_is_allowed() {
        let mut b = Builder::new();
        state(&mut b, 0, "w1", "connected", Some(0));
        write(&mut b, 10, "/watch/a", Some(5), EventType::Ok);
        event(&mut b, 12, "w1", "/watch/a", 5);
        state(&mut b, 15, "w1", "disconnected", None);
        write(&mut b, 20, "/watch/b", Some(6), EventType::Ok);
        state(&mut b, 25, "w1", "connected", Some(6));
        write(&mut b, 30, "/watch/a", Some(7), EventType::Ok);
        event(&mut b, 32, "w1", "/watch/a", 7);
        b.observe(
            50,
            "w1",
            Op::Note {
                what: "caught-up".into(),
            },
        );
        b.observe(
            60,
            "final",
            Op::NodeFinal {
                path: "/watch/a".into(),
                mzxid: Some(7),
            },
        );
        b.observe(
            60,
            "final",
            Op::NodeFinal {
                path: "/watch/b".into(),
                mzxid: Some(6),
            },
        );
        let r = check(&b.build());
        assert_eq!(r.valid, Validity::Valid, "{r:?}");
    }

    #[test]
    fn reordered_and_duplicated_events_are_caught() {
        let mut b = Builder::new();
        state(&mut b, 0, "w1", "connected", Some(0));
        write(&mut b, 10, "/watch/a", Some(5), EventType::Ok);
        write(&mut b, 20, "/watch/b", Some(6), EventType::Ok);
        event(&mut b, 22, "w1", "/watch/b", 6);
        event(&mut b, 23, "w1", "/watch/a", 5);
        let r = check(&b.build());
        assert!(r
            .counterexample
            .unwrap()
            .to_string()
            .contains("out of zxid order"));

        let mut b = Builder::new();
        state(&mut b, 0, "w1", "connected", Some(0));
        write(&mut b, 10, "/watch/a", Some(5), EventType::Ok);
        event(&mut b, 12, "w1", "/watch/a", 5);
        event(&mut b, 13, "w1", "/watch/a", 5);
        let r = check(&b.build());
        assert!(r.counterexample.unwrap().to_string().contains("twice"));
    }

    #[test]
    fn phantom_events_and_a_missed_final_change_are_caught() {
        let mut b = good();
        event(&mut b, 40, "w1", "/watch/zzz", 99);
        assert_eq!(check(&b.build()).valid, Validity::Invalid);

        // The watcher caught up but never saw the last write to /watch/a.
        let mut b = Builder::new();
        state(&mut b, 0, "w1", "connected", Some(0));
        write(&mut b, 10, "/watch/a", Some(5), EventType::Ok);
        event(&mut b, 12, "w1", "/watch/a", 5);
        write(&mut b, 30, "/watch/a", Some(7), EventType::Ok);
        b.observe(
            50,
            "w1",
            Op::Note {
                what: "caught-up".into(),
            },
        );
        b.observe(
            60,
            "final",
            Op::NodeFinal {
                path: "/watch/a".into(),
                mzxid: Some(7),
            },
        );
        assert_eq!(check(&b.build()).valid, Validity::Invalid);
    }

    #[test]
    fn a_late_event_of_the_old_connection_is_not_a_new_stretch() {
        // The event of zxid 5 is recorded after the reconnect (two tasks), but the client
        // had already seen it: it belongs to the first stretch, and 6 is no gap.
        let mut b = Builder::new();
        state(&mut b, 0, "w1", "connected", Some(0));
        write(&mut b, 10, "/watch/a", Some(5), EventType::Ok);
        write(&mut b, 20, "/watch/b", Some(6), EventType::Ok);
        state(&mut b, 25, "w1", "connected", Some(6));
        event(&mut b, 26, "w1", "/watch/a", 5);
        write(&mut b, 30, "/watch/a", Some(7), EventType::Ok);
        event(&mut b, 32, "w1", "/watch/a", 7);
        let r = check(&b.build());
        assert_eq!(r.valid, Validity::Valid, "{r:?}");
    }

    fn resync(b: &mut Builder, t: u64, w: &str, zxid: u64) {
        b.observe(
            t,
            w,
            Op::WatchEvent {
                watcher: 1,
                kind: "ResyncNeeded".into(),
                path: "/watch".into(),
                zxid,
            },
        );
    }

    #[test]
    fn resync_needed_ends_a_watcher_and_nothing_may_follow_it() {
        let mut b = Builder::new();
        write(&mut b, 1, "/watch/a", Some(10), EventType::Ok);
        event(&mut b, 3, "w1", "/watch/a", 10);
        write(&mut b, 5, "/watch/a", Some(11), EventType::Ok);
        resync(&mut b, 7, "w1", 11);
        let r = check(&b.build());
        assert_eq!(r.valid, Validity::Valid, "{r:?}");
        assert_eq!(r.counts["resyncs"], 1);

        let mut b = Builder::new();
        write(&mut b, 1, "/watch/a", Some(10), EventType::Ok);
        resync(&mut b, 3, "w1", 10);
        write(&mut b, 5, "/watch/a", Some(11), EventType::Ok);
        event(&mut b, 7, "w1", "/watch/a", 11);
        let r = check(&b.build());
        assert!(r
            .counterexample
            .unwrap()
            .to_string()
            .contains("after ResyncNeeded"));
    }
}
