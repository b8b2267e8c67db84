//! A running member: opens its storage, restores its tree, starts the Raft loop and
//! the three listeners (client, peer, admin), and stops them again.
//!
//! Start-up order: data directories, snapshot directory, Raft log, tree (from the
//! newest snapshot the log records), listeners bound (a taken port fails the start
//! before anything runs), peer links, Raft loop thread, then the accept loops.
//! Restart = newest snapshot + replay of the log entries after it (raft-rs hands the
//! committed entries after `applied` to the loop again; membership changes among them
//! are applied again on top of the configuration the snapshot recorded).
//!
//! Membership: a new data directory starts with the configured voters (`--peers`), or,
//! with `--join`, with none and the member list fetched from a running member; after
//! that the log's configuration is the ensemble's, whatever `--peers` says.
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use slog::{info, warn, Logger};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::admin::{self, AdminSource, SessionRow, Status};
use crate::client::{self, dispatch::OpTable, validate::Limits, ClientContext};
use crate::config::Config;
use crate::consensus::conf_change;
use crate::consensus::driver::{ApplyObserver, LoopConfig, RaftLoop, RejoinVotes};
use crate::consensus::handle::{RaftHandle, RaftStatus, Role, Shared};
use crate::consensus::incarnation::{self, Incarnations};
use crate::consensus::snapshots::SnapshotDir;
use crate::consensus::storage::{DiskStorage, StorageFailure};
use crate::membership::{self, Membership, Roster, RosterView};
use crate::metrics::Metrics;
use crate::peer;
use crate::sessions::{reaper, Sessions};
use crate::tls::{MemberTls, PeerTls, Reloader};
use crate::tree::{Change, DataTree, MemberAddrs};
use crate::watch::Hub;

