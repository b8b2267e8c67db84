//! The SDK's recipes against real ensembles: members are real `paddockd` processes
//! wired through the jepsen/ harness's proxies, so a test can cut a client off.
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::proxied::{client, cluster, Kept};
use paddock::recipes::{FencingToken, Lock, Lost};
use paddock::{Code, Op};
use parking_lot::Mutex;

const T: Duration = common::proxied::T;

/// Many contenders, each with its own session, take one lock in turns: no two ever
/// hold it at once, every grant's token is greater than the one before, and no
/// contender's node is left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_holder_at_a_time_with_increasing_tokens() {
    let tmp = Kept::new();
    let c = cluster(tmp.path()).await;
    let servers = c.client_list(1);
    let holding = Arc::new(Mutex::new(None::<usize>));
    let grants = Arc::new(Mutex::new(Vec::<FencingToken>::new()));
    let mut tasks = Vec::new();
    for k in 0..8 {
        let mut order = servers.clone();
        order.rotate_left(k % servers.len());
        let cl = client(order, Duration::from_secs(4)).await;
        let (holding, grants) = (holding.clone(), grants.clone());
        tasks.push(tokio::spawn(async move {
            let lock = Lock::new(&cl, "/locks/one").expect("lock");
            for _ in 0..5 {
                let guard = lock.acquire().await.expect("acquire");
                {
                    let mut h = holding.lock();
                    assert_eq!(
                        *h, None,
                        "contender {k} was granted the lock while {h:?} held it"
                    );
                    *h = Some(k);
                    grants.lock().push(guard.token());
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
                *holding.lock() = None;
                guard.release().await.expect("release");
            }
            cl.close().await.expect("close");
        }));
    }
    for t in tasks {
        tokio::time::timeout(T * 2, t)
            .await
            .expect("every contender done in time")
            .expect("contender");
    }
    let grants = grants.lock().clone();
    assert_eq!(grants.len(), 40);
    assert!(
        grants.windows(2).all(|w| w[0] < w[1]),
        "tokens must strictly increase in grant order: {grants:?}"
    );
    let check = client(servers, T).await;
    assert_eq!(
        check.children("/locks/one").await.unwrap_or_default(),
        Vec::<String>::new()
    );
    check.close().await.expect("close");
}

/// The lock is reentrant through one handle (each acquire needs its release), a second
/// handle of the same session contends like another process, and `try_acquire` gives up
/// at its timeout without leaving a node in the queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reentrant_through_its_handle_and_try_acquire_gives_up_cleanly() {
    let tmp = Kept::new();
    let c = cluster(tmp.path()).await;
    let servers = c.client_list(1);
    let cl = client(servers.clone(), Duration::from_secs(4)).await;
    let lock = Lock::new(&cl, "/locks/re").expect("lock");
    let first = lock.acquire().await.expect("acquire");
    let again = lock.acquire().await.expect("reentrant acquire");
    assert_eq!(first.token(), again.token());
    assert_eq!(first.node(), again.node());

    let other = Lock::new(&cl, "/locks/re").expect("lock");
    assert!(other
        .try_acquire(Duration::from_millis(300))
        .await
        .expect("try_acquire")
        .is_none());
    assert_eq!(cl.children("/locks/re").await.expect("children").len(), 1);

    again.release().await.expect("release");
    assert!(
        other
            .try_acquire(Duration::from_millis(300))
            .await
            .expect("try_acquire")
            .is_none(),
        "one release of two must keep the lock"
    );
    let first_token = first.token();
    first.release().await.expect("release");
    let taken = other
        .try_acquire(T)
        .await
        .expect("try_acquire")
        .expect("granted once released");
    assert!(taken.token() > first_token);
    // A dropped guard releases too.
    drop(taken);
    let deadline = Instant::now() + T;
    // The emptied container may be reaped meanwhile: gone counts as empty.
    while !cl
        .children("/locks/re")
        .await
        .or_else(|e| match e.code() {
            paddock::Code::NoNode => Ok(Vec::new()),
            _ => Err(e),
        })
        .expect("children")
        .is_empty()
    {
        assert!(Instant::now() < deadline, "a dropped guard kept its node");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cl.close().await.expect("close");
}

