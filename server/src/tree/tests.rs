//! Unit tests: one or more per semantic rule of the tree (see the module docs).
use paddock::acl::{Acl, Id, Perms};
use paddock::{Code, CreateMode, OpResult, Stat};

use super::*;

/// Applies transactions with increasing zxids (time = zxid * 10) and xids.
struct H {
    tree: DataTree,
    zxid: u64,
    xid: i64,
    /// The identities the next writes carry.
    who: Who,
}

impl H {
    fn new() -> H {
        H {
            tree: DataTree::new(),
            zxid: 0,
            xid: 0,
            who: Who::default(),
        }
    }

    fn run(&mut self, session_id: u64, op: TxnOp) -> Applied {
        self.xid += 1;
        self.run_xid(session_id, self.xid, op)
    }

    /// A write that names the session's newest applied write as its predecessor, as a
    /// client does that lost nothing.
    fn run_xid(&mut self, session_id: u64, xid: i64, op: TxnOp) -> Applied {
        let prev = self
            .tree
            .session(session_id)
            .and_then(|s| s.last_write())
            .map_or(0, |w| w.xid);
        self.run_chained(session_id, xid, prev, 0, op)
    }

    fn run_chained(
        &mut self,
        session_id: u64,
        xid: i64,
        prev_xid: i64,
        oldest_pending_xid: i64,
        op: TxnOp,
    ) -> Applied {
        self.zxid += 1;
        let txn = Txn {
            session_id,
            xid,
            prev_xid,
            oldest_pending_xid,
            time_ms: self.zxid as i64 * 10,
            who: self.who.clone(),
            op,
        };
        let applied = self.tree.apply(self.zxid, &txn);
        assert_eq!(
            self.tree.digest(),
            self.tree.recompute_digest(),
            "after {txn:?}"
        );
        assert_eq!(self.tree.applied_zxid(), self.zxid);
        applied
    }

    fn ok(&mut self, session_id: u64, op: TxnOp) -> Output {
        let a = self.run(session_id, op.clone());
        match a.result {
            Ok(o) => o,
            Err(e) => panic!("{op:?} failed: {e}"),
        }
    }

    fn err(&mut self, session_id: u64, op: TxnOp) -> TxnError {
        let a = self.run(session_id, op.clone());
        assert!(a.changes.is_empty(), "a failed txn reports no changes");
        match a.result {
            Ok(o) => panic!("{op:?} succeeded: {o:?}"),
            Err(e) => e,
        }
    }

    fn session(&mut self, id: u64) {
        let out = self.ok(
            0,
            TxnOp::CreateSession {
                session_id: id,
                password: vec![1, 2],
                timeout_ms: 5000,
            },
        );
        assert_eq!(out, Output::SessionCreated);
    }

    fn stat(&self, path: &str) -> Stat {
        match self.tree.exists(path) {
            Some(s) => s,
            None => panic!("{path} missing"),
        }
    }
}

fn create(path: &str, mode: CreateMode) -> TxnOp {
    TxnOp::Create {
        path: path.into(),
        data: b"d".to_vec(),
        mode,
        ttl_ms: 0,
        acl: Vec::new(),
    }
}

fn p(path: &str) -> TxnOp {
    create(path, CreateMode::Persistent)
}

fn delete(path: &str, version: i32) -> TxnOp {
    TxnOp::Delete {
        path: path.into(),
        version,
    }
}

fn set(path: &str, data: &[u8], version: i32) -> TxnOp {
    TxnOp::SetData {
        path: path.into(),
        data: data.to_vec(),
        version,
    }
}

fn check(path: &str, version: i32) -> TxnOp {
    TxnOp::Check {
        path: path.into(),
        version,
    }
}

fn ch(kind: ChangeKind, path: &str) -> Change {
    Change {
        kind,
        path: path.into(),
    }
}

fn created_path(o: Output) -> String {
    match o {
        Output::Created { path, .. } => path,
        o => panic!("not a create: {o:?}"),
    }
}

#[test]
fn new_tree_is_just_root() {
    let t = DataTree::new();
    assert_eq!(t.node_count(), 1);
    assert_eq!(t.exists("/"), Some(Stat::default()));
    let (data, stat) = t.get("/").expect("root");
    assert!(data.is_empty());
    assert_eq!(stat, Stat::default());
    assert_eq!(t.applied_zxid(), 0);
    assert_eq!(t.digest(), t.recompute_digest());
    assert_eq!(t.session_count(), 0);
}

#[test]
fn create_sets_stat_parent_and_changes() {
    let mut h = H::new();
    let a = h.run(0, p("/a"));
    let stat = Stat {
        czxid: 1,
        mzxid: 1,
        pzxid: 1,
        ctime: 10,
        mtime: 10,
        data_length: 1,
        ..Stat::default()
    };
    assert_eq!(
        a.result,
        Ok(Output::Created {
            path: "/a".into(),
            stat
        })
    );
    assert_eq!(
        a.changes,
        vec![
            ch(ChangeKind::NodeCreated, "/a"),
            ch(ChangeKind::NodeChildrenChanged, "/")
        ]
    );
    let root = h.stat("/");
    assert_eq!((root.cversion, root.pzxid, root.num_children), (1, 1, 1));
    assert_eq!(root.mzxid, 0, "a create does not touch the parent's data");
    assert_eq!(h.tree.get("/a").expect("/a"), (&b"d"[..], stat));
    assert_eq!(h.tree.children("/").expect("/").0, vec!["a".to_string()]);
}

