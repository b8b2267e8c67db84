//! A local mirror of a subtree (Curator's `CuratorCache`), kept current by one
//! persistent recursive watch.
//!
//! How it stays exact: the watch is added before the subtree is read, and a member
//! delivers an event before any response that reflects its change, so every change
//! after the watch was set either shows in the initial read or arrives as an event.
//! Each event makes the cache read the node again (and its parent's stat on creations
//! and deletions) and apply what the read returned; reads of one session never go back
//! in time, so the cache converges to the tree and reports only real differences.
//! When the watch reports a gap ([`Error::ResyncNeeded`]) or is removed, the cache adds
//! a new watch, reads the whole subtree again and reports the differences it finds.
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use futures::{Stream, StreamExt};
use parking_lot::RwLock;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::path::{join, parent, validate};
use crate::{Client, Code, Error, EventKind, Result, Stat, WatchStream};

/// One node of the mirror.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedNode {
    /// The node's data.
    pub data: Vec<u8>,
    /// The node's stat, as of the last read of it.
    pub stat: Stat,
}

/// A change the cache saw, in the order it applied them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheEvent {
    /// A node appeared (during the initial load: every node found).
    Created {
        /// Its path.
        path: String,
        /// Its data and stat.
        node: CachedNode,
    },
    /// A node's data changed (a change of its stat alone, such as a new child, is
    /// applied silently).
    Changed {
        /// Its path.
        path: String,
        /// Its new data and stat.
        node: CachedNode,
    },
    /// A node disappeared.
    Deleted {
        /// Its path.
        path: String,
        /// What the cache last had for it.
        node: CachedNode,
    },
    /// The initial load is complete: the cache holds the whole subtree.
    Initialized,
    /// The watch reported a gap; the cache read the subtree again, and the events since
    /// the previous `Resynced` or `Initialized` include every difference it found.
    Resynced,
}

type Nodes = BTreeMap<String, CachedNode>;

/// A local mirror of the subtree at a path, with change events.
///
/// ```no_run
/// # async fn demo(client: paddock::Client) -> paddock::Result<()> {
/// use futures::StreamExt;
/// use paddock::recipes::{CacheEvent, TreeCache};
/// let (cache, mut events) = TreeCache::start(&client, "/config").await?;
/// cache.initialized().await?;
/// if let Some(node) = cache.get("/config/feature-flags") {
///     println!("flags: {}", String::from_utf8_lossy(&node.data));
/// }
/// while let Some(event) = events.next().await {
///     match event? {
///         CacheEvent::Changed { path, node } => println!("{path} is now {:?}", node.data),
///         other => println!("{other:?}"),
///     }
/// }
/// # Ok(()) }
/// ```
pub struct TreeCache {
    path: String,
    nodes: Arc<RwLock<Nodes>>,
    initialized: watch::Receiver<Option<Result<()>>>,
    task: JoinHandle<()>,
}

/// The cache's change events, in the order they were applied. Ends with an error item
/// when the cache stops (the session ended, or the subtree could not be read).
pub struct CacheEvents {
    rx: mpsc::UnboundedReceiver<Result<CacheEvent>>,
}

impl Stream for CacheEvents {
    type Item = Result<CacheEvent>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

impl TreeCache {
    /// Starts mirroring the subtree at `path` (which need not exist yet) and returns
    /// the cache and its events. The first events describe the initial load, followed
    /// by [`CacheEvent::Initialized`]; [`TreeCache::initialized`] resolves then. The
    /// cache stops when it is dropped, which also removes its watch.
    pub async fn start(client: &Client, path: &str) -> Result<(TreeCache, CacheEvents)> {
        validate(path).map_err(Error::BadArguments)?;
        let nodes: Arc<RwLock<Nodes>> = Arc::default();
        let (init_tx, init_rx) = watch::channel(None);
        let (tx, rx) = mpsc::unbounded_channel();
        let mirror = Mirror {
            client: client.clone(),
            root: path.to_string(),
            nodes: nodes.clone(),
            events: tx,
        };
        let task = tokio::spawn(mirror.run(init_tx));
        Ok((
            TreeCache {
                path: path.to_string(),
                nodes,
                initialized: init_rx,
                task,
            },
            CacheEvents { rx },
        ))
    }

