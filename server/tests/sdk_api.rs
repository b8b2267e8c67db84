//! The SDK's conveniences against real members: namespaces, recursive create and
//! delete, the failing index of a multi, per-call timeouts, read retries, and what a
//! dropped watch stream does on the member.
mod common;

use std::time::{Duration, Instant};

use common::proxied::{client_on, cluster, Kept};
use common::{client_at, Ensemble};
use futures::StreamExt;
use paddock::{Code, CreateMode, Error, EventKind, Op, OpResult, RetryPolicy};

const T: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_maps_every_path_in_and_out() {
    let e = Ensemble::start(1, &[]);
    e.wait_leader(T);
    let root = client_at(&e.members[0].client, T).await;
    let app = root.with_namespace("/apps/billing").expect("namespace");
    assert_eq!(app.namespace(), Some("/apps/billing"));

    // create_all makes the namespace's own ancestors too.
    assert_eq!(
        app.create_all("/config/db", b"x", CreateMode::Persistent)
            .await
            .expect("create_all"),
        "/config/db"
    );
    assert_eq!(
        root.get("/apps/billing/config/db").await.expect("get").0,
        b"x"
    );
    assert_eq!(app.children("/").await.expect("children"), ["config"]);
    let seq = app
        .create("/config/item-", b"", CreateMode::EphemeralSequential)
        .await
        .expect("sequential");
    assert!(seq.starts_with("/config/item-"), "{seq}");
    assert_eq!(
        app.get_ephemerals("/").await.expect("ephemerals"),
        vec![seq]
    );
    let results = app
        .multi(&[
            Op::create("/config/m", b""),
            Op::check("/config").version(0),
        ])
        .await
        .expect("multi");
    assert!(matches!(&results[0], OpResult::Create { path, .. } if path == "/config/m"));

    // Watch events come back relative to the namespace.
    let mut stream = app.add_watch("/config", true).await.expect("add_watch");
    let (_, _, once) = app.get_watch("/config/db").await.expect("get_watch");
    root.set("/apps/billing/config/db", b"y", None)
        .await
        .expect("set");
    let ev = tokio::time::timeout(T, once)
        .await
        .expect("in time")
        .expect("fired");
    assert_eq!(
        (ev.kind, ev.path.as_str()),
        (EventKind::NodeDataChanged, "/config/db")
    );
    let ev = tokio::time::timeout(T, stream.next())
        .await
        .expect("in time")
        .expect("an item")
        .expect("an event");
    assert_eq!(ev.path, "/config/db");
    // Nested namespaces add up; a bad one is refused.
    let nested = app.with_namespace("/config").expect("nested");
    assert_eq!(nested.get("/db").await.expect("get").0, b"y");
    assert!(matches!(
        root.with_namespace("apps"),
        Err(Error::BadArguments(_))
    ));
    root.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_all_removes_a_subtree_and_multi_names_the_failing_operation() {
    let e = Ensemble::start(1, &[]);
    e.wait_leader(T);
    let c = client_at(&e.members[0].client, T).await;
    for p in ["/t/a/x", "/t/a/y/z", "/t/b", "/keep"] {
        c.create_all(p, b"", CreateMode::Persistent)
            .await
            .expect("create_all");
    }
    c.delete_all("/t").await.expect("delete_all");
    assert!(c.exists("/t").await.expect("exists").is_none());
    assert!(c.exists("/keep").await.expect("exists").is_some());
    c.delete_all("/t").await.expect("a missing subtree is fine");
    assert!(matches!(
        c.delete_all("/").await,
        Err(Error::BadArguments(_))
    ));

    // The second operation fails: the error says which, and nothing applied.
    let err = c
        .multi(&[
            Op::create("/m1", b""),
            Op::set_data("/keep", b"v").version(7),
            Op::create("/m2", b""),
        ])
        .await
        .expect_err("bad version");
    match err {
        Error::Multi { index, code, .. } => assert_eq!((index, code), (1, Code::BadVersion)),
        other => panic!("{other:?}"),
    }
    assert!(c.exists("/m1").await.expect("exists").is_none());

    // TTL nodes take their TTL as a Duration, through create_ttl only.
    assert!(matches!(
        c.create("/ttl", b"", CreateMode::PersistentWithTtl).await,
        Err(Error::BadArguments(_))
    ));
    let (_, stat) = c
        .create_ttl(
            "/ttl",
            b"",
            CreateMode::PersistentWithTtl,
            Duration::from_secs(60),
        )
        .await
        .expect("create_ttl");
    assert!(stat.czxid > 0);
    c.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_watch_stream_removes_its_watch_from_the_member() {
    let e = Ensemble::start(1, &[]);
    e.wait_leader(T);
    let c = client_at(&e.members[0].client, T).await;
    let watches = || {
        e.status(0).expect("status")["watch_count"]
            .as_u64()
            .expect("count")
    };
    let before = watches();
    let a = c.add_watch("/w", true).await.expect("add_watch");
    let b = c.add_watch("/w", true).await.expect("add_watch");
    assert_eq!(
        watches(),
        before + 1,
        "one watch per session, path and mode"
    );
    drop(a);
    // The other stream still listens: the watch stays.
    c.sync("/").await.expect("sync");
    assert_eq!(watches(), before + 1);
    drop(b);
    let deadline = Instant::now() + T;
    while watches() != before {
        assert!(
            Instant::now() < deadline,
            "the member kept the dropped stream's watch"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Adding it again right after works.
    let mut again = c.add_watch("/w", true).await.expect("add_watch");
    c.create("/w", b"", CreateMode::Persistent)
        .await
        .expect("create");
    let ev = tokio::time::timeout(T, again.next())
        .await
        .expect("in time")
        .expect("an item")
        .expect("an event");
    assert_eq!(ev.kind, EventKind::NodeCreated);
    c.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_gives_up_after_its_timeout_and_reads_are_retried_elsewhere() {
    let tmp = Kept::new();
    let cl = cluster(tmp.path()).await;
    let c = client_on(&cl, 1, Duration::from_secs(6)).await;
    c.create("/r", b"v", CreateMode::Persistent)
        .await
        .expect("create");

    // The member serving the session stops answering: a call with a timeout gives up.
    // (Read just before the pause: a member that is not ready yet, right after the
    // ensemble started, may have sent the session on to another one since.)
    let m = c.server_id();
    cl.pause(m);
    let quick = c.with_timeout(Some(Duration::from_millis(300)));
    let started = Instant::now();
    let err = quick.get("/r").await.expect_err("no answer");
    assert_eq!(err.code(), Code::OperationTimeout, "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));

    // A read in flight when the connection is cut fails with ConnectionLoss without a
    // retry policy, and succeeds through another member with one.
    let plain = c.clone();
    let lost = tokio::spawn(async move { plain.get("/r").await });
    let retried = c.with_retry(RetryPolicy::default());
    let kept = tokio::spawn(async move { retried.get("/r").await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    cl.cut_clients(m);
    let lost = tokio::time::timeout(T, lost)
        .await
        .expect("in time")
        .expect("join");
    assert!(matches!(lost, Err(Error::ConnectionLoss(_))), "{lost:?}");
    let kept = tokio::time::timeout(T, kept)
        .await
        .expect("in time")
        .expect("join");
    assert_eq!(kept.expect("retried read").0, b"v");
    cl.resume(m);
    cl.heal_all();
    c.close().await.expect("close");
}
