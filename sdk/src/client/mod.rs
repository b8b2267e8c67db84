//! The async client: one session with the ensemble, shared by every clone of
//! [`Client`].
//!
//! Guarantees:
//! - **Session FIFO.** Requests of one client are applied and answered in the order
//!   they were issued, even when many are in flight at once (pipelining); a read
//!   issued after a write sees that write.
//! - **No going back in time.** After a reconnect the client only resumes on a member
//!   that has applied at least the highest zxid it has already seen (in a response or
//!   a watch event). A member that is behind, or that cannot serve now, is skipped
//!   like an unreachable one.
//! - **Exactly once, in order.** A write is applied at most once and only right after
//!   the write the client sent before it, so the writes a session got applied are
//!   always a prefix of those it sent. When the connection is lost (or the member
//!   cannot pass a write on, or lost it), the client resends every write still
//!   waiting for its result, with the same xids and in the same order, on its next
//!   connection; the ensemble answers a write it already applied with the result it
//!   gave the first time. A write therefore fails with [`Error::ConnectionLoss`] only
//!   when the session itself is lost before its result arrived (then it may or may
//!   not have applied); at most [`MAX_PENDING_WRITES`] writes are in flight at once.
//! - **Transparent reconnect.** When the connection fails, the client reconnects to
//!   the members in turn (the next one first) and resumes the same session. Requests
//!   issued meanwhile wait (for at most the session timeout) and are sent after the
//!   reconnect; reads that were in flight fail with [`Error::ConnectionLoss`] (retry
//!   them), writes that were in flight are resent.
//! - **Expiry.** The session ends for good ([`State::Expired`], every call and pending
//!   watch fails with [`Error::SessionExpired`]) when the ensemble says it expired, or
//!   when the client has heard nothing from any member for the negotiated session
//!   timeout (the ensemble will have expired it too, so the client stops pretending
//!   to hold its ephemeral nodes). Create a new [`Client`] to go on.
//! - **Watch ordering.** Watch events are delivered in the order the member sent them
//!   (zxid order), and an event reaches its watchers before the caller of any later
//!   request gets the response that reflects the change. A one-shot watch is set when
//!   the response of the read that set it arrives, so no event after that read is missed.
//! - **Persistent watch streams.** A [`WatchStream`] yields `Ok(event)` items and ends
//!   with one `Err` item that says why: removed, resync needed, session ended, or not
//!   re-registered. Dropping a stream removes its watch from the member.
//! - **Watch re-registration.** After every reconnect, before any other request, the
//!   client re-registers every watch somebody still waits on, with its last seen zxid:
//!   the member fires at once the one-shot watches whose node changed in between, so a
//!   change during the disconnection is not lost. Re-registration is sent in chunks of
//!   at most [`SET_WATCHES_CHUNK_BYTES`] path bytes. A watch the member refuses to
//!   re-register (for example over its watch quota) ends with that error.
//! - **Connection states.** [`Client::states`] is a stream of every state transition
//!   ([`State`]); [`Client::state_changes`] is a `watch` of the latest one.
//!
//! ```no_run
//! # async fn demo() -> paddock::Result<()> {
//! use paddock::{Client, CreateMode};
//! let client = Client::connect("127.0.0.1:7181").await?;
//! client.create("/config", b"v1", CreateMode::Persistent).await?;
//! let (data, stat) = client.get("/config").await?;
//! assert_eq!(data, b"v1");
//! client.set("/config", b"v2", Some(stat.version)).await?;
//! client.close().await?;
//! # Ok(()) }
//! ```
//!
//! Watches: a one-shot watch is a future, a persistent watch is a stream.
//!
//! ```no_run
//! # async fn demo() -> paddock::Result<()> {
//! use futures::StreamExt;
//! use paddock::{Client, EventKind, WatcherKind};
//! let client = Client::connect("127.0.0.1:7181,127.0.0.1:7281").await?;
//!
//! // One-shot: read the config and wait for its next change.
//! let (data, _stat, changed) = client.get_watch("/config").await?;
//! println!("config: {data:?}");
//! let event = changed.await?; // resolves exactly once
//! assert!(matches!(event.kind, EventKind::NodeDataChanged | EventKind::NodeDeleted));
//!
//! // Wait for a node to appear.
//! let (stat, created) = client.exists_watch("/ready").await?;
//! if stat.is_none() {
//!     created.await?;
//! }
//!
//! // Persistent and recursive: every create, delete and data change below /services.
//! let mut events = client.add_watch("/services", true).await?;
//! while let Some(item) = events.next().await {
//!     let event = item?; // the last item is an error saying why the watch ended
//!     println!("{:?} {} at zxid {}", event.kind, event.path, event.zxid);
//!     if event.path == "/services/stop" {
//!         break;
//!     }
//! }
//! client.remove_watches("/services", WatcherKind::PersistentRecursive).await?;
//! # Ok(()) }
//! ```
mod acl_calls;
mod admin_calls;
mod config;
mod options;
mod session;
mod state;
#[cfg(test)]
mod tests;
mod watch_calls;
mod watches;
mod write_chain;
mod znodes;

