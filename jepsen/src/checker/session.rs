//! The session checker: what ephemeral nodes and session expiry promise.
//!
//! - **No orphans.** At the end, no member holds an ephemeral node, or a session, of a
//!   session that was closed (acknowledged), abandoned (its client dropped without
//!   closing, and the run waited longer than the timeout), or that its client saw expire.
//! - **No live session expired.** A session whose client stayed connected to one member
//!   the whole time, while that member was never impaired by a fault and a majority of
//!   members was never impaired, must not be expired (an election or a pause elsewhere
//!   expires no one). Evidence of expiry: the SDK reports `expired`, an operation fails
//!   with `session-expired`, or an observer sees its ephemeral deleted.
//! - **No zombie.** Once an observer has seen a session's ephemeral deleted (and the
//!   session did not close itself), no operation of that session invoked later than
//!   [`ZOMBIE_MARGIN_MS`] after it may succeed: the client would go on believing it holds
//!   what the ensemble has given away (a lock, a leadership).
//! - **No lease overrun.** No lease the SDK reported for a session (`Lease` observations:
//!   the time it was taken plus what remained) may end later than [`ZOMBIE_MARGIN_MS`]
//!   after an observer saw that session's ephemeral deleted: a lock holder that trusts its
//!   lease would otherwise act after the ensemble gave its lock away.
//!
//! Measured, not judged: how long clients stayed `connected` to a member that a
//! partition had cut off from the majority.
use std::collections::BTreeMap;

use serde_json::json;

use super::CheckResult;
use crate::history::{EventType, FaultWindow, History, Op};

/// How far (ms) a healthy member's local read may trail the observer that saw a deletion
/// first: one replication round on loopback is far below it.
pub const ZOMBIE_MARGIN_MS: u64 = 250;

#[derive(Default, Debug)]
struct Sess {
    process: String,
    opened_at: u64,
    first_member: Option<u64>,
    path: Option<String>,
    closed_at: Option<u64>,
    /// When the client began to close the session (the close may have applied even if
    /// its answer was lost).
    close_invoked_at: Option<u64>,
    abandoned_at: Option<u64>,
    /// (time, state, member)
    states: Vec<(u64, String, Option<u64>)>,
    /// (invoke time, invoke index, what) of every ok operation.
    ok_ops: Vec<(u64, u64, String)>,
    /// (time, evidence) of the first sign of expiry.
    expired: Option<(u64, String)>,
    /// (observation time, end of the lease it reported, event index).
    leases: Vec<(u64, u64, u64)>,
}

impl Sess {
    fn evidence(&mut self, t: u64, what: String) {
        if self.expired.as_ref().is_none_or(|(at, _)| *at > t) {
            self.expired = Some((t, what));
        }
    }
}

