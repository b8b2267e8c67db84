//! One run: start a cluster, drive a workload while the nemesis injects faults, heal,
//! read the final state, check the history, and write everything to the run directory.
//!
//! The run directory (`--out DIR`) holds afterwards:
//! - `history.jsonl`: every event (see `history.rs`);
//! - `results.json`: the run's parameters, counts, and each checker's verdict with its
//!   first counterexample;
//! - `latency.svg`, `rate.svg`: latency and throughput over time, faults shaded;
//! - `member-<id>.log`: each member's log (all its restarts appended);
//! - `data-<id>/`: each member's data directory, kept only when the run is not valid.
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rand::SeedableRng;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::checker::{self, CheckResult, Validity};
use crate::cluster::{Cluster, ClusterSpec};
use crate::history::{History, Op, Recorder};
use crate::nemesis::{self, Kind, Nemesis, Timing};
use crate::workload::{self, Ctx, Pacer};

/// Session timeout the clients ask for.
pub const SESSION_TIMEOUT: Duration = Duration::from_secs(4);
/// The members' session tick (`--session-tick-ms`).
pub const SESSION_TICK: Duration = Duration::from_secs(1);
/// Upper bound of the members' randomised election timeout (100 ms x 10 ticks x 2).
pub const ELECTION_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the harness waits for one operation.
pub const OP_TIMEOUT: Duration = Duration::from_secs(6);

/// Flags every member of a run gets.
pub fn member_args() -> Vec<String> {
    [
        "--tick-ms",
        "100",
        "--election-ticks",
        "10",
        "--heartbeat-ticks",
        "2",
        "--session-tick-ms",
        "1000",
        "--snapshot-entries",
        // Low enough that even the session workload's few writes make snapshots early
        // (the disk-bitflip-snapshot nemesis needs a file to damage).
        "200",
        "--container-check-ms",
        "1000",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// What to run.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// One of [`workload::NAMES`].
    pub workload: String,
    /// The faults.
    pub nemeses: Vec<Kind>,
    /// 3 or 5.
    pub members: usize,
    /// Length of the load phase (faults run during it).
    pub time: Duration,
    /// Total operations per second.
    pub rate: f64,
    /// Client tasks.
    pub concurrency: usize,
    /// Seeds the nemesis schedule and the clients' choices.
    pub seed: u64,
    /// The run directory.
    pub out: PathBuf,
    /// The `paddockd` binary.
    pub paddockd: PathBuf,
    /// Lowest acceptable ok operations per second while faults run.
    pub floor: f64,
    /// Extra environment for the members (e.g. `FAILPOINTS=...`).
    pub env: Vec<(String, String)>,
    /// Print a progress line on stderr.
    pub progress: bool,
}

/// What a run (or a re-check) concluded.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The workload.
    pub workload: String,
    /// The nemeses requested.
    pub nemeses: Vec<String>,
    /// The seed.
    pub seed: u64,
    /// Members.
    pub members: u64,
    /// Client operations by outcome.
    pub ok: u64,
    /// Definitely failed.
    pub fail: u64,
    /// Unknown outcome.
    pub info: u64,
    /// Faults injected (windows).
    pub faults: u64,
    /// Ok operations per second while faults ran.
    pub ops_per_s_during_faults: f64,
    /// Valid, invalid or unknown: the worst checker verdict.
    pub valid: Validity,
    /// Every checker's result.
    pub checkers: Vec<CheckResult>,
}

impl Outcome {
    /// The first invalid (or unknown) checker, for a one-line report.
    pub fn first_problem(&self) -> Option<&CheckResult> {
        self.checkers
            .iter()
            .find(|c| c.valid == Validity::Invalid)
            .or_else(|| self.checkers.iter().find(|c| c.valid == Validity::Unknown))
    }
}

