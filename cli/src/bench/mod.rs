//! `paddock bench`: a closed-loop load generator with the same workload shape as the
//! peer baseline (shared/peerbench), so Paddock's numbers compare with ZooKeeper's
//! and etcd's.
//!
//! A run, in order:
//! 1. open one session per `--sessions`, session *i* on member *i mod N*;
//! 2. create the run's directories under a fresh `/bench-<random>` prefix and, for
//!    set/get/mixed, preload `--keys` keys of `--value-size` bytes (batched `multi`s,
//!    several in flight);
//! 3. run every session's closed loop: warm-up, then the measured window;
//! 4. merge the per-session histograms and print the report;
//! 5. delete the prefix recursively (best effort; not with `--keep`) and close every
//!    session.
//!
//! Modules: [`workload`] (layout, op mix, preload batches: pure), [`driver`] (the
//! closed loop and timing), [`report`] (merging and printing), and [`failover`] (the
//! election workload, which times leader failovers instead of running a closed loop).
pub mod driver;
pub mod failover;
pub mod report;
pub mod workload;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures::future::join_all;
use paddock::{Client, CreateMode};

use crate::args::BenchArgs;
use crate::commands::{tree, Ctx};
use crate::output::emit;
use driver::{Plan, Window};
use report::{Report, RunInfo};
use workload::Layout;

/// Time between the end of setup and the sessions' common start.
const START_LEAD: Duration = Duration::from_millis(100);
/// Preload `multi`s in flight per session.
const PRELOAD_PER_SESSION: usize = 4;

/// Runs one bench as described by `args` and prints its report.
pub async fn run(ctx: &Ctx, args: &BenchArgs) -> anyhow::Result<()> {
    if args.workload == crate::args::Workload::Election {
        return failover::run(ctx, args).await;
    }
    let layout = Arc::new(Layout::random());
    let clients = open_sessions(ctx, args.sessions as usize).await?;
    let result = measure(ctx, args, &clients, &layout).await;
    if args.keep {
        eprintln!("paddock bench: kept {}", layout.prefix);
    } else if let Err(e) = cleanup(&clients, &layout).await {
        eprintln!(
            "paddock bench: cleanup of {} incomplete: {e:#}",
            layout.prefix
        );
    }
    join_all(clients.iter().map(|c| c.close())).await;
    let report = result?;
    emit(ctx.output, || report.text(), || report.json());
    Ok(())
}

/// Opens the sessions concurrently; session `i` starts on member `i mod N`.
async fn open_sessions(ctx: &Ctx, n: usize) -> anyhow::Result<Vec<Client>> {
    let results = join_all((0..n).map(|i| {
        let config = ctx
            .config_for(workload::rotated(&ctx.servers, i))
            .in_order(true);
        async move { Client::connect_with(config).await }
    }))
    .await;
    let mut clients = Vec::with_capacity(n);
    let mut first_err = None;
    for (i, r) in results.into_iter().enumerate() {
        match r {
            Ok(c) => clients.push(c),
            Err(e) if first_err.is_none() => first_err = Some((i, e)),
            Err(_) => {}
        }
    }
    if let Some((i, e)) = first_err {
        join_all(clients.iter().map(|c| c.close())).await;
        let server = &ctx.servers[i % ctx.servers.len()];
        return Err(e).with_context(|| format!("opening bench session {i} on {server}"));
    }
    Ok(clients)
}

/// Setup, preload and the measured run.
async fn measure(
    ctx: &Ctx,
    args: &BenchArgs,
    clients: &[Client],
    layout: &Arc<Layout>,
) -> anyhow::Result<Report> {
    let value = Arc::new(workload::value(args.value_size));
    for dir in layout.dirs() {
        clients[0]
            .create(&dir, b"", CreateMode::Persistent)
            .await
            .with_context(|| format!("creating {dir}"))?;
    }
    let keys = if args.workload.needs_keys() {
        args.keys
    } else {
        0
    };
    if keys > 0 {
        preload(clients, layout, keys, &value)
            .await
            .context("preloading the key set")?;
    }
    let plan = Plan {
        workload: args.workload,
        layout: layout.clone(),
        keys,
        value,
        linearizable: args.linearizable,
        seed: rand::random(),
        servers: Arc::new(ctx.servers.clone()),
        tls: ctx.tls.clone(),
        session_timeout: ctx.session_timeout,
    };
    let window = Window::new(
        START_LEAD,
        Duration::from_secs_f64(args.warmup),
        Duration::from_secs_f64(args.duration),
    );
    let stats = driver::drive(clients, &plan, window).await;
    let info = RunInfo {
        workload: args.workload,
        duration_s: args.duration,
        warmup_s: args.warmup,
        value_size: args.value_size,
        keys,
        linearizable: args.linearizable,
        servers: ctx.servers.clone(),
    };
    Ok(Report::new(info, &stats))
}

/// Creates keys `0..keys` in batched `multi`s spread over all sessions.
async fn preload(
    clients: &[Client],
    layout: &Layout,
    keys: u64,
    value: &[u8],
) -> paddock::Result<()> {
    let ranges = workload::preload_ranges(keys, workload::preload_batch(value.len()));
    let next = AtomicUsize::new(0);
    let workers = (0..clients.len() * PRELOAD_PER_SESSION).map(|w| {
        let (client, ranges, next) = (&clients[w % clients.len()], &ranges, &next);
        async move {
            loop {
                let Some(&range) = ranges.get(next.fetch_add(1, Ordering::Relaxed)) else {
                    return Ok(());
                };
                client
                    .multi(&workload::preload_ops(layout, range, value))
                    .await?;
            }
        }
    });
    join_all(workers).await.into_iter().collect()
}

/// Deletes the run's prefix through the first session that manages it.
async fn cleanup(clients: &[Client], layout: &Layout) -> paddock::Result<()> {
    let mut last = Ok(());
    for client in clients.iter().take(3) {
        match tree::delete_tree(client, &layout.prefix, None).await {
            Ok(_) => return Ok(()),
            Err(e) if e.code() == paddock::Code::NoNode => return Ok(()),
            Err(e) => last = Err(e),
        }
    }
    last
}
