//! Watches, kept per member: which connection waits for which change, and the
//! fan-out of the tree's change events to them.
//!
//! The tree never knows about watches: the Raft loop hands every applied change list
//! to [`Hub::fire`] (while it still holds the tree's write lock), and the hub turns
//! changes into `WatchEvent`s on the connections' event channels. Reads that set a
//! watch register it while they hold the tree's read lock. Together this gives:
//! - no lost events: a watch set by a read sees every change after the state that
//!   read returned;
//! - a client sees a watch event before any response that reflects the change (the
//!   event is queued before the tree's new state is visible, and connections write
//!   queued events before responses);
//! - events reach a connection in zxid order.
//!
//! Every event carries its zxid and its position among its transaction's changes, so
//! a client can tell a repeat from a new event. The hub keeps a bounded history of
//! recent changes ([`history`]); a persistent watch re-registered after a reconnect
//! gets what it missed since the zxid its client names, or one `RESYNC_NEEDED` event
//! (and no registration) when the history no longer reaches back that far.
//!
//! Rules (ZooKeeper 3.9's): one-shot data watches (getData, and exists on an existing
//! node) fire on NodeDataChanged / NodeDeleted, exist watches (exists on a missing node)
//! on NodeCreated, child watches (getChildren) on NodeChildrenChanged / NodeDeleted;
//! a one-shot watch fires once and is gone. Persistent watches fire on every event of
//! their node; persistent-recursive watches on NodeCreated, NodeDeleted and
//! NodeDataChanged of their node and every node below it. A connection gets at most
//! one event per change, however many of its watches match.
//!
//! Limits: at most `max_per_session` watches per connection (one session has one
//! connection at a time); one more gets QuotaExceeded. At most [`EVENT_BACKLOG_BYTES`]
//! of events wait for a connection to write them: a connection whose client reads
//! slower than its watches fire gets [`ConnEvent::Overflow`] instead of the next event,
//! and nothing after it, and ends (its client reconnects and re-registers its watches).
pub mod history;
pub mod set_watches;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use paddock::proto::paddock as pb;
use parking_lot::Mutex;
use tokio::sync::mpsc::{self, error::TryRecvError, UnboundedReceiver, UnboundedSender};

use crate::tree::{Change, ChangeKind};
use history::{Gap, History};

/// Identifies one client connection on this member.
pub type ConnId = u64;

/// What the hub sends to a connection.
#[derive(Debug, Clone)]
pub enum ConnEvent {
    /// A watch fired.
    Watch(pb::WatchEvent),
    /// The connection must end: its session was closed or expired, or this member's
    /// tree was replaced by a snapshot (the client reconnects and re-registers its
    /// watches, which then fire for whatever changed).
    Close,
    /// The connection must end: more than [`EVENT_BACKLOG_BYTES`] of events waited for
    /// it (its client reads too slowly); later events were not queued.
    Overflow,
}

/// The `change_index` of an event that names no single change of a transaction (a
/// re-registered one-shot watch firing at once, `RESYNC_NEEDED`); clients never hand
/// such an event to a persistent watch.
pub const NO_CHANGE: u32 = u32::MAX;

/// Most bytes of watch events queued for one connection (a path's length plus 32 each).
pub const EVENT_BACKLOG_BYTES: usize = 1 << 20;

fn event_bytes(ev: &ConnEvent) -> usize {
    match ev {
        ConnEvent::Watch(e) => e.path.len() + 32,
        ConnEvent::Close | ConnEvent::Overflow => 0,
    }
}

/// Where the hub puts a connection's events: never blocks, and holds at most
/// [`EVENT_BACKLOG_BYTES`] of them (then one `Overflow`, then nothing).
pub struct EventSink {
    tx: UnboundedSender<ConnEvent>,
    queued: Arc<AtomicUsize>,
    overflowed: bool,
}

/// The connection's end of its event queue; taking an event frees its bytes.
pub struct EventQueue {
    rx: UnboundedReceiver<ConnEvent>,
    queued: Arc<AtomicUsize>,
}

/// A new connection's event queue.
pub fn event_channel() -> (EventSink, EventQueue) {
    let (tx, rx) = mpsc::unbounded_channel();
    let queued = Arc::new(AtomicUsize::new(0));
    (
        EventSink {
            tx,
            queued: queued.clone(),
            overflowed: false,
        },
        EventQueue { rx, queued },
    )
}

