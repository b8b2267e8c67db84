//! Members whose data was damaged or lost, and the status that compares replicas. These
//! reproduce what the jepsen/ harness found: a member whose disk lost acknowledged
//! entries, or whose data directory was emptied, crashed inside raft-rs instead of
//! stopping with a message or catching up; and `/status` could report a digest that did
//! not belong to its `applied_index` while writes were flowing.
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::{client_at, Ensemble};
use paddock::CreateMode;

const T: Duration = Duration::from_secs(30);

/// The newest raft-engine file of member `i`.
fn newest_log_file(e: &Ensemble, i: usize) -> std::path::PathBuf {
    let mut files: Vec<_> = std::fs::read_dir(e.members[i].dir.join("raft"))
        .expect("raft dir")
        .flatten()
        .map(|d| d.path())
        .filter(|p| p.extension().is_some_and(|x| x == "raftlog"))
        .collect();
    files.sort();
    files.pop().expect("a log file")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reports_the_digest_of_its_applied_index_while_writes_flow() {
    let e = Ensemble::start(3, &[]);
    e.wait_leader(T);
    let c = client_at(&e.servers(), T).await;
    c.create("/load", b"", CreateMode::Persistent)
        .await
        .expect("create");
    let writer = {
        let c = c.clone();
        tokio::spawn(async move {
            let until = Instant::now() + Duration::from_secs(4);
            let mut i = 0u64;
            while Instant::now() < until {
                // Pipelined, so entries apply while statuses are read.
                let batch: Vec<_> = (0..16)
                    .map(|k| {
                        let c = c.clone();
                        let p = format!("/load/n{}", i * 16 + k);
                        async move { c.create(&p, b"x", CreateMode::Persistent).await }
                    })
                    .collect();
                for r in futures::future::join_all(batch).await {
                    r.expect("create");
                }
                i += 1;
            }
        })
    };
    let admins: Vec<String> = e.members.iter().map(|m| m.admin.clone()).collect();
    let samples = tokio::task::spawn_blocking(move || {
        let mut seen: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
        let until = Instant::now() + Duration::from_secs(4);
        while Instant::now() < until {
            for a in &admins {
                if let Some(body) = common::http_get(a, "/status") {
                    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&body) {
                        let applied = v["applied_index"].as_u64().unwrap_or(0);
                        let digest = v["digest"].as_str().unwrap_or_default().to_string();
                        seen.entry(applied).or_default().insert(digest);
                    }
                }
            }
        }
        seen
    })
    .await
    .expect("poller");
    writer.await.expect("writer");
    assert!(samples.len() > 10, "too few samples: {}", samples.len());
    let bad: Vec<_> = samples.iter().filter(|(_, d)| d.len() > 1).collect();
    assert!(
        bad.is_empty(),
        "one applied index, several digests (of {} indexes seen): {:?}",
        samples.len(),
        bad.iter().take(3).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_whose_disk_lost_acknowledged_entries_stops_and_says_why() {
    let mut e = Ensemble::start(3, &[]);
    let leader = e.wait_leader(T);
    let victim = (leader + 1) % 3;
    let c = client_at(&e.members[leader].client, T).await;
    c.create("/lost", b"", CreateMode::Persistent)
        .await
        .expect("create");
    for i in 0..400 {
        c.create(&format!("/lost/n{i}"), &[7u8; 200], CreateMode::Persistent)
            .await
            .expect("create");
    }
    e.wait_converged(T);
    e.kill(victim);
    // Cut off the newer half of what it had written (and acknowledged).
    let file = newest_log_file(&e, victim);
    let len = std::fs::metadata(&file).expect("metadata").len();
    let bytes = std::fs::read(&file).expect("read");
    let used = bytes
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |p| p as u64 + 1);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .expect("open")
        .set_len(used / 2)
        .expect("truncate");
    assert!(len > used / 2);
    e.spawn(victim);
    let status = e
        .wait_exit(victim, T)
        .expect("the damaged member must stop");
    let log = e.log(victim);
    assert!(!status.success());
    assert!(
        !log.contains("panicked"),
        "it crashed instead of stopping:\n{log}"
    );
    assert!(
        log.contains("lost entries it had acknowledged"),
        "no clear reason in its log:\n{log}"
    );
    // The others go on.
    c.create("/lost/after", b"", CreateMode::Persistent)
        .await
        .expect("the majority still serves");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_started_with_an_emptied_data_directory_catches_up() {
    let mut e = Ensemble::start(3, &["--snapshot-entries", "100"]);
    let leader = e.wait_leader(T);
    let victim = (leader + 1) % 3;
    let c = client_at(&e.members[leader].client, T).await;
    c.create("/wiped", b"", CreateMode::Persistent)
        .await
        .expect("create");
    for i in 0..300 {
        c.create(&format!("/wiped/n{i}"), b"x", CreateMode::Persistent)
            .await
            .expect("create");
    }
    e.wait_converged(T);
    e.kill(victim);
    std::fs::remove_dir_all(&e.members[victim].dir).expect("wipe");
    e.spawn_with(victim, &["--rejoin-after-data-loss"]);
    e.wait_converged(T);
    assert!(
        e.wait_exit(victim, Duration::from_secs(2)).is_none(),
        "the emptied member exited:\n{}",
        e.log(victim)
    );
    let vc = client_at(&e.members[victim].client, T).await;
    assert_eq!(vc.children("/wiped").await.expect("children").len(), 300);
}
