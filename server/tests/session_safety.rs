//! Session safety under pauses and partitions: no live session is expired by a member
//! that no longer leads, and no member answers for sessions it cannot vouch for. Each
//! test here reproduced a bug on the code before its fix (the jepsen/ harness found
//! them first; see docs/reliability.md).
mod common;

use std::time::{Duration, Instant};

use common::{client_at, Ensemble};
use paddock::{Client, ClientConfig, CreateMode};

const T: Duration = Duration::from_secs(30);
/// Session tick 200 ms: timeouts are clamped to [2.1 s, 4 s] (the floor outlasts an election).
const TICK: &[&str] = &["--session-tick-ms", "200", "--container-check-ms", "200"];

async fn client(servers: &str, timeout: Duration) -> Client {
    let cfg = ClientConfig::from_list(servers).session_timeout(timeout);
    Client::connect_with(cfg).await.expect("connect")
}

/// Children of `path` as the majority has them (a linearizable view through `via`).
async fn children_now(via: &Client, path: &str) -> Vec<String> {
    via.sync(path).await.expect("sync");
    let mut c = via.children(path).await.expect("children");
    c.sort();
    c
}

/// Finding 1: a leader paused for longer than twice the session timeout, while the
/// clients of its sessions keep pinging the other members, resumes with an expiry queue
/// that says every session is overdue. Whatever it proposes then must not commit: it no
/// longer leads, and the new leader has heard from every client all along.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_leader_expires_no_session_the_others_kept_alive() {
    let mut e = Ensemble::start(3, TICK);
    // Long enough that a client whose member is briefly not serving (it lost the leader
    // in the pause and waits to be granted again by the new one) reconnects in time on
    // a loaded 2-core machine; the pause below is still more than twice as long.
    let timeout = Duration::from_millis(3000);
    let setup = client_at(&e.servers(), T).await;
    setup
        .create("/live", b"", CreateMode::Persistent)
        .await
        .expect("parent");
    for round in 0..3 {
        let leader = e.wait_leader(T);
        let followers: Vec<String> = (0..3)
            .filter(|i| *i != leader)
            .map(|i| e.members[i].client.clone())
            .collect();
        let mut expected = Vec::new();
        let mut clients = Vec::new();
        for k in 0..6 {
            // Each client talks to one follower only, so it never depends on the leader.
            let c = client(&followers[k % 2], timeout).await;
            let name = format!("r{round}-c{k}");
            c.create(&format!("/live/{name}"), b"", CreateMode::Ephemeral)
                .await
                .expect("ephemeral");
            expected.push(name);
            clients.push(c);
        }
        // Writes flow through the majority during the pause: the resumed member has a
        // backlog to take in, during which its timers still see the role it was paused in.
        let mut writers = Vec::new();
        for w in 0..8 {
            writers.push(client(&followers[w % 2], Duration::from_secs(4)).await);
        }
        e.pause(leader);
        let writers: Vec<_> = writers
            .into_iter()
            .enumerate()
            .map(|(w, c)| {
                tokio::spawn(async move {
                    let until = Instant::now() + Duration::from_millis(4000);
                    let mut n = 0;
                    while Instant::now() < until {
                        let _ = c
                            .create(
                                &format!("/load-r{round}-w{w}-{n}"),
                                &[7; 512],
                                CreateMode::Persistent,
                            )
                            .await;
                        n += 1;
                    }
                    let _ = c.close().await;
                })
            })
            .collect();
        tokio::time::sleep(timeout * 2 + Duration::from_millis(500)).await;
        e.resume(leader);
        for w in writers {
            w.await.expect("writer");
        }
        // Give the resumed member's timers time to act on its stale queue.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let via = client_at(&followers[0], T).await;
        expected.sort();
        assert_eq!(
            children_now(&via, "/live").await,
            expected,
            "round {round}: every session was kept alive through a follower"
        );
        for c in &clients {
            assert!(!c.state().is_terminal(), "round {round}: {:?}", c.state());
            // And the session still works.
            c.set("/live", b"w", None)
                .await
                .expect("a write after the pause");
        }
        for c in clients {
            c.close().await.expect("close");
        }
        via.close().await.expect("close");
    }
}

/// What a resumed connection does once its session is gone: `true` if the member ends
/// it (closes the connection, or answers a ping with SESSION_EXPIRED) within `within`.
async fn ends_within(framed: &mut common::RawConn, within: Duration) -> bool {
    use futures::{SinkExt, StreamExt};
    use paddock::proto::paddock as pb;
    let deadline = Instant::now() + within;
    let mut xid = 1;
    while Instant::now() < deadline {
        let mut r = pb::Request::new();
        r.xid = xid;
        xid += 1;
        r.op = Some(pb::Request_oneof_op::ping(pb::PingRequest::new()));
        let mut f = pb::ClientFrame::new();
        f.set_request(r);
        if framed.send(paddock::codec::encode(&f)).await.is_err() {
            return true;
        }
        loop {
            match tokio::time::timeout(Duration::from_millis(500), framed.next()).await {
                Err(_) => break,
                Ok(None) | Ok(Some(Err(_))) => return true,
                Ok(Some(Ok(buf))) => {
                    let frame: pb::ServerFrame =
                        paddock::codec::decode_frame(&buf).expect("a decodable frame");
                    if let Some(pb::ServerFrame_oneof_kind::response(resp)) = frame.kind {
                        if resp.err == pb::ErrorCode::SESSION_EXPIRED {
                            return true;
                        }
                        break;
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Finding 3: a connection that resumes a session while the session is being closed
/// must not outlive it. The handshake used to check the session, answer, and only then
/// register the connection, so a close applied in between left a connection whose pings
/// were answered forever. Many resumes race with each close here; every one that was
/// accepted must end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_connection_outlives_a_session_closed_while_it_resumed() {
    use paddock::proto::paddock as pb;
    let e = Ensemble::start(1, TICK);
    e.wait_leader(T);
    let addr = e.members[0].client.clone();
    let mut zombies = 0;
    let mut accepted = 0;
    for _ in 0..40 {
        let (mut owner, resp) = common::raw_handshake(&addr, 0, Vec::new(), 4000, 0).await;
        assert_eq!(resp.err, pb::ErrorCode::OK, "{}", resp.message);
        let (id, password) = (resp.session_id, resp.password.clone());
        let resumes: Vec<_> = (0..16)
            .map(|_| {
                let (addr, password) = (addr.clone(), password.clone());
                tokio::spawn(
                    async move { common::raw_handshake(&addr, id, password, 4000, 0).await },
                )
            })
            .collect();
        let close = common::raw_call(
            &mut owner,
            1,
            pb::Request_oneof_op::close_session(pb::CloseSessionRequest::new()),
        )
        .await;
        assert_eq!(close.err, pb::ErrorCode::OK, "{}", close.message);
        for r in resumes {
            let (mut framed, resp) = r.await.expect("resume task");
            if resp.err == pb::ErrorCode::OK {
                accepted += 1;
                if !ends_within(&mut framed, Duration::from_secs(3)).await {
                    zombies += 1;
                }
            }
        }
    }
    assert_eq!(
        zombies, 0,
        "{zombies} of {accepted} resumed connections outlived their closed session"
    );
}
