//! The connect handshake: create a new session through Raft, or resume one.
//!
//! Rules:
//! - The protocol version must be one this member speaks.
//! - A new session gets a server-generated id (member id in the top byte, so ids of
//!   different members never collide) and a random password, created through Raft.
//! - Resuming needs the right password, and this member must have applied at least the
//!   client's last seen zxid (it waits briefly, then refuses with NotReady so the
//!   client tries another member: no client ever goes back in time).
//! - An unknown, closed or expired session gets SessionExpired, never a new session. A new
//!   session's answer carries the zxid that created it, which the client sends as its
//!   last seen zxid when it resumes: a member that has not applied the creation yet
//!   refuses with NotReady instead of calling a brand-new session expired.
//! - A member out of contact with a leader that a quorum follows refuses everyone with
//!   NotReady (it could not vouch for any session), so clients go to another member.
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use paddock::codec::PROTOCOL_VERSION;
use paddock::proto::paddock as pb;
use paddock::proto::replication as rpb;
use paddock::Code;

use super::ClientContext;

/// How long a member behind the client's last seen zxid waits before refusing it.
const CATCH_UP_WAIT: Duration = Duration::from_millis(500);

static SESSION_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The outcome of a handshake: the response to send, and the session if accepted.
pub struct Outcome {
    /// The response frame.
    pub response: pb::ConnectResponse,
    /// The session id when the connection was accepted.
    pub session: Option<u64>,
}

fn refuse(ctx: &ClientContext, code: Code, message: impl Into<String>) -> Outcome {
    let mut r = pb::ConnectResponse::new();
    r.protocol_version = PROTOCOL_VERSION;
    r.err = code.to_proto();
    r.message = message.into();
    r.server_id = ctx.member_id;
    r.admin_addr = ctx.admin_addr.clone();
    Outcome {
        response: r,
        session: None,
    }
}

/// The refusal of a session that is closed, expired or unknown.
pub fn expired(ctx: &ClientContext, session: u64) -> Outcome {
    refuse(
        ctx,
        Code::SessionExpired,
        format!("session {session:#x} expired or unknown"),
    )
}

/// A new session id: member id (8 bits), milliseconds (40 bits), counter (16 bits).
fn new_session_id(member: u64) -> u64 {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let n = SESSION_COUNTER.fetch_add(1, Ordering::Relaxed);
    (member << 56) | ((ms & 0xff_ffff_ffff) << 16) | (n & 0xffff)
}

/// Current wall-clock time in ms, as stamped into transactions.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Runs the handshake for one connect request.
pub async fn accept(ctx: &ClientContext, req: &pb::ConnectRequest) -> Outcome {
    if req.protocol_version != PROTOCOL_VERSION {
        return refuse(
            ctx,
            Code::BadArguments,
            format!(
                "protocol version {} not supported (this member speaks {PROTOCOL_VERSION})",
                req.protocol_version
            ),
        );
    }
    let status = ctx.raft.status();
    if status.stopped {
        return refuse(ctx, Code::NotReady, "member is stopping");
    }
    if !ctx.sessions.in_contact() {
        let since = match ctx.sessions.since_contact() {
            Some(d) => format!("for {} ms", d.as_millis()),
            None => "since it started".to_string(),
        };
        return refuse(
            ctx,
            Code::NotReady,
            format!("this member has had no contact with a leader that a quorum follows {since}; try another member"),
        );
    }
    let requested = Duration::from_millis(u64::from(req.timeout_ms));
    let timeout = ctx.config.negotiate_session_timeout(requested);
    let timeout_ms = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);

    let received = std::time::Instant::now();
    let mut session_zxid = 0;
    let (session_id, password, timeout_ms) = if req.session_id == 0 {
        let id = new_session_id(ctx.member_id);
        let password: [u8; 16] = rand::random();
        let mut txn = rpb::Txn::new();
        txn.time_ms = now_ms();
        let mut cs = rpb::CreateSession::new();
        cs.session_id = id;
        cs.password = password.to_vec();
        cs.timeout_ms = timeout_ms;
        txn.set_create_session(cs);
        match ctx.raft.propose(txn).await {
            Ok(c) if c.result.is_ok() => {
                ctx.sessions.created_here(id, received);
                session_zxid = c.zxid;
                (id, password.to_vec(), timeout_ms)
            }
            Ok(c) => {
                let msg = c.result.err().map(|e| e.message).unwrap_or_default();
                return refuse(
                    ctx,
                    Code::SystemError,
                    format!("session not created: {msg}"),
                );
            }
            Err(e) => return refuse(ctx, Code::NotReady, format!("session not created: {e}")),
        }
    } else {
        if ctx.raft.applied() < req.last_zxid_seen
            && !ctx
                .raft
                .wait_applied(req.last_zxid_seen, CATCH_UP_WAIT)
                .await
        {
            return refuse(
                ctx,
                Code::NotReady,
                format!(
                    "this member has applied up to {:#x}, behind the client's last seen zxid {:#x}",
                    ctx.raft.applied(),
                    req.last_zxid_seen
                ),
            );
        }
        let tree = ctx.raft.tree();
        match tree.session(req.session_id) {
            Some(s) if s.password == req.password => {
                (req.session_id, s.password.clone(), s.timeout_ms)
            }
            Some(_) => return refuse(ctx, Code::SessionExpired, "wrong session password"),
            None => return expired(ctx, req.session_id),
        }
    };
    let mut r = pb::ConnectResponse::new();
    r.protocol_version = PROTOCOL_VERSION;
    r.session_id = session_id;
    r.password = password;
    r.timeout_ms = timeout_ms;
    r.server_id = ctx.member_id;
    r.zxid = ctx.raft.applied();
    r.admin_addr = ctx.admin_addr.clone();
    r.session_zxid = session_zxid;
    Outcome {
        response: r,
        session: Some(session_id),
    }
}
