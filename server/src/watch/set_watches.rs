//! Re-registering a client's watches after it reconnects (ZooKeeper's setWatches):
//! every one-shot watch whose node changed after the client's last seen zxid fires
//! at once, the others are registered again; persistent ones first get the events
//! they missed (replayed from the member's history), or RESYNC_NEEDED when the
//! history does not reach back to the request's zxid.
use paddock::proto::paddock as pb;

use super::{ConnId, Hub, TooManyWatches, WatchKind};
use crate::tree::DataTree;

/// Applies a SetWatches request for `conn` against the tree (read-locked by the caller).
pub fn apply(
    tree: &DataTree,
    hub: &Hub,
    conn: ConnId,
    zxid_now: u64,
    req: &pb::SetWatchesRequest,
) -> Result<(), TooManyWatches> {
    // Persistent watches get what they missed since `relative_zxid` from the history,
    // then stay registered; if the history no longer reaches back that far, each gets
    // RESYNC_NEEDED instead and is not registered: its client must read the state again.
    let persistent = req.persistent_watches.as_slice();
    let recursive = req.persistent_recursive_watches.as_slice();
    // They go first: their events are older than the one-shot ones below.
    let empty = persistent.is_empty() && recursive.is_empty();
    if !empty
        && hub
            .replay(conn, req.relative_zxid, persistent, recursive)
            .is_err()
    {
        for path in persistent.iter().chain(recursive) {
            hub.send(conn, pb::EventType::RESYNC_NEEDED, path, zxid_now);
        }
    } else {
        for path in persistent {
            hub.add(conn, WatchKind::Persistent, path)?;
        }
        for path in recursive {
            hub.add(conn, WatchKind::PersistentRecursive, path)?;
        }
    }
    let rel = req.relative_zxid;
    for path in req.data_watches.iter() {
        match tree.exists(path) {
            None => hub.send(conn, pb::EventType::NODE_DELETED, path, zxid_now),
            Some(stat) if stat.mzxid > rel => {
                hub.send(conn, pb::EventType::NODE_DATA_CHANGED, path, zxid_now)
            }
            Some(_) => hub.add(conn, WatchKind::Data, path)?,
        }
    }
    for path in req.exist_watches.iter() {
        match tree.exists(path) {
            Some(_) => hub.send(conn, pb::EventType::NODE_CREATED, path, zxid_now),
            None => hub.add(conn, WatchKind::Data, path)?,
        }
    }
    for path in req.child_watches.iter() {
        match tree.exists(path) {
            None => hub.send(conn, pb::EventType::NODE_DELETED, path, zxid_now),
            Some(stat) if stat.pzxid > rel => {
                hub.send(conn, pb::EventType::NODE_CHILDREN_CHANGED, path, zxid_now)
            }
            Some(_) => hub.add(conn, WatchKind::Child, path)?,
        }
    }
    Ok(())
}
