//! A read-write lock laid out as Curator's `InterProcessReadWriteLock`: readers are
//! ephemeral sequential children `_c_<guid>-__READ__<seq>` and writers
//! `_c_<guid>-__WRIT__<seq>` of the lock node, in one queue ordered by sequence. A writer
//! holds the lock when it is first (it watches its predecessor); a reader when no writer
//! of another handle is before it (it watches the nearest such writer), so readers share
//! the lock and a waiting writer keeps later readers out (no writer starves).
use std::time::Duration;

use tokio::time::Instant;

use super::lock::{Half, LockGuard};
use super::nodes::guid;
use super::rules::{self, READ_MARKER, WRITE_MARKER};
use crate::path::validate;
use crate::{Client, Error, Result};

/// Both markers: readers and writers wait in one queue.
const MARKERS: &[&str] = &[READ_MARKER, WRITE_MARKER];

/// A handle on a read-write lock at one path. Each side is reentrant through the same
/// handle, and a handle that holds the write lock may also take the read lock (and keep
/// it after releasing the write lock: a downgrade). Taking the write lock while the same
/// handle holds the read lock is refused (it would wait for itself). Every grant carries
/// a [`FencingToken`](super::FencingToken): for a writer, greater than every earlier
/// writer's and reader's.
///
/// ```no_run
/// # async fn demo(client: paddock::Client) -> paddock::Result<()> {
/// use paddock::recipes::RwLock;
/// let config = RwLock::new(&client, "/locks/config")?;
/// {
///     let read = config.read().await?;      // shared with other readers
///     // ... read what the lock protects ...
///     read.release().await?;
/// }
/// let write = config.write().await?;        // alone
/// // ... change it ...
/// write.release().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RwLock {
    read: Half,
    write: Half,
}

impl RwLock {
    /// A handle on the read-write lock at `path` (created on first use, as a container,
    /// with any missing ancestors). Lost signals fire when the session's lease falls to
    /// a fifth of the session timeout (see [`RwLock::lost_margin`]).
    pub fn new(client: &Client, path: &str) -> Result<RwLock> {
        validate(path).map_err(Error::BadArguments)?;
        let guid = guid();
        Ok(RwLock {
            read: Half::new(client, path, &guid, READ_MARKER, MARKERS, rules::reader),
            write: Half::new(client, path, &guid, WRITE_MARKER, MARKERS, rules::exclusive),
        })
    }

    /// How much of the lease must be left when a guard's [`LockGuard::lost`] fires.
    pub fn lost_margin(mut self, margin: Duration) -> RwLock {
        self.read.margin = margin;
        self.write.margin = margin;
        self
    }

    /// The lock's path.
    pub fn path(&self) -> &str {
        &self.read.path
    }

    /// Waits until this handle holds the read lock. Fails if the session ends
    /// meanwhile; dropping the future gives up the place.
    pub async fn read(&self) -> Result<LockGuard> {
        self.read.acquire().await
    }

    /// Like [`RwLock::read`], giving up after `timeout` (`Ok(None)`).
    pub async fn try_read(&self, timeout: Duration) -> Result<Option<LockGuard>> {
        self.read
            .acquire_until(Some(Instant::now() + timeout))
            .await
    }

    /// Waits until this handle holds the write lock. Fails with `BadArguments` if this
    /// handle holds the read lock, or if the session ends meanwhile.
    pub async fn write(&self) -> Result<LockGuard> {
        self.refuse_upgrade().await?;
        self.write.acquire().await
    }

    /// Like [`RwLock::write`], giving up after `timeout` (`Ok(None)`).
    pub async fn try_write(&self, timeout: Duration) -> Result<Option<LockGuard>> {
        self.refuse_upgrade().await?;
        self.write
            .acquire_until(Some(Instant::now() + timeout))
            .await
    }

    async fn refuse_upgrade(&self) -> Result<()> {
        if self.read.holds().await && !self.write.holds().await {
            return Err(Error::BadArguments(format!(
                "{}: this handle holds the read lock; release it before taking the write lock",
                self.path()
            )));
        }
        Ok(())
    }
}
