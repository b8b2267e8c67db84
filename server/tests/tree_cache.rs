//! The tree cache against real ensembles: after random churn, with the cache's
//! connections cut again and again (and, in the second test, with a member that keeps
//! no history to replay, so every reconnect is a gap), the cache equals the tree.
mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::proxied::{client, cluster, cluster_with_args, Kept, T};
use futures::StreamExt;
use paddock::recipes::{CacheEvent, CachedNode, TreeCache};
use paddock::{Client, Code, CreateMode};
use paddock_jepsen::cluster::Cluster;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The subtree at `root` as the ensemble has it, read through `c`.
async fn read_tree(c: &Client, root: &str) -> BTreeMap<String, CachedNode> {
    let mut out = BTreeMap::new();
    let mut todo = vec![root.to_string()];
    while let Some(p) = todo.pop() {
        match c.get(&p).await {
            Ok((data, stat)) => {
                out.insert(p.clone(), CachedNode { data, stat });
            }
            Err(e) if e.code() == Code::NoNode => continue,
            Err(e) => panic!("get {p}: {e}"),
        }
        match c.children(&p).await {
            Ok(kids) => todo.extend(kids.iter().map(|k| paddock::path::join(&p, k))),
            Err(e) if e.code() == Code::NoNode => {}
            Err(e) => panic!("children {p}: {e}"),
        }
    }
    out
}

/// Random creates, sets and deletes below `root` (three levels deep).
async fn churn(c: &Client, root: &str, rng: &mut StdRng, n: usize) {
    for _ in 0..n {
        let depth = rng.gen_range(1..=3);
        let mut p = root.to_string();
        for _ in 0..depth {
            p = format!("{p}/n{}", rng.gen_range(0..4));
        }
        let r = match rng.gen_range(0..4) {
            0 | 1 => c
                .create_all(
                    &p,
                    format!("v{}", rng.gen::<u16>()).as_bytes(),
                    CreateMode::Persistent,
                )
                .await
                .map(|_| ()),
            2 => c
                .set(&p, format!("s{}", rng.gen::<u16>()).as_bytes(), None)
                .await
                .map(|_| ()),
            _ => c.delete_all(&p).await,
        };
        match r {
            Ok(()) => {}
            Err(e) if matches!(e.code(), Code::NoNode | Code::NodeExists) => {}
            Err(e) => panic!("churn on {p}: {e}"),
        }
    }
}

/// Waits until the cache holds exactly the tree (data and every stat field).
async fn converges(cache: &TreeCache, reader: &Client, root: &str) {
    let deadline = Instant::now() + T;
    loop {
        reader.sync(root).await.expect("sync");
        let want = read_tree(reader, root).await;
        let got = cache.snapshot();
        if got == want {
            return;
        }
        if Instant::now() > deadline {
            let missing: Vec<_> = want.keys().filter(|k| !got.contains_key(*k)).collect();
            let extra: Vec<_> = got.keys().filter(|k| !want.contains_key(*k)).collect();
            let differ: Vec<_> = want
                .iter()
                .filter(|(k, v)| got.get(*k).is_some_and(|g| g != *v))
                .map(|(k, _)| k)
                .collect();
            panic!("the cache never matched the tree: missing {missing:?}, extra {extra:?}, different {differ:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn churn_with_cuts(c: &Cluster, seed: u64, expect_resync: bool) {
    let root = "/cache";
    // The cache's client is on member 1 only; the writer on member 2.
    let watcher = client(vec![c.client_addr(1).to_string()], Duration::from_secs(6)).await;
    let writer = client(vec![c.client_addr(2).to_string()], Duration::from_secs(6)).await;
    let mut rng = StdRng::seed_from_u64(seed);
    eprintln!("churn seed {seed}");
    churn(&writer, root, &mut rng, 40).await;

    let (cache, mut events) = TreeCache::start(&watcher, root).await.expect("start");
    tokio::time::timeout(T, cache.initialized())
        .await
        .expect("initialized in time")
        .expect("initialized");
    while !matches!(next(&mut events).await, CacheEvent::Initialized) {}
    converges(&cache, &writer, root).await;

    let mut resyncs = 0;
    for _ in 0..4 {
        // Cut the cache's connections while the writer goes on, then let it back.
        c.cut_clients(1);
        churn(&writer, root, &mut rng, 30).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        c.heal_all();
        churn(&writer, root, &mut rng, 30).await;
        converges(&cache, &writer, root).await;
        while let Some(Some(ev)) = events.next().now_or_never() {
            match ev.expect("the cache keeps running") {
                CacheEvent::Resynced => resyncs += 1,
                CacheEvent::Initialized => panic!("initialized twice"),
                _ => {}
            }
        }
    }
    if expect_resync {
        assert!(
            resyncs > 0,
            "no reconnect needed a resync, so this run tested nothing"
        );
    }
    drop(cache);
    watcher.close().await.expect("close");
    writer.close().await.expect("close");
}

use futures::FutureExt;

async fn next(events: &mut paddock::recipes::CacheEvents) -> CacheEvent {
    tokio::time::timeout(T, events.next())
        .await
        .expect("an event in time")
        .expect("an event")
        .expect("not the end")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_equals_the_tree_after_churn_and_reconnects() {
    let tmp = Kept::new();
    let c = cluster(tmp.path()).await;
    churn_with_cuts(&c, rand::random(), false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_resyncs_when_its_watch_reports_a_gap() {
    let tmp = Kept::new();
    // A history of one byte forgets every change at once: every reconnect is a gap.
    let c = cluster_with_args(tmp.path(), &["--watch-history-bytes", "1"]).await;
    churn_with_cuts(&c, rand::random(), true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_events_describe_each_change_once() {
    let tmp = Kept::new();
    let c = cluster(tmp.path()).await;
    let cl = client(c.client_list(1), Duration::from_secs(6)).await;
    cl.create_all("/ev/a", b"1", CreateMode::Persistent)
        .await
        .expect("create");
    let (cache, mut events) = TreeCache::start(&cl, "/ev").await.expect("start");
    let mut initial = Vec::new();
    loop {
        match next(&mut events).await {
            CacheEvent::Initialized => break,
            CacheEvent::Created { path, .. } => initial.push(path),
            other => panic!("{other:?} during the load"),
        }
    }
    initial.sort();
    assert_eq!(initial, ["/ev", "/ev/a"]);
    cl.set("/ev/a", b"2", None).await.expect("set");
    assert!(
        matches!(next(&mut events).await, CacheEvent::Changed { path, node } if path == "/ev/a" && node.data == b"2")
    );
    cl.create("/ev/b", b"", CreateMode::Persistent)
        .await
        .expect("create");
    assert!(matches!(next(&mut events).await, CacheEvent::Created { path, .. } if path == "/ev/b"));
    cl.delete("/ev/a", None).await.expect("delete");
    assert!(
        matches!(next(&mut events).await, CacheEvent::Deleted { path, node } if path == "/ev/a" && node.data == b"2")
    );
    assert_eq!(cache.children("/ev"), ["b"]);
    assert_eq!(cache.get("/ev").expect("root").stat.num_children, 1);
    cl.close().await.expect("close");
}
