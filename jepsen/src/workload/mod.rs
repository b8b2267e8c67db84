//! Workloads: what the clients do during a run, and the final reads their checkers need.
//!
//! Each workload has three phases, driven by `run.rs`:
//! 1. `setup`, on a healthy cluster: create the nodes the workload works under;
//! 2. the load phase: `concurrency` client tasks (and, for some workloads, watchers or
//!    observers) issue operations at the run's total `rate` until told to stop, while
//!    the nemesis injects faults; every operation is recorded as invoke + completion;
//! 3. `finish`, after every fault is healed: final reads (on every member where the
//!    checker needs it), recorded as observations of process `final`.
//!
//! Clients are real SDK sessions that reach the members through the client proxies.
//! Client k prefers member `k mod n` and moves to the others in order when it loses its
//! connection. A client whose operation ended with an unknown outcome continues as a new
//! logical process (as in Jepsen: the old one may still have an operation in flight).
pub mod fifo;
pub mod lock;
pub mod register;
pub mod sequential;
pub mod session;
pub mod set;
pub mod watch;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use paddock::{Client, ClientConfig, Code, Error};
use tokio_util::sync::CancellationToken;

use crate::cluster::Cluster;
use crate::history::Op;
use crate::history::{EventType, Recorder};

/// The workloads, by name.
pub const NAMES: [&str; 8] = [
    "register",
    "set",
    "fifo",
    "sequential",
    "watch",
    "session",
    "lock",
    "election",
];

/// What every workload task gets.
#[derive(Clone)]
pub struct Ctx {
    /// The cluster (addresses, members).
    pub cluster: Arc<Cluster>,
    /// The history.
    pub rec: Recorder,
    /// Total operations per second across all clients.
    pub pacer: Arc<Pacer>,
    /// Client tasks.
    pub concurrency: usize,
    /// Session timeout clients ask for.
    pub session_timeout: Duration,
    /// How long the harness waits for one operation before recording it as unknown.
    pub op_timeout: Duration,
    /// Fired when the load phase ends.
    pub stop: CancellationToken,
    /// The run's seed (workloads derive their own RNGs from it).
    pub seed: u64,
    /// Unique numbers for processes and values.
    pub counter: Arc<AtomicU64>,
}

impl Ctx {
    /// A fresh number, unique within the run.
    pub fn next(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }

    /// The member list client `k` uses (its preferred member first).
    pub fn servers_for(&self, k: usize) -> Vec<String> {
        let n = self.cluster.ids().len();
        self.cluster.client_list((k % n) as u64 + 1)
    }

    /// Opens a session for client `k`, retrying until it works or the load phase ends.
    pub async fn connect(&self, k: usize) -> Option<Client> {
        loop {
            if self.stop.is_cancelled() {
                return None;
            }
            let config = ClientConfig::new(self.servers_for(k))
                .session_timeout(self.session_timeout)
                .connect_timeout(Duration::from_secs(1))
                .in_order(true);
            match tokio::time::timeout(self.op_timeout, Client::connect_with(config)).await {
                Ok(Ok(c)) => return Some(c),
                _ => {
                    tokio::select! {
                        _ = self.stop.cancelled() => return None,
                        _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                    }
                }
            }
        }
    }