impl EventSink {
    fn deliver(&mut self, ev: ConnEvent) {
        if self.overflowed {
            return;
        }
        let n = event_bytes(&ev);
        if self.queued.load(Ordering::Acquire) + n > EVENT_BACKLOG_BYTES {
            self.overflowed = true;
            let _ = self.tx.send(ConnEvent::Overflow);
            return;
        }
        self.queued.fetch_add(n, Ordering::AcqRel);
        let _ = self.tx.send(ev);
    }
}

impl EventQueue {
    fn taken(&self, ev: &ConnEvent) {
        self.queued.fetch_sub(event_bytes(ev), Ordering::AcqRel);
    }

    /// The next event; `None` once the hub forgot the connection and all were taken.
    pub async fn recv(&mut self) -> Option<ConnEvent> {
        let ev = self.rx.recv().await?;
        self.taken(&ev);
        Some(ev)
    }

    /// The next event if one is queued.
    pub fn try_recv(&mut self) -> Result<ConnEvent, TryRecvError> {
        let ev = self.rx.try_recv()?;
        self.taken(&ev);
        Ok(ev)
    }
}

/// Kinds of watch a connection can hold on a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WatchKind {
    /// One-shot: data changes and deletion (getData; exists on an existing node), and
    /// creation (exists on a missing node).
    Data,
    /// One-shot: children changes and deletion (getChildren).
    Child,
    /// Every event of the node until removed.
    Persistent,
    /// Created/deleted/data events of the node and its descendants until removed.
    PersistentRecursive,
}

struct Conn {
    session: u64,
    sink: EventSink,
    watches: usize,
}

struct Inner {
    conns: HashMap<ConnId, Conn>,
    by_session: HashMap<u64, HashSet<ConnId>>,
    table: HashMap<WatchKind, HashMap<String, HashSet<ConnId>>>,
    total: usize,
    history: History,
}

impl Inner {
    fn map(&mut self, kind: WatchKind) -> &mut HashMap<String, HashSet<ConnId>> {
        self.table.entry(kind).or_default()
    }

    fn take(&mut self, kind: WatchKind, path: &str, out: &mut HashSet<ConnId>) {
        let Some(set) = self.table.get_mut(&kind).and_then(|m| m.remove(path)) else {
            return;
        };
        for c in set {
            if let Some(conn) = self.conns.get_mut(&c) {
                conn.watches = conn.watches.saturating_sub(1);
            }
            self.total = self.total.saturating_sub(1);
            out.insert(c);
        }
    }

    fn peek(&self, kind: WatchKind, path: &str, out: &mut HashSet<ConnId>) {
        if let Some(set) = self.table.get(&kind).and_then(|m| m.get(path)) {
            out.extend(set.iter().copied());
        }
    }
}

/// The watch registry of one member, shared by connections and the apply path.
pub struct Hub {
    inner: Mutex<Inner>,
    next_conn: AtomicU64,
    max_per_session: usize,
}

/// Refusal of a new watch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("watch limit of {0} per session reached")]
pub struct TooManyWatches(pub usize);

fn event(kind: pb::EventType, path: &str, zxid: u64, index: u32) -> pb::WatchEvent {
    let mut e = pb::WatchEvent::new();
    e.field_type = kind;
    e.path = path.to_string();
    e.zxid = zxid;
    e.change_index = index;
    e
}

fn event_type(kind: ChangeKind) -> pb::EventType {
    match kind {
        ChangeKind::NodeCreated => pb::EventType::NODE_CREATED,
        ChangeKind::NodeDeleted => pb::EventType::NODE_DELETED,
        ChangeKind::NodeDataChanged => pb::EventType::NODE_DATA_CHANGED,
        ChangeKind::NodeChildrenChanged => pb::EventType::NODE_CHILDREN_CHANGED,
    }
}

/// Whether `path` is `root` or below it.
fn at_or_below(path: &str, root: &str) -> bool {
    let mut p = path;
    loop {
        if p == root {
            return true;
        }
        match paddock::path::parent(p) {
            Some(parent) => p = parent,
            None => return false,
        }
    }
}

