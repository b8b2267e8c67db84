//! One request: validate it, then either read the local tree or propose it through
//! Raft, and produce the response as a future.
//!
//! Ordering (session FIFO): writes are handed to the Raft loop when the request is
//! read, so they reach the log in request order; a read waits for the session's
//! previous barrier (its latest write, sync or linearizable read) to complete before it
//! looks at the tree, so it sees that write and is at least as fresh as that sync.
//! The connection answers the futures in request order, and closes itself after a
//! write whose outcome is unknown (see [`outcome_unknown`]), as ZooKeeper does. Each
//! write names the session's previous write (`prev_write_xid`) and the tree applies it
//! only right after that one, so a lost write is never followed by a later one of the
//! same session, on this connection or the next; a write this member refuses (invalid
//! path, value too large) is still proposed, as a `Refused` entry, so that it keeps its
//! place in that order.
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use futures::future::{FutureExt, Shared};
use paddock::proto::paddock as pb;
use paddock::proto::replication as rpb;
use paddock::Code;
use tokio::sync::oneshot;

use super::backup::Backups;
use super::handshake::now_ms;
use super::reads::{read_now, Reader};
use super::{admin_ops, auth, respond, validate, ClientContext};
use crate::consensus::handle::ProposeError;
use crate::metrics::OpMetrics;
use crate::tree::Who;
use crate::watch::ConnId;

/// A response being computed.
pub type Reply = Pin<Box<dyn Future<Output = pb::Response> + Send>>;

/// Cached metric handles per op.
pub struct OpTable(HashMap<&'static str, OpMetrics>);

impl OpTable {
    /// Resolves the handles for every op once.
    pub fn new(metrics: &crate::metrics::Metrics) -> OpTable {
        OpTable(
            crate::metrics::OPS
                .iter()
                .map(|op| (*op, metrics.op(op)))
                .collect(),
        )
    }
    /// The handles for `op` (one of [`crate::metrics::OPS`]).
    pub fn get(&self, op: &'static str) -> Option<OpMetrics> {
        self.0.get(op).cloned()
    }
}

/// Per-connection state of the request pipeline.
pub struct Pipe {
    /// The session served on this connection.
    pub session_id: u64,
    /// This connection in the watch hub.
    pub conn: ConnId,
    /// Resolves when the session's latest barrier (write, sync, linearizable read)
    /// has been answered.
    last_barrier: Option<Shared<oneshot::Receiver<()>>>,
    /// Set once a close-session request was accepted: the connection ends after it.
    pub closing: bool,
    /// The connection's identities for the ACLs (see [`super::auth`]).
    pub who: Who,
    /// The connection's backup stream, if one is being fetched.
    backups: Backups,
    ops: Arc<OpTable>,
}

impl Pipe {
    /// A pipe for a session on a connection whose identities start as `who`.
    pub fn new(session_id: u64, conn: ConnId, who: Who, ops: Arc<OpTable>) -> Pipe {
        Pipe {
            session_id,
            conn,
            last_barrier: None,
            closing: false,
            who,
            backups: Backups::default(),
            ops,
        }
    }
}

fn op_name(op: &pb::Request_oneof_op) -> &'static str {
    use pb::Request_oneof_op as O;
    match op {
        O::ping(_) => "ping",
        O::create(_) => "create",
        O::delete(_) => "delete",
        O::set_data(_) => "set_data",
        O::exists(_) => "exists",
        O::get_data(_) => "get_data",
        O::get_children(_) => "get_children",
        O::sync(_) => "sync",
        O::multi(_) => "multi",
        O::close_session(_) => "close_session",
        O::check(_) => "multi",
        O::set_watches(_) => "set_watches",
        O::add_watch(_) => "add_watch",
        O::remove_watches(_) => "remove_watches",
        O::get_ephemerals(_) => "get_ephemerals",
        O::get_all_children_number(_) => "get_all_children_number",
        O::get_acl(_) => "get_acl",
        O::set_acl(_) => "set_acl",
        O::auth(_) => "auth",
        O::snapshot(_) => "snapshot",
        O::transfer_leader(_) => "transfer_leader",
        O::member_list(_) => "member_list",
        O::member_change(_) => "member_change",
    }
}

/// Whether a response to a write leaves its outcome unknown: the connection must then
/// be closed so that no later write of it is seen to succeed.
pub fn outcome_unknown(r: &pb::Response) -> bool {
    matches!(
        r.err,
        pb::ErrorCode::CONNECTION_LOSS | pb::ErrorCode::OPERATION_TIMEOUT
    )
}

