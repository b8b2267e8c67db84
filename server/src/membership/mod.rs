//! Membership: who is in the ensemble, where each member listens, and changing both
//! without downtime.
//!
//! - [`roster`]: the current view (Raft configuration + replicated addresses) that the
//!   peer links, the peer listener and client requests read.
//! - [`plan`]: the leader's checks of a change and the ConfChangeV2 it proposes.
//! - this module: [`Membership`], which carries a change from whichever member a
//!   client asked to the leader (over the peer link when that is another member), has
//!   the leader hand leadership on first when the change removes it, and answers once
//!   the change has applied on the member that was asked; and the task with which
//!   every member announces its own addresses for the replicated list.
//!
//! How a change takes effect: the leader proposes a ConfChangeV2 entry whose context
//! records the added members' addresses; every member applies it at the same index
//! (raft-rs's `apply_conf_change`, the tree's member list, then the roster, the peer
//! links and the listener). A learner added to the ensemble starts with an empty log
//! and asks the leader for a snapshot (see `consensus::driver`); it does not vote
//! until it is promoted. A promote that replaces a voter goes through a joint
//! configuration, which raft-rs leaves by itself once the change has applied.
pub mod plan;
pub mod roster;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use paddock::proto::paddock::{self as pb, MemberChangeRequest, MemberChangeRequest_Kind as Kind};
use paddock::proto::replication as rpb;
use paddock::Code;
use parking_lot::Mutex;
use slog::{debug, info, Logger};
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use plan::Refusal;
pub use roster::{Roster, RosterView};

use crate::config::MAX_VOTERS;
use crate::consensus::handle::RaftHandle;
use crate::peer::{MemberSink, PeerOutbox};
use crate::tree::MemberAddrs;

/// Most members (voters and learners) an ensemble may have.
pub const MAX_MEMBERS: usize = 2 * MAX_VOTERS;

/// The refusal the Raft loop gives a change when this member does not lead (the change
/// is then carried to the leader).
pub const NOT_LEADER: &str = "this member does not lead";

fn not_leader() -> Refusal {
    (Code::NotReady, NOT_LEADER.to_string())
}

/// The refusal of a change that did not apply in time (its outcome is unknown).
pub fn timed_out() -> Refusal {
    (
        Code::OperationTimeout,
        "the change did not apply in time; it may still (see the member list)".into(),
    )
}

/// Changes the membership from any member (see the module doc). Clones share state.
#[derive(Clone)]
pub struct Membership {
    inner: Arc<Inner>,
}

struct Inner {
    me: u64,
    raft: RaftHandle,
    roster: Arc<Roster>,
    outbox: PeerOutbox,
    /// Changes this member passed on to the leader, waiting for its answer.
    waiting: Mutex<HashMap<u64, oneshot::Sender<Result<u64, Refusal>>>>,
    next: AtomicU64,
    /// An election timeout: how long leadership takes to move.
    election: Duration,
    log: Logger,
}

impl Membership {
    /// The membership service of member `me`.
    pub fn new(
        me: u64,
        raft: RaftHandle,
        roster: Arc<Roster>,
        outbox: PeerOutbox,
        election: Duration,
        log: Logger,
    ) -> Membership {
        Membership {
            inner: Arc::new(Inner {
                me,
                raft,
                roster,
                outbox,
                waiting: Mutex::new(HashMap::new()),
                next: AtomicU64::new(1),
                election,
                log,
            }),
        }
    }

    /// The shared roster.
    pub fn roster(&self) -> &Arc<Roster> {
        &self.inner.roster
    }

    /// How long a change may take at most: a leadership hand-over, then the change.
    pub fn timeout(&self) -> Duration {
        self.inner.election * 6
    }

    /// The member list as this member knows it now.
    pub fn list(&self) -> pb::MemberListResponse {
        let view = self.inner.roster.view();
        let leader = self.inner.raft.status().leader_id;
        let mut out = pb::MemberListResponse::new();
        out.leader = leader;
        for id in view.ids() {
            let addrs = view.addrs.get(&id).cloned().unwrap_or_default();
            let mut m = pb::Member::new();
            m.id = id;
            m.peer_addr = addrs.peer;
            m.client_addr = addrs.client;
            m.learner = !view.is_voter(id);
            m.leader = id == leader;
            out.members.push(m);
        }
        out
    }