impl Hub {
    /// An empty hub with a per-session watch limit, for a tree at zxid 0.
    pub fn new(max_per_session: usize) -> Hub {
        Hub::with_history(max_per_session, 0, history::HISTORY_BYTES)
    }

    /// An empty hub for a tree at `zxid`, whose change history holds at most
    /// `history_bytes`.
    pub fn with_history(max_per_session: usize, zxid: u64, history_bytes: usize) -> Hub {
        Hub {
            inner: Mutex::new(Inner {
                conns: HashMap::new(),
                by_session: HashMap::new(),
                table: HashMap::new(),
                total: 0,
                history: History::new(zxid, history_bytes),
            }),
            next_conn: AtomicU64::new(1),
            max_per_session,
        }
    }

    /// Registers a connection of `session` and where its events go.
    pub fn register_conn(&self, session: u64, sink: EventSink) -> ConnId {
        let id = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let mut inner = self.inner.lock();
        inner.conns.insert(
            id,
            Conn {
                session,
                sink,
                watches: 0,
            },
        );
        inner.by_session.entry(session).or_default().insert(id);
        id
    }

    /// Forgets a connection and every watch it held.
    pub fn unregister_conn(&self, conn: ConnId) {
        let mut inner = self.inner.lock();
        let Some(c) = inner.conns.remove(&conn) else {
            return;
        };
        if let Some(set) = inner.by_session.get_mut(&c.session) {
            set.remove(&conn);
            if set.is_empty() {
                inner.by_session.remove(&c.session);
            }
        }
        let mut removed = 0;
        for map in inner.table.values_mut() {
            map.retain(|_, set| {
                if set.remove(&conn) {
                    removed += 1;
                }
                !set.is_empty()
            });
        }
        inner.total = inner.total.saturating_sub(removed);
    }

    /// Adds a watch for a connection (idempotent).
    pub fn add(&self, conn: ConnId, kind: WatchKind, path: &str) -> Result<(), TooManyWatches> {
        let mut inner = self.inner.lock();
        let max = self.max_per_session;
        let count = match inner.conns.get(&conn) {
            Some(c) => c.watches,
            None => return Ok(()),
        };
        let present = inner
            .table
            .get(&kind)
            .and_then(|m| m.get(path))
            .is_some_and(|s| s.contains(&conn));
        if present {
            return Ok(());
        }
        if count >= max {
            return Err(TooManyWatches(max));
        }
        inner
            .map(kind)
            .entry(path.to_string())
            .or_default()
            .insert(conn);
        inner.total += 1;
        if let Some(c) = inner.conns.get_mut(&conn) {
            c.watches += 1;
        }
        Ok(())
    }

    /// Removes a connection's watches of the given kinds on `path`; whether any was there.
    pub fn remove(&self, conn: ConnId, kinds: &[WatchKind], path: &str) -> bool {
        let mut inner = self.inner.lock();
        let mut any = false;
        for kind in kinds {
            let mut gone = false;
            if let Some(map) = inner.table.get_mut(kind) {
                if let Some(set) = map.get_mut(path) {
                    gone = set.remove(&conn);
                    if set.is_empty() {
                        map.remove(path);
                    }
                }
            }
            if gone {
                any = true;
                inner.total = inner.total.saturating_sub(1);
                if let Some(c) = inner.conns.get_mut(&conn) {
                    c.watches = c.watches.saturating_sub(1);
                }
            }
        }
        any
    }

    /// Sends one event that names no single change (stamped [`NO_CHANGE`]) to one
    /// connection: re-registered one-shot watches that fire at once, `RESYNC_NEEDED`.
    pub fn send(&self, conn: ConnId, kind: pb::EventType, path: &str, zxid: u64) {
        let mut inner = self.inner.lock();
        if let Some(c) = inner.conns.get_mut(&conn) {
            c.sink
                .deliver(ConnEvent::Watch(event(kind, path, zxid, NO_CHANGE)));
        }
    }

