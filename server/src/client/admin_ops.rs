//! Administrative requests on the client port: moving leadership and listing or
//! changing the membership. Changes are for the superuser only when the member has
//! one (`--super-digest`); the member list is open, like ZooKeeper's `/zookeeper/config`.
//! Each holds up the connection's later answers (pings included) until it is ready, so
//! each is bounded well below a session timeout.
use std::sync::Arc;

use paddock::proto::paddock as pb;
use paddock::Code;

use super::dispatch::{propose_error, ready, Reply};
use super::{respond, ClientContext};
use crate::tree::Who;

/// Refuses a leadership transfer to a member that is not a voter.
pub fn check_transfer(ctx: &ClientContext, to: u64) -> Result<(), (Code, String)> {
    let view = ctx.membership.roster().view();
    if view.voters.contains(&to) {
        Ok(())
    } else {
        Err((
            Code::BadArguments,
            format!("member {to} is not a voter (voters: {:?})", view.voters),
        ))
    }
}

fn superuser_only(ctx: &ClientContext, who: &Who, xid: i64, what: &str) -> Option<Reply> {
    if ctx.config.super_digest.is_some() && !who.superuser {
        return Some(ready(respond::error(
            xid,
            ctx.raft.applied(),
            Code::NoAuth,
            format!("only the superuser may {what}"),
        )));
    }
    None
}

/// Moves leadership to voter `to`.
pub fn transfer_leader(ctx: &Arc<ClientContext>, who: &Who, xid: i64, to: u64) -> Reply {
    if let Some(refused) = superuser_only(ctx, who, xid, "move leadership") {
        return refused;
    }
    let ctx = ctx.clone();
    let election = ctx.config.tick * ctx.config.election_ticks as u32;
    Box::pin(async move {
        match ctx.raft.transfer_leader(to, election * 3, election).await {
            Ok(()) => {
                let mut r = pb::TransferLeaderResponse::new();
                r.leader = to;
                respond::ok(
                    xid,
                    ctx.raft.applied(),
                    pb::Response_oneof_result::transfer_leader(r),
                )
            }
            Err(e) => propose_error(xid, ctx.raft.applied(), e),
        }
    })
}

/// The member list as this member knows it.
pub fn member_list(ctx: &Arc<ClientContext>, xid: i64) -> Reply {
    ready(respond::ok(
        xid,
        ctx.raft.applied(),
        pb::Response_oneof_result::member_list(ctx.membership.list()),
    ))
}

/// Makes membership change `req` through the leader; answered with the new member list
/// once it has applied here.
pub fn member_change(
    ctx: &Arc<ClientContext>,
    who: &Who,
    xid: i64,
    req: pb::MemberChangeRequest,
) -> Reply {
    if let Some(refused) = superuser_only(ctx, who, xid, "change the membership") {
        return refused;
    }
    let ctx = ctx.clone();
    Box::pin(async move {
        match ctx.membership.change(req).await {
            Ok(_) => respond::ok(
                xid,
                ctx.raft.applied(),
                pb::Response_oneof_result::member_change(ctx.membership.list()),
            ),
            Err((code, message)) => respond::error(xid, ctx.raft.applied(), code, message),
        }
    })
}
