//! The async client: one session with the ensemble, shared by every clone of
//! [`Client`].
//!
//! Guarantees:
//! - **Session FIFO.** Requests of one client are applied and answered in the order
//!   they were issued, even when many are in flight at once (pipelining); a read
//!   issued after a write sees that write.
//! - **No going back in time.** After a reconnect the client only resumes on a member
//!   that has applied at least the highest zxid it has already seen.
//! - **At most once.** A write is applied at most once. When the connection is lost
//!   while a write is in flight, the call fails with [`Error::ConnectionLoss`] and the
//!   write may or may not have been applied (as in ZooKeeper).
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
mod config;
mod session;
mod state;

pub use config::ClientConfig;
pub use state::State;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot, watch};

use crate::error::{Code, Error, Result};
use crate::proto::paddock as pb;
use crate::types::{op_to_proto, CreateMode, Op, OpResult, Stat};
use session::{Command, SessionIds, Shared};

/// How many requests may wait to be written before callers are slowed down.
const COMMAND_QUEUE: usize = 4096;

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
        let shared = Arc::new(Shared {
            session: Mutex::new(SessionIds {
                id: 0,
                password: Vec::new(),
                timeout: config.session_timeout,
                server_id: 0,
                admin_addr: String::new(),
            }),
            last_zxid: AtomicU64::new(0),
        });
        let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
        let (state_tx, state_rx) = watch::channel(State::Connecting);
        let (ready_tx, ready_rx) = oneshot::channel();
        tokio::spawn(session::run(
            config,
            shared.clone(),
            rx,
            state_tx,
            Some(ready_tx),
        ));
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

    /// The highest zxid this client has seen in any response.
    pub fn last_zxid(&self) -> u64 {
        self.shared.last_zxid.load(Ordering::Acquire)
    }

    /// The current connection state.
    pub fn state(&self) -> State {
        *self.state.borrow()
    }

    /// A receiver that observes every connection state change.
    pub fn state_changes(&self) -> watch::Receiver<State> {
        self.state.clone()
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
        if self.state().is_terminal() {
            return Err(match self.state() {
                State::Expired => Error::SessionExpired,
                _ => Error::Closed,
            });
        }
        let (tx, rx) = oneshot::channel();
        let cmd = Command {
            op,
            linearizable,
            reply: tx,
            submitted: Instant::now(),
        };
        self.commands.send(cmd).await.map_err(|_| Error::Closed)?;
        let resp = rx
            .await
            .map_err(|_| Error::ConnectionLoss("connection dropped the request".into()))??;
        if let Some(err) = Error::from_server(resp.err, resp.message.clone()) {
            return Err(err);
        }
        Ok(resp)
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
