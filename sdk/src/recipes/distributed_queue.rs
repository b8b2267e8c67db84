//! A distributed FIFO queue: items are persistent sequential children
//! `<path>/queue-<seq>` holding their data, taken in sequence order. Consumers take turns
//! through the exclusive lock at `<path>/_lock`: only the consumer that holds it reads
//! and watches the items, every other one waits in the lock's queue on its predecessor,
//! so an item (or a release) wakes one consumer, never all of them. A take deletes the
//! item before it returns it (at most once: an item whose consumer dies after the take
//! is gone with it).
use std::time::Duration;

use tokio::time::Instant;

use super::contenders::pause;
use super::nodes::{ensure_container, ordered};
use super::Lock;
use crate::path::{join, validate};
use crate::{Client, Code, CreateMode, Error, Result};

/// What item nodes carry before their sequence number.
const MARKER: &str = "queue-";

/// A handle on a FIFO queue at one path, shared by any number of producers and
/// consumers.
///
/// ```no_run
/// # async fn demo(client: paddock::Client) -> paddock::Result<()> {
/// use paddock::recipes::DistributedQueue;
/// let jobs = DistributedQueue::new(&client, "/queues/jobs")?;
/// jobs.put(b"resize photo 17").await?;
/// let next = jobs.take().await?;        // waits for an item
/// assert_eq!(next, b"resize photo 17");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct DistributedQueue {
    client: Client,
    path: String,
}

impl DistributedQueue {
    /// A handle on the queue at `path` (created on first use, as a container).
    pub fn new(client: &Client, path: &str) -> Result<DistributedQueue> {
        validate(path).map_err(Error::BadArguments)?;
        if path == "/" {
            return Err(Error::BadArguments("a queue cannot live at /".into()));
        }
        Ok(DistributedQueue {
            client: client.clone(),
            path: path.to_string(),
        })
    }

    /// The queue's path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Appends an item; returns its node. Items put by one session are taken in the
    /// order they were put; items of different sessions in the order the ensemble
    /// applied them.
    pub async fn put(&self, data: &[u8]) -> Result<String> {
        let prefix = join(&self.path, MARKER);
        for _ in 0..10 {
            match self
                .client
                .create(&prefix, data, CreateMode::PersistentSequential)
                .await
            {
                Ok(node) => return Ok(node),
                Err(e) if e.code() == Code::NoNode => {
                    ensure_container(&self.client, &self.path).await?
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::Server {
            code: Code::NoNode,
            message: format!("{}: the queue's node kept disappearing", self.path),
        })
    }

    /// The number of items waiting (as the connected member's tree has it).
    pub async fn len(&self) -> Result<usize> {
        match self.client.children(&self.path).await {
            Ok(c) => Ok(ordered(c, MARKER).len()),
            Err(e) if e.code() == Code::NoNode => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// Whether no item is waiting.
    pub async fn is_empty(&self) -> Result<bool> {
        Ok(self.len().await? == 0)
    }

    /// Takes the oldest item, waiting for one if the queue is empty. Fails if the
    /// session ends meanwhile; dropping the future gives up the consumer's turn.
    pub async fn take(&self) -> Result<Vec<u8>> {
        match self.take_until(None).await? {
            Some(d) => Ok(d),
            None => Err(Error::Server {
                code: Code::OperationTimeout,
                message: self.path.clone(),
            }),
        }
    }

    /// Like [`DistributedQueue::take`], giving up after `timeout` (`Ok(None)`).
    pub async fn try_take(&self, timeout: Duration) -> Result<Option<Vec<u8>>> {
        self.take_until(Some(Instant::now() + timeout)).await
    }

    async fn take_until(&self, deadline: Option<Instant>) -> Result<Option<Vec<u8>>> {
        let lock = Lock::new(&self.client, &join(&self.path, "_lock"))?;
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
        let taken = self.take_holding(deadline).await;
        let released = guard.release().await;
        let taken = taken?;
        released?;
        Ok(taken)
    }

    /// Takes the oldest item while holding the consumers' lock.
    async fn take_holding(&self, deadline: Option<Instant>) -> Result<Option<Vec<u8>>> {
        loop {
            let (children, _, fired) = match self.client.children_watch(&self.path).await {
                Ok(r) => r,
                Err(e) if e.is_retryable() => {
                    pause().await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            for (_, item) in ordered(children, MARKER) {
                let node = join(&self.path, &item);
                let (data, stat) = match self.client.get(&node).await {
                    Ok(r) => r,
                    Err(e) if e.code() == Code::NoNode => continue,
                    Err(e) => return Err(e),
                };
                match self.client.delete(&node, Some(stat.version)).await {
                    Ok(()) => return Ok(Some(data)),
                    // Taken or changed by someone outside the queue's protocol.
                    Err(e) if matches!(e.code(), Code::NoNode | Code::BadVersion) => continue,
                    Err(e) => return Err(e),
                }
            }
            match deadline {
                None => {
                    fired.await?;
                }
                Some(d) => tokio::select! {
                    r = fired => { r?; }
                    _ = tokio::time::sleep_until(d) => return Ok(None),
                },
            }
        }
    }
}
