//! Watches: the public event types, the future and stream handed to callers, and the
//! client-side registration table that routes the ensemble's watch events.
//!
//! The table is owned by the session (shared with the reader task). It is only changed
//! while the reader handles frames, in the order they arrive, so an event is always
//! routed before the response that follows it is handed to its caller, and a watch is
//! registered locally exactly when the response that set it on the member arrives.
//!
//! A persistent watch's stream has no gaps and no repeats across reconnects: each
//! stream knows the zxid up to which it had every event (the last zxid a member
//! answered at on a connection where the watch was registered), re-registers from
//! there so the member replays what it missed, and drops any event not after the last
//! one it delivered (events are named by zxid and change index). When the member can
//! no longer replay that far, the stream ends with [`Error::ResyncNeeded`].
//!
//! Dropping a stream removes its watch from the member, unless another stream of the
//! session still listens on the same path and kind, or one is being added.
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::{mpsc, oneshot};

use super::options::Namespace;
use crate::error::{Error, Result};
use crate::proto::paddock as pb;

/// Upper bound on the path bytes carried by one `SetWatchesRequest` when watches are
/// re-registered after a reconnect (like ZooKeeper's 128 KiB `SetWatches2` chunks).
/// A chunk only exceeds it when a single path alone is longer.
pub const SET_WATCHES_CHUNK_BYTES: usize = 128 * 1024;

/// What happened to a watched node. Mirrors the wire `EventType` (and ZooKeeper's
/// `Watcher.Event.EventType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventKind {
    /// The node was created (exist watches, persistent watches).
    NodeCreated,
    /// The node was deleted (data, exist, child and persistent watches).
    NodeDeleted,
    /// The node's data changed (data, exist and persistent watches).
    NodeDataChanged,
    /// A child was added or removed (child watches and non-recursive persistent
    /// watches; never recursive ones).
    NodeChildrenChanged,
    /// A data or exist watch was removed with [`Client::remove_watches`](crate::Client::remove_watches).
    DataWatchRemoved,
    /// A child watch was removed with [`Client::remove_watches`](crate::Client::remove_watches).
    ChildWatchRemoved,
    /// A persistent watch was removed (never yielded: a removed [`WatchStream`] ends
    /// with [`Error::WatchRemoved`]).
    PersistentWatchRemoved,
    /// The member could not replay what a persistent watch missed. Never yielded: the
    /// stream ends with [`Error::ResyncNeeded`] instead.
    #[doc(hidden)]
    ResyncNeeded,
}

impl EventKind {
    /// The kind for a wire event type; `None` for `NONE`.
    #[doc(hidden)]
    pub fn from_proto(t: pb::EventType) -> Option<EventKind> {
        Some(match t {
            pb::EventType::NONE => return None,
            pb::EventType::NODE_CREATED => EventKind::NodeCreated,
            pb::EventType::NODE_DELETED => EventKind::NodeDeleted,
            pb::EventType::NODE_DATA_CHANGED => EventKind::NodeDataChanged,
            pb::EventType::NODE_CHILDREN_CHANGED => EventKind::NodeChildrenChanged,
            pb::EventType::DATA_WATCH_REMOVED => EventKind::DataWatchRemoved,
            pb::EventType::CHILD_WATCH_REMOVED => EventKind::ChildWatchRemoved,
            pb::EventType::PERSISTENT_WATCH_REMOVED => EventKind::PersistentWatchRemoved,
            pb::EventType::RESYNC_NEEDED => EventKind::ResyncNeeded,
        })
    }

    /// The wire value of this kind.
    #[doc(hidden)]
    pub fn to_proto(self) -> pb::EventType {
        match self {
            EventKind::NodeCreated => pb::EventType::NODE_CREATED,
            EventKind::NodeDeleted => pb::EventType::NODE_DELETED,
            EventKind::NodeDataChanged => pb::EventType::NODE_DATA_CHANGED,
            EventKind::NodeChildrenChanged => pb::EventType::NODE_CHILDREN_CHANGED,
            EventKind::DataWatchRemoved => pb::EventType::DATA_WATCH_REMOVED,
            EventKind::ChildWatchRemoved => pb::EventType::CHILD_WATCH_REMOVED,
            EventKind::PersistentWatchRemoved => pb::EventType::PERSISTENT_WATCH_REMOVED,
            EventKind::ResyncNeeded => pb::EventType::RESYNC_NEEDED,
        }
    }
}

/// One watch notification: what happened, to which node, at which zxid.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WatchedEvent {
    /// What happened.
    pub kind: EventKind,
    /// The node it happened to (for recursive watches: the node below the watched
    /// one that changed).
    pub path: String,
    /// The zxid the member stamped on the event (for watch removals: the zxid of the
    /// removal's response).
    pub zxid: u64,
}

/// Which watches [`Client::remove_watches`](crate::Client::remove_watches) removes.
/// Values match ZooKeeper's `Watcher.WatcherType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WatcherKind {
    /// Child watches (set by `children_watch`).
    Children,
    /// Data and exist watches (set by `get_watch` and `exists_watch`).
    Data,
    /// Every watch on the path: data, exist, child, persistent and recursive.
    Any,
    /// Persistent (non-recursive) watches (`add_watch(path, false)`).
    Persistent,
    /// Persistent recursive watches (`add_watch(path, true)`).
    PersistentRecursive,
}

impl WatcherKind {
    /// The wire value of this kind.
    #[doc(hidden)]
    pub fn to_proto(self) -> pb::WatcherType {
        match self {
            WatcherKind::Children => pb::WatcherType::CHILDREN,
            WatcherKind::Data => pb::WatcherType::DATA,
            WatcherKind::Any => pb::WatcherType::ANY,
            WatcherKind::Persistent => pb::WatcherType::PERSISTENT_WATCHER,
            WatcherKind::PersistentRecursive => pb::WatcherType::PERSISTENT_RECURSIVE_WATCHER,
        }
    }

