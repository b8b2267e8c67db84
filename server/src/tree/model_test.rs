//! Model test: random operation sequences against `DataTree` and a naive reference model.
//!
//! The model is a `BTreeMap` of full paths with no child sets, no indexes, no hashes and no
//! undo log: children are found by scanning, and a multi runs on a clone that is thrown
//! away on failure. After every step the results (full outputs; codes and multi codes for
//! errors) and the change lists must agree, a twin tree applying the same txns must return
//! the same, and the digest must equal a from-scratch recomputation. `SnapshotRestore`
//! replaces the tree by `restore(snapshot())`. At the end every node, stat, child list,
//! ACL and session must agree, and the twin must equal the tree.
//!
//! ACLs: creates pick an ACL from a small table (the default, digest identities of
//! `alice` and `bob`, read-only, and two invalid ones), setACL writes are sent alone
//! and inside multis (where they are refused), and every write is sent as one of: no
//! identity, alice, bob or the superuser. The model checks permissions with its own
//! few lines (world:anyone or an equal identity), independent of `paddock::acl`.
use std::collections::BTreeMap;

use paddock::acl::{Acl, Id, Perms};
use paddock::{Code, CreateMode, OpResult, Stat};
use quickcheck::{Arbitrary, Gen, QuickCheck};

use super::*;

const PATHS: &[&str] = &[
    "/",
    "/a",
    "/a/b",
    "/a/b/c",
    "/b",
    "/b/c",
    "/c",
    "/s-0000000000",
    "/s-0000000001",
    "/a/s-0000000000",
    "/a/s-0000000001",
    "/a/s-0000000002",
    "/a/",
];
const PREFIXES: &[&str] = &["/s-", "/a/s-", "/b/c/", "/zz/s-"];
const MODES: &[CreateMode] = &[
    CreateMode::Persistent,
    CreateMode::Persistent,
    CreateMode::Ephemeral,
    CreateMode::PersistentSequential,
    CreateMode::EphemeralSequential,
    CreateMode::Container,
    CreateMode::PersistentWithTtl,
    CreateMode::PersistentSequentialWithTtl,
];
const VERSIONS: &[i32] = &[-1, -1, 0, 1, 2];

/// The ACLs creates and setACLs choose from, by index.
fn acls(i: u8) -> Vec<Acl> {
    let alice = Id::digest("alice", "a");
    let bob = Id::digest("bob", "b");
    match i % 8 {
        0 | 1 => Vec::new(),
        2 => vec![Acl::new(Perms::ALL, alice)],
        3 => vec![
            Acl::new(Perms::READ, Id::anyone()),
            Acl::new(Perms::ALL, alice),
        ],
        4 => Acl::read_only(),
        5 => vec![
            Acl::new(Perms::CREATE | Perms::DELETE, bob),
            Acl::new(Perms::READ | Perms::WRITE, Id::anyone()),
        ],
        6 => vec![Acl::new(Perms::READ, Id::new("world", "everyone"))],
        _ => Acl::creator_all(),
    }
}

/// Who sends a write, by index: nobody in particular, alice, bob, the superuser.
fn who(i: u8) -> Who {
    match i % 6 {
        0 | 1 => Who::default(),
        2 | 3 => Who {
            identities: vec![Id::new("ip", "10.0.0.1"), Id::digest("alice", "a")],
            superuser: false,
        },
        4 => Who {
            identities: vec![Id::digest("bob", "b")],
            superuser: false,
        },
        _ => Who {
            identities: Vec::new(),
            superuser: true,
        },
    }
}
const TTL_MS: i64 = 50;

fn pick<T: Copy>(g: &mut Gen, items: &[T]) -> T {
    *g.choose(items).unwrap_or(&items[0])
}

#[derive(Clone, Debug)]
enum SubOp {
    Create {
        path: &'static str,
        data: u8,
        mode: CreateMode,
        ttl_ok: bool,
        acl: u8,
    },
    Delete {
        path: &'static str,
        version: i32,
    },
    SetData {
        path: &'static str,
        data: u8,
        version: i32,
    },
    Check {
        path: &'static str,
        version: i32,
    },
    SetAcl {
        path: &'static str,
        acl: u8,
        version: i32,
    },
}

