//! The command line as data: clap derive definitions of the global flags and every
//! subcommand. Parsing only; nothing here talks to the ensemble.
//!
//! The interface is fixed (scripts depend on it): global `--servers`, `--output`,
//! `--session-timeout`, `--tls-ca`, `--tls-cert`, `--tls-key`, `--tls-server-name`; commands `create`, `get`, `set`, `delete`, `ls`, `stat`, `sync`,
//! `watch`, `lock`, `elect`, `sessions`, `cluster status` and `bench`. Usage errors exit with status 2 (clap's default).
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use paddock::CreateMode;

/// Command line of a Paddock ensemble: read and change znodes, inspect the members,
/// generate load.
#[derive(Debug, Parser)]
#[command(name = "paddock", version, about)]
pub struct Cli {
    /// Client addresses of the ensemble's members (`host:port,...`).
    #[arg(
        long,
        global = true,
        env = "PADDOCK_SERVERS",
        default_value = "127.0.0.1:7181",
        value_name = "HOST:PORT,..."
    )]
    pub servers: String,

    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,

    /// Requested session timeout in milliseconds.
    #[arg(long, global = true, value_name = "MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub session_timeout: u64,

    /// CA certificate (PEM) to verify the members with: speaks TLS to every member, and
    /// HTTPS to admin endpoints that announce it. [default: plain TCP]
    #[arg(long, global = true, env = "PADDOCK_TLS_CA", value_name = "FILE")]
    pub tls_ca: Option<std::path::PathBuf>,

    /// Client certificate (PEM) for members that require one (mutual TLS); needs
    /// --tls-key and --tls-ca.
    #[arg(
        long,
        global = true,
        env = "PADDOCK_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    pub tls_cert: Option<std::path::PathBuf>,

    /// Private key (PEM) of --tls-cert.
    #[arg(
        long,
        global = true,
        env = "PADDOCK_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_key: Option<std::path::PathBuf>,

    /// Name to verify every member's certificate against, instead of the host part of
    /// its address.
    #[arg(
        long,
        global = true,
        env = "PADDOCK_TLS_SERVER_NAME",
        value_name = "NAME"
    )]
    pub tls_server_name: Option<String>,

    /// An identity for the session, as zkCli's addauth: `digest:USER:PASSWORD`. May be
    /// repeated.
    #[arg(
        long = "auth",
        global = true,
        env = "PADDOCK_AUTH",
        value_name = "SCHEME:CREDENTIALS"
    )]
    pub auth: Vec<String>,

    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The member list from `--servers`, split and trimmed.
    pub fn server_list(&self) -> Vec<String> {
        split_list(&self.servers)
    }

    /// The requested session timeout.
    pub fn session_timeout(&self) -> Duration {
        Duration::from_millis(self.session_timeout)
    }

    /// The TLS and `--auth` flags as given, for the `paddock` processes a command starts
    /// (the election benchmark's candidates) to connect the same way.
    pub fn connection_flags(&self) -> Vec<String> {
        let mut flags = Vec::new();
        let paths = [
            ("--tls-ca", &self.tls_ca),
            ("--tls-cert", &self.tls_cert),
            ("--tls-key", &self.tls_key),
        ];
        for (flag, value) in paths {
            if let Some(p) = value {
                flags.extend([flag.to_string(), p.display().to_string()]);
            }
        }
        if let Some(name) = &self.tls_server_name {
            flags.extend(["--tls-server-name".to_string(), name.clone()]);
        }
        for a in &self.auth {
            flags.extend(["--auth".to_string(), a.clone()]);
        }
        flags
    }

    /// The `--auth` identities as (scheme, credentials): `digest:alice:secret` is
    /// ("digest", "alice:secret").
    pub fn auths(&self) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
        self.auth
            .iter()
            .map(|a| match a.split_once(':') {
                Some((scheme, creds)) if !scheme.is_empty() => {
                    Ok((scheme.to_string(), creds.as_bytes().to_vec()))
                }
                _ => Err(crate::UsageError(format!(
                    "--auth {a:?}: expected SCHEME:CREDENTIALS, e.g. digest:alice:secret"
                ))
                .into()),
            })
            .collect()
    }

    /// The TLS settings of `--tls-ca`, `--tls-cert`, `--tls-key` and
    /// `--tls-server-name`, files read; `None` without `--tls-ca`.
    pub fn tls(&self) -> anyhow::Result<Option<paddock::tls::ClientTls>> {
        let Some(ca) = &self.tls_ca else {
            if self.tls_cert.is_some() {
                return Err(crate::UsageError("--tls-cert needs --tls-ca".into()).into());
            }
            return Ok(None);
        };
        let identity = match (&self.tls_cert, &self.tls_key) {
            (Some(c), Some(k)) => Some((c.as_path(), k.as_path())),
            _ => None,
        };
        let mut tls = paddock::tls::ClientTls::from_pem_files(ca, identity)?;
        if let Some(name) = &self.tls_server_name {
            tls = tls.server_name(name);
        }
        Ok(Some(tls))
    }
}