    /// Sends `conn` every change after `since` that persistent watches on
    /// `persistent` (non-recursive) or `recursive` paths would have fired, oldest
    /// first, one event per change, stamped as when it happened. Called with the tree
    /// read-locked, so the history ends at the tree's state and later changes fire
    /// the watches once registered. A [`Gap`] (nothing sent) when the history no
    /// longer reaches back to `since`.
    pub fn replay(
        &self,
        conn: ConnId,
        since: u64,
        persistent: &[String],
        recursive: &[String],
    ) -> Result<usize, Gap> {
        let mut guard = self.inner.lock();
        let inner = &mut *guard;
        let changes = inner.history.since(since)?;
        let Some(c) = inner.conns.get_mut(&conn) else {
            return Ok(0);
        };
        let exact: HashSet<&str> = persistent.iter().map(String::as_str).collect();
        let mut sent = 0;
        for r in changes {
            let hit = exact.contains(r.path.as_str())
                || (r.kind != ChangeKind::NodeChildrenChanged
                    && recursive.iter().any(|root| at_or_below(&r.path, root)));
            if hit {
                let ev = event(event_type(r.kind), &r.path, r.zxid, r.index);
                c.sink.deliver(ConnEvent::Watch(ev));
                sent += 1;
            }
        }
        Ok(sent)
    }

    /// The zxid after which this member's change history is complete.
    pub fn history_complete_after(&self) -> u64 {
        self.inner.lock().history.complete_after()
    }

    /// Fires the watches matched by the changes of the transaction at `zxid`, and
    /// records them in the history. Called by the apply path, in zxid order, while it
    /// holds the tree's write lock.
    pub fn fire(&self, zxid: u64, changes: &[Change]) {
        let mut inner = self.inner.lock();
        inner.history.record(zxid, changes);
        if inner.total == 0 {
            return;
        }
        for (index, change) in changes.iter().enumerate() {
            let path = change.path.as_str();
            let mut hit = HashSet::new();
            let kind = match change.kind {
                ChangeKind::NodeCreated => {
                    inner.take(WatchKind::Data, path, &mut hit);
                    pb::EventType::NODE_CREATED
                }
                ChangeKind::NodeDeleted => {
                    inner.take(WatchKind::Data, path, &mut hit);
                    inner.take(WatchKind::Child, path, &mut hit);
                    pb::EventType::NODE_DELETED
                }
                ChangeKind::NodeDataChanged => {
                    inner.take(WatchKind::Data, path, &mut hit);
                    pb::EventType::NODE_DATA_CHANGED
                }
                ChangeKind::NodeChildrenChanged => {
                    inner.take(WatchKind::Child, path, &mut hit);
                    pb::EventType::NODE_CHILDREN_CHANGED
                }
            };
            inner.peek(WatchKind::Persistent, path, &mut hit);
            if change.kind != ChangeKind::NodeChildrenChanged
                && inner
                    .table
                    .get(&WatchKind::PersistentRecursive)
                    .is_some_and(|m| !m.is_empty())
            {
                let mut p = path;
                loop {
                    inner.peek(WatchKind::PersistentRecursive, p, &mut hit);
                    match paddock::path::parent(p) {
                        Some(parent) => p = parent,
                        None => break,
                    }
                }
            }
            if hit.is_empty() {
                continue;
            }
            let ev = event(kind, path, zxid, u32::try_from(index).unwrap_or(u32::MAX));
            let mut targets: Vec<ConnId> = hit.into_iter().collect();
            targets.sort_unstable();
            for c in targets {
                if let Some(conn) = inner.conns.get_mut(&c) {
                    conn.sink.deliver(ConnEvent::Watch(ev.clone()));
                }
            }
        }
    }

    /// Tells the connections of a session that it has ended.
    pub fn session_ended(&self, session: u64) {
        let mut inner = self.inner.lock();
        let conns: Vec<ConnId> = inner
            .by_session
            .get(&session)
            .map(|set| set.iter().copied().collect())
            .unwrap_or_default();
        for c in conns {
            if let Some(conn) = inner.conns.get_mut(&c) {
                conn.sink.deliver(ConnEvent::Close);
            }
        }
    }

    /// Tells every connection to end (this member cannot vouch for its sessions).
    pub fn close_all(&self) {
        let mut inner = self.inner.lock();
        for conn in inner.conns.values_mut() {
            conn.sink.deliver(ConnEvent::Close);
        }
    }