    /// Resolves once the initial load is complete (at once if it is); fails if the
    /// cache stopped before.
    pub async fn initialized(&self) -> Result<()> {
        let mut rx = self.initialized.clone();
        loop {
            if let Some(r) = rx.borrow_and_update().clone() {
                return r;
            }
            if rx.changed().await.is_err() {
                return Err(Error::Closed);
            }
        }
    }

    /// The path the cache mirrors.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The cached node at `path`, if the cache has it.
    pub fn get(&self, path: &str) -> Option<CachedNode> {
        self.nodes.read().get(path).cloned()
    }

    /// The names of the cached children of `path`, sorted.
    pub fn children(&self, path: &str) -> Vec<String> {
        let nodes = self.nodes.read();
        let prefix = if path == "/" {
            "/".to_string()
        } else {
            format!("{path}/")
        };
        nodes
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .filter(|(p, _)| !p[prefix.len()..].contains('/') && p.len() > prefix.len())
            .map(|(p, _)| p[prefix.len()..].to_string())
            .collect()
    }

    /// Every cached node, by path.
    pub fn snapshot(&self) -> BTreeMap<String, CachedNode> {
        self.nodes.read().clone()
    }

    /// The number of cached nodes.
    pub fn len(&self) -> usize {
        self.nodes.read().len()
    }

    /// Whether the cache holds no node (the subtree does not exist, or is not loaded).
    pub fn is_empty(&self) -> bool {
        self.nodes.read().is_empty()
    }
}

impl Drop for TreeCache {
    fn drop(&mut self) {
        // Dropping the task drops its watch stream, which removes the watch.
        self.task.abort();
    }
}

/// The task behind a [`TreeCache`].
struct Mirror {
    client: Client,
    root: String,
    nodes: Arc<RwLock<Nodes>>,
    events: mpsc::UnboundedSender<Result<CacheEvent>>,
}

/// A short wait before a read that failed for a passing reason is tried again.
const RETRY: Duration = Duration::from_millis(50);

impl Mirror {
    async fn run(self, initialized: watch::Sender<Option<Result<()>>>) {
        let mut first = true;
        let end = loop {
            let mut stream = match self.load(first).await {
                Ok(s) => s,
                Err(e) => break e,
            };
            if first {
                first = false;
                let _ = initialized.send(Some(Ok(())));
                self.emit(CacheEvent::Initialized);
            } else {
                self.emit(CacheEvent::Resynced);
            }
            match self.follow(&mut stream).await {
                // A gap or a removal: load again.
                Ok(()) => continue,
                Err(e) => break e,
            }
        };
        if first {
            let _ = initialized.send(Some(Err(end.clone())));
        }
        let _ = self.events.send(Err(end));
    }

    fn emit(&self, event: CacheEvent) {
        let _ = self.events.send(Ok(event));
    }

    /// Adds the watch, reads the whole subtree, and replaces the cache with it,
    /// reporting the differences.
    async fn load(&self, first: bool) -> Result<WatchStream> {
        let stream = loop {
            match self.client.add_watch(&self.root, true).await {
                Ok(s) => break s,
                Err(e) if e.is_retryable() => tokio::time::sleep(RETRY).await,
                Err(e) => return Err(e),
            }
        };
        let fresh = loop {
            match self.read_subtree().await {
                Ok(n) => break n,
                Err(e) if e.is_retryable() => tokio::time::sleep(RETRY).await,
                Err(e) => return Err(e),
            }
        };
        let old = std::mem::replace(&mut *self.nodes.write(), fresh.clone());
        for (path, node) in &fresh {
            match old.get(path) {
                None => self.emit(CacheEvent::Created {
                    path: path.clone(),
                    node: node.clone(),
                }),
                Some(was) if was.stat.czxid != node.stat.czxid => {
                    self.emit(CacheEvent::Deleted {
                        path: path.clone(),
                        node: was.clone(),
                    });
                    self.emit(CacheEvent::Created {
                        path: path.clone(),
                        node: node.clone(),
                    });
                }
                Some(was) if was.stat.mzxid != node.stat.mzxid => self.emit(CacheEvent::Changed {
                    path: path.clone(),
                    node: node.clone(),
                }),
                Some(_) => {}
            }
        }
        if !first {
            for (path, was) in old.iter().rev() {
                if !fresh.contains_key(path) {
                    self.emit(CacheEvent::Deleted {
                        path: path.clone(),
                        node: was.clone(),
                    });
                }
            }
        }
        Ok(stream)
    }

