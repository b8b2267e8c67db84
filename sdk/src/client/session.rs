//! The session task: one per client. It owns the connection to the current member,
//! assigns xids, pipelines requests, pings, and reconnects to another member when the
//! connection fails.
//!
//! Invariants:
//! - Requests are written in the order they were submitted and xids increase
//!   strictly across reconnects, so the ensemble can apply each write at most once.
//! - Responses are matched to requests in order (the server answers in session FIFO
//!   order); a response with an unexpected xid is a protocol error and drops the
//!   connection.
//! - Every write names the write sent before it and the oldest one still unanswered
//!   ([`WriteChain`]). When a connection is lost, or a write is answered with a code
//!   that says it did not get into the log (connection loss, timeout, not ready,
//!   previous write missing), every write in flight is kept and resent first on the
//!   next connection, with the same frame (xid and names), in order; the ensemble
//!   answers a write it already applied with its first result. Reads in flight fail
//!   with `ConnectionLoss`. Requests submitted while reconnecting wait, up to the
//!   session timeout. At most [`MAX_PENDING_WRITES`] writes are in flight.
//! - Writes still in flight when the session ends fail with `ConnectionLoss` (their
//!   outcome is unknown) if it expired while disconnected, and with the reason
//!   otherwise (a member said it expired, or it was closed: they cannot apply after).
//! - The handshake carries the highest zxid seen, so the client never resumes on a
//!   member that is behind what it already observed. That zxid only comes from
//!   responses and watch events (never from the handshake itself), so it also tells a
//!   member which changes the client's watches may have missed.
//! - Frames are handled in arrival order by one reader task: a watch event is routed
//!   before the response that follows it is handed to its caller, and a watch set by a
//!   read is registered locally when that read's response is handled.
//! - After every (re)connect, before any queued request, the live watches are
//!   re-registered with `SetWatchesRequest`s in chunks of at most
//!   [`SET_WATCHES_CHUNK_BYTES`] path bytes.
//! - While disconnected, the session is given up locally (`Expired`) once nothing has
//!   been heard from any member for the negotiated session timeout.
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use parking_lot::Mutex;
use tokio::io::{ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio_util::codec::{Framed, FramedParts, FramedWrite};

use super::config::ClientConfig;
use super::state::{State, StateHub};
use super::watches::{
    chunk_watches, set_watches_request, EventKind, Hook, PendingAdds, WatchRegistry, WatchedEvent,
    SET_WATCHES_CHUNK_BYTES,
};
use super::write_chain::WriteChain;
use super::MAX_PENDING_WRITES;
use crate::codec::{self, PROTOCOL_VERSION};
use crate::error::{Code, Error, Result};
use crate::proto::paddock as pb;
use crate::tls::Stream;

/// Xid the SDK uses for pings (as ZooKeeper does).
const PING_XID: i64 = -2;

/// A request handed to the session task.
pub(crate) struct Command {
    pub op: pb::Request_oneof_op,
    pub linearizable: bool,
    pub reply: oneshot::Sender<Result<pb::Response>>,
    pub submitted: Instant,
    /// What the reader does with the watch table when the response arrives.
    pub hook: Hook,
}

/// Session identity, shared with the client handle.
#[derive(Debug, Clone, Default)]
pub(crate) struct SessionIds {
    pub id: u64,
    pub password: Vec<u8>,
    pub timeout: Duration,
    /// Id of the member the last successful handshake was with.
    pub server_id: u64,
    /// Admin HTTP address (`host:port`) that member announced in the handshake.
    pub admin_addr: String,
    /// The zxid that created the session (0: not known); resumes ask for at least it.
    pub created_zxid: u64,
}

/// State shared between the client handles and the session task.
pub(crate) struct Shared {
    pub session: Mutex<SessionIds>,
    /// Highest zxid seen in a response or a watch event.
    pub last_zxid: AtomicU64,
    /// Until when the session is known to stay valid: the latest of (request sent +
    /// the `lease_ms` its response carried), over every response with a lease.
    /// `None` until a member vouched for the session.
    pub lease_until: Mutex<Option<Instant>>,
    /// When a frame last arrived from a member (or the last handshake succeeded).
    pub last_heard: Mutex<Instant>,
    /// Every watch registered on the ensemble, with its local waiters.
    pub watches: Mutex<WatchRegistry>,
    /// Persistent watches being added (see [`PendingAdds`]). Lock order: `watches`
    /// first.
    pub pending_adds: PendingAdds,
    /// Connection state, published to the handles and state streams.
    pub state: Arc<StateHub>,
    /// The session's write order and its writes in flight.
    pub writes: Mutex<WriteChain>,
    /// Signalled whenever a write's result arrives (room in the window).
    pub window: Notify,
    /// Every `add_auth` (scheme, credentials), in call order: sent again first on every
    /// new connection, since a member keeps identities per connection.
    pub auths: Mutex<Vec<(String, Vec<u8>)>>,
}

impl Shared {
    pub fn new(config: &ClientConfig) -> Shared {
        Shared {
            session: Mutex::new(SessionIds {
                id: 0,
                password: Vec::new(),
                timeout: config.session_timeout,
                server_id: 0,
                admin_addr: String::new(),
                created_zxid: 0,
            }),
            last_zxid: AtomicU64::new(0),
            lease_until: Mutex::new(None),
            last_heard: Mutex::new(Instant::now()),
            watches: Mutex::new(WatchRegistry::default()),
            pending_adds: PendingAdds::default(),
            state: StateHub::new(State::Connecting),
            writes: Mutex::new(WriteChain::default()),
            auths: Mutex::new(Vec::new()),
            window: Notify::new(),
        }
    }
}

/// What ended one connection.
enum Ended {
    /// The client handles are gone or close() completed: stop for good.
    Closed,
    /// The connection failed; reconnect.
    Lost(String),
    /// The ensemble says the session is gone.
    Expired,
}

/// One in-flight request: the reader task pops these in order.
struct InFlight {
    xid: i64,
    /// For a write: its encoded frame, sent again unchanged after a reconnect.
    resend: Option<bytes::Bytes>,
    /// When the request was handed to the socket (a lease counts from here).
    sent: Instant,
    reply: Option<oneshot::Sender<Result<pb::Response>>>,
    close: bool,
    hook: Hook,
}

/// Pause before reconnecting after a connection that ended within
/// [`SHORT_CONNECTION`], so that a member that accepts and then drops us is not
/// hammered.
const SHORT_CONNECTION_BACKOFF: Duration = Duration::from_millis(100);
const SHORT_CONNECTION: Duration = Duration::from_secs(1);

/// Runs the session until it is closed or expired.
pub(crate) async fn run(
    config: ClientConfig,
    shared: Arc<Shared>,
    mut commands: mpsc::Receiver<Command>,
    mut first_connect: Option<oneshot::Sender<Result<()>>>,
) {
    let mut next_xid: i64 = 1;
    let mut waiting: VecDeque<Command> = VecDeque::new();
    // Writes in flight when the last connection ended, in send order: sent first next.
    let mut resend: Vec<InFlight> = Vec::new();
    let mut start = if config.in_order {
        0
    } else {
        rand::random::<usize>()
    };
    // While disconnected: when the session is given up locally.
    let mut deadline: Option<Instant> = None;
    let began = Instant::now();
    loop {
        // Connect phase: keep queuing commands while we look for a member.
        let connected = {
            let connect = connect_any(&config, &shared, start);
            tokio::pin!(connect);
            let expiry = async move {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d.into()).await,
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::pin!(expiry);
            loop {
                tokio::select! {
                    res = &mut connect => break Some(res),
                    () = &mut expiry => break None,
                    cmd = commands.recv(), if first_connect.is_none() => match cmd {
                        Some(cmd) => waiting.push_back(cmd),
                        None => {
                            return finish(&shared, State::Closed, &mut waiting, &mut resend, &mut commands)
                        }
                    },
                }
            }
        };
        let Some(connected) = connected else {
            // Nothing heard from any member for a whole session timeout: the ensemble
            // has (or is about to have) expired the session.
            return finish(
                &shared,
                State::Expired,
                &mut waiting,
                &mut resend,
                &mut commands,
            );
        };
        let (stream, server_id, index) = match connected {
            Ok(c) => c,
            Err(err) => {
                // A first connect waits (up to a session timeout) for members that are
                // up but not ready yet, e.g. an ensemble that is still electing; it
                // fails at once when no member is reachable at all.
                let wait_more = err.code() == Code::NotReady
                    && first_connect.is_some()
                    && began.elapsed() < config.session_timeout;
                if wait_more {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
                if let Some(tx) = first_connect.take() {
                    let _ = tx.send(Err(err));
                    return finish(
                        &shared,
                        State::Closed,
                        &mut waiting,
                        &mut resend,
                        &mut commands,
                    );
                }
                if matches!(err, Error::SessionExpired) {
                    return finish(
                        &shared,
                        State::Expired,
                        &mut waiting,
                        &mut resend,
                        &mut commands,
                    );
                }
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return finish(
                        &shared,
                        State::Expired,
                        &mut waiting,
                        &mut resend,
                        &mut commands,
                    );
                }
                // Nobody reachable this round: fail what waited too long, then retry.
                let limit = shared.session.lock().timeout;
                expire_waiting(&mut waiting, limit);
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        shared.state.set(State::Connected { server_id });
        if let Some(tx) = first_connect.take() {
            let _ = tx.send(Ok(()));
        }
        let connected_at = Instant::now();
        let ended = serve(
            &config,
            &shared,
            stream,
            &mut commands,
            &mut waiting,
            &mut resend,
            &mut next_xid,
        )
        .await;
        match ended {
            Ended::Closed => {
                return finish(
                    &shared,
                    State::Closed,
                    &mut waiting,
                    &mut resend,
                    &mut commands,
                )
            }
            Ended::Expired => {
                return finish(
                    &shared,
                    State::Expired,
                    &mut waiting,
                    &mut resend,
                    &mut commands,
                )
            }
            Ended::Lost(_) => {
                shared.state.set(State::Disconnected);
                let timeout = shared.session.lock().timeout;
                deadline = Some(*shared.last_heard.lock() + timeout);
                // Try the next member first.
                start = index + 1;
                if connected_at.elapsed() < SHORT_CONNECTION {
                    tokio::time::sleep(SHORT_CONNECTION_BACKOFF).await;
                }
            }
        }
    }
}

/// Marks a terminal state and fails everything still waiting: queued commands, writes
/// waiting to be resent, and every watch (one-shot watches resolve to the error, watch
/// streams end).
fn finish(
    shared: &Shared,
    last: State,
    waiting: &mut VecDeque<Command>,
    resend: &mut Vec<InFlight>,
    commands: &mut mpsc::Receiver<Command>,
) {
    shared.state.set(last);
    let err = if last == State::Expired {
        Error::SessionExpired
    } else {
        Error::Closed
    };
    shared.watches.lock().fail_all(&err);
    for f in resend.drain(..) {
        shared.writes.lock().answered(f.xid);
        if let Some(reply) = f.reply {
            // Sent at least once, so it may have applied before the session ended.
            let _ = reply.send(Err(Error::ConnectionLoss(format!(
                "the session ended ({err}) before the write's result arrived; it may \
                 have applied"
            ))));
        }
    }
    for cmd in waiting.drain(..) {
        let _ = cmd.reply.send(Err(err.clone()));
    }
    commands.close();
    while let Ok(cmd) = commands.try_recv() {
        let _ = cmd.reply.send(Err(err.clone()));
    }
}

/// Fails the commands that have waited for a connection longer than `limit`.
fn expire_waiting(waiting: &mut VecDeque<Command>, limit: Duration) {
    let now = Instant::now();
    while let Some(cmd) = waiting.front() {
        if now.duration_since(cmd.submitted) < limit {
            break;
        }
        if let Some(cmd) = waiting.pop_front() {
            let _ = cmd
                .reply
                .send(Err(Error::ConnectionLoss("no member reachable".into())));
        }
    }
}

/// Tries every member once, starting at `start`; returns the first that accepts.
async fn connect_any(
    config: &ClientConfig,
    shared: &Shared,
    start: usize,
) -> Result<(Connection, u64, usize)> {
    let n = config.servers.len().max(1);
    let mut last_err = Error::ConnectionLoss("no servers configured".into());
    let mut not_ready = None;
    for k in 0..config.servers.len() {
        let index = (start + k) % n;
        let addr = &config.servers[index];
        match tokio::time::timeout(config.connect_timeout, handshake(config, shared, addr)).await {
            Ok(Ok((stream, server_id))) => return Ok((stream, server_id, index)),
            Ok(Err(Error::SessionExpired)) => return Err(Error::SessionExpired),
            Ok(Err(e)) if e.code() == Code::NotReady => not_ready = Some(e),
            Ok(Err(e)) => last_err = e,
            Err(_) => last_err = Error::ConnectionLoss(format!("{addr}: connect timed out")),
        }
    }
    // "Up but not ready" says more than "unreachable": the ensemble is there.
    Err(not_ready.unwrap_or(last_err))
}

/// Connects to one member and performs the session handshake.
async fn handshake(
    config: &ClientConfig,
    shared: &Shared,
    addr: &str,
) -> Result<(Connection, u64)> {
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| Error::ConnectionLoss(format!("{addr}: {e}")))?;
    let _ = tcp.set_nodelay(true);
    let stream = match &config.tls {
        None => Stream::Plain(tcp),
        Some(tls) => tls
            .connect(addr, tcp)
            .await
            .map_err(|e| Error::ConnectionLoss(format!("{addr}: TLS: {e}")))?,
    };
    let mut framed = codec::framed(stream, config.max_frame);
    let ids = shared.session.lock().clone();
    let mut req = pb::ConnectRequest::new();
    req.protocol_version = PROTOCOL_VERSION;
    req.session_id = ids.id;
    req.password = ids.password.clone();
    req.timeout_ms = u32::try_from(config.session_timeout.as_millis()).unwrap_or(u32::MAX);
    // Never resume where the session does not exist yet: a member behind its creation
    // would call it expired.
    req.last_zxid_seen = shared
        .last_zxid
        .load(Ordering::Acquire)
        .max(ids.created_zxid);
    let mut frame = pb::ClientFrame::new();
    frame.set_connect(req);
    framed
        .send(codec::encode(&frame))
        .await
        .map_err(|e| Error::ConnectionLoss(format!("{addr}: {e}")))?;
    let reply = match framed.next().await {
        Some(Ok(buf)) => codec::decode_frame::<pb::ServerFrame>(&buf)
            .map_err(|e| Error::Protocol(e.to_string()))?,
        Some(Err(e)) => return Err(Error::ConnectionLoss(format!("{addr}: {e}"))),
        None => {
            return Err(Error::ConnectionLoss(format!(
                "{addr}: closed during handshake"
            )))
        }
    };
    let resp = match reply.kind {
        Some(pb::ServerFrame_oneof_kind::connect(c)) => c,
        _ => return Err(Error::Protocol("expected a connect response".into())),
    };
    if let Some(err) = Error::from_server(resp.err, resp.message.clone()) {
        return Err(match err {
            Error::SessionExpired => Error::SessionExpired,
            // Up, but cannot serve us now (no leader, catching up): the caller tries
            // another member, and a first connect waits for one to become ready.
            Error::Server {
                code: Code::NotReady,
                message,
            } => Error::Server {
                code: Code::NotReady,
                message: format!("{addr}: {message}"),
            },
            // Anything else from a member that cannot serve us is like an unreachable one.
            other => Error::ConnectionLoss(format!("{addr}: {other}")),
        });
    }
    if ids.id != 0 && resp.session_id != ids.id {
        // Asked to resume a session and got another one: ours is gone.
        return Err(Error::SessionExpired);
    }
    {
        let mut s = shared.session.lock();
        s.id = resp.session_id;
        s.password = resp.password.clone();
        s.timeout = Duration::from_millis(u64::from(resp.timeout_ms));
        s.server_id = resp.server_id;
        s.admin_addr = resp.admin_addr.clone();
        if resp.session_zxid != 0 {
            s.created_zxid = resp.session_zxid;
        }
    }
    // Deliberately not `last_zxid`: the member's zxid at connect time was not observed
    // through this session's responses or events, and using it as the re-registration
    // point would hide changes the client's watches have not been told about.
    *shared.last_heard.lock() = Instant::now();
    // Keep whatever the member sent right after its answer.
    let parts = framed.into_parts();
    let conn = Connection {
        stream: parts.io,
        buffered: parts.read_buf,
    };
    Ok((conn, resp.server_id))
}

/// An established connection: the socket, and bytes the member already sent after
/// its handshake answer.
struct Connection {
    stream: Stream,
    buffered: bytes::BytesMut,
}

/// Commands written together (one flush).
const BATCH: usize = 256;

/// Serves one established connection until it ends. Writes that were in flight when it
/// ended are left in `resend` (in send order) for the next connection.
async fn serve(
    config: &ClientConfig,
    shared: &Arc<Shared>,
    conn: Connection,
    commands: &mut mpsc::Receiver<Command>,
    waiting: &mut VecDeque<Command>,
    resend: &mut Vec<InFlight>,
    next_xid: &mut i64,
) -> Ended {
    let timeout = shared
        .session
        .lock()
        .timeout
        .max(Duration::from_millis(300));
    let (read_half, write_half) = tokio::io::split(conn.stream);
    let mut writer = FramedWrite::new(write_half, codec::codec(config.max_frame));
    // A `Framed` (only ever read from) because it can start from buffered bytes.
    let mut parts = FramedParts::new::<bytes::Bytes>(read_half, codec::codec(config.max_frame));
    parts.read_buf = conn.buffered;
    let reader = Framed::from_parts(parts);
    let (inflight_tx, inflight_rx) = mpsc::unbounded_channel::<InFlight>();
    let (stop_reader, stop_rx) = oneshot::channel::<()>();
    let mut reader_task = tokio::spawn(read_loop(
        reader,
        inflight_rx,
        shared.clone(),
        timeout * 2 / 3,
        stop_rx,
    ));

    let mut ping = tokio::time::interval(timeout / 3);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_write = Instant::now();

    // The connection's identities come first (so every later request carries them),
    // then watches are re-registered, then the writes that were in flight on the last
    // connection go, in their order, before anything new.
    let mut result = match reauth(shared, &mut writer, &inflight_tx, next_xid)
        .await
        .and(rewatch(shared, &mut writer, &inflight_tx, next_xid).await)
    {
        Err(e) => Some(Ended::Lost(e)),
        Ok(()) => resend_writes(&mut writer, &inflight_tx, resend)
            .await
            .err()
            .map(Ended::Lost),
    };
    let mut reader_done = None;
    // Writes that got their place in the order after the reader stopped (see
    // `feed_request`): resent after the ones the reader still had.
    let mut orphans: Vec<InFlight> = Vec::new();
    while result.is_none() {
        // Room for a whole batch of writes in the window the ensemble remembers.
        let room = shared.writes.lock().in_flight() + BATCH <= MAX_PENDING_WRITES;
        if room && !waiting.is_empty() {
            // Requests queued while we were disconnected go next, in order.
            let n = waiting.len().min(BATCH);
            let batch: Vec<Command> = waiting.drain(..n).collect();
            if let Err(e) = write_batch(
                &mut writer,
                &inflight_tx,
                shared,
                batch,
                waiting,
                next_xid,
                &mut orphans,
            )
            .await
            {
                result = Some(Ended::Lost(e));
            }
            last_write = Instant::now();
            continue;
        }
        tokio::select! {
            cmd = commands.recv(), if room => match cmd {
                Some(cmd) => {
                    let mut batch = vec![cmd];
                    // Group whatever else is queued into the same write.
                    while batch.len() < BATCH {
                        match commands.try_recv() {
                            Ok(cmd) => batch.push(cmd),
                            Err(_) => break,
                        }
                    }
                    if let Err(e) = write_batch(&mut writer, &inflight_tx, shared, batch, waiting, next_xid, &mut orphans).await {
                        result = Some(Ended::Lost(e));
                    }
                    last_write = Instant::now();
                }
                None => result = Some(Ended::Closed),
            },
            () = shared.window.notified(), if !room => {}
            _ = ping.tick() => {
                if last_write.elapsed() >= timeout / 3 {
                    let mut req = pb::Request::new();
                    req.xid = PING_XID;
                    req.set_ping(pb::PingRequest::new());
                    let mut frame = pb::ClientFrame::new();
                    frame.set_request(req);
                    let _ = inflight_tx.send(InFlight {
                        xid: PING_XID,
                        resend: None,
                        sent: Instant::now(),
                        reply: None,
                        close: false,
                        hook: Hook::None,
                    });
                    if let Err(e) = writer.send(codec::encode(&frame)).await {
                        result = Some(Ended::Lost(e.to_string()));
                    }
                    last_write = Instant::now();
                }
            }
            done = &mut reader_task => reader_done = Some(done),
        }
        if reader_done.is_some() {
            break;
        }
    }
    // The reader keeps (for resending) or fails what is still in flight when it stops.
    drop(inflight_tx);
    let done = match reader_done {
        Some(done) => done,
        None => {
            let _ = stop_reader.send(());
            reader_task.await
        }
    };
    let _ = SinkExt::<bytes::Bytes>::close(&mut writer).await;
    let (reader_ended, unanswered) =
        done.unwrap_or_else(|e| (Ended::Lost(format!("reader task failed: {e}")), Vec::new()));
    resend.extend(unanswered);
    resend.extend(orphans);
    // Why the writer stopped, if it did; otherwise why the reader did.
    result.unwrap_or(reader_ended)
}

type Writer = FramedWrite<WriteHalf<Stream>, crate::codec::FrameCodec>;

/// Queues one request (with the next xid) for writing and announces it to the reader.
/// A write gets its place in the session's order here; if the reader has already
/// stopped, the write goes into `orphans` (to be resent) instead of being lost.
#[allow(clippy::too_many_arguments)]
async fn feed_request(
    writer: &mut Writer,
    inflight: &mpsc::UnboundedSender<InFlight>,
    shared: &Shared,
    next_xid: &mut i64,
    op: pb::Request_oneof_op,
    linearizable: bool,
    reply: Option<oneshot::Sender<Result<pb::Response>>>,
    hook: Hook,
    orphans: &mut Vec<InFlight>,
) -> std::result::Result<(), String> {
    let close = matches!(op, pb::Request_oneof_op::close_session(_));
    let write = crate::types::is_ordered_write(&op);
    let xid = *next_xid;
    *next_xid += 1;
    let mut req = pb::Request::new();
    req.xid = xid;
    req.linearizable = linearizable;
    if write {
        let names = shared.writes.lock().sent(xid);
        req.prev_write_xid = names.prev;
        req.oldest_pending_write_xid = names.oldest_pending;
    }
    req.op = Some(op);
    let mut frame = pb::ClientFrame::new();
    frame.set_request(req);
    let bytes = codec::encode(&frame);
    let announced = inflight.send(InFlight {
        xid,
        resend: write.then(|| bytes.clone()),
        sent: Instant::now(),
        reply,
        close,
        hook,
    });
    if let Err(mpsc::error::SendError(f)) = announced {
        // The reader has stopped: the connection is lost. A write already has its place
        // in the session's order (the next write names it), so it must not be dropped:
        // it goes out unchanged on the next connection, after the writes in flight here.
        if f.resend.is_some() {
            orphans.push(f);
        }
        return Err("the connection was lost".into());
    }
    writer.feed(bytes).await.map_err(|e| e.to_string())
}

/// Writes a batch of requests (assigning xids in order) and flushes once. On a write
/// error, the commands not yet handed to the reader go back to the front of `waiting`.
#[allow(clippy::too_many_arguments)]
async fn write_batch(
    writer: &mut Writer,
    inflight: &mpsc::UnboundedSender<InFlight>,
    shared: &Shared,
    batch: Vec<Command>,
    waiting: &mut VecDeque<Command>,
    next_xid: &mut i64,
    orphans: &mut Vec<InFlight>,
) -> std::result::Result<(), String> {
    let mut batch = batch.into_iter();
    while let Some(cmd) = batch.next() {
        let fed = feed_request(
            writer,
            inflight,
            shared,
            next_xid,
            cmd.op,
            cmd.linearizable,
            Some(cmd.reply),
            cmd.hook,
            orphans,
        )
        .await;
        if let Err(e) = fed {
            for cmd in batch.rev() {
                waiting.push_front(cmd);
            }
            return Err(e);
        }
    }
    SinkExt::<bytes::Bytes>::flush(writer)
        .await
        .map_err(|e: std::io::Error| e.to_string())
}

/// Sends again, unchanged and in order, the writes that were in flight when the last
/// connection ended. Those not handed to the reader stay in `resend`.
async fn resend_writes(
    writer: &mut Writer,
    inflight: &mpsc::UnboundedSender<InFlight>,
    resend: &mut Vec<InFlight>,
) -> std::result::Result<(), String> {
    if resend.is_empty() {
        return Ok(());
    }
    let mut queue = std::mem::take(resend).into_iter();
    while let Some(mut f) = queue.next() {
        let Some(bytes) = f.resend.clone() else {
            continue;
        };
        // A lease counts from when the request was (re)sent.
        f.sent = Instant::now();
        if let Err(back) = inflight.send(f) {
            resend.push(back.0);
            resend.extend(queue);
            return Err("reader gone".into());
        }
        if let Err(e) = writer.feed(bytes).await {
            resend.extend(queue);
            return Err(e.to_string());
        }
    }
    SinkExt::<bytes::Bytes>::flush(writer)
        .await
        .map_err(|e: std::io::Error| e.to_string())
}

/// Re-registers every live watch on a fresh connection, relative to the last zxid
/// seen, in chunks of at most [`SET_WATCHES_CHUNK_BYTES`] path bytes. The responses
/// are handled by the reader (see [`Hook::Rewatch`]).
/// Sends every `add_auth` of the session again, in call order (answers are not
/// waited for: the member applies them before any request that follows).
async fn reauth(
    shared: &Shared,
    writer: &mut Writer,
    inflight: &mpsc::UnboundedSender<InFlight>,
    next_xid: &mut i64,
) -> std::result::Result<(), String> {
    let auths = shared.auths.lock().clone();
    for (scheme, auth) in auths {
        let mut a = pb::AuthRequest::new();
        a.scheme = scheme;
        a.auth = auth;
        let op = pb::Request_oneof_op::auth(a);
        // Not a write: nothing to keep if the connection is lost meanwhile.
        let mut none = Vec::new();
        feed_request(
            writer,
            inflight,
            shared,
            next_xid,
            op,
            false,
            None,
            Hook::None,
            &mut none,
        )
        .await?;
    }
    SinkExt::<bytes::Bytes>::flush(writer)
        .await
        .map_err(|e: std::io::Error| e.to_string())
}

async fn rewatch(
    shared: &Shared,
    writer: &mut Writer,
    inflight: &mpsc::UnboundedSender<InFlight>,
    next_xid: &mut i64,
) -> std::result::Result<(), String> {
    let last_zxid = shared.last_zxid.load(Ordering::Acquire);
    let plan = shared.watches.lock().rewatch_plan(last_zxid);
    if plan.is_empty() {
        return Ok(());
    }
    for (relative_zxid, group) in plan {
        for chunk in chunk_watches(group, SET_WATCHES_CHUNK_BYTES) {
            let op = pb::Request_oneof_op::set_watches(set_watches_request(relative_zxid, &chunk));
            feed_request(
                writer,
                inflight,
                shared,
                next_xid,
                op,
                false,
                None,
                Hook::Rewatch(chunk),
                // Not a write: nothing to keep if the connection is lost meanwhile.
                &mut Vec::new(),
            )
            .await?;
        }
    }
    SinkExt::<bytes::Bytes>::flush(writer)
        .await
        .map_err(|e: std::io::Error| e.to_string())
}

/// Whether a write answered with `err` did not (or may not) get into the log through
/// this connection and must be resent on the next one, with the writes after it.
fn must_resend(err: pb::ErrorCode) -> bool {
    matches!(
        err,
        pb::ErrorCode::CONNECTION_LOSS
            | pb::ErrorCode::OPERATION_TIMEOUT
            | pb::ErrorCode::NOT_READY
            | pb::ErrorCode::PREVIOUS_WRITE_MISSING
    )
}

/// Reads frames, answers in-flight requests in order, and reports why it stopped, with
/// the writes still unanswered when the connection was lost (to resend, in order).
async fn read_loop(
    mut reader: Framed<ReadHalf<Stream>, crate::codec::FrameCodec>,
    mut inflight: mpsc::UnboundedReceiver<InFlight>,
    shared: Arc<Shared>,
    read_timeout: Duration,
    mut stop: oneshot::Receiver<()>,
) -> (Ended, Vec<InFlight>) {
    let mut pending: VecDeque<InFlight> = VecDeque::new();
    // The highest zxid a response on this connection carried.
    let mut answered = 0u64;
    let ended = loop {
        let next = tokio::select! {
            _ = &mut stop => break Ended::Lost("connection given up".into()),
            next = tokio::time::timeout(read_timeout, reader.next()) => next,
        };
        let frame = match next {
            Err(_) => {
                break Ended::Lost("no answer from the member within the read timeout".into())
            }
            Ok(None) => break Ended::Lost("connection closed by the member".into()),
            Ok(Some(Err(e))) => break Ended::Lost(e.to_string()),
            Ok(Some(Ok(buf))) => buf,
        };
        *shared.last_heard.lock() = Instant::now();
        let frame = match codec::decode_frame::<pb::ServerFrame>(&frame) {
            Ok(f) => f,
            Err(e) => break Ended::Lost(format!("undecodable frame: {e}")),
        };
        let resp = match frame.kind {
            Some(pb::ServerFrame_oneof_kind::response(r)) => r,
            Some(pb::ServerFrame_oneof_kind::event(ev)) => {
                // Routed now, before any later frame is looked at.
                shared.last_zxid.fetch_max(ev.zxid, Ordering::AcqRel);
                if let Some(kind) = EventKind::from_proto(ev.field_type) {
                    let event = WatchedEvent {
                        kind,
                        path: ev.path,
                        zxid: ev.zxid,
                    };
                    shared.watches.lock().route(&event, ev.change_index);
                }
                continue;
            }
            _ => break Ended::Lost("unexpected frame from the member".into()),
        };
        while let Ok(f) = inflight.try_recv() {
            pending.push_back(f);
        }
        let Some(mut front) = pending.pop_front() else {
            break Ended::Lost(format!("response xid {} without a request", resp.xid));
        };
        if front.xid != resp.xid {
            let expected = front.xid;
            pending.push_front(front);
            break Ended::Lost(format!("expected xid {expected}, got {}", resp.xid));
        }
        if front.resend.is_some() && must_resend(resp.err) {
            let reason = format!(
                "write {} not applied through this member ({:?}: {}); resending",
                resp.xid, resp.err, resp.message
            );
            pending.push_front(front);
            break Ended::Lost(reason);
        }
        shared.last_zxid.fetch_max(resp.zxid, Ordering::AcqRel);
        answered = answered.max(resp.zxid);
        if resp.lease_ms > 0 {
            // The member counted the lease from when it served the request, which was
            // after the request was sent: counting from `sent` never overstates it.
            let until = front.sent + Duration::from_millis(u64::from(resp.lease_ms));
            let mut lease = shared.lease_until.lock();
            *lease = Some(lease.map_or(until, |l| l.max(until)));
        }
        if front.resend.is_some() {
            shared.writes.lock().answered(front.xid);
            shared.window.notify_one();
        }
        if resp.err == pb::ErrorCode::SESSION_EXPIRED {
            if let Some(reply) = front.reply {
                let _ = reply.send(Err(Error::SessionExpired));
            }
            break Ended::Expired;
        }
        if let Err(reason) = apply_hook(&shared, std::mem::take(&mut front.hook), &resp) {
            break Ended::Lost(reason);
        }
        let close_ok = front.close && resp.err == pb::ErrorCode::OK;
        if let Some(reply) = front.reply {
            let _ = reply.send(Ok(resp));
        }
        if close_ok {
            break Ended::Closed;
        }
    };
    inflight.close();
    while let Ok(f) = inflight.try_recv() {
        pending.push_back(f);
    }
    shared.watches.lock().connection_ended(answered);
    let reason = match &ended {
        Ended::Lost(r) => r.clone(),
        Ended::Expired => "session expired".into(),
        Ended::Closed => "session closed".into(),
    };
    let mut unanswered = Vec::new();
    for f in pending {
        if f.resend.is_some() && matches!(ended, Ended::Lost(_)) {
            // Its outcome is unknown: the next connection sends it again.
            unanswered.push(f);
            continue;
        }
        if f.resend.is_some() {
            // After an expiry or a close in this connection's order it cannot apply.
            shared.writes.lock().answered(f.xid);
        }
        if let Some(reply) = f.reply {
            let err = match ended {
                Ended::Expired => Error::SessionExpired,
                Ended::Closed => Error::Closed,
                Ended::Lost(_) => Error::ConnectionLoss(reason.clone()),
            };
            let _ = reply.send(Err(err));
        }
    }
    (ended, unanswered)
}

/// Applies a request's watch-table effect once its response arrives (in frame order).
/// An `Err` asks for the connection to be dropped and re-established elsewhere.
fn apply_hook(shared: &Shared, hook: Hook, resp: &pb::Response) -> std::result::Result<(), String> {
    let ok = resp.err == pb::ErrorCode::OK;
    match hook {
        Hook::None => {}
        Hook::Watch(reg) => {
            if ok {
                let exists = matches!(
                    &resp.result,
                    Some(pb::Response_oneof_result::exists(e)) if e.has_stat()
                );
                shared.watches.lock().register(reg, exists, resp.zxid);
            }
        }
        Hook::Remove { path, kind } => {
            // NO_WATCHER: the member has none, so local ones could never fire either.
            if ok || resp.err == pb::ErrorCode::NO_WATCHER {
                shared.watches.lock().remove(&path, kind, resp.zxid);
            }
        }
        Hook::Rewatch(chunk) => {
            if let Some(err) = Error::from_server(resp.err, resp.message.clone()) {
                if err.is_retryable() {
                    // This member cannot take them now: try another one.
                    return Err(format!("re-registering watches: {err}"));
                }
                // Not (all) registered and never will be: tell their owners.
                shared.watches.lock().drop_watches(&chunk, &err);
            } else {
                shared.watches.lock().confirm(&chunk);
            }
        }
    }
    Ok(())
}
