//! An exclusive lock with fencing tokens, laid out as Curator's `InterProcessMutex`:
//! each contender is an ephemeral sequential child `_c_<guid>-lock-<seq>` of the lock
//! node, in the queue of [`super::contenders`]; the first contender holds the lock.
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use super::contenders::{check_op, delete_if_present, enqueue, grant_lost};
use super::lost::Lost;
use super::nodes::guid;
use super::rules::{self, Rule};
use crate::path::validate;
use crate::{Client, Code, Error, Op, Result};

/// What Curator's lock nodes carry before their sequence number.
const MARKER: &str = "lock-";

/// A number that grows with every grant of a lock: the zxid of the change that created
/// the holder's node. A later holder's token is strictly greater than any earlier
/// holder's, across sessions, members and leader changes, so a protected resource that
/// remembers the highest token it accepted can refuse a holder whose grant was
/// superseded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FencingToken(pub u64);

impl fmt::Display for FencingToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A handle on an exclusive lock at one path. Acquiring again through the same handle
/// while it holds the lock succeeds at once (reentrant) and needs one more release.
/// Handles are cheap to clone; clones share the hold. Different handles, even of the
/// same client, contend like different processes.
///
/// ```no_run
/// # async fn demo(client: paddock::Client) -> paddock::Result<()> {
/// use paddock::recipes::Lock;
/// let lock = Lock::new(&client, "/locks/db")?;
/// let guard = lock.acquire().await?;
/// // Stop acting on the lock as soon as it may be lost.
/// tokio::select! {
///     _ = guard.lost() => eprintln!("lock may be lost; stopping"),
///     _ = do_work(guard.token().0) => {}
/// }
/// guard.release().await?;
/// # Ok(()) }
/// # async fn do_work(_token: u64) {}
/// ```
#[derive(Clone)]
pub struct Lock {
    half: Half,
}

impl Lock {
    /// A handle on the lock at `path` (created on first use, as a container, with any
    /// missing ancestors). The lost signal fires when the session's lease falls to a
    /// fifth of the session timeout (see [`Lock::lost_margin`]).
    pub fn new(client: &Client, path: &str) -> Result<Lock> {
        validate(path).map_err(Error::BadArguments)?;
        Ok(Lock {
            half: Half::new(client, path, &guid(), MARKER, &[MARKER], rules::exclusive),
        })
    }

    /// How much of the lease must be left when [`LockGuard::lost`] fires: the time the
    /// holder needs to stop touching what the lock protects.
    pub fn lost_margin(mut self, margin: Duration) -> Lock {
        self.half.margin = margin;
        self
    }

    /// The lock's path.
    pub fn path(&self) -> &str {
        &self.half.path
    }

    /// Waits until this handle holds the lock. Fails if the session ends meanwhile (its
    /// place in the queue ends with it). Dropping the future gives up the place.
    pub async fn acquire(&self) -> Result<LockGuard> {
        self.half.acquire().await
    }

    /// Like [`Lock::acquire`], giving up after `timeout`: `Ok(None)` if the lock was
    /// not granted by then (this contender's node is removed).
    pub async fn try_acquire(&self, timeout: Duration) -> Result<Option<LockGuard>> {
        self.half
            .acquire_until(Some(Instant::now() + timeout))
            .await
    }
}

/// One kind of grant of one handle (a [`Lock`], or the read or the write side of a
/// [`super::RwLock`]): its contenders' marker, the rule that grants them, and the
/// handle's reentrant hold.
#[derive(Clone)]
pub(crate) struct Half {
    client: Client,
    pub(crate) path: String,
    guid: String,
    pub(crate) margin: Duration,
    /// The marker of this half's nodes.
    marker: &'static str,
    /// The markers of every node in the queue this half waits in.
    markers: &'static [&'static str],
    rule: Rule,
    hold: Arc<Mutex<Hold>>,
}

#[derive(Default)]
struct Hold {
    /// The node and token while the handle holds the grant.
    node: Option<(String, FencingToken)>,
    /// Guards alive (or not yet released) for it.
    count: usize,
}

