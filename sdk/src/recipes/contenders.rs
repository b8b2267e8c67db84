//! The contender queue that locks, read-write locks and elections share: each contender
//! is an ephemeral sequential child `_c_<guid>-<marker><seq>` of the recipe's node
//! (Curator's protected names), ordered by sequence. A [`Rule`] (see `rules.rs`) decides
//! from the queue whether a contender is granted, and if not, which single node before
//! it to watch, so a departure wakes only the contenders it concerns (no herd).
use std::time::Duration;

use tokio::time::Instant;

use super::lost::{at_risk, Lost};
use super::nodes::{ensure_container, ordered_any};
use super::rules::{Rule, Turn};
use super::FencingToken;
use crate::path::{join, name};
use crate::{Client, Code, CreateMode, Error, Op, Result};

/// A contender's node until it is kept as a grant: removed if the wait fails, times out
/// or is dropped.
pub(crate) struct Pending {
    client: Client,
    node: String,
    token: FencingToken,
    armed: bool,
}

/// Creates a contender's node under `parent` with `data`, creating `parent` as a
/// container if it is missing (it can be reaped between the two, hence the retries).
pub(crate) async fn enqueue(
    client: &Client,
    parent: &str,
    guid: &str,
    marker: &str,
    data: &[u8],
) -> Result<Pending> {
    let prefix = join(parent, &format!("_c_{guid}-{marker}"));
    for _ in 0..10 {
        match client
            .create_with_stat(&prefix, data, CreateMode::EphemeralSequential)
            .await
        {
            Ok((node, stat)) => {
                return Ok(Pending {
                    client: client.clone(),
                    node,
                    token: FencingToken(stat.czxid),
                    armed: true,
                })
            }
            Err(e) if e.code() == Code::NoNode => ensure_container(client, parent).await?,
            Err(e) => return Err(e),
        }
    }
    Err(Error::Server {
        code: Code::NoNode,
        message: format!("{parent}: the recipe's node kept disappearing"),
    })
}

impl Pending {
    /// Waits until `rule` grants this contender a turn in the queue of `parent`'s
    /// children that carry one of `markers`: `Ok(false)` at the deadline (the node stays;
    /// the caller decides). Reads that fail for a reason that passes (a lost connection,
    /// a member not ready) are retried while the session lives. Fails if the node
    /// disappears meanwhile.
    pub(crate) async fn wait_turn(
        &self,
        parent: &str,
        markers: &[&str],
        rule: Rule,
        deadline: Option<Instant>,
    ) -> Result<bool> {
        let own = name(&self.node);
        loop {
            let children = match self.client.children(parent).await {
                Ok(c) => c,
                Err(e) if e.is_retryable() => {
                    pause().await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let queue = ordered_any(children, markers);
            let Some(at) = queue.iter().position(|(_, n)| n == own) else {
                return Err(match self.client.state().is_terminal() {
                    true => Error::SessionExpired,
                    false => Error::Server {
                        code: Code::NoNode,
                        message: format!("{}: this contender's node was deleted", self.node),
                    },
                });
            };
            let names: Vec<&str> = queue.iter().map(|(_, n)| n.as_str()).collect();
            let before = match rule(&names, at) {
                Turn::Granted => return Ok(true),
                Turn::WaitFor(i) => join(parent, names[i]),
            };
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(false);
            }
            let (stat, fired) = match self.client.exists_watch(&before).await {
                Ok(r) => r,
                Err(e) if e.is_retryable() => {
                    pause().await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            if stat.is_none() {
                continue;
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

    /// The contender's node.
    pub(crate) fn node(&self) -> &str {
        &self.node
    }

    /// Keeps the node: it is the caller's grant now.
    pub(crate) fn keep(mut self) -> (String, FencingToken) {
        self.armed = false;
        (std::mem::take(&mut self.node), self.token)
    }

    /// Deletes the node now.
    pub(crate) async fn remove(mut self) {
        self.armed = false;
        let _ = self.client.delete(&self.node, None).await;
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if self.armed {
            delete_in_background(&self.client, std::mem::take(&mut self.node));
        }
    }
}

/// A short wait before a read that failed for a passing reason is tried again.
pub(crate) async fn pause() {
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
}

/// Deletes `node` from a task of the current runtime (a drop cannot wait). Without a
/// runtime the node goes when the session ends.
pub(crate) fn delete_in_background(client: &Client, node: String) {
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        let client = client.clone();
        rt.spawn(async move {
            let _ = client.delete(&node, None).await;
        });
    }
}

/// Resolves when `node` is deleted, or the session ends, whichever comes first.
pub(crate) async fn deleted(client: &Client, node: &str) -> Lost {
    use crate::EventKind;
    loop {
        match client.exists_watch(node).await {
            Ok((None, _)) => return Lost::NodeDeleted,
            Ok((Some(_), fired)) => match fired.await {
                Ok(ev) if ev.kind == EventKind::NodeDeleted => return Lost::NodeDeleted,
                Ok(_) => {}
                Err(_) => return Lost::SessionEnded,
            },
            Err(e) if e.is_retryable() => pause().await,
            Err(_) => return Lost::SessionEnded,
        }
    }
}

/// Deletes `node`; a node already gone is fine (released twice, or its session ended).
pub(crate) async fn delete_if_present(client: &Client, node: &str) -> Result<()> {
    match client.delete(node, None).await {
        Ok(()) => Ok(()),
        Err(e) if e.code() == Code::NoNode => Ok(()),
        Err(e) => Err(e),
    }
}

/// An operation for a multi that fails it unless the grant whose node is `node` still
/// stands (the node exists, unchanged).
pub(crate) fn check_op(node: &str) -> Op {
    Op::check(node).version(0)
}

/// Resolves when the grant whose node is `node` may be lost: the session's lease falls
/// to `margin`, the session ended, or the node was deleted.
pub(crate) async fn grant_lost(client: &Client, node: &str, margin: Duration) -> Lost {
    tokio::select! {
        l = deleted(client, node) => l,
        l = at_risk(client, margin) => l,
    }
}

/// A grant this session holds through one node (a leadership, a semaphore lease):
/// its token, its lost signal, and the node's deletion when it is given up or dropped.
pub(crate) struct Grant {
    client: Client,
    node: String,
    token: FencingToken,
    margin: Duration,
    given_up: bool,
}

impl Grant {
    /// The grant of a kept contender's node.
    pub(crate) fn new(
        client: &Client,
        (node, token): (String, FencingToken),
        margin: Duration,
    ) -> Grant {
        Grant {
            client: client.clone(),
            node,
            token,
            margin,
            given_up: false,
        }
    }

    pub(crate) fn node(&self) -> &str {
        &self.node
    }

    pub(crate) fn token(&self) -> FencingToken {
        self.token
    }

    pub(crate) fn check_op(&self) -> Op {
        check_op(&self.node)
    }

    pub(crate) async fn lost(&self) -> Lost {
        grant_lost(&self.client, &self.node, self.margin).await
    }

    /// Deletes the node; fails only if it could not be deleted (the session is gone,
    /// and the node with it).
    pub(crate) async fn give_up(mut self) -> Result<()> {
        self.given_up = true;
        delete_if_present(&self.client, &self.node).await
    }
}

impl Drop for Grant {
    fn drop(&mut self) {
        if !self.given_up {
            delete_in_background(&self.client, std::mem::take(&mut self.node));
        }
    }
}

impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grant")
            .field("node", &self.node)
            .field("token", &self.token)
            .finish()
    }
}
