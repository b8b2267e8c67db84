//! The watch workload: writers set the data of a few nodes under `/watch` while one
//! watcher per member holds a persistent recursive watch on `/watch` and records every
//! event and every connection state change. `checker::watch` then requires events in
//! zxid order without duplicates, no gap within a stretch of one connection, and that the
//! last event per node agrees with the final tree.
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use paddock::{Client, CreateMode, State};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{member_of, outcome_of, session_lost, timed, watch_observation, Ctx};
use crate::history::{EventType, Op};

/// The watched subtree.
pub const ROOT: &str = "/watch";
/// Nodes the writers change.
pub const NODES: usize = 10;

fn node(i: usize) -> String {
    format!("{ROOT}/k{i}")
}

/// Creates the subtree.
pub async fn setup(ctx: &Ctx) -> anyhow::Result<()> {
    let c = ctx
        .connect(0)
        .await
        .ok_or_else(|| anyhow::anyhow!("no member accepted a session"))?;
    c.create(ROOT, b"", CreateMode::Persistent).await?;
    for i in 0..NODES {
        c.create(&node(i), b"", CreateMode::Persistent).await?;
    }
    c.close().await?;
    Ok(())
}

/// The watchers of a run.
pub struct Watchers {
    catch_up: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

/// Starts one watcher per member (watcher k prefers member k).
pub fn start_watchers(ctx: &Ctx) -> Watchers {
    let catch_up = CancellationToken::new();
    let tasks = (0..ctx.cluster.ids().len())
        .map(|k| tokio::spawn(watcher(ctx.clone(), k, catch_up.clone())))
        .collect();
    Watchers { catch_up, tasks }
}

fn state_name(s: State) -> &'static str {
    match s {
        State::Connecting => "connecting",
        State::Connected { .. } => "connected",
        State::Disconnected => "disconnected",
        State::Expired => "expired",
        State::Closed => "closed",
    }
}

async fn watcher(ctx: Ctx, k: usize, catch_up: CancellationToken) {
    while !catch_up.is_cancelled() {
        // Watchers keep watching after the load phase, until they are told to catch up.
        let config = paddock::ClientConfig::new(ctx.servers_for(k))
            .session_timeout(ctx.session_timeout)
            .connect_timeout(Duration::from_secs(1))
            .in_order(true);
        let c = match tokio::time::timeout(ctx.op_timeout, Client::connect_with(config)).await {
            Ok(Ok(c)) => c,
            _ => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let w = ctx.next();
        let process = format!("w{w}");
        let session = c.session_id();
        let mut states = c.states();
        let mut events = match timed(&ctx, c.add_watch(ROOT, true)).await {
            Ok(s) => s,
            Err(_) => {
                let _ = c.close().await;
                continue;
            }
        };
        loop {
            tokio::select! {
                biased;
                ev = events.next() => match ev {
                    Some(item) => match watch_observation(w, ROOT, item) {
                        Some(op) => ctx.rec.observe(&process, member_of(&c), op),
                        None => break,
                    },
                    None => break,
                },
                st = states.next() => match st {
                    Some(s) => {
                        let zxid = matches!(s, State::Connected { .. }).then(|| c.last_zxid());
                        let member = match s { State::Connected { server_id } => Some(server_id), _ => None };
                        ctx.rec.observe(&process, member, Op::SessionState { session, state: state_name(s).into(), zxid });
                        if s.is_terminal() {
                            break;
                        }
                    }
                    None => break,
                },
                _ = catch_up.cancelled() => {
                    finish_watcher(&ctx, &c, &process, &mut events).await;
                    let _ = c.close().await;
                    return;
                }
            }
        }
        let _ = c.close().await;
    }
}

/// After the faults: wait for a connection, `sync`, then a read; every event for a change
/// up to that read has then been delivered (events come before later responses).
async fn finish_watcher(ctx: &Ctx, c: &Client, process: &str, events: &mut paddock::WatchStream) {
    let mut connected = false;
    for _ in 0..100 {
        if member_of(c).is_some() {
            connected = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if !connected {
        return;
    }
    let ok = c.sync("/").await.is_ok() && c.exists(ROOT).await.is_ok();
    // Record whatever arrived before the read's answer.
    let watcher = process.trim_start_matches('w').parse().unwrap_or(0);
    while let Some(Some(item)) = events.next().now_or_never() {
        match watch_observation(watcher, ROOT, item) {
            Some(op) => ctx.rec.observe(process, member_of(c), op),
            None => break,
        }
    }
    if ok && member_of(c).is_some() {
        ctx.rec.observe(
            process,
            member_of(c),
            Op::Note {
                what: "caught-up".into(),
            },
        );
    }
}

/// One writer task.
pub async fn client(ctx: Ctx, k: usize) {
    let mut rng =
        StdRng::seed_from_u64(ctx.seed ^ (k as u64 + 1).wrapping_mul(0x2545_F491_4F6C_DD1D));
    'session: while !ctx.stop.is_cancelled() {
        let Some(c) = ctx.connect(k).await else {
            return;
        };
        let mut process = format!("c{}", ctx.next());
        while !ctx.stop.is_cancelled() {
            ctx.pacer.wait().await;
            if ctx.stop.is_cancelled() {
                break;
            }
            let path = node(rng.gen_range(0..NODES));
            let value = format!("{process}-{}", ctx.next());
            let member = member_of(&c);
            let id = ctx.rec.invoke(
                &process,
                member,
                Op::WatchWrite {
                    path: path.clone(),
                    value: value.clone(),
                    zxid: None,
                },
            );
            match timed(&ctx, c.set(&path, value.as_bytes(), None)).await {
                Ok(stat) => ctx.rec.complete(
                    id,
                    EventType::Ok,
                    &process,
                    member,
                    Op::WatchWrite {
                        path,
                        value,
                        zxid: Some(stat.mzxid),
                    },
                    None,
                ),
                Err(e) => {
                    let (kind, name) = outcome_of(&e);
                    ctx.rec.complete(
                        id,
                        kind,
                        &process,
                        member,
                        Op::WatchWrite {
                            path,
                            value,
                            zxid: None,
                        },
                        Some(name),
                    );
                    if e.as_ref().is_some_and(session_lost) {
                        continue 'session;
                    }
                    if kind == EventType::Info {
                        process = format!("c{}", ctx.next());
                    }
                }
            }
        }
        let _ = c.close().await;
        return;
    }
}

/// Tells the watchers to catch up and stop, then reads every node's final mzxid.
pub async fn finish(ctx: &Ctx, watchers: Watchers) {
    watchers.catch_up.cancel();
    for t in watchers.tasks {
        let _ = tokio::time::timeout(Duration::from_secs(30), t).await;
    }
    let ids = ctx.cluster.ids();
    let mut reader = None;
    for id in &ids {
        if let Some(c) = ctx.connect_direct(*id).await {
            if c.sync("/").await.is_ok() {
                reader = Some((c, *id));
                break;
            }
        }
    }
    let Some((c, member)) = reader else {
        ctx.rec.observe(
            "final",
            None,
            Op::Note {
                what: "final read impossible: no member serves".into(),
            },
        );
        return;
    };
    for i in 0..NODES {
        let path = node(i);
        match c.exists(&path).await {
            Ok(stat) => ctx.rec.observe(
                "final",
                Some(member),
                Op::NodeFinal {
                    path,
                    mzxid: stat.map(|s| s.mzxid),
                },
            ),
            Err(e) => ctx.rec.observe(
                "final",
                Some(member),
                Op::Note {
                    what: format!("final read of {path} failed: {e}"),
                },
            ),
        }
    }
    let _ = c.close().await;
}