    /// Makes `req` through the leader and waits until it has applied on this member
    /// (and a joint configuration it entered has been left), for at most
    /// [`timeout`](Self::timeout). Returns the index of the change's log entry.
    pub async fn change(&self, req: MemberChangeRequest) -> Result<u64, Refusal> {
        let deadline = Instant::now() + self.timeout();
        let index = loop {
            let leader = self.inner.raft.status().leader_id;
            let attempt = if leader == 0 {
                Err(not_leader())
            } else if leader == self.inner.me {
                let here = self.inner.clone().change_here(req.clone());
                match tokio::time::timeout_at(deadline, here).await {
                    Ok(r) => r,
                    Err(_) => Err(timed_out()),
                }
            } else {
                self.forward(leader, req.clone(), deadline).await
            };
            match attempt {
                Ok(index) => break index,
                // Leadership moved (or is unknown): ask again, of the leader then.
                Err((Code::NotReady, m)) if m == NOT_LEADER && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err((Code::NotReady, m)) if m == NOT_LEADER => {
                    return Err((Code::NotReady, "no leader took the change in time".into()))
                }
                Err(e) => return Err(e),
            }
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if !self.inner.raft.wait_applied(index, left).await {
            return Err((
                Code::OperationTimeout,
                format!("the change (entry {index}) has not applied here yet"),
            ));
        }
        while self.inner.roster.view().joint() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(index)
    }

    async fn forward(
        &self,
        leader: u64,
        req: MemberChangeRequest,
        deadline: Instant,
    ) -> Result<u64, Refusal> {
        let id = self.inner.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.inner.waiting.lock().insert(id, tx);
        let mut fwd = rpb::ForwardedMemberChange::new();
        fwd.request_id = id;
        fwd.set_change(req);
        let result = if self.inner.outbox.send_member_change(leader, fwd) {
            // A lost answer (the leader died, the link dropped it) is waited for only
            // for a while; the change is then asked again, and a repeated add of a
            // member that was added meanwhile is refused as such.
            let wait = self.inner.election * 2;
            let wait = wait.min(deadline.saturating_duration_since(Instant::now()));
            match tokio::time::timeout(wait, rx).await {
                Ok(Ok(r)) => r,
                _ => Err(not_leader()),
            }
        } else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Err(not_leader())
        };
        self.inner.waiting.lock().remove(&id);
        result
    }
}

impl Inner {
    /// The change as the leader makes it: a leader that the change removes hands
    /// leadership to another voter first (the caller then asks the new leader).
    async fn change_here(self: Arc<Self>, req: MemberChangeRequest) -> Result<u64, Refusal> {
        let me = self.me;
        let removes_me = (req.kind == Kind::REMOVE && req.id == me)
            || (req.kind == Kind::PROMOTE && req.replace == me);
        if !removes_me {
            return self.raft.change_members(req).await;
        }
        let view = self.roster.view();
        if req.kind == Kind::REMOVE && view.voters.len() == 1 {
            return Err((Code::BadArguments, format!("member {me} is the last voter")));
        }
        for to in view.voters.iter().filter(|v| **v != me) {
            info!(self.log, "handing leadership on before this member is removed"; "to" => to);
            if self
                .raft
                .transfer_leader(*to, self.election * 2, self.election)
                .await
                .is_ok()
            {
                return Err(not_leader());
            }
        }
        Err((
            Code::NotReady,
            "this member leads and could not hand leadership on to another voter".into(),
        ))
    }
}

impl MemberSink for Membership {
    fn forwarded(&self, from: u64, change: rpb::ForwardedMemberChange) {
        let inner = self.inner.clone();
        tokio::spawn(async move {
            let request_id = change.request_id;
            let req = change.change.into_option().unwrap_or_default();
            debug!(inner.log, "a member passed a membership change on"; "from" => from, "kind" => ?req.kind, "id" => req.id);
            let result = if inner.raft.status().leader_id == inner.me {
                inner.clone().change_here(req).await
            } else {
                Err(not_leader())
            };
            let mut answer = rpb::MemberChangeAnswer::new();
            answer.request_id = request_id;
            match result {
                Ok(index) => answer.index = index,
                Err((code, message)) => {
                    answer.code = code.to_proto();
                    answer.message = message;
                }
            }
            inner.outbox.send_member_answer(from, answer);
        });
    }

    fn answered(&self, _from: u64, answer: rpb::MemberChangeAnswer) {
        let Some(tx) = self.inner.waiting.lock().remove(&answer.request_id) else {
            return;
        };
        let result = match Code::from_proto(answer.code) {
            None => Ok(answer.index),
            Some(code) => Err((code, answer.message)),
        };
        let _ = tx.send(result);
    }
}

/// Announces this member's own addresses for the replicated member list, until `stop`:
/// whenever it is in the configuration, knows a leader, and the list records other
/// addresses for it than `own` (the peer address is kept when one is recorded: it is
/// what the others were told to dial).
pub async fn announce(
    membership: Membership,
    own: MemberAddrs,
    stop: CancellationToken,
    log: Logger,
) {
    let inner = membership.inner;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        let view = inner.roster.view();
        if !view.ids().contains(&inner.me) || inner.raft.status().leader_id == 0 {
            continue;
        }
        let recorded = view.addrs.get(&inner.me).cloned().unwrap_or_default();
        let want = MemberAddrs {
            peer: if recorded.peer.is_empty() {
                own.peer.clone()
            } else {
                recorded.peer.clone()
            },
            client: own.client.clone(),
        };
        if recorded == want {
            continue;
        }
        let mut txn = rpb::Txn::new();
        txn.time_ms = crate::client::handshake::now_ms();
        let mut rec = rpb::MemberRecord::new();
        rec.id = inner.me;
        rec.peer_addr = want.peer.clone();
        rec.client_addr = want.client.clone();
        txn.set_record_member(rec);
        match inner.raft.submit(txn).await {
            Ok(c) => info!(log, "announced this member's addresses"; "peer" => &want.peer,
                           "client" => &want.client, "zxid" => c.zxid),
            Err(e) => debug!(log, "could not announce this member's addresses yet"; "error" => %e),
        }
    }
}
