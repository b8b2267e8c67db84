//! The session-FIFO workload: each client pipelines creates of `/fifo/c<client>/<n>`
//! with n = 0, 1, 2, ... (up to [`PIPELINE`] in flight, submitted strictly in order).
//! The writes a session got applied must be a prefix of those it sent: no later write
//! may apply after an earlier one was lost (`checker::fifo`).
use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;

use futures::stream::FuturesUnordered;
use futures::StreamExt;
use paddock::{Client, CreateMode, Error};

use super::{member_of, outcome_of, session_lost, timed, Ctx};
use crate::history::{EventType, Op};

/// Where the clients' nodes live.
pub const ROOT: &str = "/fifo";
/// Creates in flight per client.
pub const PIPELINE: usize = 16;

type Pending = Pin<Box<dyn Future<Output = (u64, u64, Result<String, Option<Error>>)> + Send>>;

/// Creates the root.
pub async fn setup(ctx: &Ctx) -> anyhow::Result<()> {
    let c = ctx
        .connect(0)
        .await
        .ok_or_else(|| anyhow::anyhow!("no member accepted a session"))?;
    c.create(ROOT, b"", CreateMode::Persistent).await?;
    c.close().await?;
    Ok(())
}

fn parent(client: u64) -> String {
    format!("{ROOT}/c{client}")
}

/// Creates a client's parent node, retrying (it is not part of the checked history).
async fn make_parent(ctx: &Ctx, c: &Client, client: u64) -> bool {
    for _ in 0..20 {
        match timed(ctx, c.create(&parent(client), b"", CreateMode::Persistent)).await {
            Ok(_) => return true,
            Err(Some(Error::Server {
                code: paddock::Code::NodeExists,
                ..
            })) => return true,
            Err(Some(e)) if session_lost(&e) => return false,
            Err(_) if ctx.stop.is_cancelled() => return false,
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
        }
    }
    false
}

/// One client task.
pub async fn client(ctx: Ctx, k: usize) {
    while !ctx.stop.is_cancelled() {
        let Some(c) = ctx.connect(k).await else {
            return;
        };
        let client = ctx.next();
        if !make_parent(&ctx, &c, client).await {
            continue;
        }
        let process = format!("c{client}");
        let mut n = 0u64;
        let mut inflight: FuturesUnordered<Pending> = FuturesUnordered::new();
        let mut lost = false;
        let complete = |(id, n, r): (u64, u64, Result<String, Option<Error>>), member| -> bool {
            match r {
                Ok(_) => {
                    ctx.rec.complete(
                        id,
                        EventType::Ok,
                        &process,
                        member,
                        Op::FifoCreate { client, n },
                        None,
                    );
                    false
                }
                Err(e) => {
                    let (kind, name) = outcome_of(&e);
                    ctx.rec.complete(
                        id,
                        kind,
                        &process,
                        member,
                        Op::FifoCreate { client, n },
                        Some(name),
                    );
                    e.as_ref().is_some_and(session_lost)
                }
            }
        };
        loop {
            let can_send = !lost && !ctx.stop.is_cancelled() && inflight.len() < PIPELINE;
            tokio::select! {
                biased;
                Some(done) = inflight.next(), if !inflight.is_empty() => {
                    lost |= complete(done, member_of(&c));
                }
                _ = ctx.pacer.wait(), if can_send => {
                    let member = member_of(&c);
                    let id = ctx.rec.invoke(&process, member, Op::FifoCreate { client, n });
                    let path = format!("{}/{n:010}", parent(client));
                    let (c2, ctx2, this) = (c.clone(), ctx.clone(), n);
                    let mut fut: Pending = Box::pin(async move {
                        let r = timed(&ctx2, c2.create(&path, b"", CreateMode::Persistent)).await;
                        (id, this, r)
                    });
                    // Poll once here, so the request is handed to the session (and so
                    // written) before the next one is made.
                    match futures::poll!(&mut fut) {
                        std::task::Poll::Ready(done) => lost |= complete(done, member),
                        std::task::Poll::Pending => inflight.push(fut),
                    }
                    n += 1;
                }
                _ = ctx.stop.cancelled(), if !ctx.stop.is_cancelled() => {}
                else => break,
            }
            if (lost || ctx.stop.is_cancelled()) && inflight.is_empty() {
                break;
            }
        }
        if ctx.stop.is_cancelled() {
            let _ = c.close().await;
            return;
        }
    }
}

/// Reads every client's applied n's (after `sync`) on one member.
pub async fn finish(ctx: &Ctx) {
    let history = ctx.rec.snapshot();
    let clients: BTreeSet<u64> = history
        .events
        .iter()
        .filter_map(|e| match e.op {
            Op::FifoCreate { client, .. } => Some(client),
            _ => None,
        })
        .collect();
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
    for client in clients {
        match c.children(&parent(client)).await {
            Ok(names) => {
                let mut ns: Vec<u64> = names.iter().filter_map(|s| s.parse().ok()).collect();
                ns.sort_unstable();
                ctx.rec
                    .observe("final", Some(member), Op::FifoRead { client, ns });
            }
            Err(e) => ctx.rec.observe(
                "final",
                Some(member),
                Op::Note {
                    what: format!("final read of client {client} failed: {e}"),
                },
            ),
        }
    }
    let _ = c.close().await;
}
