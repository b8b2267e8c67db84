//! A member that lost its data directory must not rejoin silently: with an empty log it
//! could vote a second time in a term it already voted in (issue 8, finding 11). Each
//! test reproduced the silent rejoin on the code before the fix.
mod common;

use std::time::{Duration, Instant};

use common::{client_at, Ensemble};
use paddock::CreateMode;

const T: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_lost_its_data_refuses_to_start_until_told_to_rejoin() {
    let mut e = Ensemble::start(3, &[]);
    let leader = e.wait_leader(T);
    let lost = (leader + 1) % 3;
    let c = client_at(&e.members[leader].client, T).await;
    c.create("/kept", b"v", CreateMode::Persistent)
        .await
        .expect("create");
    e.wait_converged(T);
    let before = common::incarnation(&e, lost);
    e.stop(lost);
    std::fs::remove_dir_all(&e.members[lost].dir).expect("wipe the data directory");

    // Started on the empty directory: its peers know it by another one.
    for attempt in 0..2 {
        e.spawn(lost);
        let status = e.wait_exit(lost, T).expect("refuses to start");
        assert_eq!(status.code(), Some(1), "attempt {attempt}: {status:?}");
        let id = e.members[lost].id;
        assert!(
            e.log(lost)
                .contains(&format!("knows member {id} by another data directory")),
            "{}",
            e.log(lost)
        );
        // The second attempt proves the refusal is remembered: the first one created a
        // log, which alone would not look new any more.
    }
    // The ensemble goes on without it.
    c.create("/while-out", b"", CreateMode::Persistent)
        .await
        .expect("the majority commits");

    // Told it rejoins after a data loss: it catches up with a new data directory.
    e.spawn_with(lost, &["--rejoin-after-data-loss"]);
    e.wait_converged(T);
    let after = common::incarnation(&e, lost);
    assert_ne!(after, before, "a new data directory");
    let peer_log = e.log(leader);
    assert!(
        peer_log.contains("a peer rejoins after losing its data"),
        "{peer_log}"
    );
    // And later restarts are ordinary ones.
    e.stop(lost);
    e.spawn(lost);
    e.wait_converged(T);
    assert_eq!(common::incarnation(&e, lost), after);
    let r = client_at(&e.members[lost].client, T).await;
    r.sync("/").await.expect("sync");
    assert_eq!(r.get("/kept").await.expect("get").0, b"v");
    assert!(r.exists("/while-out").await.expect("exists").is_some());
}

/// A member wiped while its peers were down starts (nobody could tell it apart from a
/// new member), but once they are back they refuse its links: it never takes part, so
/// its votes never count, until it is restarted with `--rejoin-after-data-loss`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_refuse_a_member_that_came_back_with_another_data_directory() {
    let mut e = Ensemble::start(3, &[]);
    let leader = e.wait_leader(T);
    let c = client_at(&e.members[leader].client, T).await;
    c.create("/kept", b"v", CreateMode::Persistent)
        .await
        .expect("create");
    e.wait_converged(T);
    drop(c);
    for i in 0..3 {
        e.stop(i);
    }
    std::fs::remove_dir_all(&e.members[2].dir).expect("wipe member 3");
    e.spawn(2);
    // Its probe finds nobody; it starts on a new log.
    let deadline = Instant::now() + T;
    while e.status(2).is_none() {
        assert!(Instant::now() < deadline, "member 3 did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    e.spawn(0);
    e.spawn(1);
    // Members 1 and 2 elect one of them (member 3 stays unhealthy: no leader vouches
    // for it).
    let deadline = Instant::now() + T;
    let leader = loop {
        let elected = (0..2).find(|i| e.status(*i).is_some_and(|s| s["role"] == "leader"));
        if let Some(i) = elected {
            break i;
        }
        assert!(
            Instant::now() < deadline,
            "members 1 and 2 elected no leader"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let c = client_at(&e.members[leader].client, T).await;
    c.create("/new", b"", CreateMode::Persistent)
        .await
        .expect("the other two commit");
    let deadline = Instant::now() + T;
    while !(e.log(0) + &e.log(1)).contains("refused a peer link") {
        assert!(Instant::now() < deadline, "nobody refused member 3");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Its acknowledgements never reach the leader, so the leader never finds where its
    // log matches: it holds none of the ensemble's nodes.
    let s = e.status(2).expect("member 3 status");
    let l = e.status(leader).expect("leader status");
    assert!(
        s["znode_count"].as_u64() < l["znode_count"].as_u64(),
        "member 3: {s}, leader: {l}"
    );
    // Told to rejoin, it catches up.
    e.stop(2);
    e.spawn_with(2, &["--rejoin-after-data-loss"]);
    e.wait_converged(T);
}

/// A rejoining member that is restarted before it caught up is still rejoining: it
/// abstains from votes (with or without the flag), so two members that lost their data
/// and one that kept it can never elect a leader among the two empty ones and serve an
/// empty tree. On the code before the fix, the restart voted as usual: the two wiped
/// members elected one of them, and the ensemble came back empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejoining_member_restarted_before_it_caught_up_still_abstains() {
    let mut e = Ensemble::start(3, &[]);
    let leader = e.wait_leader(T);
    let c = client_at(&e.members[leader].client, T).await;
    c.create("/kept", b"v", CreateMode::Persistent)
        .await
        .expect("create");
    e.wait_converged(T);
    drop(c);
    for i in 0..3 {
        e.stop(i);
    }
    // Members 1 and 2 lose their data; member 3 keeps it but stays down.
    for i in 0..2 {
        std::fs::remove_dir_all(&e.members[i].dir).expect("wipe");
    }
    for i in 0..2 {
        e.spawn_with(i, &["--rejoin-after-data-loss"]);
    }
    let deadline = Instant::now() + T;
    while !(0..2).all(|i| e.status(i).is_some()) {
        assert!(Instant::now() < deadline, "the wiped members did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Restarted without the flag before any leader let them catch up.
    for i in 0..2 {
        e.stop(i);
        e.spawn(i);
    }
    // Several election timeouts: neither may vote for the other.
    let until = Instant::now() + Duration::from_secs(6);
    while Instant::now() < until {
        for i in 0..2 {
            let role = e.status(i).map(|s| s["role"].clone());
            assert_ne!(
                role,
                Some(serde_json::json!("leader")),
                "two members without data elected member {} ",
                i + 1
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Member 3 comes back with the data. Restarted now, member 1 hears from every peer:
    // it takes their highest term as its own and votes in later ones, so member 3 is
    // elected, and member 2 catches up from it too.
    e.spawn(2);
    let deadline = Instant::now() + T;
    while e.status(2).is_none() {
        assert!(Instant::now() < deadline, "member 3 did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    e.stop(0);
    e.spawn(0);
    e.wait_converged(T);
    assert!(e.log(0).contains("every peer answered"), "{}", e.log(0));
    assert!(
        e.log(1).contains("caught up after rejoining"),
        "{}",
        e.log(1)
    );
    let r = client_at(&e.members[1].client, T).await;
    r.sync("/").await.expect("sync");
    assert_eq!(r.get("/kept").await.expect("get").0, b"v");
}
