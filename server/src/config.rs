//! `paddockd`'s configuration: command-line flags, an optional TOML file, defaults.
//!
//! Job: turn [`Args`] (and the file named by `--config`) into one validated [`Config`] that the
//! rest of the server reads and never re-checks.
//!
//! Precedence, per setting: flag > config file > default. With no arguments at all, `paddockd`
//! runs a one-member ensemble, id 1, on 127.0.0.1 (client 7181, peer 7182, admin 7180) with its
//! data in `./paddock-data`.
//!
//! The file uses the flags' names in snake_case (`data_dir`, `client_addr`, `tick_ms`, ...);
//! unknown keys are an error, so a typo cannot silently fall back to a default. `peers` is a
//! table (`peers = { 1 = "10.0.0.1:7182", 2 = "10.0.0.2:7182" }`) or the flag's comma string
//! (`peers = "1=10.0.0.1:7182,2=10.0.0.2:7182"`). A relative `data_dir` is relative to the working
//! directory of `paddockd`, not to the config file.
//!
//! Guarantees of a [`Config`] returned by [`Config::load`]:
//! - `id > 0`, every peer id > 0, and `id` is one of the voters in `peers`;
//! - 1 to [`MAX_VOTERS`] voters (3 or 5 recommended: an even size tolerates no more failures
//!   than the odd size below it, and 1 tolerates none); every peer address is `HOST:PORT`;
//! - `tick > 0`, `0 < heartbeat_ticks < election_ticks`;
//! - `0 < min_session_timeout <= max_session_timeout`, and `min_session_timeout` exceeds the
//!   longest election timeout (`2 x election_ticks x tick`: raft-rs randomises it in [1, 2) x
//!   `election_ticks`), so a session outlives the election that follows a leader's failure;
//! - every size limit and `snapshot_entries` is > 0, and `max_peer_frame_bytes >= max_request_bytes`.
//!
//! When `peers` is not given it is `{id: peer_addr}` (a one-member ensemble). When `peers` is given
//! but `--peer-addr` is not, the peer listener binds this member's own entry in `peers` if that
//! entry is an IP address; with a host name there, pass `--peer-addr` (e.g. `0.0.0.0:7182`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::logging::{LogFormat, LogLevel};
use crate::tls::{TlsConfig, TlsFiles};

/// Default member id when none is given.
pub const DEFAULT_ID: u64 = 1;
/// Default data directory, relative to the working directory.
pub const DEFAULT_DATA_DIR: &str = "./paddock-data";
/// Default client listener address.
pub const DEFAULT_CLIENT_ADDR: &str = "127.0.0.1:7181";
/// Default peer (Raft) listener address.
pub const DEFAULT_PEER_ADDR: &str = "127.0.0.1:7182";
/// Default admin (HTTP: /status, /metrics, /health) listener address.
pub const DEFAULT_ADMIN_ADDR: &str = "127.0.0.1:7180";
/// Largest ensemble accepted. Raft needs a majority for every write, so more voters only slow
/// writes down; 3 or 5 is what we recommend.
pub const MAX_VOTERS: usize = 7;

/// Default Raft tick (`tick_ms`).
pub const DEFAULT_TICK_MS: u64 = 100;
/// Default election timeout in ticks.
pub const DEFAULT_ELECTION_TICKS: usize = 10;
/// Default leader heartbeat interval in ticks.
pub const DEFAULT_HEARTBEAT_TICKS: usize = 2;
/// Default number of applied entries between two state-machine snapshots.
pub const DEFAULT_SNAPSHOT_ENTRIES: u64 = 100_000;
/// Default largest znode payload (1 MiB, as ZooKeeper's jute.maxbuffer).
pub const DEFAULT_MAX_DATA_BYTES: usize = 1 << 20;
/// Default largest number of operations in one multi.
pub const DEFAULT_MAX_MULTI_OPS: usize = 1000;
/// Default largest client frame (4 MiB).
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 4 << 20;
/// Default largest peer-link frame (1 GiB: room for a whole snapshot in one message).
pub const DEFAULT_MAX_PEER_FRAME_BYTES: usize = 1 << 30;
/// Default largest number of watches per session on one member.
pub const DEFAULT_MAX_WATCHES_PER_SESSION: usize = 100_000;

/// Default byte budget of the change history persistent watches are replayed from.
pub const DEFAULT_WATCH_HISTORY_BYTES: usize = crate::watch::history::HISTORY_BYTES;
/// Default period of the leader's container/TTL check, in ms.
pub const DEFAULT_CONTAINER_CHECK_MS: u64 = 1000;
/// Largest member id: a session id carries its creating member's id in its top byte,
/// so that members never hand out the same session id.
pub const MAX_MEMBER_ID: u64 = 255;
/// Default largest number of simultaneous client connections.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// Default session tick (ZooKeeper's tickTime); session timeouts are bounded by [2, 20] x this.
pub const DEFAULT_SESSION_TICK_MS: u64 = 2000;