/// A holder cut off from every member learns that its lock may be lost before the
/// ensemble can give the lock to anyone else: `lost()` fires (the lease ran down) before
/// the next contender is granted it, the next contender gets it once the holder's
/// session has expired, and a write fenced by the old grant fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_off_holder_learns_it_may_have_lost_the_lock_before_anyone_else_gets_it() {
    let tmp = Kept::new();
    let c = cluster(tmp.path()).await;
    let leader = c.wait_leader(T).await.expect("leader");
    let f = c
        .ids()
        .into_iter()
        .find(|i| *i != leader)
        .expect("a follower");
    // The holder only knows member f; the next contender knows the others.
    let holder = client(vec![c.client_addr(f).to_string()], Duration::from_secs(3)).await;
    let others: Vec<String> = c
        .ids()
        .into_iter()
        .filter(|i| *i != f)
        .map(|i| c.client_addr(i).to_string())
        .collect();
    let next = client(others, Duration::from_secs(3)).await;
    let lock = Lock::new(&holder, "/locks/cut").expect("lock");
    let guard = lock.acquire().await.expect("acquire");
    let fenced = Op::set_data("/locks/cut", b"by the holder");

    let next_lock = Lock::new(&next, "/locks/cut").expect("lock");
    let waiter = tokio::spawn(async move {
        let g = next_lock
            .acquire()
            .await
            .expect("the next contender's acquire");
        (Instant::now(), g.token(), g)
    });
    c.cut_clients(f);
    let lost = tokio::time::timeout(T, guard.lost())
        .await
        .expect("lost() in time");
    let lost_at = Instant::now();
    assert_eq!(lost, Lost::LeaseRunningOut);
    let (granted_at, token, next_guard) = tokio::time::timeout(T, waiter)
        .await
        .expect("granted in time")
        .expect("waiter");
    assert!(
        lost_at < granted_at,
        "the cut-off holder learned of the loss {:?} after the next grant",
        lost_at - granted_at
    );
    assert!(token > guard.token());
    c.heal_all();
    // The old grant can no longer fence a write: its node is gone with its session.
    let err = holder
        .multi(&[guard.check_op(), fenced])
        .await
        .expect_err("a write fenced by a lost grant");
    assert!(
        matches!(err.code(), Code::SessionExpired | Code::NoNode),
        "{err:?}"
    );
    // The new holder's fenced write goes through.
    next.multi(&[
        next_guard.check_op(),
        Op::set_data("/locks/cut", b"by the next holder"),
    ])
    .await
    .expect("a write fenced by the current grant");
    next_guard.release().await.expect("release");
    next.close().await.expect("close");
}