impl Arbitrary for SubOp {
    fn arbitrary(g: &mut Gen) -> Self {
        let path = pick(g, PATHS);
        let version = pick(g, VERSIONS);
        match u8::arbitrary(g) % 8 {
            0..=3 => {
                let mode = pick(g, MODES);
                let path = if mode.is_sequential() {
                    pick(g, PREFIXES)
                } else {
                    path
                };
                SubOp::Create {
                    path,
                    data: u8::arbitrary(g),
                    mode,
                    ttl_ok: u8::arbitrary(g) % 8 != 0,
                    acl: u8::arbitrary(g),
                }
            }
            4 | 5 => SubOp::Delete { path, version },
            6 => SubOp::SetData {
                path,
                data: u8::arbitrary(g),
                version,
            },
            7 if u8::arbitrary(g) % 4 == 0 => SubOp::SetAcl {
                path,
                acl: u8::arbitrary(g),
                version,
            },
            _ => SubOp::Check { path, version },
        }
    }
}

impl SubOp {
    fn txn_op(&self) -> TxnOp {
        let data = |d: u8| vec![d; usize::from(d % 3)];
        match *self {
            SubOp::Create {
                path,
                data: d,
                mode,
                ttl_ok,
                acl,
            } => {
                let ttl_ms = match (mode.is_ttl(), ttl_ok) {
                    (true, true) | (false, false) => TTL_MS,
                    (true, false) => 0,
                    (false, true) => 0,
                };
                TxnOp::Create {
                    path: path.into(),
                    data: data(d),
                    mode,
                    ttl_ms,
                    acl: acls(acl),
                }
            }
            SubOp::Delete { path, version } => TxnOp::Delete {
                path: path.into(),
                version,
            },
            SubOp::SetData {
                path,
                data: d,
                version,
            } => TxnOp::SetData {
                path: path.into(),
                data: data(d),
                version,
            },
            SubOp::Check { path, version } => TxnOp::Check {
                path: path.into(),
                version,
            },
            SubOp::SetAcl { path, acl, version } => TxnOp::SetAcl {
                path: path.into(),
                acl: acls(acl),
                version,
            },
        }
    }
}

#[derive(Clone, Debug)]
enum Op {
    /// A single write from a session (0 = the ensemble, 4 = never created), sent as
    /// `who(as_who)`.
    Write {
        session: u64,
        op: SubOp,
        as_who: u8,
    },
    Multi {
        session: u64,
        ops: Vec<SubOp>,
        as_who: u8,
    },
    CreateSession(u64),
    CloseSession(u64),
    /// A write that is lost on its way (never applied), though the session's next
    /// writes name it: they must fail until it is resent.
    Lose {
        session: u64,
        op: SubOp,
    },
    /// Resend the lost writes (and every write after them), in order, as the SDK does
    /// after a reconnect.
    ResendLost,
    /// Send the previous write again with the same session and xid.
    Retry,
    /// Send the previous write again with an older xid.
    StaleXid,
    /// Delete what `containers_to_delete` and `expired_ttl_nodes` report, as session 0.
    Reap,
    /// Replace the tree by `restore(snapshot())`.
    SnapshotRestore,
}

impl Arbitrary for Op {
    fn arbitrary(g: &mut Gen) -> Self {
        let session = pick(g, &[0, 0, 1, 2, 3, 4]);
        match u8::arbitrary(g) % 23 {
            0..=8 => Op::Write {
                session,
                op: SubOp::arbitrary(g),
                as_who: u8::arbitrary(g),
            },
            9..=11 => {
                let n = 1 + usize::from(u8::arbitrary(g) % 4);
                Op::Multi {
                    session,
                    ops: (0..n).map(|_| SubOp::arbitrary(g)).collect(),
                    as_who: u8::arbitrary(g),
                }
            }
            12 | 13 => Op::CreateSession(pick(g, &[1, 2, 3])),
            14 => Op::CloseSession(pick(g, &[1, 2, 3, 4])),
            15 => Op::Retry,
            16 => Op::StaleXid,
            17 => Op::Reap,
            18 | 19 => Op::Lose {
                session: pick(g, &[1, 2, 3]),
                op: SubOp::arbitrary(g),
            },
            20 | 21 => Op::ResendLost,
            _ => Op::SnapshotRestore,
        }
    }
}

type MErr = (Code, Option<Vec<Option<Code>>>);
type MResult = Result<Output, MErr>;