/// Splits a comma-separated address list, dropping empty entries.
pub fn split_list(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// For people: plain values, aligned tables.
    Text,
    /// For programs: one JSON document per command.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a znode and print its path.
    Create(CreateArgs),
    /// Print a znode's data.
    Get {
        /// Path of the node.
        path: String,
    },
    /// Replace a znode's data.
    Set {
        /// Path of the node.
        path: String,
        /// New data (UTF-8 as given on the command line).
        data: String,
        /// Only write if the node's data version is N.
        #[arg(long, value_name = "N", allow_negative_numbers = true)]
        version: Option<i32>,
    },
    /// Delete a znode.
    Delete {
        /// Path of the node.
        path: String,
        /// Only delete if the node's data version is N.
        #[arg(long, value_name = "N", allow_negative_numbers = true)]
        version: Option<i32>,
        /// Delete the node's descendants first (depth-first). `/` itself is never deleted.
        #[arg(long, short = 'r')]
        recursive: bool,
    },
    /// List a znode's children (names), or with --recursive the full paths of all
    /// descendants. Ephemeral nodes are marked with their owner session.
    Ls {
        /// Path of the node.
        path: String,
        /// List every descendant, one full path per line, sorted.
        #[arg(long, short = 'R')]
        recursive: bool,
    },
    /// Print a znode's stat (ZooKeeper's field list).
    Stat {
        /// Path of the node.
        path: String,
    },
    /// Print a znode's ACL, one `scheme:id:perms` entry per line.
    Getacl {
        /// Path of the node.
        path: String,
    },
    /// Replace a znode's ACL.
    Setacl {
        /// Path of the node.
        path: String,
        /// The new ACL: `scheme:id:perms` entries separated by commas, perms from
        /// `crwda` (e.g. `world:anyone:r,digest:alice:HASH:cdrwa`, `auth::cdrwa`).
        acl: String,
        /// Only if the node's ACL version (aversion) is still N.
        #[arg(long, value_name = "N")]
        version: Option<i32>,
    },
    /// Print the digest identity of USER:PASSWORD (for ACLs and --super-digest); needs
    /// no ensemble.
    Digest {
        /// `user:password`.
        credentials: String,
    },
    /// Wait until the connected member has caught up with the leader.
    Sync {
        /// Path (as in ZooKeeper; any existing path, usually `/`).
        #[arg(default_value = "/")]
        path: String,
    },
    /// Print one line per change of a znode (or, with --recursive, of its subtree)
    /// as it happens: event type, path, zxid.
    Watch(WatchArgs),
    /// List the sessions one member knows (id, timeout, ephemeral nodes), from its
    /// admin endpoint's `GET /sessions`.
    Sessions {
        /// Admin address of the member to ask; by default the first reachable member
        /// in --servers is asked for its own.
        #[arg(long, value_name = "HOST:PORT")]
        admin: Option<String>,
    },
    /// Run a command while holding a lock (Curator's lock layout), with the grant's
    /// fencing token in PADDOCK_FENCING_TOKEN; the command gets SIGTERM (then SIGKILL
    /// after --grace) when the lock may be lost. Exits with the command's status.
    Lock(LockArgs),
    /// Campaign in a leader election and hold the leadership until interrupted, or
    /// (with --observe) print the leader and every change of it.
    Elect(ElectArgs),
    /// Inspect the ensemble's members.
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Backups: save the ensemble's tree to a file, or check a saved one.
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
    /// Leadership: move it to another member.
    #[command(subcommand)]
    Leader(LeaderCommand),
    /// Membership: list the members, add one, promote a learner, remove one.
    #[command(subcommand)]
    Member(MemberCommand),
    /// Closed-loop load generator.
    Bench(BenchArgs),
}

