//! Membership changes with real `paddockd` processes: an ensemble grows from one member
//! to five and shrinks back to one while a client writes, a member whose data directory
//! was lost is replaced, the member list survives restarts, and wrong changes are
//! refused with a clear error.
mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{client_at, Ensemble};
use paddock::{Client, ClientConfig, Code, CreateMode, Error, NewMember};

const T: Duration = Duration::from_secs(30);

/// `--peers` naming only member `i` of `e`.
fn alone(e: &Ensemble, i: usize) -> String {
    format!("{}={}", e.members[i].id, e.members[i].peer)
}

/// Starts member `i` of `e` joining through `via` (a client address).
fn join(e: &mut Ensemble, i: usize, via: &str) {
    let own = alone(e, i);
    e.spawn_with_peers(i, &own, &["--join", via]);
}

/// Adds member `i` of `e` as a learner (through `admin`), starts it with `--join`, and
/// promotes it once it has caught up.
async fn grow(e: &mut Ensemble, admin: &Client, i: usize, via: &str) {
    let (id, peer) = (e.members[i].id, e.members[i].peer.clone());
    let members = admin
        .add_member(NewMember {
            id,
            peer_addr: peer.clone(),
            learner: true,
            ..Default::default()
        })
        .await
        .expect("add a learner");
    let added = members.iter().find(|m| m.id == id).expect("listed");
    assert!(added.learner && added.peer_addr == peer, "{members:?}");
    join(e, i, via);
    let deadline = Instant::now() + T;
    loop {
        match admin.promote_member(id, None).await {
            Ok(members) => {
                let m = members.iter().find(|m| m.id == id).expect("listed");
                assert!(!m.learner, "{members:?}");
                return;
            }
            // Not caught up yet (it receives the snapshot first), or another change
            // still in flight.
            Err(Error::Server { code, message })
                if matches!(code, Code::BadArguments | Code::NotReady)
                    && Instant::now() < deadline =>
            {
                assert!(
                    code == Code::NotReady || message.contains("not caught up"),
                    "{message}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("promote {id}: {e}"),
        }
    }
}

fn voters(members: &[paddock::Member]) -> BTreeSet<u64> {
    members
        .iter()
        .filter(|m| !m.learner)
        .map(|m| m.id)
        .collect()
}

/// A client of every member of `e`, whichever runs.
async fn everywhere(e: &Ensemble) -> Client {
    let cfg = ClientConfig::from_list(&e.servers())
        .session_timeout(Duration::from_secs(10))
        .request_timeout(Duration::from_secs(8));
    let deadline = Instant::now() + T;
    loop {
        match Client::connect_with(cfg.clone()).await {
            Ok(c) => return c,
            Err(err) if Instant::now() < deadline => {
                let _ = err;
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(err) => panic!("no session: {err}"),
        }
    }
}

/// Writes `/w/N` for N = 0, 1, ... until `stop`; returns the acknowledged N.
async fn write_until(c: Client, stop: Arc<AtomicBool>) -> Vec<u64> {
    let mut acked = Vec::new();
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let path = format!("/w/{n}");
        match c.create(&path, b"x", CreateMode::Persistent).await {
            Ok(_) => acked.push(n),
            // A retried create of a node that exists applied the first time.
            Err(Error::Server {
                code: Code::NodeExists,
                ..
            }) => acked.push(n),
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
        n += 1;
    }
    let _ = c.close().await;
    acked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ensemble_grows_from_one_to_five_and_back_under_writes_without_losing_one() {
    let mut e = Ensemble::layout(5, &[], |_| Vec::new());
    let first = alone(&e, 0);
    e.spawn_with_peers(0, &first, &[]);
    e.wait_leader(T);
    let via = e.members[0].client.clone();
    let admin = client_at(&via, T).await;
    admin
        .create("/w", b"", CreateMode::Persistent)
        .await
        .expect("create /w");

    let stop = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn(write_until(everywhere(&e).await, stop.clone()));

    // 1 -> 3 -> 5, each new member a learner first.
    for i in 1..5 {
        grow(&mut e, &admin, i, &via).await;
    }
    let members = admin.members().await.expect("members");
    assert_eq!(
        voters(&members),
        BTreeSet::from([1, 2, 3, 4, 5]),
        "{members:?}"
    );
    assert_eq!(
        members.iter().filter(|m| m.leader).count(),
        1,
        "{members:?}"
    );
    e.wait_converged(T);

    // The member list is replicated state: every member lists the same, and each
    // has announced its client address.
    let deadline = Instant::now() + T;
    loop {
        let listed = admin.members().await.expect("members");
        if listed.iter().all(|m| !m.client_addr.is_empty()) {
            for m in &listed {
                assert_eq!(m.client_addr, e.members[(m.id - 1) as usize].client);
            }
            break;
        }
        assert!(
            Instant::now() < deadline,
            "client addresses never announced: {listed:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // 5 -> 3 -> 1: the removed members' processes are stopped afterwards. Member 1
    // (which every joiner came through, and which may lead) goes too.
    for id in [5u64, 4, 1, 2] {
        let c = client_at(&e.members[2].client, T).await;
        let members = c.remove_member(id).await.expect("remove");
        assert!(members.iter().all(|m| m.id != id), "{members:?}");
        let _ = c.close().await;
        e.stop((id - 1) as usize);
    }
    let c = client_at(&e.members[2].client, T).await;
    let members = c.members().await.expect("members");
    assert_eq!(voters(&members), BTreeSet::from([3]), "{members:?}");

    // Writes go on with the one member left; then every acknowledged one is there.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let acked = tokio::time::timeout(T, writer)
        .await
        .expect("writer stops")
        .expect("writer");
    assert!(
        acked.len() > 10,
        "too few writes acknowledged: {}",
        acked.len()
    );
    let present: BTreeSet<u64> = c
        .children("/w")
        .await
        .expect("children")
        .iter()
        .map(|n| n.parse().expect("number"))
        .collect();
    let lost: Vec<u64> = acked
        .iter()
        .filter(|n| !present.contains(n))
        .copied()
        .collect();
    assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
    let _ = c.close().await;
    let _ = admin.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_whose_data_was_lost_is_replaced_and_the_list_survives_restarts() {
    let mut e = Ensemble::start(3, &["--snapshot-entries", "50"]);
    let leader = e.wait_leader(T);
    let c = client_at(&e.members[leader].client, T).await;
    for i in 0..120 {
        c.create(&format!("/n{i}"), b"v", CreateMode::Persistent)
            .await
            .expect("create");
    }
    e.wait_converged(T);

    // A follower loses its data directory: remove it, add it again (same id, same
    // address) as a learner, start it empty with --join, promote it.
    let lost = (leader + 1) % 3;
    let lost_id = e.members[lost].id;
    e.kill(lost);
    std::fs::remove_dir_all(&e.members[lost].dir).expect("wipe");
    let alive = (0..3)
        .find(|i| *i != lost && *i != leader)
        .expect("a live follower");
    let admin = client_at(&e.members[alive].client, T).await;
    let members = admin.remove_member(lost_id).await.expect("remove");
    let rest: BTreeSet<u64> = [1, 2, 3].into_iter().filter(|id| *id != lost_id).collect();
    assert_eq!(voters(&members), rest);
    // Writes go on with two voters.
    c.create("/after-remove", b"v", CreateMode::Persistent)
        .await
        .expect("write with two voters");
    let via = e.members[alive].client.clone();
    grow(&mut e, &admin, lost, &via).await;
    e.wait_converged(T);
    let back = client_at(&e.members[lost].client, T).await;
    back.sync("/").await.expect("sync");
    assert!(back.exists("/n119").await.expect("exists").is_some());
    assert!(back
        .exists("/after-remove")
        .await
        .expect("exists")
        .is_some());
    let _ = back.close().await;
    let before = admin.members().await.expect("members");
    let _ = admin.close().await;
    let _ = c.close().await;

    // A whole-ensemble restart keeps the list (the replaced member restarts with its
    // --join, which its data directory makes moot).
    for i in 0..3 {
        e.kill(i);
    }
    for i in (0..3).filter(|i| *i != lost) {
        e.spawn(i);
    }
    join(&mut e, lost, &via);
    let leader = e.wait_leader(T);
    e.wait_converged(T);
    let c = client_at(&e.members[leader].client, T).await;
    let after = c.members().await.expect("members");
    let strip = |v: &[paddock::Member]| {
        v.iter()
            .map(|m| (m.id, m.peer_addr.clone(), m.learner))
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&after), strip(&before));
    assert!(e.log(lost).contains("--join is ignored"), "{}", e.log(lost));
    let _ = c.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_changes_are_refused_with_the_reason() {
    let mut e = Ensemble::layout(4, &[], |_| Vec::new());
    let three: String = e.peers().split(',').take(3).collect::<Vec<_>>().join(",");
    for i in 0..3 {
        e.spawn_with_peers(i, &three, &[]);
    }
    let leader = e.wait_leader(T);
    let c = client_at(&e.members[(leader + 1) % 3].client, T).await;
    let refused = |r: paddock::Result<Vec<paddock::Member>>| match r {
        Err(Error::Server { code, message }) => (code, message),
        other => panic!("not refused: {other:?}"),
    };
    let add = |id: u64, peer: &str| NewMember {
        id,
        peer_addr: peer.to_string(),
        learner: true,
        ..Default::default()
    };
    let (code, why) = refused(c.add_member(add(2, "127.0.0.1:9999")).await);
    assert_eq!(code, Code::BadArguments);
    assert!(why.contains("already a voter"), "{why}");
    let (code, why) = refused(c.add_member(add(9, "no-port")).await);
    assert_eq!(code, Code::BadArguments);
    assert!(why.contains("HOST:PORT"), "{why}");
    let (code, _) = refused(c.promote_member(2, None).await);
    assert_eq!(code, Code::BadArguments);
    let (code, why) = refused(c.remove_member(9).await);
    assert_eq!(code, Code::BadArguments);
    assert!(why.contains("not a member"), "{why}");

    // A learner that is not running never catches up: it is not promoted.
    let peer4 = e.members[3].peer.clone();
    c.add_member(add(4, &peer4)).await.expect("add 4");
    let (code, why) = refused(c.promote_member(4, None).await);
    assert_eq!(code, Code::BadArguments);
    assert!(why.contains("not caught up"), "{why}");
    // Writes are not held up by a learner that is down.
    c.create("/still", b"v", CreateMode::Persistent)
        .await
        .expect("write");

    // A member started with --join before it was added is told what to do.
    c.remove_member(4).await.expect("remove 4");
    let via = e.members[0].client.clone();
    join(&mut e, 3, &via);
    let status = e.wait_exit(3, T).expect("refuses to start");
    assert!(!status.success());
    assert!(e.log(3).contains("paddock member add 4"), "{}", e.log(3));
    let _ = c.close().await;
}