#[test]
fn create_errors() {
    let mut h = H::new();
    let e = h.err(0, p("/x/y"));
    assert_eq!((e.code, e.message.as_str()), (Code::NoNode, "/x"));
    h.ok(0, p("/a"));
    let e = h.err(0, p("/a"));
    assert_eq!((e.code, e.message.as_str()), (Code::NodeExists, "/a"));
    assert_eq!(h.err(0, p("/")).code, Code::NodeExists);
    for bad in ["a", "/a/", "/a//b", "/a/.", ""] {
        assert_eq!(h.err(0, p(bad)).code, Code::BadArguments, "{bad:?}");
    }
    let ttl = |mode, ttl_ms| TxnOp::Create {
        path: "/t".into(),
        data: vec![],
        mode,
        ttl_ms,
        acl: Vec::new(),
    };
    assert_eq!(
        h.err(0, ttl(CreateMode::PersistentWithTtl, 0)).code,
        Code::BadArguments
    );
    assert_eq!(
        h.err(0, ttl(CreateMode::PersistentSequentialWithTtl, -5))
            .code,
        Code::BadArguments
    );
    assert_eq!(
        h.err(0, ttl(CreateMode::Persistent, 10)).code,
        Code::BadArguments
    );
    assert_eq!(h.tree.node_count(), 2);
}

#[test]
fn sequential_names_come_from_parent_cversion() {
    let mut h = H::new();
    h.ok(0, p("/q"));
    let seq = |prefix: &str| create(prefix, CreateMode::PersistentSequential);
    assert_eq!(created_path(h.ok(0, seq("/q/n-"))), "/q/n-0000000000");
    assert_eq!(created_path(h.ok(0, seq("/q/n-"))), "/q/n-0000000001");
    h.ok(0, p("/q/other"));
    h.ok(0, delete("/q/other", -1));
    assert_eq!(h.stat("/q").cversion, 4);
    assert_eq!(created_path(h.ok(0, seq("/q/n-"))), "/q/n-0000000004");
    assert_eq!(created_path(h.ok(0, seq("/q/"))), "/q/0000000005");
    // The root's counter: "/q" was its first child.
    assert_eq!(created_path(h.ok(0, seq("/"))), "/0000000001");
    assert_eq!(h.err(0, seq("/nope/x")).code, Code::NoNode);
    assert_eq!(h.err(0, seq("/q//")).code, Code::BadArguments);
}

#[test]
fn set_data_and_versions() {
    let mut h = H::new();
    h.ok(0, p("/a"));
    let a = h.run(0, set("/a", b"hello", 0));
    let stat = match a.result {
        Ok(Output::DataSet { stat }) => stat,
        r => panic!("{r:?}"),
    };
    assert_eq!(
        (
            stat.version,
            stat.mzxid,
            stat.mtime,
            stat.data_length,
            stat.czxid
        ),
        (1, 2, 20, 5, 1)
    );
    assert_eq!(a.changes, vec![ch(ChangeKind::NodeDataChanged, "/a")]);
    assert_eq!(h.tree.get("/a").expect("/a").0, b"hello");
    assert_eq!(h.err(0, set("/a", b"x", 0)).code, Code::BadVersion);
    h.ok(0, set("/a", b"any", -1));
    assert_eq!(h.stat("/a").version, 2);
    assert_eq!(h.err(0, set("/b", b"x", -1)).code, Code::NoNode);
    assert_eq!(h.err(0, check("/a", 1)).code, Code::BadVersion);
    assert_eq!(h.err(0, check("/b", -1)).code, Code::NoNode);
    assert_eq!(h.ok(0, check("/a", 2)), Output::Checked);
    assert_eq!(h.ok(0, check("/a", -1)), Output::Checked);
    assert_eq!(h.err(0, delete("/a", 1)).code, Code::BadVersion);
    let a = h.run(0, delete("/a", 2));
    assert_eq!(a.result, Ok(Output::Deleted));
    assert_eq!(
        a.changes,
        vec![
            ch(ChangeKind::NodeDeleted, "/a"),
            ch(ChangeKind::NodeChildrenChanged, "/")
        ]
    );
    let root = h.stat("/");
    assert_eq!(
        (root.cversion, root.pzxid, root.num_children),
        (2, h.zxid, 0)
    );
}

#[test]
fn delete_errors() {
    let mut h = H::new();
    h.ok(0, p("/a"));
    h.ok(0, p("/a/b"));
    let e = h.err(0, delete("/a", -1));
    assert_eq!((e.code, e.message.as_str()), (Code::NotEmpty, "/a"));
    assert_eq!(h.err(0, delete("/", -1)).code, Code::BadArguments);
    assert_eq!(h.err(0, delete("/zz", -1)).code, Code::NoNode);
    assert_eq!(h.err(0, delete("/a/", -1)).code, Code::BadArguments);
    h.ok(0, delete("/a/b", -1));
    h.ok(0, delete("/a", -1));
    assert_eq!(h.tree.node_count(), 1);
}

