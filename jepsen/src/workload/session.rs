//! The session workload: clients open sessions, create an ephemeral node each, and then
//! keep (pinging and reading their own node), close or abandon their sessions while the
//! faults run. One observer per member records every deletion under [`ROOT`].
//!
//! `checker::session` then requires: no ephemeral of a closed or abandoned session
//! survives; no session that stayed connected to a healthy member while a majority was
//! healthy was expired; and no session was answered as live after the ensemble had
//! deleted its ephemeral (a client that still believes it holds what it lost), nor
//! promised a lease (`Client::lease`) that outlasted that deletion. It also reports how
//! long clients stayed connected to members cut off from the leader.
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use paddock::{Client, CreateMode, State};
use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{member_of, outcome_of, session_lost, timed, watch_observation, Ctx};
use crate::history::{EventType, Op};

/// Where the ephemerals live.
pub const ROOT: &str = "/sess";

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

/// A session still held when the load phase ended.
pub struct Kept {
    client: Client,
    process: String,
    path: String,
}

/// What the session workload keeps across its phases.
#[derive(Default)]
pub struct Shared {
    kept: Mutex<Vec<Kept>>,
    observers: Mutex<Vec<JoinHandle<()>>>,
    stop_observers: CancellationToken,
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

/// Records every state change of `c`'s session as process `process`, until it ends.
/// Holds no `Client` clone, so an abandoned session is really abandoned.
fn record_states(ctx: &Ctx, c: &Client, process: &str) {
    let mut states = c.states();
    let (rec, process, session) = (ctx.rec.clone(), process.to_string(), c.session_id());
    tokio::spawn(async move {
        while let Some(s) = states.next().await {
            let member = match s {
                State::Connected { server_id } => Some(server_id),
                _ => None,
            };
            rec.observe(
                &process,
                member,
                Op::SessionState {
                    session,
                    state: state_name(s).into(),
                    zxid: None,
                },
            );
            if s.is_terminal() {
                break;
            }
        }
    });
}

/// Records the session's lease as the SDK counts it now (nothing before a member vouched).
fn record_lease(ctx: &Ctx, c: &Client, process: &str, member: Option<u64>) {
    if let Some(l) = c.lease() {
        ctx.rec.observe(
            process,
            member,
            Op::Lease {
                session: c.session_id(),
                remaining_ms: l.as_millis() as u64,
            },
        );
    }
}

/// Starts one observer per member.
pub fn start_observers(ctx: &Ctx, shared: &Arc<Shared>) {
    for k in 0..ctx.cluster.ids().len() {
        let (ctx, stop) = (ctx.clone(), shared.stop_observers.clone());
        shared.observers.lock().push(tokio::spawn(async move {
            while !stop.is_cancelled() {
                let config = paddock::ClientConfig::new(ctx.servers_for(k))
                    .session_timeout(ctx.session_timeout)
                    .connect_timeout(Duration::from_secs(1))
                    .in_order(true);
                let Ok(Ok(c)) =
                    tokio::time::timeout(ctx.op_timeout, Client::connect_with(config)).await
                else {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                };
                let w = ctx.next();
                let process = format!("o{w}");
                let Ok(mut events) = timed(&ctx, c.add_watch(ROOT, true)).await else {
                    let _ = c.close().await;
                    continue;
                };
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        ev = events.next() => match ev {
                            Some(item) => match watch_observation(w, ROOT, item) {
                                Some(op) => ctx.rec.observe(&process, member_of(&c), op),
                                None => break,
                            },
                            None => break,
                        }
                    }
                }
                let _ = c.close().await;
            }
        }));
    }
}

/// One client task.
pub async fn client(ctx: Ctx, k: usize, shared: Arc<Shared>) {
    let mut rng =
        StdRng::seed_from_u64(ctx.seed ^ (k as u64 + 7).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    while !ctx.stop.is_cancelled() {
        let process = format!("c{}", ctx.next());
        let id = ctx.rec.invoke(&process, None, Op::Open { session: None });
        let Some(c) = ctx.connect(k).await else {
            ctx.rec.complete(
                id,
                EventType::Fail,
                &process,
                None,
                Op::Open { session: None },
                Some("stopped".into()),
            );
            return;
        };
        let session = c.session_id();
        ctx.rec.complete(
            id,
            EventType::Ok,
            &process,
            member_of(&c),
            Op::Open {
                session: Some(session),
            },
            None,
        );
        record_states(&ctx, &c, &process);
        let path = format!("{ROOT}/s{session:x}");
        let member = member_of(&c);
        let id = ctx.rec.invoke(
            &process,
            member,
            Op::CreateEphemeral {
                session,
                path: path.clone(),
            },
        );
        match timed(&ctx, c.create(&path, b"", CreateMode::Ephemeral)).await {
            Ok(_) => ctx.rec.complete(
                id,
                EventType::Ok,
                &process,
                member,
                Op::CreateEphemeral {
                    session,
                    path: path.clone(),
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
                    Op::CreateEphemeral {
                        session,
                        path: path.clone(),
                    },
                    Some(name),
                );
                if e.as_ref().is_some_and(session_lost) {
                    continue;
                }
            }
        }
        // Keep, close or abandon, until the session ends or the load phase does.
        'life: loop {
            if ctx.stop.is_cancelled() {
                shared.kept.lock().push(Kept {
                    client: c,
                    process,
                    path,
                });
                return;
            }
            match rng.gen_range(0..100) {
                0..=59 => {
                    let hold = Duration::from_millis(rng.gen_range(1000..6000));
                    let until = tokio::time::Instant::now() + hold;
                    while tokio::time::Instant::now() < until && !ctx.stop.is_cancelled() {
                        ctx.pacer.wait().await;
                        let member = member_of(&c);
                        let id = ctx.rec.invoke(
                            &process,
                            member,
                            Op::CheckEphemeral {
                                session,
                                path: path.clone(),
                                present: None,
                            },
                        );
                        match timed(&ctx, c.exists(&path)).await {
                            Ok(stat) => {
                                ctx.rec.complete(
                                    id,
                                    EventType::Ok,
                                    &process,
                                    member,
                                    Op::CheckEphemeral {
                                        session,
                                        path: path.clone(),
                                        present: Some(stat.is_some()),
                                    },
                                    None,
                                );
                                record_lease(&ctx, &c, &process, member);
                            }
                            Err(e) => {
                                let (kind, name) = outcome_of(&e);
                                ctx.rec.complete(
                                    id,
                                    kind,
                                    &process,
                                    member,
                                    Op::CheckEphemeral {
                                        session,
                                        path: path.clone(),
                                        present: None,
                                    },
                                    Some(name),
                                );
                                if e.as_ref().is_some_and(session_lost) {
                                    break 'life;
                                }
                            }
                        }
                    }
                }
                60..=79 => {
                    let member = member_of(&c);
                    let id = ctx.rec.invoke(&process, member, Op::Close { session });
                    match timed(&ctx, c.close()).await {
                        Ok(()) => ctx.rec.complete(
                            id,
                            EventType::Ok,
                            &process,
                            member,
                            Op::Close { session },
                            None,
                        ),
                        Err(e) => {
                            let (kind, name) = outcome_of(&e);
                            ctx.rec.complete(
                                id,
                                kind,
                                &process,
                                member,
                                Op::Close { session },
                                Some(name),
                            );
                        }
                    }
                    break 'life;
                }
                _ => {
                    let id = ctx
                        .rec
                        .invoke(&process, member_of(&c), Op::Abandon { session });
                    drop(c);
                    ctx.rec.complete(
                        id,
                        EventType::Ok,
                        &process,
                        None,
                        Op::Abandon { session },
                        None,
                    );
                    break 'life;
                }
            }
        }
    }
}