    /// The tree was replaced by a snapshot at `zxid`: what changed is unknown, so the
    /// history starts again there and every connection is told to end (its client
    /// reconnects and re-registers its watches).
    pub fn tree_replaced(&self, zxid: u64) {
        let mut inner = self.inner.lock();
        inner.history.reset(zxid);
        for conn in inner.conns.values_mut() {
            conn.sink.deliver(ConnEvent::Close);
        }
    }

    /// Client connections currently registered on this member.
    pub fn connections(&self) -> usize {
        self.inner.lock().conns.len()
    }

    /// Watches currently registered on this member.
    pub fn count(&self) -> usize {
        self.inner.lock().total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(kind: ChangeKind, path: &str) -> Change {
        Change {
            kind,
            path: path.to_string(),
        }
    }

    fn drain(rx: &mut EventQueue) -> Vec<(pb::EventType, String)> {
        let mut out = Vec::new();
        while let Ok(ConnEvent::Watch(e)) = rx.try_recv() {
            out.push((e.field_type, e.path));
        }
        out
    }

    #[test]
    fn one_shot_fires_once_persistent_stays() {
        let hub = Hub::new(100);
        let (tx, mut rx) = event_channel();
        let c = hub.register_conn(7, tx);
        hub.add(c, WatchKind::Data, "/a").expect("add");
        hub.add(c, WatchKind::Persistent, "/a").expect("add");
        hub.fire(5, &[change(ChangeKind::NodeDataChanged, "/a")]);
        // One event although two watches matched.
        assert_eq!(
            drain(&mut rx),
            vec![(pb::EventType::NODE_DATA_CHANGED, "/a".into())]
        );
        hub.fire(6, &[change(ChangeKind::NodeDataChanged, "/a")]);
        assert_eq!(drain(&mut rx).len(), 1, "the persistent watch stays");
        assert_eq!(hub.count(), 1);
        hub.unregister_conn(c);
        assert_eq!(hub.count(), 0);
    }

    #[test]
    fn child_and_recursive_rules() {
        let hub = Hub::new(100);
        let (tx, mut rx) = event_channel();
        let c = hub.register_conn(1, tx);
        hub.add(c, WatchKind::Child, "/p").expect("add");
        hub.add(c, WatchKind::PersistentRecursive, "/p")
            .expect("add");
        hub.fire(
            9,
            &[
                change(ChangeKind::NodeCreated, "/p/x/y"),
                change(ChangeKind::NodeChildrenChanged, "/p/x"),
            ],
        );
        // Recursive sees the create below; it never sees children-changed events.
        assert_eq!(
            drain(&mut rx),
            vec![(pb::EventType::NODE_CREATED, "/p/x/y".into())]
        );
        hub.fire(10, &[change(ChangeKind::NodeChildrenChanged, "/p")]);
        assert_eq!(
            drain(&mut rx),
            vec![(pb::EventType::NODE_CHILDREN_CHANGED, "/p".into())]
        );
        hub.fire(11, &[change(ChangeKind::NodeChildrenChanged, "/p")]);
        assert!(drain(&mut rx).is_empty(), "child watches are one-shot");
    }

    #[test]
    fn a_connection_that_does_not_read_gets_overflow_and_nothing_more() {
        let hub = Hub::new(100);
        let (tx, mut rx) = event_channel();
        let c = hub.register_conn(1, tx);
        hub.add(c, WatchKind::Persistent, "/a").expect("add");
        let per_event = "/a".len() + 32;
        let fits = EVENT_BACKLOG_BYTES / per_event;
        for zxid in 0..(fits as u64 + 10) {
            hub.fire(zxid, &[change(ChangeKind::NodeDataChanged, "/a")]);
        }
        hub.session_ended(1);
        let mut events = 0;
        let mut last = None;
        while let Ok(ev) = rx.try_recv() {
            if matches!(ev, ConnEvent::Watch(_)) {
                events += 1;
            }
            last = Some(ev);
        }
        assert_eq!(events, fits);
        assert!(matches!(last, Some(ConnEvent::Overflow)), "{last:?}");
        // What was taken is free again: a connection that catches up is not penalised.
        let (tx, mut rx) = event_channel();
        let d = hub.register_conn(2, tx);
        hub.add(d, WatchKind::Persistent, "/b").expect("add");
        for zxid in 0..(3 * fits as u64) {
            hub.fire(zxid, &[change(ChangeKind::NodeDataChanged, "/b")]);
            assert!(matches!(rx.try_recv(), Ok(ConnEvent::Watch(_))));
        }
    }

    fn drain_stamped(rx: &mut EventQueue) -> Vec<(pb::EventType, String, u64, u32)> {
        let mut out = Vec::new();
        while let Ok(ConnEvent::Watch(e)) = rx.try_recv() {
            out.push((e.field_type, e.path, e.zxid, e.change_index));
        }
        out
    }

    #[test]
    fn events_name_their_change_and_replay_serves_what_a_watch_missed() {
        let hub = Hub::with_history(100, 3, history::HISTORY_BYTES);
        let (tx, mut live) = event_channel();
        let c = hub.register_conn(1, tx);
        hub.add(c, WatchKind::PersistentRecursive, "/p")
            .expect("add");
        hub.fire(4, &[change(ChangeKind::NodeCreated, "/p/a")]);
        hub.fire(
            5,
            &[
                change(ChangeKind::NodeChildrenChanged, "/p"),
                change(ChangeKind::NodeDataChanged, "/p/a"),
                change(ChangeKind::NodeDataChanged, "/q"),
            ],
        );
        let created = (pb::EventType::NODE_CREATED, "/p/a".to_string(), 4, 0);
        let changed = (pb::EventType::NODE_DATA_CHANGED, "/p/a".to_string(), 5, 1);
        assert_eq!(
            drain_stamped(&mut live),
            vec![created.clone(), changed.clone()]
        );
        // The same watch on a new connection, with its client complete up to 3: it
        // gets the same events, stamped the same. A plain persistent watch on /p also
        // gets the children change; each change reaches the connection once.
        let (tx, mut again) = event_channel();
        let d = hub.register_conn(1, tx);
        let n = hub
            .replay(d, 3, &["/p".to_string()], &["/p".to_string()])
            .expect("covered");
        assert_eq!(n, 3);
        assert_eq!(
            drain_stamped(&mut again),
            vec![
                created,
                (pb::EventType::NODE_CHILDREN_CHANGED, "/p".to_string(), 5, 0),
                changed.clone()
            ]
        );
        // Complete up to 4: only what came after.
        hub.replay(d, 4, &[], &["/p".to_string()]).expect("covered");
        assert_eq!(drain_stamped(&mut again), vec![changed]);
        // Before the history started: nothing, and a gap.
        assert_eq!(
            hub.replay(d, 2, &[], &["/p".to_string()]),
            Err(Gap {
                complete_after: 3,
                asked: 2
            })
        );
        assert!(drain_stamped(&mut again).is_empty());
        // A snapshot replaces the tree: the history starts again, connections end.
        hub.tree_replaced(9);
        assert!(matches!(again.try_recv(), Ok(ConnEvent::Close)));
        assert!(hub.replay(d, 5, &[], &["/p".to_string()]).is_err());
        assert_eq!(hub.history_complete_after(), 9);
    }

    #[test]
    fn changes_are_recorded_even_when_nobody_watches() {
        let hub = Hub::new(100);
        hub.fire(1, &[change(ChangeKind::NodeCreated, "/x")]);
        let (tx, mut rx) = event_channel();
        let c = hub.register_conn(1, tx);
        hub.replay(c, 0, &["/x".to_string()], &[]).expect("covered");
        assert_eq!(
            drain_stamped(&mut rx),
            vec![(pb::EventType::NODE_CREATED, "/x".to_string(), 1, 0)]
        );
    }

    #[test]
    fn limit_and_remove() {
        let hub = Hub::new(2);
        let (tx, _rx) = event_channel();
        let c = hub.register_conn(1, tx);
        hub.add(c, WatchKind::Data, "/a").expect("add");
        hub.add(c, WatchKind::Data, "/a")
            .expect("same watch again is free");
        hub.add(c, WatchKind::Child, "/a").expect("add");
        assert_eq!(hub.add(c, WatchKind::Data, "/b"), Err(TooManyWatches(2)));
        assert!(hub.remove(c, &[WatchKind::Data, WatchKind::Child], "/a"));
        assert!(!hub.remove(c, &[WatchKind::Data], "/a"));
        hub.add(c, WatchKind::Data, "/b").expect("room again");
    }
}