pub(super) fn propose_error(xid: i64, zxid: u64, e: ProposeError) -> pb::Response {
    let code = match e {
        ProposeError::NoLeader => Code::NotReady,
        ProposeError::Dropped => Code::ConnectionLoss,
        ProposeError::Timeout => Code::OperationTimeout,
        ProposeError::TooLarge(_) => Code::TooLarge,
        ProposeError::Stopped => Code::NotReady,
        ProposeError::Deposed(_) => Code::NotReady,
        ProposeError::Busy => Code::NotReady,
    };
    respond::error(xid, zxid, code, e.to_string())
}

pub(super) fn ready(r: pb::Response) -> Reply {
    Box::pin(std::future::ready(r))
}

/// Wraps a reply so that its latency and errors are counted.
fn measured(ops: Option<OpMetrics>, fut: Reply) -> Reply {
    let Some(m) = ops else { return fut };
    m.request();
    let start = Instant::now();
    Box::pin(fut.map(move |r| {
        m.observe_since(start);
        if r.err != pb::ErrorCode::OK {
            m.error(&format!("{:?}", r.err));
        }
        r
    }))
}

/// Turns one request into its (future) response.
pub fn dispatch(ctx: &Arc<ClientContext>, pipe: &mut Pipe, req: pb::Request) -> Reply {
    let xid = req.xid;
    let Some(op) = req.op else {
        return ready(respond::error(
            xid,
            ctx.raft.applied(),
            Code::BadArguments,
            "request without an operation",
        ));
    };
    let metrics = pipe.ops.get(op_name(&op));
    let order = WriteOrder {
        prev_xid: req.prev_write_xid,
        oldest_pending_xid: req.oldest_pending_write_xid,
    };
    let fut = route(ctx, pipe, xid, req.linearizable, order, op);
    measured(metrics, fut)
}

/// Where a write stands in its session's order (see `paddock.Request`).
#[derive(Debug, Clone, Copy)]
struct WriteOrder {
    prev_xid: i64,
    oldest_pending_xid: i64,
}

/// The replicated transaction for a session's request, stamped now.
fn session_txn(pipe: &Pipe, xid: i64, order: WriteOrder) -> rpb::Txn {
    let mut txn = rpb::Txn::new();
    txn.session_id = pipe.session_id;
    txn.xid = xid;
    txn.prev_xid = order.prev_xid;
    txn.oldest_pending_xid = order.oldest_pending_xid;
    txn.time_ms = now_ms();
    txn.identities = crate::txn_codec::identities(&pipe.who.identities);
    txn.superuser = pipe.who.superuser;
    txn
}

/// A write this member refuses still goes through the log, as a `Refused` entry: it
/// takes its place in the session's order (its successor names it as the previous
/// write) and its error is remembered like any result, so a resend gets it again.
fn refused(
    ctx: &Arc<ClientContext>,
    pipe: &mut Pipe,
    xid: i64,
    order: WriteOrder,
    (code, message): validate::Rejection,
) -> Reply {
    let mut txn = session_txn(pipe, xid, order);
    let mut r = rpb::Refused::new();
    r.code = code.to_proto();
    r.message = message;
    txn.set_refused(r);
    write_request(ctx, pipe, xid, txn)
}