/// Command-line flags of `paddockd`. Every setting is optional so that the config file (or the
/// default) can fill it in; [`Config::load`] resolves them.
#[derive(clap::Parser, Debug, Clone, Default, PartialEq)]
#[command(name = "paddockd", version, about = "A member of a Paddock ensemble")]
pub struct Args {
    /// What to do instead of running a member (none: run it).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// TOML config file; its keys are these flags' names in snake_case. Flags override it.
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// This member's id (> 0), one of the ids in --peers. [default: 1]
    #[arg(long, value_name = "N", global = true)]
    pub id: Option<u64>,
    /// Directory for the Raft log and snapshots. [default: ./paddock-data]
    #[arg(long, value_name = "DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Address the client listener binds. [default: 127.0.0.1:7181]
    #[arg(long, value_name = "ADDR")]
    pub client_addr: Option<String>,
    /// Address the peer (Raft) listener binds. [default: this member's entry in --peers if it is
    /// an IP address, else 127.0.0.1:7182]
    #[arg(long, value_name = "ADDR")]
    pub peer_addr: Option<String>,
    /// Address the admin HTTP listener binds. [default: 127.0.0.1:7180]
    #[arg(long, value_name = "ADDR")]
    pub admin_addr: Option<String>,
    /// Peer addresses of all voters, this member's included: 1=HOST:PORT,2=HOST:PORT,...
    /// [default: this member alone]
    #[arg(long, value_name = "ID=HOST:PORT,...", global = true)]
    pub peers: Option<String>,
    /// Log output format. [default: text]
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormat>,
    /// Minimum level logged. [default: info]
    #[arg(long, value_enum)]
    pub log_level: Option<LogLevel>,
    /// Raft tick in milliseconds. [default: 100]
    #[arg(long, value_name = "MS")]
    pub tick_ms: Option<u64>,
    /// Election timeout in ticks (raft-rs randomises it in [1, 2) x this). [default: 10]
    #[arg(long, value_name = "TICKS")]
    pub election_ticks: Option<usize>,
    /// Leader heartbeat interval in ticks. [default: 2]
    #[arg(long, value_name = "TICKS")]
    pub heartbeat_ticks: Option<usize>,
    /// Take a state-machine snapshot after this many applied entries. [default: 100000]
    #[arg(long, value_name = "N")]
    pub snapshot_entries: Option<u64>,
    /// Largest znode payload in bytes. [default: 1048576]
    #[arg(long, value_name = "BYTES")]
    pub max_data_bytes: Option<usize>,
    /// Largest number of operations in one multi. [default: 1000]
    #[arg(long, value_name = "N")]
    pub max_multi_ops: Option<usize>,
    /// Largest client frame in bytes. [default: 4194304]
    #[arg(long, value_name = "BYTES")]
    pub max_request_bytes: Option<usize>,
    /// Largest peer-link frame in bytes (must hold a snapshot). [default: 1073741824]
    #[arg(long, value_name = "BYTES")]
    pub max_peer_frame_bytes: Option<usize>,
    /// Largest number of simultaneous client connections. [default: 10000]
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,
    /// Largest number of watches one session may hold on a member. [default: 100000]
    #[arg(long, value_name = "N")]
    pub max_watches_per_session: Option<usize>,
    /// Bytes of recent changes kept to replay to persistent watches after their
    /// client reconnects (a path's length plus 48 per change). [default: 8388608]
    #[arg(long, value_name = "BYTES")]
    pub watch_history_bytes: Option<usize>,
    /// How often the leader looks for empty containers and expired TTL nodes, in ms.
    /// [default: 1000]
    #[arg(long, value_name = "MS")]
    pub container_check_ms: Option<u64>,
    /// Session tick in milliseconds (ZooKeeper's tickTime). [default: 2000]
    #[arg(long, value_name = "MS")]
    pub session_tick_ms: Option<u64>,
    /// This member lost its data (its data directory is new) and rejoins the ensemble:
    /// its peers accept its new data directory, and it does not vote until it has caught
    /// up with a leader. Without it, a member whose peers know it by another data
    /// directory refuses to start. Only for a member whose data was lost.
    #[arg(long)]
    pub rejoin_after_data_loss: bool,
    /// Join a running ensemble through this member's client address (HOST:PORT), after
    /// `paddock member add ID PEER_ADDR`: a new member's data directory gets the
    /// ensemble's member list from there, then the ensemble's snapshot from the leader.
    /// Ignored once the data directory holds the ensemble's configuration.
    #[arg(long, value_name = "HOST:PORT")]
    pub join: Option<String>,
    /// CA certificate (PEM) to verify the --join member's client certificate with, when
    /// the ensemble's client port uses TLS.
    #[arg(long, value_name = "FILE")]
    pub join_tls_ca: Option<PathBuf>,
    /// Smallest session timeout granted, in ms; must exceed the longest election timeout
    /// (2 x election ticks x tick). [default: 2 x session tick, raised to the longest
    /// election timeout + one tick if that is more]
    #[arg(long, value_name = "MS")]
    pub min_session_timeout_ms: Option<u64>,
    /// Largest session timeout granted, in ms. [default: 20 x session tick, at least the
    /// smallest]
    #[arg(long, value_name = "MS")]
    pub max_session_timeout_ms: Option<u64>,
    /// Certificate chain (PEM) of the client listener: clients then must speak TLS.
    /// Needs --tls-key. [default: plain TCP]
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// CA (PEM) that clients' certificates must be signed by: every client must then
    /// present one (mutual TLS). Needs --tls-cert.
    #[arg(long, value_name = "FILE")]
    pub tls_client_ca: Option<PathBuf>,
    /// Certificate chain (PEM) this member presents on peer links, as server and as
    /// client. Needs --peer-tls-key and --peer-tls-ca. [default: plain TCP]
    #[arg(long, value_name = "FILE")]
    pub peer_tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --peer-tls-cert.
    #[arg(long, value_name = "FILE")]
    pub peer_tls_key: Option<PathBuf>,
    /// CA (PEM) that every peer's certificate must be signed by.
    #[arg(long, value_name = "FILE")]
    pub peer_tls_ca: Option<PathBuf>,
    /// Certificate chain (PEM) of the admin listener (HTTPS). Needs --admin-tls-key.
    /// [default: plain HTTP]
    #[arg(long, value_name = "FILE")]
    pub admin_tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --admin-tls-cert.
    #[arg(long, value_name = "FILE")]
    pub admin_tls_key: Option<PathBuf>,
    /// The superuser's digest identity, `user:BASE64(SHA1(user:password))` (`paddock
    /// digest user:password` prints it): a connection that authenticates as that user
    /// passes every ACL. [default: no superuser]
    #[arg(long, value_name = "USER:HASH")]
    pub super_digest: Option<String>,
    /// Quorum-loss recovery: start this member as a one-member ensemble with everything
    /// in its log committed (its --peers must list only itself). Acknowledged writes it
    /// never received are lost. Flag only (never in the config file); see
    /// docs/operations.md before using it.
    #[arg(long)]
    pub force_new_ensemble: bool,
}

/// `paddockd`'s subcommands.
#[derive(clap::Subcommand, Debug, Clone, PartialEq)]
pub enum Command {
    /// Seed an empty data directory from a backup (`paddock snapshot save`) as member
    /// --id of the ensemble --peers, then exit; start the member as usual afterwards.
    Restore {
        /// The backup file.
        #[arg(long, value_name = "FILE")]
        snapshot: PathBuf,
    },
}

