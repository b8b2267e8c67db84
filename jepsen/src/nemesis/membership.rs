//! The membership nemesis: replace a member the way an operator replaces one whose disk
//! died, while the workload runs. The member is removed from the ensemble (through
//! another member; the leader hands leadership on first if it is the one), killed, its
//! data directory wiped, added again under the same id as a learner, started empty with
//! `--join` (it catches up by snapshot), and promoted back to a voter once it has caught
//! up. Every acknowledged write must survive it, and the ensemble must be whole again
//! (every member a voter) when it ends.
use std::time::{Duration, Instant};

use paddock::{Client, ClientConfig, Code, Error, NewMember};

use crate::cluster::Cluster;

/// How long each step may keep failing (no leader, another change in flight, a learner
/// still catching up) before the replacement gives up.
const STEP: Duration = Duration::from_secs(30);

/// A session with the members other than `v`.
async fn admin(cluster: &Cluster, v: u64) -> Result<Client, String> {
    let servers: Vec<String> = cluster
        .ids()
        .into_iter()
        .filter(|id| *id != v)
        .map(|id| cluster.client_addr(id).to_string())
        .collect();
    let config = ClientConfig::new(servers)
        .session_timeout(Duration::from_secs(10))
        .request_timeout(Duration::from_secs(10));
    let deadline = Instant::now() + STEP;
    loop {
        match Client::connect_with(config.clone()).await {
            Ok(c) => return Ok(c),
            Err(e) if Instant::now() >= deadline => return Err(format!("no session: {e}")),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Repeats `step` until it succeeds, `done` says its error means it already happened, or
/// [`STEP`] has passed.
async fn retry<F, Fut>(what: &str, mut step: F, done: impl Fn(&Error) -> bool) -> Result<(), String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = paddock::Result<Vec<paddock::Member>>>,
{
    let deadline = Instant::now() + STEP;
    loop {
        match step().await {
            Ok(_) => return Ok(()),
            Err(e) if done(&e) => return Ok(()),
            Err(e) if Instant::now() >= deadline => return Err(format!("{what}: {e}")),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

fn refused_with(e: &Error, text: &str) -> bool {
    matches!(e, Error::Server { code: Code::BadArguments, message } if message.contains(text))
}

/// The client address member `v` joins through: another member's, bypassing the proxies.
pub fn join_address(cluster: &Cluster, v: u64) -> Option<String> {
    cluster
        .ids()
        .into_iter()
        .find(|id| *id != v)
        .map(|id| cluster.direct_client(id))
}

/// Replaces member `v` (see the module doc). Returns what happened, for the history; an
/// error names the step that did not complete (the member may then be left out of the
/// ensemble, which the final checks see).
pub async fn replace(cluster: &Cluster, v: u64) -> Result<String, String> {
    let started = Instant::now();
    let c = admin(cluster, v).await?;
    let result = async {
        retry(
            "remove",
            || c.remove_member(v),
            |e| refused_with(e, "not a member"),
        )
        .await?;
        cluster.kill(v);
        let data = &cluster.member(v).data_dir;
        std::fs::remove_dir_all(data)
            .or_else(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    Ok(())
                } else {
                    Err(e)
                }
            })
            .map_err(|e| format!("wiping {}: {e}", data.display()))?;
        let peer = cluster.member(v).peer.to_string();
        retry(
            "add",
            || {
                c.add_member(NewMember {
                    id: v,
                    peer_addr: peer.clone(),
                    learner: true,
                    ..Default::default()
                })
            },
            |e| refused_with(e, "already a learner"),
        )
        .await?;
        let via = join_address(cluster, v).ok_or("no other member to join through")?;
        cluster
            .start_member_with(v, &["--join", &via])
            .map_err(|e| format!("starting it again: {e}"))?;
        retry(
            "promote",
            || c.promote_member(v, None),
            |e| refused_with(e, "is a voter already"),
        )
        .await?;
        Ok::<_, String>(format!(
            "removed, wiped, re-added as a learner, joined through {via} and promoted in {} ms",
            started.elapsed().as_millis()
        ))
    }
    .await;
    let _ = c.close().await;
    result
}
