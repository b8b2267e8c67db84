//! The bench's result: per-session histograms merged into one, throughput and
//! percentiles computed from it, and the two printed forms (a one-row aligned table,
//! or one JSON object).
//!
//! Throughput is operations that succeeded inside the measured window divided by the
//! window's length; percentiles are of those operations' latencies, in milliseconds.
use hdrhistogram::Histogram;
use serde::Serialize;
use serde_json::Value;

use super::driver::{histogram, SessionStats};
use crate::args::Workload;
use crate::output::{table, Align};

/// Everything a bench run reports. Serialised as the `--output json` object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Operation mix.
    pub workload: Workload,
    /// Concurrent sessions.
    pub sessions: usize,
    /// Operations that succeeded inside the measured window.
    pub ops: u64,
    /// `ops` per second of the window.
    pub ops_per_s: f64,
    /// Median latency (ms); `None` when nothing succeeded.
    pub p50_ms: Option<f64>,
    /// 99th percentile latency (ms).
    pub p99_ms: Option<f64>,
    /// 99.9th percentile latency (ms).
    pub p999_ms: Option<f64>,
    /// Largest latency (ms).
    pub max_ms: Option<f64>,
    /// Mean latency (ms).
    pub mean_ms: Option<f64>,
    /// Operations that failed inside the measured window.
    pub errors: u64,
    /// Length of the measured window (s).
    pub duration_s: f64,
    /// Length of the warm-up (s).
    pub warmup_s: f64,
    /// Bytes per written value.
    pub value_size: usize,
    /// Size of the preloaded key set (0 for create).
    pub keys: u64,
    /// Reads were linearizable.
    pub linearizable: bool,
    /// Member list, in the order sessions were spread over it.
    pub servers: Vec<String>,
}

/// Parameters of the run that the stats do not carry.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// Operation mix.
    pub workload: Workload,
    /// Measured window (s).
    pub duration_s: f64,
    /// Warm-up (s).
    pub warmup_s: f64,
    /// Bytes per value.
    pub value_size: usize,
    /// Preloaded keys.
    pub keys: u64,
    /// Linearizable reads.
    pub linearizable: bool,
    /// Members.
    pub servers: Vec<String>,
}

/// Adds all session histograms into one.
pub fn merge<'a>(hists: impl IntoIterator<Item = &'a Histogram<u64>>) -> Histogram<u64> {
    let mut total = histogram();
    for h in hists {
        // Same bounds everywhere, so adding cannot fail; clamp if it ever did.
        if total.add(h).is_err() {
            for v in h.iter_recorded() {
                total.saturating_record_n(v.value_iterated_to(), v.count_at_value());
            }
        }
    }
    total
}

fn ms(us: f64) -> f64 {
    (us / 1000.0 * 1000.0).round() / 1000.0
}

impl Report {
    /// Builds the report from every session's stats.
    pub fn new(info: RunInfo, stats: &[SessionStats]) -> Report {
        let total = merge(stats.iter().map(|s| &s.latencies));
        let errors = stats.iter().map(|s| s.errors).sum();
        let ops = total.len();
        let pct = |q: f64| (!total.is_empty()).then(|| ms(total.value_at_quantile(q) as f64));
        Report {
            workload: info.workload,
            sessions: stats.len(),
            ops,
            ops_per_s: (ops as f64 / info.duration_s * 10.0).round() / 10.0,
            p50_ms: pct(0.50),
            p99_ms: pct(0.99),
            p999_ms: pct(0.999),
            max_ms: (!total.is_empty()).then(|| ms(total.max() as f64)),
            mean_ms: (!total.is_empty()).then(|| ms(total.mean())),
            errors,
            duration_s: info.duration_s,
            warmup_s: info.warmup_s,
            value_size: info.value_size,
            keys: info.keys,
            linearizable: info.linearizable,
            servers: info.servers,
        }
    }

    /// The workload's label: its name, plus the read mode where it matters.
    pub fn label(&self) -> String {
        if self.workload.reads() && self.linearizable {
            format!("{} (linearizable)", self.workload.name())
        } else {
            self.workload.name().to_string()
        }
    }