/// The config file: the same settings as [`Args`] (minus `config`), snake_case, unknown keys
/// rejected.
#[derive(Deserialize, Debug, Default, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    id: Option<u64>,
    data_dir: Option<PathBuf>,
    client_addr: Option<String>,
    peer_addr: Option<String>,
    admin_addr: Option<String>,
    peers: Option<PeersSpec>,
    log_format: Option<LogFormat>,
    log_level: Option<LogLevel>,
    tick_ms: Option<u64>,
    election_ticks: Option<usize>,
    heartbeat_ticks: Option<usize>,
    snapshot_entries: Option<u64>,
    max_data_bytes: Option<usize>,
    max_multi_ops: Option<usize>,
    max_request_bytes: Option<usize>,
    max_peer_frame_bytes: Option<usize>,
    max_connections: Option<usize>,
    max_watches_per_session: Option<usize>,
    watch_history_bytes: Option<usize>,
    container_check_ms: Option<u64>,
    session_tick_ms: Option<u64>,
    rejoin_after_data_loss: Option<bool>,
    join: Option<String>,
    join_tls_ca: Option<PathBuf>,
    min_session_timeout_ms: Option<u64>,
    max_session_timeout_ms: Option<u64>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    tls_client_ca: Option<PathBuf>,
    peer_tls_cert: Option<PathBuf>,
    peer_tls_key: Option<PathBuf>,
    peer_tls_ca: Option<PathBuf>,
    admin_tls_cert: Option<PathBuf>,
    admin_tls_key: Option<PathBuf>,
    super_digest: Option<String>,
}

/// `peers` in the file: a table of id -> address, or the flag's comma string.
#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(untagged)]
enum PeersSpec {
    Table(BTreeMap<String, String>),
    List(String),
}

/// Why a configuration was refused. Each message names the setting and the offending value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file named by `--config`.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The config file is not valid TOML, has a value of the wrong type, or an unknown key.
    #[error("invalid config file {path}: {source}")]
    Parse {
        /// The file named by `--config`.
        path: PathBuf,
        /// The TOML error, with line and column.
        source: toml::de::Error,
    },
    /// A listener address is not `IP:PORT`.
    #[error("invalid {key} {value:?}: expected IP:PORT, e.g. 127.0.0.1:7181 ({reason})")]
    Address {
        /// The setting (`client_addr`, `peer_addr`, `admin_addr`).
        key: &'static str,
        /// The value given.
        value: String,
        /// The parser's complaint.
        reason: String,
    },
    /// `peers` is malformed: an entry is not `ID=HOST:PORT`, or an id appears twice.
    #[error("invalid peers {value:?}: {reason}")]
    Peers {
        /// The offending entry (or the whole value).
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Member id 0 (here or in `peers`); ids start at 1 (raft-rs reserves 0 for "none").
    #[error("member ids must be > 0 (raft-rs uses 0 for \"no member\")")]
    ZeroId,
    /// Member id above [`MAX_MEMBER_ID`] (session ids carry the member id in one byte).
    #[error("member id {0} is too large: ids go from 1 to 255")]
    IdTooLarge(u64),
    /// This member's id is not among the voters.
    #[error("this member's id {id} is not in peers (voters: {voters:?})")]
    NotAVoter {
        /// This member's id.
        id: u64,
        /// The ids in `peers`.
        voters: Vec<u64>,
    },
    /// Too many voters.
    #[error("{0} voters given; at most {MAX_VOTERS} are allowed (3 or 5 recommended)")]
    TooManyVoters(usize),
    /// Tick settings that raft-rs refuses or that make no sense.
    #[error("invalid ticks: {0}")]
    Ticks(String),
    /// Session timeout bounds out of order or zero.
    #[error("invalid session timeouts: {0}")]
    SessionTimeouts(String),
    /// A size or count limit of zero, or inconsistent limits.
    #[error("invalid limit {key} = {value}: {reason}")]
    Limit {
        /// The setting.
        key: &'static str,
        /// Its value.
        value: u64,
        /// Why it is refused.
        reason: &'static str,
    },
    /// TLS files given incompletely (a certificate without its key, a client CA
    /// without a certificate, peer TLS without its CA).
    #[error("invalid TLS settings: {0}")]
    Tls(String),
    /// `super_digest` is not `user:BASE64(SHA1(user:password))`.
    #[error("invalid super_digest {0:?}: expected user:hash, the 28-character base64 SHA-1 that `paddock digest user:password` prints")]
    SuperDigest(String),
}

/// The validated configuration of one ensemble member. See the module doc for what
/// [`Config::load`] guarantees about these values.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// This member's Raft id (> 0, a key of `peers`).
    pub id: u64,
    /// Directory holding the Raft log (raft-engine) and snapshots.
    pub data_dir: PathBuf,
    /// Address the client listener binds.
    pub client_addr: SocketAddr,
    /// Address the peer (Raft) listener binds.
    pub peer_addr: SocketAddr,
    /// Address the admin HTTP listener binds.
    pub admin_addr: SocketAddr,
    /// Every voter's id -> the `HOST:PORT` other members dial to reach its peer listener.
    pub peers: BTreeMap<u64, String>,
    /// Log output format.
    pub log_format: LogFormat,
    /// Minimum log level (not in the original brief: operators need `--log-level debug`).
    pub log_level: LogLevel,
    /// This member rejoins after losing its data (see `consensus/incarnation.rs`).
    pub rejoin_after_data_loss: bool,
    /// A running member's client address to join the ensemble through (a new data
    /// directory only; see `membership`).
    pub join: Option<String>,
    /// CA to verify that member's client certificate with (its client port uses TLS).
    pub join_tls_ca: Option<PathBuf>,
    /// Raft tick interval.
    pub tick: Duration,
    /// Election timeout in ticks (> heartbeat_ticks).
    pub election_ticks: usize,
    /// Leader heartbeat interval in ticks (> 0).
    pub heartbeat_ticks: usize,
    /// Applied entries between two state-machine snapshots.
    pub snapshot_entries: u64,
    /// Largest znode payload in bytes.
    pub max_data_bytes: usize,
    /// Largest number of operations in a multi.
    pub max_multi_ops: usize,
    /// Largest client frame in bytes.
    pub max_request_bytes: usize,
    /// Largest peer-link frame in bytes (>= max_request_bytes; must hold a snapshot).
    pub max_peer_frame_bytes: usize,
    /// Largest number of simultaneous client connections.
    pub max_connections: usize,
    /// Largest number of watches one session may hold on a member.
    pub max_watches_per_session: usize,
    /// Byte budget of the change history persistent watches are replayed from.
    pub watch_history_bytes: usize,
    /// How often the leader looks for empty containers and expired TTL nodes.
    pub container_check: Duration,
    /// Session tick (ZooKeeper's tickTime); the unit of the session timeout defaults.
    pub session_tick: Duration,
    /// Smallest session timeout granted; a client asking for less gets this.
    pub min_session_timeout: Duration,
    /// Largest session timeout granted; a client asking for more gets this.
    pub max_session_timeout: Duration,
    /// TLS files per listener (none: plain TCP); complete, not yet read.
    pub tls: TlsConfig,
    /// The superuser's digest identity (`user:hash`), if any.
    pub super_digest: Option<String>,
    /// Start as a one-member ensemble with everything in the log committed (quorum-loss
    /// recovery); `peers` is then this member alone.
    pub force_new_ensemble: bool,
}