/// `paddock create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Append a 10-digit sequence number from the parent to the name.
    #[arg(long, short = 's')]
    pub sequential: bool,
    /// Delete the node when this command's session ends.
    #[arg(long, short = 'e', conflicts_with_all = ["container", "ttl"])]
    pub ephemeral: bool,
    /// Container node: deleted by the ensemble once its last child is gone.
    #[arg(long, short = 'c', conflicts_with_all = ["sequential", "ttl"])]
    pub container: bool,
    /// Persistent node deleted after MS milliseconds without changes or children.
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(i64).range(1..))]
    pub ttl: Option<i64>,
    /// Keep the session (and so an ephemeral node) alive until this process is
    /// interrupted (SIGINT/SIGTERM); exits 1 if the session expires meanwhile.
    #[arg(long)]
    pub hold: bool,
    /// Path of the node (for --sequential, the prefix).
    pub path: String,
    /// Initial data.
    #[arg(default_value = "")]
    pub data: String,
    /// The node's ACL: `scheme:id:perms` entries separated by commas, perms from
    /// `crwda` (e.g. `world:anyone:r,auth::cdrwa`). [default: world:anyone:cdrwa]
    #[arg(long, value_name = "ACL")]
    pub acl: Option<String>,
}

impl CreateArgs {
    /// The SDK create mode and TTL (0 unless a TTL mode) these flags ask for.
    pub fn mode(&self) -> (CreateMode, Option<std::time::Duration>) {
        let mode = match (
            self.sequential,
            self.ephemeral,
            self.container,
            self.ttl.is_some(),
        ) {
            (_, _, _, true) if self.sequential => CreateMode::PersistentSequentialWithTtl,
            (_, _, _, true) => CreateMode::PersistentWithTtl,
            (_, _, true, _) => CreateMode::Container,
            (true, true, _, _) => CreateMode::EphemeralSequential,
            (false, true, _, _) => CreateMode::Ephemeral,
            (true, false, _, _) => CreateMode::PersistentSequential,
            (false, false, _, _) => CreateMode::Persistent,
        };
        // A TTL of 0 or less is passed on as zero, which the SDK refuses with a clear error.
        let ttl = self
            .ttl
            .map(|ms| std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0)));
        (mode, ttl)
    }
}

/// `paddock lock`.
#[derive(Debug, Args)]
pub struct LockArgs {
    /// Path of the lock node (created as a container if missing).
    pub path: String,
    /// Give up (exit 1) if the lock is not acquired within S seconds.
    #[arg(long, value_name = "S")]
    pub timeout: Option<f64>,
    /// Seconds between SIGTERM and SIGKILL when the command must stop.
    #[arg(long, value_name = "S", default_value_t = 5.0)]
    pub grace: f64,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// `paddock elect`.
#[derive(Debug, Args)]
pub struct ElectArgs {
    /// Path of the election node (created as a container if missing).
    pub path: String,
    /// The value to campaign with (what observers see, e.g. this worker's address).
    #[arg(required_unless_present = "observe")]
    pub value: Option<String>,
    /// Do not campaign: print the current leader and every change.
    #[arg(long, conflicts_with = "value")]
    pub observe: bool,
}

/// `paddock watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Path of the node to watch (it need not exist yet).
    pub path: String,
    /// Watch the whole subtree: creations, deletions and data changes of the node and
    /// of every node below it (no children-changed events).
    #[arg(long, short = 'R')]
    pub recursive: bool,
    /// Exit (status 0) after N events; without it, run until SIGINT/SIGTERM.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
}

