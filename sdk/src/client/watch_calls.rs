//! The watch operations of a [`Client`]: one-shot watches set by reads, persistent
//! watches as streams, their removal, and what a dropped stream removes.
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};

use super::options::Namespace;
use super::session::{Command, Shared};
use super::watches::{Hook, OneShotClass, PendingAdd, Registration};
use super::{unexpected, Client, WatchFuture, WatchStream, WatcherKind};
use crate::error::Result;
use crate::proto::paddock as pb;
use crate::types::Stat;

impl Client {
    /// Like [`Client::get`], and sets a one-shot data watch on the node. The watch fires
    /// once, on the next change of the node's data ([`EventKind::NodeDataChanged`](super::EventKind::NodeDataChanged)) or
    /// its deletion ([`EventKind::NodeDeleted`](super::EventKind::NodeDeleted)), with ZooKeeper's semantics: every
    /// `get_watch`/`exists_watch` on the same path shares one watch on the member, and
    /// the event resolves all of their futures. No watch is set if the call fails (for
    /// example `NoNode`). See [`WatchFuture`] for how it can end otherwise.
    pub async fn get_watch(&self, path: &str) -> Result<(Vec<u8>, Stat, WatchFuture)> {
        self.read(|| async {
            let mut g = pb::GetDataRequest::new();
            g.path = self.path_in(path, false)?;
            g.watch = true;
            let (hook, fut) = one_shot(&g.path, OneShotClass::Data, &self.ns);
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
        })
        .await
    }

    /// Like [`Client::exists`], and sets a one-shot watch: on an existing node a data
    /// watch (fires on [`EventKind::NodeDataChanged`](super::EventKind::NodeDataChanged) or [`EventKind::NodeDeleted`](super::EventKind::NodeDeleted)), on
    /// a missing node an exist watch (fires on [`EventKind::NodeCreated`](super::EventKind::NodeCreated)).
    pub async fn exists_watch(&self, path: &str) -> Result<(Option<Stat>, WatchFuture)> {
        self.read(|| async {
            let mut e = pb::ExistsRequest::new();
            e.path = self.path_in(path, false)?;
            e.watch = true;
            let (hook, fut) = one_shot(&e.path, OneShotClass::Exists, &self.ns);
            let resp = self
                .call_with(pb::Request_oneof_op::exists(e), false, hook)
                .await?;
            match resp.result {
                Some(pb::Response_oneof_result::exists(e)) => {
                    Ok((e.stat.as_ref().map(Stat::from), fut))
                }
                _ => Err(unexpected("exists_watch")),
            }
        })
        .await
    }

    /// Like [`Client::children_with_stat`], and sets a one-shot child watch: it fires
    /// once, when a child is added or removed ([`EventKind::NodeChildrenChanged`](super::EventKind::NodeChildrenChanged)) or
    /// the node is deleted ([`EventKind::NodeDeleted`](super::EventKind::NodeDeleted)). Data changes of the node or its
    /// children do not fire it.
    pub async fn children_watch(&self, path: &str) -> Result<(Vec<String>, Stat, WatchFuture)> {
        self.read(|| async {
            let mut g = pb::GetChildrenRequest::new();
            g.path = self.path_in(path, false)?;
            g.watch = true;
            let (hook, fut) = one_shot(&g.path, OneShotClass::Child, &self.ns);
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
        })
        .await
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
        self.read(|| self.add_watch_once(path, recursive)).await
    }

    async fn add_watch_once(&self, path: &str, recursive: bool) -> Result<WatchStream> {
        let path = &self.path_in(path, false)?;
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
            _pending: Some(PendingAdd::new(&self.shared.pending_adds, recursive, path)),
        });
        self.call_with(pb::Request_oneof_op::add_watch(a), false, hook)
            .await?;
        let shared = Arc::downgrade(&self.shared);
        let commands = self.commands.downgrade();
        let path = path.to_string();
        let release = move || forget_stream(&shared, &commands, &path, recursive);
        Ok(WatchStream::new(
            rx,
            self.ns.clone(),
            Some(Box::new(release)),
        ))
    }

    /// Removes this session's watches of `kind` on `path`, on the member and locally.
    /// Pending [`WatchFuture`]s of the removed kinds resolve to
    /// [`EventKind::DataWatchRemoved`](super::EventKind::DataWatchRemoved) or [`EventKind::ChildWatchRemoved`](super::EventKind::ChildWatchRemoved); removed
    /// [`WatchStream`]s end. Events that fired before the removal are still delivered.
    /// Fails with `NoWatcher` if the member has no such watch.
    pub async fn remove_watches(&self, path: &str, kind: WatcherKind) -> Result<()> {
        let path = &self.path_in(path, false)?;
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
}

/// Removes a dropped stream's persistent watch from the member, unless another stream
/// of the session still listens to it or one is being added. The check and the
/// submission happen under the watch table's lock and the pending adds' lock, so an
/// add submitted after the check is sent after the removal (and survives it).
fn forget_stream(
    shared: &std::sync::Weak<Shared>,
    commands: &mpsc::WeakSender<Command>,
    path: &str,
    recursive: bool,
) {
    let (Some(shared), Some(commands)) = (shared.upgrade(), commands.upgrade()) else {
        return;
    };
    if shared.state.current().is_terminal() {
        return;
    }
    let mut table = shared.watches.lock();
    let adds = shared.pending_adds.lock();
    if table.listened(path, recursive) || adds.contains_key(&(recursive, path.to_string())) {
        return;
    }
    let mut r = pb::RemoveWatchesRequest::new();
    r.path = path.to_string();
    r.watcher_type = if recursive {
        WatcherKind::PersistentRecursive
    } else {
        WatcherKind::Persistent
    }
    .to_proto();
    let (reply, _) = oneshot::channel();
    // A full queue leaves the watch on the member until the next reconnect (it is no
    // longer re-registered); nothing is delivered for it either way.
    let _ = commands.try_send(Command {
        op: pb::Request_oneof_op::remove_watches(r),
        linearizable: false,
        reply,
        submitted: Instant::now(),
        hook: Hook::None,
    });
    drop(adds);
    drop(table);
}

/// A hook that registers a one-shot watch, and the future it resolves.
fn one_shot(path: &str, class: OneShotClass, ns: &Namespace) -> (Hook, WatchFuture) {
    let (tx, rx) = oneshot::channel();
    let hook = Hook::Watch(Registration::OneShot {
        path: path.to_string(),
        class,
        tx,
    });
    (hook, WatchFuture::new(rx, ns.clone()))
}