/// Checks a history and summarises it.
pub fn evaluate(history: &History) -> Outcome {
    let (workload, nemeses, seed, members, floor) = match history.run_info() {
        Some(Op::Run {
            workload,
            nemeses,
            seed,
            members,
            floor,
            ..
        }) => (
            workload.clone(),
            nemeses.clone(),
            *seed,
            *members,
            *floor as f64,
        ),
        _ => (String::new(), Vec::new(), 0, 0, 0.0),
    };
    let checkers = checker::check_all(&workload, history, floor);
    let valid = if checkers.iter().any(|c| c.valid == Validity::Invalid) {
        Validity::Invalid
    } else if checkers.iter().any(|c| c.valid == Validity::Unknown) {
        Validity::Unknown
    } else {
        Validity::Valid
    };
    let (mut ok, mut fail, mut info) = (0, 0, 0);
    for o in history.operations() {
        if o.invoke.process == "final" {
            continue;
        }
        match o.outcome() {
            crate::history::EventType::Ok => ok += 1,
            crate::history::EventType::Fail => fail += 1,
            _ => info += 1,
        }
    }
    let rate = checker::faults::ops_during_faults(history);
    Outcome {
        workload,
        nemeses,
        seed,
        members,
        ok,
        fail,
        info,
        faults: history.faults().len() as u64,
        ops_per_s_during_faults: rate,
        valid,
        checkers,
    }
}

/// Re-checks the history stored in `dir` and rewrites its `results.json` and plots.
pub fn check_dir(dir: &Path) -> anyhow::Result<Outcome> {
    let history = History::load(&dir.join("history.jsonl"))?;
    let outcome = evaluate(&history);
    write_results(dir, &history, &outcome)?;
    Ok(outcome)
}

fn write_results(dir: &Path, history: &History, outcome: &Outcome) -> anyhow::Result<()> {
    let json = serde_json::to_string_pretty(outcome)?;
    std::fs::write(dir.join("results.json"), json + "\n").context("writing results.json")?;
    let title = format!("{} / {}", outcome.workload, outcome.nemeses.join(","));
    crate::plot::latency_svg(history, &dir.join("latency.svg"), &title)?;
    crate::plot::rate_svg(history, &dir.join("rate.svg"), &title)?;
    Ok(())
}

/// Runs one cell and writes its directory. Errors are failures of the harness itself
/// (a port taken, a missing binary), not of Paddock: those are in the outcome.
pub async fn run(cfg: RunConfig) -> anyhow::Result<Outcome> {
    std::fs::create_dir_all(&cfg.out).with_context(|| format!("creating {}", cfg.out.display()))?;
    for stale in ["history.jsonl", "results.json"] {
        let _ = std::fs::remove_file(cfg.out.join(stale));
    }
    for id in 1..=cfg.members {
        let _ = std::fs::remove_file(cfg.out.join(format!("member-{id}.log")));
        let _ = std::fs::remove_dir_all(cfg.out.join(format!("data-{id}")));
    }
    let rec = Recorder::new();
    rec.observe(
        "harness",
        None,
        Op::Run {
            workload: cfg.workload.clone(),
            nemeses: cfg.nemeses.iter().map(|k| k.name().to_string()).collect(),
            members: cfg.members as u64,
            floor: cfg.floor as u64,
            session_timeout_ms: SESSION_TIMEOUT.as_millis() as u64,
            seed: cfg.seed,
            time_s: cfg.time.as_secs(),
        },
    );
    let cluster = Arc::new(
        Cluster::start(ClusterSpec {
            members: cfg.members,
            paddockd: cfg.paddockd.clone(),
            dir: cfg.out.clone(),
            args: member_args(),
            env: cfg.env.clone(),
        })
        .await?,
    );
    let result = drive(&cfg, &cluster, &rec).await;
    cluster.shutdown();
    let history = rec.snapshot();
    history.save(&cfg.out.join("history.jsonl"))?;
    result?;
    let outcome = evaluate(&history);
    write_results(&cfg.out, &history, &outcome)?;
    if outcome.valid == Validity::Valid {
        for id in 1..=cfg.members {
            let _ = std::fs::remove_dir_all(cfg.out.join(format!("data-{id}")));
        }
    }
    Ok(outcome)
}