fn route(
    ctx: &Arc<ClientContext>,
    pipe: &mut Pipe,
    xid: i64,
    linearizable: bool,
    order: WriteOrder,
    op: pb::Request_oneof_op,
) -> Reply {
    use pb::Request_oneof_op as O;
    let limits = &ctx.limits;
    let mut op = op;
    let checked = match &mut op {
        O::create(c) => {
            validate::create(c, limits).and_then(|()| auth::expand_create(c, &pipe.who))
        }
        O::multi(m) => validate::multi(m, limits).and_then(|()| auth::expand_multi(m, &pipe.who)),
        O::set_acl(a) => validate::plain(&a.path).and_then(|()| {
            if a.acl.is_empty() {
                return Err((Code::InvalidAcl, "an ACL needs at least one entry".into()));
            }
            let acl = auth::expand(&a.acl, &pipe.who)?;
            a.acl = acl.iter().map(pb::Acl::from).collect();
            Ok(())
        }),
        O::get_acl(g) => validate::plain(&g.path),
        O::set_data(s) => validate::set_data(s, limits),
        O::delete(d) => validate::plain(&d.path),
        O::exists(e) => validate::plain(&e.path),
        O::get_data(g) => validate::plain(&g.path),
        O::get_children(g) => validate::plain(&g.path),
        O::sync(s) => validate::plain(&s.path),
        O::add_watch(a) => validate::plain(&a.path),
        O::remove_watches(r) => validate::plain(&r.path),
        O::get_all_children_number(g) => validate::plain(&g.path),
        O::get_ephemerals(_) | O::set_watches(_) => Ok(()),
        O::check(_) => Err((
            Code::BadArguments,
            "check is only valid inside a multi".into(),
        )),
        O::transfer_leader(t) => admin_ops::check_transfer(ctx, t.to),
        O::ping(_)
        | O::close_session(_)
        | O::auth(_)
        | O::snapshot(_)
        | O::member_list(_)
        | O::member_change(_) => Ok(()),
    };
    if let Err(rejection) = checked {
        if paddock::types::is_ordered_write(&op) {
            return refused(ctx, pipe, xid, order, rejection);
        }
        let (code, message) = rejection;
        return ready(respond::error(xid, ctx.raft.applied(), code, message));
    }
    // For a close-session the order fields are ignored: it applies whatever came before.
    let mut txn = session_txn(pipe, xid, order);
    match op {
        O::create(c) => txn.set_create(c),
        O::delete(d) => txn.set_delete(d),
        O::set_data(s) => txn.set_set_data(s),
        O::multi(m) => txn.set_multi(m),
        O::set_acl(a) => txn.set_set_acl(a),
        O::auth(a) => {
            // Takes effect for every request read after it (they are dispatched in order).
            let zxid = ctx.raft.applied();
            let super_digest = ctx.config.super_digest.as_deref();
            return ready(match auth::add(&mut pipe.who, &a, super_digest) {
                Ok(()) => respond::ok(
                    xid,
                    zxid,
                    pb::Response_oneof_result::auth(pb::AuthResponse::new()),
                ),
                Err((code, message)) => respond::error(xid, zxid, code, message),
            });
        }
        O::snapshot(s) => return pipe.backups.serve(ctx, &pipe.who, xid, s),
        O::transfer_leader(t) => return admin_ops::transfer_leader(ctx, &pipe.who, xid, t.to),
        O::member_list(_) => return admin_ops::member_list(ctx, xid),
        O::member_change(c) => return admin_ops::member_change(ctx, &pipe.who, xid, c),
        O::close_session(_) => {
            let mut cs = rpb::CloseSession::new();
            cs.session_id = pipe.session_id;
            txn.set_close_session(cs);
            pipe.closing = true;
        }
        O::ping(_) => {
            let zxid = ctx.raft.applied();
            // A ping vouches for the session: never for one the ensemble ended.
            if ctx.raft.tree().session(pipe.session_id).is_none() {
                return ready(respond::error(
                    xid,
                    zxid,
                    Code::SessionExpired,
                    format!("session {:#x} expired", pipe.session_id),
                ));
            }
            return ready(respond::ok(
                xid,
                zxid,
                pb::Response_oneof_result::ping(pb::PingResponse::new()),
            ));
        }
        read => return read_request(ctx, pipe, xid, linearizable, read),
    }
    write_request(ctx, pipe, xid, txn)
}

fn write_request(ctx: &Arc<ClientContext>, pipe: &mut Pipe, xid: i64, txn: rpb::Txn) -> Reply {
    let pending = ctx.raft.submit(txn);
    let (done_tx, done_rx) = oneshot::channel();
    pipe.last_barrier = Some(done_rx.shared());
    let ctx = ctx.clone();
    Box::pin(async move {
        let resp = match pending.await {
            Ok(c) => respond::write_result(xid, c.zxid, c.result),
            Err(e) => propose_error(xid, ctx.raft.applied(), e),
        };
        let _ = done_tx.send(());
        resp
    })
}

fn read_request(
    ctx: &Arc<ClientContext>,
    pipe: &mut Pipe,
    xid: i64,
    linearizable: bool,
    op: pb::Request_oneof_op,
) -> Reply {
    let before = pipe.last_barrier.clone();
    let reader = Reader {
        session_id: pipe.session_id,
        conn: pipe.conn,
        who: pipe.who.clone(),
        xid,
    };
    let ctx = ctx.clone();
    let barrier = linearizable || matches!(op, pb::Request_oneof_op::sync(_));
    let done = if barrier {
        let (tx, rx) = oneshot::channel();
        pipe.last_barrier = Some(rx.shared());
        Some(tx)
    } else {
        None
    };
    Box::pin(async move {
        if let Some(w) = before {
            let _ = w.await;
        }
        let resp = if barrier {
            match ctx.raft.read_barrier().await {
                Ok(_) => read_now(&ctx, &reader, op),
                Err(e) => propose_error(xid, ctx.raft.applied(), e),
            }
        } else {
            read_now(&ctx, &reader, op)
        };
        if let Some(tx) = done {
            let _ = tx.send(());
        }
        resp
    })
}
