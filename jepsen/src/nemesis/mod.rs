//! Nemeses: the faults a run injects, scheduled by the run's seed.
//!
//! A nemesis runs as one task beside the clients. It waits a healthy gap, applies the
//! next fault of its schedule, holds it, heals it, and so on until the load phase ends.
//! Every fault is recorded in the history as an `invoke` (start) and an `ok` (healed)
//! of [`Op::Fault`] with the members it impairs, so checkers and plots know the windows.
//!
//! The schedule is a repeated shuffle of the requested kinds (every kind fires once
//! before any fires twice), drawn from a seeded RNG together with every target and
//! duration, so the same seed gives the same sequence of decisions (the cluster's own
//! timing still varies from run to run).
pub mod disk;
pub mod membership;
pub mod partition;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;
use tokio_util::sync::CancellationToken;

use crate::cluster::Cluster;
use crate::history::{EventType, Op, Recorder};
use disk::Damage;

/// One kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// kill -9 of one random member, restarted after a while.
    KillOne,
    /// kill -9 of the leader.
    KillLeader,
    /// kill -9 of a majority.
    KillMajority,
    /// kill -9 of every member.
    KillAll,
    /// SIGSTOP of one random member, then SIGCONT.
    PauseOne,
    /// SIGSTOP of the leader, then SIGCONT.
    PauseLeader,
    /// One random member cut off from the others, both ways.
    PartitionOne,
    /// The leader cut off from the others.
    PartitionLeader,
    /// A random minority half against the rest.
    PartitionHalves,
    /// Every member sees a majority, no two the same one.
    PartitionRing,
    /// Two halves joined by one member.
    PartitionBridge,
    /// Nothing reaches one member (the leader half of the time); it still reaches all.
    PartitionOneWay,
    /// Clients cut off from one member (they must move to another).
    ClientCut,
    /// After a kill, cut the tail off the newest log file.
    DiskTruncate,
    /// After a kill, zero the tail of the newest log file.
    DiskZero,
    /// After a kill, flip a bit in an older log file.
    DiskBitflipLog,
    /// After a kill, flip a bit in the newest snapshot.
    DiskBitflipSnapshot,
    /// Replace one random member (the leader at times) through membership changes:
    /// remove it, wipe its data, add it again as a learner, start it with `--join`,
    /// promote it.
    MemberReplace,
}

/// Every kind, in a fixed order.
pub const ALL: [Kind; 18] = [
    Kind::KillOne,
    Kind::KillLeader,
    Kind::KillMajority,
    Kind::KillAll,
    Kind::PauseOne,
    Kind::PauseLeader,
    Kind::PartitionOne,
    Kind::PartitionLeader,
    Kind::PartitionHalves,
    Kind::PartitionRing,
    Kind::PartitionBridge,
    Kind::PartitionOneWay,
    Kind::ClientCut,
    Kind::DiskTruncate,
    Kind::DiskZero,
    Kind::DiskBitflipLog,
    Kind::DiskBitflipSnapshot,
    Kind::MemberReplace,
];

impl Kind {
    /// The name used on the command line and in histories.
    pub fn name(self) -> &'static str {
        match self {
            Kind::KillOne => "kill-one",
            Kind::KillLeader => "kill-leader",
            Kind::KillMajority => "kill-majority",
            Kind::KillAll => "kill-all",
            Kind::PauseOne => "pause-one",
            Kind::PauseLeader => "pause-leader",
            Kind::PartitionOne => "partition-one",
            Kind::PartitionLeader => "partition-leader",
            Kind::PartitionHalves => "partition-halves",
            Kind::PartitionRing => "partition-ring",
            Kind::PartitionBridge => "partition-bridge",
            Kind::PartitionOneWay => "partition-oneway",
            Kind::ClientCut => "client-cut",
            Kind::DiskTruncate => "disk-truncate",
            Kind::DiskZero => "disk-zero",
            Kind::DiskBitflipLog => "disk-bitflip-log",
            Kind::DiskBitflipSnapshot => "disk-bitflip-snapshot",
            Kind::MemberReplace => "member-replace",
        }
    }

    /// Whether the fault needs partitions (more than one member).
    fn needs_peers(self) -> bool {
        !matches!(
            self,
            Kind::KillOne | Kind::KillAll | Kind::PauseOne | Kind::ClientCut
        ) && !self.is_disk()
    }

    fn is_disk(self) -> bool {
        matches!(
            self,
            Kind::DiskTruncate | Kind::DiskZero | Kind::DiskBitflipLog | Kind::DiskBitflipSnapshot
        )
    }
}

