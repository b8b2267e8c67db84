//! Coordination recipes built on the client's public API, with Apache Curator's node
//! layouts where one exists, so that a Curator client and a Paddock client share a lock
//! once Paddock speaks ZooKeeper's protocol.
//!
//! - [`Lock`]: an exclusive lock, reentrant through the same handle, whose every grant
//!   carries a [`FencingToken`] and can tell its holder when it may be lost.
//! - [`RwLock`]: a read-write lock (Curator's `InterProcessReadWriteLock` layout):
//!   readers share it, a writer holds it alone, and waiting writers keep new readers out.
//! - [`Semaphore`]: a counting semaphore (Curator's `InterProcessSemaphoreV2` layout):
//!   at most N [`Lease`]s at a time, each with a token and a lost signal.
//! - [`Election`]: leader election (Curator's `LeaderLatch` layout): one leader at a
//!   time, with a token per term of office, a stream of leader changes, and a signal
//!   when leadership may be lost.
//! - [`SharedCounter`]: a 64-bit counter changed by compare-and-set (Curator's
//!   `DistributedAtomicLong` format).
//! - [`Barrier`] and [`DoubleBarrier`]: Curator's distributed barrier and double barrier.
//! - [`DistributedQueue`]: a FIFO queue whose consumers take turns without a herd.
//! - [`Group`]: group membership and service discovery (register an instance with data,
//!   list, follow changes).
//! - [`TreeCache`]: a local mirror of a subtree kept current by a persistent recursive
//!   watch, with change events, an initialized signal, and a resync after a gap.
//! - [`at_risk`]: the future that resolves when a session may be gone, which every
//!   recipe's "lost" signal is built on.
//!
//! A whole program: run a job under a lock, with its fencing token, and stop as soon as
//! the lock may be lost.
//!
//! ```no_run
//! use paddock::recipes::Lock;
//! use paddock::Client;
//!
//! #[tokio::main]
//! async fn main() -> paddock::Result<()> {
//!     let client = Client::connect("127.0.0.1:7181,127.0.0.1:7281,127.0.0.1:7381").await?;
//!     let lock = Lock::new(&client, "/locks/nightly-report")?;
//!     let guard = lock.acquire().await?;
//!     tokio::select! {
//!         why = guard.lost() => eprintln!("stopping: the lock may be lost ({why:?})"),
//!         _ = run_report(guard.token().0) => println!("report done"),
//!     }
//!     guard.release().await?;
//!     client.close().await
//! }
//!
//! async fn run_report(fencing_token: u64) {
//!     // Pass the token to every store the job writes to; they refuse older ones.
//!     let _ = fencing_token;
//! }
//! ```
//!
//! Every recipe here relies on two guarantees of the ensemble (see the README's
//! Guarantees section): a session is only expired by the leader of the current term,
//! after no member heard from it for its timeout; and a client learns that its session
//! may be gone, through [`Client::lease`](crate::Client::lease) running out, before the
//! ensemble can expire it.
mod barrier;
mod contenders;
mod counter;
mod distributed_queue;
mod election;
mod group;
mod lock;
mod lost;
mod nodes;
mod rules;
mod rwlock;
mod semaphore;
mod tree_cache;

pub use barrier::{Barrier, DoubleBarrier};
pub use counter::SharedCounter;
pub use distributed_queue::DistributedQueue;
pub use election::{Election, Leader, Leadership};
pub use group::{Group, Members, Membership};
pub use lock::{FencingToken, Lock, LockGuard};
pub use lost::{at_risk, Lost};
pub use rwlock::RwLock;
pub use semaphore::{Lease, Semaphore};
pub use tree_cache::{CacheEvent, CacheEvents, CachedNode, TreeCache};