    /// A session to exactly member `id`, bypassing the proxies (final reads).
    pub async fn connect_direct(&self, id: u64) -> Option<Client> {
        let config = ClientConfig::new([self.cluster.direct_client(id)])
            .session_timeout(self.session_timeout)
            .connect_timeout(Duration::from_secs(2));
        for _ in 0..20 {
            if let Ok(Ok(c)) =
                tokio::time::timeout(Duration::from_secs(5), Client::connect_with(config.clone()))
                    .await
            {
                return Some(c);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        None
    }
}

/// A shared rate limiter: hands out evenly spaced start times across all clients.
/// A client that is blocked does not use its slots; nobody catches up with a burst.
pub struct Pacer {
    interval_ns: u64,
    start: Instant,
    next: AtomicU64,
}

impl Pacer {
    /// `rate` operations per second in total (0 = unlimited).
    pub fn new(rate: f64) -> Pacer {
        Pacer {
            interval_ns: if rate > 0.0 { (1e9 / rate) as u64 } else { 0 },
            start: Instant::now(),
            next: AtomicU64::new(0),
        }
    }

    /// Waits for this caller's next slot.
    pub async fn wait(&self) {
        if self.interval_ns == 0 {
            return;
        }
        let now = self.start.elapsed().as_nanos() as u64;
        let slot = loop {
            let next = self.next.load(Ordering::Relaxed);
            // Slots more than 100 ms in the past are forfeited.
            let slot = next.max(now.saturating_sub(100_000_000));
            if self
                .next
                .compare_exchange(
                    next,
                    slot + self.interval_ns,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
            {
                break slot;
            }
        };
        if slot > now {
            tokio::time::sleep(Duration::from_nanos(slot - now)).await;
        }
    }
}

/// How an error ends an operation: `fail` when it certainly did not take effect,
/// `info` when it may have.
pub fn classify(e: &Error) -> (EventType, String) {
    let name = code_name(e.code());
    let kind = match e {
        Error::ConnectionLoss(_) | Error::Closed | Error::Protocol(_) => EventType::Info,
        Error::SessionExpired => EventType::Fail,
        Error::BadArguments(_) | Error::WatchRemoved { .. } | Error::ResyncNeeded { .. } => {
            EventType::Fail
        }
        // A multi that failed applied nothing, whatever the reason.
        Error::Multi { .. } => EventType::Fail,
        Error::Server {
            code:
                Code::NoNode
                | Code::NodeExists
                | Code::BadVersion
                | Code::NotEmpty
                | Code::NoChildrenForEphemerals
                | Code::NotReady
                | Code::BadArguments
                | Code::TooLarge
                | Code::QuotaExceeded
                | Code::Throttled,
            ..
        } => EventType::Fail,
        // An error this harness does not know: it may have taken effect.
        _ => EventType::Info,
    };
    (kind, name)
}

/// Whether the session is gone for good after this error.
pub fn session_lost(e: &Error) -> bool {
    matches!(e, Error::SessionExpired | Error::Closed)
}

/// The kebab-case name of a code, as histories write it.
pub fn code_name(code: Code) -> String {
    let s = format!("{code:?}");
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if ch.is_uppercase() && i > 0 {
            out.push('-');
        }
        out.extend(ch.to_lowercase());
    }
    out
}

/// Runs `f` with the run's operation timeout: `Err(None)` means it timed out.
pub async fn timed<T>(
    ctx: &Ctx,
    f: impl std::future::Future<Output = paddock::Result<T>>,
) -> Result<T, Option<Error>> {
    match tokio::time::timeout(ctx.op_timeout, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Some(e)),
        Err(_) => Err(None),
    }
}

/// The (type, error) to record for a failed [`timed`] call.
pub fn outcome_of(e: &Option<Error>) -> (EventType, String) {
    match e {
        Some(e) => classify(e),
        None => (EventType::Info, "timeout".into()),
    }
}

/// The observation a persistent watch's stream item makes for watcher `watcher` of
/// `path`: its event, or `ResyncNeeded` (the stream's last item when the member could
/// not replay what it missed, recorded as the event the watch checker knows). `None` for
/// the other ends of a stream (removed, session ended), which record nothing.
pub fn watch_observation(
    watcher: u64,
    path: &str,
    item: paddock::Result<paddock::WatchedEvent>,
) -> Option<Op> {
    match item {
        Ok(ev) => Some(Op::WatchEvent {
            watcher,
            kind: format!("{:?}", ev.kind),
            path: ev.path,
            zxid: ev.zxid,
        }),
        Err(Error::ResyncNeeded { zxid }) => Some(Op::WatchEvent {
            watcher,
            kind: "ResyncNeeded".into(),
            path: path.to_string(),
            zxid,
        }),
        Err(_) => None,
    }
}

/// The member a client is connected to now, if any.
pub fn member_of(c: &Client) -> Option<u64> {
    match c.state() {
        paddock::State::Connected { server_id } => Some(server_id),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_names_are_kebab_case() {
        assert_eq!(code_name(Code::BadVersion), "bad-version");
        assert_eq!(code_name(Code::ConnectionLoss), "connection-loss");
        assert_eq!(code_name(Code::NotReady), "not-ready");
    }

    #[test]
    fn unknown_outcomes_are_info_and_refusals_fail() {
        assert_eq!(
            classify(&Error::ConnectionLoss("x".into())).0,
            EventType::Info
        );
        let timeout = Error::Server {
            code: Code::OperationTimeout,
            message: String::new(),
        };
        assert_eq!(classify(&timeout).0, EventType::Info);
        let bad = Error::Server {
            code: Code::BadVersion,
            message: String::new(),
        };
        assert_eq!(classify(&bad), (EventType::Fail, "bad-version".to_string()));
        assert_eq!(classify(&Error::SessionExpired).0, EventType::Fail);
        assert_eq!(outcome_of(&None), (EventType::Info, "timeout".to_string()));
    }

    #[tokio::test]
    async fn the_pacer_spaces_operations() {
        let p = Pacer::new(100.0);
        let t = Instant::now();
        for _ in 0..11 {
            p.wait().await;
        }
        // Ten intervals of 10 ms: at least ~100 ms (an upper bound would be timing-flaky).
        assert!(t.elapsed() >= Duration::from_millis(90));
    }
}