#[test]
fn ephemerals_belong_to_sessions() {
    let mut h = H::new();
    h.session(7);
    h.ok(0, p("/x"));
    let out = h.ok(7, create("/x/e", CreateMode::Ephemeral));
    match out {
        Output::Created { stat, .. } => assert_eq!(stat.ephemeral_owner, 7),
        o => panic!("{o:?}"),
    }
    let s2 = created_path(h.ok(7, create("/e-", CreateMode::EphemeralSequential)));
    assert_eq!(s2, "/e-0000000001");
    assert_eq!(
        h.err(7, p("/x/e/child")).code,
        Code::NoChildrenForEphemerals
    );
    assert_eq!(
        h.tree.ephemerals(7),
        vec!["/e-0000000001".to_string(), "/x/e".to_string()]
    );
    assert_eq!(
        h.err(0, create("/y", CreateMode::Ephemeral)).code,
        Code::SessionExpired
    );

    let cversions = (h.stat("/").cversion, h.stat("/x").cversion);
    let a = h.run(0, TxnOp::CloseSession { session_id: 7 });
    assert_eq!(a.result, Ok(Output::SessionClosed));
    assert_eq!(
        a.changes,
        vec![
            ch(ChangeKind::NodeDeleted, "/e-0000000001"),
            ch(ChangeKind::NodeChildrenChanged, "/"),
            ch(ChangeKind::NodeDeleted, "/x/e"),
            ch(ChangeKind::NodeChildrenChanged, "/x"),
        ]
    );
    assert_eq!(h.stat("/").cversion, cversions.0 + 1);
    assert_eq!(h.stat("/x").cversion, cversions.1 + 1);
    assert_eq!(h.stat("/x").pzxid, h.zxid);
    assert!(h.tree.exists("/x/e").is_none());
    assert!(h.tree.session(7).is_none());
    assert!(h.tree.ephemerals(7).is_empty());
    // Closing again is a no-op.
    let a = h.run(0, TxnOp::CloseSession { session_id: 7 });
    assert_eq!((a.result, a.changes), (Ok(Output::SessionClosed), vec![]));
}

#[test]
fn unknown_or_closed_sessions_are_refused() {
    let mut h = H::new();
    let before = h.tree.digest();
    assert_eq!(h.err(9, p("/a")).code, Code::SessionExpired);
    assert_eq!(
        h.tree.applied_zxid(),
        1,
        "a failed txn still advances the applied zxid"
    );
    assert_eq!(h.tree.digest(), before);
    h.session(9);
    h.ok(9, p("/a"));
    h.ok(0, TxnOp::CloseSession { session_id: 9 });
    assert_eq!(h.err(9, p("/b")).code, Code::SessionExpired);
    assert_eq!(h.err(9, delete("/a", -1)).code, Code::SessionExpired);
    assert!(
        h.tree.exists("/a").is_some(),
        "persistent nodes survive their session"
    );
}

#[test]
fn session_create_rules() {
    let mut h = H::new();
    h.session(3);
    let s = h.tree.session(3).expect("session 3");
    assert_eq!((s.password.as_slice(), s.timeout_ms), (&[1u8, 2][..], 5000));
    let dup = TxnOp::CreateSession {
        session_id: 3,
        password: vec![],
        timeout_ms: 1,
    };
    assert_eq!(h.err(0, dup).code, Code::BadArguments);
    let zero = TxnOp::CreateSession {
        session_id: 0,
        password: vec![],
        timeout_ms: 1,
    };
    assert_eq!(h.err(0, zero).code, Code::BadArguments);
    h.session(1);
    let ids: Vec<u64> = h.tree.sessions().map(|(id, _)| id).collect();
    assert_eq!(ids, vec![1, 3]);
    assert_eq!(h.tree.session_count(), 2);
}

#[test]
fn writes_apply_at_most_once_per_xid() {
    let mut h = H::new();
    h.session(5);
    let first = h.run_xid(5, 10, p("/a"));
    assert!(first.result.is_ok());
    let count = h.tree.node_count();
    let again = h.run_xid(5, 10, p("/a"));
    assert_eq!(again.result, first.result, "the recorded result comes back");
    assert!(again.changes.is_empty());
    assert_eq!(h.tree.node_count(), count);
    // An older xid than any remembered one cannot be told apart from a lost write.
    let stale = h.run_chained(5, 9, 10, 0, p("/b"));
    assert_eq!(
        stale.result.map_err(|e| e.code),
        Err(Code::RuntimeInconsistency)
    );
    assert!(h.tree.exists("/b").is_none());
    // Failed results are remembered too.
    let failed = h.run_xid(5, 11, p("/a"));
    assert_eq!(h.run_xid(5, 11, p("/c")).result, failed.result);
    assert!(h.tree.exists("/c").is_none());
    assert!(h.run_xid(5, 12, p("/c")).result.is_ok());
    assert_eq!(
        h.tree
            .session(5)
            .and_then(|s| s.last_write())
            .map(|l| l.xid),
        Some(12)
    );
    // Session 0 is never deduplicated.
    assert!(h.run_xid(0, 1, p("/d")).result.is_ok());
    assert!(h.run_xid(0, 1, p("/e")).result.is_ok());
}