/// Parses a comma-separated list of kinds and groups (`none`, `kill`, `pause`,
/// `partition`, `disk`, `member`, `all`).
pub fn parse(list: &str) -> Result<Vec<Kind>, String> {
    let mut out = BTreeSet::new();
    for part in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let group: Vec<Kind> = match part {
            "none" => Vec::new(),
            "all" => ALL.to_vec(),
            "kill" => ALL
                .iter()
                .copied()
                .filter(|k| k.name().starts_with("kill"))
                .collect(),
            "pause" => ALL
                .iter()
                .copied()
                .filter(|k| k.name().starts_with("pause"))
                .collect(),
            "partition" => ALL
                .iter()
                .copied()
                .filter(|k| k.name().starts_with("partition"))
                .collect(),
            "disk" => ALL.iter().copied().filter(|k| k.is_disk()).collect(),
            "member" => vec![Kind::MemberReplace],
            name => match ALL.iter().find(|k| k.name() == name) {
                Some(k) => vec![*k],
                None => {
                    let names: Vec<&str> = ALL.iter().map(|k| k.name()).collect();
                    return Err(format!(
                        "unknown nemesis {name:?}; known: none, all, kill, pause, partition, disk, member, {}",
                        names.join(", ")
                    ));
                }
            },
        };
        out.extend(group);
    }
    Ok(out.into_iter().collect())
}

/// Timing of the faults, derived from the cluster's settings.
#[derive(Debug, Clone)]
pub struct Timing {
    /// Healthy time before the first fault and between faults.
    pub gap: (Duration, Duration),
    /// How long killed members stay down.
    pub down: (Duration, Duration),
    /// A pause longer than the election timeout (used for every other pause).
    pub pause_election: Duration,
    /// A pause longer than twice the session timeout (used for the others).
    pub pause_session: Duration,
    /// How long a partition or a client cut lasts.
    pub partition: (Duration, Duration),
}

impl Timing {
    /// Timing for an election timeout of `election` (its upper bound) and clients'
    /// session timeout of `session`.
    pub fn new(election: Duration, session: Duration) -> Timing {
        Timing {
            gap: (Duration::from_secs(2), Duration::from_secs(4)),
            down: (Duration::from_secs(1), Duration::from_secs(4)),
            pause_election: election * 2 + Duration::from_millis(500),
            pause_session: session * 2 + Duration::from_secs(1),
            partition: (Duration::from_secs(3), session * 2),
        }
    }
}

/// Members whose process the nemesis is handling (killed, being restarted after a disk
/// fault), so the run's crash monitor does not report them.
pub type Handling = Arc<Mutex<BTreeSet<u64>>>;

/// The nemesis of one run.
pub struct Nemesis {
    kinds: Vec<Kind>,
    rng: StdRng,
    timing: Timing,
    queue: Vec<Kind>,
    pauses: u64,
    handling: Handling,
}

fn between(rng: &mut StdRng, (lo, hi): (Duration, Duration)) -> Duration {
    if hi <= lo {
        return lo;
    }
    Duration::from_millis(rng.gen_range(lo.as_millis() as u64..=hi.as_millis() as u64))
}

impl Nemesis {
    /// A nemesis for `kinds`; faults that need peers are dropped for a one-member cluster.
    pub fn new(kinds: Vec<Kind>, members: usize, rng: StdRng, timing: Timing) -> Nemesis {
        let kinds = kinds
            .into_iter()
            .filter(|k| members > 1 || !k.needs_peers())
            .collect();
        Nemesis {
            kinds,
            rng,
            timing,
            queue: Vec::new(),
            pauses: 0,
            handling: Arc::default(),
        }
    }

    /// The set of members the nemesis is handling right now.
    pub fn handling(&self) -> Handling {
        self.handling.clone()
    }

    fn next_kind(&mut self) -> Option<Kind> {
        if self.kinds.is_empty() {
            return None;
        }
        if self.queue.is_empty() {
            self.queue = self.kinds.clone();
            self.queue.shuffle(&mut self.rng);
            self.queue.reverse();
        }
        self.queue.pop()
    }

