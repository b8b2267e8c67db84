//! Multi-member ensembles of real `paddockd` processes: replication, leader failure,
//! catch-up (by log and by snapshot), whole-ensemble restart, minority failures.
mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{client_at, Ensemble};
use paddock::CreateMode;
use parking_lot::Mutex;

const T: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_through_every_member_are_read_everywhere() {
    let e = Ensemble::start(3, &[]);
    e.wait_leader(T);
    let mut clients = Vec::new();
    for m in &e.members {
        clients.push(client_at(&m.client, T).await);
    }
    clients[0]
        .create("/app", b"", CreateMode::Persistent)
        .await
        .expect("create /app");
    for (i, c) in clients.iter().enumerate() {
        c.create(
            &format!("/app/from-{}", i + 1),
            format!("v{i}").as_bytes(),
            CreateMode::Persistent,
        )
        .await
        .expect("create through member");
    }
    for c in &clients {
        c.sync("/app").await.expect("sync");
        let children = c.children("/app").await.expect("children");
        assert_eq!(children, vec!["from-1", "from-2", "from-3"]);
        for i in 0..3 {
            let (data, _) = c.get(&format!("/app/from-{}", i + 1)).await.expect("get");
            assert_eq!(data, format!("v{i}").as_bytes());
        }
    }
    // Sequential names are assigned once, by the log order, whichever member proposes.
    let mut seq = Vec::new();
    for c in &clients {
        seq.push(
            c.create("/app/q-", b"", CreateMode::PersistentSequential)
                .await
                .expect("seq"),
        );
    }
    seq.sort();
    seq.dedup();
    assert_eq!(seq.len(), 3);
    e.wait_converged(T);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_kill_mid_load_loses_no_acknowledged_write() {
    let mut e = Ensemble::start(3, &[]);
    let leader = e.wait_leader(T);
    let setup = client_at(&e.members[0].client, T).await;
    setup
        .create("/load", b"", CreateMode::Persistent)
        .await
        .expect("create /load");
    let acked: Arc<Mutex<BTreeMap<String, Vec<u8>>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..4 {
        let client = client_at(&e.servers(), T).await;
        let (acked, stop) = (acked.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut n = 0u32;
            let deadline = std::time::Instant::now() + Duration::from_secs(25);
            while !stop.load(std::sync::atomic::Ordering::Relaxed)
                && std::time::Instant::now() < deadline
            {
                let path = format!("/load/w{w}-{n}");
                let data = format!("{w}:{n}").into_bytes();
                if client
                    .create(&path, &data, CreateMode::Persistent)
                    .await
                    .is_ok()
                {
                    acked.lock().insert(path, data);
                }
                n += 1;
            }
        }));
    }
    // Writes are flowing before the kill, and flow again after the election.
    let acked_at_least = |n: usize| {
        let acked = acked.clone();
        async move {
            let deadline = std::time::Instant::now() + T;
            while acked.lock().len() < n {
                assert!(
                    std::time::Instant::now() < deadline,
                    "fewer than {n} writes acknowledged"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    acked_at_least(20).await;
    e.kill(leader);
    let new_leader = e.wait_leader(T);
    assert_ne!(new_leader, leader);
    let before = acked.lock().len();
    acked_at_least(before + 20).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in writers {
        w.await.expect("writer");
    }
    let acked = acked.lock().clone();
    assert!(
        acked.len() > 20,
        "too few writes acknowledged: {}",
        acked.len()
    );
    // Every acknowledged write is on every surviving member...
    for (i, m) in e.members.iter().enumerate() {
        if i == leader {
            continue;
        }
        let c = client_at(&m.client, T).await;
        c.sync("/load").await.expect("sync");
        for (path, data) in &acked {
            let (got, _) = c
                .get(path)
                .await
                .unwrap_or_else(|err| panic!("{path} lost on member {}: {err}", i + 1));
            assert_eq!(&got, data);
        }
    }
    // ...and on the old leader once it is back.
    e.spawn(leader);
    e.wait_converged(T);
    let c = client_at(&e.members[leader].client, T).await;
    for path in acked.keys() {
        c.get(path)
            .await
            .expect("acknowledged write on the restarted member");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lagging_member_catches_up_by_log_and_by_snapshot() {
    let mut e = Ensemble::start(3, &["--snapshot-entries", "50"]);
    let leader = e.wait_leader(T);
    let lagger = (leader + 1) % 3;
    let had = e.status(lagger).expect("status")["applied_index"]
        .as_u64()
        .expect("applied_index");
    e.stop(lagger);
    let c = client_at(&e.members[leader].client, T).await;
    c.create("/lag", b"", CreateMode::Persistent)
        .await
        .expect("create");
    // Far more entries than one snapshot interval: the lagger needs a snapshot.
    for i in 0..300 {
        c.create(&format!("/lag/n{i}"), b"x", CreateMode::Persistent)
            .await
            .expect("create");
    }
    e.spawn(lagger);
    e.wait_converged(T);
    let lc = client_at(&e.members[lagger].client, T).await;
    assert_eq!(lc.children("/lag").await.expect("children").len(), 300);
    // It really was a snapshot: the lagger says it installed one, and its snapshot is
    // past everything it had applied before it stopped.
    let log = std::fs::read_to_string(e.members[lagger].dir.with_extension("log")).expect("log");
    assert!(
        log.contains("installed a snapshot from the leader"),
        "the lagger caught up without a snapshot"
    );
    let status = e.status(lagger).expect("status");
    let snapshot = status["snapshot_index"].as_u64().expect("snapshot_index");
    assert!(
        snapshot > had,
        "snapshot {snapshot}, applied before the stop {had}"
    );
    // A short lag is caught up from the log.
    e.stop(lagger);
    for i in 0..10 {
        c.set(&format!("/lag/n{i}"), b"y", None).await.expect("set");
    }
    e.spawn(lagger);
    e.wait_converged(T);
    let lc = client_at(&e.members[lagger].client, T).await;
    assert_eq!(lc.get("/lag/n3").await.expect("get").0, b"y");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_ensemble_restart_keeps_everything() {
    let mut e = Ensemble::start(3, &["--snapshot-entries", "40"]);
    e.wait_leader(T);
    let c = client_at(&e.servers(), T).await;
    c.create("/keep", b"root", CreateMode::Persistent)
        .await
        .expect("create");
    for i in 0..100 {
        c.create(
            &format!("/keep/k{i}"),
            format!("{i}").as_bytes(),
            CreateMode::Persistent,
        )
        .await
        .expect("create");
    }
    let digest = e.wait_converged(T);
    drop(c);
    // Two members stop gracefully, one is killed.
    e.stop(0);
    e.stop(1);
    e.kill(2);
    for i in 0..3 {
        e.spawn(i);
    }
    e.wait_leader(T);
    let after = e.wait_converged(T);
    assert_eq!(digest, after, "the tree changed across a restart");
    let c = client_at(&e.servers(), T).await;
    assert_eq!(c.children("/keep").await.expect("children").len(), 100);
    assert_eq!(c.get("/keep/k42").await.expect("get").0, b"42");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_members_keep_working_with_two_down() {
    let mut e = Ensemble::start(5, &[]);
    let leader = e.wait_leader(T);
    // Take down the leader and one follower.
    let follower = (leader + 1) % 5;
    e.kill(leader);
    e.kill(follower);
    e.wait_leader(T);
    let alive: Vec<String> = e
        .members
        .iter()
        .filter(|m| m.child.is_some())
        .map(|m| m.client.clone())
        .collect();
    let c = client_at(&alive.join(","), T).await;
    c.create("/five", b"ok", CreateMode::Persistent)
        .await
        .expect("write with 3 of 5");
    for s in &alive {
        let r = client_at(s, T).await;
        r.sync("/five").await.expect("sync");
        assert_eq!(r.get("/five").await.expect("read").0, b"ok");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linearizable_reads_and_sync_across_a_leader_change() {
    let mut e = Ensemble::start(3, &[]);
    let leader = e.wait_leader(T);
    let follower = (leader + 1) % 3;
    let w = client_at(&e.members[leader].client, T).await;
    w.create("/lin", b"1", CreateMode::Persistent)
        .await
        .expect("create");
    let r = client_at(&e.members[follower].client, T).await;
    assert_eq!(
        r.get_linearizable("/lin")
            .await
            .expect("linearizable read")
            .0,
        b"1"
    );
    drop(w);
    e.kill(leader);
    // The new leader has not committed an entry of its term at first; the read must
    // still complete (asked again until it does), never hang or return anything stale.
    // A member without a leader for an election timeout closes its client connections
    // (it cannot vouch for them), so the read may fail with ConnectionLoss meanwhile and
    // is retried, as ZooKeeper clients do.
    let deadline = std::time::Instant::now() + T;
    let data = loop {
        match r.get_linearizable("/lin").await {
            Ok((data, _)) => break data,
            Err(e) if e.is_retryable() && std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("read across the election: {e}"),
        }
    };
    assert_eq!(data, b"1");
    r.sync("/").await.expect("sync after the election");
    r.set("/lin", b"2", None)
        .await
        .expect("write after the election");
    assert_eq!(r.get_linearizable("/lin").await.expect("read").0, b"2");
}

/// Finding 5 of the session-safety review: installing a snapshot did not move the
/// applied index that waiters watch, so on an idle ensemble `sync` and linearizable reads
/// on the member that installed it timed out (and resumes were refused) until the next
/// write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_installed_a_snapshot_serves_barriers_without_another_write() {
    // A snapshot after every entry and nothing kept behind it: a lagger needs a snapshot.
    let mut e = Ensemble::start(3, &["--snapshot-entries", "1"]);
    let leader = e.wait_leader(T);
    let lagger = (leader + 1) % 3;
    e.stop(lagger);
    let c = client_at(&e.members[leader].client, T).await;
    for i in 0..30 {
        c.create(&format!("/s{i}"), b"x", CreateMode::Persistent)
            .await
            .expect("create");
    }
    // Closed, not dropped: its expiry would be a write after the snapshot.
    c.close().await.expect("close");
    // Idle from here on: wait until the leader's snapshot covers its last entry.
    let deadline = Instant::now() + T;
    let last = loop {
        let s = e.status(leader).expect("leader status");
        if s["snapshot_index"] == s["applied_index"] {
            break s["applied_index"].as_u64().expect("index");
        }
        assert!(
            Instant::now() < deadline,
            "the leader never snapshotted its last entry"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    e.spawn(lagger);
    let deadline = Instant::now() + T;
    loop {
        if let Some(s) = e.status(lagger) {
            if s["applied_index"].as_u64() >= Some(last) {
                assert!(
                    s["snapshot_index"].as_u64() >= Some(last),
                    "caught up by snapshot: {s}"
                );
                break;
            }
        }
        assert!(Instant::now() < deadline, "the lagger never caught up");
        std::thread::sleep(Duration::from_millis(50));
    }
    let lc = client_at(&e.members[lagger].client, T).await;
    lc.sync("/")
        .await
        .expect("sync on the member that installed the snapshot");
    let (data, _) = lc
        .get_linearizable("/s29")
        .await
        .expect("linearizable read");
    assert_eq!(data, b"x");
}
