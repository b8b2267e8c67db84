//! The example programs run against a real one-member ensemble (an in-process member
//! on a loopback address of its own, data in a temp dir), and do what their docs say.
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use paddock_server::config::Config;
use paddock_server::node::Node;

static MEMBERS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

async fn member(dir: &std::path::Path) -> Node {
    // An address of its own per process and per test (tests run at the same time).
    let k = MEMBERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let ip = format!("127.{}.{}.1", 10 + std::process::id() % 240, 240 + k % 15);
    let addr = |port: u16| format!("{ip}:{port}").parse().expect("address");
    let cfg = Config::single(1, dir.join("m1"), addr(7181), addr(7182), addr(7180));
    let node = Node::start(cfg, paddock_server::logging::discard())
        .await
        .expect("start member");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !node.serves_clients() {
        assert!(Instant::now() < deadline, "the member never served clients");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    node
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fenced_job_shows_a_stale_token_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let node = member(tmp.path()).await;
    let servers = node.addrs().client.to_string();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_fenced_job"))
            .arg(servers)
            .output()
            .expect("run fenced_job")
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("store: refused"), "{stdout}");
    assert!(stdout.contains("A's fenced write failed"), "{stdout}");
    assert!(stdout.contains("B's fenced write was applied"), "{stdout}");
    node.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_worker_leads_and_resigns_on_interrupt() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let node = member(tmp.path()).await;
    let servers = node.addrs().client.to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_leader_worker"))
        .args(["w1", &servers])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn leader_worker");
    let stdout = child.stdout.take().expect("stdout");
    let pid = child.id();
    let lines = tokio::task::spawn_blocking(move || {
        let mut seen = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("line");
            let working = line.contains("working as leader");
            seen.push(line);
            if working {
                // It leads and works: interrupt it.
                let _ = Command::new("kill")
                    .args(["-s", "INT", &pid.to_string()])
                    .status();
            }
        }
        seen
    });
    let lines = match tokio::time::timeout(Duration::from_secs(60), lines).await {
        Ok(lines) => lines.expect("join"),
        Err(_) => {
            let _ = child.kill();
            panic!("leader_worker did not finish within 60 s");
        }
    };
    let status = child.wait().expect("wait");
    assert!(status.success(), "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("w1: elected with token")),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("observed: w1 leads")),
        "{lines:?}"
    );
    node.shutdown().await.expect("shutdown");
}

/// A running example whose stdout lines arrive on a channel; killed when dropped.
struct Running {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn start(bin: &str, args: &[&str]) -> Running {
        let mut child = Command::new(bin)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn example");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits (up to 30 s) for a line containing `needle`.
    fn expect(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!("no line with {needle:?}; saw {:?}", self.seen),
            }
        }
    }

    fn interrupt(&self) {
        let _ = Command::new("kill")
            .args(["-s", "INT", &self.child.id().to_string()])
            .status();
    }

    /// Waits (up to 30 s) for the program to exit; whether it succeeded.
    fn finish(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.success();
            }
            assert!(
                Instant::now() < deadline,
                "still running; saw {:?}",
                self.seen
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_discovery_sees_instances_come_and_go() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let node = member(tmp.path()).await;
    let servers = node.addrs().client.to_string();
    let bin = env!("CARGO_BIN_EXE_service_discovery");
    let s = servers.clone();
    tokio::task::spawn_blocking(move || {
        let mut watcher = Running::start(bin, &["watch", &s]);
        watcher.expect("live instances: 0");
        let mut web1 = Running::start(bin, &["register", "web-1", "10.0.0.1:80", &s]);
        web1.expect("registered web-1");
        watcher.expect("up: web-1 at 10.0.0.1:80");
        web1.interrupt();
        assert!(web1.finish(), "{:?}", web1.seen);
        watcher.expect("down: web-1");
        watcher.interrupt();
        assert!(watcher.finish(), "{:?}", watcher.seen);
    })
    .await
    .expect("join");
    node.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_watch_prints_the_configuration_and_its_changes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let node = member(tmp.path()).await;
    let servers = node.addrs().client.to_string();
    let client = paddock::Client::connect(&servers).await.expect("connect");
    client
        .create_all(
            "/config/db/url",
            b"postgres://a",
            paddock::CreateMode::Persistent,
        )
        .await
        .expect("create");
    let bin = env!("CARGO_BIN_EXE_config_watch");
    let s = servers.clone();
    let mut watcher = tokio::task::spawn_blocking(move || {
        let mut w = Running::start(bin, &[&s]);
        w.expect("/config/db/url = postgres://a");
        w
    })
    .await
    .expect("join");
    client
        .set("/config/db/url", b"postgres://b", None)
        .await
        .expect("set");
    client.delete("/config/db/url", None).await.expect("delete");
    tokio::task::spawn_blocking(move || {
        watcher.expect("set /config/db/url = postgres://b");
        watcher.expect("removed /config/db/url");
        watcher.interrupt();
        assert!(watcher.finish(), "{:?}", watcher.seen);
    })
    .await
    .expect("join");
    client.close().await.expect("close");
    node.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_queue_consumers_take_every_job_once_in_order() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let node = member(tmp.path()).await;
    let servers = node.addrs().client.to_string();
    let bin = env!("CARGO_BIN_EXE_job_queue");
    tokio::task::spawn_blocking(move || {
        let mut producer = Running::start(bin, &["produce", "5", &servers]);
        producer.expect("put 5 jobs; 5 waiting");
        assert!(producer.finish());
        let mut consumer = Running::start(bin, &["consume", &servers]);
        for i in 0..5 {
            consumer.expect(&format!("took job {i}"));
        }
        consumer.expect("idle after 5 jobs");
        assert!(consumer.finish());
    })
    .await
    .expect("join");
    node.shutdown().await.expect("shutdown");
}