#[test]
fn a_write_whose_predecessor_was_not_applied_fails_and_is_forgotten() {
    let mut h = H::new();
    h.session(5);
    assert!(h.run_chained(5, 1, 0, 1, p("/w1")).result.is_ok());
    // Write 2 was lost on its way; write 3 names it.
    let gap = h.run_chained(5, 3, 2, 2, p("/w3"));
    assert_eq!(
        gap.result.map_err(|e| e.code),
        Err(Code::PreviousWriteMissing)
    );
    assert!(gap.changes.is_empty());
    assert!(h.tree.exists("/w3").is_none());
    assert_eq!(
        h.tree
            .session(5)
            .and_then(|s| s.last_write())
            .map(|w| w.xid),
        Some(1),
        "a refused write is not remembered"
    );
    // A first write must say it is the first.
    h.session(6);
    assert_eq!(
        h.run_chained(6, 4, 3, 4, p("/x"))
            .result
            .map_err(|e| e.code),
        Err(Code::PreviousWriteMissing)
    );
    // The client resends 2 and 3 in order: both apply, once.
    assert!(h.run_chained(5, 2, 1, 2, p("/w2")).result.is_ok());
    assert!(h.run_chained(5, 3, 2, 2, p("/w3")).result.is_ok());
    assert!(h.tree.exists("/w2").is_some() && h.tree.exists("/w3").is_some());
    // The ensemble's own writes are not ordered.
    assert!(h.run_chained(0, 9, 77, 0, p("/e")).result.is_ok());
}

#[test]
fn resent_writes_get_their_original_results_while_the_client_waits_for_them() {
    let mut h = H::new();
    h.session(5);
    // Five pipelined creates; the client waits for all of them (oldest pending: 1).
    let first: Vec<Applied> = (1..=5)
        .map(|x| {
            h.run_chained(
                5,
                x,
                x - 1,
                1,
                create("/q-", CreateMode::PersistentSequential),
            )
        })
        .collect();
    let count = h.tree.node_count();
    let digest = h.tree.digest();
    for (x, was) in (1..=5).zip(&first) {
        let again = h.run_chained(
            5,
            x,
            x - 1,
            1,
            create("/q-", CreateMode::PersistentSequential),
        );
        assert_eq!(again.result, was.result, "resend of xid {x}");
        assert!(again.changes.is_empty());
    }
    assert_eq!((h.tree.node_count(), h.tree.digest()), (count, digest));
    // Write 6: everything before it has been answered, so only 6 is kept.
    assert!(h.run_chained(5, 6, 5, 6, p("/six")).result.is_ok());
    assert_eq!(h.tree.session(5).map(|s| s.writes.len()), Some(1));
    assert_eq!(
        h.run_chained(5, 3, 2, 3, p("/x"))
            .result
            .map_err(|e| e.code),
        Err(Code::RuntimeInconsistency)
    );
    // Without hints the window is bounded, and the newest writes are the ones kept.
    for x in 7..(7 + RESULT_WINDOW as i64 + 10) {
        h.run_chained(5, x, x - 1, 0, set("/six", b"v", -1));
    }
    let s = h.tree.session(5).expect("session");
    assert_eq!(s.writes.len(), RESULT_WINDOW);
    assert_eq!(
        s.last_write().map(|w| w.xid),
        Some(6 + RESULT_WINDOW as i64 + 10)
    );
    assert_eq!(h.tree.digest(), h.tree.recompute_digest());
}

#[test]
fn a_refused_write_keeps_its_place_in_the_session_order() {
    let mut h = H::new();
    h.session(5);
    let refused = TxnOp::Refused {
        code: Code::BadArguments,
        message: "bad path".into(),
    };
    let first = h.run_chained(5, 1, 0, 1, refused.clone());
    assert_eq!(
        first.result.clone().map_err(|e| e.code),
        Err(Code::BadArguments)
    );
    assert!(first.changes.is_empty());
    assert_eq!(h.run_chained(5, 1, 0, 1, refused).result, first.result);
    assert!(h.run_chained(5, 2, 1, 2, p("/a")).result.is_ok());
    let in_multi = TxnOp::Multi(vec![TxnOp::Refused {
        code: Code::TooLarge,
        message: String::new(),
    }]);
    let in_multi = h.run_chained(5, 3, 2, 3, in_multi);
    assert_eq!(in_multi.result.map_err(|e| e.code), Err(Code::BadArguments));
}

#[test]
fn old_zxids_are_ignored() {
    let mut t = DataTree::new();
    let txn = Txn {
        session_id: 0,
        xid: 0,
        prev_xid: 0,
        oldest_pending_xid: 0,
        time_ms: 0,
        who: Default::default(),
        op: p("/a"),
    };
    assert!(t.apply(5, &txn).result.is_ok());
    let digest = t.digest();
    let txn = Txn { op: p("/b"), ..txn };
    for zxid in [5, 4, 0] {
        let a = t.apply(zxid, &txn);
        assert_eq!(
            a.result.map_err(|e| e.code),
            Err(Code::RuntimeInconsistency)
        );
        assert!(a.changes.is_empty());
    }
    assert_eq!((t.applied_zxid(), t.digest()), (5, digest));
    assert!(t.exists("/b").is_none());
}