pub use admin_calls::{Member, NewMember, SnapshotInfo};
pub use config::ClientConfig;
pub use options::RetryPolicy;
pub use state::{State, StateStream, STATE_BUFFER};
pub use watches::{
    EventKind, WatchFuture, WatchStream, WatchedEvent, WatcherKind, SET_WATCHES_CHUNK_BYTES,
};

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};

use crate::error::{Code, Error, Result};
use crate::proto::paddock as pb;
use crate::types::{SessionId, Zxid};
use options::Namespace;
use session::{Command, Shared};
use watches::Hook;

/// How many requests may wait to be written before callers are slowed down.
const COMMAND_QUEUE: usize = 4096;

/// Most writes of one session in flight (sent, result not yet received) at once; further
/// writes wait until one is answered. The ensemble remembers the results of at least
/// this many recent writes per session, so that every write the client may resend after
/// a reconnect gets its original result.
pub const MAX_PENDING_WRITES: usize = 512;

/// A session with a Paddock ensemble. Cheap to clone; all clones share the session.
/// The session ends when [`Client::close`] is called, or expires on the ensemble
/// after its timeout once every clone is dropped.
///
/// A handle also carries call options, which [`Client::with_namespace`],
/// [`Client::with_timeout`] and [`Client::with_retry`] change for a new handle on the
/// same session.
#[derive(Clone)]
pub struct Client {
    commands: mpsc::Sender<Command>,
    shared: Arc<Shared>,
    state: watch::Receiver<State>,
    /// Prefix of every path this handle uses.
    ns: Namespace,
    /// How long one call may wait for its answer.
    timeout: Option<Duration>,
    /// How reads that failed for a passing reason are retried.
    retry: RetryPolicy,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("session_id", &format_args!("{:#x}", self.session_id()))
            .field("state", &*self.state.borrow())
            .finish()
    }
}

impl Client {
    /// Connects to one of the members in a comma-separated list (`host:port,...`)
    /// with default settings and creates a new session.
    pub async fn connect(servers: &str) -> Result<Client> {
        Self::connect_with(ClientConfig::from_list(servers)).await
    }

