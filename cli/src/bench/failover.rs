//! `paddock bench --workload election`: how long an election goes without a leader when
//! the leader's process dies. Candidates are child processes (`paddock elect`, one
//! session each); each round kills the current leader's process with SIGKILL and times,
//! from the kill, how long it takes until an observer sees the next leader. A killed
//! candidate is replaced at once, so every round has `--sessions` candidates. Rounds
//! repeat for the measured window (after one unmeasured warm-up round).
//!
//! What it measures is dominated by the session timeout (the dead leader's session
//! must expire before its node goes): pass the same `--session-timeout` to every
//! system compared.
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures::StreamExt;
use paddock::recipes::Election;
use paddock::Client;
use serde_json::json;

use super::workload::Layout;
use crate::args::BenchArgs;
use crate::commands::Ctx;
use crate::output::emit;

/// The longest a round may take before the run gives up.
const ROUND_LIMIT: Duration = Duration::from_secs(120);

/// Runs the election failover benchmark and prints its report.
pub async fn run(ctx: &Ctx, args: &BenchArgs) -> anyhow::Result<()> {
    let layout = Layout::random();
    let path = format!("{}/election", layout.prefix);
    let observer = Client::connect_with(ctx.config())
        .await
        .context("connecting the observer")?;
    let mut candidates = Candidates::new(ctx, &path, args.sessions.max(2) as usize);
    let result = rounds(args, &observer, &path, &mut candidates).await;
    candidates.stop_all();
    let _ = observer.delete_all(&layout.prefix).await;
    let _ = observer.close().await;
    let times = result?;
    let report = FailoverReport::new(args.sessions.max(2) as usize, ctx.session_timeout, times);
    emit(ctx.output, || report.text(), || report.json());
    Ok(())
}

async fn rounds(
    args: &BenchArgs,
    observer: &Client,
    path: &str,
    candidates: &mut Candidates,
) -> anyhow::Result<Vec<Duration>> {
    candidates.fill()?;
    let election = Election::new(observer, path)?;
    let mut leaders = Box::pin(election.observe());
    let mut times = Vec::new();
    let window = Duration::from_secs_f64(args.duration);
    let mut measuring_since = None;
    let started = Instant::now();
    loop {
        // Wait for a leader.
        let leader = loop {
            let next = tokio::time::timeout(ROUND_LIMIT, leaders.next())
                .await
                .context("no leader in time")?;
            match next {
                Some(Ok(Some(l))) => break l,
                Some(Ok(None)) => continue,
                Some(Err(e)) => return Err(e).context("observing the election"),
                None => bail!("the observer's stream ended"),
            }
        };
        let value = String::from_utf8_lossy(&leader.value).to_string();
        let killed_at = candidates.kill(&value)?;
        candidates.fill()?;
        // Time until the next leader.
        let next = loop {
            let item = tokio::time::timeout(ROUND_LIMIT, leaders.next())
                .await
                .context("no new leader in time")?;
            match item {
                Some(Ok(Some(l))) if l.token != leader.token => break l,
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(e).context("observing the election"),
                None => bail!("the observer's stream ended"),
            }
        };
        let took = killed_at.elapsed();
        drop(next);
        match measuring_since {
            // The first round is warm-up (processes starting, caches cold).
            None => measuring_since = Some(Instant::now()),
            Some(since) => {
                times.push(took);
                if since.elapsed() >= window && !times.is_empty() {
                    break;
                }
            }
        }
        if started.elapsed() > window * 4 + ROUND_LIMIT {
            break;
        }
    }
    Ok(times)
}

/// The candidate processes, by the value each campaigns with.
struct Candidates {
    exe: std::path::PathBuf,
    servers: String,
    /// TLS and `--auth` flags, passed on so candidates connect as this process does.
    connection_flags: Vec<String>,
    timeout_ms: u128,
    path: String,
    want: usize,
    next: usize,
    running: Vec<(String, Child)>,
}

impl Candidates {
    fn new(ctx: &Ctx, path: &str, want: usize) -> Candidates {
        Candidates {
            exe: std::env::current_exe().unwrap_or_else(|_| "paddock".into()),
            servers: ctx.servers.join(","),
            connection_flags: ctx.connection_flags.clone(),
            timeout_ms: ctx.session_timeout.as_millis(),
            path: path.to_string(),
            want,
            next: 0,
            running: Vec::new(),
        }
    }

    /// Starts candidates until `want` run.
    fn fill(&mut self) -> anyhow::Result<()> {
        while self.running.len() < self.want {
            let value = format!("candidate-{}", self.next);
            self.next += 1;
            let child = Command::new(&self.exe)
                .args(["--servers", &self.servers])
                .args(&self.connection_flags)
                .args(["--session-timeout", &self.timeout_ms.to_string()])
                .args(["elect", &self.path, &value])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .with_context(|| format!("starting {}", self.exe.display()))?;
            self.running.push((value, child));
        }
        Ok(())
    }

    /// Kills the candidate campaigning with `value` (SIGKILL) and returns when.
    fn kill(&mut self, value: &str) -> anyhow::Result<Instant> {
        let Some(at) = self.running.iter().position(|(v, _)| v == value) else {
            bail!("the leader {value:?} is not one of this run's candidates");
        };
        let (_, mut child) = self.running.remove(at);
        child.kill().context("killing the leader")?;
        let when = Instant::now();
        let _ = child.wait();
        Ok(when)
    }

    fn stop_all(&mut self) {
        for (_, mut c) in self.running.drain(..) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Candidates {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// The failover times of a run.
struct FailoverReport {
    candidates: usize,
    session_timeout: Duration,
    times: Vec<Duration>,
}

impl FailoverReport {
    fn new(candidates: usize, session_timeout: Duration, mut times: Vec<Duration>) -> Self {
        times.sort();
        FailoverReport {
            candidates,
            session_timeout,
            times,
        }
    }

    fn at(&self, q: f64) -> Option<f64> {
        if self.times.is_empty() {
            return None;
        }
        let i = ((self.times.len() - 1) as f64 * q).round() as usize;
        Some(self.times[i].as_secs_f64() * 1000.0)
    }

    fn text(&self) -> String {
        let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.0}"));
        format!(
            "workload election: {} candidates, requested session timeout {} ms\n\
             failovers {}  min {} ms  p50 {} ms  p99 {} ms  max {} ms",
            self.candidates,
            self.session_timeout.as_millis(),
            self.times.len(),
            f(self.at(0.0)),
            f(self.at(0.5)),
            f(self.at(0.99)),
            f(self.at(1.0)),
        )
    }

    fn json(&self) -> serde_json::Value {
        json!({
            "workload": "election",
            "candidates": self.candidates,
            "session_timeout_ms": self.session_timeout.as_millis() as u64,
            "failovers": self.times.len(),
            "failover_ms": {
                "min": self.at(0.0), "p50": self.at(0.5), "p99": self.at(0.99), "max": self.at(1.0),
            },
        })
    }
}