#[derive(Clone, Debug, PartialEq)]
struct MNode {
    data: Vec<u8>,
    /// num_children and data_length are computed on demand, not kept.
    stat: Stat,
    kind: NodeKind,
    /// As stored: never empty.
    acl: Vec<Acl>,
}

/// The model's permission check: some entry grants one of `needed` to everybody
/// (world:anyone) or to one of the sender's identities; session 0 and the superuser
/// pass.
fn permitted(acl: &[Acl], needed: Perms, txn: &Txn) -> bool {
    txn.session_id == 0
        || txn.who.superuser
        || acl.iter().any(|a| {
            a.perms.bits() & needed.bits() != 0
                && (a.id == Id::anyone() || txn.who.identities.contains(&a.id))
        })
}

/// What a create or setACL stores: the default for empty, else the ACL if valid.
fn stored(acl: &[Acl]) -> Result<Vec<Acl>, Code> {
    if acl.is_empty() {
        return Ok(Acl::open());
    }
    let valid = acl.iter().all(|a| match a.id.scheme.as_str() {
        "world" => a.id.id == "anyone",
        "digest" => a.id.id.contains(':'),
        _ => false,
    });
    if valid {
        Ok(acl.to_vec())
    } else {
        Err(Code::InvalidAcl)
    }
}

/// The reference: a flat map of paths, sessions with the (xid, result) of their
/// remembered writes, oldest first.
#[derive(Clone, Debug)]
struct Model {
    nodes: BTreeMap<String, MNode>,
    sessions: BTreeMap<u64, Vec<(i64, MResult)>>,
}

fn parent_of(path: &str) -> String {
    match path.rfind('/') {
        Some(0) | None => "/".into(),
        Some(i) => path[..i].into(),
    }
}

fn change(kind: ChangeKind, path: &str) -> Change {
    Change {
        kind,
        path: path.into(),
    }
}

impl Model {
    fn new() -> Model {
        let root = MNode {
            data: vec![],
            stat: Stat::default(),
            kind: NodeKind::Persistent,
            acl: Acl::open(),
        };
        Model {
            nodes: BTreeMap::from([("/".to_string(), root)]),
            sessions: BTreeMap::new(),
        }
    }

    fn children(&self, path: &str) -> Vec<String> {
        self.nodes
            .keys()
            .filter(|k| k.as_str() != "/" && parent_of(k) == path)
            .map(|k| paddock::path::name(k).to_string())
            .collect()
    }

    fn stat(&self, path: &str) -> Option<Stat> {
        let n = self.nodes.get(path)?;
        let mut s = n.stat;
        s.num_children = self.children(path).len() as i32;
        s.data_length = n.data.len() as i32;
        Some(s)
    }

    fn bump_parent(&mut self, path: &str, zxid: u64) {
        if let Some(p) = self.nodes.get_mut(&parent_of(path)) {
            p.stat.cversion += 1;
            p.stat.pzxid = zxid;
        }
    }