async fn drive(cfg: &RunConfig, cluster: &Arc<Cluster>, rec: &Recorder) -> anyhow::Result<()> {
    if cluster.wait_leader(Duration::from_secs(30)).await.is_none() {
        anyhow::bail!(
            "no leader within 30 s of the start (see {}/member-*.log)",
            cfg.out.display()
        );
    }
    let stop = CancellationToken::new();
    let ctx = Ctx {
        cluster: cluster.clone(),
        rec: rec.clone(),
        pacer: Arc::new(Pacer::new(cfg.rate)),
        concurrency: cfg.concurrency,
        session_timeout: SESSION_TIMEOUT,
        op_timeout: OP_TIMEOUT,
        stop: stop.clone(),
        seed: cfg.seed,
        counter: Arc::new(AtomicU64::new(1)),
    };
    setup(cfg, &ctx).await?;

    let watchers = (cfg.workload == "watch").then(|| workload::watch::start_watchers(&ctx));
    let sessions = Arc::new(workload::session::Shared::default());
    if cfg.workload == "session" {
        workload::session::start_observers(&ctx, &sessions);
    }
    let mut clients = Vec::new();
    for k in 0..cfg.concurrency {
        let ctx = ctx.clone();
        clients.push(match cfg.workload.as_str() {
            "register" => tokio::spawn(workload::register::client(ctx, k)),
            "set" => tokio::spawn(workload::set::client(ctx, k)),
            "fifo" => tokio::spawn(workload::fifo::client(ctx, k)),
            "sequential" => tokio::spawn(workload::sequential::client(ctx, k)),
            "watch" => tokio::spawn(workload::watch::client(ctx, k)),
            "lock" => tokio::spawn(workload::lock::client(ctx, k, workload::lock::Recipe::Lock)),
            "election" => tokio::spawn(workload::lock::client(
                ctx,
                k,
                workload::lock::Recipe::Election,
            )),
            _ => tokio::spawn(workload::session::client(ctx, k, sessions.clone())),
        });
    }

    let mut nemesis = Nemesis::new(
        cfg.nemeses.clone(),
        cfg.members,
        rand::rngs::StdRng::seed_from_u64(cfg.seed),
        Timing::new(ELECTION_TIMEOUT, SESSION_TIMEOUT),
    );
    let monitor_stop = CancellationToken::new();
    let monitor = tokio::spawn(crash_monitor(
        cluster.clone(),
        rec.clone(),
        nemesis.handling(),
        monitor_stop.clone(),
    ));
    let progress = cfg.progress.then(|| {
        tokio::spawn(progress_line(
            rec.clone(),
            cluster.clone(),
            cfg.time,
            monitor_stop.clone(),
        ))
    });

    let started = Instant::now();
    let until = started + cfg.time;
    let never = CancellationToken::new();
    nemesis.run(cluster, rec, until, &never).await;
    tokio::time::sleep_until(until.into()).await;
    stop.cancel();
    for c in clients {
        let _ = tokio::time::timeout(OP_TIMEOUT * 3, c).await;
    }

    // Heal: every link, every paused or stopped member.
    cluster.heal_all();
    for id in cluster.ids() {
        if cluster.is_paused(id) {
            cluster.resume(id);
        }
        if !cluster.is_running(id) {
            let _ = cluster.start_member(id);
        }
    }
    if !cluster.wait_healthy(Duration::from_secs(60)).await {
        rec.observe(
            "final",
            None,
            Op::Note {
                what: "not every member healthy 60 s after healing".into(),
            },
        );
    }
    match cfg.workload.as_str() {
        "set" => workload::set::finish(&ctx).await,
        "fifo" => workload::fifo::finish(&ctx).await,
        "sequential" => workload::sequential::finish(&ctx).await,
        "lock" | "election" => workload::lock::finish(&ctx).await,
        "watch" => {
            if let Some(w) = watchers {
                workload::watch::finish(&ctx, w).await;
            }
        }
        "session" => {
            let wait = SESSION_TIMEOUT + SESSION_TICK * 2 + Duration::from_secs(1);
            workload::session::finish(&ctx, &sessions, wait).await;
        }
        _ => {}
    }
    final_statuses(cluster, rec).await;
    monitor_stop.cancel();
    let _ = monitor.await;
    if let Some(p) = progress {
        let _ = p.await;
        eprintln!();
    }
    Ok(())
}

