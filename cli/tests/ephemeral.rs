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
        .args(["--servers", &servers, "--session-timeout", "1000"])
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
    tokio::time::sleep(Duration::from_millis(2500)).await;
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
        "kill -9 to gone on all members: {:?} (session timeout 1000 ms, tick 200 ms)",
        killed.elapsed()
    );
}