    fn op(
        &mut self,
        zxid: u64,
        txn: &Txn,
        op: &TxnOp,
        ch: &mut Vec<Change>,
    ) -> Result<OpResult, Code> {
        let version_ok = |expected: i32, n: &MNode| expected == -1 || expected == n.stat.version;
        match op {
            TxnOp::Create {
                path,
                data,
                mode,
                ttl_ms,
                acl,
            } => {
                if mode.is_ttl() != (*ttl_ms > 0) || *ttl_ms < 0 {
                    return Err(Code::BadArguments);
                }
                let valid = if mode.is_sequential() {
                    paddock::path::validate_sequential(path)
                } else {
                    paddock::path::validate(path)
                };
                if valid.is_err() {
                    return Err(Code::BadArguments);
                }
                if !mode.is_sequential() && path == "/" {
                    return Err(Code::NodeExists);
                }
                if mode.is_ephemeral() && !self.sessions.contains_key(&txn.session_id) {
                    return Err(Code::SessionExpired);
                }
                let parent = parent_of(path);
                let Some(p) = self.nodes.get(&parent) else {
                    return Err(Code::NoNode);
                };
                if !permitted(&p.acl, Perms::CREATE, txn) {
                    return Err(Code::NoAuth);
                }
                let acl = stored(acl)?;
                let full = if mode.is_sequential() {
                    format!("{path}{:010}", p.stat.cversion)
                } else {
                    path.clone()
                };
                if self.nodes.contains_key(&full) {
                    return Err(Code::NodeExists);
                }
                if p.kind == NodeKind::Ephemeral {
                    return Err(Code::NoChildrenForEphemerals);
                }
                let kind = if mode.is_ephemeral() {
                    NodeKind::Ephemeral
                } else if *mode == CreateMode::Container {
                    NodeKind::Container
                } else if mode.is_ttl() {
                    NodeKind::Ttl(*ttl_ms)
                } else {
                    NodeKind::Persistent
                };
                let stat = Stat {
                    czxid: zxid,
                    mzxid: zxid,
                    pzxid: zxid,
                    ctime: txn.time_ms,
                    mtime: txn.time_ms,
                    ephemeral_owner: if mode.is_ephemeral() {
                        txn.session_id
                    } else {
                        0
                    },
                    ..Stat::default()
                };
                self.bump_parent(&full, zxid);
                self.nodes.insert(
                    full.clone(),
                    MNode {
                        data: data.clone(),
                        stat,
                        kind,
                        acl,
                    },
                );
                ch.push(change(ChangeKind::NodeCreated, &full));
                ch.push(change(ChangeKind::NodeChildrenChanged, &parent));
                Ok(OpResult::Create {
                    stat: self.stat(&full).unwrap_or_default(),
                    path: full,
                })
            }
            TxnOp::Delete { path, version } => {
                if paddock::path::validate(path).is_err() || path == "/" {
                    return Err(Code::BadArguments);
                }
                if let Some(p) = self.nodes.get(&parent_of(path)) {
                    if !permitted(&p.acl, Perms::DELETE, txn) {
                        return Err(Code::NoAuth);
                    }
                }
                let Some(n) = self.nodes.get(path) else {
                    return Err(Code::NoNode);
                };
                if !version_ok(*version, n) {
                    return Err(Code::BadVersion);
                }
                if !self.children(path).is_empty() {
                    return Err(Code::NotEmpty);
                }
                self.delete(zxid, path, ch);
                Ok(OpResult::Delete)
            }
            TxnOp::SetData {
                path,
                data,
                version,
            } => {
                if paddock::path::validate(path).is_err() {
                    return Err(Code::BadArguments);
                }
                let Some(n) = self.nodes.get_mut(path) else {
                    return Err(Code::NoNode);
                };
                if !permitted(&n.acl, Perms::WRITE, txn) {
                    return Err(Code::NoAuth);
                }
                if !version_ok(*version, n) {
                    return Err(Code::BadVersion);
                }
                n.data = data.clone();
                n.stat.version += 1;
                n.stat.mzxid = zxid;
                n.stat.mtime = txn.time_ms;
                ch.push(change(ChangeKind::NodeDataChanged, path));
                Ok(OpResult::SetData {
                    stat: self.stat(path).unwrap_or_default(),
                })
            }
            TxnOp::Check { path, version } => {
                if paddock::path::validate(path).is_err() {
                    return Err(Code::BadArguments);
                }
                let Some(n) = self.nodes.get(path) else {
                    return Err(Code::NoNode);
                };
                if !permitted(&n.acl, Perms::READ, txn) {
                    return Err(Code::NoAuth);
                }
                if !version_ok(*version, n) {
                    return Err(Code::BadVersion);
                }
                Ok(OpResult::Check)
            }
            _ => Err(Code::BadArguments),
        }
    }

    fn set_acl(&mut self, txn: &Txn, path: &str, acl: &[Acl], version: i32) -> MResult {
        if paddock::path::validate(path).is_err() {
            return Err((Code::BadArguments, None));
        }
        let Some(n) = self.nodes.get(path) else {
            return Err((Code::NoNode, None));
        };
        if !permitted(&n.acl, Perms::ADMIN, txn) {
            return Err((Code::NoAuth, None));
        }
        if version != -1 && version != n.stat.aversion {
            return Err((Code::BadVersion, None));
        }
        if acl.is_empty() {
            return Err((Code::InvalidAcl, None));
        }
        let acl = stored(acl).map_err(|c| (c, None))?;
        let n = self.nodes.get_mut(path).ok_or((Code::NoNode, None))?;
        n.acl = acl;
        n.stat.aversion += 1;
        Ok(Output::AclSet {
            stat: self.stat(path).unwrap_or_default(),
        })
    }

    fn delete(&mut self, zxid: u64, path: &str, ch: &mut Vec<Change>) {
        self.nodes.remove(path);
        self.bump_parent(path, zxid);
        ch.push(change(ChangeKind::NodeDeleted, path));
        ch.push(change(ChangeKind::NodeChildrenChanged, &parent_of(path)));
    }

