//! The sequential workload: clients concurrently create sequential children of one
//! parent. Names must be unique, and a create that started after another one finished
//! must get a higher number (`checker::sequential`).
use paddock::CreateMode;

use super::{member_of, outcome_of, session_lost, timed, Ctx};
use crate::history::{EventType, Op};

/// The parent of every sequential node.
pub const PARENT: &str = "/seq";

/// Creates the parent.
pub async fn setup(ctx: &Ctx) -> anyhow::Result<()> {
    let c = ctx
        .connect(0)
        .await
        .ok_or_else(|| anyhow::anyhow!("no member accepted a session"))?;
    c.create(PARENT, b"", CreateMode::Persistent).await?;
    c.close().await?;
    Ok(())
}

/// One client task.
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
            let member = member_of(&c);
            let value = format!("{process}-{}", ctx.next());
            let invoked = Op::SeqCreate {
                parent: PARENT.into(),
                value: value.clone(),
                name: None,
            };
            let id = ctx.rec.invoke(&process, member, invoked.clone());
            match timed(
                &ctx,
                c.create(
                    &format!("{PARENT}/item-"),
                    value.as_bytes(),
                    CreateMode::PersistentSequential,
                ),
            )
            .await
            {
                Ok(path) => {
                    let name = path.rsplit('/').next().unwrap_or_default().to_string();
                    ctx.rec.complete(
                        id,
                        EventType::Ok,
                        &process,
                        member,
                        Op::SeqCreate {
                            parent: PARENT.into(),
                            value,
                            name: Some(name),
                        },
                        None,
                    );
                }
                Err(e) => {
                    let (kind, err) = outcome_of(&e);
                    ctx.rec
                        .complete(id, kind, &process, member, invoked, Some(err));
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

/// Reads the children (after `sync`) on every member.
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
            let names = c.children(PARENT).await?;
            let mut children = std::collections::BTreeMap::new();
            for chunk in names.chunks(256) {
                let reads = chunk.iter().map(|n| {
                    let path = format!("{PARENT}/{n}");
                    let c = &c;
                    async move { c.get(&path).await }
                });
                for (name, r) in chunk.iter().zip(futures::future::join_all(reads).await) {
                    let (data, _) = r?;
                    children.insert(name.clone(), String::from_utf8_lossy(&data).into_owned());
                }
            }
            Ok::<_, paddock::Error>(children)
        }
        .await;
        match r {
            Ok(children) => ctx.rec.observe(
                "final",
                Some(id),
                Op::SeqRead {
                    parent: PARENT.into(),
                    children,
                },
            ),
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