/// Candidates, each with its own session, campaign in turns: never two leaders at once,
/// each term's token greater than the last, and an observer sees every leader in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_at_a_time_and_observers_see_each_in_turn() {
    use futures::StreamExt;
    use paddock::recipes::Election;
    let tmp = Kept::new();
    let c = cluster(tmp.path()).await;
    let servers = c.client_list(1);
    let watcher = client(servers.clone(), Duration::from_secs(4)).await;
    let mut observed = Box::pin(
        Election::new(&watcher, "/elections/e")
            .expect("election")
            .observe(),
    );
    let first = tokio::time::timeout(T, observed.next())
        .await
        .expect("a first item")
        .expect("an item")
        .expect("no error");
    assert_eq!(first, None, "nobody leads yet");
    // The observer follows along while the candidates campaign.
    let seen = Arc::new(Mutex::new(Vec::<Option<(FencingToken, Vec<u8>)>>::new()));
    let observer = {
        let seen = seen.clone();
        tokio::spawn(async move {
            while let Some(item) = observed.next().await {
                let item = item.expect("no error while observing");
                seen.lock().push(item.map(|l| (l.token, l.value)));
            }
        })
    };
    let leading = Arc::new(Mutex::new(None::<usize>));
    let terms = Arc::new(Mutex::new(Vec::<(FencingToken, Vec<u8>)>::new()));
    let mut tasks = Vec::new();
    for k in 0..4 {
        let mut order = servers.clone();
        order.rotate_left(k % servers.len());
        let cl = client(order, Duration::from_secs(4)).await;
        let (leading, terms) = (leading.clone(), terms.clone());
        tasks.push(tokio::spawn(async move {
            let election = Election::new(&cl, "/elections/e").expect("election");
            for round in 0..3 {
                let value = format!("candidate-{k}-{round}").into_bytes();
                let term = election.campaign(&value).await.expect("campaign");
                {
                    let mut l = leading.lock();
                    assert_eq!(*l, None, "candidate {k} elected while {l:?} led");
                    *l = Some(k);
                    terms.lock().push((term.token(), value));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                *leading.lock() = None;
                term.resign().await.expect("resign");
            }
            cl.close().await.expect("close");
        }));
    }
    for t in tasks {
        tokio::time::timeout(T * 2, t)
            .await
            .expect("every candidate done in time")
            .expect("candidate");
    }
    let terms = terms.lock().clone();
    assert_eq!(terms.len(), 12);
    assert!(terms.windows(2).all(|w| w[0].0 < w[1].0), "{terms:?}");
    // The observer ends up seeing nobody lead; before that it saw leaders only in
    // order, each at most once, and only ones that led.
    let deadline = Instant::now() + T;
    loop {
        {
            let s = seen.lock();
            if s.last() == Some(&None) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the observer never saw the end: {s:?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    observer.abort();
    let seen: Vec<(FencingToken, Vec<u8>)> = seen.lock().iter().flatten().cloned().collect();
    assert!(!seen.is_empty(), "the observer saw no leader at all");
    assert!(seen.windows(2).all(|w| w[0].0 < w[1].0), "{seen:?}");
    for s in &seen {
        assert!(terms.contains(s), "observed a leader that never led: {s:?}");
    }
    watcher.close().await.expect("close");
}

/// A leader whose member is killed keeps its term: its client moves to another member
/// with its session, nobody else is elected meanwhile, and observers keep seeing it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_keeps_its_term_when_its_member_dies() {
    use paddock::recipes::Election;
    let tmp = Kept::new();
    let c = cluster(tmp.path()).await;
    let ids = c.ids();
    let servers = c.client_list(ids[0]);
    let leader_cl = client(servers.clone(), Duration::from_secs(4)).await;
    let term = Election::new(&leader_cl, "/elections/k")
        .expect("election")
        .campaign(b"first")
        .await
        .expect("campaign");
    let mut order = servers.clone();
    order.reverse();
    let rival_cl = client(order, Duration::from_secs(4)).await;
    let rival = Election::new(&rival_cl, "/elections/k").expect("election");
    let member = leader_cl.server_id();
    c.kill(member);
    let rival_term = {
        let rival = rival.clone();
        tokio::spawn(async move { rival.campaign(b"second").await })
    };
    // The leader's session moves on (a request in flight when its member died, or
    // while the others elected a new leader, fails with a retryable error); its term
    // stands.
    let deadline = Instant::now() + T;
    loop {
        match leader_cl.sync("/").await {
            Ok(()) => break,
            Err(e) if e.is_retryable() && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(e) => panic!("the leader's session after the kill: {e}"),
        }
    }
    assert_ne!(leader_cl.server_id(), member);
    // The rival's own connection may have been to the killed member too.
    let deadline = Instant::now() + T;
    let now = loop {
        match rival.leader().await {
            Ok(l) => break l.expect("someone leads"),
            Err(e) if e.is_retryable() && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(e) => panic!("reading the leader: {e}"),
        }
    };
    assert_eq!(
        (now.token, now.value.as_slice()),
        (term.token(), &b"first"[..])
    );
    assert!(
        !rival_term.is_finished(),
        "a rival was elected while the leader lived"
    );
    let first_token = term.token();
    term.resign().await.expect("resign");
    let second = tokio::time::timeout(T, rival_term)
        .await
        .expect("elected in time")
        .expect("task")
        .expect("campaign");
    assert!(second.token() > first_token);
    second.resign().await.expect("resign");
    c.start_member(member).expect("restart");
}

/// Concurrent adds through different sessions and members never lose an update: every
/// add returns a different value, and the counter ends at their sum.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_counter_loses_no_add() {
    use paddock::recipes::SharedCounter;
    let tmp = Kept::new();
    let c = cluster(tmp.path()).await;
    let servers = c.client_list(1);
    let mut tasks = Vec::new();
    for k in 0..6 {
        let mut order = servers.clone();
        order.rotate_left(k % servers.len());
        let cl = client(order, Duration::from_secs(4)).await;
        tasks.push(tokio::spawn(async move {
            let counter = SharedCounter::new(&cl, "/counters/hits").expect("counter");
            let mut seen = Vec::new();
            for _ in 0..20 {
                seen.push(counter.add(1).await.expect("add"));
            }
            cl.close().await.expect("close");
            seen
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(
            tokio::time::timeout(T * 2, t)
                .await
                .expect("in time")
                .expect("task"),
        );
    }
    all.sort_unstable();
    assert_eq!(
        all,
        (1..=120).collect::<Vec<i64>>(),
        "each add saw its own value"
    );
    let check = client(servers, T).await;
    check.sync("/").await.expect("sync");
    let counter = SharedCounter::new(&check, "/counters/hits").expect("counter");
    assert_eq!(counter.get().await.expect("get").0, 120);
    let (value, version) = counter.get().await.expect("get");
    assert!(counter
        .compare_and_set(version, value + 5)
        .await
        .expect("cas"));
    assert!(!counter
        .compare_and_set(version, 0)
        .await
        .expect("stale cas"));
    assert_eq!(counter.get().await.expect("get").0, 125);
    check.close().await.expect("close");
}

/// A barrier holds its waiters until it is removed; a double barrier lets nobody in
/// before everyone has entered, and nobody out before everyone has left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn barriers_hold_until_released_and_double_barriers_until_everyone_is_there() {
    use paddock::recipes::{Barrier, DoubleBarrier};
    let tmp = Kept::new();
    let c = cluster(tmp.path()).await;
    let servers = c.client_list(1);
    let a = client(servers.clone(), Duration::from_secs(4)).await;
    let b = client(servers.clone(), Duration::from_secs(4)).await;
    let barrier = Barrier::new(&a, "/barriers/start").expect("barrier");
    barrier.set().await.expect("set");
    let waiter = Barrier::new(&b, "/barriers/start").expect("barrier");
    // Another session's member may not have applied the set yet.
    b.sync("/").await.expect("sync");
    assert!(!waiter
        .wait_timeout(Duration::from_millis(300))
        .await
        .expect("wait"));
    let through = tokio::spawn(async move { waiter.wait().await });
    barrier.remove().await.expect("remove");
    tokio::time::timeout(T, through)
        .await
        .expect("through in time")
        .expect("task")
        .expect("wait");

    let entered = Arc::new(Mutex::new(0usize));
    let mut tasks = Vec::new();
    for k in 0..3 {
        let cl = client(servers.clone(), Duration::from_secs(4)).await;
        let entered = entered.clone();
        tasks.push(tokio::spawn(async move {
            let db = DoubleBarrier::new(&cl, "/barriers/double", 3).expect("double barrier");
            // Stagger the arrivals: the first ones must wait for the last.
            tokio::time::sleep(Duration::from_millis(200 * k as u64)).await;
            *entered.lock() += 1;
            db.enter().await.expect("enter");
            let inside = *entered.lock();
            db.leave().await.expect("leave");
            cl.close().await.expect("close");
            inside
        }));
    }
    for t in tasks {
        let inside = tokio::time::timeout(T, t)
            .await
            .expect("in time")
            .expect("task");
        assert_eq!(inside, 3, "someone got in before all three had arrived");
    }
    a.close().await.expect("close");
    b.close().await.expect("close");
}

/// Members join with their data, are listed, and leave when they leave or their session
/// ends; a watcher sees each change of the set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_members_are_listed_and_watched_as_they_come_and_go() {
    use futures::StreamExt;
    use paddock::recipes::Group;
    let tmp = Kept::new();
    let c = cluster(tmp.path()).await;
    let servers = c.client_list(1);
    let watcher = client(servers.clone(), Duration::from_secs(4)).await;
    let mut changes = Box::pin(
        Group::new(&watcher, "/services/web")
            .expect("group")
            .watch(),
    );
    let first = tokio::time::timeout(T, changes.next())
        .await
        .expect("in time")
        .expect("an item")
        .expect("members");
    assert!(first.is_empty());

    let one = client(servers.clone(), Duration::from_secs(4)).await;
    let two = client(servers.clone(), Duration::from_secs(4)).await;
    let m1 = Group::new(&one, "/services/web")
        .expect("group")
        .join("host-1", b"10.0.0.1:80")
        .await
        .expect("join");
    let _m2 = Group::new(&two, "/services/web")
        .expect("group")
        .join("host-2", b"10.0.0.2:80")
        .await
        .expect("join");
    // Another session cannot take a name in use.
    let taken = Group::new(&watcher, "/services/web")
        .expect("group")
        .join("host-1", b"x")
        .await;
    assert!(taken.is_err());
    let group = Group::new(&watcher, "/services/web").expect("group");
    watcher.sync("/").await.expect("sync");
    let members = group.members().await.expect("members");
    assert_eq!(members.len(), 2);
    assert_eq!(members["host-2"], b"10.0.0.2:80");

    // The watcher ends up seeing both, then host-1 leave and host-2's session end.
    let expect_set = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    async fn until(
        changes: &mut (impl futures::Stream<Item = paddock::Result<paddock::recipes::Members>> + Unpin),
        want: Vec<String>,
    ) {
        loop {
            let m = tokio::time::timeout(T, changes.next())
                .await
                .expect("a change in time")
                .expect("an item")
                .expect("members");
            if m.keys().cloned().collect::<Vec<_>>() == want {
                return;
            }
        }
    }
    until(&mut changes, expect_set(&["host-1", "host-2"])).await;
    m1.leave().await.expect("leave");
    until(&mut changes, expect_set(&["host-2"])).await;
    two.close().await.expect("close");
    until(&mut changes, expect_set(&[])).await;
    one.close().await.expect("close");
    watcher.close().await.expect("close");
}