/// `paddock leader ...`.
#[derive(Debug, Subcommand)]
pub enum LeaderCommand {
    /// Move leadership to member ID (a voter) and wait until it leads (for a planned
    /// restart of the leader). With a superuser configured on the members, needs --auth
    /// of the superuser.
    Transfer {
        /// The member to lead.
        id: u64,
    },
}

/// `paddock member ...`. Changes need --auth of the superuser when the members have one.
#[derive(Debug, Subcommand)]
pub enum MemberCommand {
    /// List the members: id, role (voter, learner; `*` marks the leader), peer and client
    /// addresses.
    List,
    /// Add member ID, reached by the other members at PEER_ADDR (HOST:PORT); then start
    /// it with `paddockd --id ID --join HOST:PORT` (any member's client address). Add it
    /// as a learner and promote it once it has caught up, or the quorum counts it while
    /// it is still empty.
    Add {
        /// The new member's id (not used by any member).
        id: u64,
        /// Its peer address, as the other members dial it.
        peer_addr: String,
        /// Its client address, if known now (the member announces it itself).
        #[arg(long, value_name = "HOST:PORT")]
        client_addr: Option<String>,
        /// Add it as a learner: it receives the log but does not vote.
        #[arg(long)]
        learner: bool,
    },
    /// Make learner ID a voter (refused until it has caught up with the leader). With
    /// --replace OLD, voter OLD leaves in the same joint-consensus change (to replace a
    /// dead member without changing the number of voters).
    Promote {
        /// The learner.
        id: u64,
        /// A voter to remove in the same change.
        #[arg(long, value_name = "OLD")]
        replace: Option<u64>,
    },
    /// Remove member ID (the leader hands leadership on first if it is the one); stop
    /// its process afterwards.
    Remove {
        /// The member to remove.
        id: u64,
    },
}

/// `paddock snapshot ...`.
#[derive(Debug, Subcommand)]
pub enum SnapshotCommand {
    /// Save a consistent snapshot of the whole tree, through any member, to FILE
    /// (written to FILE.part, fsynced, then renamed). With a superuser configured on the
    /// members, needs --auth of the superuser.
    Save {
        /// Where to write it.
        file: std::path::PathBuf,
    },
    /// Check a saved snapshot (checksum, structure, digest) and print what it holds.
    Status {
        /// The file.
        file: std::path::PathBuf,
    },
}

/// `paddock cluster` subcommands.
#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// One row per member from its admin endpoint's `GET /status`.
    Status {
        /// Admin addresses (`host:port,...`); by default each member in --servers is
        /// asked for its own.
        #[arg(long, value_name = "HOST:PORT,...")]
        admin: Option<String>,
    },
}

/// What each bench session does in its loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Workload {
    /// Create new unique nodes under the run's prefix.
    Create,
    /// Set random keys of the preloaded key set.
    Set,
    /// Get random keys of the preloaded key set.
    Get,
    /// 90 % get / 10 % set on the preloaded key set.
    Mixed,
    /// Session churn: open a new session on this session's member, create one
    /// ephemeral node, close the session (three replicated writes per operation).
    Churn,
    /// Every session contends for one lock (the SDK's `recipes::Lock`, Curator's
    /// layout); one operation is an acquire plus its release.
    Lock,
    /// Leader failover: `--sessions` candidate processes (`paddock elect`); each round
    /// kills the leader's process (SIGKILL) and times until the next leader is seen.
    Election,
}

impl Workload {
    /// The workload's name as given on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Create => "create",
            Workload::Set => "set",
            Workload::Get => "get",
            Workload::Mixed => "mixed",
            Workload::Churn => "churn",
            Workload::Lock => "lock",
            Workload::Election => "election",
        }
    }

    /// Whether the workload works on a preloaded key set.
    pub fn needs_keys(self) -> bool {
        !matches!(
            self,
            Workload::Create | Workload::Churn | Workload::Lock | Workload::Election
        )
    }

    /// Whether the workload reads (so `--linearizable` changes it).
    pub fn reads(self) -> bool {
        matches!(self, Workload::Get | Workload::Mixed)
    }
}