fn impaired_at(faults: &[FaultWindow], t: u64) -> Vec<u64> {
    let mut v: Vec<u64> = faults
        .iter()
        .filter(|f| f.start <= t && t <= f.end)
        .flat_map(|f| f.targets.iter().copied())
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Checks a session history.
pub fn check(history: &History) -> CheckResult {
    let mut r = CheckResult::new("session");
    let members = match history.run_info() {
        Some(Op::Run { members, .. }) => *members,
        _ => 0,
    };
    let faults = history.faults();
    let mut sessions: BTreeMap<u64, Sess> = BTreeMap::new();
    let mut by_process: BTreeMap<String, u64> = BTreeMap::new();
    for o in history.operations() {
        if let (Op::Open { .. }, EventType::Ok, Op::Open { session: Some(s) }) =
            (&o.invoke.op, o.outcome(), o.op())
        {
            by_process.insert(o.invoke.process.clone(), *s);
            let e = sessions.entry(*s).or_default();
            e.process = o.invoke.process.clone();
            e.opened_at = o.end();
            e.first_member = o.completion.and_then(|c| c.member);
        }
    }
    for o in history.operations() {
        let Some(&sid) = by_process.get(&o.invoke.process) else {
            continue;
        };
        let Some(s) = sessions.get_mut(&sid) else {
            continue;
        };
        let outcome = o.outcome();
        let error = o
            .completion
            .and_then(|c| c.error.clone())
            .unwrap_or_default();
        match &o.invoke.op {
            Op::CreateEphemeral { path, .. } if outcome != EventType::Fail => {
                s.path = Some(path.clone())
            }
            Op::Close { .. } if outcome == EventType::Ok => {
                s.closed_at = Some(o.start());
                s.close_invoked_at = Some(o.start());
            }
            Op::Close { .. } if outcome == EventType::Info => s.close_invoked_at = Some(o.start()),
            Op::Abandon { .. } => s.abandoned_at = Some(o.start()),
            _ => {}
        }
        if outcome == EventType::Ok && !matches!(o.invoke.op, Op::Abandon { .. }) {
            s.ok_ops
                .push((o.start(), o.invoke.index, o.invoke.op.name().to_string()));
        }
        if error == "session-expired" {
            if let Some(c) = o.completion {
                s.evidence(
                    c.time,
                    format!(
                        "{} failed with session-expired (event {})",
                        o.invoke.op.name(),
                        c.index
                    ),
                );
            }
        }
    }
    let mut deleted: BTreeMap<String, (u64, u64)> = BTreeMap::new(); // path -> (time, index)
    for e in history.observations() {
        match &e.op {
            Op::SessionState { session, state, .. } if e.process.starts_with('c') => {
                if let Some(s) = sessions.get_mut(session) {
                    if state == "expired" {
                        // A disconnect that the client never recovered from before it
                        // learnt of the expiry is where the session died (the member
                        // closes a connection when its session is closed).
                        let died = match s.states.last() {
                            Some((t, st, _)) if st == "disconnected" => *t,
                            _ => e.time,
                        };
                        s.evidence(
                            died,
                            format!("the SDK reported expired (event {})", e.index),
                        );
                    }
                    s.states.push((e.time, state.clone(), e.member));
                }
            }
            Op::Lease {
                session,
                remaining_ms,
            } if e.process.starts_with('c') => {
                if let Some(s) = sessions.get_mut(session) {
                    s.leases
                        .push((e.time, e.time + remaining_ms * 1_000_000, e.index));
                }
            }
            Op::WatchEvent { kind, path, .. }
                if kind == "NodeDeleted" && e.process.starts_with('o') =>
            {
                deleted.entry(path.clone()).or_insert((e.time, e.index));
            }
            _ => {}
        }
    }
    for s in sessions.values_mut() {
        if let Some(p) = &s.path {
            if let Some(&(t, idx)) = deleted.get(p) {
                let closed_first =
                    s.closed_at.is_some_and(|c| c <= t) || s.abandoned_at.is_some_and(|a| a <= t);
                if !closed_first {
                    s.evidence(
                        t,
                        format!("an observer saw its ephemeral {p} deleted (event {idx})"),
                    );
                }
            }
        }
    }
    r.count("sessions", sessions.len() as u64);
    r.count(
        "closed",
        sessions.values().filter(|s| s.closed_at.is_some()).count() as u64,
    );
    r.count(
        "abandoned",
        sessions
            .values()
            .filter(|s| s.abandoned_at.is_some())
            .count() as u64,
    );
    r.count(
        "expired",
        sessions.values().filter(|s| s.expired.is_some()).count() as u64,
    );

    // No orphans.
    let mut final_reads = 0;
    for e in history.observations() {
        let Op::SessionsFinal {
            sessions: live,
            ephemerals,
        } = &e.op
        else {
            continue;
        };
        final_reads += 1;
        let before = |t: Option<u64>| t.is_some_and(|t| t < e.time);
        for (path, owner) in ephemerals {
            if let Some(s) = sessions.get(owner) {
                let why = if before(s.closed_at) {
                    Some("closed")
                } else if before(s.abandoned_at) {
                    Some("abandoned")
                } else if s
                    .states
                    .iter()
                    .any(|(t, st, _)| st == "expired" && *t < e.time)
                {
                    Some("expired")
                } else {
                    None
                };
                if let Some(why) = why {
                    r.count("orphans", 1);
                    r.violation(json!({"problem": format!("an ephemeral of a {why} session survives"), "member": e.member, "path": path, "owner": format!("{owner:#x}"), "process": s.process}));
                }
            }
        }
        for id in live {
            if let Some(s) = sessions.get(id) {
                if before(s.closed_at) || before(s.abandoned_at) {
                    r.violation(json!({"problem": "a closed or abandoned session is still live at the end", "member": e.member, "session": format!("{id:#x}"), "process": s.process}));
                }
            }
        }
    }
    r.count("final_reads", final_reads);
    if final_reads < members {
        r.violation(json!({"problem": "not every member could be read at the end", "reads": final_reads, "members": members}));
    }

    // No live session expired.
    let minority = members.saturating_sub(1) / 2;
    let mut qualifying = 0;
    let run_end = history.end_time();
    for (id, s) in &sessions {
        // The session's life ends at its close, its abandonment, or the first sign of
        // its expiry; only an expiry that ends it can be a violation.
        let stopped = [s.closed_at, s.abandoned_at]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(run_end);
        let expired_live = s.expired.as_ref().filter(|(t, _)| *t < stopped);
        let end = expired_live.map_or(stopped, |(t, _)| *t);
        let moved = s
            .states
            .iter()
            .any(|(t, st, _)| *t < end && st != "connected");
        let mut member_ids: Vec<u64> = s
            .states
            .iter()
            .filter(|(t, _, _)| *t <= end)
            .filter_map(|(_, _, m)| *m)
            .collect();
        member_ids.extend(s.first_member);
        member_ids.sort_unstable();
        member_ids.dedup();
        if moved || member_ids.len() != 1 {
            continue;
        }
        let m = member_ids[0];
        let life = (s.opened_at, end);
        let overlapping: Vec<&FaultWindow> = faults
            .iter()
            .filter(|f| f.start <= life.1 && f.end >= life.0)
            .collect();
        if overlapping.iter().any(|f| f.targets.contains(&m)) {
            continue;
        }
        let mut points: Vec<u64> = vec![life.0];
        points.extend(overlapping.iter().map(|f| f.start.max(life.0)));
        let majority_ok = points
            .iter()
            .all(|&t| impaired_at(&faults, t).len() as u64 <= minority);
        if !majority_ok {
            continue;
        }
        qualifying += 1;
        if let Some((t, what)) = expired_live {
            r.count("live_sessions_expired", 1);
            r.violation(json!({
                "problem": "a session that stayed connected to a healthy member of the majority was expired",
                "session": format!("{id:#x}"),
                "process": s.process,
                "member": m,
                "opened_at_ms": s.opened_at / 1_000_000,
                "expired_at_ms": t / 1_000_000,
                "evidence": what,
                "faults_during_its_life": overlapping.iter().map(|f| json!({"name": f.name, "targets": f.targets, "start_ms": f.start / 1_000_000, "end_ms": f.end / 1_000_000})).collect::<Vec<_>>(),
            }));
        }
    }
    r.count("protected_sessions", qualifying);

    // No zombie, no lease overrun: nothing may vouch for a session after the ensemble
    // deleted its ephemeral (unless it closed or abandoned the session first).
    for (id, s) in &sessions {
        let Some(p) = &s.path else { continue };
        let Some(&(t_del, del_idx)) = deleted.get(p) else {
            continue;
        };
        // A close the client began before the deletion explains it, answered or not.
        if s.close_invoked_at.is_some_and(|c| c <= t_del)
            || s.abandoned_at.is_some_and(|a| a <= t_del)
        {
            continue;
        }
        let late = t_del + ZOMBIE_MARGIN_MS * 1_000_000;
        if let Some((t, idx, what)) = s.ok_ops.iter().find(|(t, _, _)| *t > late) {
            r.count("zombie_sessions", 1);
            r.violation(json!({
                "problem": "a session was answered as live after the ensemble had deleted its ephemeral",
                "session": format!("{id:#x}"),
                "process": s.process,
                "deleted_seen_at_ms": t_del / 1_000_000,
                "deletion_event": del_idx,
                "ok_op": what,
                "ok_op_invoke": idx,
                "ok_op_invoked_at_ms": t / 1_000_000,
                "member": s.states.iter().rev().find_map(|(_, _, m)| *m).or(s.first_member),
            }));
        }
        if let Some((at, end, idx)) = s.leases.iter().find(|(_, end, _)| *end > late) {
            r.count("lease_overruns", 1);
            r.violation(json!({
                "problem": "the client was promised a lease that ended after the ensemble had deleted its ephemeral",
                "session": format!("{id:#x}"),
                "process": s.process,
                "deleted_seen_at_ms": t_del / 1_000_000,
                "deletion_event": del_idx,
                "lease_observed_at_ms": at / 1_000_000,
                "lease_ends_at_ms": end / 1_000_000,
                "lease_event": idx,
            }));
        }
    }

    // Measured: clients connected to a member cut off by a partition.
    let mut stayed = Vec::new();
    let mut whole = 0;
    for f in faults.iter().filter(|f| f.name.starts_with("partition")) {
        for s in sessions.values() {
            // Its state and member when the partition began.
            let before: Vec<&(u64, String, Option<u64>)> =
                s.states.iter().filter(|(t, _, _)| *t <= f.start).collect();
            let Some((_, st, member)) = before.last() else {
                continue;
            };
            let member = member.or(s.first_member);
            if st != "connected" || !member.is_some_and(|m| f.targets.contains(&m)) {
                continue;
            }
            if s.closed_at.is_some_and(|c| c <= f.end) || s.abandoned_at.is_some_and(|a| a <= f.end)
            {
                continue;
            }
            let left = s
                .states
                .iter()
                .find(|(t, st, _)| *t > f.start && st != "connected")
                .map(|(t, _, _)| *t);
            let until = match left {
                Some(t) if t <= f.end => t,
                _ => {
                    whole += 1;
                    f.end
                }
            };
            stayed.push((until - f.start) as f64 / 1e6);
        }
    }
    if !stayed.is_empty() {
        stayed.sort_by(|a, b| a.total_cmp(b));
        r.measurements.insert(
            "cut_off_connected_ms_max".into(),
            *stayed.last().unwrap_or(&0.0),
        );
        r.measurements.insert(
            "cut_off_connected_ms_median".into(),
            stayed[stayed.len() / 2],
        );
        r.measurements
            .insert("cut_off_clients".into(), stayed.len() as f64);
        r.measurements
            .insert("cut_off_connected_whole_partition".into(), whole as f64);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::Validity;
    use crate::history::build::Builder;

    fn run_info(b: &mut Builder) {
        b.observe(
            0,
            "harness",
            Op::Run {
                workload: "session".into(),
                nemeses: vec![],
                members: 3,
                floor: 0,
                session_timeout_ms: 4000,
                seed: 1,
                time_s: 1,
            },
        );
    }

    /// Session `sid` opened by `process` on member 1 (the builder's member) at `t`,
    /// ephemeral created.
    fn open(b: &mut Builder, t: u64, process: &str, sid: u64) {
        let id = b.invoke(t, process, Op::Open { session: None });
        b.complete(
            id,
            t + 1,
            EventType::Ok,
            Op::Open { session: Some(sid) },
            None,
        );
        b.observe(
            t + 1,
            process,
            Op::SessionState {
                session: sid,
                state: "connected".into(),
                zxid: None,
            },
        );
        let op = Op::CreateEphemeral {
            session: sid,
            path: format!("/sess/s{sid:x}"),
        };
        b.op(t + 2, t + 3, process, EventType::Ok, op.clone(), op, None);
    }

    fn finals(b: &mut Builder, t: u64, live: &[u64], eph: &[(u64, u64)]) {
        for m in 1..=3 {
            b.observe(
                t,
                "final",
                Op::SessionsFinal {
                    sessions: live.to_vec(),
                    ephemerals: eph
                        .iter()
                        .map(|(s, o)| (format!("/sess/s{s:x}"), *o))
                        .collect(),
                },
            );
            let _ = m;
        }
    }

    fn fault(b: &mut Builder, t0: u64, t1: u64, name: &str, targets: &[u64]) {
        let op = Op::Fault {
            name: name.into(),
            targets: targets.to_vec(),
            detail: String::new(),
        };
        b.op(t0, t1, "nemesis", EventType::Ok, op.clone(), op, None);
    }

    #[test]
    fn kept_closed_and_abandoned_sessions_behave() {
        let mut b = Builder::new();
        run_info(&mut b);
        open(&mut b, 10, "c1", 0xa);
        open(&mut b, 10, "c2", 0xb);
        open(&mut b, 10, "c3", 0xc);
        let close = Op::Close { session: 0xb };
        b.op(100, 101, "c2", EventType::Ok, close.clone(), close, None);
        b.observe(
            102,
            "o1",
            Op::WatchEvent {
                watcher: 1,
                kind: "NodeDeleted".into(),
                path: "/sess/sb".into(),
                zxid: 9,
            },
        );
        let ab = Op::Abandon { session: 0xc };
        b.op(100, 100, "c3", EventType::Ok, ab.clone(), ab, None);
        b.observe(
            5000,
            "o1",
            Op::WatchEvent {
                watcher: 1,
                kind: "NodeDeleted".into(),
                path: "/sess/sc".into(),
                zxid: 10,
            },
        );
        finals(&mut b, 9000, &[0xa], &[(0xa, 0xa)]);
        let r = check(&b.build());
        assert_eq!(r.valid, Validity::Valid, "{r:?}");
        assert_eq!(r.counts["protected_sessions"], 3);
    }

    #[test]
    fn an_orphan_ephemeral_is_caught() {
        let mut b = Builder::new();
        run_info(&mut b);
        open(&mut b, 10, "c1", 0xa);
        let ab = Op::Abandon { session: 0xa };
        b.op(100, 100, "c1", EventType::Ok, ab.clone(), ab, None);
        finals(&mut b, 9000, &[0xa], &[(0xa, 0xa)]);
        let r = check(&b.build());
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(r.counts["orphans"], 3);
    }

    #[test]
    fn a_live_session_expired_by_a_paused_leader_is_caught() {
        let mut b = Builder::new();
        run_info(&mut b);
        open(&mut b, 10, "c1", 0xa); // on member 1 (not in the fault)
        fault(&mut b, 100, 9100, "pause-leader", &[2]);
        b.observe(
            9105,
            "o1",
            Op::WatchEvent {
                watcher: 1,
                kind: "NodeDeleted".into(),
                path: "/sess/sa".into(),
                zxid: 50,
            },
        );
        b.observe(
            9106,
            "c1",
            Op::SessionState {
                session: 0xa,
                state: "expired".into(),
                zxid: None,
            },
        );
        finals(&mut b, 20000, &[], &[]);
        let r = check(&b.build());
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(r.counts["live_sessions_expired"], 1);
    }

    #[test]
    fn a_session_on_a_cut_off_member_may_expire_but_not_be_answered_afterwards() {
        let mut b = Builder::new();
        run_info(&mut b);
        open(&mut b, 10, "c1", 0xa);
        // Member 1 (the session's) is isolated: expiry is allowed ...
        fault(&mut b, 100, 6000, "partition-one", &[1]);
        b.observe(
            4800,
            "o1",
            Op::WatchEvent {
                watcher: 1,
                kind: "NodeDeleted".into(),
                path: "/sess/sa".into(),
                zxid: 50,
            },
        );
        finals(&mut b, 20000, &[], &[]);
        let ok_history = b.build();
        let r = check(&ok_history);
        assert_eq!(r.valid, Validity::Valid, "{r:?}");
        assert_eq!(r.measurements["cut_off_connected_whole_partition"], 1.0);

        // ... but not a read of its own ephemeral answered after the deletion.
        let mut b = Builder::new();
        run_info(&mut b);
        open(&mut b, 10, "c1", 0xa);
        fault(&mut b, 100, 6000, "partition-one", &[1]);
        b.observe(
            4800,
            "o1",
            Op::WatchEvent {
                watcher: 1,
                kind: "NodeDeleted".into(),
                path: "/sess/sa".into(),
                zxid: 50,
            },
        );
        let inv = Op::CheckEphemeral {
            session: 0xa,
            path: "/sess/sa".into(),
            present: None,
        };
        let done = Op::CheckEphemeral {
            session: 0xa,
            path: "/sess/sa".into(),
            present: Some(true),
        };
        b.op(5500, 5501, "c1", EventType::Ok, inv, done, None);
        finals(&mut b, 20000, &[], &[]);
        let r = check(&b.build());
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(r.counts["zombie_sessions"], 1);
    }

    #[test]
    fn an_expiry_seen_as_a_disconnect_first_is_still_caught() {
        // The member closes the connection of a session that was closed; the SDK
        // reports disconnected, then expired when it tries to resume.
        let mut b = Builder::new();
        run_info(&mut b);
        open(&mut b, 10, "c1", 0xa);
        fault(&mut b, 100, 9100, "pause-leader", &[2]);
        b.observe(
            9105,
            "c1",
            Op::SessionState {
                session: 0xa,
                state: "disconnected".into(),
                zxid: None,
            },
        );
        b.observe(
            9106,
            "c1",
            Op::SessionState {
                session: 0xa,
                state: "expired".into(),
                zxid: None,
            },
        );
        finals(&mut b, 20000, &[], &[]);
        let r = check(&b.build());
        assert_eq!(r.counts["live_sessions_expired"], 1, "{r:?}");
    }

    #[test]
    fn expiry_while_no_majority_is_healthy_is_not_judged() {
        let mut b = Builder::new();
        run_info(&mut b);
        open(&mut b, 10, "c1", 0xa);
        fault(&mut b, 100, 5000, "kill-majority", &[2, 3]);
        b.observe(
            9000,
            "c1",
            Op::SessionState {
                session: 0xa,
                state: "expired".into(),
                zxid: None,
            },
        );
        finals(&mut b, 20000, &[], &[]);
        let r = check(&b.build());
        assert_eq!(r.counts.get("live_sessions_expired"), None, "{r:?}");
    }

    #[test]
    fn a_lease_that_outlasts_the_deletion_is_caught() {
        let history = |remaining_ms: u64| {
            let mut b = Builder::new();
            run_info(&mut b);
            open(&mut b, 10, "c1", 0xa);
            fault(&mut b, 100, 6000, "partition-one", &[1]);
            b.observe(
                1000,
                "c1",
                Op::Lease {
                    session: 0xa,
                    remaining_ms,
                },
            );
            b.observe(
                4800,
                "o1",
                Op::WatchEvent {
                    watcher: 1,
                    kind: "NodeDeleted".into(),
                    path: "/sess/sa".into(),
                    zxid: 50,
                },
            );
            finals(&mut b, 20000, &[], &[]);
            check(&b.build())
        };
        // Ran out before the deletion: fine.
        let r = history(3500);
        assert_eq!(r.counts.get("lease_overruns"), None, "{r:?}");
        // Promised past it: the client would act after its lock was given away.
        let r = history(4500);
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(r.counts["lease_overruns"], 1);
    }

    /// `session-partition-3`, seed 33: the client began to close its session, the close
    /// applied, and its answer was lost (the member was cut off from what the leader
    /// sends). The deletion was the client's own doing: no lease overrun.
    #[test]
    fn a_deletion_caused_by_the_clients_own_close_is_no_overrun() {
        let mut b = Builder::new();
        run_info(&mut b);
        open(&mut b, 10, "c1", 0xa);
        fault(&mut b, 100, 6000, "partition-oneway", &[1]);
        b.observe(
            1000,
            "c1",
            Op::Lease {
                session: 0xa,
                remaining_ms: 4500,
            },
        );
        let close = Op::Close { session: 0xa };
        b.op(
            4790,
            7000,
            "c1",
            EventType::Info,
            close.clone(),
            close,
            Some("connection-loss"),
        );
        b.observe(
            4800,
            "o1",
            Op::WatchEvent {
                watcher: 1,
                kind: "NodeDeleted".into(),
                path: "/sess/sa".into(),
                zxid: 50,
            },
        );
        finals(&mut b, 20000, &[], &[]);
        let r = check(&b.build());
        assert_eq!(r.counts.get("lease_overruns"), None, "{r:?}");
    }
}
