//! Coordination recipes built on the client's public API, with Apache Curator's node
//! layouts where one exists, so that a Curator client and a Paddock client share a lock
//! once Paddock speaks ZooKeeper's protocol.
//!
//! - [`Lock`]: an exclusive lock, reentrant through the same handle, whose every grant
//!   carries a [`FencingToken`] and can tell its holder when it may be lost.
//! - [`Election`]: leader election (Curator's `LeaderLatch` layout): one leader at a
//!   time, with a token per term of office, a stream of leader changes, and a signal
//!   when leadership may be lost.
//! - [`SharedCounter`]: a 64-bit counter changed by compare-and-set (Curator's
//!   `DistributedAtomicLong` format).
//! - [`Barrier`] and [`DoubleBarrier`]: Curator's distributed barrier and double barrier.
//! - [`Group`]: group membership and service discovery (register an instance with data,
//!   list, follow changes).
//! - [`at_risk`]: the future that resolves when a session may be gone, which every
//!   recipe's "lost" signal is built on.
//!
//! Every recipe here relies on two guarantees of the ensemble (see the README's
//! Guarantees section): a session is only expired by the leader of the current term,
//! after no member heard from it for its timeout; and a client learns that its session
//! may be gone, through [`Client::lease`](crate::Client::lease) running out, before the
//! ensemble can expire it.
mod barrier;
mod counter;
mod election;
mod group;
mod lock;
mod lost;
mod nodes;
mod queue;

pub use barrier::{Barrier, DoubleBarrier};
pub use counter::SharedCounter;
pub use election::{Election, Leader, Leadership};
pub use group::{Group, Members, Membership};
pub use lock::{FencingToken, Lock, LockGuard};
pub use lost::{at_risk, Lost};