    fn apply(&mut self, zxid: u64, txn: &Txn) -> (MResult, Vec<Change>) {
        let mut ch = Vec::new();
        match &txn.op {
            TxnOp::CreateSession { session_id, .. } => {
                if self.sessions.contains_key(session_id) {
                    return (Err((Code::BadArguments, None)), ch);
                }
                self.sessions.insert(*session_id, Vec::new());
                return (Ok(Output::SessionCreated), ch);
            }
            TxnOp::CloseSession { session_id } => {
                if self.sessions.remove(session_id).is_some() {
                    let owned: Vec<String> = self
                        .nodes
                        .iter()
                        .filter(|(_, n)| {
                            n.kind == NodeKind::Ephemeral && n.stat.ephemeral_owner == *session_id
                        })
                        .map(|(p, _)| p.clone())
                        .collect();
                    for p in owned {
                        self.delete(zxid, &p, &mut ch);
                    }
                }
                return (Ok(Output::SessionClosed), ch);
            }
            TxnOp::Reap { path, czxid, mzxid } => {
                if txn.session_id != 0 {
                    return (Err((Code::BadArguments, None)), ch);
                }
                let Some(n) = self.nodes.get(path) else {
                    return (Err((Code::NoNode, None)), ch);
                };
                let idle = matches!(n.kind, NodeKind::Container | NodeKind::Ttl(_))
                    && n.stat.czxid == *czxid
                    && n.stat.mzxid == *mzxid
                    && self.children(path).is_empty();
                if !idle || path == "/" {
                    return (Err((Code::BadVersion, None)), ch);
                }
                self.delete(zxid, path, &mut ch);
                return (Ok(Output::Deleted), ch);
            }
            _ => {}
        }
        let sid = txn.session_id;
        if sid != 0 {
            let Some(writes) = self.sessions.get(&sid) else {
                return (Err((Code::SessionExpired, None)), ch);
            };
            if let Some((_, r)) = writes.iter().find(|(x, _)| *x == txn.xid) {
                return (r.clone(), ch);
            }
            let last = writes.last().map_or(0, |(x, _)| *x);
            if txn.xid <= last {
                return (Err((Code::RuntimeInconsistency, None)), ch);
            }
            if txn.prev_xid != 0 && txn.prev_xid != last {
                return (Err((Code::PreviousWriteMissing, None)), ch);
            }
        }
        let result = match &txn.op {
            TxnOp::Refused { code, .. } => Err((*code, None)),
            TxnOp::SetAcl { path, acl, version } => self.set_acl(txn, path, acl, *version),
            TxnOp::Multi(ops) => {
                let saved = self.clone();
                let mut results = Vec::new();
                let mut failure = None;
                for (i, op) in ops.iter().enumerate() {
                    match self.op(zxid, txn, op, &mut ch) {
                        Ok(r) => results.push(r),
                        Err(code) => {
                            failure = Some((i, code));
                            break;
                        }
                    }
                }
                match failure {
                    None => Ok(Output::Multi(results)),
                    Some((i, code)) => {
                        *self = saved;
                        ch.clear();
                        let mut codes = vec![None; i];
                        codes.push(Some(code));
                        codes.resize(ops.len(), Some(Code::RuntimeInconsistency));
                        Err((code, Some(codes)))
                    }
                }
            }
            op => self
                .op(zxid, txn, op, &mut ch)
                .map_err(|c| (c, None))
                .map(|r| match r {
                    OpResult::Create { path, stat } => Output::Created { path, stat },
                    OpResult::Delete => Output::Deleted,
                    OpResult::SetData { stat } => Output::DataSet { stat },
                    OpResult::Check => Output::Checked,
                }),
        };
        if let Some(writes) = self.sessions.get_mut(&sid).filter(|_| sid != 0) {
            writes.push((txn.xid, result.clone()));
            // Forget what the client no longer waits for, and beyond the window; never
            // the newest.
            let newest = txn.xid;
            writes.retain(|(x, _)| *x == newest || *x >= txn.oldest_pending_xid);
            let excess = writes.len().saturating_sub(RESULT_WINDOW);
            writes.drain(..excess);
        }
        (result, ch)
    }