/// `paddock bench`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Operation mix.
    #[arg(long, value_enum)]
    pub workload: Workload,
    /// Concurrent sessions; session i connects to server i mod (number of servers).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub sessions: u32,
    /// Measured window in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 10.0, value_parser = positive_secs)]
    pub duration: f64,
    /// Warm-up in seconds before the window (not measured).
    #[arg(long, value_name = "SECS", default_value_t = 2.0, value_parser = non_negative_secs)]
    pub warmup: f64,
    /// Size of every written value in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 100)]
    pub value_size: usize,
    /// Reads are linearizable (Raft ReadIndex) instead of served from the local tree.
    #[arg(long)]
    pub linearizable: bool,
    /// Leave the run's nodes (under `/bench-<hex>`) in place instead of deleting them at
    /// the end (to measure a loaded ensemble's footprint, say).
    #[arg(long)]
    pub keep: bool,
    /// Size of the preloaded key set (set, get, mixed).
    #[arg(long, value_name = "K", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub keys: u64,
}

fn positive_secs(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if v.is_finite() && v > 0.0 && v <= 86_400.0 {
        Ok(v)
    } else {
        Err("must be a number of seconds > 0 (at most a day)".into())
    }
}

fn non_negative_secs(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if v.is_finite() && (0.0..=86_400.0).contains(&v) {
        Ok(v)
    } else {
        Err("must be a number of seconds >= 0 (at most a day)".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::error::ErrorKind;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Cli {
        let mut v = vec!["paddock"];
        v.extend_from_slice(args);
        Cli::try_parse_from(v).unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    fn parse_err(args: &[&str]) -> clap::Error {
        let mut v = vec!["paddock"];
        v.extend_from_slice(args);
        Cli::try_parse_from(v).expect_err("should fail")
    }

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn globals_default_and_anywhere() {
        let cli = parse(&["get", "/a"]);
        assert_eq!(cli.output, OutputFormat::Text);
        assert_eq!(cli.session_timeout, 10_000);
        // PADDOCK_SERVERS may be set in the environment running the tests.
        if std::env::var_os("PADDOCK_SERVERS").is_none() {
            assert_eq!(cli.server_list(), vec!["127.0.0.1:7181"]);
        }
        let cli = parse(&["get", "/a", "--output", "json", "--servers", "h1:1, h2:2,"]);
        assert_eq!(cli.output, OutputFormat::Json);
        assert_eq!(cli.server_list(), vec!["h1:1", "h2:2"]);
        let cli = parse(&["--session-timeout", "3000", "stat", "/a"]);
        assert_eq!(cli.session_timeout(), Duration::from_secs(3));
        assert_eq!(
            parse_err(&["--output", "xml", "get", "/a"]).kind(),
            ErrorKind::InvalidValue
        );
        assert_eq!(
            parse_err(&["--session-timeout", "0", "get", "/a"]).kind(),
            ErrorKind::ValueValidation
        );
    }

    #[test]
    fn usage_errors_exit_2() {
        let e = parse_err(&["get"]);
        assert_eq!(e.kind(), ErrorKind::MissingRequiredArgument);
        assert_eq!(e.exit_code(), 2);
        assert_eq!(parse_err(&["frobnicate"]).exit_code(), 2);
        assert_eq!(parse_err(&[]).exit_code(), 2);
    }

    fn create_mode(args: &[&str]) -> (CreateMode, i64, String, String) {
        let mut v = vec!["create"];
        v.extend_from_slice(args);
        match parse(&v).command {
            Command::Create(c) => {
                let (m, ttl) = c.mode();
                let ttl_ms = ttl.map_or(0, |d| d.as_millis() as i64);
                (m, ttl_ms, c.path, c.data)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn create_modes() {
        use CreateMode::*;
        let p = |m, t, d: &str| (m, t, "/a".to_string(), d.to_string());
        assert_eq!(create_mode(&["/a"]), p(Persistent, 0, ""));
        assert_eq!(create_mode(&["/a", "hello"]), p(Persistent, 0, "hello"));
        assert_eq!(
            create_mode(&["--sequential", "/a", "x"]),
            p(PersistentSequential, 0, "x")
        );
        assert_eq!(create_mode(&["-s", "/a"]), p(PersistentSequential, 0, ""));
        assert_eq!(create_mode(&["--ephemeral", "/a"]), p(Ephemeral, 0, ""));
        assert_eq!(
            create_mode(&["-e", "-s", "/a"]),
            p(EphemeralSequential, 0, "")
        );
        assert_eq!(create_mode(&["--container", "/a"]), p(Container, 0, ""));
        assert_eq!(
            create_mode(&["--ttl", "5000", "/a"]),
            p(PersistentWithTtl, 5000, "")
        );
        assert_eq!(
            create_mode(&["--ttl", "5000", "--sequential", "/a"]),
            p(PersistentSequentialWithTtl, 5000, "")
        );
        for bad in [
            &["create", "--ephemeral", "--container", "/a"][..],
            &["create", "--ephemeral", "--ttl", "10", "/a"],
            &["create", "--container", "--sequential", "/a"],
            &["create", "--container", "--ttl", "10", "/a"],
        ] {
            assert_eq!(
                parse_err(bad).kind(),
                ErrorKind::ArgumentConflict,
                "{bad:?}"
            );
        }
        assert_eq!(
            parse_err(&["create", "--ttl", "0", "/a"]).kind(),
            ErrorKind::ValueValidation
        );
        assert_eq!(
            parse_err(&["create"]).kind(),
            ErrorKind::MissingRequiredArgument
        );
    }

    #[test]
    fn get_set_delete() {
        assert!(matches!(parse(&["get", "/a"]).command, Command::Get { path } if path == "/a"));
        match parse(&["set", "/a", "v2", "--version", "3"]).command {
            Command::Set {
                path,
                data,
                version,
            } => {
                assert_eq!(
                    (path.as_str(), data.as_str(), version),
                    ("/a", "v2", Some(3))
                )
            }
            other => panic!("{other:?}"),
        }
        match parse(&["set", "/a", "v", "--version", "-1"]).command {
            Command::Set { version, .. } => assert_eq!(version, Some(-1)),
            other => panic!("{other:?}"),
        }
        match parse(&["set", "/a", "v"]).command {
            Command::Set { version, .. } => assert_eq!(version, None),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            parse_err(&["set", "/a"]).kind(),
            ErrorKind::MissingRequiredArgument
        );
        assert_eq!(
            parse_err(&["set", "/a", "v", "--version", "x"]).kind(),
            ErrorKind::ValueValidation
        );
        match parse(&["delete", "/a", "--recursive", "--version", "2"]).command {
            Command::Delete {
                path,
                version,
                recursive,
            } => {
                assert_eq!((path.as_str(), version, recursive), ("/a", Some(2), true))
            }
            other => panic!("{other:?}"),
        }
        match parse(&["delete", "/a"]).command {
            Command::Delete {
                version, recursive, ..
            } => assert_eq!((version, recursive), (None, false)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ls_stat_sync() {
        assert!(matches!(
            parse(&["ls", "/"]).command,
            Command::Ls {
                recursive: false,
                ..
            }
        ));
        assert!(matches!(
            parse(&["ls", "--recursive", "/a"]).command,
            Command::Ls {
                recursive: true,
                ..
            }
        ));
        assert!(matches!(
            parse(&["ls", "-R", "/a"]).command,
            Command::Ls {
                recursive: true,
                ..
            }
        ));
        assert!(matches!(parse(&["stat", "/a"]).command, Command::Stat { path } if path == "/a"));
        assert!(matches!(parse(&["sync", "/a"]).command, Command::Sync { path } if path == "/a"));
        assert!(matches!(parse(&["sync"]).command, Command::Sync { path } if path == "/"));
        assert_eq!(
            parse_err(&["stat"]).kind(),
            ErrorKind::MissingRequiredArgument
        );
    }

    #[test]
    fn cluster_status() {
        match parse(&["cluster", "status"]).command {
            Command::Cluster(ClusterCommand::Status { admin }) => assert_eq!(admin, None),
            other => panic!("{other:?}"),
        }
        match parse(&["cluster", "status", "--admin", "a:7180,b:7180"]).command {
            Command::Cluster(ClusterCommand::Status { admin }) => {
                assert_eq!(split_list(&admin.unwrap()), vec!["a:7180", "b:7180"])
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(parse_err(&["cluster"]).exit_code(), 2);
    }

    #[test]
    fn watch() {
        match parse(&["watch", "/a"]).command {
            Command::Watch(w) => {
                assert_eq!((w.path.as_str(), w.recursive, w.count), ("/a", false, None))
            }
            other => panic!("{other:?}"),
        }
        match parse(&["watch", "--recursive", "/a", "--count", "3"]).command {
            Command::Watch(w) => assert_eq!(
                (w.path.as_str(), w.recursive, w.count),
                ("/a", true, Some(3))
            ),
            other => panic!("{other:?}"),
        }
        match parse(&["--output", "json", "watch", "-R", "/"]).command {
            Command::Watch(w) => assert!(w.recursive && w.count.is_none()),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            parse_err(&["watch"]).kind(),
            ErrorKind::MissingRequiredArgument
        );
        assert_eq!(
            parse_err(&["watch", "/a", "--count", "0"]).kind(),
            ErrorKind::ValueValidation
        );
        assert_eq!(parse_err(&["watch", "/a", "--count", "-1"]).exit_code(), 2);
        assert_eq!(
            parse_err(&["watch", "/a", "--count", "x"]).kind(),
            ErrorKind::ValueValidation
        );
    }

    #[test]
    fn sessions() {
        assert!(matches!(
            parse(&["sessions"]).command,
            Command::Sessions { admin: None }
        ));
        match parse(&["sessions", "--admin", "127.0.0.1:7180"]).command {
            Command::Sessions { admin } => assert_eq!(admin.as_deref(), Some("127.0.0.1:7180")),
            other => panic!("{other:?}"),
        }
        assert_eq!(parse_err(&["sessions", "--admin"]).exit_code(), 2);
        assert_eq!(parse_err(&["sessions", "/a"]).exit_code(), 2);
    }

    #[test]
    fn bench() {
        let b = match parse(&["bench", "--workload", "get"]).command {
            Command::Bench(b) => b,
            other => panic!("{other:?}"),
        };
        assert_eq!(b.workload, Workload::Get);
        assert_eq!(
            (
                b.sessions,
                b.duration,
                b.warmup,
                b.value_size,
                b.linearizable,
                b.keys
            ),
            (16, 10.0, 2.0, 100, false, 1000)
        );
        let b = match parse(&[
            "bench",
            "--workload",
            "mixed",
            "--sessions",
            "64",
            "--duration",
            "0.5",
            "--warmup",
            "0",
            "--value-size",
            "1024",
            "--linearizable",
            "--keys",
            "10000",
        ])
        .command
        {
            Command::Bench(b) => b,
            other => panic!("{other:?}"),
        };
        assert_eq!(b.workload, Workload::Mixed);
        assert_eq!(
            (
                b.sessions,
                b.duration,
                b.warmup,
                b.value_size,
                b.linearizable,
                b.keys
            ),
            (64, 0.5, 0.0, 1024, true, 10_000)
        );
        for w in ["create", "set", "get", "mixed", "churn", "lock", "election"] {
            assert!(
                matches!(parse(&["bench", "--workload", w]).command, Command::Bench(b) if b.workload.name() == w)
            );
        }
        assert_eq!(
            parse_err(&["bench"]).kind(),
            ErrorKind::MissingRequiredArgument
        );
        assert_eq!(
            parse_err(&["bench", "--workload", "vote"]).kind(),
            ErrorKind::InvalidValue
        );
        assert_eq!(
            parse_err(&["bench", "--workload", "get", "--sessions", "0"]).kind(),
            ErrorKind::ValueValidation
        );
        assert_eq!(
            parse_err(&["bench", "--workload", "get", "--duration", "0"]).kind(),
            ErrorKind::ValueValidation
        );
        assert_eq!(
            parse_err(&["bench", "--workload", "get", "--warmup", "-1"]).exit_code(),
            2
        );
        assert_eq!(
            parse_err(&["bench", "--workload", "get", "--keys", "0"]).kind(),
            ErrorKind::ValueValidation
        );
    }
}