/// Why a member could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A data directory could not be created or read.
    #[error("data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The Raft log could not be opened.
    #[error(transparent)]
    Storage(#[from] StorageFailure),
    /// The newest snapshot could not be read or is corrupt.
    #[error("snapshot at index {index}: {reason}")]
    Snapshot {
        /// Its index.
        index: u64,
        /// What is wrong.
        reason: String,
    },
    /// A listener could not bind.
    #[error("cannot listen on {addr} ({what}): {source}")]
    Bind {
        /// Which listener.
        what: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// raft-rs refused the configuration.
    #[error("raft: {0}")]
    Raft(#[from] raft::Error),
    /// This member starts on a new data directory, but a peer knows it by another one:
    /// it lost its Raft state (its votes included) and must not rejoin silently.
    #[error(
        "this member's data directory is new, but member {peer} knows member {id} by another \
         data directory (incarnation {known:016x}): its Raft state was lost, and rejoining \
         silently could let it vote twice in one term. Restore its data directory from a \
         backup, or start it once with --rejoin-after-data-loss to rejoin with an empty log"
    )]
    DataLost {
        /// This member.
        id: u64,
        /// The peer that knows it.
        peer: u64,
        /// The incarnation that peer recorded.
        known: u64,
    },
    /// Joining the ensemble (`--join`) failed: the member list could not be fetched, or
    /// does not hold this member.
    #[error("joining through {via}: {reason}")]
    Join {
        /// The member asked.
        via: String,
        /// What went wrong.
        reason: String,
    },
    /// A TLS certificate, key or CA could not be loaded.
    #[error("TLS: {0}")]
    Tls(#[from] paddock::tls::TlsError),
}

/// The addresses a started member actually listens on (ports resolved when 0 was asked).
#[derive(Debug, Clone, Copy)]
pub struct BoundAddrs {
    /// Client listener.
    pub client: SocketAddr,
    /// Peer listener.
    pub peer: SocketAddr,
    /// Admin listener.
    pub admin: SocketAddr,
}

/// A running member. Dropping it does not stop it: call [`Node::shutdown`].
pub struct Node {
    raft: RaftHandle,
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    raft_thread: Option<std::thread::JoinHandle<Result<(), StorageFailure>>>,
    /// Fires when the Raft loop ends (after a stop or a fatal storage error).
    loop_ended: watch::Receiver<bool>,
    addrs: BoundAddrs,
    metrics: Arc<Metrics>,
    sessions: Arc<Sessions>,
    log: Logger,
}

/// What the apply path tells the rest of the member: watch events, session changes,
/// membership changes.
struct Notifier {
    hub: Arc<Hub>,
    sessions: Arc<Sessions>,
    roster: Arc<Roster>,
    outbox: peer::PeerOutbox,
    incarnations: Arc<Incarnations>,
    log: Logger,
}

impl ApplyObserver for Notifier {
    fn applied(&mut self, zxid: u64, changes: &[Change]) {
        self.hub.fire(zxid, changes);
    }
    fn restored(&mut self, zxid: u64) {
        // What changed is unknown: every client reconnects and re-registers its
        // watches with its last seen zxid; one-shot ones fire for whatever changed,
        // persistent ones are replayed from another member's history or told to resync.
        self.hub.tree_replaced(zxid);
    }
    fn session_opened(&mut self, session: u64, timeout_ms: u32) {
        self.sessions.opened(session, timeout_ms);
    }
    fn session_closed(&mut self, session: u64) {
        self.sessions.closed(session);
        self.hub.session_ended(session);
    }
    fn members_changed(&mut self, removed: &[u64]) {
        self.outbox.set_links(&self.roster.links());
        for id in removed {
            // A member added again later with this id starts on a new data directory.
            if let Err(e) = self.incarnations.forget(*id) {
                warn!(self.log, "could not forget a removed member's data directory"; "member" => id, "error" => %e);
            }
        }
    }
}

/// Fetches the member list from the member at `via` (the client address given with
/// `--join`) and returns the peer addresses to start with. This member must be in it
/// (`paddock member add` comes first).
async fn join(
    config: &Config,
    via: &str,
    log: &Logger,
) -> Result<BTreeMap<u64, String>, StartError> {
    let fail = |reason: String| StartError::Join {
        via: via.to_string(),
        reason,
    };
    let mut cc = paddock::ClientConfig::new([via.to_string()]);
    cc.session_timeout = Duration::from_secs(10);
    cc.request_timeout = Some(Duration::from_secs(10));
    if let Some(ca) = &config.join_tls_ca {
        let tls = paddock::tls::ClientTls::from_pem_files(ca, None)
            .map_err(|e| fail(format!("--join-tls-ca: {e}")))?;
        cc.tls = Some(tls);
    }
    let client = tokio::time::timeout(Duration::from_secs(15), paddock::Client::connect_with(cc))
        .await
        .map_err(|_| fail("no session within 15 s".into()))?
        .map_err(|e| fail(e.to_string()))?;
    let members = client.members().await;
    let _ = client.close().await;
    let members = members.map_err(|e| fail(e.to_string()))?;
    let Some(me) = members.iter().find(|m| m.id == config.id) else {
        return Err(fail(format!(
            "member {} is not in the ensemble's member list ({:?}); add it first: \
             paddock member add {} PEER_ADDR --learner",
            config.id,
            members.iter().map(|m| m.id).collect::<Vec<_>>(),
            config.id
        )));
    };
    info!(log, "joining the ensemble"; "via" => via, "members" => ?members.iter().map(|m| m.id).collect::<Vec<_>>(),
          "as" => &me.peer_addr, "learner" => me.learner);
    Ok(members
        .into_iter()
        .filter(|m| !m.peer_addr.is_empty())
        .map(|m| (m.id, m.peer_addr))
        .collect())
}

fn data_dir(path: &std::path::Path) -> Result<(), StartError> {
    std::fs::create_dir_all(path).map_err(|source| StartError::DataDir {
        path: path.display().to_string(),
        source,
    })
}

/// A file in the data directory that says a start found this member's data lost and
/// refused; it stays until a start with `--rejoin-after-data-loss` gets past the check.
const REJOIN_MARKER: &str = "REJOIN-REQUIRED";

/// How long a starting member waits for each peer's answer to its probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Asks every peer (at once, each for at most [`PROBE_TIMEOUT`]) which data directory
/// it knows this member by; fails if one knows it by another than `own`, unless the
/// member rejoins after a data loss (`rejoin`). When every peer answered, returns the
/// highest term among them and the newest log position any of them holds. Peers that cannot be asked are skipped: a new
/// ensemble's members start empty together, and a peer that records this member's new
/// data directory later refuses its links if it knew another one (see `incarnation.rs`).
async fn check_not_lost(
    config: &Config,
    peers: &BTreeMap<u64, String>,
    own: u64,
    rejoin: bool,
    tls: Option<&PeerTls>,
    log: &Logger,
) -> Result<Option<(u64, (u64, u64))>, StartError> {
    let asks = peers
        .iter()
        .filter(|(id, _)| **id != config.id)
        .map(|(id, addr)| async move {
            let answer = peer::hello::probe(addr, config.id, own, tls, PROBE_TIMEOUT).await;
            (*id, answer)
        });
    let mut highest = Some((0u64, (0u64, 0u64)));
    for (peer, answer) in futures::future::join_all(asks).await {
        match answer {
            Ok(a) => {
                highest = highest.map(|(t, p)| (t.max(a.term), p.max(a.position)));
                match a.known {
                    None => {}
                    Some(known) if known == own => {}
                    Some(known) if rejoin => {
                        warn!(log, "rejoining after a data loss"; "peer" => peer,
                              "known_incarnation" => format!("{known:016x}"));
                    }
                    Some(known) => {
                        return Err(StartError::DataLost {
                            id: config.id,
                            peer,
                            known,
                        })
                    }
                }
            }
            Err(e) => {
                highest = None;
                info!(log, "could not ask a peer whether it knew this member"; "peer" => peer, "error" => e)
            }
        }
    }
    Ok(highest)
}

/// Warns loudly about every listener that is reachable from other machines without TLS.
fn warn_if_exposed(addrs: &BoundAddrs, tls: &MemberTls, log: &Logger) {
    let listeners = [
        ("client", addrs.client, tls.client.is_some()),
        ("peer", addrs.peer, tls.peer.is_some()),
        ("admin", addrs.admin, tls.admin.is_some()),
    ];
    for (what, addr) in crate::tls::exposed_without_tls(&listeners) {
        warn!(log, "UNENCRYPTED LISTENER ON A NON-LOOPBACK ADDRESS: anyone who can reach it can read and change the data; configure TLS (see docs/operations.md)";
              "listener" => what, "addr" => %addr);
    }
}

async fn bind(what: &'static str, addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { what, addr, source })
}

impl Node {
    /// Starts a member with `config`. Must be called inside a tokio runtime.
    pub async fn start(config: Config, log: Logger) -> Result<Node, StartError> {
        let tls = MemberTls::load(&config.tls)?;
        data_dir(&config.data_dir)?;
        let raft_dir = config.data_dir.join("raft");
        let snap_dir = config.data_dir.join("snapshots");
        data_dir(&raft_dir)?;
        let snapshots =
            Arc::new(
                SnapshotDir::open(&snap_dir).map_err(|source| StartError::DataDir {
                    path: snap_dir.display().to_string(),
                    source,
                })?,
            );
        // A member that joins starts with no configuration: it gets the ensemble's with
        // the leader's snapshot.
        let voters = match config.join {
            Some(_) => Vec::new(),
            None => config.voters(),
        };
        let mut storage = DiskStorage::open(&raft_dir, &voters, snapshots.clone())?;
        // Peer addresses to start with: --peers, or the member list --join fetched.
        let peer_addrs = match &config.join {
            Some(via) if conf_change::ids(storage.conf_state()).is_empty() => {
                let mut list = join(&config, via, &log).await?;
                // This member's own --peers entries win (see `Roster`).
                list.extend(config.peers.clone());
                list
            }
            Some(via) => {
                info!(log, "this data directory holds the ensemble's configuration: --join is ignored"; "join" => via);
                config.peers.clone()
            }
            None => config.peers.clone(),
        };
        // A member on a new log asks its peers whether they knew it by another one. A
        // refusal is remembered (the log now exists), so every later start refuses too
        // until the member is told to rejoin. A member still rejoining (see below) asks
        // again, and rejoining was already consented to.
        let marker = config.data_dir.join(REJOIN_MARKER);
        let fresh = storage.created() || marker.exists();
        let incarnations = Arc::new(Incarnations::load(storage.engine(), fresh)?);
        let was_rejoining = if fresh {
            None
        } else {
            incarnation::rejoining(&storage.engine())
        };
        let rejoin = config.rejoin_after_data_loss || was_rejoining.is_some();
        let mut peers = None;
        if fresh || was_rejoining.is_some() {
            match check_not_lost(
                &config,
                &peer_addrs,
                incarnations.own(),
                rejoin,
                tls.peer.as_deref(),
                &log,
            )
            .await
            {
                Ok(answered) => peers = answered,
                Err(e) => {
                    let _ = std::fs::write(&marker, format!("{e}\n"));
                    return Err(e);
                }
            }
            if marker.exists() {
                std::fs::remove_file(&marker).map_err(|source| StartError::DataDir {
                    path: marker.display().to_string(),
                    source,
                })?;
            }
        }
        // A member that rejoins with an empty log lost the record of its votes. If every
        // peer answered, it takes their highest term as one it already voted in, and
        // until it has caught up votes only for candidates at least as up to date as the
        // newest log a peer holds (see `incarnation.rs`). Otherwise it grants no vote
        // until it has caught up. The state is kept in the log, so a restart before then
        // is still rejoining (and asks the peers again).
        let rejoin_votes = if rejoin && (fresh || was_rejoining.is_some()) {
            let known = was_rejoining.unwrap_or((0, 0));
            match peers {
                Some((term, position)) => {
                    let floor = position.max(known);
                    storage.adopt_term(term, config.id)?;
                    incarnation::set_rejoining(&storage.engine(), Some(floor))?;
                    warn!(log, "rejoining after a data loss: every peer answered; votes only in later terms, for candidates holding their newest log";
                          "term" => term, "floor" => format!("{}/{}", floor.0, floor.1));
                    RejoinVotes::AtLeast(floor)
                }
                None => {
                    incarnation::set_rejoining(&storage.engine(), Some(known))?;
                    warn!(log, "rejoining after a data loss: not every peer answered; no votes until caught up with a leader");
                    RejoinVotes::Abstain(known)
                }
            }
        } else {
            RejoinVotes::Any
        };
        info!(log, "data directory"; "incarnation" => format!("{:016x}", incarnations.own()),
              "new" => incarnations.fresh());
        if config.force_new_ensemble {
            warn!(log, "FORCING A NEW ONE-MEMBER ENSEMBLE from this member's log: every entry it holds is now committed, and writes the old majority acknowledged beyond it are lost";
                  "was_voters" => ?storage.voters(), "commit_was" => storage.hard_state().commit);
            storage.force_new_ensemble(config.id)?;
        }
        let mut stored = storage.voters();
        stored.sort_unstable();
        if config.join.is_none() && !storage.created() && stored != config.voters() {
            // The log's configuration is the ensemble's; --peers only starts one.
            info!(log, "the log's voters differ from --peers (membership changed since): the log's are used";
                  "log" => ?stored, "peers" => ?config.voters());
        }
        let snap_index = storage.snapshot_metadata().index;
        let tree = if snap_index == 0 {
            DataTree::new()
        } else {
            let bytes = snapshots
                .read(snap_index)
                .map_err(|e| StartError::Snapshot {
                    index: snap_index,
                    reason: e.to_string(),
                })?;
            DataTree::restore(&bytes).map_err(|e| StartError::Snapshot {
                index: snap_index,
                reason: e.to_string(),
            })?
        };
        info!(log, "storage opened"; "snapshot_index" => snap_index,
              "term" => storage.hard_state().term, "commit" => storage.hard_state().commit);

        let start_position = {
            use raft::Storage;
            let last = storage.last_index()?;
            let own = (storage.term(last)?, last);
            rejoin_votes.position(own)
        };
        let metrics = Arc::new(Metrics::new());
        let shared = Arc::new(Shared {
            tree: RwLock::new(tree),
            status: Mutex::new(RaftStatus {
                id: config.id,
                role: Role::Follower,
                leader_id: 0,
                term: storage.hard_state().term,
                commit_index: storage.hard_state().commit,
                applied_index: snap_index,
                snapshot_index: snap_index,
                // Answered to rejoining peers' probes before the loop's first publish.
                log_position: start_position,
                stopped: false,
                quorum_contact: None,
            }),
            applied: watch::channel(snap_index).0,
            tree_index: std::sync::atomic::AtomicU64::new(snap_index),
            queued: Default::default(),
        });
        let request_timeout = Duration::from_secs(10);
        let (tx, rx) = std::sync::mpsc::channel();
        let raft = RaftHandle {
            inputs: tx.clone(),
            shared: shared.clone(),
            request_timeout,
        };

        let client_listener = bind("client", config.client_addr).await?;
        let peer_listener = bind("peer", config.peer_addr).await?;
        let admin_listener = bind("admin", config.admin_addr).await?;
        let local = |l: &TcpListener, fallback| l.local_addr().unwrap_or(fallback);
        let addrs = BoundAddrs {
            client: local(&client_listener, config.client_addr),
            peer: local(&peer_listener, config.peer_addr),
            admin: local(&admin_listener, config.admin_addr),
        };
        warn_if_exposed(&addrs, &tls, &log);

        let stop = CancellationToken::new();
        // The history of changes starts at the tree as restored: the log replayed after it
        // is recorded as it applies.
        let hub = Arc::new(Hub::with_history(
            config.max_watches_per_session,
            snap_index,
            config.watch_history_bytes,
        ));
        let sessions = Arc::new(Sessions::new(
            raft.clone(),
            config.session_tick,
            config.tick * config.election_ticks as u32,
        ));
        let roster = Arc::new(Roster::new(
            config.id,
            RosterView::new(
                storage.conf_state(),
                shared.tree.read().members(),
                &peer_addrs,
            ),
            peer_addrs.clone(),
        ));
        let outbox = peer::PeerOutbox::start(
            peer::LinkSettings {
                rt: tokio::runtime::Handle::current(),
                hello: peer::hello::Hello::Link {
                    from: config.id,
                    incarnation: incarnations.own(),
                    // Peers record the new incarnation when a link says it rejoins.
                    rejoin: rejoin || incarnation::rejoined(&storage.engine()),
                },
                max_frame: config.max_peer_frame_bytes,
                tls: tls.peer.clone(),
                stop: stop.clone(),
                log: log.clone(),
            },
            &roster.links(),
            raft.clone(),
            metrics.clone(),
        );
        sessions.set_peers(outbox.clone());
        let election = config.tick * config.election_ticks as u32;
        let membership = Membership::new(
            config.id,
            raft.clone(),
            roster.clone(),
            outbox.clone(),
            election,
            log.new(slog::o!("component" => "membership")),
        );
        let loop_cfg = LoopConfig {
            id: config.id,
            tick: config.tick,
            election_ticks: config.election_ticks,
            heartbeat_ticks: config.heartbeat_ticks,
            snapshot_entries: config.snapshot_entries,
            keep_entries: (config.snapshot_entries / 2).min(5000),
            // Room for the largest request plus the entry's own fields.
            max_entry_bytes: config.max_request_bytes + 64 * 1024,
            request_timeout,
            rejoin: rejoin_votes,
        };
        let raft_loop = RaftLoop::new(
            loop_cfg,
            storage,
            rx,
            tx,
            Box::new(outbox.clone()),
            Box::new(Notifier {
                hub: hub.clone(),
                sessions: sessions.clone(),
                roster: roster.clone(),
                outbox,
                incarnations: incarnations.clone(),
                log: log.new(slog::o!("component" => "membership")),
            }),
            shared.clone(),
            snapshots,
            roster.clone(),
            metrics.clone(),
            &log,
        )?;
        let (ended_tx, loop_ended) = watch::channel(false);
        let raft_thread = std::thread::Builder::new()
            .name("raft-loop".into())
            .spawn(move || {
                let r = raft_loop.run();
                let _ = ended_tx.send(true);
                r
            })
            .map_err(|source| StartError::DataDir {
                path: "raft-loop thread".into(),
                source,
            })?;

        let mut tasks = Vec::new();
        tasks.push(tokio::spawn(peer::listen(
            peer_listener,
            config.id,
            roster.clone(),
            config.max_peer_frame_bytes,
            raft.clone(),
            sessions.clone(),
            Arc::new(membership.clone()),
            incarnations.clone(),
            tls.peer.clone(),
            stop.clone(),
            log.new(slog::o!("component" => "peer-listener")),
        )));
        let ctx = Arc::new(ClientContext {
            member_id: config.id,
            admin_addr: match tls.admin {
                Some(_) => format!("https://{}", addrs.admin),
                None => addrs.admin.to_string(),
            },
            raft: raft.clone(),
            limits: Limits {
                max_data_bytes: config.max_data_bytes,
                max_multi_ops: config.max_multi_ops,
            },
            max_frame: config.max_request_bytes,
            config: Arc::new(config.clone()),
            ops: Arc::new(OpTable::new(&metrics)),
            hub: hub.clone(),
            sessions: sessions.clone(),
            membership: membership.clone(),
            metrics: metrics.clone(),
            log: log.new(slog::o!("component" => "client")),
        });
        tasks.push(tokio::spawn(client::serve(
            client_listener,
            ctx,
            config.max_connections,
            tls.client.clone(),
            stop.clone(),
        )));
        tasks.push(tokio::spawn(reaper::run(
            sessions.clone(),
            raft.clone(),
            hub.clone(),
            config.container_check,
            stop.clone(),
            log.new(slog::o!("component" => "sessions")),
        )));
        let source: Arc<dyn AdminSource> = Arc::new(NodeAdmin {
            raft: raft.clone(),
            metrics: metrics.clone(),
            addrs,
            hub,
            sessions: sessions.clone(),
            incarnation: incarnations.own(),
        });
        let admin_stop = stop.clone();
        let admin_tls = tls.admin.clone();
        tasks.push(tokio::spawn(async move {
            let _ = admin::serve(admin_listener, source, admin_tls, async move {
                admin_stop.cancelled().await
            })
            .await;
        }));
        // Others dial what `member add` or --peers told them; clients are told where
        // this member listens.
        let own = MemberAddrs {
            peer: peer_addrs
                .get(&config.id)
                .cloned()
                .unwrap_or_else(|| addrs.peer.to_string()),
            client: addrs.client.to_string(),
        };
        tasks.push(tokio::spawn(membership::announce(
            membership,
            own,
            stop.clone(),
            log.new(slog::o!("component" => "membership")),
        )));
        tasks.push(tokio::spawn(Reloader::run(
            tls,
            stop.clone(),
            log.new(slog::o!("component" => "tls")),
        )));
        info!(log, "member started"; "client" => %addrs.client, "peer" => %addrs.peer, "admin" => %addrs.admin,
              "voters" => ?config.voters());
        Ok(Node {
            raft,
            stop,
            tasks,
            raft_thread: Some(raft_thread),
            loop_ended,
            addrs,
            metrics,
            sessions,
            log,
        })
    }

    /// The addresses this member listens on.
    pub fn addrs(&self) -> BoundAddrs {
        self.addrs
    }

    /// This member's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// A handle on the Raft loop (status, tree reads).
    pub fn raft(&self) -> &RaftHandle {
        &self.raft
    }

    /// Whether this member serves clients now: it is in contact with a leader that a
    /// quorum follows (see [`Sessions::in_contact`]); `/health` says the same.
    pub fn serves_clients(&self) -> bool {
        self.sessions.in_contact()
    }

    /// Resolves when the Raft loop has ended (a fatal storage error, or a stop).
    pub async fn failed(&self) {
        let mut rx = self.loop_ended.clone();
        let _ = rx.wait_for(|ended| *ended).await;
    }

    /// Stops the listeners and the Raft loop and waits for them. Everything
    /// acknowledged is already durable; in-flight requests get no answer.
    pub async fn shutdown(mut self) -> Result<(), StorageFailure> {
        self.stop.cancel();
        self.raft.stop();
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
        let result = match self.raft_thread.take() {
            Some(h) => tokio::task::spawn_blocking(move || h.join())
                .await
                .ok()
                .and_then(|r| r.ok())
                .unwrap_or(Ok(())),
            None => Ok(()),
        };
        info!(self.log, "member stopped");
        result
    }
}

/// What the admin endpoint shows of a running member.
struct NodeAdmin {
    raft: RaftHandle,
    metrics: Arc<Metrics>,
    addrs: BoundAddrs,
    hub: Arc<Hub>,
    sessions: Arc<Sessions>,
    incarnation: u64,
}

impl AdminSource for NodeAdmin {
    fn status(&self) -> Status {
        // The digest, the index it belongs to and the Raft status come from under one
        // lock: members at the same `applied_index` must report the same digest even
        // while writes flow, and the snapshot and commit indexes never trail the tree.
        let (s, digest, znodes, sessions, applied) = {
            let (tree, index) = self.raft.tree_at();
            (
                self.raft.status(),
                tree.digest(),
                tree.node_count(),
                tree.session_count(),
                index,
            )
        };
        Status {
            id: s.id,
            role: s.role.name().to_string(),
            leader_id: s.leader_id,
            term: s.term,
            commit_index: s.commit_index,
            applied_index: applied,
            snapshot_index: s.snapshot_index,
            digest: format!("{digest:016x}"),
            znode_count: znodes as u64,
            session_count: sessions as u64,
            watch_count: self.hub.count() as u64,
            client_addr: self.addrs.client.to_string(),
            peer_addr: self.addrs.peer.to_string(),
            admin_addr: self.addrs.admin.to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            leader_contact_ms: self.sessions.since_contact().map(|d| d.as_millis() as u64),
            incarnation: format!("{:016x}", self.incarnation),
        }
    }

    fn metrics_text(&self) -> String {
        let s = self.raft.status();
        let m = &self.metrics;
        m.raft_term.set(s.term as i64);
        m.raft_commit_index.set(s.commit_index as i64);
        m.raft_applied_index.set(s.applied_index as i64);
        m.raft_leader_id.set(s.leader_id as i64);
        {
            let tree = self.raft.tree();
            m.znodes.set(tree.node_count() as i64);
            m.sessions.set(tree.session_count() as i64);
        }
        m.render()
    }

    fn sessions(&self) -> Vec<SessionRow> {
        let deadlines = self.sessions.leader_deadlines();
        let tree = self.raft.tree();
        tree.sessions()
            .map(|(id, info)| SessionRow {
                id: format!("{id:#x}"),
                timeout_ms: info.timeout_ms,
                ephemerals: info.ephemerals.len(),
                expires_in_ms: deadlines.get(&id).copied(),
            })
            .collect()
    }

    fn healthy(&self) -> Result<(), String> {
        let s = self.raft.status();
        if s.stopped {
            return Err("raft loop stopped".into());
        }
        if s.leader_id == 0 {
            return Err("no leader".into());
        }
        if s.applied_index < s.commit_index {
            return Err(format!(
                "applied {} < committed {}",
                s.applied_index, s.commit_index
            ));
        }
        if !self.sessions.in_contact() {
            return Err(match self.sessions.since_contact() {
                Some(d) => format!(
                    "no contact with a leader that a quorum follows for {} ms",
                    d.as_millis()
                ),
                None => "no contact with a leader that a quorum follows yet".into(),
            });
        }
        Ok(())
    }
}