    fn covers(self, class: WatchClass) -> bool {
        match self {
            WatcherKind::Children => class == WatchClass::Child,
            WatcherKind::Data => matches!(class, WatchClass::Data | WatchClass::Exist),
            WatcherKind::Any => true,
            WatcherKind::Persistent => class == WatchClass::Persistent,
            WatcherKind::PersistentRecursive => class == WatchClass::PersistentRecursive,
        }
    }
}

/// A one-shot watch: resolves exactly once, to the event that fired it, or to an
/// error if the watch can no longer fire.
///
/// - `Ok(event)`: the watched node changed (see [`EventKind`]), or the watch was removed
///   with [`Client::remove_watches`](crate::Client::remove_watches)
///   ([`EventKind::DataWatchRemoved`] / [`EventKind::ChildWatchRemoved`]).
/// - `Err(Error::SessionExpired)` / `Err(Error::Closed)`: the session ended first.
/// - `Err(other)`: the watch could not be re-registered after a reconnect (for example
///   `QuotaExceeded`); it will not fire.
///
/// Dropping the future does not remove the watch from the member; it just discards the
/// notification.
#[derive(Debug)]
#[must_use = "a watch does nothing unless awaited"]
pub struct WatchFuture {
    rx: oneshot::Receiver<Result<WatchedEvent>>,
    /// The namespace of the handle that set it: event paths are given relative to it.
    ns: Namespace,
}

impl WatchFuture {
    pub(crate) fn new(rx: oneshot::Receiver<Result<WatchedEvent>>, ns: Namespace) -> Self {
        WatchFuture { rx, ns }
    }
}

impl Future for WatchFuture {
    type Output = Result<WatchedEvent>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match Pin::new(&mut self.rx).poll(cx) {
            Poll::Ready(Ok(r)) => Poll::Ready(localise(r, &self.ns)),
            // The table was dropped without resolving us: the session is gone.
            Poll::Ready(Err(_)) => Poll::Ready(Err(Error::Closed)),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// A persistent watch as a stream of events, in zxid order. It stays registered
/// across reconnects, and events that happened while the client was disconnected are
/// delivered once it is back, each exactly once.
///
/// Items are `Ok(event)` until the watch ends; then one `Err` says why, and the stream
/// ends (`None`):
/// - [`Error::WatchRemoved`]: it was removed with
///   [`Client::remove_watches`](crate::Client::remove_watches);
/// - [`Error::ResyncNeeded`]: after a reconnect the member could not replay the events
///   the watch missed (its history no longer reaches back that far, or its tree was
///   replaced by a snapshot), so changes up to the error's zxid may be missing: read
///   the state again and add a new watch;
/// - [`Error::SessionExpired`] or [`Error::Closed`]: the session ended;
/// - another error (for example `QuotaExceeded`): the watch could not be re-registered
///   after a reconnect.
///
/// Events are buffered without bound until the stream is polled. Dropping the stream
/// removes the watch from the member (unless another stream of this session watches
/// the same path the same way).
#[must_use = "streams do nothing unless polled"]
pub struct WatchStream {
    rx: mpsc::UnboundedReceiver<Result<WatchedEvent>>,
    /// The namespace of the handle that added it: event paths are given relative to it.
    ns: Namespace,
    /// Removes the watch from the member when the stream is dropped before its end.
    release: Option<Box<dyn FnOnce() + Send + Sync>>,
    ended: bool,
}

impl WatchStream {
    pub(crate) fn new(
        rx: mpsc::UnboundedReceiver<Result<WatchedEvent>>,
        ns: Namespace,
        release: Option<Box<dyn FnOnce() + Send + Sync>>,
    ) -> Self {
        WatchStream {
            rx,
            ns,
            release,
            ended: false,
        }
    }
}

/// An event or watch error with its paths given relative to `ns`.
fn localise(item: Result<WatchedEvent>, ns: &Namespace) -> Result<WatchedEvent> {
    if ns.prefix().is_none() {
        return item;
    }
    match item {
        Ok(mut e) => {
            e.path = ns.local(&e.path);
            Ok(e)
        }
        Err(Error::WatchRemoved { path }) => Err(Error::WatchRemoved {
            path: ns.local(&path),
        }),
        Err(e) => Err(e),
    }
}

impl std::fmt::Debug for WatchStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchStream")
            .field("ended", &self.ended)
            .finish()
    }
}

impl Stream for WatchStream {
    type Item = Result<WatchedEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(Ok(e))) => Poll::Ready(Some(localise(Ok(e), &self.ns))),
            Poll::Ready(Some(Err(e))) => {
                self.ended = true;
                Poll::Ready(Some(localise(Err(e), &self.ns)))
            }
            // The table dropped the watch without a reason: the session is gone.
            Poll::Ready(None) => {
                self.ended = true;
                Poll::Ready(Some(Err(Error::Closed)))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for WatchStream {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        // Nobody listens from here on: the table sees this subscriber as gone.
        self.rx.close();
        if let Some(release) = self.release.take() {
            release();
        }
    }
}

/// Persistent watches being added (request submitted, response not yet handled), by
/// (recursive, path): a dropped stream does not remove the member's watch while one is.
pub(crate) type PendingAdds = Arc<parking_lot::Mutex<HashMap<(bool, String), usize>>>;

/// Counts one persistent watch being added, until dropped (when its response was
/// handled, or the request failed).
#[derive(Debug)]
pub(crate) struct PendingAdd {
    adds: PendingAdds,
    key: (bool, String),
}

impl PendingAdd {
    pub(crate) fn new(adds: &PendingAdds, recursive: bool, path: &str) -> PendingAdd {
        let key = (recursive, path.to_string());
        *adds.lock().entry(key.clone()).or_default() += 1;
        PendingAdd {
            adds: adds.clone(),
            key,
        }
    }
}

impl Drop for PendingAdd {
    fn drop(&mut self) {
        let mut adds = self.adds.lock();
        if let Some(n) = adds.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                adds.remove(&self.key);
            }
        }
    }
}

type OnceTx = oneshot::Sender<Result<WatchedEvent>>;
type StreamTx = mpsc::UnboundedSender<Result<WatchedEvent>>;

/// The `change_index` of events that name no single change: those a member fires at
/// once for re-registered one-shot watches (and `RESYNC_NEEDED`). They never reach a
/// persistent watch's stream as events.
pub(crate) const NO_CHANGE: u32 = u32::MAX;

