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
//! while let Some(event) = events.next().await {
//!     println!("{:?} {} at zxid {}", event.kind, event.path, event.zxid);
//!     if event.path == "/services/stop" {
//!         break;
//!     }
//! }
//! client.remove_watches("/services", WatcherKind::PersistentRecursive).await?;
//! # Ok(()) }
//! ```
mod config;
mod session;
mod state;
#[cfg(test)]
mod tests;
mod watches;
mod write_chain;

pub use config::ClientConfig;
pub use state::{State, StateStream, STATE_BUFFER};
pub use watches::{
    EventKind, WatchFuture, WatchStream, WatchedEvent, WatcherKind, SET_WATCHES_CHUNK_BYTES,
};

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};

use crate::error::{Code, Error, Result};
use crate::proto::paddock as pb;
use crate::types::{op_to_proto, CreateMode, Op, OpResult, Stat};
use session::{Command, Shared};
use watches::{Hook, OneShotClass, Registration};

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
#[derive(Clone)]
pub struct Client {
    commands: mpsc::Sender<Command>,
    shared: Arc<Shared>,
    state: watch::Receiver<State>,
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
        let shared = Arc::new(Shared::new(&config));
        let state_rx = shared.state.watch();
        let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
        let (ready_tx, ready_rx) = oneshot::channel();
        tokio::spawn(session::run(config, shared.clone(), rx, Some(ready_tx)));
        match ready_rx.await {
            Ok(Ok(())) => Ok(Client {
                commands: tx,
                shared,
                state: state_rx,
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::ConnectionLoss("session task stopped".into())),
        }
    }

