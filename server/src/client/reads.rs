//! Serving a read from the local tree: the session must be live, the ACL of the node
//! read must allow it (see [`super::auth`]), and watches set by the read are registered
//! with the member's hub before the answer leaves.
//!
//! Permissions: getData, getChildren, getAllChildrenNumber and addWatch need READ on the
//! node; getACL needs READ or ADMIN; exists, sync, getEphemerals, setWatches and
//! removeWatches need none (as in ZooKeeper 3.9). A read of a node that does not exist
//! fails with NoNode before any permission is looked at.
use paddock::acl::Perms;
use paddock::proto::paddock as pb;
use paddock::Code;

use super::{auth, respond, ClientContext};
use crate::tree::{DataTree, Who};
use crate::watch::{set_watches, ConnId, WatchKind};

/// Who is reading: the session, its connection and identities, the request id.
pub struct Reader {
    /// The session.
    pub session_id: u64,
    /// The connection (for watches).
    pub conn: ConnId,
    /// The connection's identities when the read was dispatched.
    pub who: Who,
    /// The request id.
    pub xid: i64,
}

/// `Some(NoAuth response)` unless the ACL of the node at `path` grants one of `needed`
/// to the reader (a missing node passes: the read itself reports NoNode).
fn denied(
    tree: &DataTree,
    r: &Reader,
    path: &str,
    needed: Perms,
    zxid: u64,
) -> Option<pb::Response> {
    let node = tree.node(path)?;
    auth::permit(node.acl(), needed, &r.who, path)
        .err()
        .map(|(code, message)| respond::error(r.xid, zxid, code, message))
}

/// Registers a watch set by a read; `Some(error response)` if the session is over its cap.
fn watch(
    ctx: &ClientContext,
    conn: ConnId,
    kind: WatchKind,
    path: &str,
    xid: i64,
    zxid: u64,
) -> Option<pb::Response> {
    ctx.hub
        .add(conn, kind, path)
        .err()
        .map(|e| respond::error(xid, zxid, Code::QuotaExceeded, e.to_string()))
}

