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
