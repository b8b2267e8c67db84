//! The recipes against simple models: quickcheck generates sequences of operations by
//! several clients, runs them one after the other against a real one-member ensemble
//! (a fresh path per case), and compares every answer with what the model says.
//! `PADDOCK_QC_SEED=<seed>` repeats a run (each test prints its seed).
mod common;

use std::collections::{BTreeSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::Ensemble;
use paddock::recipes::{
    Barrier, DistributedQueue, Lease, LockGuard, RwLock, Semaphore, SharedCounter,
};
use paddock::{Client, ClientConfig, Code};
use quickcheck::{Arbitrary, Gen};

/// How long an attempt the model expects to be refused waits: a wrong grant would come
/// at once (nothing else happens in between).
const TRY: Duration = Duration::from_millis(150);

/// How long an attempt the model expects to succeed may take (it returns as soon as it
/// succeeds: this only bounds a slow machine).
const GRANT: Duration = Duration::from_secs(20);

/// The wait for an attempt whose expected outcome is `granted`.
fn patience(granted: bool) -> Duration {
    if granted {
        GRANT
    } else {
        TRY
    }
}

/// Clients per case.
const CLIENTS: usize = 3;

static CASE: AtomicU64 = AtomicU64::new(0);

/// A fresh path for one case.
fn fresh(kind: &str) -> String {
    format!("/{kind}/case-{}", CASE.fetch_add(1, Ordering::Relaxed))
}

/// Runs `check` on `cases` generated inputs with a printed, settable seed; a failure
/// names the seed and the input. (No shrinking: every case talks to a real member.)
fn cases<A: Arbitrary + std::fmt::Debug>(
    test: &str,
    cases: usize,
    mut check: impl FnMut(&A) -> Result<(), String>,
) {
    let seed = std::env::var("PADDOCK_QC_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    eprintln!("{test}: seed {seed} (PADDOCK_QC_SEED={seed} repeats this run)");
    let mut g = Gen::from_size_and_seed(12, seed);
    for n in 0..cases {
        let input = A::arbitrary(&mut g);
        if let Err(why) = check(&input) {
            panic!("{test}, seed {seed}, case {n}: {why}\ninput: {input:?}");
        }
    }
}

/// One member, a runtime, and connected clients, for one test.
struct Fixture {
    _e: Ensemble,
    rt: tokio::runtime::Runtime,
    clients: Vec<Client>,
}

impl Fixture {
    fn new() -> Fixture {
        let e = Ensemble::start(1, &["--session-tick-ms", "200"]);
        e.wait_leader(Duration::from_secs(30));
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let servers = e.servers();
        let clients = rt.block_on(async {
            let mut v = Vec::new();
            for _ in 0..CLIENTS {
                let cfg =
                    ClientConfig::from_list(&servers).session_timeout(Duration::from_secs(10));
                v.push(Client::connect_with(cfg).await.expect("connect"));
            }
            v
        });
        Fixture { _e: e, rt, clients }
    }
}

// ---------------------------------------------------------------- queue

#[derive(Debug, Clone)]
enum QueueOp {
    Put(usize, u8),
    Take(usize),
}

impl Arbitrary for QueueOp {
    fn arbitrary(g: &mut Gen) -> Self {
        let c = usize::arbitrary(g) % CLIENTS;
        if bool::arbitrary(g) {
            QueueOp::Put(c, u8::arbitrary(g))
        } else {
            QueueOp::Take(c)
        }
    }
}

#[test]
fn a_queue_hands_out_items_in_the_order_they_were_put() {
    let f = Fixture::new();
    cases(
        "a_queue_hands_out_items_in_the_order_they_were_put",
        40,
        |ops: &Vec<QueueOp>| {
            let path = fresh("queue");
            f.rt.block_on(async {
                let queues: Vec<_> = f
                    .clients
                    .iter()
                    .map(|c| DistributedQueue::new(c, &path).expect("queue"))
                    .collect();
                let mut model = VecDeque::new();
                for op in ops {
                    match *op {
                        QueueOp::Put(c, v) => {
                            queues[c].put(&[v]).await.expect("put");
                            model.push_back(v);
                        }
                        QueueOp::Take(c) => {
                            let got = queues[c]
                                .try_take(patience(!model.is_empty()))
                                .await
                                .expect("take");
                            let want = model.pop_front().map(|v| vec![v]);
                            if got != want {
                                return Err(format!("{ops:?}: took {got:?}, model {want:?}"));
                            }
                        }
                    }
                    if queues[0].len().await.expect("len") != model.len() {
                        return Err(format!("{ops:?}: length differs from {model:?}"));
                    }
                }
                Ok(())
            })
        },
    );
}

// ---------------------------------------------------------------- counter

#[derive(Debug, Clone)]
enum CounterOp {
    Add(usize, i16),
    /// Compare-and-set with the version the client read last (stale or not).
    Cas(usize, i16),
    Get(usize),
}

impl Arbitrary for CounterOp {
    fn arbitrary(g: &mut Gen) -> Self {
        let c = usize::arbitrary(g) % CLIENTS;
        match u8::arbitrary(g) % 3 {
            0 => CounterOp::Add(c, i16::arbitrary(g)),
            1 => CounterOp::Cas(c, i16::arbitrary(g)),
            _ => CounterOp::Get(c),
        }
    }
}

#[test]
fn a_counter_behaves_like_a_number_with_compare_and_set() {
    let f = Fixture::new();
    cases(
        "a_counter_behaves_like_a_number_with_compare_and_set",
        40,
        |ops: &Vec<CounterOp>| {
            let path = fresh("counter");
            f.rt.block_on(async {
                let counters: Vec<_> = f
                    .clients
                    .iter()
                    .map(|c| SharedCounter::new(c, &path).expect("counter"))
                    .collect();
                // The model: the value and its version; what each client read last.
                let (mut value, mut version): (i64, i32) = (0, 0);
                let mut read: Vec<Option<i32>> = vec![None; CLIENTS];
                for op in ops {
                    match *op {
                        CounterOp::Add(c, d) => {
                            let now = counters[c].add(i64::from(d)).await.expect("add");
                            value += i64::from(d);
                            version += 1;
                            if now != value {
                                return Err(format!("{ops:?}: add gave {now}, model {value}"));
                            }
                        }
                        CounterOp::Cas(c, v) => {
                            let Some(seen) = read[c] else { continue };
                            let ok = counters[c]
                                .compare_and_set(seen, i64::from(v))
                                .await
                                .expect("cas");
                            if ok != (seen == version) {
                                return Err(format!(
                                    "{ops:?}: cas at {seen} was {ok}, model at {version}"
                                ));
                            }
                            if ok {
                                value = i64::from(v);
                                version += 1;
                            }
                        }
                        CounterOp::Get(c) => {
                            let (v, ver) = counters[c].get().await.expect("get");
                            read[c] = Some(ver);
                            if (v, ver) != (value, version) {
                                return Err(format!(
                                    "{ops:?}: got {v}@{ver}, model {value}@{version}"
                                ));
                            }
                        }
                    }
                }
                Ok(())
            })
        },
    );
}

// ---------------------------------------------------------------- barrier

#[derive(Debug, Clone)]
enum BarrierOp {
    Set(usize),
    Remove(usize),
    Wait(usize),
}

impl Arbitrary for BarrierOp {
    fn arbitrary(g: &mut Gen) -> Self {
        let c = usize::arbitrary(g) % CLIENTS;
        match u8::arbitrary(g) % 3 {
            0 => BarrierOp::Set(c),
            1 => BarrierOp::Remove(c),
            _ => BarrierOp::Wait(c),
        }
    }
}

#[test]
fn a_barrier_holds_exactly_while_it_is_set() {
    let f = Fixture::new();
    cases(
        "a_barrier_holds_exactly_while_it_is_set",
        30,
        |ops: &Vec<BarrierOp>| {
            let path = fresh("barrier");
            f.rt.block_on(async {
                let barriers: Vec<_> = f
                    .clients
                    .iter()
                    .map(|c| Barrier::new(c, &path).expect("barrier"))
                    .collect();
                let mut set = false;
                for op in ops {
                    match *op {
                        BarrierOp::Set(c) => {
                            barriers[c].set().await.expect("set");
                            set = true;
                        }
                        BarrierOp::Remove(c) => {
                            barriers[c].remove().await.expect("remove");
                            set = false;
                        }
                        BarrierOp::Wait(c) => {
                            let through = barriers[c]
                                .wait_timeout(patience(!set))
                                .await
                                .expect("wait");
                            if through == set {
                                return Err(format!("{ops:?}: through={through} while set={set}"));
                            }
                        }
                    }
                }
                Ok(())
            })
        },
    );
}

// ---------------------------------------------------------------- semaphore

#[derive(Debug, Clone)]
enum SemOp {
    Acquire(usize),
    /// Release the n-th lease held (modulo how many are held).
    Release(usize),
}

impl Arbitrary for SemOp {
    fn arbitrary(g: &mut Gen) -> Self {
        if u8::arbitrary(g) % 3 < 2 {
            SemOp::Acquire(usize::arbitrary(g) % CLIENTS)
        } else {
            SemOp::Release(usize::arbitrary(g))
        }
    }
}

#[test]
fn a_semaphore_grants_at_most_its_leases() {
    let f = Fixture::new();
    cases(
        "a_semaphore_grants_at_most_its_leases",
        30,
        |(max, ops): &(u8, Vec<SemOp>)| {
            let max = *max;
            let max = usize::from(max % 3) + 1;
            let path = fresh("semaphore");
            f.rt.block_on(async {
                let sems: Vec<_> = f
                    .clients
                    .iter()
                    .map(|c| Semaphore::new(c, &path, max).expect("semaphore"))
                    .collect();
                let mut held: Vec<Lease> = Vec::new();
                let mut tokens = BTreeSet::new();
                for op in ops {
                    match *op {
                        SemOp::Acquire(c) => {
                            let got = sems[c]
                                .try_acquire(patience(held.len() < max))
                                .await
                                .expect("acquire");
                            if got.is_some() != (held.len() < max) {
                                return Err(format!(
                                    "{ops:?}: acquire with {} of {max} held gave {got:?}",
                                    held.len()
                                ));
                            }
                            if let Some(l) = got {
                                if !tokens.insert(l.token()) {
                                    return Err(format!("{ops:?}: token {} twice", l.token()));
                                }
                                held.push(l);
                            }
                        }
                        SemOp::Release(n) if !held.is_empty() => {
                            let l = held.remove(n % held.len());
                            l.release().await.expect("release");
                        }
                        SemOp::Release(_) => {}
                    }
                    if sems[0].held().await.expect("held") != held.len() {
                        return Err(format!("{ops:?}: the ensemble counts other leases"));
                    }
                }
                for l in held {
                    l.release().await.expect("release");
                }
                Ok(())
            })
        },
    );
}

// ---------------------------------------------------------------- read-write lock

#[derive(Debug, Clone)]
enum RwOp {
    Read(usize),
    Write(usize),
    /// Release one guard of this handle (its newest).
    Release(usize),
}

impl Arbitrary for RwOp {
    fn arbitrary(g: &mut Gen) -> Self {
        let h = usize::arbitrary(g) % CLIENTS;
        match u8::arbitrary(g) % 3 {
            0 => RwOp::Read(h),
            1 => RwOp::Write(h),
            _ => RwOp::Release(h),
        }
    }
}

#[test]
fn a_read_write_lock_shares_reads_and_excludes_writes() {
    let f = Fixture::new();
    cases(
        "a_read_write_lock_shares_reads_and_excludes_writes",
        30,
        |ops: &Vec<RwOp>| {
            let path = fresh("rwlock");
            f.rt.block_on(async {
                // One handle per client.
                let locks: Vec<_> = f
                    .clients
                    .iter()
                    .map(|c| RwLock::new(c, &path).expect("rwlock"))
                    .collect();
                // Each handle's guards, oldest first, with whether each is a write.
                let mut guards: Vec<Vec<(bool, LockGuard)>> =
                    (0..CLIENTS).map(|_| Vec::new()).collect();
                let holds = |g: &Vec<Vec<(bool, LockGuard)>>, h: usize, write: bool| {
                    g[h].iter().any(|(w, _)| *w == write)
                };
                for op in ops {
                    match *op {
                        RwOp::Read(h) => {
                            let others_write =
                                (0..CLIENTS).any(|o| o != h && holds(&guards, o, true));
                            let got = locks[h]
                                .try_read(patience(!others_write))
                                .await
                                .expect("read");
                            if got.is_some() == others_write {
                                return Err(format!("{ops:?}: read by {h}: {got:?}"));
                            }
                            if let Some(g) = got {
                                guards[h].push((false, g));
                            }
                        }
                        RwOp::Write(h) => {
                            let others = (0..CLIENTS).any(|o| {
                                o != h && (holds(&guards, o, true) || holds(&guards, o, false))
                            });
                            let got = locks[h].try_write(patience(!others)).await;
                            if holds(&guards, h, false) && !holds(&guards, h, true) {
                                // An upgrade is refused, never waited for.
                                match got {
                                    Err(e) if e.code() == Code::BadArguments => continue,
                                    other => {
                                        return Err(format!("{ops:?}: upgrade by {h}: {other:?}"))
                                    }
                                }
                            }
                            let got = got.expect("write");
                            if got.is_some() == others {
                                return Err(format!("{ops:?}: write by {h}: {got:?}"));
                            }
                            if let Some(g) = got {
                                guards[h].push((true, g));
                            }
                        }
                        RwOp::Release(h) => {
                            if let Some((_, g)) = guards[h].pop() {
                                g.release().await.expect("release");
                            }
                        }
                    }
                }
                for list in guards {
                    for (_, g) in list.into_iter().rev() {
                        g.release().await.expect("release");
                    }
                }
                Ok(())
            })
        },
    );
}