    /// The text form: one aligned table row with the headline numbers.
    pub fn text(&self) -> String {
        let fmt_ms = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.3}"));
        table(
            &[
                ("workload", Align::Left),
                ("sessions", Align::Right),
                ("ops", Align::Right),
                ("ops/s", Align::Right),
                ("p50 ms", Align::Right),
                ("p99 ms", Align::Right),
                ("p99.9 ms", Align::Right),
                ("errors", Align::Right),
            ],
            &[vec![
                self.label(),
                self.sessions.to_string(),
                self.ops.to_string(),
                format!("{:.1}", self.ops_per_s),
                fmt_ms(self.p50_ms),
                fmt_ms(self.p99_ms),
                fmt_ms(self.p999_ms),
                self.errors.to_string(),
            ]],
        )
    }

    /// The JSON form.
    pub fn json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(latencies: &[u64], errors: u64) -> SessionStats {
        let mut h = histogram();
        for &l in latencies {
            h.record(l).unwrap();
        }
        SessionStats {
            latencies: h,
            errors,
        }
    }

    fn info(workload: Workload, linearizable: bool) -> RunInfo {
        RunInfo {
            workload,
            duration_s: 2.0,
            warmup_s: 1.0,
            value_size: 100,
            keys: 1000,
            linearizable,
            servers: vec!["a:1".into(), "b:2".into()],
        }
    }

    #[test]
    fn merging_histograms() {
        let a = stats(&[100, 200, 300], 0);
        let b = stats(&[1_000, 2_000], 0);
        let empty = stats(&[], 0);
        let m = merge([&a.latencies, &b.latencies, &empty.latencies]);
        assert_eq!(m.len(), 5);
        assert_eq!(m.min(), 100);
        assert_eq!(m.value_at_quantile(0.5), 300);
        assert!(m.equivalent(m.max(), 2_000));
        assert_eq!(merge(std::iter::empty()).len(), 0);
    }

    #[test]
    fn report_numbers() {
        let s = [stats(&[1_000; 99], 1), stats(&[50_000], 2)];
        let r = Report::new(info(Workload::Get, false), &s);
        assert_eq!((r.sessions, r.ops, r.errors), (2, 100, 3));
        assert_eq!(r.ops_per_s, 50.0);
        assert_eq!(r.p50_ms, Some(1.0));
        assert_eq!(r.p99_ms, Some(1.0));
        let p999 = r.p999_ms.unwrap();
        assert!((49.9..50.1).contains(&p999), "{p999}");
        assert_eq!(r.label(), "get");
    }

    #[test]
    fn report_text() {
        let s = [stats(&[1_234, 1_234, 5_678], 0)];
        let r = Report::new(info(Workload::Mixed, true), &s);
        let expected = "\
workload              sessions  ops  ops/s  p50 ms  p99 ms  p99.9 ms  errors
mixed (linearizable)         1    3    1.5   1.234   5.679     5.679       0
";
        assert_eq!(r.text(), expected);
        let empty = Report::new(info(Workload::Set, true), &[stats(&[], 4)]);
        assert_eq!(empty.label(), "set");
        assert!(
            empty
                .text()
                .lines()
                .nth(1)
                .unwrap()
                .ends_with("0.0       -       -         -       4"),
            "{}",
            empty.text()
        );
    }

    #[test]
    fn report_json() {
        let r = Report::new(info(Workload::Create, false), &[stats(&[2_000], 0)]);
        let v = r.json();
        for field in [
            "workload",
            "sessions",
            "ops",
            "ops_per_s",
            "p50_ms",
            "p99_ms",
            "p999_ms",
            "errors",
            "duration_s",
            "value_size",
            "servers",
            "linearizable",
        ] {
            assert!(v.get(field).is_some(), "missing {field}");
        }
        assert_eq!(v["workload"], "create");
        assert_eq!(v["ops"], 1);
        assert_eq!(v["p50_ms"], 2.0);
        assert_eq!(v["servers"][1], "b:2");
        let empty = Report::new(info(Workload::Get, false), &[stats(&[], 0)]);
        assert_eq!(empty.json()["p99_ms"], Value::Null);
    }
}
