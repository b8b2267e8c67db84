//! The fault checker: a run only counts if its faults happened and the cluster stayed
//! useful while they did. Every requested nemesis must have fired at least once, and the
//! rate of successful client operations between the first fault's start and the last
//! fault's end (healthy gaps between faults included, so recovery counts) must reach the
//! run's floor.
use serde_json::json;

use super::CheckResult;
use crate::history::{EventType, History, Op};

/// Successful client operations per second between the first fault's start and the last
/// fault's end; over the whole load phase when there were no faults.
pub fn ops_during_faults(history: &History) -> f64 {
    let ops = history.operations();
    let client_ok: Vec<u64> = ops
        .iter()
        .filter(|o| o.invoke.process.starts_with('c') && o.outcome() == EventType::Ok)
        .filter_map(|o| o.completion.map(|c| c.time))
        .collect();
    let faults = history.faults();
    let (from, to) = match (
        faults.iter().map(|f| f.start).min(),
        faults.iter().map(|f| f.end).max(),
    ) {
        (Some(a), Some(b)) if b > a => (a, b),
        _ => {
            let starts = ops
                .iter()
                .filter(|o| o.invoke.process.starts_with('c'))
                .map(|o| o.start());
            match (starts.clone().min(), client_ok.iter().max()) {
                (Some(a), Some(&b)) if b > a => (a, b),
                _ => return 0.0,
            }
        }
    };
    let n = client_ok.iter().filter(|&&t| t >= from && t <= to).count();
    n as f64 / ((to - from) as f64 / 1e9)
}

/// Checks that every requested fault fired and throughput stayed above `floor`.
pub fn check(history: &History, floor: f64) -> CheckResult {
    let mut r = CheckResult::new("faults");
    let faults = history.faults();
    r.count("windows", faults.len() as u64);
    if let Some(Op::Run { nemeses, .. }) = history.run_info() {
        for n in nemeses {
            let fired = faults.iter().filter(|f| &f.name == n).count() as u64;
            r.count(&format!("fired:{n}"), fired);
            if fired == 0 {
                r.violation(json!({"problem": "a requested fault never fired", "nemesis": n}));
            }
        }
    }
    let rate = ops_during_faults(history);
    r.measurements.insert(
        "ok_ops_per_s_during_faults".into(),
        (rate * 10.0).round() / 10.0,
    );
    if rate < floor {
        r.violation(json!({"problem": "throughput during faults fell below the floor", "ok_ops_per_s": rate, "floor": floor}));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::Validity;
    use crate::history::build::Builder;

    fn history(ops_per_s: u64, fault: bool) -> History {
        let mut b = Builder::new();
        b.observe(
            0,
            "harness",
            Op::Run {
                workload: "set".into(),
                nemeses: vec!["kill-one".into()],
                members: 3,
                floor: 100,
                session_timeout_ms: 4000,
                seed: 1,
                time_s: 10,
            },
        );
        let step = 1000 / ops_per_s;
        for i in 0..(10 * ops_per_s) {
            let op = Op::Add {
                path: format!("/set/{i}"),
            };
            b.op(
                i * step,
                i * step + 1,
                "c1",
                EventType::Ok,
                op.clone(),
                op,
                None,
            );
        }
        if fault {
            let f = Op::Fault {
                name: "kill-one".into(),
                targets: vec![1],
                detail: String::new(),
            };
            b.op(2000, 8000, "nemesis", EventType::Ok, f.clone(), f, None);
        }
        b.build()
    }

    #[test]
    fn a_fired_fault_with_enough_throughput_is_valid() {
        let r = check(&history(200, true), 100.0);
        assert_eq!(r.valid, Validity::Valid, "{r:?}");
        assert!(r.measurements["ok_ops_per_s_during_faults"] > 150.0);
    }

    #[test]
    fn a_fault_that_never_fired_is_caught() {
        assert_eq!(check(&history(200, false), 100.0).valid, Validity::Invalid);
    }

    #[test]
    fn low_throughput_is_caught() {
        assert_eq!(check(&history(50, true), 100.0).valid, Validity::Invalid);
    }
}
