//! The set workload: unique creates; at the end every acknowledged create must be
//! present on every member, and nothing may appear that was never attempted.
use paddock::CreateMode;

use super::{member_of, outcome_of, session_lost, timed, Ctx};
use crate::history::{EventType, Op};

/// Where the elements live.
pub const ROOT: &str = "/set";

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

/// One client task: creates `/set/e<unique>` until the load phase ends.
pub async fn client(ctx: Ctx, k: usize) {
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
            let path = format!("{ROOT}/e{}", ctx.next());
            let member = member_of(&c);
            let id = ctx
                .rec
                .invoke(&process, member, Op::Add { path: path.clone() });
            match timed(&ctx, c.create(&path, b"", CreateMode::Persistent)).await {
                Ok(_) => {
                    ctx.rec
                        .complete(id, EventType::Ok, &process, member, Op::Add { path }, None)
                }
                Err(e) => {
                    let (kind, name) = outcome_of(&e);
                    ctx.rec
                        .complete(id, kind, &process, member, Op::Add { path }, Some(name));
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

/// Reads the set on every member (after `sync`), straight to each member.
pub async fn finish(ctx: &Ctx) {
    for id in ctx.cluster.ids() {
        let Some(c) = ctx.connect_direct(id).await else {
            ctx.rec.observe(
                "final",
                Some(id),
                Op::Note {
                    what: format!("final read impossible: member {id} accepts no session"),
                },
            );
            continue;
        };
        let r = async {
            c.sync("/").await?;
            c.children(ROOT).await
        }
        .await;
        match r {
            Ok(children) => {
                let mut paths: Vec<String> = children
                    .into_iter()
                    .map(|n| format!("{ROOT}/{n}"))
                    .collect();
                paths.sort();
                ctx.rec.observe("final", Some(id), Op::ReadSet { paths });
            }
            Err(e) => ctx.rec.observe(
                "final",
                Some(id),
                Op::Note {
                    what: format!("final read failed on member {id}: {e}"),
                },
            ),
        }
        let _ = c.close().await;
    }
}
