//! End-to-end tests of the `paddock` binary against real in-process members (see `support`):
//! the real `paddock` binary, real sockets, the real SDK and real storage.
mod support;

use std::process::Output;

use paddock::{Client, ClientConfig};
use serde_json::Value;
use support::Ensemble;

/// Runs the binary with `args` (blocking, off the runtime that serves the members).
async fn paddock(servers: &str, args: &[&str]) -> Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_paddock"));
    cmd.env_remove("PADDOCK_SERVERS")
        .env("RUST_BACKTRACE", "0")
        .arg("--servers")
        .arg(servers)
        .args(args);
    tokio::task::spawn_blocking(move || cmd.output().expect("run paddock"))
        .await
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn ok(o: &Output) -> String {
    assert_eq!(
        o.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        stdout(o),
        stderr(o)
    );
    stdout(o)
}

fn json(o: &Output) -> Value {
    serde_json::from_str(&ok(o)).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn znode_commands() {
    let e = Ensemble::start(1).await;
    let s = e.servers();
    assert_eq!(
        ok(&paddock(&s, &["create", "/app", "hello"]).await),
        "/app\n"
    );
    assert_eq!(ok(&paddock(&s, &["get", "/app"]).await), "hello\n");
    let seq = ok(&paddock(&s, &["create", "--sequential", "/app/job-"]).await);
    assert_eq!(seq, "/app/job-0000000000\n");

    let missing = paddock(&s, &["get", "/app/nope"]).await;
    assert_eq!(missing.status.code(), Some(1));
    assert_eq!(stderr(&missing), "paddock: no node: /app/nope\n");
    let exists = paddock(&s, &["create", "/app"]).await;
    assert_eq!(
        (exists.status.code(), stderr(&exists).as_str()),
        (Some(1), "paddock: node exists: /app\n")
    );

    assert_eq!(
        ok(&paddock(&s, &["set", "/app", "v2", "--version", "0"]).await),
        ""
    );
    let stale = paddock(&s, &["set", "/app", "v3", "--version", "0"]).await;
    assert_eq!(stale.status.code(), Some(1));
    assert!(
        stderr(&stale).starts_with("paddock: bad version: /app"),
        "{}",
        stderr(&stale)
    );

    let v = json(&paddock(&s, &["--output", "json", "get", "/app"]).await);
    assert_eq!(
        (v["data"].as_str(), v["data_len"].as_u64()),
        (Some("v2"), Some(2))
    );
    assert_eq!(v["stat"]["dataVersion"], 1);
    assert_eq!(v["stat"]["numChildren"], 1);

    let stat = ok(&paddock(&s, &["stat", "/app"]).await);
    assert!(stat.contains("dataVersion = 1\n"), "{stat}");
    assert!(stat.contains("numChildren = 1\n"), "{stat}");
    assert!(stat.starts_with("cZxid = 0x"), "{stat}");
    assert!(stat.contains(" UTC)\nmZxid = 0x"), "{stat}");
    let no_stat = paddock(&s, &["stat", "/nope"]).await;
    assert_eq!(no_stat.status.code(), Some(1));
    assert!(
        stderr(&no_stat).starts_with("paddock: no node: /nope"),
        "{}",
        stderr(&no_stat)
    );

    assert_eq!(ok(&paddock(&s, &["sync", "/"]).await), "");
    assert_eq!(
        json(&paddock(&s, &["sync", "--output", "json"]).await)["synced"],
        true
    );

    let not_empty = paddock(&s, &["delete", "/app"]).await;
    assert_eq!(not_empty.status.code(), Some(1));
    assert!(
        stderr(&not_empty).starts_with("paddock: not empty: /app"),
        "{}",
        stderr(&not_empty)
    );
    let bad_path = paddock(&s, &["get", "no-slash"]).await;
    assert_eq!(bad_path.status.code(), Some(1));
    assert!(
        stderr(&bad_path).starts_with("paddock: bad arguments"),
        "{}",
        stderr(&bad_path)
    );
    assert_eq!(paddock(&s, &["get"]).await.status.code(), Some(2));
    assert_eq!(paddock("", &["get", "/"]).await.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recursive_ls_and_delete() {
    let e = Ensemble::start(1).await;
    let s = e.servers();
    for p in ["/a", "/a/b", "/a/b/c", "/a/d", "/a-x", "/z"] {
        ok(&paddock(&s, &["create", p]).await);
    }
    assert_eq!(ok(&paddock(&s, &["ls", "/a"]).await), "b\nd\n");
    assert_eq!(
        ok(&paddock(&s, &["ls", "--recursive", "/"]).await),
        "/a\n/a/b\n/a/b/c\n/a/d\n/a-x\n/z\n"
    );
    let v = json(&paddock(&s, &["ls", "-R", "/a", "--output", "json"]).await);
    assert_eq!(
        v["descendants"],
        serde_json::json!(["/a/b", "/a/b/c", "/a/d"])
    );

    let wrong = paddock(&s, &["delete", "--recursive", "--version", "7", "/a"]).await;
    assert_eq!(wrong.status.code(), Some(1));
    assert_eq!(e.paths().len(), 7, "nothing deleted on a version mismatch");

    let v = json(&paddock(&s, &["delete", "--recursive", "/a", "--output", "json"]).await);
    assert_eq!(v["deleted"].as_array().unwrap().len(), 4);
    assert_eq!(e.paths(), vec!["/", "/a-x", "/z"]);

    ok(&paddock(&s, &["delete", "-r", "/"]).await);
    assert_eq!(e.paths(), vec!["/"], "the root itself stays");
    assert_eq!(ok(&paddock(&s, &["ls", "-R", "/"]).await), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_reports_member_and_admin_address() {
    let e = Ensemble::start(3).await;
    for (i, m) in e.members.iter().enumerate() {
        let servers: Vec<String> = e.members.iter().map(|m| m.client_addr.clone()).collect();
        let mut rotated = servers.clone();
        rotated.rotate_left(i);
        let c = Client::connect_with(ClientConfig::new(rotated).in_order(true))
            .await
            .unwrap();
        assert_eq!(c.server_id(), m.id);
        assert_eq!(c.admin_addr(), m.admin_addr);
        c.close().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_status() {
    let e = Ensemble::start(3).await;
    let s = e.servers();
    let text = ok(&paddock(&s, &["cluster", "status"]).await);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[0].starts_with("MEMBER"), "{text}");
    let leaders = lines[1..].iter().filter(|l| l.contains(" leader ")).count();
    let followers = lines[1..]
        .iter()
        .filter(|l| l.contains(" follower "))
        .count();
    assert_eq!((leaders, followers), (1, 2), "{text}");

    let v = json(&paddock(&s, &["--output", "json", "cluster", "status"]).await);
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 3);
    for (row, m) in rows.iter().zip(&e.members) {
        assert_eq!(row["ok"], true, "{row}");
        assert_eq!(row["id"], m.id);
        assert_eq!(row["admin"], m.admin_addr.as_str());
        assert_eq!(row["server"], m.client_addr.as_str());
    }

    // Explicit admin list with one dead address: that row says so, the command succeeds.
    let admins = format!("{},127.0.0.1:1", e.members[1].admin_addr);
    let v = json(
        &paddock(
            &s,
            &["--output", "json", "cluster", "status", "--admin", &admins],
        )
        .await,
    );
    let rows = v.as_array().unwrap();
    assert_eq!(rows[0]["ok"].as_bool(), Some(true));
    assert!(
        matches!(rows[0]["role"].as_str(), Some("leader" | "follower")),
        "{v}"
    );
    assert_eq!(rows[1]["ok"], false);

    // Nobody answers: exit 1, but the table still shows the members.
    let dead = paddock("127.0.0.1:1", &["cluster", "status"]).await;
    assert_eq!(dead.status.code(), Some(1));
    assert!(stdout(&dead).contains("down"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_runs_measures_and_cleans_up() {
    let e = Ensemble::start(3).await;
    let s = e.servers();
    let v = json(
        &paddock(
            &s,
            &[
                "--output",
                "json",
                "bench",
                "--workload",
                "mixed",
                "--sessions",
                "4",
                "--duration",
                "0.5",
                "--warmup",
                "0.2",
                "--keys",
                "250",
                "--value-size",
                "64",
            ],
        )
        .await,
    );
    assert_eq!(v["workload"], "mixed");
    assert_eq!(v["sessions"], 4);
    assert_eq!(v["errors"], 0);
    assert_eq!(v["keys"], 250);
    assert!(v["ops"].as_u64().unwrap() > 0, "{v}");
    assert!(v["p99_ms"].as_f64().unwrap() > 0.0, "{v}");
    // Session i lands on member i mod 3.
    assert_eq!(e.handshakes(), vec![2, 1, 1]);
    assert_eq!(e.paths(), vec!["/"], "bench nodes are cleaned up");

    let text = ok(&paddock(
        &s,
        &[
            "bench",
            "--workload",
            "create",
            "--sessions",
            "2",
            "--duration",
            "0.3",
            "--warmup",
            "0",
        ],
    )
    .await);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with("workload") && lines[1].starts_with("create"),
        "{text}"
    );
    assert_eq!(e.paths(), vec!["/"]);

    let v = json(
        &paddock(
            &s,
            &[
                "--output",
                "json",
                "bench",
                "--workload",
                "get",
                "--sessions",
                "1",
                "--duration",
                "0.2",
                "--warmup",
                "0",
                "--linearizable",
            ],
        )
        .await,
    );
    assert_eq!(
        (v["linearizable"].as_bool(), v["errors"].as_u64()),
        (Some(true), Some(0))
    );
}
