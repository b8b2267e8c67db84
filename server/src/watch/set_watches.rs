//! Re-registering a client's watches after it reconnects (ZooKeeper's setWatches):
//! every one-shot watch whose node changed after the client's last seen zxid fires
//! at once; the others (and all persistent ones) are registered again.
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
    let rel = i64::try_from(req.relative_zxid).unwrap_or(i64::MAX);
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
    for path in req.persistent_watches.iter() {
        hub.add(conn, WatchKind::Persistent, path)?;
    }
    for path in req.persistent_recursive_watches.iter() {
        hub.add(conn, WatchKind::PersistentRecursive, path)?;
    }
    Ok(())
}