    fn containers_to_delete(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|(p, n)| {
                n.kind == NodeKind::Container && n.stat.cversion > 0 && self.children(p).is_empty()
            })
            .map(|(p, _)| p.clone())
            .collect()
    }

    fn expired_ttl_nodes(&self, now: i64) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|(p, n)| match n.kind {
                NodeKind::Ttl(ttl) => self.children(p).is_empty() && n.stat.mtime + ttl <= now,
                _ => false,
            })
            .map(|(p, _)| p.clone())
            .collect()
    }
}

struct Harness {
    tree: DataTree,
    twin: DataTree,
    model: Model,
    zxid: u64,
    xid: i64,
    last: Option<Txn>,
    /// Per session: the xid of the write it sent last (what its next write names).
    chain: BTreeMap<u64, i64>,
    /// Writes sent since the first lost one, in order: resent by `ResendLost`.
    unsettled: Vec<Txn>,
    /// Reaps decided at the last `Op::Reap`, sent again at the next one (late, racing).
    pending_reaps: Vec<TxnOp>,
}

impl Harness {
    fn send(&mut self, txn: Txn) {
        self.zxid += 1;
        let a = self.tree.apply(self.zxid, &txn);
        let b = self.twin.apply(self.zxid, &txn);
        assert_eq!(a, b, "twin disagrees on {txn:?}");
        let (result, changes) = self.model.apply(self.zxid, &txn);
        let got = a.result.clone().map_err(|e| (e.code, e.multi));
        assert_eq!(got, result, "result of {txn:?} at zxid {}", self.zxid);
        assert_eq!(a.changes, changes, "changes of {txn:?}");
        assert_eq!(self.tree.applied_zxid(), self.zxid);
        assert_eq!(
            self.tree.digest(),
            self.tree.recompute_digest(),
            "digest after {txn:?}"
        );
        assert_eq!(self.tree.digest(), self.twin.digest());
    }

    fn txn(&mut self, session_id: u64, op: TxnOp) -> Txn {
        self.txn_as(session_id, op, Who::default())
    }

    fn txn_as(&mut self, session_id: u64, op: TxnOp, who: Who) -> Txn {
        self.xid += 1;
        let prev_xid = match session_id {
            0 => 0,
            s => self.chain.insert(s, self.xid).unwrap_or(0),
        };
        // Hints vary: none, "all answered", or an older write still pending.
        let oldest_pending_xid = match self.xid % 3 {
            0 => 0,
            1 => self.xid,
            _ => self.xid - 4,
        };
        Txn {
            session_id,
            xid: self.xid,
            prev_xid,
            oldest_pending_xid,
            time_ms: (self.zxid as i64 + 1) * 10,
            who,
            op,
        }
    }

    /// Sends a session's write, and keeps it for `ResendLost` when one was lost before.
    fn send_write(&mut self, txn: Txn) {
        self.last = Some(txn.clone());
        if !self.unsettled.is_empty() && txn.session_id != 0 {
            self.unsettled.push(txn.clone());
        }
        self.send(txn);
    }