impl Config {
    /// Resolves flags, the config file they name (if any) and defaults into a validated config.
    ///
    /// Guarantees: either every invariant in the module doc holds, or a [`ConfigError`] says
    /// which setting is wrong. Reads the config file; touches nothing else (the data directory
    /// is neither created nor checked here).
    pub fn load(args: Args) -> Result<Config, ConfigError> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        Self::resolve(args, file)
    }

    /// A one-member config with every other setting at its default; for tests.
    ///
    /// Guarantees: `peers == {id: peer.to_string()}`; not validated (an `id` of 0 is kept).
    pub fn single(
        id: u64,
        data_dir: impl Into<PathBuf>,
        client: SocketAddr,
        peer: SocketAddr,
        admin: SocketAddr,
    ) -> Config {
        let session_tick = Duration::from_millis(DEFAULT_SESSION_TICK_MS);
        Config {
            id,
            data_dir: data_dir.into(),
            client_addr: client,
            peer_addr: peer,
            admin_addr: admin,
            peers: BTreeMap::from([(id, peer.to_string())]),
            log_format: LogFormat::default(),
            log_level: LogLevel::default(),
            rejoin_after_data_loss: false,
            join: None,
            join_tls_ca: None,
            tick: Duration::from_millis(DEFAULT_TICK_MS),
            election_ticks: DEFAULT_ELECTION_TICKS,
            heartbeat_ticks: DEFAULT_HEARTBEAT_TICKS,
            snapshot_entries: DEFAULT_SNAPSHOT_ENTRIES,
            max_data_bytes: DEFAULT_MAX_DATA_BYTES,
            max_multi_ops: DEFAULT_MAX_MULTI_OPS,
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            max_peer_frame_bytes: DEFAULT_MAX_PEER_FRAME_BYTES,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_watches_per_session: DEFAULT_MAX_WATCHES_PER_SESSION,
            watch_history_bytes: DEFAULT_WATCH_HISTORY_BYTES,
            container_check: Duration::from_millis(DEFAULT_CONTAINER_CHECK_MS),
            session_tick,
            min_session_timeout: session_tick * 2,
            max_session_timeout: session_tick * 20,
            tls: TlsConfig::default(),
            super_digest: None,
            force_new_ensemble: false,
        }
    }

    /// The voters' ids in ascending order (the keys of `peers`).
    pub fn voters(&self) -> Vec<u64> {
        self.peers.keys().copied().collect()
    }

    /// Clamps a client's requested session timeout into `[min_session_timeout,
    /// max_session_timeout]`, as ZooKeeper does when it negotiates a session.
    pub fn negotiate_session_timeout(&self, requested: Duration) -> Duration {
        requested.clamp(self.min_session_timeout, self.max_session_timeout)
    }

    /// Flag > file > default for every setting, then validation.
    fn resolve(args: Args, file: FileConfig) -> Result<Config, ConfigError> {
        let id = args.id.or(file.id).unwrap_or(DEFAULT_ID);
        if id == 0 {
            return Err(ConfigError::ZeroId);
        }
        if id > MAX_MEMBER_ID {
            return Err(ConfigError::IdTooLarge(id));
        }
        let data_dir = args
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let client_addr = parse_addr(
            "client_addr",
            args.client_addr.or(file.client_addr),
            DEFAULT_CLIENT_ADDR,
        )?;
        let admin_addr = parse_addr(
            "admin_addr",
            args.admin_addr.or(file.admin_addr),
            DEFAULT_ADMIN_ADDR,
        )?;

        let peers = match (args.peers, file.peers) {
            (Some(s), _) | (None, Some(PeersSpec::List(s))) => Some(parse_peer_list(&s)?),
            (None, Some(PeersSpec::Table(t))) => Some(parse_peer_table(t)?),
            (None, None) => None,
        };
        let explicit_peer_addr = args.peer_addr.or(file.peer_addr);
        let peer_addr = match (&explicit_peer_addr, &peers) {
            (None, Some(peers)) => match peers.get(&id).and_then(|a| a.parse().ok()) {
                Some(own) => own,
                None => parse_addr("peer_addr", None, DEFAULT_PEER_ADDR)?,
            },
            _ => parse_addr("peer_addr", explicit_peer_addr, DEFAULT_PEER_ADDR)?,
        };
        let peers = peers.unwrap_or_else(|| BTreeMap::from([(id, peer_addr.to_string())]));
        if !peers.contains_key(&id) {
            return Err(ConfigError::NotAVoter {
                id,
                voters: peers.keys().copied().collect(),
            });
        }
        if peers.len() > MAX_VOTERS {
            return Err(ConfigError::TooManyVoters(peers.len()));
        }

        let tick_ms = args.tick_ms.or(file.tick_ms).unwrap_or(DEFAULT_TICK_MS);
        let election_ticks = args
            .election_ticks
            .or(file.election_ticks)
            .unwrap_or(DEFAULT_ELECTION_TICKS);
        let heartbeat_ticks = args
            .heartbeat_ticks
            .or(file.heartbeat_ticks)
            .unwrap_or(DEFAULT_HEARTBEAT_TICKS);
        if tick_ms == 0 {
            return Err(ConfigError::Ticks("tick_ms must be > 0".into()));
        }
        if heartbeat_ticks == 0 {
            return Err(ConfigError::Ticks("heartbeat_ticks must be > 0".into()));
        }
        if election_ticks <= heartbeat_ticks {
            return Err(ConfigError::Ticks(format!(
                "election_ticks ({election_ticks}) must be greater than heartbeat_ticks \
                 ({heartbeat_ticks})"
            )));
        }

        let limit = |key: &'static str, value: Option<u64>, default: u64| match value {
            Some(0) => Err(ConfigError::Limit {
                key,
                value: 0,
                reason: "must be > 0",
            }),
            Some(v) => Ok(v),
            None => Ok(default),
        };
        let as_u64 = |v: Option<usize>| v.map(|v| v as u64);
        let snapshot_entries = limit(
            "snapshot_entries",
            args.snapshot_entries.or(file.snapshot_entries),
            DEFAULT_SNAPSHOT_ENTRIES,
        )?;
        let max_data_bytes = limit(
            "max_data_bytes",
            as_u64(args.max_data_bytes.or(file.max_data_bytes)),
            DEFAULT_MAX_DATA_BYTES as u64,
        )? as usize;
        let max_multi_ops = limit(
            "max_multi_ops",
            as_u64(args.max_multi_ops.or(file.max_multi_ops)),
            DEFAULT_MAX_MULTI_OPS as u64,
        )? as usize;
        let max_request_bytes = limit(
            "max_request_bytes",
            as_u64(args.max_request_bytes.or(file.max_request_bytes)),
            DEFAULT_MAX_REQUEST_BYTES as u64,
        )? as usize;
        let max_peer_frame_bytes = limit(
            "max_peer_frame_bytes",
            as_u64(args.max_peer_frame_bytes.or(file.max_peer_frame_bytes)),
            DEFAULT_MAX_PEER_FRAME_BYTES as u64,
        )? as usize;
        let max_connections = limit(
            "max_connections",
            as_u64(args.max_connections.or(file.max_connections)),
            DEFAULT_MAX_CONNECTIONS as u64,
        )? as usize;
        let max_watches_per_session = limit(
            "max_watches_per_session",
            as_u64(
                args.max_watches_per_session
                    .or(file.max_watches_per_session),
            ),
            DEFAULT_MAX_WATCHES_PER_SESSION as u64,
        )? as usize;
        let watch_history_bytes = limit(
            "watch_history_bytes",
            as_u64(args.watch_history_bytes.or(file.watch_history_bytes)),
            DEFAULT_WATCH_HISTORY_BYTES as u64,
        )? as usize;
        let container_check_ms = limit(
            "container_check_ms",
            args.container_check_ms.or(file.container_check_ms),
            DEFAULT_CONTAINER_CHECK_MS,
        )?;
        if max_peer_frame_bytes < max_request_bytes {
            // A client request is forwarded and replicated inside a peer message.
            return Err(ConfigError::Limit {
                key: "max_peer_frame_bytes",
                value: max_peer_frame_bytes as u64,
                reason: "must be >= max_request_bytes (client requests travel inside peer frames)",
            });
        }

        let session_tick_ms = limit(
            "session_tick_ms",
            args.session_tick_ms.or(file.session_tick_ms),
            DEFAULT_SESSION_TICK_MS,
        )?;
        // A session shorter than an election is lost in every leader failover: its
        // client hears from no member that can vouch for it until a new leader exists.
        let longest_election_ms = tick_ms.saturating_mul(2 * election_ticks as u64);
        let explicit_min = args.min_session_timeout_ms.or(file.min_session_timeout_ms);
        let min_ms = explicit_min.unwrap_or_else(|| {
            session_tick_ms
                .saturating_mul(2)
                .max(longest_election_ms.saturating_add(tick_ms))
        });
        let max_ms = args
            .max_session_timeout_ms
            .or(file.max_session_timeout_ms)
            .unwrap_or_else(|| session_tick_ms.saturating_mul(20).max(min_ms));
        if min_ms == 0 {
            return Err(ConfigError::SessionTimeouts(
                "min_session_timeout_ms must be > 0".into(),
            ));
        }
        if min_ms <= longest_election_ms {
            return Err(ConfigError::SessionTimeouts(format!(
                "min_session_timeout_ms ({min_ms}) must exceed the longest election timeout \
                 ({longest_election_ms} ms = 2 x election_ticks {election_ticks} x tick_ms \
                 {tick_ms}): shorter sessions would expire in every leader election"
            )));
        }
        if min_ms > max_ms {
            return Err(ConfigError::SessionTimeouts(format!(
                "min_session_timeout_ms ({min_ms}) is greater than max_session_timeout_ms \
                 ({max_ms})"
            )));
        }

        let tls = TlsConfig {
            client: tls_files(
                ("tls_cert", args.tls_cert.or(file.tls_cert)),
                ("tls_key", args.tls_key.or(file.tls_key)),
                ("tls_client_ca", args.tls_client_ca.or(file.tls_client_ca)),
                false,
            )?,
            peer: tls_files(
                ("peer_tls_cert", args.peer_tls_cert.or(file.peer_tls_cert)),
                ("peer_tls_key", args.peer_tls_key.or(file.peer_tls_key)),
                ("peer_tls_ca", args.peer_tls_ca.or(file.peer_tls_ca)),
                true,
            )?,
            admin: tls_files(
                (
                    "admin_tls_cert",
                    args.admin_tls_cert.or(file.admin_tls_cert),
                ),
                ("admin_tls_key", args.admin_tls_key.or(file.admin_tls_key)),
                ("admin_tls_ca", None),
                false,
            )?,
        };

        let join = args.join.or(file.join);
        if let Some(j) = &join {
            if !j
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
            {
                return Err(ConfigError::Peers {
                    value: j.clone(),
                    reason: "--join takes a member's client address, HOST:PORT".into(),
                });
            }
        }
        if args.force_new_ensemble && peers.keys().ne([id].iter()) {
            return Err(ConfigError::Peers {
                value: format!("{:?}", peers.keys().collect::<Vec<_>>()),
                reason: "--force-new-ensemble makes a one-member ensemble: --peers must list \
                         only this member"
                    .into(),
            });
        }
        let super_digest = args.super_digest.or(file.super_digest);
        if let Some(d) = &super_digest {
            if !d
                .split_once(':')
                .is_some_and(|(u, h)| !u.is_empty() && h.len() == 28)
            {
                return Err(ConfigError::SuperDigest(d.clone()));
            }
        }

        Ok(Config {
            id,
            data_dir,
            client_addr,
            peer_addr,
            admin_addr,
            peers,
            log_format: args.log_format.or(file.log_format).unwrap_or_default(),
            log_level: args.log_level.or(file.log_level).unwrap_or_default(),
            rejoin_after_data_loss: args.rejoin_after_data_loss
                || file.rejoin_after_data_loss.unwrap_or(false),
            join,
            join_tls_ca: args.join_tls_ca.or(file.join_tls_ca),
            tick: Duration::from_millis(tick_ms),
            election_ticks,
            heartbeat_ticks,
            snapshot_entries,
            max_data_bytes,
            max_multi_ops,
            max_request_bytes,
            max_peer_frame_bytes,
            max_connections,
            max_watches_per_session,
            watch_history_bytes,
            container_check: Duration::from_millis(container_check_ms),
            session_tick: Duration::from_millis(session_tick_ms),
            min_session_timeout: Duration::from_millis(min_ms),
            max_session_timeout: Duration::from_millis(max_ms),
            tls,
            super_digest,
            force_new_ensemble: args.force_new_ensemble,
        })
    }
}

