//! A counting semaphore laid out as Curator's `InterProcessSemaphoreV2`: a lease is an
//! ephemeral sequential child `_c_<guid>-lease-<seq>` of `<path>/leases`, and a contender
//! takes the exclusive lock at `<path>/locks` before it creates its lease node and while
//! it waits for the number of leases to fall to the limit. Only the one contender that
//! holds that lock watches the leases; the others wait in the lock's queue, each on its
//! predecessor (no herd), and a contender that counts its own node never counts another
//! waiter's.
use std::fmt;
use std::time::Duration;

use tokio::time::Instant;

use super::contenders::{enqueue, pause, Grant};
use super::lost::Lost;
use super::nodes::{guid, ordered};
use super::{FencingToken, Lock};
use crate::path::{join, name, validate};
use crate::{Client, Code, Error, Op, Result};

/// What Curator's lease nodes carry before their sequence number.
const MARKER: &str = "lease-";

/// A handle on a counting semaphore at one path: at most `max_leases` leases are held
/// at a time, across every client that uses the path with the same limit.
///
/// ```no_run
/// # async fn demo(client: paddock::Client) -> paddock::Result<()> {
/// use paddock::recipes::Semaphore;
/// let slots = Semaphore::new(&client, "/semaphores/encoders", 4)?;
/// let lease = slots.acquire().await?;   // one of at most four
/// // ... use the slot; stop if lease.lost() fires ...
/// lease.release().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Semaphore {
    client: Client,
    path: String,
    max_leases: usize,
    margin: Duration,
}

impl Semaphore {
    /// A handle on the semaphore at `path` allowing `max_leases` (at least 1) leases.
    /// Every user of the path must agree on the limit.
    pub fn new(client: &Client, path: &str, max_leases: usize) -> Result<Semaphore> {
        validate(path).map_err(Error::BadArguments)?;
        if max_leases == 0 {
            return Err(Error::BadArguments(format!(
                "{path}: a semaphore needs at least one lease"
            )));
        }
        Ok(Semaphore {
            client: client.clone(),
            path: path.to_string(),
            max_leases,
            margin: client.session_timeout() / 5,
        })
    }

    /// How much of the session's lease must be left when [`Lease::lost`] fires.
    pub fn lost_margin(mut self, margin: Duration) -> Semaphore {
        self.margin = margin;
        self
    }

    /// The semaphore's path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The number of leases held now (as the connected member's tree has it).
    pub async fn held(&self) -> Result<usize> {
        match self.client.children(&self.leases()).await {
            Ok(c) => Ok(ordered(c, MARKER).len()),
            Err(e) if e.code() == Code::NoNode => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// Waits for a lease. Fails if the session ends meanwhile; dropping the future gives
    /// up the place.
    pub async fn acquire(&self) -> Result<Lease> {
        match self.acquire_until(None).await? {
            Some(l) => Ok(l),
            None => Err(Error::Server {
                code: Code::OperationTimeout,
                message: self.path.clone(),
            }),
        }
    }

    /// Like [`Semaphore::acquire`], giving up after `timeout`: `Ok(None)` if no lease
    /// was free by then.
    pub async fn try_acquire(&self, timeout: Duration) -> Result<Option<Lease>> {
        self.acquire_until(Some(Instant::now() + timeout)).await
    }

    fn leases(&self) -> String {
        join(&self.path, "leases")
    }

    async fn acquire_until(&self, deadline: Option<Instant>) -> Result<Option<Lease>> {
        // A lock handle of its own for every attempt: the lock must exclude every other
        // waiter, this handle's included.
        let lock = Lock::new(&self.client, &join(&self.path, "locks"))?;
        let guard = match deadline {
            None => lock.acquire().await?,
            Some(d) => match lock
                .try_acquire(d.saturating_duration_since(Instant::now()))
                .await?
            {
                Some(g) => g,
                None => return Ok(None),
            },
        };
        let leases = self.leases();
        let pending = enqueue(&self.client, &leases, &guid(), MARKER, b"").await?;
        let own = name(pending.node()).to_string();
        let outcome: Result<bool> = async {
            loop {
                let (children, _, fired) = match self.client.children_watch(&leases).await {
                    Ok(r) => r,
                    Err(e) if e.is_retryable() => {
                        pause().await;
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                let held = ordered(children, MARKER);
                if !held.iter().any(|(_, n)| *n == own) {
                    return Err(Error::Server {
                        code: Code::NoNode,
                        message: format!("{}: this lease's node was deleted", pending.node()),
                    });
                }
                if held.len() <= self.max_leases {
                    return Ok(true);
                }
                match deadline {
                    None => {
                        fired.await?;
                    }
                    Some(d) => tokio::select! {
                        r = fired => { r?; }
                        _ = tokio::time::sleep_until(d) => return Ok(false),
                    },
                }
            }
        }
        .await;
        let lease = match outcome {
            Ok(true) => Some(Lease {
                grant: Grant::new(&self.client, pending.keep(), self.margin),
            }),
            Ok(false) => {
                pending.remove().await;
                None
            }
            Err(e) => {
                pending.remove().await;
                let _ = guard.release().await;
                return Err(e);
            }
        };
        guard.release().await?;
        Ok(lease)
    }
}

/// One lease of a [`Semaphore`]. Releasing (or dropping) it deletes its node, which
/// lets the next contender in.
pub struct Lease {
    grant: Grant,
}

impl Lease {
    /// This lease's fencing token (the zxid that created its node).
    pub fn token(&self) -> FencingToken {
        self.grant.token()
    }

    /// The lease's node, `<path>/leases/_c_<guid>-lease-<seq>`.
    pub fn node(&self) -> &str {
        self.grant.node()
    }

    /// An operation for a [`Client::multi`] that fails the multi unless this lease
    /// still stands.
    pub fn check_op(&self) -> Op {
        self.grant.check_op()
    }

    /// Resolves when the lease may be lost (see [`super::LockGuard::lost`]).
    pub async fn lost(&self) -> Lost {
        self.grant.lost().await
    }

    /// Gives the lease back. Fails only if the node could not be deleted (the session
    /// is gone, and the node with it).
    pub async fn release(self) -> Result<()> {
        self.grant.give_up().await
    }
}

impl fmt::Debug for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lease")
            .field("node", &self.node())
            .field("token", &self.token())
            .finish()
    }
}