    /// Every node of the subtree, read level by level with pipelined reads.
    async fn read_subtree(&self) -> Result<Nodes> {
        let mut out = Nodes::new();
        let mut level = vec![self.root.clone()];
        while !level.is_empty() {
            let reads = join_all(level.iter().map(|p| async move {
                let got = self.client.get(p).await;
                let kids = self.client.children(p).await;
                (p, got, kids)
            }))
            .await;
            let mut next = Vec::new();
            for (p, got, kids) in reads {
                match got {
                    Ok((data, stat)) => {
                        out.insert(p.clone(), CachedNode { data, stat });
                    }
                    Err(e) if e.code() == Code::NoNode => continue,
                    Err(e) => return Err(e),
                }
                match kids {
                    Ok(k) => next.extend(k.iter().map(|name| join(p, name))),
                    Err(e) if e.code() == Code::NoNode => {}
                    Err(e) => return Err(e),
                }
            }
            level = next;
        }
        Ok(out)
    }

    /// Applies the watch's events until it reports a gap or is removed (`Ok`), or the
    /// session ends (`Err`).
    async fn follow(&self, stream: &mut WatchStream) -> Result<()> {
        while let Some(item) = stream.next().await {
            match item {
                Ok(event) => {
                    // The parent's stat first (its children count, pzxid), so that the
                    // cache is whole when the node's own event is reported.
                    if matches!(event.kind, EventKind::NodeCreated | EventKind::NodeDeleted)
                        && event.path != self.root
                    {
                        if let Some(p) = parent(&event.path) {
                            self.refresh(p).await?;
                        }
                    }
                    self.refresh(&event.path).await?;
                }
                Err(Error::ResyncNeeded { .. }) | Err(Error::WatchRemoved { .. }) => return Ok(()),
                Err(e) if e.is_retryable() => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        Err(Error::Closed)
    }

    /// Reads `path` again, applies what it finds and reports the difference (nothing
    /// when only the stat moved without a data change). A node outside the subtree
    /// (the root's parent) is never cached.
    async fn refresh(&self, path: &str) -> Result<()> {
        if !within(&self.root, path) {
            return Ok(());
        }
        let got = loop {
            match self.client.get(path).await {
                Ok(r) => break Some(r),
                Err(e) if e.code() == Code::NoNode => break None,
                Err(e) if e.is_retryable() => tokio::time::sleep(RETRY).await,
                Err(e) => return Err(e),
            }
        };
        let mut nodes = self.nodes.write();
        match got {
            Some((data, stat)) => {
                let node = CachedNode { data, stat };
                let old = nodes.insert(path.to_string(), node.clone());
                drop(nodes);
                match old {
                    None => self.emit(CacheEvent::Created {
                        path: path.to_string(),
                        node,
                    }),
                    Some(was) if was.stat.czxid != node.stat.czxid => {
                        self.emit(CacheEvent::Deleted {
                            path: path.to_string(),
                            node: was,
                        });
                        self.emit(CacheEvent::Created {
                            path: path.to_string(),
                            node,
                        });
                    }
                    Some(was) if was.stat.mzxid != node.stat.mzxid => {
                        self.emit(CacheEvent::Changed {
                            path: path.to_string(),
                            node,
                        })
                    }
                    Some(_) => {}
                }
            }
            None => {
                let gone = nodes.remove(path);
                drop(nodes);
                if let Some(was) = gone {
                    self.emit(CacheEvent::Deleted {
                        path: path.to_string(),
                        node: was,
                    });
                }
            }
        }
        Ok(())
    }
}

/// Whether `path` is `root` or below it.
fn within(root: &str, path: &str) -> bool {
    root == "/"
        || path == root
        || (path.starts_with(root) && path.as_bytes().get(root.len()) == Some(&b'/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subtree_is_the_root_and_what_lies_below_it() {
        assert!(within("/a", "/a"));
        assert!(within("/a", "/a/b/c"));
        assert!(!within("/a", "/ab"));
        assert!(!within("/a", "/"));
        assert!(within("/", "/x"));
    }
}