/// One listener's TLS files: none, or a certificate with its key (and a CA, required
/// when `ca_required`). Each argument is (setting name, value).
fn tls_files(
    cert: (&str, Option<PathBuf>),
    key: (&str, Option<PathBuf>),
    ca: (&str, Option<PathBuf>),
    ca_required: bool,
) -> Result<Option<TlsFiles>, ConfigError> {
    match (cert.1, key.1, ca.1) {
        (None, None, None) => Ok(None),
        (Some(c), Some(k), ca_file) => {
            if ca_required && ca_file.is_none() {
                return Err(ConfigError::Tls(format!(
                    "{} and {} need {} (peer links use mutual TLS)",
                    cert.0, key.0, ca.0
                )));
            }
            Ok(Some(TlsFiles {
                cert: c,
                key: k,
                ca: ca_file,
            }))
        }
        (Some(_), None, _) => Err(ConfigError::Tls(format!("{} needs {}", cert.0, key.0))),
        (None, Some(_), _) => Err(ConfigError::Tls(format!("{} needs {}", key.0, cert.0))),
        (None, None, Some(_)) => Err(ConfigError::Tls(format!(
            "{} needs {} and {}",
            ca.0, cert.0, key.0
        ))),
    }
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    toml::from_str(&text).map_err(|source| ConfigError::Parse {
        path: path.to_path_buf(),
        source,
    })
}