#[test]
fn multi_applies_in_order() {
    let mut h = H::new();
    let a = h.run(
        0,
        TxnOp::Multi(vec![
            p("/m"),
            create("/m/s-", CreateMode::PersistentSequential),
            create("/m/s-", CreateMode::PersistentSequential),
            set("/m", b"v", 0),
            check("/m", 1),
        ]),
    );
    let results = match a.result {
        Ok(Output::Multi(r)) => r,
        r => panic!("{r:?}"),
    };
    assert_eq!(results.len(), 5);
    assert!(matches!(&results[1], OpResult::Create { path, .. } if path == "/m/s-0000000000"));
    assert!(matches!(&results[2], OpResult::Create { path, .. } if path == "/m/s-0000000001"));
    assert!(
        matches!(&results[3], OpResult::SetData { stat } if stat.version == 1 && stat.num_children == 2)
    );
    assert_eq!(results[4], OpResult::Check);
    assert_eq!(
        a.changes,
        vec![
            ch(ChangeKind::NodeCreated, "/m"),
            ch(ChangeKind::NodeChildrenChanged, "/"),
            ch(ChangeKind::NodeCreated, "/m/s-0000000000"),
            ch(ChangeKind::NodeChildrenChanged, "/m"),
            ch(ChangeKind::NodeCreated, "/m/s-0000000001"),
            ch(ChangeKind::NodeChildrenChanged, "/m"),
            ch(ChangeKind::NodeDataChanged, "/m"),
        ]
    );
    let empty = h.run(0, TxnOp::Multi(vec![]));
    assert_eq!(
        (empty.result, empty.changes),
        (Ok(Output::Multi(vec![])), vec![])
    );
}

#[test]
fn failed_multi_rolls_back_everything() {
    let mut h = H::new();
    h.session(4);
    h.ok(0, p("/a"));
    h.ok(0, p("/a/old"));
    h.ok(4, create("/eph", CreateMode::Ephemeral));
    h.ok(0, create("/c", CreateMode::Container));
    let mut before = h.tree.clone();
    let ops = vec![
        set("/a", b"new data", -1),
        create("/a/s-", CreateMode::PersistentSequential),
        delete("/a/old", 0),
        delete("/eph", -1),
        create("/c/x", CreateMode::Persistent),
        create("/t", CreateMode::Persistent),
        create("/e2", CreateMode::Ephemeral),
        check("/a", 99),
        p("/never"),
    ];
    let e = h.err(4, TxnOp::Multi(ops));
    assert_eq!(e.code, Code::BadVersion);
    let mut expected = vec![None; 7];
    expected.extend([Some(Code::BadVersion), Some(Code::RuntimeInconsistency)]);
    assert_eq!(e.multi, Some(expected));
    // Everything but the applied zxid and the session's last write is as before,
    // digest and indexes included.
    before.applied_zxid = h.tree.applied_zxid;
    if let Some(s) = before.sessions.get_mut(&4) {
        s.writes = h
            .tree
            .session(4)
            .map(|s| s.writes.clone())
            .unwrap_or_default();
        let new = digest::session_hash(4, s);
        before.digest = before.digest.wrapping_sub(s.hash).wrapping_add(new);
        s.hash = new;
    }
    assert_eq!(h.tree, before);
    assert_eq!(h.tree.ephemerals(4), vec!["/eph".to_string()]);
    assert_eq!(h.tree.digest(), before.digest());
    // The counter was not consumed.
    assert_eq!(h.stat("/a").cversion, 1);

    // Ops that cannot appear in a multi fail it.
    let e = h.err(0, TxnOp::Multi(vec![p("/z"), TxnOp::Multi(vec![])]));
    assert_eq!(
        (e.code, e.multi),
        (
            Code::BadArguments,
            Some(vec![None, Some(Code::BadArguments)])
        )
    );
    let e = h.err(0, TxnOp::Multi(vec![TxnOp::CloseSession { session_id: 4 }]));
    assert_eq!(e.code, Code::BadArguments);
    assert!(h.tree.exists("/z").is_none());
}

#[test]
fn multi_from_session_is_deduplicated() {
    let mut h = H::new();
    h.session(2);
    let first = h.run_xid(2, 1, TxnOp::Multi(vec![p("/a"), p("/a")]));
    let again = h.run_xid(2, 1, TxnOp::Multi(vec![p("/b")]));
    assert_eq!(again.result, first.result);
    assert!(h.tree.exists("/b").is_none());
}

#[test]
fn containers_to_delete() {
    let mut h = H::new();
    h.ok(0, create("/c", CreateMode::Container));
    h.ok(0, create("/d", CreateMode::Container));
    assert!(
        h.tree.containers_to_delete().is_empty(),
        "never had children"
    );
    h.ok(0, p("/c/x"));
    h.ok(0, p("/d/x"));
    assert!(h.tree.containers_to_delete().is_empty());
    h.ok(0, delete("/d/x", -1));
    h.ok(0, delete("/c/x", -1));
    assert_eq!(
        h.tree.containers_to_delete(),
        vec!["/c".to_string(), "/d".to_string()]
    );
    h.ok(0, delete("/c", -1));
    assert_eq!(h.tree.containers_to_delete(), vec!["/d".to_string()]);
    assert_eq!(
        h.tree.node("/d").map(|n| n.kind()),
        Some(NodeKind::Container)
    );
}

#[test]
fn expired_ttl_nodes() {
    let mut h = H::new();
    let ttl = |path: &str, mode| TxnOp::Create {
        path: path.into(),
        data: vec![],
        mode,
        ttl_ms: 100,
        acl: Vec::new(),
    };
    h.ok(0, ttl("/t", CreateMode::PersistentWithTtl)); // mtime 10
    let s = created_path(h.ok(0, ttl("/s-", CreateMode::PersistentSequentialWithTtl))); // mtime 20
    assert_eq!(s, "/s-0000000001");
    assert!(h.tree.expired_ttl_nodes(109).is_empty());
    assert_eq!(h.tree.expired_ttl_nodes(110), vec!["/t".to_string()]);
    assert_eq!(
        h.tree.expired_ttl_nodes(120),
        vec![s.clone(), "/t".to_string()]
    );
    h.ok(0, p("/t/child"));
    assert_eq!(h.tree.expired_ttl_nodes(1000), vec![s.clone()]);
    h.ok(0, set(&s, b"touch", -1)); // mtime 40
    assert!(h.tree.expired_ttl_nodes(139).is_empty());
    assert_eq!(h.tree.expired_ttl_nodes(140), vec![s.clone()]);
    assert_eq!(h.tree.expired_ttl_nodes(i64::MAX), vec![s]);
}