    /// The session id assigned by the ensemble.
    pub fn session_id(&self) -> u64 {
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
    pub fn last_zxid(&self) -> u64 {
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

    /// Creates a node and returns its path (with the sequence suffix for sequential
    /// modes). Fails with `NodeExists`, `NoNode` (parent missing),
    /// `NoChildrenForEphemerals`, or `BadArguments` for invalid paths.
    pub async fn create(&self, path: &str, data: &[u8], mode: CreateMode) -> Result<String> {
        Ok(self.create_with_stat(path, data, mode, 0).await?.0)
    }

    /// Creates a node and returns its path and stat; `ttl_ms` is required (> 0) for the
    /// TTL modes and must be 0 otherwise.
    pub async fn create_with_stat(
        &self,
        path: &str,
        data: &[u8],
        mode: CreateMode,
        ttl_ms: i64,
    ) -> Result<(String, Stat)> {
        check_path(path, mode.is_sequential())?;
        let mut c = pb::CreateRequest::new();
        c.path = path.to_string();
        c.data = data.to_vec();
        c.mode = mode.into();
        c.ttl_ms = ttl_ms;
        let resp = self.call(pb::Request_oneof_op::create(c), false).await?;
        match resp.result {
            Some(pb::Response_oneof_result::create(c)) => {
                Ok((c.path.clone(), Stat::from(c.stat.get_ref())))
            }
            _ => Err(unexpected("create")),
        }
    }

    /// Returns a node's data and stat from the connected member's tree.
    pub async fn get(&self, path: &str) -> Result<(Vec<u8>, Stat)> {
        self.get_inner(path, false).await
    }

    /// Like [`Client::get`], but linearizable: the member first confirms with the
    /// leader (Raft ReadIndex) that it has applied everything committed before the call.
    pub async fn get_linearizable(&self, path: &str) -> Result<(Vec<u8>, Stat)> {
        self.get_inner(path, true).await
    }

    async fn get_inner(&self, path: &str, linearizable: bool) -> Result<(Vec<u8>, Stat)> {
        check_path(path, false)?;
        let mut g = pb::GetDataRequest::new();
        g.path = path.to_string();
        let resp = self
            .call(pb::Request_oneof_op::get_data(g), linearizable)
            .await?;
        match resp.result {
            Some(pb::Response_oneof_result::get_data(mut g)) => {
                let stat = Stat::from(g.stat.get_ref());
                Ok((std::mem::take(&mut g.data), stat))
            }
            _ => Err(unexpected("get")),
        }
    }

    /// Replaces a node's data. With `Some(version)` the write only happens if the
    /// node's version still matches (`BadVersion` otherwise). Returns the new stat.
    pub async fn set(&self, path: &str, data: &[u8], version: Option<i32>) -> Result<Stat> {
        check_path(path, false)?;
        let mut s = pb::SetDataRequest::new();
        s.path = path.to_string();
        s.data = data.to_vec();
        s.version = version.unwrap_or(-1);
        let resp = self.call(pb::Request_oneof_op::set_data(s), false).await?;
        match resp.result {
            Some(pb::Response_oneof_result::set_data(s)) => Ok(Stat::from(s.stat.get_ref())),
            _ => Err(unexpected("set")),
        }
    }

    /// Deletes a node (it must have no children). With `Some(version)` only if the
    /// version matches.
    pub async fn delete(&self, path: &str, version: Option<i32>) -> Result<()> {
        check_path(path, false)?;
        let mut d = pb::DeleteRequest::new();
        d.path = path.to_string();
        d.version = version.unwrap_or(-1);
        self.call(pb::Request_oneof_op::delete(d), false).await?;
        Ok(())
    }

    /// Returns the node's stat, or `None` if it does not exist.
    pub async fn exists(&self, path: &str) -> Result<Option<Stat>> {
        check_path(path, false)?;
        let mut e = pb::ExistsRequest::new();
        e.path = path.to_string();
        let resp = self.call(pb::Request_oneof_op::exists(e), false).await?;
        match resp.result {
            Some(pb::Response_oneof_result::exists(e)) => Ok(e.stat.as_ref().map(Stat::from)),
            _ => Err(unexpected("exists")),
        }
    }

    /// Returns the names of a node's children, sorted.
    pub async fn children(&self, path: &str) -> Result<Vec<String>> {
        Ok(self.children_with_stat(path).await?.0)
    }

    /// Returns the names of a node's children (sorted) and the node's stat.
    pub async fn children_with_stat(&self, path: &str) -> Result<(Vec<String>, Stat)> {
        check_path(path, false)?;
        let mut g = pb::GetChildrenRequest::new();
        g.path = path.to_string();
        let resp = self
            .call(pb::Request_oneof_op::get_children(g), false)
            .await?;
        match resp.result {
            Some(pb::Response_oneof_result::get_children(mut g)) => {
                let stat = Stat::from(g.stat.get_ref());
                Ok((std::mem::take(&mut g.children).into_vec(), stat))
            }
            _ => Err(unexpected("children")),
        }
    }

    /// Applies all operations atomically: either every one succeeds, or none is
    /// applied and the error of the first failing operation is returned (its message
    /// names the operation's index and path).
    pub async fn multi(&self, ops: &[Op]) -> Result<Vec<OpResult>> {
        for op in ops {
            let seq = matches!(op, Op::Create { mode, .. } if mode.is_sequential());
            check_path(op.path(), seq)?;
        }
        let mut m = pb::MultiRequest::new();
        m.ops = ops.iter().map(op_to_proto).collect();
        let resp = self.call(pb::Request_oneof_op::multi(m), false).await?;
        let results = match resp.result {
            Some(pb::Response_oneof_result::multi(m)) => m.results.into_vec(),
            _ => return Err(unexpected("multi")),
        };
        let mut out = Vec::with_capacity(results.len());
        for r in results {
            use pb::MultiResult_oneof_result as R;
            out.push(match r.result {
                Some(R::create(c)) => OpResult::Create {
                    path: c.path.clone(),
                    stat: Stat::from(c.stat.get_ref()),
                },
                Some(R::delete(_)) => OpResult::Delete,
                Some(R::set_data(s)) => OpResult::SetData {
                    stat: Stat::from(s.stat.get_ref()),
                },
                Some(R::check(_)) => OpResult::Check,
                None => return Err(unexpected("multi result")),
            });
        }
        Ok(out)
    }

    /// Waits until the connected member has applied everything the leader had
    /// committed when the call was made (ZooKeeper's `sync`).
    pub async fn sync(&self, path: &str) -> Result<()> {
        check_path(path, false)?;
        let mut s = pb::SyncRequest::new();
        s.path = path.to_string();
        self.call(pb::Request_oneof_op::sync(s), false).await?;
        Ok(())
    }

    /// Like [`Client::get`], and sets a one-shot data watch on the node. The watch fires
    /// once, on the next change of the node's data ([`EventKind::NodeDataChanged`]) or
    /// its deletion ([`EventKind::NodeDeleted`]), with ZooKeeper's semantics: every
    /// `get_watch`/`exists_watch` on the same path shares one watch on the member, and
    /// the event resolves all of their futures. No watch is set if the call fails (for
    /// example `NoNode`). See [`WatchFuture`] for how it can end otherwise.
    pub async fn get_watch(&self, path: &str) -> Result<(Vec<u8>, Stat, WatchFuture)> {
        check_path(path, false)?;
        let mut g = pb::GetDataRequest::new();
        g.path = path.to_string();
        g.watch = true;
        let (hook, fut) = one_shot(path, OneShotClass::Data);
        let resp = self
            .call_with(pb::Request_oneof_op::get_data(g), false, hook)
            .await?;
        match resp.result {
            Some(pb::Response_oneof_result::get_data(mut g)) => {
                let stat = Stat::from(g.stat.get_ref());
                Ok((std::mem::take(&mut g.data), stat, fut))
            }
            _ => Err(unexpected("get_watch")),
        }
    }

    /// Like [`Client::exists`], and sets a one-shot watch: on an existing node a data
    /// watch (fires on [`EventKind::NodeDataChanged`] or [`EventKind::NodeDeleted`]), on
    /// a missing node an exist watch (fires on [`EventKind::NodeCreated`]).
    pub async fn exists_watch(&self, path: &str) -> Result<(Option<Stat>, WatchFuture)> {
        check_path(path, false)?;
        let mut e = pb::ExistsRequest::new();
        e.path = path.to_string();
        e.watch = true;
        let (hook, fut) = one_shot(path, OneShotClass::Exists);
        let resp = self
            .call_with(pb::Request_oneof_op::exists(e), false, hook)
            .await?;
        match resp.result {
            Some(pb::Response_oneof_result::exists(e)) => {
                Ok((e.stat.as_ref().map(Stat::from), fut))
            }
            _ => Err(unexpected("exists_watch")),
        }
    }

    /// Like [`Client::children_with_stat`], and sets a one-shot child watch: it fires
    /// once, when a child is added or removed ([`EventKind::NodeChildrenChanged`]) or
    /// the node is deleted ([`EventKind::NodeDeleted`]). Data changes of the node or its
    /// children do not fire it.
    pub async fn children_watch(&self, path: &str) -> Result<(Vec<String>, Stat, WatchFuture)> {
        check_path(path, false)?;
        let mut g = pb::GetChildrenRequest::new();
        g.path = path.to_string();
        g.watch = true;
        let (hook, fut) = one_shot(path, OneShotClass::Child);
        let resp = self
            .call_with(pb::Request_oneof_op::get_children(g), false, hook)
            .await?;
        match resp.result {
            Some(pb::Response_oneof_result::get_children(mut g)) => {
                let stat = Stat::from(g.stat.get_ref());
                Ok((std::mem::take(&mut g.children).into_vec(), stat, fut))
            }
            _ => Err(unexpected("children_watch")),
        }
    }

    /// Sets a persistent watch on `path` (which need not exist) and returns its events
    /// as a stream, in zxid order, until [`Client::remove_watches`] or the end of the
    /// session (see [`WatchStream`]). The watch survives reconnects.
    ///
    /// - `recursive == false`: every change of the node itself — created, deleted,
    ///   data changed, children changed.
    /// - `recursive == true`: created, deleted and data-changed events of the node and
    ///   of every node below it (never children-changed events).
    ///
    /// Fails with `QuotaExceeded` if the member's per-session watch limit is reached.
    pub async fn add_watch(&self, path: &str, recursive: bool) -> Result<WatchStream> {
        check_path(path, false)?;
        let mut a = pb::AddWatchRequest::new();
        a.path = path.to_string();
        a.mode = if recursive {
            pb::AddWatchMode::PERSISTENT_RECURSIVE
        } else {
            pb::AddWatchMode::PERSISTENT
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let hook = Hook::Watch(Registration::Persistent {
            path: path.to_string(),
            recursive,
            tx,
        });
        self.call_with(pb::Request_oneof_op::add_watch(a), false, hook)
            .await?;
        Ok(WatchStream::new(rx))
    }

    /// Removes this session's watches of `kind` on `path`, on the member and locally.
    /// Pending [`WatchFuture`]s of the removed kinds resolve to
    /// [`EventKind::DataWatchRemoved`] or [`EventKind::ChildWatchRemoved`]; removed
    /// [`WatchStream`]s end. Events that fired before the removal are still delivered.
    /// Fails with `NoWatcher` if the member has no such watch.
    pub async fn remove_watches(&self, path: &str, kind: WatcherKind) -> Result<()> {
        check_path(path, false)?;
        let mut r = pb::RemoveWatchesRequest::new();
        r.path = path.to_string();
        r.watcher_type = kind.to_proto();
        let hook = Hook::Remove {
            path: path.to_string(),
            kind,
        };
        self.call_with(pb::Request_oneof_op::remove_watches(r), false, hook)
            .await?;
        Ok(())
    }

    /// The paths of this session's ephemeral nodes that start with `prefix` (`"/"` for
    /// all), sorted. `prefix` is a plain string prefix, so `"/app/lock-"` matches
    /// `/app/lock-0000000001`.
    pub async fn get_ephemerals(&self, prefix: &str) -> Result<Vec<String>> {
        if !prefix.starts_with('/') {
            return Err(Error::BadArguments(format!(
                "prefix must start with / character: {prefix:?}"
            )));
        }
        let mut g = pb::GetEphemeralsRequest::new();
        g.prefix = prefix.to_string();
        let resp = self
            .call(pb::Request_oneof_op::get_ephemerals(g), false)
            .await?;
        match resp.result {
            Some(pb::Response_oneof_result::get_ephemerals(mut g)) => {
                let mut paths = std::mem::take(&mut g.paths).into_vec();
                paths.sort();
                Ok(paths)
            }
            _ => Err(unexpected("get_ephemerals")),
        }
    }

    /// The number of nodes below `path` (all descendants, not counting `path` itself),
    /// as ZooKeeper's `getAllChildrenNumber`.
    pub async fn all_children_number(&self, path: &str) -> Result<i64> {
        check_path(path, false)?;
        let mut g = pb::GetAllChildrenNumberRequest::new();
        g.path = path.to_string();
        let resp = self
            .call(pb::Request_oneof_op::get_all_children_number(g), false)
            .await?;
        match resp.result {
            Some(pb::Response_oneof_result::get_all_children_number(g)) => Ok(g.number),
            _ => Err(unexpected("all_children_number")),
        }
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
        if let Some(err) = self.ended_error() {
            return Err(err);
        }
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
        let resp = match rx.await {
            Ok(r) => r?,
            Err(_) => {
                return Err(self.ended_error().unwrap_or_else(|| {
                    Error::ConnectionLoss("connection dropped the request".into())
                }))
            }
        };
        if let Some(err) = Error::from_server(resp.err, resp.message.clone()) {
            return Err(err);
        }
        Ok(resp)
    }
}

/// A hook that registers a one-shot watch, and the future it resolves.
fn one_shot(path: &str, class: OneShotClass) -> (Hook, WatchFuture) {
    let (tx, rx) = oneshot::channel();
    let hook = Hook::Watch(Registration::OneShot {
        path: path.to_string(),
        class,
        tx,
    });
    (hook, WatchFuture::new(rx))
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
