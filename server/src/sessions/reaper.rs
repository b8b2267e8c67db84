//! The timers that turn time into replicated changes, run on every member but acting
//! only on the leader: session expiry, container and TTL node deletion. Each proposes
//! an ordinary transaction (session 0, the ensemble itself) through Raft, so every
//! replica applies the same deletion at the same zxid. Each carries the term its
//! leader decided it in (`leader_term`): the Raft loop refuses it, and every replica
//! drops it at apply, unless it is appended in that term, so a member that lost the
//! lead while paused or cut off never expires a session its successor kept alive.
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use paddock::proto::replication as rpb;
use parking_lot::Mutex;
use slog::{debug, info, warn, Logger};
use tokio_util::sync::CancellationToken;

use super::Sessions;
use crate::client::handshake::now_ms;
use crate::consensus::handle::{ProposeError, RaftHandle, Role};
use crate::tree::TxnOp;
use crate::watch::Hub;

/// Runs the forwarder, the contact check and the leader's timers until `stop` fires.
/// A member out of contact with a leader that a quorum follows ends every client
/// connection (each client moves to another member), and keeps ending the ones that
/// slip in, for as long as that lasts; the handshake refuses new ones meanwhile.
pub async fn run(
    sessions: Arc<Sessions>,
    raft: RaftHandle,
    hub: Arc<Hub>,
    container_check: Duration,
    stop: CancellationToken,
    log: Logger,
) {
    // A quarter tick each: a report may be a quarter tick late, the bucket rounds up by
    // at most a quarter, and the check runs at most a quarter after the bucket ends, so
    // a dead client's session ends within about timeout + 3/4 tick (+ one commit).
    let quarter = sessions.forward_interval();
    let mut forward = tokio::time::interval(quarter);
    let mut expire = tokio::time::interval(quarter);
    let mut nodes = tokio::time::interval(container_check.max(Duration::from_millis(10)));
    for t in [&mut forward, &mut expire, &mut nodes] {
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    }
    let deleting: Arc<Mutex<HashSet<String>>> = Arc::default();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = forward.tick() => {
                sessions.forward();
                if !sessions.in_contact() && hub.connections() > 0 {
                    let since = sessions.since_contact();
                    warn!(log, "no contact with a leader that a quorum follows; closing client connections";
                        "since_ms" => since.map(|d| d.as_millis() as u64), "connections" => hub.connections());
                    hub.close_all();
                }
            }
            _ = expire.tick() => {
                let (term, due) = sessions.due();
                for id in due {
                    let (sessions, raft, log) = (sessions.clone(), raft.clone(), log.clone());
                    tokio::spawn(async move {
                        #[cfg(feature = "failpoints")]
                        delay_expiry().await;
                        let mut txn = rpb::Txn::new();
                        txn.time_ms = now_ms();
                        txn.leader_term = term;
                        let mut cs = rpb::CloseSession::new();
                        cs.session_id = id;
                        txn.set_close_session(cs);
                        match raft.propose(txn).await {
                            Ok(c) => info!(log, "session expired"; "session" => format!("{id:#x}"), "zxid" => c.zxid),
                            Err(ProposeError::Deposed(term)) => {
                                info!(log, "an expiry decided as leader was not applied: the lead was lost"; "session" => format!("{id:#x}"), "term" => term);
                                sessions.close_failed(id);
                            }
                            Err(e) => {
                                debug!(log, "expiring a session failed; will retry"; "session" => format!("{id:#x}"), "error" => %e);
                                sessions.close_failed(id);
                            }
                        }
                    });
                }
            }
            _ = nodes.tick() => {
                let status = raft.status();
                if status.role == Role::Leader {
                    delete_idle_nodes(&raft, status.term, &deleting, &log);
                }
            }
        }
    }
}

/// The failpoint that holds an expiry back between the leader's decision and its
/// proposal (test builds only): `FAILPOINTS="reaper::delay_expiry=return(MS)"`. It
/// widens, to a chosen length, the window in which a member that decided an expiry as
/// leader loses the lead before it proposes.
#[cfg(feature = "failpoints")]
pub const DELAY_EXPIRY: &str = "reaper::delay_expiry";

#[cfg(feature = "failpoints")]
async fn delay_expiry() {
    let ms = fail::eval(DELAY_EXPIRY, |arg| arg.and_then(|a| a.parse::<u64>().ok()));
    if let Some(Some(ms)) = ms {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

/// Proposes the reaping of empty containers and expired TTL nodes, one proposal each,
/// pinned to the node as the tree has it now (`DataTree::reap_candidates`): the tree
/// deletes only that very node, still idle, so a node deleted and re-created, or changed,
/// before the proposal commits survives.
fn delete_idle_nodes(
    raft: &RaftHandle,
    term: u64,
    deleting: &Arc<Mutex<HashSet<String>>>,
    log: &Logger,
) {
    let candidates = raft.tree().reap_candidates(now_ms());
    for op in candidates {
        let TxnOp::Reap { path, czxid, mzxid } = op else {
            continue;
        };
        if !deleting.lock().insert(path.clone()) {
            continue;
        }
        let (raft, deleting, log) = (raft.clone(), deleting.clone(), log.clone());
        tokio::spawn(async move {
            let mut txn = rpb::Txn::new();
            txn.time_ms = now_ms();
            txn.leader_term = term;
            let mut r = rpb::ReapNode::new();
            r.path = path.clone();
            r.czxid = czxid as i64;
            r.mzxid = mzxid as i64;
            txn.set_reap(r);
            match raft.propose(txn).await {
                Ok(c) if c.result.is_ok() => {
                    debug!(log, "deleted an idle node"; "path" => &path, "zxid" => c.zxid)
                }
                Ok(_) | Err(_) => {}
            }
            deleting.lock().remove(&path);
        });
    }
}