fn parse_addr(
    key: &'static str,
    value: Option<String>,
    default: &str,
) -> Result<SocketAddr, ConfigError> {
    let value = value.unwrap_or_else(|| default.to_string());
    value.trim().parse().map_err(|e| ConfigError::Address {
        key,
        value: value.clone(),
        reason: format!("{e}"),
    })
}

/// Parses `1=HOST:PORT,2=HOST:PORT`. Whitespace around items is ignored, as is a trailing comma.
fn parse_peer_list(s: &str) -> Result<BTreeMap<u64, String>, ConfigError> {
    let mut peers = BTreeMap::new();
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (id, addr) = item.split_once('=').ok_or_else(|| ConfigError::Peers {
            value: item.to_string(),
            reason: "expected ID=HOST:PORT".into(),
        })?;
        insert_peer(&mut peers, id, addr)?;
    }
    if peers.is_empty() {
        return Err(ConfigError::Peers {
            value: s.to_string(),
            reason: "no voters given".into(),
        });
    }
    Ok(peers)
}

fn parse_peer_table(table: BTreeMap<String, String>) -> Result<BTreeMap<u64, String>, ConfigError> {
    let mut peers = BTreeMap::new();
    for (id, addr) in &table {
        insert_peer(&mut peers, id, addr)?;
    }
    if peers.is_empty() {
        return Err(ConfigError::Peers {
            value: "{}".into(),
            reason: "no voters given".into(),
        });
    }
    Ok(peers)
}

fn insert_peer(peers: &mut BTreeMap<u64, String>, id: &str, addr: &str) -> Result<(), ConfigError> {
    let bad = |reason: String| ConfigError::Peers {
        value: format!("{id}={addr}"),
        reason,
    };
    let id: u64 = id
        .trim()
        .parse()
        .map_err(|e| bad(format!("member id {:?}: {e}", id.trim())))?;
    if id == 0 {
        return Err(ConfigError::ZeroId);
    }
    if id > MAX_MEMBER_ID {
        return Err(ConfigError::IdTooLarge(id));
    }
    let addr = addr.trim();
    check_host_port(addr).map_err(bad)?;
    if peers.insert(id, addr.to_string()).is_some() {
        return Err(bad(format!("member id {id} appears twice")));
    }
    Ok(())
}