impl Half {
    pub(crate) fn new(
        client: &Client,
        path: &str,
        guid: &str,
        marker: &'static str,
        markers: &'static [&'static str],
        rule: Rule,
    ) -> Half {
        Half {
            client: client.clone(),
            path: path.to_string(),
            guid: guid.to_string(),
            margin: client.session_timeout() / 5,
            marker,
            markers,
            rule,
            hold: Arc::default(),
        }
    }

    /// Whether this half holds its grant now (a guard of it is alive).
    pub(crate) async fn holds(&self) -> bool {
        self.hold.lock().await.node.is_some()
    }

    pub(crate) async fn acquire(&self) -> Result<LockGuard> {
        match self.acquire_until(None).await? {
            Some(g) => Ok(g),
            None => Err(Error::Server {
                code: Code::OperationTimeout,
                message: self.path.clone(),
            }),
        }
    }

    pub(crate) async fn acquire_until(
        &self,
        deadline: Option<Instant>,
    ) -> Result<Option<LockGuard>> {
        let mut hold = self.hold.lock().await;
        if let Some((node, token)) = hold.node.clone() {
            hold.count += 1;
            return Ok(Some(self.guard(node, token)));
        }
        let pending = enqueue(&self.client, &self.path, &self.guid, self.marker, b"").await?;
        match pending
            .wait_turn(&self.path, self.markers, self.rule, deadline)
            .await
        {
            Ok(true) => {
                let (node, token) = pending.keep();
                hold.node = Some((node.clone(), token));
                hold.count = 1;
                Ok(Some(self.guard(node, token)))
            }
            Ok(false) => {
                pending.remove().await;
                Ok(None)
            }
            Err(e) => {
                pending.remove().await;
                Err(e)
            }
        }
    }

    fn guard(&self, node: String, token: FencingToken) -> LockGuard {
        LockGuard {
            half: self.clone(),
            node,
            token,
            released: false,
        }
    }
}

/// Proof that a [`Lock`] handle holds its lock (or an [`super::RwLock`] handle its read
/// or write lock). Releasing (or dropping) the last guard of the handle deletes the
/// holder's node, which hands the lock to the next contender.
pub struct LockGuard {
    half: Half,
    node: String,
    token: FencingToken,
    released: bool,
}

impl LockGuard {
    /// This grant's fencing token (the same for every reentrant guard of one grant).
    pub fn token(&self) -> FencingToken {
        self.token
    }

    /// The holder's node, `<lock>/_c_<guid>-lock-<seq>`.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// An operation for a [`Client::multi`] that fails the whole multi unless this
    /// grant still stands (the holder's node exists, unchanged): a write to Paddock
    /// itself fenced by the lock.
    pub fn check_op(&self) -> Op {
        check_op(&self.node)
    }

    /// Resolves when the lock may be lost: the session's lease falls to the handle's
    /// margin (the client has not heard from a member that vouches for the session for
    /// nearly its timeout), the session ended, or the holder's node was deleted. A
    /// holder must stop touching the protected resource when it fires; the ensemble
    /// cannot give the lock to another contender before the lease would have run out.
    pub async fn lost(&self) -> Lost {
        grant_lost(&self.half.client, &self.node, self.half.margin).await
    }

    /// Gives up this guard's share of the hold; the last one deletes the holder's node.
    /// Fails only if the node could not be deleted (the session is gone, in which case
    /// the node went with it).
    pub async fn release(mut self) -> Result<()> {
        self.released = true;
        let last = {
            let mut hold = self.half.hold.lock().await;
            hold.count = hold.count.saturating_sub(1);
            if hold.count == 0 {
                hold.node = None;
                true
            } else {
                false
            }
        };
        if !last {
            return Ok(());
        }
        delete_if_present(&self.half.client, &self.node).await
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        let hold = self.half.hold.clone();
        let client = self.half.client.clone();
        let node = self.node.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let last = {
                    let mut h = hold.lock().await;
                    h.count = h.count.saturating_sub(1);
                    let last = h.count == 0 && h.node.as_ref().is_some_and(|(n, _)| *n == node);
                    if last {
                        h.node = None;
                    }
                    last
                };
                if last {
                    let _ = client.delete(&node, None).await;
                }
            });
        }
    }
}

impl fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard")
            .field("node", &self.node)
            .field("token", &self.token)
            .finish()
    }
}
