//! The peer link under faults: connections a peer left behind never lock it out.
mod common;

use std::time::Duration;

use paddock::CreateMode;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const T: Duration = Duration::from_secs(30);

/// Finding 6: a peer killed while partitioned leaves half-open connections on the other
/// members' peer listeners. Before the fix the listener's cap (4 x voters) filled with
/// them and every later connection, the restarted peer's included, was refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_a_peer_left_behind_never_lock_its_new_one_out() {
    let mut e = common::Ensemble::start(3, &[]);
    let l = e.wait_leader(T);
    let (y, z) = ((l + 1) % 3, (l + 2) % 3);
    let y_incarnation = common::incarnation(&e, y);
    // y dies behind a partition and z goes down too: the leader's listener is empty.
    e.kill(y);
    e.kill(z);
    // y's connections stay behind, half-open, saying they are y: more than the listener
    // used to hold in all (4 x voters).
    let mut stale = Vec::new();
    for _ in 0..13 {
        let mut s = TcpStream::connect(&e.members[l].peer)
            .await
            .expect("connect to the leader's peer port");
        let hello = common::peer_hello(e.members[y].id, y_incarnation);
        s.write_all(&hello).await.expect("hello");
        stale.push(s);
    }
    // y comes back. Without z, nothing commits unless the leader hears y over y's new
    // link.
    e.spawn(y);
    let c = common::client_at(&e.members[l].client, T).await;
    let created = tokio::time::timeout(T, c.create("/after", b"", CreateMode::Persistent)).await;
    assert!(
        matches!(created, Ok(Ok(_))),
        "no write committed with the leader and the restarted y: {created:?}"
    );
    drop(stale);
}

/// A follower's link to another follower carries nothing while a leader is up, so
/// before the fix it went on holding the connection of a peer that had died: the first
/// messages after the peer came back (the votes of the next election) went into the dead
/// socket and were lost, and a leader pause then cost an extra election round (seen in
/// the full matrix, `session-all-3`, seed 36). The link now notices the peer's end while
/// idle and dials the restarted peer without waiting for traffic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_link_notices_its_peer_restarted_and_reconnects() {
    let mut e = common::Ensemble::start(3, &[]);
    let l = e.wait_leader(T);
    let (a, b) = ((l + 1) % 3, (l + 2) % 3);
    let a_id = e.members[a].id;
    let links_to_a = |e: &common::Ensemble| {
        e.log(b)
            .lines()
            .filter(|line| {
                line.contains("connected to peer") && line.contains(&format!("peer: {a_id},"))
            })
            .count()
    };
    let before = links_to_a(&e);
    e.kill(a);
    e.spawn(a);
    let deadline = std::time::Instant::now() + T;
    while links_to_a(&e) <= before {
        assert!(
            std::time::Instant::now() < deadline,
            "member {} never re-dialled the restarted member {a_id}",
            e.members[b].id
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