/// One persistent watch's local end, and how far its stream is known to be complete.
#[derive(Debug)]
struct Subscriber {
    tx: StreamTx,
    /// Every event up to this zxid was delivered: re-register from here.
    through: u64,
    /// The last event delivered, as (zxid, change index): nothing up to it is new.
    last: (u64, u32),
    /// The connection (see [`WatchRegistry::connection_ended`]) on which a member last
    /// confirmed this watch.
    confirmed_on: u64,
}

impl Subscriber {
    /// Delivers `event` unless it is not after the last one; false once nobody listens.
    fn deliver(&mut self, event: &WatchedEvent, index: u32) -> bool {
        let at = (event.zxid, index);
        if at <= self.last {
            return !self.tx.is_closed();
        }
        self.last = at;
        self.tx.send(Ok(event.clone())).is_ok()
    }
}

/// The five kinds of server-side watch registrations (the lists of `SetWatchesRequest`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum WatchClass {
    Data,
    Exist,
    Child,
    Persistent,
    PersistentRecursive,
}

const CLASSES: [WatchClass; 5] = [
    WatchClass::Data,
    WatchClass::Exist,
    WatchClass::Child,
    WatchClass::Persistent,
    WatchClass::PersistentRecursive,
];

/// Which one-shot watch a read request sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OneShotClass {
    /// `get_watch`: a data watch if the read succeeds.
    Data,
    /// `exists_watch`: a data watch if the node exists, else an exist watch.
    Exists,
    /// `children_watch`: a child watch if the read succeeds.
    Child,
}

/// A watch to register locally when its request's response arrives with `OK`.
#[derive(Debug)]
pub(crate) enum Registration {
    OneShot {
        path: String,
        class: OneShotClass,
        tx: OnceTx,
    },
    Persistent {
        path: String,
        recursive: bool,
        tx: StreamTx,
        /// Counts the add until its response is handled.
        _pending: Option<PendingAdd>,
    },
}

/// What the reader does with the watch table when a request's response arrives.
#[derive(Debug, Default)]
pub(crate) enum Hook {
    /// Nothing.
    #[default]
    None,
    /// Register a watch (on `OK`).
    Watch(Registration),
    /// Remove local watches (on `OK` or `NO_WATCHER`).
    Remove { path: String, kind: WatcherKind },
    /// An internal re-registration chunk: on a non-retryable error, its watches are
    /// dropped (they may not be registered on the member).
    Rewatch(Vec<(WatchClass, String)>),
}

#[derive(Debug, Default)]
struct PathWatches {
    data: Vec<OnceTx>,
    exist: Vec<OnceTx>,
    child: Vec<OnceTx>,
    persistent: Vec<Subscriber>,
    recursive: Vec<Subscriber>,
}

impl PathWatches {
    fn is_empty(&self) -> bool {
        self.data.is_empty()
            && self.exist.is_empty()
            && self.child.is_empty()
            && self.persistent.is_empty()
            && self.recursive.is_empty()
    }

    fn once(&mut self, class: WatchClass) -> Option<&mut Vec<OnceTx>> {
        match class {
            WatchClass::Data => Some(&mut self.data),
            WatchClass::Exist => Some(&mut self.exist),
            WatchClass::Child => Some(&mut self.child),
            _ => None,
        }
    }

    fn streams(&mut self, class: WatchClass) -> Option<&mut Vec<Subscriber>> {
        match class {
            WatchClass::Persistent => Some(&mut self.persistent),
            WatchClass::PersistentRecursive => Some(&mut self.recursive),
            _ => None,
        }
    }

    /// Drops waiters nobody listens to any more.
    fn prune(&mut self) {
        for v in [&mut self.data, &mut self.exist, &mut self.child] {
            v.retain(|tx| !tx.is_closed());
        }
        for v in [&mut self.persistent, &mut self.recursive] {
            v.retain(|s| !s.tx.is_closed());
        }
    }

    fn has(&self, class: WatchClass) -> bool {
        match class {
            WatchClass::Data => !self.data.is_empty(),
            WatchClass::Exist => !self.exist.is_empty(),
            WatchClass::Child => !self.child.is_empty(),
            WatchClass::Persistent => !self.persistent.is_empty(),
            WatchClass::PersistentRecursive => !self.recursive.is_empty(),
        }
    }
}

/// The client's watch table: every watch registered on the ensemble, by path and
/// class, with the local waiters it notifies.
#[derive(Debug, Default)]
pub(crate) struct WatchRegistry {
    paths: HashMap<String, PathWatches>,
    /// The last event routed with its change index, to drop an identical repeat.
    last_event: Option<(WatchedEvent, u32)>,
    /// Counts connections: the one whose frames are being handled now.
    conn: u64,
}

impl WatchRegistry {
    /// Registers a watch whose request succeeded, answered at `zxid`. `exists` is
    /// whether the node exists (only used for `exists_watch`).
    pub fn register(&mut self, reg: Registration, exists: bool, zxid: u64) {
        match reg {
            Registration::OneShot { path, class, tx } => {
                let w = self.paths.entry(path).or_default();
                match class {
                    OneShotClass::Data => w.data.push(tx),
                    OneShotClass::Exists if exists => w.data.push(tx),
                    OneShotClass::Exists => w.exist.push(tx),
                    OneShotClass::Child => w.child.push(tx),
                }
            }
            Registration::Persistent {
                path,
                recursive,
                tx,
                _pending: _,
            } => {
                // Set under the member's tree lock at `zxid`: its events come after.
                let stream = Subscriber {
                    tx,
                    through: zxid,
                    last: (zxid, NO_CHANGE),
                    confirmed_on: self.conn,
                };
                let w = self.paths.entry(path).or_default();
                if recursive {
                    w.recursive.push(stream);
                } else {
                    w.persistent.push(stream);
                }
            }
        }
    }