#[test]
fn reads() {
    let mut h = H::new();
    for path in ["/a", "/a/b", "/a/b/c", "/a/a", "/d"] {
        h.ok(0, p(path));
    }
    assert_eq!(h.tree.all_children_number("/"), Ok(5));
    assert_eq!(h.tree.all_children_number("/a"), Ok(3));
    assert_eq!(h.tree.all_children_number("/d"), Ok(0));
    assert_eq!(
        h.tree.all_children_number("/x").map_err(|e| e.code),
        Err(Code::NoNode)
    );
    let (kids, stat) = h.tree.children("/a").expect("/a");
    assert_eq!(kids, vec!["a".to_string(), "b".to_string()]);
    assert_eq!(stat.num_children, 2);
    assert_eq!(h.tree.children("/x").map_err(|e| e.code), Err(Code::NoNode));
    assert_eq!(
        h.tree.get("bad").map_err(|e| e.code),
        Err(Code::BadArguments)
    );
    assert_eq!(h.tree.node_count(), 6);
}

/// A tree with every kind of node and session state.
fn rich_tree() -> DataTree {
    let mut h = H::new();
    h.session(1);
    h.session(2);
    h.ok(0, p("/a"));
    h.ok(1, create("/a/e", CreateMode::Ephemeral));
    h.ok(2, create("/a/q-", CreateMode::EphemeralSequential));
    h.ok(0, create("/c", CreateMode::Container));
    h.ok(
        0,
        TxnOp::Create {
            path: "/t".into(),
            data: vec![9; 300],
            mode: CreateMode::PersistentWithTtl,
            ttl_ms: 5,
            acl: Vec::new(),
        },
    );
    h.ok(1, set("/a", b"data", -1));
    h.err(2, delete("/a", 7));
    h.ok(1, TxnOp::Multi(vec![p("/m"), check("/m", 0)]));
    let bob = vec![
        Acl::new(Perms::ALL, Id::digest("bob", "pw")),
        Acl::new(Perms::READ, Id::new("ip", "10.0.0.0/8")),
    ];
    h.ok(0, create_acl("/s", bob.clone()));
    h.ok(0, create_acl("/s/t", bob));
    h.ok(0, set_acl("/m", Acl::read_only(), -1));
    h.tree
}

#[test]
fn snapshot_round_trip() {
    let t = rich_tree();
    let bytes = t.snapshot();
    let r = DataTree::restore(&bytes).expect("restore");
    assert_eq!(r, t);
    assert_eq!(r.snapshot(), bytes, "snapshots are deterministic");
    assert_eq!(r.ephemerals(1), vec!["/a/e".to_string()]);
    assert_eq!(
        DataTree::restore(&DataTree::new().snapshot()),
        Ok(DataTree::new())
    );
}

#[test]
fn snapshot_corruption_is_detected() {
    let bytes = rich_tree().snapshot();
    for i in 0..bytes.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut b = bytes.clone();
            b[i] ^= flip;
            assert!(
                DataTree::restore(&b).is_err(),
                "flip {flip:#x} at byte {i} went unnoticed"
            );
        }
    }
    for len in 0..bytes.len() {
        assert!(
            DataTree::restore(&bytes[..len]).is_err(),
            "truncation to {len} went unnoticed"
        );
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(DataTree::restore(&longer).is_err());
    assert_eq!(
        DataTree::restore(b"garbage!garbage"),
        Err(SnapshotError::BadMagic)
    );
    assert_eq!(DataTree::restore(b"PDK"), Err(SnapshotError::Truncated));
    let mut v5 = bytes.clone();
    v5[8] = 5;
    assert_eq!(
        DataTree::restore(&v5),
        Err(SnapshotError::UnsupportedVersion(5))
    );
}

#[test]
fn a_version_1_snapshot_still_restores() {
    // Version 1 kept at most one write per session, encoded as version 2 encodes one.
    let mut h = H::new();
    h.session(1);
    h.run_chained(1, 1, 0, 1, p("/a"));
    h.run_chained(1, 2, 1, 2, p("/b"));
    assert_eq!(h.tree.session(1).map(|s| s.writes.len()), Some(1));
    let v1 = h.tree.snapshot_as(1);
    assert_eq!(DataTree::restore(&v1), Ok(h.tree.clone()));
}

#[test]
fn a_version_2_snapshot_restores_with_open_acls() {
    let mut h = H::new();
    h.session(1);
    h.ok(0, p("/a"));
    h.ok(1, create("/a/e", CreateMode::Ephemeral));
    let t = h.tree;
    let restored = DataTree::restore(&t.snapshot_as(2)).expect("restore");
    assert_eq!(restored, t);
    assert!(restored
        .nodes
        .values()
        .all(|n| n.acl() == Acl::open().as_slice()));
}