/// After the faults: let abandoned sessions expire, check every kept session once more,
/// read every member's sessions and ephemerals, then close what is left.
pub async fn finish(ctx: &Ctx, shared: &Arc<Shared>, expiry_wait: Duration) {
    tokio::time::sleep(expiry_wait).await;
    let kept: Vec<Kept> = std::mem::take(&mut *shared.kept.lock());
    for k in &kept {
        let member = member_of(&k.client);
        let session = k.client.session_id();
        let id = ctx.rec.invoke(
            &k.process,
            member,
            Op::CheckEphemeral {
                session,
                path: k.path.clone(),
                present: None,
            },
        );
        match timed(ctx, k.client.exists(&k.path)).await {
            Ok(stat) => {
                ctx.rec.complete(
                    id,
                    EventType::Ok,
                    &k.process,
                    member,
                    Op::CheckEphemeral {
                        session,
                        path: k.path.clone(),
                        present: Some(stat.is_some()),
                    },
                    None,
                );
                record_lease(ctx, &k.client, &k.process, member);
            }
            Err(e) => {
                let (kind, name) = outcome_of(&e);
                ctx.rec.complete(
                    id,
                    kind,
                    &k.process,
                    member,
                    Op::CheckEphemeral {
                        session,
                        path: k.path.clone(),
                        present: None,
                    },
                    Some(name),
                );
            }
        }
    }
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
        let reader = c.session_id();
        let r = async {
            c.sync("/").await?;
            let mut ephemerals = BTreeMap::new();
            for name in c.children(ROOT).await? {
                let path = format!("{ROOT}/{name}");
                if let Some(stat) = c.exists(&path).await? {
                    ephemerals.insert(path, stat.ephemeral_owner);
                }
            }
            Ok::<_, paddock::Error>(ephemerals)
        }
        .await;
        let admin = ctx.cluster.member(id).admin.to_string();
        let sessions = crate::admin::get(&admin, "/sessions", Duration::from_secs(2))
            .await
            .and_then(|(_, body)| serde_json::from_str::<Vec<serde_json::Value>>(&body).ok())
            .map(|rows| {
                rows.iter()
                    .filter_map(|r| r.get("id")?.as_str().map(String::from))
                    .filter_map(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
                    .filter(|&s| s != reader)
                    .collect::<Vec<u64>>()
            });
        match (r, sessions) {
            (Ok(ephemerals), Some(sessions)) => ctx.rec.observe(
                "final",
                Some(id),
                Op::SessionsFinal {
                    sessions,
                    ephemerals,
                },
            ),
            (Err(e), _) => ctx.rec.observe(
                "final",
                Some(id),
                Op::Note {
                    what: format!("final read failed on member {id}: {e}"),
                },
            ),
            (_, None) => ctx.rec.observe(
                "final",
                Some(id),
                Op::Note {
                    what: format!("final /sessions of member {id} unreadable"),
                },
            ),
        }
        let _ = c.close().await;
    }
    for k in kept {
        let session = k.client.session_id();
        let id = ctx
            .rec
            .invoke(&k.process, member_of(&k.client), Op::Close { session });
        match timed(ctx, k.client.close()).await {
            Ok(()) => ctx.rec.complete(
                id,
                EventType::Ok,
                &k.process,
                None,
                Op::Close { session },
                None,
            ),
            Err(e) => {
                let (kind, name) = outcome_of(&e);
                ctx.rec.complete(
                    id,
                    kind,
                    &k.process,
                    None,
                    Op::Close { session },
                    Some(name),
                );
            }
        }
    }
    shared.stop_observers.cancel();
    let tasks: Vec<JoinHandle<()>> = std::mem::take(&mut *shared.observers.lock());
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
    }
}