/// `HOST:PORT` where HOST is a name, an IPv4 address or a bracketed IPv6 address.
fn check_host_port(addr: &str) -> Result<(), String> {
    if addr.parse::<SocketAddr>().is_ok() {
        return Ok(());
    }
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| format!("address {addr:?} has no :PORT"))?;
    port.parse::<u16>()
        .map_err(|_| format!("address {addr:?}: port {port:?} is not a number in 0..=65535"))?;
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_');
    if !host_ok {
        return Err(format!("address {addr:?}: {host:?} is not a host name"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::io::Write;

    fn args(flags: &[&str]) -> Args {
        Args::try_parse_from(std::iter::once("paddockd").chain(flags.iter().copied()))
            .expect("flags parse")
    }

    fn with_file(toml: &str, flags: &[&str]) -> Result<Config, ConfigError> {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(toml.as_bytes()).unwrap();
        let mut a = args(flags);
        a.config = Some(f.path().to_path_buf());
        Config::load(a)
    }

    #[test]
    fn defaults_with_no_args() {
        let c = Config::load(args(&[])).unwrap();
        let expected = Config::single(
            1,
            "./paddock-data",
            "127.0.0.1:7181".parse().unwrap(),
            "127.0.0.1:7182".parse().unwrap(),
            "127.0.0.1:7180".parse().unwrap(),
        );
        assert_eq!(c, expected);
        assert_eq!(c.voters(), vec![1]);
        assert_eq!(c.peers[&1], "127.0.0.1:7182");
        assert_eq!(c.tick, Duration::from_millis(100));
        assert_eq!((c.election_ticks, c.heartbeat_ticks), (10, 2));
        assert_eq!(c.min_session_timeout, Duration::from_secs(4));
        assert_eq!(c.max_session_timeout, Duration::from_secs(40));
        assert_eq!(c.max_data_bytes, 1 << 20);
        assert_eq!(c.max_peer_frame_bytes, 1 << 30);
        assert_eq!(c.log_format, LogFormat::Text);
    }

    #[test]
    fn flags_override_file_and_file_overrides_defaults() {
        let toml = r#"
            id = 2
            data_dir = "/var/lib/paddock"
            client_addr = "0.0.0.0:9181"
            admin_addr = "0.0.0.0:9180"
            peers = { 1 = "10.0.0.1:7182", 2 = "10.0.0.2:7182", 3 = "10.0.0.3:7182" }
            log_format = "json"
            tick_ms = 50
            session_tick_ms = 1000
            max_session_timeout_ms = 30000
        "#;
        let c = with_file(
            toml,
            &["--client-addr", "127.0.0.1:1234", "--tick-ms", "20"],
        )
        .unwrap();
        assert_eq!(c.id, 2);
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/paddock"));
        assert_eq!(c.client_addr, "127.0.0.1:1234".parse().unwrap());
        assert_eq!(c.admin_addr, "0.0.0.0:9180".parse().unwrap());
        // No peer_addr anywhere: this member's own entry in peers.
        assert_eq!(c.peer_addr, "10.0.0.2:7182".parse().unwrap());
        assert_eq!(c.voters(), vec![1, 2, 3]);
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.tick, Duration::from_millis(20));
        assert_eq!(c.min_session_timeout, Duration::from_secs(2));
        assert_eq!(c.max_session_timeout, Duration::from_secs(30));

        let c = with_file(toml, &["--id", "3", "--log-format", "text"]).unwrap();
        assert_eq!(c.id, 3);
        assert_eq!(c.log_format, LogFormat::Text);
        assert_eq!(c.peer_addr, "10.0.0.3:7182".parse().unwrap());
    }

    #[test]
    fn default_session_bounds_outlast_an_election() {
        // 2 x 200 ms would be shorter than an election (up to 2 x 10 x 100 ms).
        let c = Config::load(args(&["--session-tick-ms", "200"])).unwrap();
        assert_eq!(c.min_session_timeout, Duration::from_millis(2100));
        assert_eq!(c.max_session_timeout, Duration::from_millis(4000));
        let c = Config::load(args(&["--session-tick-ms", "100"])).unwrap();
        assert_eq!(c.min_session_timeout, Duration::from_millis(2100));
        assert_eq!(c.max_session_timeout, Duration::from_millis(2100));
        // Faster elections allow shorter sessions.
        let c = Config::load(args(&[
            "--session-tick-ms",
            "200",
            "--tick-ms",
            "20",
            "--min-session-timeout-ms",
            "450",
        ]))
        .unwrap();
        assert_eq!(c.min_session_timeout, Duration::from_millis(450));
    }

    #[test]
    fn tls_files_come_whole_from_flags_or_file() {
        let c = with_file(
            r#"tls_cert = "c.pem"
tls_key = "k.pem"
peer_tls_cert = "p.pem"
peer_tls_key = "pk.pem"
peer_tls_ca = "ca.pem""#,
            &[
                "--tls-client-ca",
                "clients.pem",
                "--admin-tls-cert",
                "a.pem",
                "--admin-tls-key",
                "ak.pem",
            ],
        )
        .unwrap();
        let client = c.tls.client.expect("client TLS");
        assert_eq!(client.cert, PathBuf::from("c.pem"));
        assert_eq!(client.ca, Some(PathBuf::from("clients.pem")));
        assert_eq!(
            c.tls.peer.expect("peer TLS").ca,
            Some(PathBuf::from("ca.pem"))
        );
        assert_eq!(c.tls.admin.expect("admin TLS").key, PathBuf::from("ak.pem"));
        assert_eq!(Config::load(args(&[])).unwrap().tls, TlsConfig::default());

        for (flags, says) in [
            (&["--tls-cert", "c.pem"][..], "tls_cert needs tls_key"),
            (&["--tls-key", "k.pem"][..], "tls_key needs tls_cert"),
            (
                &["--tls-client-ca", "ca.pem"][..],
                "tls_client_ca needs tls_cert and tls_key",
            ),
            (
                &["--peer-tls-cert", "p.pem", "--peer-tls-key", "k.pem"][..],
                "need peer_tls_ca",
            ),
            (
                &["--admin-tls-key", "k.pem"][..],
                "admin_tls_key needs admin_tls_cert",
            ),
        ] {
            let e = refused(flags);
            assert!(matches!(e, ConfigError::Tls(_)), "{flags:?}: {e}");
            assert!(e.to_string().contains(says), "{flags:?}: {e}");
        }
    }

    #[test]
    fn peers_both_forms() {
        let flag = Config::load(args(&[
            "--id",
            "1",
            "--peers",
            "1=127.0.0.1:7182, 2=node-2.example:7182,3=[::1]:7382,",
        ]))
        .unwrap();
        let table = with_file(
            r#"peers = { 1 = "127.0.0.1:7182", 2 = "node-2.example:7182", 3 = "[::1]:7382" }"#,
            &[],
        )
        .unwrap();
        let string = with_file(
            r#"peers = "1=127.0.0.1:7182,2=node-2.example:7182,3=[::1]:7382""#,
            &[],
        )
        .unwrap();
        assert_eq!(flag.peers, table.peers);
        assert_eq!(flag.peers, string.peers);
        assert_eq!(flag.peers[&2], "node-2.example:7182");
        assert_eq!(flag.voters(), vec![1, 2, 3]);
        // The flag replaces the file's peers wholesale.
        let c = with_file(
            r#"peers = "1=a:1,2=b:2,3=c:3""#,
            &["--peers", "1=127.0.0.1:7182"],
        )
        .unwrap();
        assert_eq!(c.voters(), vec![1]);
        // A host name as own entry: the listener falls back to the default bind address.
        let c = Config::load(args(&[
            "--id",
            "2",
            "--peers",
            "1=a:7182,2=b:7182,3=c:7182",
        ]))
        .unwrap();
        assert_eq!(c.peer_addr, "127.0.0.1:7182".parse().unwrap());
        let c = Config::load(args(&[
            "--peers",
            "1=127.0.0.1:7182",
            "--peer-addr",
            "0.0.0.0:7182",
        ]))
        .unwrap();
        assert_eq!(c.peer_addr, "0.0.0.0:7182".parse().unwrap());
        assert_eq!(c.peers[&1], "127.0.0.1:7182");
    }

    #[track_caller]
    fn refused(flags: &[&str]) -> ConfigError {
        let e = Config::load(args(flags)).expect_err("config should be refused");
        assert!(!e.to_string().is_empty());
        e
    }

    #[test]
    fn validation_errors() {
        assert!(matches!(refused(&["--id", "0"]), ConfigError::ZeroId));
        assert!(matches!(
            refused(&["--peers", "0=a:1,1=b:2"]),
            ConfigError::ZeroId
        ));
        let e = refused(&["--id", "4", "--peers", "1=a:1,2=b:2,3=c:3"]);
        assert!(matches!(e, ConfigError::NotAVoter { id: 4, .. }), "{e}");
        assert!(e.to_string().contains("[1, 2, 3]"), "{e}");
        let e = refused(&["--peers", "1=a:1,2=b:2,3=c:3,4=d:4,5=e:5,6=f:6,7=g:7,8=h:8"]);
        assert!(matches!(e, ConfigError::TooManyVoters(8)));
        assert!(matches!(
            refused(&["--id", "256"]),
            ConfigError::IdTooLarge(256)
        ));
        for bad in [
            "1=a:1,1=b:2",
            "1",
            "x=a:1",
            "1=a",
            "1=a:port",
            "1=a b:1",
            "",
        ] {
            let e = refused(&["--peers", bad]);
            assert!(matches!(e, ConfigError::Peers { .. }), "{bad}: {e}");
        }
        let e = refused(&["--client-addr", "localhost:7181"]);
        assert!(
            matches!(
                e,
                ConfigError::Address {
                    key: "client_addr",
                    ..
                }
            ),
            "{e}"
        );
        assert!(matches!(
            refused(&["--admin-addr", "127.0.0.1"]),
            ConfigError::Address {
                key: "admin_addr",
                ..
            }
        ));
        assert!(matches!(
            refused(&["--peer-addr", "x"]),
            ConfigError::Address {
                key: "peer_addr",
                ..
            }
        ));
        let e = refused(&["--election-ticks", "2", "--heartbeat-ticks", "2"]);
        assert!(matches!(e, ConfigError::Ticks(_)), "{e}");
        assert!(matches!(
            refused(&["--heartbeat-ticks", "0"]),
            ConfigError::Ticks(_)
        ));
        assert!(matches!(
            refused(&["--tick-ms", "0"]),
            ConfigError::Ticks(_)
        ));
        let e = refused(&[
            "--min-session-timeout-ms",
            "5000",
            "--max-session-timeout-ms",
            "4000",
        ]);
        assert!(matches!(e, ConfigError::SessionTimeouts(_)), "{e}");
        assert!(matches!(
            refused(&["--min-session-timeout-ms", "0"]),
            ConfigError::SessionTimeouts(_)
        ));
        // Not longer than an election (100 ms x 10 ticks, randomised up to twice that).
        let e = refused(&["--min-session-timeout-ms", "2000"]);
        assert!(
            matches!(&e, ConfigError::SessionTimeouts(m) if m.contains("longest election timeout (2000 ms")),
            "{e}"
        );
        let e = refused(&["--election-ticks", "30", "--min-session-timeout-ms", "4000"]);
        assert!(matches!(e, ConfigError::SessionTimeouts(_)), "{e}");
        // A small session tick moves the default bounds; an explicit max below the default min
        // is caught.
        assert!(matches!(
            refused(&["--max-session-timeout-ms", "1000"]),
            ConfigError::SessionTimeouts(_)
        ));
        assert!(matches!(
            refused(&["--max-data-bytes", "0"]),
            ConfigError::Limit {
                key: "max_data_bytes",
                ..
            }
        ));
        assert!(matches!(
            refused(&["--max-peer-frame-bytes", "1024"]),
            ConfigError::Limit {
                key: "max_peer_frame_bytes",
                ..
            }
        ));
    }

    #[test]
    fn file_errors() {
        let e = with_file("id = 1\ntick = 5\n", &[]).unwrap_err();
        assert!(matches!(e, ConfigError::Parse { .. }), "{e}");
        assert!(e.to_string().contains("tick"), "{e}");
        let e = with_file("id = \"one\"\n", &[]).unwrap_err();
        assert!(matches!(e, ConfigError::Parse { .. }), "{e}");
        let e = with_file("log_format = \"xml\"\n", &[]).unwrap_err();
        assert!(matches!(e, ConfigError::Parse { .. }), "{e}");
        let e = with_file("peers = { one = \"a:1\" }\n", &[]).unwrap_err();
        assert!(matches!(e, ConfigError::Peers { .. }), "{e}");
        let mut a = args(&[]);
        a.config = Some(PathBuf::from("/nonexistent/paddock.toml"));
        assert!(matches!(
            Config::load(a).unwrap_err(),
            ConfigError::Read { .. }
        ));
    }

    #[test]
    fn flag_definitions_are_consistent() {
        use clap::CommandFactory;
        Args::command().debug_assert();
    }

    #[test]
    fn bad_flag_values_are_clap_errors() {
        let parse =
            |f: &[&str]| Args::try_parse_from(std::iter::once("paddockd").chain(f.iter().copied()));
        assert!(parse(&["--log-format", "xml"]).is_err());
        assert!(parse(&["--id", "-1"]).is_err());
        assert!(parse(&["--bogus"]).is_err());
    }

    #[test]
    fn session_timeout_negotiation() {
        let c = Config::load(args(&[])).unwrap();
        assert_eq!(
            c.negotiate_session_timeout(Duration::from_millis(10)),
            c.min_session_timeout
        );
        assert_eq!(
            c.negotiate_session_timeout(Duration::from_secs(3600)),
            c.max_session_timeout
        );
        assert_eq!(
            c.negotiate_session_timeout(Duration::from_secs(10)),
            Duration::from_secs(10)
        );
    }
}