    /// Connects with explicit settings and creates a new session. Fails if no member
    /// accepts within one round over the member list.
    pub async fn connect_with(config: ClientConfig) -> Result<Client> {
        if config.servers.is_empty() {
            return Err(Error::BadArguments("no servers given".into()));
        }
        let ns = match &config.namespace {
            Some(p) => Namespace::new(p)?,
            None => Namespace::default(),
        };
        let shared = Arc::new(Shared::new(&config));
        let state_rx = shared.state.watch();
        let (timeout, retry) = (config.request_timeout, config.retry);
        let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
        let (ready_tx, ready_rx) = oneshot::channel();
        tokio::spawn(session::run(config, shared.clone(), rx, Some(ready_tx)));
        match ready_rx.await {
            Ok(Ok(())) => Ok(Client {
                commands: tx,
                shared,
                state: state_rx,
                ns,
                timeout,
                retry,
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::ConnectionLoss("session task stopped".into())),
        }
    }

    /// A handle on the same session whose paths all live under `namespace` (appended
    /// to this handle's own): `/a` means `<namespace>/a`, and paths coming back
    /// (created nodes, watch events, ephemerals) are given relative to it. The
    /// namespace node itself is not created.
    ///
    /// ```no_run
    /// # async fn demo(client: paddock::Client) -> paddock::Result<()> {
    /// let app = client.with_namespace("/apps/billing")?;
    /// app.create_all("/config", b"{}", paddock::CreateMode::Persistent).await?; // /apps/billing/config
    /// # Ok(()) }
    /// ```
    pub fn with_namespace(&self, namespace: &str) -> Result<Client> {
        let inner = Namespace::new(namespace)?;
        Ok(Client {
            ns: self.ns.nested(&inner),
            ..self.clone()
        })
    }

    /// This handle's namespace (`None`: the whole tree).
    pub fn namespace(&self) -> Option<&str> {
        self.ns.prefix()
    }

    /// A handle on the same session whose calls give up after `timeout` with
    /// `OperationTimeout` (`None`: wait as long as the session lives). A write that
    /// timed out may still apply: the session keeps resending it until it is answered.
    pub fn with_timeout(&self, timeout: Option<Duration>) -> Client {
        Client {
            timeout,
            ..self.clone()
        }
    }

    /// A handle on the same session whose reads are retried by `policy` (see
    /// [`RetryPolicy`]).
    pub fn with_retry(&self, policy: RetryPolicy) -> Client {
        Client {
            retry: policy,
            ..self.clone()
        }
    }

    /// The session id assigned by the ensemble.
    pub fn session_id(&self) -> SessionId {
        self.shared.session.lock().id
    }

    /// The session timeout negotiated with the ensemble.
    pub fn session_timeout(&self) -> Duration {
        self.shared.session.lock().timeout
    }

    /// The id of the member this client is (or was last) connected to, as it
    /// announced itself in the session handshake.
    pub fn server_id(&self) -> u64 {
        self.shared.session.lock().server_id
    }

    /// The admin HTTP address (`host:port`, serving `/status`, `/metrics`, `/health`)
    /// of the member this client is (or was last) connected to, as announced in the
    /// handshake. Empty if the member did not announce one.
    pub fn admin_addr(&self) -> String {
        self.shared.session.lock().admin_addr.clone()
    }

    /// The highest zxid this client has seen in any response or watch event. It is
    /// what the client sends when it reconnects (a member behind it refuses) and the
    /// point from which re-registered watches catch up.
    pub fn last_zxid(&self) -> Zxid {
        self.shared.last_zxid.load(Ordering::Acquire)
    }

    /// How much longer the session is known to stay valid, counted down: whatever
    /// happens to the connection, the members or the leader, the ensemble does not
    /// expire the session (nor delete its ephemerals) before this runs out. Each
    /// response from a member that can vouch for the session extends it (to when the
    /// request was sent plus what the member vouched for, about the session timeout);
    /// nothing else does, so while the client is disconnected, or connected to a member
    /// cut off from the leader, it only runs down. `Some(Duration::ZERO)` means the
    /// session may be gone: a lock holder must stop acting on its lock. `None` until a
    /// member has vouched for the session (shortly after connecting).
    pub fn lease(&self) -> Option<Duration> {
        let until = (*self.shared.lease_until.lock())?;
        Some(until.saturating_duration_since(Instant::now()))
    }

    /// The current connection state.
    pub fn state(&self) -> State {
        *self.state.borrow()
    }

    /// A `watch` receiver of the connection state: always holds the latest state;
    /// intermediate states may be skipped. See [`Client::states`] for a stream of every
    /// transition.
    pub fn state_changes(&self) -> watch::Receiver<State> {
        self.state.clone()
    }

    /// The connection states as a stream: first the current state, then every later
    /// transition in order (a consumer more than [`STATE_BUFFER`] transitions behind
    /// skips ahead to the latest one); it ends after [`State::Expired`] or
    /// [`State::Closed`], which is always delivered. No transition made after this call
    /// returns is lost, even if the stream is first polled much later.
    ///
    /// ```no_run
    /// # async fn demo(client: paddock::Client) {
    /// use futures::StreamExt;
    /// let mut states = client.states();
    /// while let Some(state) = states.next().await {
    ///     println!("session is now {state:?}");
    /// }
    /// # }
    /// ```
    pub fn states(&self) -> StateStream {
        self.shared.state.stream()
    }

    /// Closes the session: the ensemble forgets it at once (its ephemeral nodes go
    /// with it). Other clones of this client fail with [`Error::Closed`] afterwards.
    pub async fn close(&self) -> Result<()> {
        match self
            .call(
                pb::Request_oneof_op::close_session(pb::CloseSessionRequest::new()),
                false,
            )
            .await
        {
            Ok(_) | Err(Error::Closed) | Err(Error::SessionExpired) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Sends one request and waits for its response; server errors become `Err`.
    async fn call(&self, op: pb::Request_oneof_op, linearizable: bool) -> Result<pb::Response> {
        self.call_with(op, linearizable, Hook::None).await
    }

    /// The error for a call made after the session task ended.
    fn ended_error(&self) -> Option<Error> {
        match self.state() {
            State::Expired => Some(Error::SessionExpired),
            State::Closed => Some(Error::Closed),
            _ => None,
        }
    }

    /// Like [`Client::call`], with a watch-table effect applied when the response arrives.
    async fn call_with(
        &self,
        op: pb::Request_oneof_op,
        linearizable: bool,
        hook: Hook,
    ) -> Result<pb::Response> {
        let resp = self.call_raw(op, linearizable, hook).await?;
        if let Some(err) = Error::from_server(resp.err, resp.message.clone()) {
            return Err(err);
        }
        Ok(resp)
    }

    /// Sends one request and waits for its response, whatever its code, for at most
    /// the handle's timeout.
    async fn call_raw(
        &self,
        op: pb::Request_oneof_op,
        linearizable: bool,
        hook: Hook,
    ) -> Result<pb::Response> {
        if let Some(err) = self.ended_error() {
            return Err(err);
        }
        let exchange = async {
            let (tx, rx) = oneshot::channel();
            let cmd = Command {
                op,
                linearizable,
                reply: tx,
                submitted: Instant::now(),
                hook,
            };
            if self.commands.send(cmd).await.is_err() {
                return Err(self.ended_error().unwrap_or(Error::Closed));
            }
            match rx.await {
                Ok(r) => r,
                Err(_) => Err(self.ended_error().unwrap_or_else(|| {
                    Error::ConnectionLoss("connection dropped the request".into())
                })),
            }
        };
        match self.timeout {
            None => exchange.await,
            Some(t) => tokio::time::timeout(t, exchange).await.unwrap_or_else(|_| {
                Err(Error::Server {
                    code: Code::OperationTimeout,
                    message: format!("no answer within {t:?}"),
                })
            }),
        }
    }

    /// Runs a read, retrying it by the handle's [`RetryPolicy`] while it fails for a
    /// reason that passes.
    async fn read<T, F, Fut>(&self, mut attempt: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut n = 1;
        loop {
            match attempt().await {
                Err(e) if e.is_retryable() => {
                    n += 1;
                    match self.retry.delay(n) {
                        Some(wait) => tokio::time::sleep(wait).await,
                        None => return Err(e),
                    }
                }
                done => return done,
            }
        }
    }

    /// Checks a caller's path and returns the ensemble's path for it.
    fn path_in(&self, path: &str, sequential: bool) -> Result<String> {
        check_path(path, sequential)?;
        Ok(self.ns.full(path))
    }

    /// The caller's path for one of the ensemble's.
    fn path_out(&self, path: &str) -> String {
        self.ns.local(path)
    }
}

fn check_path(path: &str, sequential: bool) -> Result<()> {
    let checked = if sequential {
        crate::path::validate_sequential(path)
    } else {
        crate::path::validate(path)
    };
    checked.map_err(Error::BadArguments)
}

fn unexpected(what: &str) -> Error {
    Error::Server {
        code: Code::MarshallingError,
        message: format!("unexpected response to {what}"),
    }
}