    /// Injects faults until `until` (a fault in progress is healed by then) or `stop`.
    /// Returns with every fault healed.
    pub async fn run(
        &mut self,
        cluster: &Cluster,
        rec: &Recorder,
        until: Instant,
        stop: &CancellationToken,
    ) {
        loop {
            let gap = between(&mut self.rng, self.timing.gap);
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(gap) => {}
            }
            let Some(kind) = self.next_kind() else {
                return;
            };
            let now = Instant::now();
            if now + Duration::from_secs(1) >= until {
                return;
            }
            let left = until - now;
            self.fault(kind, cluster, rec, left, stop).await;
        }
    }

    async fn hold(&self, d: Duration, stop: &CancellationToken) {
        tokio::select! {
            _ = stop.cancelled() => {}
            _ = tokio::time::sleep(d) => {}
        }
    }

    async fn leader_or_random(&mut self, cluster: &Cluster) -> (u64, &'static str) {
        match cluster.leader().await {
            Some(l) => (l, "leader"),
            None => {
                let ids = cluster.ids();
                (
                    ids[self.rng.gen_range(0..ids.len())],
                    "no leader known: a random member",
                )
            }
        }
    }

    fn random_members(&mut self, cluster: &Cluster, n: usize) -> Vec<u64> {
        let mut ids = cluster.ids();
        ids.shuffle(&mut self.rng);
        ids.truncate(n);
        ids.sort_unstable();
        ids
    }

    /// A random member that holds a snapshot file, waiting up to 20 s for one to be
    /// written; any member if none does by then (the fault is then skipped and noted).
    async fn member_with_snapshot(&mut self, cluster: &Cluster, stop: &CancellationToken) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let with: Vec<u64> = cluster
                .ids()
                .into_iter()
                .filter(|id| !disk::snapshot_files(&cluster.member(*id).data_dir).is_empty())
                .collect();
            if let Some(v) = with.choose(&mut self.rng) {
                return *v;
            }
            if Instant::now() >= deadline || stop.is_cancelled() {
                return self.random_members(cluster, 1)[0];
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn fault(
        &mut self,
        kind: Kind,
        cluster: &Cluster,
        rec: &Recorder,
        left: Duration,
        stop: &CancellationToken,
    ) {
        let ids = cluster.ids();
        let n = ids.len();
        let name = kind.name().to_string();
        let record = |targets: &[u64], detail: String| {
            rec.invoke(
                "nemesis",
                None,
                Op::Fault {
                    name: name.clone(),
                    targets: targets.to_vec(),
                    detail,
                },
            )
        };
        let heal = |id: u64, targets: &[u64]| {
            rec.complete(
                id,
                EventType::Ok,
                "nemesis",
                None,
                Op::Fault {
                    name: name.clone(),
                    targets: targets.to_vec(),
                    detail: String::new(),
                },
                None,
            )
        };
        match kind {
            Kind::KillOne | Kind::KillLeader | Kind::KillMajority | Kind::KillAll => {
                let (targets, detail) = match kind {
                    Kind::KillOne => (self.random_members(cluster, 1), String::new()),
                    Kind::KillLeader => {
                        let (l, how) = self.leader_or_random(cluster).await;
                        (vec![l], how.to_string())
                    }
                    Kind::KillMajority => (self.random_members(cluster, n / 2 + 1), String::new()),
                    _ => (ids.clone(), String::new()),
                };
                let d = between(&mut self.rng, self.timing.down).min(left);
                self.handling.lock().extend(targets.iter().copied());
                let id = record(
                    &targets,
                    format!("down {} ms {detail}", d.as_millis())
                        .trim()
                        .to_string(),
                );
                for &t in &targets {
                    cluster.kill(t);
                }
                self.hold(d, stop).await;
                for &t in &targets {
                    if let Err(e) = cluster.start_member(t) {
                        rec.observe(
                            "nemesis",
                            Some(t),
                            Op::Note {
                                what: format!("restart failed: {e}"),
                            },
                        );
                    }
                }
                self.handling.lock().clear();
                heal(id, &targets);
            }
            Kind::PauseOne | Kind::PauseLeader => {
                let (target, how) = if kind == Kind::PauseOne {
                    (self.random_members(cluster, 1)[0], "")
                } else {
                    self.leader_or_random(cluster).await
                };
                self.pauses += 1;
                let d = if self.pauses % 2 == 1 {
                    self.timing.pause_election
                } else {
                    self.timing.pause_session
                };
                let d = d.min(left);
                let id = record(
                    &[target],
                    format!("paused {} ms {how}", d.as_millis())
                        .trim()
                        .to_string(),
                );
                cluster.pause(target);
                self.hold(d, stop).await;
                cluster.resume(target);
                heal(id, &[target]);
            }
            Kind::PartitionOne
            | Kind::PartitionLeader
            | Kind::PartitionHalves
            | Kind::PartitionRing
            | Kind::PartitionBridge
            | Kind::PartitionOneWay => {
                let cut = match kind {
                    Kind::PartitionOne => {
                        let v = self.random_members(cluster, 1)[0];
                        partition::isolate(&ids, v)
                    }
                    Kind::PartitionLeader => {
                        let (l, _) = self.leader_or_random(cluster).await;
                        partition::isolate(&ids, l)
                    }
                    Kind::PartitionHalves => partition::halves(&ids, &mut self.rng),
                    Kind::PartitionRing => partition::majorities_ring(&ids, &mut self.rng),
                    Kind::PartitionBridge => partition::bridge(&ids, &mut self.rng),
                    _ => {
                        let v = if self.rng.gen_bool(0.5) {
                            self.leader_or_random(cluster).await.0
                        } else {
                            self.random_members(cluster, 1)[0]
                        };
                        partition::one_way_into(&ids, v)
                    }
                };
                let d = between(&mut self.rng, self.timing.partition).min(left);
                let id = record(
                    &cut.impaired,
                    format!("{} for {} ms", cut.detail, d.as_millis()),
                );
                for &(a, b) in &cut.links {
                    cluster.cut(a, b);
                }
                self.hold(d, stop).await;
                cluster.heal_all();
                heal(id, &cut.impaired);
            }
            Kind::ClientCut => {
                let v = self.random_members(cluster, 1)[0];
                let d = between(&mut self.rng, self.timing.partition).min(left);
                let id = record(
                    &[v],
                    format!("clients cut off member {v} for {} ms", d.as_millis()),
                );
                cluster.cut_clients(v);
                self.hold(d, stop).await;
                cluster.heal_all();
                heal(id, &[v]);
            }
            Kind::DiskTruncate
            | Kind::DiskZero
            | Kind::DiskBitflipLog
            | Kind::DiskBitflipSnapshot => {
                let damage = match kind {
                    Kind::DiskTruncate => Damage::TruncateTail,
                    Kind::DiskZero => Damage::ZeroTail,
                    Kind::DiskBitflipLog => Damage::BitflipLog,
                    _ => Damage::BitflipSnapshot,
                };
                let v = match damage {
                    // A member that has a snapshot file to damage, waiting (a little)
                    // for one to be written if none has yet.
                    Damage::BitflipSnapshot => self.member_with_snapshot(cluster, stop).await,
                    _ => self.random_members(cluster, 1)[0],
                };
                self.disk_fault(cluster, rec, v, damage, &name).await;
            }
            Kind::MemberReplace => {
                let v = self.random_members(cluster, 1)[0];
                self.handling.lock().insert(v);
                let id = record(&[v], String::new());
                match membership::replace(cluster, v).await {
                    Ok(done) => rec.observe(
                        "nemesis",
                        Some(v),
                        Op::Note {
                            what: format!("member-replace member={v}: {done}"),
                        },
                    ),
                    Err(e) => {
                        rec.observe(
                            "nemesis",
                            Some(v),
                            Op::Note {
                                what: format!("member-replace member={v} did not complete: {e}"),
                            },
                        );
                        // Never leave it down: start it as it is.
                        if !cluster.is_running(v) {
                            let via = membership::join_address(cluster, v).unwrap_or_default();
                            let _ = cluster.start_member_with(v, &["--join", &via]);
                        }
                    }
                }
                self.handling.lock().clear();
                heal(id, &[v]);
            }
        }
    }

    /// kill -9 of `v`, damage its files, start it again, and see whether it refuses to
    /// start (then the operator's procedure: wipe its data and start it empty with
    /// `--rejoin-after-data-loss`, so it recovers from its peers) or comes back.
    async fn disk_fault(
        &mut self,
        cluster: &Cluster,
        rec: &Recorder,
        v: u64,
        damage: Damage,
        name: &str,
    ) {
        self.handling.lock().insert(v);
        cluster.kill(v);
        let data = cluster.member(v).data_dir.clone();
        let what = disk::damage(&data, damage, &mut self.rng);
        let detail = match what {
            Ok(Some(d)) => d,
            Ok(None) => {
                rec.observe(
                    "nemesis",
                    Some(v),
                    Op::Note {
                        what: format!("{name} skipped: no file to damage on member {v}"),
                    },
                );
                let _ = cluster.start_member(v);
                self.handling.lock().clear();
                return;
            }
            Err(e) => {
                rec.observe(
                    "nemesis",
                    Some(v),
                    Op::Note {
                        what: format!("{name} skipped: {e}"),
                    },
                );
                let _ = cluster.start_member(v);
                self.handling.lock().clear();
                return;
            }
        };
        let id = rec.invoke(
            "nemesis",
            None,
            Op::Fault {
                name: name.to_string(),
                targets: vec![v],
                detail,
            },
        );
        let _ = cluster.start_member(v);
        // Give it time to open its log and snapshot, or to refuse.
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut refused = None;
        while Instant::now() < deadline {
            if !cluster.is_running(v) {
                refused = cluster.exit_status(v);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        match refused {
            Some(status) => {
                let tail = cluster.log_tail(v, 40);
                let message = tail
                    .iter()
                    .rev()
                    .find(|l| l.contains("paddockd:") || l.contains("panicked"))
                    .cloned()
                    .unwrap_or_else(|| tail.last().cloned().unwrap_or_default());
                let panicked = tail.iter().any(|l| l.contains("panicked"));
                rec.observe(
                    "nemesis",
                    Some(v),
                    Op::Note {
                        what: format!(
                            "refused-to-start member={v} status={status}{} message={message}",
                            if panicked { " panic" } else { "" }
                        ),
                    },
                );
                let _ = std::fs::remove_dir_all(&data);
                rec.observe(
                    "nemesis",
                    Some(v),
                    Op::Note {
                        what: format!(
                            "wiped member={v}: started with an empty data directory \
                             (--rejoin-after-data-loss)"
                        ),
                    },
                );
                let _ = cluster.start_member_with(v, &["--rejoin-after-data-loss"]);
            }
            None => rec.observe(
                "nemesis",
                Some(v),
                Op::Note {
                    what: format!("started-after-damage member={v}"),
                },
            ),
        }
        self.handling.lock().clear();
        rec.complete(
            id,
            EventType::Ok,
            "nemesis",
            None,
            Op::Fault {
                name: name.to_string(),
                targets: vec![v],
                detail: String::new(),
            },
            None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn parses_names_and_groups() {
        assert_eq!(parse("kill-leader").unwrap(), vec![Kind::KillLeader]);
        assert_eq!(
            parse("pause").unwrap(),
            vec![Kind::PauseOne, Kind::PauseLeader]
        );
        assert_eq!(parse("none").unwrap(), vec![]);
        assert_eq!(parse("all").unwrap().len(), ALL.len());
        assert_eq!(parse("disk,kill-one").unwrap().len(), 5);
        assert!(parse("kill-everyone")
            .unwrap_err()
            .contains("unknown nemesis"));
    }

    #[test]
    fn every_kind_fires_before_any_fires_twice() {
        let kinds = ALL.to_vec();
        let mut n = Nemesis::new(
            kinds.clone(),
            3,
            StdRng::seed_from_u64(9),
            Timing::new(Duration::from_secs(2), Duration::from_secs(4)),
        );
        let first: BTreeSet<Kind> = (0..kinds.len()).filter_map(|_| n.next_kind()).collect();
        assert_eq!(first.len(), kinds.len());
    }

    #[test]
    fn the_schedule_follows_the_seed() {
        let mk = |seed| {
            let mut n = Nemesis::new(
                ALL.to_vec(),
                5,
                StdRng::seed_from_u64(seed),
                Timing::new(Duration::from_secs(2), Duration::from_secs(4)),
            );
            (0..40).filter_map(|_| n.next_kind()).collect::<Vec<_>>()
        };
        assert_eq!(mk(1), mk(1));
        assert_ne!(mk(1), mk(2));
    }

    #[test]
    fn a_single_member_gets_no_partitions() {
        let n = Nemesis::new(
            ALL.to_vec(),
            1,
            StdRng::seed_from_u64(1),
            Timing::new(Duration::from_secs(2), Duration::from_secs(4)),
        );
        assert!(n.kinds.iter().all(|k| !k.name().starts_with("partition")));
    }

    #[test]
    fn pauses_outlast_the_election_and_twice_the_session_timeout() {
        let t = Timing::new(Duration::from_secs(2), Duration::from_secs(4));
        assert!(t.pause_election > Duration::from_secs(2));
        assert!(t.pause_session > Duration::from_secs(8));
    }
}
