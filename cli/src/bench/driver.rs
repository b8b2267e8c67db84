//! The closed loop: every session issues one request, waits for its answer, and
//! issues the next, from a common start until the end of the measured window.
//!
//! Counting (as in the peer baseline): all sessions start together; an operation
//! counts when it *completes* inside the measured window `[warm_end, end)`, its
//! latency (µs, from issue to answer) going into the session's own histogram and a
//! failure into the session's error count. Operations completing during warm-up are
//! not recorded. An operation that takes longer than [`OP_TIMEOUT`] is an error. After
//! an error a session pauses briefly so a failing member is not spun on.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use paddock::{Client, CreateMode};
use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::time::Instant;

use super::workload::{next_step, Layout, Step};
use crate::args::Workload;

/// Longest an operation may take before it counts as an error.
pub const OP_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause after a failed operation.
const ERROR_PAUSE: Duration = Duration::from_millis(10);
/// How many operation errors are printed to stderr (the rest are only counted).
const ERRORS_PRINTED: u64 = 5;
/// Largest latency the histograms track (µs); larger values are clamped to it.
const MAX_LATENCY_US: u64 = 120_000_000;

/// A latency histogram in microseconds, 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("static histogram bounds are valid")
}

/// When the run starts, stops warming up, and ends.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// Every session issues its first operation at this instant.
    pub start: Instant,
    /// Operations completing from here on are measured.
    pub warm_end: Instant,
    /// Operations completing from here on are not; sessions stop issuing.
    pub end: Instant,
}

impl Window {
    /// A window starting `lead` from now.
    pub fn new(lead: Duration, warmup: Duration, duration: Duration) -> Window {
        let start = Instant::now() + lead;
        let warm_end = start + warmup;
        Window {
            start,
            warm_end,
            end: warm_end + duration,
        }
    }

    /// Whether an operation completing at `t` is measured.
    pub fn measures(&self, t: Instant) -> bool {
        t >= self.warm_end && t < self.end
    }
}

/// What one session measured.
#[derive(Debug, Clone)]
pub struct SessionStats {
    /// Latencies (µs) of the operations that succeeded inside the window.
    pub latencies: Histogram<u64>,
    /// Operations that failed inside the window.
    pub errors: u64,
}

/// Everything the sessions share for one run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Operation mix.
    pub workload: Workload,
    /// Node layout of the run.
    pub layout: Arc<Layout>,
    /// Size of the preloaded key set.
    pub keys: u64,
    /// The value every write uses.
    pub value: Arc<Vec<u8>>,
    /// Reads go through Raft ReadIndex.
    pub linearizable: bool,
    /// Seed that, with the session index, makes each session's key sequence.
    pub seed: u64,
    /// Member addresses, for the churn workload's new sessions (session `i` uses
    /// member `i mod N` first, like the long-lived sessions).
    pub servers: Arc<Vec<String>>,
    /// TLS for those sessions.
    pub tls: Option<paddock::tls::ClientTls>,
    /// Session timeout the churn workload asks for.
    pub session_timeout: Duration,
}

/// Runs every session's closed loop over `window` and returns their stats in order.
pub async fn drive(clients: &[Client], plan: &Plan, window: Window) -> Vec<SessionStats> {
    let printed = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = clients
        .iter()
        .enumerate()
        .map(|(i, client)| {
            let (client, plan, printed) = (client.clone(), plan.clone(), printed.clone());
            tokio::spawn(async move { session_loop(i, &client, &plan, window, &printed).await })
        })
        .collect();
    let mut stats = Vec::with_capacity(tasks.len());
    for t in tasks {
        // A panicking session loses its numbers but must not hide the others'.
        stats.push(t.await.unwrap_or_else(|_| SessionStats {
            latencies: histogram(),
            errors: 1,
        }));
    }
    stats
}

async fn session_loop(
    index: usize,
    client: &Client,
    plan: &Plan,
    window: Window,
    printed: &AtomicU64,
) -> SessionStats {
    let mut stats = SessionStats {
        latencies: histogram(),
        errors: 0,
    };
    let mut rng =
        StdRng::seed_from_u64(plan.seed ^ (index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let mut seq = 0u64;
    tokio::time::sleep_until(window.start).await;
    loop {
        let t0 = Instant::now();
        if t0 >= window.end {
            break;
        }
        let step = next_step(plan.workload, plan.keys, &mut rng);
        let result =
            tokio::time::timeout(OP_TIMEOUT, run_step(client, plan, index, &mut seq, step))
                .await
                .unwrap_or_else(|_| Err(format!("no answer within {OP_TIMEOUT:?}")));
        let t1 = Instant::now();
        match result {
            Ok(()) => {
                if window.measures(t1) {
                    let us = u64::try_from((t1 - t0).as_micros())
                        .unwrap_or(u64::MAX)
                        .max(1);
                    stats.latencies.saturating_record(us);
                }
            }
            Err(e) => {
                if window.measures(t1) {
                    stats.errors += 1;
                }
                if printed.fetch_add(1, Ordering::Relaxed) < ERRORS_PRINTED {
                    eprintln!("paddock bench: session {index}: {e}");
                }
                tokio::time::sleep(ERROR_PAUSE).await;
            }
        }
    }
    stats
}

async fn run_step(
    client: &Client,
    plan: &Plan,
    index: usize,
    seq: &mut u64,
    step: Step,
) -> Result<(), String> {
    let r = match step {
        Step::Get(k) => {
            let key = plan.layout.key(k);
            if plan.linearizable {
                client.get_linearizable(&key).await.map(drop)
            } else {
                client.get(&key).await.map(drop)
            }
        }
        Step::Set(k) => client
            .set(&plan.layout.key(k), &plan.value, None)
            .await
            .map(drop),
        Step::Create => {
            *seq += 1;
            let path = plan.layout.created(index, *seq);
            client
                .create(&path, &plan.value, CreateMode::Persistent)
                .await
                .map(drop)
        }
        Step::Churn => {
            *seq += 1;
            let path = plan.layout.created(index, *seq);
            let config = crate::commands::with_tls(
                paddock::ClientConfig::new(super::workload::rotated(&plan.servers, index))
                    .session_timeout(plan.session_timeout)
                    .in_order(true),
                plan.tls.as_ref(),
            );
            match paddock::Client::connect_with(config).await {
                Ok(c) => {
                    let created = c
                        .create(&path, &plan.value, CreateMode::Ephemeral)
                        .await
                        .map(drop);
                    let closed = c.close().await;
                    created.and(closed)
                }
                Err(e) => Err(e),
            }
        }
        Step::Lock => match paddock::recipes::Lock::new(client, &plan.layout.lock()) {
            Ok(lock) => match lock.acquire().await {
                Ok(guard) => guard.release().await,
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        },
    };
    r.map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn window_bounds() {
        let w = Window::new(
            Duration::from_millis(100),
            Duration::from_secs(2),
            Duration::from_secs(10),
        );
        assert!(!w.measures(w.start));
        assert!(!w.measures(w.warm_end - Duration::from_micros(1)));
        assert!(w.measures(w.warm_end));
        assert!(w.measures(w.end - Duration::from_micros(1)));
        assert!(!w.measures(w.end));
        assert_eq!(w.end - w.start, Duration::from_secs(12));
    }

    #[test]
    fn histogram_clamps() {
        let mut h = histogram();
        h.saturating_record(u64::MAX);
        h.saturating_record(0);
        assert_eq!(h.len(), 2);
        assert!(h.max() >= MAX_LATENCY_US);
    }
}