    /// Delivers an event with ZooKeeper's rules and returns how many waiters it reached:
    /// - created / data changed: the data and exist watches of the path (then dropped);
    /// - deleted: the data, exist and child watches of the path (then dropped);
    /// - children changed: the child watches of the path (then dropped);
    /// - every event: the persistent watches of the path;
    /// - every event but children changed: the recursive watches of the path and of
    ///   each of its ancestors;
    /// - resync needed: every persistent and recursive watch of the path, which end.
    ///
    /// `index` is the event's change index ([`NO_CHANGE`] for events that reach
    /// one-shot watches only); a stream never gets an event twice.
    pub fn route(&mut self, event: &WatchedEvent, index: u32) -> usize {
        if self.last_event.as_ref() == Some(&(event.clone(), index)) {
            return 0;
        }
        self.last_event = Some((event.clone(), index));
        if event.kind == EventKind::ResyncNeeded {
            return self.resync(event);
        }
        let streams = index != NO_CHANGE;
        let one_shot: &[WatchClass] = match event.kind {
            EventKind::NodeCreated | EventKind::NodeDataChanged => {
                &[WatchClass::Data, WatchClass::Exist]
            }
            EventKind::NodeDeleted => &[WatchClass::Data, WatchClass::Exist, WatchClass::Child],
            EventKind::NodeChildrenChanged => &[WatchClass::Child],
            // Removal notices are produced locally; the member has nothing to add.
            _ => return 0,
        };
        let mut reached = 0;
        if let Some(w) = self.paths.get_mut(&event.path) {
            for &class in one_shot {
                if let Some(list) = w.once(class) {
                    for tx in list.drain(..) {
                        if tx.send(Ok(event.clone())).is_ok() {
                            reached += 1;
                        }
                    }
                }
            }
            if streams {
                reached += send_all(&mut w.persistent, event, index);
            }
        }
        if streams && event.kind != EventKind::NodeChildrenChanged {
            let mut at = Some(event.path.as_str());
            while let Some(p) = at {
                if let Some(w) = self.paths.get_mut(p) {
                    reached += send_all(&mut w.recursive, event, index);
                }
                at = crate::path::parent(p);
            }
            // Clean up emptied entries on the whole ancestor chain.
            let mut at = Some(event.path.as_str());
            while let Some(p) = at {
                if self.paths.get(p).is_some_and(PathWatches::is_empty) {
                    self.paths.remove(p);
                }
                at = crate::path::parent(p);
            }
        } else if self
            .paths
            .get(&event.path)
            .is_some_and(PathWatches::is_empty)
        {
            self.paths.remove(&event.path);
        }
        reached
    }

    /// Ends the persistent watches of `event.path` with `event` (resync needed).
    fn resync(&mut self, event: &WatchedEvent) -> usize {
        let Some(w) = self.paths.get_mut(&event.path) else {
            return 0;
        };
        let mut reached = 0;
        for s in w.persistent.drain(..).chain(w.recursive.drain(..)) {
            if s.tx
                .send(Err(Error::ResyncNeeded { zxid: event.zxid }))
                .is_ok()
            {
                reached += 1;
            }
        }
        if w.is_empty() {
            self.paths.remove(&event.path);
        }
        reached
    }

    /// The member re-registered these watches on the current connection.
    pub fn confirm(&mut self, watches: &[(WatchClass, String)]) {
        let conn = self.conn;
        for (class, path) in watches {
            if let Some(list) = self.paths.get_mut(path).and_then(|w| w.streams(*class)) {
                for s in list {
                    s.confirmed_on = conn;
                }
            }
        }
    }

    /// The current connection ended; the highest zxid a member answered at on it was
    /// `answered`. Every watch registered on it had all its events up to there (a
    /// member sends events before the responses that follow them).
    pub fn connection_ended(&mut self, answered: u64) {
        for w in self.paths.values_mut() {
            for s in w.persistent.iter_mut().chain(w.recursive.iter_mut()) {
                if s.confirmed_on == self.conn {
                    s.through = s.through.max(answered);
                }
            }
        }
        self.conn += 1;
    }

    /// The live watches to re-register on a new connection, grouped by the
    /// `relative_zxid` each group must be sent with: one-shot watches relative to
    /// `last_zxid` (the client's last seen zxid), persistent ones relative to the zxid
    /// up to which their streams are complete. Persistent groups come first.
    pub fn rewatch_plan(&mut self, last_zxid: u64) -> Vec<(u64, Vec<(WatchClass, String)>)> {
        let mut by_zxid: std::collections::BTreeMap<u64, Vec<(WatchClass, String)>> =
            Default::default();
        let mut one_shot = Vec::new();
        for (class, path) in self.live() {
            let through = self
                .paths
                .get_mut(&path)
                .and_then(|w| w.streams(class))
                .and_then(|list| list.iter().map(|s| s.through).min());
            match through {
                Some(z) => by_zxid.entry(z).or_default().push((class, path)),
                None => one_shot.push((class, path)),
            }
        }
        let mut plan: Vec<_> = by_zxid.into_iter().collect();
        if !one_shot.is_empty() {
            plan.push((last_zxid, one_shot));
        }
        plan
    }

    /// Removes the local watches of `kind` on `path` (after the member removed them):
    /// one-shot waiters resolve to a removal event, streams end.
    pub fn remove(&mut self, path: &str, kind: WatcherKind, zxid: u64) {
        let Some(w) = self.paths.get_mut(path) else {
            return;
        };
        for class in CLASSES {
            if !kind.covers(class) {
                continue;
            }
            let removed = match class {
                WatchClass::Child => EventKind::ChildWatchRemoved,
                _ => EventKind::DataWatchRemoved,
            };
            if let Some(list) = w.once(class) {
                for tx in list.drain(..) {
                    let _ = tx.send(Ok(WatchedEvent {
                        kind: removed,
                        path: path.to_string(),
                        zxid,
                    }));
                }
            }
            if let Some(list) = w.streams(class) {
                for s in list.drain(..) {
                    let _ = s.tx.send(Err(Error::WatchRemoved {
                        path: path.to_string(),
                    }));
                }
            }
        }
        if w.is_empty() {
            self.paths.remove(path);
        }
    }

