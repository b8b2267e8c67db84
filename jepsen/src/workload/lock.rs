//! The lock and election workloads: every client contends for one lock (the SDK's
//! `recipes::Lock`), or campaigns in one election (`recipes::Election`). A holder (a
//! leader) makes two fenced increments of a shared counter (read, then a multi that
//! checks its grant and sets the counter with the version it read), then releases (or
//! resigns); it stops at once if its grant's lost signal fires. `checker::lock` requires,
//! of both, that no two holds overlap in time, that tokens grow with every grant, and
//! that no increment is lost or applied twice.
use std::time::Duration;

use paddock::recipes::{Election, Leadership, Lock, LockGuard, Lost};
use paddock::{Client, CreateMode, Op as ZOp};

use super::{member_of, outcome_of, session_lost, timed, Ctx};
use crate::history::{EventType, Op};

/// The lock every client contends for.
pub const LOCK: &str = "/lock";
/// The election every client campaigns in.
pub const ELECTION: &str = "/election";
/// The counter holders increment.
pub const COUNTER: &str = "/lock-counter";
/// Fenced increments per hold.
const INCREMENTS: usize = 2;

/// Creates the counter.
pub async fn setup(ctx: &Ctx) -> anyhow::Result<()> {
    let c = ctx
        .connect(0)
        .await
        .ok_or_else(|| anyhow::anyhow!("no member accepted a session"))?;
    c.create(COUNTER, b"0", CreateMode::Persistent).await?;
    c.close().await?;
    Ok(())
}

/// Which recipe the clients contend through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recipe {
    /// `recipes::Lock` on [`LOCK`].
    Lock,
    /// `recipes::Election` on [`ELECTION`].
    Election,
}

/// A grant of either recipe.
enum Grant {
    Lock(LockGuard),
    Term(Leadership),
}

impl Grant {
    fn token(&self) -> u64 {
        match self {
            Grant::Lock(g) => g.token().0,
            Grant::Term(t) => t.token().0,
        }
    }

    fn check_op(&self) -> ZOp {
        match self {
            Grant::Lock(g) => g.check_op(),
            Grant::Term(t) => t.check_op(),
        }
    }

    async fn lost(&self) -> Lost {
        match self {
            Grant::Lock(g) => g.lost().await,
            Grant::Term(t) => t.lost().await,
        }
    }

    async fn release(self) -> paddock::Result<()> {
        match self {
            Grant::Lock(g) => g.release().await,
            Grant::Term(t) => t.resign().await,
        }
    }
}

/// One client task.
pub async fn client(ctx: Ctx, k: usize, recipe: Recipe) {
    // An acquire gives up well before the harness would call its outcome unknown.
    let wait = ctx.op_timeout / 2;
    'session: while !ctx.stop.is_cancelled() {
        let Some(c) = ctx.connect(k).await else {
            return;
        };
        let (Ok(lock), Ok(election)) = (Lock::new(&c, LOCK), Election::new(&c, ELECTION)) else {
            return;
        };
        let mut process = format!("c{}", ctx.next());
        while !ctx.stop.is_cancelled() {
            ctx.pacer.wait().await;
            if ctx.stop.is_cancelled() {
                break;
            }
            let member = member_of(&c);
            let invoked = Op::LockAcquire { token: None };
            let id = ctx.rec.invoke(&process, member, invoked.clone());
            let granted = match recipe {
                Recipe::Lock => timed(&ctx, lock.try_acquire(wait))
                    .await
                    .map(|g| g.map(Grant::Lock)),
                // Dropping a campaign that has not won withdraws it.
                Recipe::Election => match tokio::time::timeout(
                    wait,
                    timed(&ctx, election.campaign(process.as_bytes())),
                )
                .await
                {
                    Ok(r) => r.map(|t| Some(Grant::Term(t))),
                    Err(_) => Ok(None),
                },
            };
            match granted {
                Ok(Some(grant)) => {
                    let token = grant.token();
                    ctx.rec.complete(
                        id,
                        EventType::Ok,
                        &process,
                        member,
                        Op::LockAcquire { token: Some(token) },
                        None,
                    );
                    if !hold(&ctx, &c, &process, grant).await {
                        continue 'session;
                    }
                }
                Ok(None) => {
                    ctx.rec.complete(
                        id,
                        EventType::Fail,
                        &process,
                        member,
                        invoked,
                        Some("not-granted".into()),
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

/// Works under the grant, then releases it; `false` if the session is gone.
async fn hold(ctx: &Ctx, c: &Client, process: &str, guard: Grant) -> bool {
    let token = guard.token();
    let work = async {
        for _ in 0..INCREMENTS {
            if !increment(ctx, c, process, &guard).await {
                return;
            }
        }
    };
    let lost = tokio::select! {
        _ = work => false,
        _ = guard.lost() => true,
    };
    let member = member_of(c);
    let op = Op::LockRelease { token, lost };
    let id = ctx.rec.invoke(process, member, op.clone());
    match timed(ctx, guard.release()).await {
        Ok(()) => ctx
            .rec
            .complete(id, EventType::Ok, process, member, op, None),
        Err(e) => {
            let (kind, err) = outcome_of(&e);
            ctx.rec.complete(id, kind, process, member, op, Some(err));
        }
    }
    !c.state().is_terminal()
}

/// One fenced increment; `false` when the holder should stop working.
async fn increment(ctx: &Ctx, c: &Client, process: &str, guard: &Grant) -> bool {
    let token = guard.token();
    let member = member_of(c);
    let Ok((data, stat)) = timed(ctx, c.get(COUNTER)).await else {
        return false;
    };
    let from: u64 = String::from_utf8_lossy(&data).parse().unwrap_or(0);
    let op = Op::LockIncrement { token, from };
    let id = ctx.rec.invoke(process, member, op.clone());
    let write = ZOp::SetData {
        path: COUNTER.into(),
        data: (from + 1).to_string().into_bytes(),
        version: Some(stat.version),
    };
    match timed(ctx, c.multi(&[guard.check_op(), write])).await {
        Ok(_) => {
            ctx.rec
                .complete(id, EventType::Ok, process, member, op, None);
            tokio::time::sleep(Duration::from_millis(2)).await;
            true
        }
        Err(e) => {
            let (kind, err) = outcome_of(&e);
            ctx.rec.complete(id, kind, process, member, op, Some(err));
            false
        }
    }
}

/// Reads the counter (after `sync`) on every member.
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
            c.get(COUNTER).await
        }
        .await;
        match r {
            Ok((data, _)) => ctx.rec.observe(
                "final",
                Some(id),
                Op::LockCounter {
                    value: String::from_utf8_lossy(&data).parse().unwrap_or(u64::MAX),
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