/// Serves a read from the local tree.
pub fn read_now(ctx: &ClientContext, reader: &Reader, op: pb::Request_oneof_op) -> pb::Response {
    use pb::Request_oneof_op as O;
    use pb::Response_oneof_result as R;
    let (session_id, conn, xid) = (reader.session_id, reader.conn, reader.xid);
    let tree = ctx.raft.tree();
    // Taken under the tree's lock: the zxid the returned state reflects (at least).
    let zxid = ctx.raft.applied().max(tree.applied_zxid());
    if tree.session(session_id).is_none() {
        return respond::error(
            xid,
            zxid,
            Code::SessionExpired,
            format!("session {session_id:#x} expired"),
        );
    }
    let needs = match &op {
        O::get_data(g) => Some((g.path.as_str(), Perms::READ)),
        O::get_children(g) => Some((g.path.as_str(), Perms::READ)),
        O::get_all_children_number(g) => Some((g.path.as_str(), Perms::READ)),
        O::add_watch(a) => Some((a.path.as_str(), Perms::READ)),
        O::get_acl(g) => Some((g.path.as_str(), Perms::READ | Perms::ADMIN)),
        _ => None,
    };
    if let Some((path, perms)) = needs {
        if let Some(no) = denied(&tree, reader, path, perms, zxid) {
            return no;
        }
    }
    match op {
        O::get_data(g) => match tree.get(&g.path) {
            Ok((data, stat)) => {
                if g.watch {
                    if let Some(r) = watch(ctx, conn, WatchKind::Data, &g.path, xid, zxid) {
                        return r;
                    }
                }
                let mut r = pb::GetDataResponse::new();
                r.data = data.to_vec();
                r.set_stat(respond::stat(&stat));
                respond::ok(xid, zxid, R::get_data(r))
            }
            Err(e) => respond::txn_error(xid, zxid, e),
        },
        O::exists(e) => {
            if e.watch {
                // On a missing node this is an exist watch (fires on creation); on an
                // existing one a data watch. Both live in the data-watch table.
                if let Some(r) = watch(ctx, conn, WatchKind::Data, &e.path, xid, zxid) {
                    return r;
                }
            }
            let mut r = pb::ExistsResponse::new();
            if let Some(stat) = tree.exists(&e.path) {
                r.set_stat(respond::stat(&stat));
            }
            respond::ok(xid, zxid, R::exists(r))
        }
        O::get_children(g) => match tree.children(&g.path) {
            Ok((children, stat)) => {
                if g.watch {
                    if let Some(r) = watch(ctx, conn, WatchKind::Child, &g.path, xid, zxid) {
                        return r;
                    }
                }
                let mut r = pb::GetChildrenResponse::new();
                r.children = children.into();
                r.set_stat(respond::stat(&stat));
                respond::ok(xid, zxid, R::get_children(r))
            }
            Err(e) => respond::txn_error(xid, zxid, e),
        },
        O::sync(s) => {
            let mut r = pb::SyncResponse::new();
            r.path = s.path;
            respond::ok(xid, zxid, R::sync(r))
        }
        O::add_watch(a) => {
            let kind = match a.mode {
                pb::AddWatchMode::PERSISTENT => WatchKind::Persistent,
                pb::AddWatchMode::PERSISTENT_RECURSIVE => WatchKind::PersistentRecursive,
            };
            match ctx.hub.add(conn, kind, &a.path) {
                Ok(()) => respond::ok(xid, zxid, R::add_watch(pb::AddWatchResponse::new())),
                Err(e) => respond::error(xid, zxid, Code::QuotaExceeded, e.to_string()),
            }
        }
        O::remove_watches(r) => {
            use pb::WatcherType as W;
            let kinds: &[WatchKind] = match r.watcher_type {
                W::CHILDREN => &[WatchKind::Child],
                W::DATA => &[WatchKind::Data],
                W::ANY => &[
                    WatchKind::Data,
                    WatchKind::Child,
                    WatchKind::Persistent,
                    WatchKind::PersistentRecursive,
                ],
                W::PERSISTENT_WATCHER => &[WatchKind::Persistent],
                W::PERSISTENT_RECURSIVE_WATCHER => &[WatchKind::PersistentRecursive],
                W::WATCHER_TYPE_NONE => &[],
            };
            if ctx.hub.remove(conn, kinds, &r.path) {
                respond::ok(
                    xid,
                    zxid,
                    R::remove_watches(pb::RemoveWatchesResponse::new()),
                )
            } else {
                respond::error(xid, zxid, Code::NoWatcher, r.path.clone())
            }
        }
        O::set_watches(s) => match set_watches::apply(&tree, &ctx.hub, conn, zxid, &s) {
            Ok(()) => respond::ok(xid, zxid, R::set_watches(pb::SetWatchesResponse::new())),
            Err(e) => respond::error(xid, zxid, Code::QuotaExceeded, e.to_string()),
        },
        O::get_ephemerals(g) => {
            let mut r = pb::GetEphemeralsResponse::new();
            let prefix = if g.prefix.is_empty() {
                "/"
            } else {
                g.prefix.as_str()
            };
            r.paths = tree
                .ephemerals(session_id)
                .into_iter()
                .filter(|p| p.starts_with(prefix))
                .collect();
            respond::ok(xid, zxid, R::get_ephemerals(r))
        }
        O::get_all_children_number(g) => match tree.all_children_number(&g.path) {
            Ok(n) => {
                let mut r = pb::GetAllChildrenNumberResponse::new();
                r.number = n as i64;
                respond::ok(xid, zxid, R::get_all_children_number(r))
            }
            Err(e) => respond::txn_error(xid, zxid, e),
        },
        O::get_acl(g) => match tree.node(&g.path) {
            Some(node) => {
                let mut r = pb::GetAclResponse::new();
                r.acl = node.acl().iter().map(pb::Acl::from).collect();
                r.set_stat(respond::stat(node.stat()));
                respond::ok(xid, zxid, R::get_acl(r))
            }
            None => respond::error(xid, zxid, Code::NoNode, g.path.clone()),
        },
        _ => respond::error(xid, zxid, Code::Unimplemented, "not a read"),
    }
}
