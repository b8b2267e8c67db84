//! Partitions that cut real traffic: members wired through the jepsen/ harness's link
//! proxies (one per directed peer link, one per client port), cut and healed by the
//! test. Each test reproduced a bug on the code before its fix.
use std::time::{Duration, Instant};

use paddock::{Client, ClientConfig, CreateMode, State};
use paddock_jepsen::cluster::{Cluster, ClusterSpec};

const T: Duration = Duration::from_secs(30);

async fn cluster(dir: &std::path::Path) -> Cluster {
    let spec = ClusterSpec {
        members: 3,
        paddockd: env!("CARGO_BIN_EXE_paddockd").into(),
        dir: dir.to_path_buf(),
        args: ["--session-tick-ms", "200", "--container-check-ms", "200"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        env: Vec::new(),
    };
    let c = Cluster::start(spec).await.expect("cluster");
    assert!(c.wait_leader(T).await.is_some(), "no leader");
    c
}

async fn client(servers: Vec<String>, timeout: Duration) -> Client {
    let deadline = Instant::now() + T;
    loop {
        let cfg = ClientConfig::from_list(&servers.join(",")).session_timeout(timeout);
        match Client::connect_with(cfg).await {
            Ok(c) => return c,
            Err(e) => {
                assert!(Instant::now() < deadline, "connect: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// A temp dir that is kept (and named) when the test fails, or when
/// `PADDOCK_TEST_KEEP` is set, so the members' logs can be read.
struct Kept(tempfile::TempDir);

impl Drop for Kept {
    fn drop(&mut self) {
        if std::thread::panicking() || std::env::var_os("PADDOCK_TEST_KEEP").is_some() {
            let keep = std::env::temp_dir().join(format!("paddock-test-{}", std::process::id()));
            let _ = std::fs::rename(self.0.path(), &keep);
            eprintln!("member data and logs kept in {}", keep.display());
        }
    }
}

/// Cuts member `id` off from every other member, both ways.
fn isolate(c: &Cluster, id: u64) {
    for other in c.ids().into_iter().filter(|o| *o != id) {
        c.cut(id, other);
        c.cut(other, id);
    }
}

/// Finding 2: a follower cut off from the majority, with its client still connected to
/// it. The majority expires the session and deletes its ephemeral (a lock another client
/// may now take). Before that happens, the client must have learned that its session may
/// be gone: its member stopped serving it (it is no longer connected) and its lease ran
/// out; no read the cut-off member answered may show the lock node after the majority
/// deleted it; and once healed, the client learns the session expired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_cut_off_from_the_leader_stops_vouching_for_its_sessions() {
    let tmp = Kept(tempfile::tempdir().expect("tempdir"));
    let c = cluster(tmp.0.path()).await;
    let leader = c.wait_leader(T).await.expect("leader");
    let f = c
        .ids()
        .into_iter()
        .find(|i| *i != leader)
        .expect("a follower");
    let observer = client(vec![c.client_addr(leader).to_string()], T).await;
    observer
        .create("/lock", b"", CreateMode::Persistent)
        .await
        .expect("parent");
    // The holder only knows member f.
    let holder = client(vec![c.client_addr(f).to_string()], Duration::from_secs(2)).await;
    holder
        .create("/lock/holder", b"", CreateMode::Ephemeral)
        .await
        .expect("lock node");
    let deadline = Instant::now() + T;
    while holder.lease().is_none_or(|l| l.is_zero()) {
        assert!(
            Instant::now() < deadline,
            "the member never vouched for the session"
        );
        holder.exists("/lock/holder").await.expect("exists");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut states = holder.state_changes();
    isolate(&c, f);
    let cut_at = Instant::now();
    // The holder keeps reading its lock node; the observer watches the majority's tree.
    let reader = {
        let holder = holder.clone();
        tokio::spawn(async move {
            let mut seen_present = Vec::new();
            let until = Instant::now() + Duration::from_secs(15);
            while Instant::now() < until {
                let r =
                    tokio::time::timeout(Duration::from_millis(500), holder.exists("/lock/holder"))
                        .await;
                if let Ok(Ok(Some(_))) = r {
                    seen_present.push(Instant::now());
                }
                if holder.state().is_terminal() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            seen_present
        })
    };
    let disconnected = tokio::spawn(async move {
        let until = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            if !matches!(*states.borrow_and_update(), State::Connected { .. }) {
                return Some(Instant::now());
            }
            if tokio::time::timeout_at(until, states.changed())
                .await
                .is_err()
            {
                return None;
            }
        }
    });
    let deleted_at = {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if observer
                .exists("/lock/holder")
                .await
                .expect("observer")
                .is_none()
            {
                break Instant::now();
            }
            assert!(
                Instant::now() < deadline,
                "the majority never expired the cut-off session"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let lease_at_deletion = holder.lease();
    let disconnected_at = disconnected.await.expect("state task");
    c.heal_all();
    let seen_present = reader.await.expect("reader");

    let deletion_ms = (deleted_at - cut_at).as_millis();
    let stale: Vec<u128> = seen_present
        .iter()
        .filter(|t| **t > deleted_at)
        .map(|t| (*t - cut_at).as_millis())
        .collect();
    assert!(
        stale.is_empty(),
        "the cut-off member answered that the lock node exists after the majority deleted it \
         ({deletion_ms} ms after the cut), {} times, the first at {:?} ms, the last at {:?} ms",
        stale.len(),
        stale.first(),
        stale.last()
    );
    let disconnected_at = disconnected_at.expect("the cut-off member never ended the connection");
    assert!(
        disconnected_at < deleted_at,
        "the client was still connected when the majority deleted its lock node \
         (deleted {deletion_ms} ms after the cut, disconnected {} ms after it)",
        (disconnected_at - cut_at).as_millis()
    );
    assert_eq!(
        lease_at_deletion,
        Some(Duration::ZERO),
        "the client's lease had not run out when the majority deleted its lock node"
    );
    // Healed: the holder reaches its member again and learns the session is gone.
    let deadline = Instant::now() + T;
    while holder.state() != State::Expired {
        assert!(
            Instant::now() < deadline,
            "the holder never learned its session expired: {:?}",
            holder.state()
        );
        let _ = tokio::time::timeout(Duration::from_millis(500), holder.exists("/lock")).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    c.shutdown();
}