#[test]
fn the_member_list_travels_in_snapshots_and_a_version_3_one_has_none() {
    let mut h = H::new();
    h.ok(0, p("/a"));
    let mut t = h.tree;
    let addrs = |peer: &str, client: &str| crate::tree::MemberAddrs {
        peer: peer.into(),
        client: client.into(),
    };
    t.set_member(2, addrs("b:2", "b:1"));
    t.set_member(1, addrs("a:2", ""));
    let digest = t.digest();
    let restored = DataTree::restore(&t.snapshot()).expect("restore");
    assert_eq!(restored, t);
    assert_eq!(restored.members().len(), 2);
    assert_eq!(restored.members()[&2], addrs("b:2", "b:1"));
    assert_eq!(
        restored.digest(),
        digest,
        "addresses are not part of the digest"
    );
    let old = DataTree::restore(&t.snapshot_as(3)).expect("restore v3");
    assert!(old.members().is_empty());
    t.remove_member(2);
    assert_eq!(t.members().keys().copied().collect::<Vec<_>>(), vec![1]);
    t.clear_members();
    assert!(t.members().is_empty());
}

/// Re-seals a snapshot whose body was edited, so only the structural checks can catch it.
fn reseal(mut b: Vec<u8>) -> Vec<u8> {
    let n = b.len() - 4;
    let crc = crc32fast::hash(&b[..n]);
    b[n..].copy_from_slice(&crc.to_le_bytes());
    b
}

#[test]
fn snapshot_structure_and_digest_are_checked() {
    let t = rich_tree();
    let mut b = t.snapshot();
    let n = b.len();
    b[n - 12] ^= 1; // the stored digest
    assert!(matches!(
        DataTree::restore(&reseal(b)),
        Err(SnapshotError::DigestMismatch { .. })
    ));

    let mut bad = t.clone();
    if let Some(node) = bad.nodes.get_mut("/a") {
        node.stat.num_children = 5;
    }
    assert!(matches!(
        DataTree::restore(&bad.snapshot()),
        Err(SnapshotError::Corrupt(_))
    ));

    let mut orphan = t.clone();
    orphan.sessions.remove(&1);
    assert!(matches!(
        DataTree::restore(&orphan.snapshot()),
        Err(SnapshotError::Corrupt(_))
    ));
}

/// Finding 12 of the session-safety review: the reaper decides a deletion, and it commits
/// later. A container deleted and re-created in between (here as a persistent node with
/// data), or a TTL node that is re-created with the same version, must survive the late
/// deletion; one that is still the node the reaper saw is deleted.
#[test]
fn a_reap_decided_before_a_node_was_replaced_leaves_the_new_node_alone() {
    let mut h = H::new();
    h.ok(0, create("/c", CreateMode::Container));
    h.ok(0, p("/c/x"));
    h.ok(0, delete("/c/x", -1));
    let ttl = TxnOp::Create {
        path: "/t".into(),
        data: vec![],
        mode: CreateMode::PersistentWithTtl,
        ttl_ms: 1,
        acl: Vec::new(),
    };
    h.ok(0, ttl.clone());
    let decided = h.tree.reap_candidates(i64::MAX);
    assert_eq!(decided.len(), 2, "{decided:?}");
    // Before the reaps commit: both nodes are deleted and created again.
    h.ok(0, delete("/c", -1));
    h.ok(
        0,
        TxnOp::Create {
            path: "/c".into(),
            data: b"new".to_vec(),
            mode: CreateMode::Persistent,
            ttl_ms: 0,
            acl: Vec::new(),
        },
    );
    h.ok(0, delete("/t", -1));
    h.ok(0, ttl);
    for op in decided {
        h.run(0, op);
    }
    assert_eq!(h.tree.get("/c").expect("the new /c").0, b"new");
    assert!(h.tree.exists("/t").is_some(), "the new /t survives");
    // Decided now, about the nodes as they are: the TTL node goes, /c is not a candidate.
    let now = h.tree.reap_candidates(i64::MAX);
    assert_eq!(now.len(), 1, "{now:?}");
    for op in now {
        h.ok(0, op);
    }
    assert!(h.tree.exists("/t").is_none());
    // Only the ensemble reaps.
    h.session(5);
    let e = h.err(
        5,
        TxnOp::Reap {
            path: "/c".into(),
            czxid: 0,
            mzxid: 0,
        },
    );
    assert_eq!(e.code, Code::BadArguments);
}

fn create_acl(path: &str, acl: Vec<Acl>) -> TxnOp {
    TxnOp::Create {
        path: path.into(),
        data: b"d".to_vec(),
        mode: CreateMode::Persistent,
        ttl_ms: 0,
        acl,
    }
}

fn set_acl(path: &str, acl: Vec<Acl>, version: i32) -> TxnOp {
    TxnOp::SetAcl {
        path: path.into(),
        acl,
        version,
    }
}

#[test]
fn nodes_get_the_open_acl_unless_given_one() {
    let mut h = H::new();
    h.ok(0, p("/a"));
    assert_eq!(
        h.tree.node("/a").expect("node").acl(),
        Acl::open().as_slice()
    );
    let alice = Id::digest("alice", "pw");
    h.ok(
        0,
        create_acl("/b", vec![Acl::new(Perms::ALL, alice.clone())]),
    );
    assert_eq!(
        h.tree.node("/b").expect("node").acl(),
        [Acl::new(Perms::ALL, alice)].as_slice()
    );
    // Invalid ACLs, and auth entries the proposer should have expanded, are refused.
    for bad in [
        vec![Acl::new(Perms::READ, Id::new("world", "everyone"))],
        vec![Acl::new(Perms::READ, Id::creator())],
    ] {
        assert_eq!(h.err(0, create_acl("/c", bad)).code, Code::InvalidAcl);
    }
    assert!(h.tree.node("/c").is_none());
}