    /// Drops the given watches because they could not be re-registered: one-shot
    /// waiters get `err`, streams end.
    pub fn drop_watches(&mut self, watches: &[(WatchClass, String)], err: &Error) {
        for (class, path) in watches {
            let Some(w) = self.paths.get_mut(path) else {
                continue;
            };
            if let Some(list) = w.once(*class) {
                for tx in list.drain(..) {
                    let _ = tx.send(Err(err.clone()));
                }
            }
            if let Some(list) = w.streams(*class) {
                for s in list.drain(..) {
                    let _ = s.tx.send(Err(err.clone()));
                }
            }
            if w.is_empty() {
                self.paths.remove(path);
            }
        }
    }

    /// Ends every watch with `err`: one-shot waiters resolve to it, streams yield it
    /// last. Used when the session expires or is closed.
    pub fn fail_all(&mut self, err: &Error) {
        for (_, mut w) in self.paths.drain() {
            for list in [&mut w.data, &mut w.exist, &mut w.child] {
                for tx in list.drain(..) {
                    let _ = tx.send(Err(err.clone()));
                }
            }
            for s in w.persistent.drain(..).chain(w.recursive.drain(..)) {
                let _ = s.tx.send(Err(err.clone()));
            }
        }
    }

    /// Whether a stream still listens to the persistent (`recursive`: recursive) watch on
    /// `path`; forgets the streams that were dropped.
    pub fn listened(&mut self, path: &str, recursive: bool) -> bool {
        let Some(w) = self.paths.get_mut(path) else {
            return false;
        };
        w.prune();
        let class = if recursive {
            WatchClass::PersistentRecursive
        } else {
            WatchClass::Persistent
        };
        let listened = w.has(class);
        if w.is_empty() {
            self.paths.remove(path);
        }
        listened
    }

    /// Every watch somebody still listens to, as (class, path), sorted; forgets the
    /// ones nobody listens to.
    pub fn live(&mut self) -> Vec<(WatchClass, String)> {
        self.paths.retain(|_, w| {
            w.prune();
            !w.is_empty()
        });
        let mut out = Vec::new();
        for (path, w) in &self.paths {
            for class in CLASSES {
                if w.has(class) {
                    out.push((class, path.clone()));
                }
            }
        }
        out.sort();
        out
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }
}

fn send_all(list: &mut Vec<Subscriber>, event: &WatchedEvent, index: u32) -> usize {
    list.retain_mut(|s| s.deliver(event, index));
    list.len()
}

