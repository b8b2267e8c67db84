//! Backup and restore against real `paddockd` processes: an online snapshot taken
//! under write load is consistent at its zxid, `paddockd restore` seeds a new ensemble
//! from it (zxids keep growing), bad files and used data directories are refused, only
//! the superuser may take one when there is one, and `--force-new-ensemble` brings a
//! lone survivor of a quorum loss back.
mod common;

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{client_at, Ensemble};
use paddock::acl::{digest, Acl, Id, Perms};
use paddock::{Code, CreateMode};
use paddock_server::tree::DataTree;

const T: Duration = Duration::from_secs(30);

/// `paddockd restore` of member `i` of `e` from `file`; the process's output.
fn restore(e: &Ensemble, i: usize, file: &std::path::Path) -> std::process::Output {
    let m = &e.members[i];
    Command::new(env!("CARGO_BIN_EXE_paddockd"))
        .args(["restore", "--snapshot", &file.display().to_string()])
        .args(["--id", &m.id.to_string()])
        .args(["--data-dir", &m.dir.display().to_string()])
        .args(["--peers", e.peers()])
        .output()
        .expect("run paddockd restore")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_under_load_seeds_a_new_ensemble() {
    let old = Ensemble::start(3, &[]);
    old.wait_leader(T);
    let c = client_at(&old.members[0].client, T).await;
    c.add_auth("digest", b"ops:pw").await.expect("auth");
    c.create_with_acl(
        "/guarded",
        b"g",
        CreateMode::Persistent,
        &Acl::creator_all(),
    )
    .await
    .expect("create");
    c.create("/load", b"", CreateMode::Persistent)
        .await
        .expect("create");

    // A writer keeps creating nodes on another member while the backup is taken.
    let writer = client_at(&old.members[1].client, T).await;
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (writer, stop) = (writer.clone(), stop.clone());
        tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) && i < 100_000 {
                let (path, stat) = writer
                    .create_with_stat(&format!("/load/n{i:06}"), b"x", CreateMode::Persistent)
                    .await
                    .expect("create under load");
                acked.push((path, stat.czxid));
                i += 1;
            }
            acked
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut bytes = Vec::new();
    let info = c.save_snapshot(&mut bytes).await.expect("save_snapshot");
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let acked = tokio::time::timeout(T, load)
        .await
        .expect("writer stops")
        .expect("join");
    assert_eq!(info.bytes, bytes.len() as u64);

    // Consistent at its zxid: exactly the acknowledged creates up to it are in it.
    let tree = DataTree::restore(&bytes).expect("a valid snapshot");
    assert_eq!(tree.applied_zxid(), info.zxid);
    let (before, after): (Vec<_>, Vec<_>) = acked.iter().partition(|(_, z)| *z <= info.zxid);
    assert!(
        !before.is_empty() && !after.is_empty(),
        "the backup was taken under load"
    );
    for (path, czxid) in &acked {
        assert_eq!(
            tree.node(path).is_some(),
            *czxid <= info.zxid,
            "{path} (czxid {czxid}) against a snapshot at {}",
            info.zxid
        );
    }
    c.close().await.expect("close");
    writer.close().await.expect("close");

    // A new ensemble (other addresses, other data) restored from the file.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("backup.snap");
    std::fs::write(&file, &bytes).expect("write backup");
    let mut new = Ensemble::layout(3, &[], |_| Vec::new());
    for i in 0..3 {
        let out = restore(&new, i, &file);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(said.contains(&format!("zxid {}", info.zxid)), "{said}");
    }
    for i in 0..3 {
        new.spawn(i);
    }
    new.wait_leader(T);
    let r = client_at(&new.members[2].client, T).await;
    r.sync("/").await.expect("sync");
    assert_eq!(
        r.children("/load").await.expect("children").len(),
        before.len()
    );
    // ACLs came along.
    assert_eq!(
        r.get("/guarded").await.err().map(|e| e.code()),
        Some(Code::NoAuth)
    );
    assert_eq!(
        r.get_acl("/guarded").await.err().map(|e| e.code()),
        Some(Code::NoAuth)
    );
    r.add_auth("digest", b"ops:pw").await.expect("auth");
    assert_eq!(r.get("/guarded").await.expect("get").0, b"g");
    // zxids go on after the backup's.
    let (_, stat) = r
        .create_with_stat("/after", b"", CreateMode::Persistent)
        .await
        .expect("create");
    assert!(stat.czxid > info.zxid, "{} <= {}", stat.czxid, info.zxid);
    r.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_refuses_bad_files_and_used_data_directories() {
    let mut e = Ensemble::start(1, &[]);
    e.wait_leader(T);
    let c = client_at(&e.members[0].client, T).await;
    c.create("/a", b"1", CreateMode::Persistent)
        .await
        .expect("create");
    let mut bytes = Vec::new();
    c.save_snapshot(&mut bytes).await.expect("save");
    c.close().await.expect("close");
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("good.snap");
    std::fs::write(&good, &bytes).expect("write");
    let mut damaged = bytes.clone();
    let mid = damaged.len() / 2;
    damaged[mid] ^= 0x40;
    let bad = dir.path().join("bad.snap");
    std::fs::write(&bad, &damaged).expect("write");

    // Into a member's own data directory: refused, the member's log untouched.
    e.stop(0);
    let out = restore(&e, 0, &good);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already holds a Raft log"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A damaged file: refused before anything is written.
    let fresh = Ensemble::layout(1, &[], |_| Vec::new());
    let out = restore(&fresh, 0, &bad);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not a valid snapshot"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !fresh.members[0].dir.join("raft").exists(),
        "nothing written"
    );
    let out = restore(&fresh, 0, &dir.path().join("missing.snap"));
    assert_eq!(out.status.code(), Some(1));
    // The member starts again on its own data.
    e.spawn(0);
    e.wait_leader(T);
    let c = client_at(&e.members[0].client, T).await;
    assert_eq!(c.get("/a").await.expect("get").0, b"1");
    c.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_superuser_only_the_superuser_takes_a_backup() {
    let e = Ensemble::start(1, &["--super-digest", &digest("super", "test")]);
    e.wait_leader(T);
    let c = client_at(&e.members[0].client, T).await;
    let mut sink = Vec::new();
    assert_eq!(
        c.save_snapshot(&mut sink).await.err().map(|e| e.code()),
        Some(Code::NoAuth)
    );
    c.add_auth("digest", b"super:test").await.expect("auth");
    let info = c.save_snapshot(&mut sink).await.expect("save as superuser");
    assert_eq!(info.bytes, sink.len() as u64);
    c.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn force_new_ensemble_brings_back_a_lone_survivor() {
    let mut e = Ensemble::start(3, &[]);
    let leader = e.wait_leader(T);
    let c = client_at(&e.members[leader].client, T).await;
    let kept = vec![Acl::new(Perms::ALL, Id::anyone())];
    c.create_with_acl("/kept", b"k", CreateMode::Persistent, &kept)
        .await
        .expect("create");
    // Every member has it before the loss.
    e.wait_converged(T);
    c.close().await.expect("close");
    let survivor = (leader + 1) % 3;
    for i in 0..3 {
        if i != survivor {
            e.kill(i);
        }
    }
    // Alone, the survivor serves nobody.
    e.stop(survivor);
    let alone = format!("{}={}", e.members[survivor].id, e.members[survivor].peer);
    e.spawn_with_peers(survivor, &alone, &["--force-new-ensemble"]);
    let deadline = Instant::now() + T;
    let c = loop {
        let c = client_at(&e.members[survivor].client, T).await;
        match c.create("/after", b"", CreateMode::Persistent).await {
            Ok(_) => break c,
            Err(err) => {
                assert!(Instant::now() < deadline, "no write after forcing: {err}");
                let _ = c.close().await;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    assert_eq!(c.get("/kept").await.expect("get").0, b"k");
    assert!(e
        .log(survivor)
        .contains("FORCING A NEW ONE-MEMBER ENSEMBLE"));
    c.close().await.expect("close");
    // Started again without the flag, it is a one-member ensemble for good.
    e.stop(survivor);
    e.spawn_with_peers(survivor, &alone, &[]);
    let c = client_at(&e.members[survivor].client, T).await;
    let deadline = Instant::now() + T;
    while c
        .create("/again", b"", CreateMode::Persistent)
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "no write after the restart");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    c.close().await.expect("close");
}