async fn setup(cfg: &RunConfig, ctx: &Ctx) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = match cfg.workload.as_str() {
            "register" => workload::register::setup(ctx).await,
            "set" => workload::set::setup(ctx).await,
            "fifo" => workload::fifo::setup(ctx).await,
            "sequential" => workload::sequential::setup(ctx).await,
            "watch" => workload::watch::setup(ctx).await,
            "session" => workload::session::setup(ctx).await,
            "lock" | "election" => workload::lock::setup(ctx).await,
            other => anyhow::bail!(
                "unknown workload {other:?}; known: {}",
                workload::NAMES.join(", ")
            ),
        };
        match r {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() >= deadline => return Err(e.context("workload setup")),
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

/// Waits (bounded) until every member has applied the same index, then records each
/// member's status.
async fn final_statuses(cluster: &Cluster, rec: &Recorder) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut st = cluster.statuses().await;
    while Instant::now() < deadline {
        let applied: std::collections::BTreeSet<u64> =
            st.values().map(|s| s.applied_index).collect();
        if st.len() == cluster.ids().len() && applied.len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        st = cluster.statuses().await;
    }
    for id in cluster.ids() {
        match st.get(&id) {
            Some(s) => {
                let healthy = crate::admin::healthy(
                    &cluster.member(id).admin.to_string(),
                    crate::cluster::ADMIN_TIMEOUT,
                )
                .await;
                rec.observe(
                    "final",
                    Some(id),
                    Op::Status {
                        applied: s.applied_index,
                        digest: s.digest.clone(),
                        healthy,
                    },
                );
            }
            None => rec.observe(
                "final",
                Some(id),
                Op::Note {
                    what: format!("member {id} did not answer /status at the end"),
                },
            ),
        }
    }
}

/// Notices members that exit without the nemesis killing them, records it (with the
/// end of their log) and starts them again, so the run goes on.
async fn crash_monitor(
    cluster: Arc<Cluster>,
    rec: Recorder,
    handling: nemesis::Handling,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
        for id in cluster.ids() {
            if handling.lock().contains(&id) {
                continue;
            }
            if let Some(status) = cluster.exit_status(id) {
                if cluster.is_running(id) {
                    continue;
                }
                let tail = cluster.log_tail(id, 5).join(" | ");
                rec.observe(
                    "harness",
                    Some(id),
                    Op::Note {
                        what: format!("member-exited member={id} status={status} log: {tail}"),
                    },
                );
                let _ = cluster.start_member(id);
            }
        }
    }
}

async fn progress_line(
    rec: Recorder,
    cluster: Arc<Cluster>,
    total: Duration,
    stop: CancellationToken,
) {
    let start = Instant::now();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        let (ok, fail, info) = rec.counts();
        let cut = cluster.cut_links().len();
        let down: Vec<String> = cluster
            .ids()
            .into_iter()
            .filter(|&i| !cluster.is_running(i) || cluster.is_paused(i))
            .map(|i| {
                if cluster.is_paused(i) {
                    format!("{i}:paused")
                } else {
                    format!("{i}:down")
                }
            })
            .collect();
        let t = start.elapsed().as_secs().min(total.as_secs());
        eprint!(
            "\r  {t:>3}/{}s  ok {ok:>7}  fail {fail:>6}  info {info:>5}  links cut {cut:>2}  members {:<20}",
            total.as_secs(),
            if down.is_empty() { "all up".to_string() } else { down.join(" ") }
        );
    }
}
