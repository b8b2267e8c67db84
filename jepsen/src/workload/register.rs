//! The register workload: a few keys, each a znode whose data is a register.
//!
//! Clients mix linearizable reads (`get_linearizable`), local reads (`get`), unconditional
//! writes of unique values and compare-and-set by data version (`set` with the version a
//! client last saw). Linearizable reads, writes and CASes are checked for
//! linearizability per key (`checker::linearizable`); local reads against the weaker
//! promise of session order and no going back in time (`checker::register_local`).
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use paddock::CreateMode;

use super::{member_of, outcome_of, session_lost, timed, Ctx};
use crate::history::{EventType, Op, Versioned};

/// How many keys the registers use.
pub const KEYS: usize = 5;
/// Where they live.
pub const ROOT: &str = "/register";

fn path(key: &str) -> String {
    format!("{ROOT}/{key}")
}

/// Creates the root and every key with data `init` (version 0).
pub async fn setup(ctx: &Ctx) -> anyhow::Result<()> {
    let c = ctx
        .connect(0)
        .await
        .ok_or_else(|| anyhow::anyhow!("no member accepted a session"))?;
    c.create(ROOT, b"", CreateMode::Persistent).await?;
    for k in 0..KEYS {
        c.create(&path(&format!("r{k}")), b"init", CreateMode::Persistent)
            .await?;
    }
    c.close().await?;
    Ok(())
}

/// One client task: runs until the load phase ends.
pub async fn client(ctx: Ctx, k: usize) {
    let mut rng = StdRng::seed_from_u64(ctx.seed ^ (k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut last_version = [0i32; KEYS];
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
            let ki = rng.gen_range(0..KEYS);
            let key = format!("r{ki}");
            let p = path(&key);
            let member = member_of(&c);
            let roll = rng.gen_range(0..100);
            let (kind, error) = if !(40..85).contains(&roll) {
                let linearizable = roll < 40;
                let id = ctx.rec.invoke(
                    &process,
                    member,
                    Op::Read {
                        key: key.clone(),
                        linearizable,
                        value: None,
                    },
                );
                let r = if linearizable {
                    timed(&ctx, c.get_linearizable(&p)).await
                } else {
                    timed(&ctx, c.get(&p)).await
                };
                match r {
                    Ok((data, stat)) => {
                        last_version[ki] = stat.version;
                        let value = Versioned {
                            data: String::from_utf8_lossy(&data).into_owned(),
                            version: stat.version,
                            mzxid: stat.mzxid,
                        };
                        ctx.rec.complete(
                            id,
                            EventType::Ok,
                            &process,
                            member,
                            Op::Read {
                                key,
                                linearizable,
                                value: Some(value),
                            },
                            None,
                        );
                        continue;
                    }
                    Err(e) => {
                        let (kind, name) = outcome_of(&e);
                        ctx.rec.complete(
                            id,
                            kind,
                            &process,
                            member,
                            Op::Read {
                                key,
                                linearizable,
                                value: None,
                            },
                            Some(name),
                        );
                        (kind, e)
                    }
                }
            } else if roll < 60 {
                let value = format!("{process}-{}", ctx.next());
                let id = ctx.rec.invoke(
                    &process,
                    member,
                    Op::Write {
                        key: key.clone(),
                        value: value.clone(),
                        version: None,
                    },
                );
                match timed(&ctx, c.set(&p, value.as_bytes(), None)).await {
                    Ok(stat) => {
                        last_version[ki] = stat.version;
                        ctx.rec.complete(
                            id,
                            EventType::Ok,
                            &process,
                            member,
                            Op::Write {
                                key,
                                value,
                                version: Some(stat.version),
                            },
                            None,
                        );
                        continue;
                    }
                    Err(e) => {
                        let (kind, name) = outcome_of(&e);
                        ctx.rec.complete(
                            id,
                            kind,
                            &process,
                            member,
                            Op::Write {
                                key,
                                value,
                                version: None,
                            },
                            Some(name),
                        );
                        (kind, e)
                    }
                }
            } else {
                let value = format!("{process}-{}", ctx.next());
                let expect = last_version[ki];
                let id = ctx.rec.invoke(
                    &process,
                    member,
                    Op::Cas {
                        key: key.clone(),
                        expect,
                        value: value.clone(),
                        version: None,
                    },
                );
                match timed(&ctx, c.set(&p, value.as_bytes(), Some(expect))).await {
                    Ok(stat) => {
                        last_version[ki] = stat.version;
                        ctx.rec.complete(
                            id,
                            EventType::Ok,
                            &process,
                            member,
                            Op::Cas {
                                key,
                                expect,
                                value,
                                version: Some(stat.version),
                            },
                            None,
                        );
                        continue;
                    }
                    Err(e) => {
                        let (kind, name) = outcome_of(&e);
                        ctx.rec.complete(
                            id,
                            kind,
                            &process,
                            member,
                            Op::Cas {
                                key,
                                expect,
                                value,
                                version: None,
                            },
                            Some(name),
                        );
                        (kind, e)
                    }
                }
            };
            if error.as_ref().is_some_and(session_lost) {
                continue 'session;
            }
            if kind == EventType::Info {
                // The operation may still be in flight: continue as a new process.
                process = format!("c{}", ctx.next());
            }
        }
        let _ = c.close().await;
        return;
    }
}
