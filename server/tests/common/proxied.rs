//! Clusters wired through the jepsen/ harness's proxies (one per directed peer link, one
//! per client port), for tests that cut links and clients: 3 members with a 200 ms
//! session tick, and clients that retry their first connect.
use std::time::{Duration, Instant};

use paddock::{Client, ClientConfig};
use paddock_jepsen::cluster::{Cluster, ClusterSpec};

/// How long any wait of these tests may take.
pub const T: Duration = Duration::from_secs(30);

/// A 3-member cluster with a leader.
pub async fn cluster(dir: &std::path::Path) -> Cluster {
    cluster_with(dir, Vec::new()).await
}

/// A 3-member cluster whose members get `env` too (e.g. `FAILPOINTS`).
pub async fn cluster_with(dir: &std::path::Path, env: Vec<(String, String)>) -> Cluster {
    start(dir, &[], env).await
}

/// A 3-member cluster whose members get `args` too.
pub async fn cluster_with_args(dir: &std::path::Path, args: &[&str]) -> Cluster {
    start(dir, args, Vec::new()).await
}

async fn start(dir: &std::path::Path, more: &[&str], env: Vec<(String, String)>) -> Cluster {
    let spec = ClusterSpec {
        members: 3,
        paddockd: env!("CARGO_BIN_EXE_paddockd").into(),
        dir: dir.to_path_buf(),
        args: ["--session-tick-ms", "200", "--container-check-ms", "200"]
            .iter()
            .chain(more)
            .map(|s| s.to_string())
            .collect(),
        env,
    };
    let c = Cluster::start(spec).await.expect("cluster");
    assert!(c.wait_leader(T).await.is_some(), "no leader");
    c
}

/// A session through `servers` with `timeout`, retried for up to [`T`]. Members are
/// tried in list order, so the first is the one it talks to while that member is
/// reachable (tests pause or cut it on purpose).
pub async fn client(servers: Vec<String>, timeout: Duration) -> Client {
    let deadline = Instant::now() + T;
    loop {
        let cfg = ClientConfig::from_list(&servers.join(","))
            .session_timeout(timeout)
            .in_order(true);
        match Client::connect_with(cfg).await {
            Ok(c) => return c,
            Err(e) => {
                assert!(Instant::now() < deadline, "connect: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// A session whose first member is `first` and which is connected to it: a member
/// that is not ready yet (no leader heard) turns a handshake away and the SDK moves
/// on, so this reconnects until `first` took the session, for up to [`T`].
pub async fn client_on(c: &Cluster, first: u64, timeout: Duration) -> Client {
    let deadline = Instant::now() + T;
    loop {
        let cl = client(c.client_list(first), timeout).await;
        if cl.server_id() == first {
            return cl;
        }
        let _ = cl.close().await;
        assert!(
            Instant::now() < deadline,
            "member {first} never took a session"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A temp dir that is kept (and named) when the test fails, or when
/// `PADDOCK_TEST_KEEP` is set, so the members' logs can be read.
pub struct Kept(pub tempfile::TempDir);

impl Kept {
    /// A fresh temp dir.
    pub fn new() -> Kept {
        Kept(tempfile::tempdir().expect("tempdir"))
    }

    /// Its path.
    pub fn path(&self) -> &std::path::Path {
        self.0.path()
    }
}

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
pub fn isolate(c: &Cluster, id: u64) {
    for other in c.ids().into_iter().filter(|o| *o != id) {
        c.cut(id, other);
        c.cut(other, id);
    }
}
