//! Sessions on real ensembles: expiry through Raft, resume rules, ephemeral and
//! sequential nodes, containers and TTL nodes.
mod common;

use std::time::{Duration, Instant};

use common::{client_at, raw_call, raw_handshake, Ensemble};
use paddock::proto::paddock as pb;
use paddock::{Client, ClientConfig, Code, CreateMode};

const T: Duration = Duration::from_secs(30);
/// Session tick for these ensembles: timeouts are clamped to [2.1 s, 4 s] (the floor
/// outlasts the longest election, 2 x 10 x 100 ms).
const TICK: &[&str] = &["--session-tick-ms", "200", "--container-check-ms", "200"];

async fn client(servers: &str, timeout_ms: u64) -> Client {
    let cfg = ClientConfig::from_list(servers).session_timeout(Duration::from_millis(timeout_ms));
    Client::connect_with(cfg).await.expect("connect")
}

/// Waits (bounded) until `check` holds on every running member.
async fn on_every_member<F>(e: &Ensemble, what: &str, check: F)
where
    F: Fn(&Client) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send + '_>>,
{
    let deadline = Instant::now() + T;
    for m in e.members.iter().filter(|m| m.child.is_some()) {
        let c = client_at(&m.client, T).await;
        loop {
            if check(&c).await {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not true on member {} in time",
                m.id
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Raw handshake; returns the member's answer.
async fn raw_connect(
    addr: &str,
    session: u64,
    password: Vec<u8>,
    last_zxid: u64,
) -> pb::ConnectResponse {
    raw_handshake(addr, session, password, 2000, last_zxid)
        .await
        .1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_session_that_stops_pinging_expires() {
    let e = Ensemble::start(3, TICK);
    e.wait_leader(T);
    let setup = client_at(&e.servers(), T).await;
    setup
        .create("/raw", b"", CreateMode::Persistent)
        .await
        .expect("parent");
    // A raw session: create an ephemeral, then drop the socket without closing.
    let (mut framed, resp) = raw_handshake(&e.members[1].client, 0, Vec::new(), 500, 0).await;
    assert_eq!(resp.err, pb::ErrorCode::OK);
    // Raised to the smallest timeout the member grants: it outlasts an election (up to
    // 2 x 10 x 100 ms) by a tick.
    assert_eq!(resp.timeout_ms, 2100);
    let mut cr = pb::CreateRequest::new();
    cr.path = "/raw/eph".into();
    cr.mode = pb::CreateMode::EPHEMERAL;
    let r = raw_call(&mut framed, 1, pb::Request_oneof_op::create(cr)).await;
    assert_eq!(r.err, pb::ErrorCode::OK, "{}", r.message);
    // The member that created the session vouches for it from the connect request on,
    // counted down.
    assert!(
        r.lease_ms > 0 && r.lease_ms <= 2100,
        "responses carry the lease: {}",
        r.lease_ms
    );
    drop(framed);
    let started = Instant::now();
    on_every_member(&e, "raw ephemeral gone", |c| {
        Box::pin(async move { c.exists("/raw/eph").await.ok() == Some(None) })
    })
    .await;
    eprintln!(
        "ephemeral of a dropped raw session (timeout 2100 ms) vanished everywhere after {:?}",
        started.elapsed()
    );
    let again = raw_connect(
        &e.members[0].client,
        resp.session_id,
        resp.password.clone(),
        0,
    )
    .await;
    assert_eq!(
        again.err,
        pb::ErrorCode::SESSION_EXPIRED,
        "an expired session is never renewed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_a_session_removes_its_ephemerals_at_once() {
    let e = Ensemble::start(3, TICK);
    e.wait_leader(T);
    let c = client(&e.servers(), 4000).await;
    c.create("/eph", b"", CreateMode::Persistent)
        .await
        .expect("parent");
    c.create("/eph/x", b"", CreateMode::Ephemeral)
        .await
        .expect("ephemeral");
    let seq = c
        .create("/eph/s-", b"", CreateMode::EphemeralSequential)
        .await
        .expect("ephemeral seq");
    let err = c
        .create("/eph/x/child", b"", CreateMode::Persistent)
        .await
        .expect_err("no children");
    assert_eq!(err.code(), Code::NoChildrenForEphemerals);
    let id = c.session_id();
    c.close().await.expect("close");
    for m in &e.members {
        let r = client_at(&m.client, T).await;
        r.sync("/").await.expect("sync");
        assert_eq!(r.exists("/eph/x").await.expect("exists"), None);
        assert_eq!(r.exists(&seq).await.expect("exists"), None);
    }
    // A closed session can never be resumed (this password is wrong, see below for the
    // right one).
    let r = raw_connect(&e.members[2].client, id, vec![1; 16], 0).await;
    assert_eq!(r.err, pb::ErrorCode::SESSION_EXPIRED);
    // With its own password: it resumes while it lives, and never once it was closed.
    let (first, created) = raw_handshake(&e.members[0].client, 0, Vec::new(), 4000, 0).await;
    assert_eq!(created.err, pb::ErrorCode::OK);
    let (sid, password) = (created.session_id, created.password.clone());
    drop(first);
    let (mut resumed, r) = raw_handshake(
        &e.members[1].client,
        sid,
        password.clone(),
        4000,
        created.session_zxid,
    )
    .await;
    assert_eq!(
        r.err,
        pb::ErrorCode::OK,
        "the right password resumes: {}",
        r.message
    );
    let closed = raw_call(
        &mut resumed,
        1,
        pb::Request_oneof_op::close_session(pb::CloseSessionRequest::new()),
    )
    .await;
    assert_eq!(closed.err, pb::ErrorCode::OK);
    for m in &e.members {
        // Each member answers once it has applied the close.
        let r = raw_connect(&m.client, sid, password.clone(), closed.zxid).await;
        assert_eq!(
            r.err,
            pb::ErrorCode::SESSION_EXPIRED,
            "a closed session resumed with its own password: {}",
            r.message
        );
    }
    let r = raw_connect(&e.members[2].client, 0xdead_beef, vec![1; 16], 0).await;
    assert_eq!(
        r.err,
        pb::ErrorCode::SESSION_EXPIRED,
        "unknown sessions are not silently created"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_behind_the_clients_zxid_refuses_it() {
    let e = Ensemble::start(3, TICK);
    e.wait_leader(T);
    let c = client(&e.servers(), 4000).await;
    c.create("/z", b"", CreateMode::Persistent)
        .await
        .expect("create");
    let applied = e.status(0).expect("status")["applied_index"]
        .as_u64()
        .expect("applied");
    // Resuming with a last seen zxid beyond what the member has applied is refused...
    let pw = vec![0u8; 16];
    let r = raw_connect(&e.members[0].client, c.session_id(), pw, applied + 1000).await;
    assert_eq!(r.err, pb::ErrorCode::NOT_READY, "{}", r.message);
    assert!(r.message.contains("behind"), "{}", r.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_election_alone_expires_no_session() {
    let mut e = Ensemble::start(3, TICK);
    let leader = e.wait_leader(T);
    let others: Vec<String> = (0..3)
        .filter(|i| *i != leader)
        .map(|i| e.members[i].client.clone())
        .collect();
    let mut clients = Vec::new();
    for i in 0..6 {
        let c = client(&others.join(","), 3000).await;
        if i == 0 {
            c.create("/idle", b"", CreateMode::Persistent)
                .await
                .expect("parent");
        }
        c.create(&format!("/idle/c{i}"), b"", CreateMode::Ephemeral)
            .await
            .expect("ephemeral");
        clients.push(c);
    }
    e.kill(leader);
    let new_leader = e.wait_leader(T);
    assert_ne!(new_leader, leader);
    // Idle (pings only) for several session timeouts across the election.
    tokio::time::sleep(Duration::from_millis(6000)).await;
    let r = client_at(&e.members[new_leader].client, T).await;
    r.sync("/").await.expect("sync");
    assert_eq!(
        r.children("/idle").await.expect("children").len(),
        6,
        "no session expired"
    );
    for c in &clients {
        assert!(!c.state().is_terminal(), "{:?}", c.state());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sequential_ephemerals_are_unique_and_increasing() {
    let e = Ensemble::start(3, TICK);
    e.wait_leader(T);
    let setup = client_at(&e.servers(), T).await;
    setup
        .create("/q", b"", CreateMode::Persistent)
        .await
        .expect("parent");
    let mut tasks = Vec::new();
    for i in 0..12 {
        let server = e.members[i % 3].client.clone();
        tasks.push(tokio::spawn(async move {
            let c = client(&server, 4000).await;
            let mut mine = Vec::new();
            for _ in 0..10 {
                mine.push(
                    c.create("/q/n-", b"", CreateMode::EphemeralSequential)
                        .await
                        .expect("create"),
                );
            }
            (c, mine)
        }));
    }
    let mut all = Vec::new();
    let mut keep = Vec::new();
    for t in tasks {
        let (c, mine) = t.await.expect("task");
        let mut sorted = mine.clone();
        sorted.sort();
        assert_eq!(mine, sorted, "one session's sequence numbers increase");
        all.extend(mine);
        keep.push(c);
    }
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), n, "sequence numbers are unique");
    setup.sync("/").await.expect("sync");
    assert_eq!(setup.children("/q").await.expect("children").len(), n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_and_ttl_nodes_vanish_through_raft_and_survive_restarts() {
    let mut e = Ensemble::start(3, TICK);
    e.wait_leader(T);
    let c = client_at(&e.servers(), T).await;
    c.create("/box", b"", CreateMode::Container)
        .await
        .expect("container");
    c.create("/box/item", b"", CreateMode::Persistent)
        .await
        .expect("child");
    c.create("/empty-box", b"", CreateMode::Container)
        .await
        .expect("container never used");
    c.create_ttl(
        "/short",
        b"",
        CreateMode::PersistentWithTtl,
        Duration::from_millis(300),
    )
    .await
    .expect("ttl");
    c.create_ttl(
        "/long",
        b"",
        CreateMode::PersistentWithTtl,
        Duration::from_millis(600_000),
    )
    .await
    .expect("ttl");
    c.delete("/box/item", None).await.expect("delete child");
    on_every_member(&e, "container and short TTL node gone", |c| {
        Box::pin(async move {
            c.exists("/box").await.ok() == Some(None) && c.exists("/short").await.ok() == Some(None)
        })
    })
    .await;
    // A container that never had children stays; a TTL node within its TTL stays.
    let digest = e.wait_converged(T);
    drop(c);
    for i in 0..3 {
        e.stop(i);
    }
    for i in 0..3 {
        e.spawn(i);
    }
    e.wait_leader(T);
    assert_eq!(e.wait_converged(T), digest);
    let c = client_at(&e.servers(), T).await;
    assert!(c.exists("/empty-box").await.expect("exists").is_some());
    assert!(c.exists("/long").await.expect("exists").is_some());
    // The TTL kind survives the restart: a short TTL node made now still expires.
    c.create_ttl(
        "/short2",
        b"",
        CreateMode::PersistentWithTtl,
        Duration::from_millis(300),
    )
    .await
    .expect("ttl");
    on_every_member(&e, "short2 gone", |c| {
        Box::pin(async move { c.exists("/short2").await.ok() == Some(None) })
    })
    .await;
}

/// Many sessions opened, used and closed at once while the leader's session timers
/// run: every operation completes and the ensemble stays available (a lock-order
/// mistake between the session tracker and the Raft loop once froze a leader here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_churn_keeps_the_ensemble_available() {
    let e = Ensemble::start(
        3,
        &[
            "--session-tick-ms",
            "100",
            "--container-check-ms",
            "50",
            "--snapshot-entries",
            "200",
        ],
    );
    e.wait_leader(T);
    let setup = client_at(&e.servers(), T).await;
    setup
        .create("/churn", b"", CreateMode::Persistent)
        .await
        .expect("parent");
    let mut tasks = Vec::new();
    for i in 0..8 {
        let server = e.members[i % 3].client.clone();
        tasks.push(tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(3);
            let mut n = 0u32;
            while Instant::now() < deadline {
                let c = client(&server, 2000).await;
                c.create(&format!("/churn/s{i}-{n}"), b"", CreateMode::Ephemeral)
                    .await
                    .expect("create");
                let _watch = c.add_watch("/churn", true).await.expect("watch");
                c.close().await.expect("close");
                n += 1;
            }
            n
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += tokio::time::timeout(T, t)
            .await
            .expect("no session task hangs")
            .expect("task");
    }
    assert!(total > 0);
    // Still available, and every ephemeral went with its session.
    let c = client_at(&e.servers(), T).await;
    c.create("/after", b"", CreateMode::Persistent)
        .await
        .expect("write after churn");
    c.sync("/").await.expect("sync");
    assert!(c.children("/churn").await.expect("children").is_empty());
    e.wait_converged(T);
}

/// Lower bound: a session its client stopped pinging lives at least its timeout after
/// the last request the member got from it (before, nothing checked that it was not
/// expired early). Every read answered before `last request sent + timeout` must still
/// show its ephemeral; a slow machine only makes the expiry later, never earlier.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unpinged_session_lives_at_least_its_timeout() {
    let e = Ensemble::start(3, TICK);
    let leader = e.wait_leader(T);
    let reader = client_at(&e.members[leader].client, T).await;
    reader
        .create("/lower", b"", CreateMode::Persistent)
        .await
        .expect("parent");
    let timeout = Duration::from_millis(3000);
    let (mut framed, resp) =
        raw_handshake(&e.members[(leader + 1) % 3].client, 0, Vec::new(), 3000, 0).await;
    assert_eq!(resp.err, pb::ErrorCode::OK);
    assert_eq!(resp.timeout_ms, 3000);
    let mut cr = pb::CreateRequest::new();
    cr.path = "/lower/eph".into();
    cr.mode = pb::CreateMode::EPHEMERAL;
    let sent = Instant::now();
    let r = raw_call(&mut framed, 1, pb::Request_oneof_op::create(cr)).await;
    assert_eq!(r.err, pb::ErrorCode::OK, "{}", r.message);
    drop(framed);
    let mut checked = 0;
    let deadline = sent + T;
    loop {
        let present = reader.exists("/lower/eph").await.expect("exists").is_some();
        let answered = Instant::now();
        if answered < sent + timeout {
            assert!(
                present,
                "expired {:?} after its last request, before its timeout of {timeout:?}",
                answered - sent
            );
            checked += 1;
        } else if !present {
            break;
        }
        assert!(Instant::now() < deadline, "the session never expired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(checked > 0, "no read was answered within the timeout");
}
