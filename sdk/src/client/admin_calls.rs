//! Administrative calls: [`Client::save_snapshot`] fetches the ensemble's whole tree,
//! as one snapshot consistent at one zxid, from the connected member;
//! [`Client::transfer_leader`] moves leadership; [`Client::members`],
//! [`Client::add_member`], [`Client::promote_member`] and [`Client::remove_member`]
//! list and change the ensemble's membership.
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::{unexpected, Client};
use crate::error::{Error, Result};
use crate::proto::paddock as pb;
use crate::types::Zxid;

/// One member of the ensemble, as [`Client::members`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Its Raft id.
    pub id: u64,
    /// Where the other members reach its peer listener.
    pub peer_addr: String,
    /// Where clients reach it; empty until the member has announced it.
    pub client_addr: String,
    /// A learner receives the log but does not vote (see [`Client::promote_member`]).
    pub learner: bool,
    /// It leads, as far as the answering member knows.
    pub leader: bool,
}

/// What [`Client::add_member`] adds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewMember {
    /// Its Raft id: not used by any member.
    pub id: u64,
    /// Its peer address (`HOST:PORT`), as the other members will dial it.
    pub peer_addr: String,
    /// Its client address (`HOST:PORT`), if known now (the member announces it itself
    /// once it runs).
    pub client_addr: String,
    /// Add it as a learner (receives the log, does not vote) to be promoted once it has
    /// caught up. Otherwise it is a voter at once, and the quorum counts it while it is
    /// still empty: with one or two voters, writes stop until it has caught up.
    pub learner: bool,
}

fn member_list(resp: pb::Response, what: &str) -> Result<Vec<Member>> {
    let list = match resp.result {
        Some(pb::Response_oneof_result::member_list(l))
        | Some(pb::Response_oneof_result::member_change(l)) => l,
        _ => return Err(unexpected(what)),
    };
    Ok(list
        .members
        .into_iter()
        .map(|m| Member {
            id: m.id,
            peer_addr: m.peer_addr,
            client_addr: m.client_addr,
            learner: m.learner,
            leader: m.leader,
        })
        .collect())
}

/// What [`Client::save_snapshot`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// The zxid the snapshot reflects: every change up to it, none after.
    pub zxid: Zxid,
    /// Its size in bytes.
    pub bytes: u64,
}

impl Client {
    /// Writes a snapshot of the whole tree to `out`: consistent at one zxid, holding
    /// everything committed before the call (the member first confirms with the
    /// leader), in the checksummed format `paddockd restore --snapshot` seeds a new
    /// ensemble from. It comes in chunks of at most 1 MiB; the member holds the whole
    /// snapshot in memory while it is fetched. When the ensemble has a superuser, only
    /// the superuser may take one (`NoAuth`). A connection lost on the way fails the
    /// call (`ConnectionLoss`; what was written to `out` is incomplete: start again).
    pub async fn save_snapshot<W: AsyncWrite + Unpin>(&self, out: &mut W) -> Result<SnapshotInfo> {
        let (mut stream_id, mut offset) = (0u64, 0u64);
        loop {
            let mut req = pb::SnapshotRequest::new();
            req.stream_id = stream_id;
            req.offset = offset;
            let resp = self
                .call(pb::Request_oneof_op::snapshot(req), false)
                .await?;
            let Some(pb::Response_oneof_result::snapshot(s)) = resp.result else {
                return Err(unexpected("snapshot"));
            };
            if stream_id == 0 {
                stream_id = s.stream_id;
            } else if s.stream_id != stream_id {
                return Err(Error::Protocol("the snapshot stream changed midway".into()));
            }
            out.write_all(&s.chunk)
                .await
                .map_err(|e| Error::BadArguments(format!("writing the snapshot: {e}")))?;
            offset += s.chunk.len() as u64;
            if offset >= s.total_bytes {
                out.flush()
                    .await
                    .map_err(|e| Error::BadArguments(format!("writing the snapshot: {e}")))?;
                return Ok(SnapshotInfo {
                    zxid: s.zxid,
                    bytes: s.total_bytes,
                });
            }
            if s.chunk.is_empty() {
                return Err(Error::Protocol(format!(
                    "the snapshot ended at {offset} of {} bytes",
                    s.total_bytes
                )));
            }
        }
    }
}

impl Client {
    /// Asks the ensemble to move leadership to voter `to` (before a planned restart of
    /// the leader, say) and waits until the connected member sees `to` lead.
    /// `OperationTimeout` when it did not within three election timeouts (`to` down or
    /// far behind); `BadArguments` for a member that is not a voter; `NoAuth`
    /// unless the superuser when the ensemble has one.
    pub async fn transfer_leader(&self, to: u64) -> Result<()> {
        let mut t = pb::TransferLeaderRequest::new();
        t.to = to;
        self.call(pb::Request_oneof_op::transfer_leader(t), false)
            .await
            .map(drop)
    }

    /// The ensemble's members (voters and learners), sorted by id, as the connected
    /// member knows them (the configuration it has applied).
    pub async fn members(&self) -> Result<Vec<Member>> {
        let resp = self
            .call(
                pb::Request_oneof_op::member_list(pb::MemberListRequest::new()),
                false,
            )
            .await?;
        member_list(resp, "member_list")
    }

    async fn change_members(&self, req: pb::MemberChangeRequest) -> Result<Vec<Member>> {
        let resp = self
            .call(pb::Request_oneof_op::member_change(req), false)
            .await?;
        member_list(resp, "member_change")
    }

    /// Adds a member to the ensemble (start it afterwards with `paddockd --join`).
    /// Returns the new member list once the change has applied on the connected member.
    /// `BadArguments` for an id in use, a bad address, or more voters than allowed;
    /// `NotReady` while another change is in progress; `NoAuth` unless the superuser
    /// when the ensemble has one. A call that fails with `OperationTimeout` or
    /// `ConnectionLoss` may still have added it: look at [`Client::members`].
    pub async fn add_member(&self, member: NewMember) -> Result<Vec<Member>> {
        let mut req = pb::MemberChangeRequest::new();
        req.kind = pb::MemberChangeRequest_Kind::ADD;
        req.id = member.id;
        req.peer_addr = member.peer_addr;
        req.client_addr = member.client_addr;
        req.learner = member.learner;
        self.change_members(req).await
    }

    /// Makes learner `id` a voter, once it has caught up with the leader (`BadArguments`
    /// until then: retry). With `replace`, voter `replace` leaves the ensemble in the same
    /// joint-consensus change, so the number of voters stays the same (the leader hands
    /// leadership on first if it is the one replaced).
    pub async fn promote_member(&self, id: u64, replace: Option<u64>) -> Result<Vec<Member>> {
        let mut req = pb::MemberChangeRequest::new();
        req.kind = pb::MemberChangeRequest_Kind::PROMOTE;
        req.id = id;
        req.replace = replace.unwrap_or(0);
        self.change_members(req).await
    }

    /// Removes member `id` from the ensemble (the leader hands leadership on first if it
    /// is the one removed; the last voter cannot be removed). Stop the removed member's
    /// process afterwards: it no longer serves clients.
    pub async fn remove_member(&self, id: u64) -> Result<Vec<Member>> {
        let mut req = pb::MemberChangeRequest::new();
        req.kind = pb::MemberChangeRequest_Kind::REMOVE;
        req.id = id;
        self.change_members(req).await
    }
}
