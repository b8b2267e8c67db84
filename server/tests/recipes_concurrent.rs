//! The read-write lock, the semaphore and the queue under contention: many sessions on
//! a 3-member ensemble at once, with the invariants checked on every step.
mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::proxied::{client, cluster, Kept, T};
use paddock::recipes::{DistributedQueue, RwLock, Semaphore};
use paddock::Client;
use parking_lot::Mutex;

async fn clients(c: &paddock_jepsen::cluster::Cluster, n: usize) -> Vec<Client> {
    let mut v = Vec::new();
    for i in 0..n {
        let first = 1 + (i as u64 % 3);
        v.push(client(c.client_list(first), Duration::from_secs(6)).await);
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_share_the_lock_and_a_writer_holds_it_alone() {
    let tmp = Kept::new();
    let c = cluster(tmp.path()).await;
    let cls = clients(&c, 6).await;
    // (readers inside, writers inside, most readers seen at once)
    let inside = Arc::new(Mutex::new((0usize, 0usize, 0usize)));
    let mut tasks = Vec::new();
    for (i, cl) in cls.iter().enumerate() {
        let (cl, inside) = (cl.clone(), inside.clone());
        tasks.push(tokio::spawn(async move {
            let lock = RwLock::new(&cl, "/rw/lock").expect("rwlock");
            for round in 0..8 {
                let write = (i + round) % 3 == 0;
                let guard = if write {
                    lock.write().await.expect("write")
                } else {
                    lock.read().await.expect("read")
                };
                {
                    let mut s = inside.lock();
                    if write {
                        assert_eq!((s.0, s.1), (0, 0), "a writer entered while others were in");
                        s.1 += 1;
                    } else {
                        assert_eq!(s.1, 0, "a reader entered while a writer was in");
                        s.0 += 1;
                        s.2 = s.2.max(s.0);
                    }
                }
                tokio::time::sleep(Duration::from_millis(15)).await;
                {
                    let mut s = inside.lock();
                    if write {
                        s.1 -= 1;
                    } else {
                        s.0 -= 1;
                    }
                }
                guard.release().await.expect("release");
            }
        }));
    }
    for t in tasks {
        tokio::time::timeout(T, t)
            .await
            .expect("in time")
            .expect("task");
    }
    assert!(inside.lock().2 > 1, "readers never shared the lock");
    for cl in cls {
        cl.close().await.expect("close");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_semaphore_never_grants_more_than_its_leases() {
    let tmp = Kept::new();
    let c = cluster(tmp.path()).await;
    let cls = clients(&c, 7).await;
    let inside = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for cl in &cls {
        let (cl, inside, most) = (cl.clone(), inside.clone(), most.clone());
        tasks.push(tokio::spawn(async move {
            let sem = Semaphore::new(&cl, "/sem/slots", 3).expect("semaphore");
            for _ in 0..5 {
                let lease = sem.acquire().await.expect("acquire");
                let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                assert!(now <= 3, "{now} leases held at once");
                most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(10)).await;
                inside.fetch_sub(1, Ordering::SeqCst);
                lease.release().await.expect("release");
            }
        }));
    }
    for t in tasks {
        tokio::time::timeout(T, t)
            .await
            .expect("in time")
            .expect("task");
    }
    assert!(
        most.load(Ordering::SeqCst) > 1,
        "the leases were never used at once"
    );
    for cl in cls {
        cl.close().await.expect("close");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_item_is_taken_once_and_each_producers_items_in_order() {
    let tmp = Kept::new();
    let c = cluster(tmp.path()).await;
    let producers = clients(&c, 3).await;
    let consumers = clients(&c, 4).await;
    const EACH: usize = 30;
    // Per consumer, what it took, in the order it took it.
    let taken = Arc::new(Mutex::new(Vec::<Vec<(usize, usize)>>::new()));
    let mut tasks = Vec::new();
    for (p, cl) in producers.iter().enumerate() {
        let cl = cl.clone();
        tasks.push(tokio::spawn(async move {
            let q = DistributedQueue::new(&cl, "/q/jobs").expect("queue");
            for n in 0..EACH {
                q.put(format!("{p}:{n}").as_bytes()).await.expect("put");
            }
        }));
    }
    for cl in &consumers {
        let (cl, taken) = (cl.clone(), taken.clone());
        tasks.push(tokio::spawn(async move {
            let q = DistributedQueue::new(&cl, "/q/jobs").expect("queue");
            let mut mine = Vec::new();
            while let Some(item) = q.try_take(Duration::from_secs(3)).await.expect("take") {
                let text = String::from_utf8(item).expect("utf-8");
                let (p, n) = text.split_once(':').expect("p:n");
                mine.push((p.parse().expect("p"), n.parse().expect("n")));
            }
            taken.lock().push(mine);
        }));
    }
    for t in tasks {
        tokio::time::timeout(T * 2, t)
            .await
            .expect("in time")
            .expect("task");
    }
    let per_consumer = taken.lock().clone();
    let all: Vec<(usize, usize)> = per_consumer.iter().flatten().copied().collect();
    let unique: BTreeSet<_> = all.iter().copied().collect();
    assert_eq!(unique.len(), all.len(), "an item was taken twice");
    assert_eq!(all.len(), 3 * EACH, "items were lost");
    // Items are taken in the order they were put: each consumer sees each producer's
    // items in increasing order.
    for (c, mine) in per_consumer.iter().enumerate() {
        for p in 0..3 {
            let ns: Vec<usize> = mine
                .iter()
                .filter(|(q, _)| *q == p)
                .map(|(_, n)| *n)
                .collect();
            assert!(
                ns.windows(2).all(|w| w[0] < w[1]),
                "consumer {c} took producer {p}'s items out of order: {ns:?}"
            );
        }
    }
    for cl in producers.into_iter().chain(consumers) {
        cl.close().await.expect("close");
    }
}
