//! `paddock watch` as a child process against real in-process members: it prints one
//! line per event, live, in zxid order, stops after `--count` events or on a signal
//! (exit 0), and exits 1 when its session expires.
mod support;

use std::time::Duration;

use paddock::{Client, ClientConfig, CreateMode};
use serde_json::Value;
use support::{Ensemble, Proc};

const WAIT: Duration = Duration::from_secs(20);

fn hex(zxid: u64) -> String {
    format!("{zxid:#x}")
}

async fn client(e: &Ensemble) -> Client {
    Client::connect_with(ClientConfig::from_list(&e.servers()))
        .await
        .expect("connect")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn count_three_prints_three_lines_in_order() {
    let e = Ensemble::start(3).await;
    let c = client(&e).await;
    let mut w = Proc::spawn(&e.servers(), &["watch", "/w", "--count", "3"]);
    assert_eq!(w.stderr_until("watching", WAIT).await, "watching /w");

    let (_, created) = c
        .create_with_stat("/w", b"", CreateMode::Persistent)
        .await
        .unwrap();
    let changed = c.set("/w", b"v1", None).await.unwrap();
    let (_, child) = c
        .create_with_stat("/w/c", b"", CreateMode::Persistent)
        .await
        .unwrap();

    let status = w.exit(WAIT).await;
    let lines = w.rest_of_stdout(WAIT).await;
    assert_eq!(status.code(), Some(0), "{lines:?}");
    assert_eq!(
        lines,
        vec![
            format!("NodeCreated /w {}", hex(created.czxid)),
            format!("NodeDataChanged /w {}", hex(changed.mzxid)),
            format!("NodeChildrenChanged /w {}", hex(child.czxid)),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recursive_sees_changes_two_levels_below_as_json() {
    let e = Ensemble::start(1).await;
    let c = client(&e).await;
    c.create("/r", b"", CreateMode::Persistent).await.unwrap();
    c.create("/r/x", b"", CreateMode::Persistent).await.unwrap();
    let mut w = Proc::spawn(
        &e.servers(),
        &[
            "--output",
            "json",
            "watch",
            "--recursive",
            "/r",
            "--count",
            "3",
        ],
    );
    w.stderr_until("watching /r", WAIT).await;

    let (_, created) = c
        .create_with_stat("/r/x/y", b"", CreateMode::Persistent)
        .await
        .unwrap();
    let changed = c.set("/r/x/y", b"v1", None).await.unwrap();
    c.delete("/r/x/y", None).await.unwrap();

    let status = w.exit(WAIT).await;
    let lines = w.rest_of_stdout(WAIT).await;
    assert_eq!(status.code(), Some(0), "{lines:?}");
    assert_eq!(lines.len(), 3, "{lines:?}");
    let events: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let types: Vec<&str> = events.iter().map(|v| v["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["NodeCreated", "NodeDataChanged", "NodeDeleted"]);
    for v in &events {
        assert_eq!(v["path"], "/r/x/y", "{v}");
        assert_eq!(v.as_object().unwrap().len(), 3, "{v}");
    }
    assert_eq!(events[0]["zxid"].as_u64(), Some(created.czxid));
    assert_eq!(events[1]["zxid"].as_u64(), Some(changed.mzxid));
    assert!(events[2]["zxid"].as_u64().unwrap() > changed.mzxid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prints_live_and_stops_cleanly_on_signals() {
    let e = Ensemble::start(1).await;
    let c = client(&e).await;
    for sig in ["INT", "TERM"] {
        let path = format!("/t-{sig}");
        let mut w = Proc::spawn(&e.servers(), &["watch", &path]);
        w.stderr_until("watching", WAIT).await;
        let (_, created) = c
            .create_with_stat(&path, b"", CreateMode::Persistent)
            .await
            .unwrap();
        // The line arrives while the watcher still runs: it flushes per event.
        assert_eq!(
            w.stdout_line(WAIT).await,
            format!("NodeCreated {path} {}", hex(created.czxid))
        );
        assert!(w.running());
        w.signal(sig);
        let status = w.exit(WAIT).await;
        assert_eq!(status.code(), Some(0), "SIG{sig}");
        assert!(w.rest_of_stdout(WAIT).await.is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exits_1_when_the_session_expires() {
    let e = Ensemble::start_with(1, |cfg| {
        cfg.session_tick = Duration::from_millis(200);
        cfg.min_session_timeout = Duration::from_millis(400);
        cfg.max_session_timeout = Duration::from_millis(4000);
    })
    .await;
    let mut w = Proc::spawn(
        &e.servers(),
        &["--session-timeout", "1000", "watch", "/gone"],
    );
    w.stderr_until("watching", WAIT).await;
    e.shutdown().await;
    let status = w.exit(WAIT).await;
    let err = w.rest_of_stderr(WAIT).await;
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(
        err.contains("paddock: session expired while watching /gone"),
        "{err}"
    );
    assert!(w.rest_of_stdout(WAIT).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_errors() {
    // Parsing fails before any connection: no ensemble needed.
    for args in [&["watch"][..], &["watch", "/a", "--count", "0"]] {
        let mut w = Proc::spawn("127.0.0.1:1", args);
        assert_eq!(w.exit(WAIT).await.code(), Some(2), "{args:?}");
    }
}