    fn step(&mut self, op: &Op) {
        match op {
            Op::Write {
                session,
                op,
                as_who,
            } => {
                let txn = self.txn_as(*session, op.txn_op(), who(*as_who));
                self.send_write(txn);
            }
            Op::Multi {
                session,
                ops,
                as_who,
            } => {
                let txn = self.txn_as(
                    *session,
                    TxnOp::Multi(ops.iter().map(SubOp::txn_op).collect()),
                    who(*as_who),
                );
                self.send_write(txn);
            }
            Op::Lose { session, op } => {
                let txn = self.txn(*session, op.txn_op());
                self.unsettled.push(txn);
            }
            Op::ResendLost => {
                for mut txn in std::mem::take(&mut self.unsettled) {
                    txn.time_ms = (self.zxid as i64 + 1) * 10;
                    self.send(txn);
                }
            }
            Op::CreateSession(id) => {
                // A new session starts its own order.
                self.chain.remove(id);
                let txn = self.txn(
                    0,
                    TxnOp::CreateSession {
                        session_id: *id,
                        password: vec![*id as u8; 4],
                        timeout_ms: 1000,
                    },
                );
                self.send(txn);
            }
            Op::CloseSession(id) => {
                let txn = self.txn(0, TxnOp::CloseSession { session_id: *id });
                self.send(txn);
            }
            Op::Retry => {
                if let Some(mut txn) = self.last.clone() {
                    txn.time_ms = (self.zxid as i64 + 1) * 10;
                    self.send(txn);
                }
            }
            Op::StaleXid => {
                if let Some(mut txn) = self.last.clone() {
                    txn.xid -= 1;
                    self.send(txn);
                }
            }
            Op::Reap => {
                // As the real reaper: candidates are decided now and may commit much
                // later, after other writes. The ones decided at the previous reap are
                // sent first (stale by now: whatever was deleted, re-created or changed
                // since must survive them), then today's.
                for op in std::mem::take(&mut self.pending_reaps) {
                    let txn = self.txn(0, op);
                    self.send(txn);
                }
                let now = self.zxid as i64 * 10;
                let containers = self.tree.containers_to_delete();
                assert_eq!(containers, self.model.containers_to_delete());
                let ttls = self.tree.expired_ttl_nodes(now);
                assert_eq!(ttls, self.model.expired_ttl_nodes(now));
                let fresh = self.tree.reap_candidates(now);
                assert_eq!(fresh.len(), containers.len() + ttls.len());
                for op in fresh.iter().cloned() {
                    let txn = self.txn(0, op);
                    self.send(txn);
                }
                self.pending_reaps = fresh;
            }
            Op::SnapshotRestore => {
                let bytes = self.tree.snapshot();
                let restored = DataTree::restore(&bytes).expect("a fresh snapshot restores");
                assert_eq!(restored, self.tree);
                self.tree = restored;
            }
        }
    }

    fn compare_contents(&self) {
        assert_eq!(self.tree.node_count(), self.model.nodes.len());
        for (path, n) in &self.model.nodes {
            let (data, stat) = self.tree.get(path).expect("model node exists in the tree");
            assert_eq!(data, n.data.as_slice(), "{path}");
            assert_eq!(Some(stat), self.model.stat(path), "{path}");
            assert_eq!(
                self.tree.node(path).map(|n| n.kind()),
                Some(n.kind),
                "{path}"
            );
            assert_eq!(
                self.tree.node(path).map(|n| n.acl().to_vec()),
                Some(n.acl.clone()),
                "ACL of {path}"
            );
            let (children, _) = self.tree.children(path).expect("children");
            assert_eq!(children, self.model.children(path), "{path}");
        }
        let ids: Vec<u64> = self.tree.sessions().map(|(id, _)| id).collect();
        let model_ids: Vec<u64> = self.model.sessions.keys().copied().collect();
        assert_eq!(ids, model_ids);
        for id in ids {
            let owned: Vec<String> = self
                .model
                .nodes
                .iter()
                .filter(|(_, n)| n.kind == NodeKind::Ephemeral && n.stat.ephemeral_owner == id)
                .map(|(p, _)| p.clone())
                .collect();
            assert_eq!(self.tree.ephemerals(id), owned);
            let kept: Vec<i64> = self
                .tree
                .session(id)
                .map(|s| s.writes.iter().map(|w| w.xid).collect())
                .unwrap_or_default();
            let model_kept: Vec<i64> = self.model.sessions[&id].iter().map(|(x, _)| *x).collect();
            assert_eq!(kept, model_kept, "remembered writes of session {id}");
        }
        assert_eq!(self.tree.digest(), self.tree.recompute_digest());
        assert_eq!(self.tree, self.twin);
    }
}

fn run(ops: Vec<Op>) -> bool {
    let mut h = Harness {
        tree: DataTree::new(),
        twin: DataTree::new(),
        model: Model::new(),
        zxid: 0,
        xid: 0,
        last: None,
        chain: BTreeMap::new(),
        unsettled: Vec::new(),
        pending_reaps: Vec::new(),
    };
    for op in &ops {
        h.step(op);
        h.compare_contents();
    }
    true
}

#[test]
fn tree_matches_model() {
    QuickCheck::new()
        .tests(400)
        .rng(crate::test_seed::gen("tree_matches_model", 120))
        .quickcheck(run as fn(Vec<Op>) -> bool);
}

/// A fixed long run, so the interesting cases (deep sequential counters, many sessions)
/// are reached regardless of the random sizes above.
#[test]
fn tree_matches_model_long() {
    let mut g = crate::test_seed::gen("tree_matches_model_long", 100);
    let ops: Vec<Op> = (0..3000).map(|_| Op::arbitrary(&mut g)).collect();
    assert!(run(ops));
}
