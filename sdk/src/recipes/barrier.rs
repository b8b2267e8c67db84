//! Barriers, laid out as Curator's `DistributedBarrier` and `DistributedDoubleBarrier`.
use std::time::Duration;

use tokio::time::Instant;

use super::contenders::delete_if_present;
use super::nodes::{ensure_container, guid};
use crate::path::{join, parent, validate};
use crate::{Client, Code, CreateMode, Error, EventKind, Result};

/// A barrier that holds everyone who waits on it while its node exists: one client
/// sets it, any number wait, and removing it lets them all through.
///
/// ```no_run
/// # async fn demo(client: paddock::Client) -> paddock::Result<()> {
/// use paddock::recipes::Barrier;
/// let deploy = Barrier::new(&client, "/barriers/deploy")?;
/// deploy.set().await?;              // the coordinator holds everyone
/// // ... elsewhere: deploy.wait().await? returns once it is removed ...
/// deploy.remove().await?;           // everyone waiting goes through
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Barrier {
    client: Client,
    path: String,
}

impl Barrier {
    /// A handle on the barrier at `path`.
    pub fn new(client: &Client, path: &str) -> Result<Barrier> {
        validate(path).map_err(Error::BadArguments)?;
        Ok(Barrier {
            client: client.clone(),
            path: path.to_string(),
        })
    }

    /// Sets the barrier (creates its node, persistent, with missing ancestors); setting
    /// a barrier that is set is not an error.
    pub async fn set(&self) -> Result<()> {
        if let Some(p) = parent(&self.path).filter(|p| *p != "/") {
            ensure_container(&self.client, p).await?;
        }
        match self
            .client
            .create(&self.path, b"", CreateMode::Persistent)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Code::NodeExists => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Removes the barrier: everyone waiting goes through.
    pub async fn remove(&self) -> Result<()> {
        delete_if_present(&self.client, &self.path).await
    }

    /// Waits until the barrier is not set (at once if it is not), as the connected
    /// member's tree has it: a waiter that must see a barrier another session just set
    /// calls [`Client::sync`](crate::Client::sync) first.
    pub async fn wait(&self) -> Result<()> {
        self.wait_until(None).await.map(|_| ())
    }

    /// Like [`Barrier::wait`], giving up after `timeout`: `false` if still set then.
    pub async fn wait_timeout(&self, timeout: Duration) -> Result<bool> {
        self.wait_until(Some(Instant::now() + timeout)).await
    }

    async fn wait_until(&self, deadline: Option<Instant>) -> Result<bool> {
        loop {
            let (stat, fired) = self.client.exists_watch(&self.path).await?;
            if stat.is_none() {
                return Ok(true);
            }
            match deadline {
                None => {
                    fired.await?;
                }
                Some(d) => {
                    tokio::select! {
                        r = fired => { r?; }
                        _ = tokio::time::sleep_until(d) => return Ok(false),
                    }
                }
            }
        }
    }
}

/// A double barrier: `enter` returns once `count` participants have entered, `leave`
/// once every one that entered has left. Participants are ephemeral children
/// `<path>/<guid>` of the barrier node; the last to enter creates `<path>/ready`, which
/// the others wait for (as Curator's `DistributedDoubleBarrier` does).
///
/// ```no_run
/// # async fn demo(client: paddock::Client) -> paddock::Result<()> {
/// use paddock::recipes::DoubleBarrier;
/// let round = DoubleBarrier::new(&client, "/barriers/round-7", 3)?;
/// round.enter().await?;   // returns once all three participants are in
/// // ... compute together ...
/// round.leave().await?;   // returns once all three are done
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct DoubleBarrier {
    client: Client,
    path: String,
    count: usize,
    own: String,
}

const READY: &str = "ready";

impl DoubleBarrier {
    /// A participant of the double barrier at `path` for `count` participants.
    pub fn new(client: &Client, path: &str, count: usize) -> Result<DoubleBarrier> {
        validate(path).map_err(Error::BadArguments)?;
        if count == 0 {
            return Err(Error::BadArguments("a barrier for 0 participants".into()));
        }
        Ok(DoubleBarrier {
            client: client.clone(),
            path: path.to_string(),
            count,
            own: join(path, &guid()),
        })
    }

    /// Enters, and waits until `count` participants have entered.
    pub async fn enter(&self) -> Result<()> {
        ensure_container(&self.client, &self.path).await?;
        let ready = join(&self.path, READY);
        // Watch for `ready` before joining, so its creation is never missed.
        let (stat, mut fired) = self.client.exists_watch(&ready).await?;
        if stat.is_some() {
            // A previous round's barrier has not been cleaned up yet: wait it out.
            return Err(Error::Server {
                code: Code::NodeExists,
                message: format!("{ready}: the barrier's last round is still open"),
            });
        }
        match self
            .client
            .create(&self.own, b"", CreateMode::Ephemeral)
            .await
        {
            Ok(_) => {}
            Err(e) if e.code() == Code::NodeExists => {}
            Err(e) => return Err(e),
        }
        loop {
            if self.participants().await?.len() >= self.count {
                match self
                    .client
                    .create(&ready, b"", CreateMode::Persistent)
                    .await
                {
                    Ok(_) => return Ok(()),
                    Err(e) if e.code() == Code::NodeExists => return Ok(()),
                    Err(e) => return Err(e),
                }
            }
            let ev = fired.await?;
            if ev.kind == EventKind::NodeCreated {
                return Ok(());
            }
            let (stat, again) = self.client.exists_watch(&ready).await?;
            if stat.is_some() {
                return Ok(());
            }
            fired = again;
        }
    }

    /// Leaves, and waits until every participant has left. The last one out removes
    /// the `ready` node, opening the barrier for another round.
    pub async fn leave(&self) -> Result<()> {
        match self.client.delete(&self.own, None).await {
            Ok(()) => {}
            Err(e) if e.code() == Code::NoNode => {}
            Err(e) => return Err(e),
        }
        loop {
            let (children, _, fired) = match self.client.children_watch(&self.path).await {
                Ok(r) => r,
                // Everyone left and the container is gone.
                Err(e) if e.code() == Code::NoNode => return Ok(()),
                Err(e) => return Err(e),
            };
            if children.iter().all(|c| c == READY) {
                match self.client.delete(&join(&self.path, READY), None).await {
                    Ok(()) => return Ok(()),
                    Err(e) if e.code() == Code::NoNode => return Ok(()),
                    Err(e) => return Err(e),
                }
            }
            fired.await?;
        }
    }

    async fn participants(&self) -> Result<Vec<String>> {
        let mut c = self.client.children(&self.path).await?;
        c.retain(|n| n != READY);
        Ok(c)
    }
}