#[test]
fn writes_are_checked_against_the_acl_when_they_apply() {
    let mut h = H::new();
    h.session(1);
    let alice = Id::digest("alice", "pw");
    // /locked: alice may do everything, everyone may read.
    h.ok(
        0,
        create_acl(
            "/locked",
            vec![
                Acl::new(Perms::ALL, alice.clone()),
                Acl::new(Perms::READ, Id::anyone()),
            ],
        ),
    );
    h.who = Who {
        identities: vec![Id::new("ip", "10.0.0.1")],
        superuser: false,
    };
    let no = |e: TxnError| e.code;
    assert_eq!(
        no(h.err(1, p("/locked/x"))),
        Code::NoAuth,
        "CREATE on the parent"
    );
    assert_eq!(
        no(h.err(1, set("/locked", b"x", -1))),
        Code::NoAuth,
        "WRITE"
    );
    assert_eq!(
        no(h.err(1, set_acl("/locked", Acl::open(), -1))),
        Code::NoAuth,
        "ADMIN"
    );
    // A multi fails at its first denied operation and changes nothing.
    let e = h.err(1, TxnOp::Multi(vec![p("/free"), set("/locked", b"x", -1)]));
    assert_eq!(e.code, Code::NoAuth);
    assert!(h.tree.node("/free").is_none());
    // READ is enough for a check.
    h.ok(1, TxnOp::Multi(vec![check("/locked", 0)]));

    h.who.identities.push(alice.clone());
    h.ok(1, p("/locked/x"));
    h.ok(1, set("/locked", b"x", -1));
    // DELETE on the parent comes before the node's existence, as in ZooKeeper.
    h.ok(
        0,
        set_acl("/locked", vec![Acl::new(Perms::READ, Id::anyone())], -1),
    );
    assert_eq!(no(h.err(1, delete("/locked/x", -1))), Code::NoAuth);
    assert_eq!(no(h.err(1, delete("/locked/nope", -1))), Code::NoAuth);
    // The ensemble's own transactions and a superuser pass every check.
    h.who = Who {
        identities: Vec::new(),
        superuser: true,
    };
    h.ok(1, delete("/locked/x", -1));
}

#[test]
fn set_acl_bumps_the_aversion_checks_it_and_fires_nothing() {
    let mut h = H::new();
    h.ok(0, p("/a"));
    let before = h.stat("/a");
    let ro = vec![Acl::new(Perms::READ, Id::anyone())];
    let applied = h.run(0, set_acl("/a", ro.clone(), 0));
    assert!(applied.changes.is_empty(), "setACL fires no watch");
    let stat = match applied.result {
        Ok(Output::AclSet { stat }) => stat,
        other => panic!("{other:?}"),
    };
    assert_eq!(stat.aversion, 1);
    assert_eq!((stat.version, stat.mzxid), (before.version, before.mzxid));
    assert_eq!(h.tree.node("/a").expect("node").acl(), ro.as_slice());
    assert_eq!(
        h.err(0, set_acl("/a", Acl::open(), 0)).code,
        Code::BadVersion
    );
    assert_eq!(
        h.err(0, set_acl("/a", Vec::new(), -1)).code,
        Code::InvalidAcl
    );
    assert_eq!(
        h.err(0, set_acl("/nope", Acl::open(), -1)).code,
        Code::NoNode
    );
    assert_eq!(
        h.err(0, TxnOp::Multi(vec![set_acl("/a", Acl::open(), -1)]))
            .code,
        Code::BadArguments,
        "not in a multi"
    );
    // The digest covers the ACL: equal stats and data, another ACL, another digest.
    let (mut open, mut read_only) = (H::new(), H::new());
    open.ok(0, create_acl("/a", Acl::open()));
    read_only.ok(0, create_acl("/a", Acl::read_only()));
    assert_eq!(open.stat("/a"), read_only.stat("/a"));
    assert_ne!(open.tree.digest(), read_only.tree.digest());
    // An explicit open ACL is the default one.
    let mut default = H::new();
    default.ok(0, p("/a"));
    assert_eq!(default.tree.digest(), open.tree.digest());
}

#[test]
fn acls_survive_a_snapshot_and_children_share_their_parents() {
    let mut h = H::new();
    let bob = vec![Acl::new(Perms::ALL, Id::digest("bob", "pw"))];
    h.ok(0, create_acl("/b", bob.clone()));
    h.ok(0, create_acl("/b/c", bob.clone()));
    let (b, c) = (
        h.tree.node("/b").expect("b").acl.clone(),
        h.tree.node("/b/c").expect("c").acl.clone(),
    );
    assert!(
        std::sync::Arc::ptr_eq(&b, &c),
        "a child with its parent's ACL shares it"
    );
    let restored = DataTree::restore(&h.tree.snapshot()).expect("restore");
    assert_eq!(restored, h.tree);
    assert_eq!(restored.node("/b/c").expect("c").acl(), bob.as_slice());
    assert_eq!(restored.digest(), h.tree.digest());
}
