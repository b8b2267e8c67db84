//! A process that registers itself with `paddock create --ephemeral --hold` and is
//! then killed with SIGKILL: its node disappears from every member once its session
//! times out, through Raft. Members are real in-process servers.
mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use paddock::{Client, ClientConfig, CreateMode};
use support::Ensemble;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_client_loses_its_ephemeral_on_every_member() {
    let e = Ensemble::start_with(3, |cfg| {
        cfg.session_tick = Duration::from_millis(200);
        cfg.min_session_timeout = Duration::from_millis(400);
        cfg.max_session_timeout = Duration::from_millis(4000);
    })
    .await;
    let servers = e.servers();
    let c = Client::connect_with(ClientConfig::from_list(&servers))
        .await
        .expect("connect");
    c.create("/services", b"", CreateMode::Persistent)
        .await
        .expect("parent");

    let mut holder = Command::new(env!("CARGO_BIN_EXE_paddock"))
        .args(["--servers", &servers, "--session-timeout", "2000"])
        .args([
            "create",
            "--ephemeral",
            "--hold",
            "/services/worker-1",
            "127.0.0.1:9000",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn paddock");
    let deadline = Instant::now() + Duration::from_secs(20);
    while c
        .exists("/services/worker-1")
        .await
        .expect("exists")
        .is_none()
    {
        assert!(Instant::now() < deadline, "the holder never registered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (_, stat) = c.get("/services/worker-1").await.expect("get");
    assert_ne!(stat.ephemeral_owner, 0);
    // The holder keeps it alive well past its timeout...
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert!(c
        .exists("/services/worker-1")
        .await
        .expect("exists")
        .is_some());

    // ...until it is killed with SIGKILL (no close).
    holder.kill().expect("kill -9");
    let _ = holder.wait();
    let killed = Instant::now();
    let deadline = killed + Duration::from_secs(30);
    for m in &e.members {
        let r = Client::connect_with(ClientConfig::new([m.client_addr.clone()]))
            .await
            .expect("connect");
        while r
            .exists("/services/worker-1")
            .await
            .expect("exists")
            .is_some()
        {
            assert!(
                Instant::now() < deadline,
                "member {} still has the node",
                m.id
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    eprintln!(
        "kill -9 to gone on all members: {:?} (session timeout 2000 ms, tick 200 ms)",
        killed.elapsed()
    );
}

/// Runs the binary to completion (off the runtime that serves the members).
async fn paddock(servers: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_paddock"));
    cmd.env_remove("PADDOCK_SERVERS")
        .arg("--servers")
        .arg(servers)
        .args(args);
    let o = tokio::task::spawn_blocking(move || cmd.output().expect("run paddock"))
        .await
        .unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[track_caller]
fn ok((code, out, err): (Option<i32>, String, String)) -> String {
    assert_eq!(code, Some(0), "stdout: {out}\nstderr: {err}");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_ls_and_stat_show_a_held_ephemeral() {
    let e = Ensemble::start(3).await;
    let s = e.servers();
    let c = Client::connect_with(ClientConfig::from_list(&s))
        .await
        .expect("connect");
    c.create("/services", b"", CreateMode::Persistent)
        .await
        .unwrap();
    c.create("/services/config", b"", CreateMode::Persistent)
        .await
        .unwrap();

    let mut holder = support::Proc::spawn(
        &s,
        &[
            "--session-timeout",
            "5000",
            "create",
            "--ephemeral",
            "--hold",
            "/services/worker-1",
        ],
    );
    assert_eq!(
        holder.stdout_line(Duration::from_secs(20)).await,
        "/services/worker-1"
    );
    let stat = c
        .exists("/services/worker-1")
        .await
        .unwrap()
        .expect("registered");
    let owner = format!("{:#x}", stat.ephemeral_owner);
    assert_ne!(stat.ephemeral_owner, 0);

    // sessions (discovered admin endpoint), JSON: the holder's row owns one ephemeral.
    let v: serde_json::Value =
        serde_json::from_str(&ok(paddock(&s, &["--output", "json", "sessions"]).await)).unwrap();
    let rows = v.as_array().expect("array");
    let row = rows
        .iter()
        .find(|r| r["id"] == owner.as_str())
        .unwrap_or_else(|| panic!("no row {owner}: {v}"));
    assert_eq!(row["ephemerals"], 1, "{row}");
    assert_eq!(row["timeout_ms"], 5000, "{row}");
    // Our own SDK session is listed too, without ephemerals.
    let mine = format!("{:#x}", c.session_id());
    assert!(rows
        .iter()
        .any(|r| r["id"] == mine.as_str() && r["ephemerals"] == 0));

    // Text, from an explicit admin address: ID TIMEOUT_MS EPHEMERALS EXPIRES_IN_MS.
    for m in &e.members {
        let text = ok(paddock(&s, &["sessions", "--admin", &m.admin_addr]).await);
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
        assert_eq!(header, ["ID", "TIMEOUT_MS", "EPHEMERALS", "EXPIRES_IN_MS"]);
        let cells: Vec<&str> = lines
            .find(|l| l.starts_with(&format!("{owner} ")))
            .unwrap_or_else(|| panic!("member {}: no row {owner}:\n{text}", m.id))
            .split_whitespace()
            .collect();
        assert_eq!(&cells[..3], [owner.as_str(), "5000", "1"], "{text}");
    }
    let bad = paddock(&s, &["sessions", "--admin", ""]).await;
    assert_eq!(bad.0, Some(2), "{bad:?}");
    let dead = paddock(&s, &["sessions", "--admin", "127.0.0.1:1"]).await;
    assert_eq!(dead.0, Some(1), "{dead:?}");

    // ls marks the ephemeral child with its owner, in text and JSON, plain and -R.
    assert_eq!(
        ok(paddock(&s, &["ls", "/services"]).await),
        format!("config\nworker-1  ephemeral owner={owner}\n")
    );
    assert_eq!(
        ok(paddock(&s, &["ls", "-R", "/"]).await),
        format!("/services\n/services/config\n/services/worker-1  ephemeral owner={owner}\n")
    );
    let v: serde_json::Value =
        serde_json::from_str(&ok(
            paddock(&s, &["--output", "json", "ls", "/services"]).await
        ))
        .unwrap();
    assert_eq!(v["children"], serde_json::json!(["config", "worker-1"]));
    assert_eq!(
        v["ephemeral_owners"],
        serde_json::json!({ "worker-1": owner })
    );
    let v: serde_json::Value = serde_json::from_str(&ok(paddock(
        &s,
        &["--output", "json", "ls", "-R", "/services"],
    )
    .await))
    .unwrap();
    assert_eq!(
        v["ephemeral_owners"],
        serde_json::json!({ "/services/worker-1": owner })
    );

    // stat: the owner in hex; 0x0 for a persistent node.
    let text = ok(paddock(&s, &["stat", "/services/worker-1"]).await);
    assert!(
        text.contains(&format!("\nephemeralOwner = {owner}\n")),
        "{text}"
    );
    let text = ok(paddock(&s, &["stat", "/services"]).await);
    assert!(text.contains("\nephemeralOwner = 0x0\n"), "{text}");

    // Stop the holder: SIGTERM closes its session (exit 0) and the node goes at once.
    holder.signal("TERM");
    assert_eq!(holder.exit(Duration::from_secs(20)).await.code(), Some(0));
    let deadline = Instant::now() + Duration::from_secs(10);
    while c.exists("/services/worker-1").await.unwrap().is_some() {
        assert!(
            Instant::now() < deadline,
            "the held node outlived its holder"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