/// Splits watches into re-registration chunks whose path bytes stay within `budget`
/// (a single longer path gets a chunk of its own). Order is preserved.
pub(crate) fn chunk_watches(
    watches: Vec<(WatchClass, String)>,
    budget: usize,
) -> Vec<Vec<(WatchClass, String)>> {
    let mut chunks = Vec::new();
    let mut current = Vec::new();
    let mut bytes = 0usize;
    for (class, path) in watches {
        if !current.is_empty() && bytes + path.len() > budget {
            chunks.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += path.len();
        current.push((class, path));
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

/// Builds the `SetWatchesRequest` for one chunk.
pub(crate) fn set_watches_request(
    relative_zxid: u64,
    chunk: &[(WatchClass, String)],
) -> pb::SetWatchesRequest {
    let mut req = pb::SetWatchesRequest::new();
    req.relative_zxid = relative_zxid;
    for (class, path) in chunk {
        let list = match class {
            WatchClass::Data => &mut req.data_watches,
            WatchClass::Exist => &mut req.exist_watches,
            WatchClass::Child => &mut req.child_watches,
            WatchClass::Persistent => &mut req.persistent_watches,
            WatchClass::PersistentRecursive => &mut req.persistent_recursive_watches,
        };
        list.push(path.clone());
    }
    req
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn ev(kind: EventKind, path: &str, zxid: u64) -> WatchedEvent {
        WatchedEvent {
            kind,
            path: path.into(),
            zxid,
        }
    }

    fn once(reg: &mut WatchRegistry, path: &str, class: OneShotClass, exists: bool) -> WatchFuture {
        let (tx, rx) = oneshot::channel();
        reg.register(
            Registration::OneShot {
                path: path.into(),
                class,
                tx,
            },
            exists,
            0,
        );
        WatchFuture::new(rx, Namespace::default())
    }

    fn stream(reg: &mut WatchRegistry, path: &str, recursive: bool) -> WatchStream {
        stream_at(reg, path, recursive, 0)
    }

    fn fired(f: &mut WatchFuture) -> Option<Result<WatchedEvent>> {
        f.rx.try_recv().ok()
    }

    /// The events a stream has buffered (an error item ends it).
    fn drain(s: &mut WatchStream) -> Vec<WatchedEvent> {
        let mut out = Vec::new();
        while let Ok(Ok(e)) = s.rx.try_recv() {
            out.push(e);
        }
        out
    }

    #[test]
    fn data_change_reaches_data_and_exist_watches_once() {
        let mut reg = WatchRegistry::default();
        let mut d1 = once(&mut reg, "/a", OneShotClass::Data, true);
        let mut d2 = once(&mut reg, "/a", OneShotClass::Data, true);
        let mut ex = once(&mut reg, "/a", OneShotClass::Exists, true); // exists -> data watch
        let mut c = once(&mut reg, "/a", OneShotClass::Child, true);
        let mut other = once(&mut reg, "/ab", OneShotClass::Data, true);
        let e = ev(EventKind::NodeDataChanged, "/a", 7);
        assert_eq!(reg.route(&e, 0), 3);
        assert_eq!(fired(&mut d1), Some(Ok(e.clone())));
        assert_eq!(fired(&mut d2), Some(Ok(e.clone())));
        assert_eq!(fired(&mut ex), Some(Ok(e.clone())));
        assert!(fired(&mut c).is_none());
        assert!(fired(&mut other).is_none());
        // One-shot: a second change reaches nobody.
        assert_eq!(reg.route(&ev(EventKind::NodeDataChanged, "/a", 8), 0), 0);
        // The child watch is still there.
        assert_eq!(
            reg.route(&ev(EventKind::NodeChildrenChanged, "/a", 9), 0),
            1
        );
        assert!(matches!(fired(&mut c), Some(Ok(x)) if x.zxid == 9));
    }

    #[test]
    fn created_reaches_exist_watch_of_missing_node() {
        let mut reg = WatchRegistry::default();
        let mut ex = once(&mut reg, "/n", OneShotClass::Exists, false);
        let mut c = once(&mut reg, "/n", OneShotClass::Child, true);
        assert_eq!(reg.route(&ev(EventKind::NodeCreated, "/n", 3), 0), 1);
        assert!(matches!(fired(&mut ex), Some(Ok(x)) if x.kind == EventKind::NodeCreated));
        assert!(fired(&mut c).is_none());
        assert_eq!(reg.live(), vec![(WatchClass::Child, "/n".to_string())]);
    }

    #[test]
    fn deleted_reaches_data_exist_and_child_watches() {
        let mut reg = WatchRegistry::default();
        let mut d = once(&mut reg, "/x", OneShotClass::Data, true);
        let mut ex = once(&mut reg, "/x", OneShotClass::Exists, false);
        let mut c = once(&mut reg, "/x", OneShotClass::Child, true);
        let mut parent_child = once(&mut reg, "/", OneShotClass::Child, true);
        assert_eq!(reg.route(&ev(EventKind::NodeDeleted, "/x", 5), 0), 3);
        for f in [&mut d, &mut ex, &mut c] {
            assert!(matches!(fired(f), Some(Ok(x)) if x.kind == EventKind::NodeDeleted));
        }
        assert!(fired(&mut parent_child).is_none());
        assert_eq!(reg.live(), vec![(WatchClass::Child, "/".to_string())]);
    }

    #[test]
    fn children_changed_reaches_only_child_and_persistent_watches() {
        let mut reg = WatchRegistry::default();
        let mut d = once(&mut reg, "/p", OneShotClass::Data, true);
        let mut c = once(&mut reg, "/p", OneShotClass::Child, true);
        let mut p = stream(&mut reg, "/p", false);
        let mut r = stream(&mut reg, "/p", true);
        let mut r_root = stream(&mut reg, "/", true);
        assert_eq!(
            reg.route(&ev(EventKind::NodeChildrenChanged, "/p", 4), 0),
            2
        );
        assert!(fired(&mut d).is_none());
        assert!(fired(&mut c).is_some());
        assert_eq!(drain(&mut p).len(), 1);
        assert!(drain(&mut r).is_empty());
        assert!(drain(&mut r_root).is_empty());
    }

    #[test]
    fn persistent_watches_get_every_event_of_their_path_and_stay() {
        let mut reg = WatchRegistry::default();
        let mut p = stream(&mut reg, "/p", false);
        let kinds = [
            EventKind::NodeCreated,
            EventKind::NodeDataChanged,
            EventKind::NodeChildrenChanged,
            EventKind::NodeDeleted,
        ];
        for (i, k) in kinds.iter().enumerate() {
            assert_eq!(reg.route(&ev(*k, "/p", i as u64 + 1), 0), 1);
        }
        // Not for children or parents.
        assert_eq!(reg.route(&ev(EventKind::NodeCreated, "/p/c", 10), 0), 0);
        assert_eq!(reg.route(&ev(EventKind::NodeCreated, "/", 11), 0), 0);
        let got: Vec<EventKind> = drain(&mut p).into_iter().map(|e| e.kind).collect();
        assert_eq!(got, kinds.to_vec());
        assert_eq!(reg.live(), vec![(WatchClass::Persistent, "/p".to_string())]);
    }

    #[test]
    fn recursive_watches_match_ancestors_or_self_only() {
        let mut reg = WatchRegistry::default();
        let mut root = stream(&mut reg, "/", true);
        let mut a = stream(&mut reg, "/a", true);
        let mut ab = stream(&mut reg, "/a/b", true);
        let mut sibling = stream(&mut reg, "/ab", true);
        let mut deeper = stream(&mut reg, "/a/b/c/d", true);
        assert_eq!(reg.route(&ev(EventKind::NodeCreated, "/a/b/c", 1), 0), 3);
        assert_eq!(reg.route(&ev(EventKind::NodeDataChanged, "/a", 2), 0), 2);
        assert_eq!(reg.route(&ev(EventKind::NodeDeleted, "/a/b", 3), 0), 3);
        assert_eq!(
            reg.route(&ev(EventKind::NodeChildrenChanged, "/a", 4), 0),
            0
        );
        assert_eq!(drain(&mut root).len(), 3);
        assert_eq!(drain(&mut a).len(), 3);
        let ab_events = drain(&mut ab);
        assert_eq!(ab_events.len(), 2);
        assert_eq!(ab_events[0].path, "/a/b/c");
        assert!(drain(&mut sibling).is_empty());
        assert!(drain(&mut deeper).is_empty());
    }

    #[test]
    fn identical_repeat_is_dropped() {
        let mut reg = WatchRegistry::default();
        let mut p = stream(&mut reg, "/p", false);
        let e = ev(EventKind::NodeDeleted, "/p", 9);
        assert_eq!(reg.route(&e, 0), 1);
        assert_eq!(reg.route(&e, 0), 0);
        assert_eq!(drain(&mut p).len(), 1);
    }

    fn stream_at(reg: &mut WatchRegistry, path: &str, recursive: bool, zxid: u64) -> WatchStream {
        let (tx, rx) = mpsc::unbounded_channel();
        reg.register(
            Registration::Persistent {
                path: path.into(),
                recursive,
                tx,
                _pending: None,
            },
            true,
            zxid,
        );
        WatchStream::new(rx, Namespace::default(), None)
    }

    #[test]
    fn a_stream_gets_each_change_once_however_often_it_is_replayed() {
        let mut reg = WatchRegistry::default();
        let mut r = stream_at(&mut reg, "/p", true, 10);
        // Before its registration: not for it.
        reg.route(&ev(EventKind::NodeCreated, "/p/old", 10), 0);
        // One multi changing two nodes under /p at zxid 11, then a replay of both
        // (a reconnect) interleaved with a repeat of the first.
        let a = ev(EventKind::NodeCreated, "/p/a", 11);
        let b = ev(EventKind::NodeDataChanged, "/p/a", 11);
        reg.route(&a, 0);
        reg.route(&b, 1);
        reg.route(&a, 0);
        reg.route(&b, 1);
        let c = ev(EventKind::NodeDeleted, "/p/a", 12);
        reg.route(&c, 0);
        assert_eq!(drain(&mut r), vec![a, b, c]);
    }

    #[test]
    fn re_registered_one_shot_watches_firing_at_once_do_not_reach_streams() {
        let mut reg = WatchRegistry::default();
        let mut p = stream_at(&mut reg, "/n", false, 1);
        let mut d = once(&mut reg, "/n", OneShotClass::Data, true);
        let e = ev(EventKind::NodeDataChanged, "/n", 7);
        assert_eq!(reg.route(&e, NO_CHANGE), 1);
        assert_eq!(fired(&mut d), Some(Ok(e)));
        assert!(drain(&mut p).is_empty());
    }

    #[test]
    fn resync_needed_ends_every_persistent_watch_of_the_path() {
        let mut reg = WatchRegistry::default();
        let mut p = stream_at(&mut reg, "/n", false, 1);
        let mut r = stream_at(&mut reg, "/n", true, 1);
        let mut other = stream_at(&mut reg, "/m", true, 1);
        let resync = ev(EventKind::ResyncNeeded, "/n", 9);
        assert_eq!(reg.route(&resync, NO_CHANGE), 2);
        for s in [&mut p, &mut r] {
            assert_eq!(s.rx.try_recv(), Ok(Err(Error::ResyncNeeded { zxid: 9 })));
            assert_eq!(
                s.rx.try_recv(),
                Err(mpsc::error::TryRecvError::Disconnected)
            );
        }
        assert!(drain(&mut other).is_empty());
        assert_eq!(
            reg.live(),
            vec![(WatchClass::PersistentRecursive, "/m".to_string())]
        );
    }

    #[test]
    fn re_registration_starts_where_each_stream_is_complete() {
        let mut reg = WatchRegistry::default();
        let _a = stream_at(&mut reg, "/a", false, 5);
        let _d = once(&mut reg, "/d", OneShotClass::Data, true);
        // The connection ends after answering at 20: /a had everything up to 20.
        reg.connection_ended(20);
        // /b is added on the next connection at 25, which ends before the member
        // confirmed /a again (no response to its re-registration): /a stays at 20.
        let _b = stream_at(&mut reg, "/b", true, 25);
        reg.connection_ended(30);
        assert_eq!(
            reg.rewatch_plan(31),
            vec![
                (20, vec![(WatchClass::Persistent, "/a".to_string())]),
                (
                    30,
                    vec![(WatchClass::PersistentRecursive, "/b".to_string())]
                ),
                (31, vec![(WatchClass::Data, "/d".to_string())]),
            ]
        );
        // Confirmed on the third connection, which answers up to 40: both move on.
        reg.confirm(&[(WatchClass::Persistent, "/a".to_string())]);
        reg.confirm(&[(WatchClass::PersistentRecursive, "/b".to_string())]);
        reg.connection_ended(40);
        assert_eq!(
            reg.rewatch_plan(41),
            vec![
                (
                    40,
                    vec![
                        (WatchClass::Persistent, "/a".to_string()),
                        (WatchClass::PersistentRecursive, "/b".to_string())
                    ]
                ),
                (41, vec![(WatchClass::Data, "/d".to_string())]),
            ]
        );
    }

    #[test]
    fn dropped_waiters_are_pruned() {
        let mut reg = WatchRegistry::default();
        drop(stream(&mut reg, "/gone", false));
        drop(once(&mut reg, "/gone2", OneShotClass::Data, true));
        let _keep = once(&mut reg, "/kept", OneShotClass::Child, true);
        assert_eq!(reg.live(), vec![(WatchClass::Child, "/kept".to_string())]);
        assert_eq!(reg.route(&ev(EventKind::NodeCreated, "/gone", 1), 0), 0);
    }

    #[test]
    fn remove_by_kind() {
        let mut reg = WatchRegistry::default();
        let mut d = once(&mut reg, "/r", OneShotClass::Data, true);
        let mut ex = once(&mut reg, "/r", OneShotClass::Exists, false);
        let mut c = once(&mut reg, "/r", OneShotClass::Child, true);
        let mut p = stream(&mut reg, "/r", false);
        let mut r = stream(&mut reg, "/r", true);
        reg.remove("/r", WatcherKind::Data, 12);
        assert!(
            matches!(fired(&mut d), Some(Ok(x)) if x.kind == EventKind::DataWatchRemoved && x.zxid == 12)
        );
        assert!(matches!(fired(&mut ex), Some(Ok(x)) if x.kind == EventKind::DataWatchRemoved));
        assert!(fired(&mut c).is_none());
        reg.remove("/r", WatcherKind::Persistent, 13);
        assert_eq!(
            p.rx.try_recv(),
            Ok(Err(Error::WatchRemoved { path: "/r".into() })),
            "a removed stream says so last"
        );
        assert!(matches!(
            p.rx.try_recv(),
            Err(mpsc::error::TryRecvError::Disconnected)
        ));
        assert_eq!(
            reg.live(),
            vec![
                (WatchClass::Child, "/r".to_string()),
                (WatchClass::PersistentRecursive, "/r".to_string())
            ]
        );
        reg.remove("/r", WatcherKind::Any, 14);
        assert!(matches!(fired(&mut c), Some(Ok(x)) if x.kind == EventKind::ChildWatchRemoved));
        assert_eq!(
            r.rx.try_recv(),
            Ok(Err(Error::WatchRemoved { path: "/r".into() }))
        );
        assert!(matches!(
            r.rx.try_recv(),
            Err(mpsc::error::TryRecvError::Disconnected)
        ));
        assert!(reg.is_empty());
    }

    #[test]
    fn a_dropped_stream_no_longer_listens_and_its_end_is_reported_once() {
        let mut reg = WatchRegistry::default();
        let a = stream(&mut reg, "/d", true);
        let mut b = stream(&mut reg, "/d", true);
        assert!(reg.listened("/d", true));
        assert!(!reg.listened("/d", false));
        drop(a);
        assert!(reg.listened("/d", true), "the other stream still listens");
        reg.fail_all(&Error::Closed);
        let mut items = Vec::new();
        while let Some(item) = futures::executor::block_on(futures::StreamExt::next(&mut b)) {
            items.push(item);
        }
        assert_eq!(
            items,
            vec![Err(Error::Closed)],
            "one error item, then the end"
        );
        drop(b);
        assert!(!reg.listened("/d", true));
    }

    #[test]
    fn fail_all_resolves_one_shots_and_ends_streams() {
        let mut reg = WatchRegistry::default();
        let mut d = once(&mut reg, "/f", OneShotClass::Data, true);
        let mut p = stream(&mut reg, "/f", true);
        reg.fail_all(&Error::SessionExpired);
        assert_eq!(fired(&mut d), Some(Err(Error::SessionExpired)));
        assert_eq!(p.rx.try_recv(), Ok(Err(Error::SessionExpired)));
        assert!(matches!(
            p.rx.try_recv(),
            Err(mpsc::error::TryRecvError::Disconnected)
        ));
        assert!(reg.is_empty());
    }

    #[test]
    fn drop_watches_only_touches_the_chunk() {
        let mut reg = WatchRegistry::default();
        let mut d = once(&mut reg, "/q", OneShotClass::Data, true);
        let mut c = once(&mut reg, "/q", OneShotClass::Child, true);
        let err = Error::Server {
            code: crate::Code::QuotaExceeded,
            message: "too many".into(),
        };
        reg.drop_watches(&[(WatchClass::Data, "/q".to_string())], &err);
        assert_eq!(fired(&mut d), Some(Err(err)));
        assert!(fired(&mut c).is_none());
        assert_eq!(reg.live(), vec![(WatchClass::Child, "/q".to_string())]);
    }

    #[tokio::test]
    async fn watch_future_resolves_once() {
        let mut reg = WatchRegistry::default();
        let f = once(&mut reg, "/w", OneShotClass::Data, true);
        reg.route(&ev(EventKind::NodeDataChanged, "/w", 2), 0);
        assert_eq!(f.await, Ok(ev(EventKind::NodeDataChanged, "/w", 2)));
        // A future whose table is gone resolves to Closed.
        let mut reg = WatchRegistry::default();
        let f = once(&mut reg, "/w", OneShotClass::Data, true);
        drop(reg);
        assert_eq!(f.await, Err(Error::Closed));
    }

    fn check_chunks(watches: Vec<(WatchClass, String)>, budget: usize) {
        let chunks = chunk_watches(watches.clone(), budget);
        let mut seen = Vec::new();
        for chunk in &chunks {
            assert!(!chunk.is_empty());
            let bytes: usize = chunk.iter().map(|(_, p)| p.len()).sum();
            assert!(
                bytes <= budget || chunk.len() == 1,
                "chunk of {bytes} bytes"
            );
            // Kinds survive the conversion to the wire message.
            let req = set_watches_request(42, chunk);
            assert_eq!(req.relative_zxid, 42);
            let total = req.data_watches.len()
                + req.exist_watches.len()
                + req.child_watches.len()
                + req.persistent_watches.len()
                + req.persistent_recursive_watches.len();
            assert_eq!(total, chunk.len());
            for (class, path) in chunk {
                let list = match class {
                    WatchClass::Data => &req.data_watches,
                    WatchClass::Exist => &req.exist_watches,
                    WatchClass::Child => &req.child_watches,
                    WatchClass::Persistent => &req.persistent_watches,
                    WatchClass::PersistentRecursive => &req.persistent_recursive_watches,
                };
                assert!(list.contains(path));
            }
            seen.extend(chunk.iter().cloned());
        }
        // Every watch exactly once, in order.
        assert_eq!(seen, watches);
    }

    #[test]
    fn chunks_respect_the_budget() {
        let mut watches = Vec::new();
        for i in 0..20_000 {
            let class = CLASSES[i % CLASSES.len()];
            watches.push((class, format!("/some/fairly/long/path/number/{i:08}")));
        }
        let chunks = chunk_watches(watches.clone(), SET_WATCHES_CHUNK_BYTES);
        assert!(chunks.len() > 1);
        check_chunks(watches, SET_WATCHES_CHUNK_BYTES);
        check_chunks(Vec::new(), SET_WATCHES_CHUNK_BYTES);
        // A path longer than the budget travels alone.
        let big = format!("/{}", "x".repeat(100));
        check_chunks(
            vec![
                (WatchClass::Data, "/a".into()),
                (WatchClass::Child, big),
                (WatchClass::Exist, "/b".into()),
            ],
            50,
        );
    }

    #[test]
    fn chunking_quickcheck() {
        fn prop(paths: Vec<(u8, String)>, budget: u16) -> bool {
            let budget = usize::from(budget) + 1;
            let watches: Vec<(WatchClass, String)> = paths
                .into_iter()
                .map(|(k, p)| (CLASSES[usize::from(k) % CLASSES.len()], format!("/{p}")))
                .collect();
            check_chunks(watches, budget);
            true
        }
        quickcheck::quickcheck(prop as fn(Vec<(u8, String)>, u16) -> bool);
    }

    #[test]
    fn live_lists_each_class_and_path_once() {
        let mut reg = WatchRegistry::default();
        let _a = once(&mut reg, "/a", OneShotClass::Data, true);
        let _b = once(&mut reg, "/a", OneShotClass::Data, true);
        let _c = once(&mut reg, "/a", OneShotClass::Exists, false);
        let _d = stream(&mut reg, "/a", true);
        let _e = stream(&mut reg, "/b", false);
        let live = reg.live();
        let unique: HashSet<_> = live.iter().cloned().collect();
        assert_eq!(unique.len(), live.len());
        assert_eq!(
            live,
            vec![
                (WatchClass::Data, "/a".to_string()),
                (WatchClass::Exist, "/a".to_string()),
                (WatchClass::Persistent, "/b".to_string()),
                (WatchClass::PersistentRecursive, "/a".to_string()),
            ]
        );
    }
}
