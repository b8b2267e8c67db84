//! Dispatch: turns a parsed [`Cli`] into calls on the SDK and printed results.
//!
//! Every znode command opens one session (`--servers`, `--session-timeout`), runs its
//! operation, prints, and closes the session (so `create --ephemeral` nodes live only
//! as long as the command; `create --hold`, `watch`, `elect` and `lock` keep theirs
//! until interrupted, or until their command ends).
//! `cluster status`, `sessions` and `bench` manage their own sessions.
//! Errors are returned, not printed: `main` prints them and picks the exit status.
mod acl;
mod admin;
mod backup;
mod cluster;
mod create;
mod delete;
mod elect;
mod get;
mod lock;
mod ls;
mod member;
mod sessions;
mod set;
mod stat;
mod sync;
pub mod tree;
mod watch;

use std::time::Duration;

use paddock::{Client, ClientConfig};

use crate::args::{Cli, ClusterCommand, Command, LeaderCommand, OutputFormat, SnapshotCommand};

/// What every command needs from the global flags.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// Member client addresses, in the order given.
    pub servers: Vec<String>,
    /// Requested session timeout.
    pub session_timeout: Duration,
    /// Text or JSON.
    pub output: OutputFormat,
    /// TLS to the members and their HTTPS admin endpoints (`--tls-ca`, ...).
    pub tls: Option<paddock::tls::ClientTls>,
    /// Identities added to every session (`--auth`), as (scheme, credentials).
    pub auths: Vec<(String, Vec<u8>)>,
    /// The TLS and `--auth` flags as given, for child `paddock` processes.
    pub connection_flags: Vec<String>,
}

impl Ctx {
    /// The context described by the global flags (TLS files are read here).
    pub fn from_cli(cli: &Cli) -> anyhow::Result<Ctx> {
        Ok(Ctx {
            servers: cli.server_list(),
            session_timeout: cli.session_timeout(),
            output: cli.output,
            tls: cli.tls()?,
            auths: cli.auths()?,
            connection_flags: cli.connection_flags(),
        })
    }

    /// Client settings for the whole member list.
    pub fn config(&self) -> ClientConfig {
        self.config_for(self.servers.clone())
    }

    /// Client settings for `servers` with the global session timeout and TLS.
    pub fn config_for(&self, servers: Vec<String>) -> ClientConfig {
        with_tls(
            ClientConfig::new(servers).session_timeout(self.session_timeout),
            self.tls.as_ref(),
        )
    }

    /// Opens a session with any member and adds the `--auth` identities to it.
    pub async fn connect(&self) -> paddock::Result<Client> {
        let client = Client::connect_with(self.config()).await?;
        for (scheme, auth) in &self.auths {
            if let Err(e) = client.add_auth(scheme, auth).await {
                let _ = client.close().await;
                return Err(e);
            }
        }
        Ok(client)
    }
}

/// `config` speaking TLS when `tls` is set.
pub fn with_tls(config: ClientConfig, tls: Option<&paddock::tls::ClientTls>) -> ClientConfig {
    match tls {
        Some(t) => config.tls(t.clone()),
        None => config,
    }
}

/// Runs one parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let ctx = Ctx::from_cli(&cli)?;
    if ctx.servers.is_empty() {
        return Err(crate::UsageError("--servers: no server addresses given".into()).into());
    }
    let command = match cli.command {
        Command::Cluster(ClusterCommand::Status { admin }) => {
            return cluster::status(&ctx, admin.as_deref()).await
        }
        Command::Sessions { admin } => return sessions::run(&ctx, admin.as_deref()).await,
        Command::Bench(args) => return crate::bench::run(&ctx, &args).await,
        Command::Digest { credentials } => return acl::digest(&ctx, &credentials),
        Command::Snapshot(SnapshotCommand::Status { file }) => return backup::status(&ctx, &file),
        Command::Snapshot(SnapshotCommand::Save { file }) => {
            return backup::save(&ctx, &file).await
        }
        other => other,
    };
    let client = ctx.connect().await?;
    let result = match command {
        Command::Create(args) => create::run(&ctx, &client, &args).await,
        Command::Get { path } => get::run(&ctx, &client, &path).await,
        Command::Set {
            path,
            data,
            version,
        } => set::run(&ctx, &client, &path, &data, version).await,
        Command::Delete {
            path,
            version,
            recursive,
        } => delete::run(&ctx, &client, &path, version, recursive).await,
        Command::Ls { path, recursive } => ls::run(&ctx, &client, &path, recursive).await,
        Command::Stat { path } => stat::run(&ctx, &client, &path).await,
        Command::Getacl { path } => acl::get(&ctx, &client, &path).await,
        Command::Leader(LeaderCommand::Transfer { id }) => client
            .transfer_leader(id)
            .await
            .map_err(Into::into)
            .map(|()| {
                crate::output::emit(
                    ctx.output,
                    || format!("member {id} leads"),
                    || serde_json::json!({ "leader": id }),
                )
            }),
        Command::Member(cmd) => member::run(&ctx, &client, cmd).await,
        Command::Setacl { path, acl, version } => {
            acl::set(&ctx, &client, &path, &acl, version).await
        }
        Command::Sync { path } => sync::run(&ctx, &client, &path).await,
        Command::Watch(args) => watch::run(&ctx, &client, &args).await,
        Command::Lock(args) => lock::run(&client, &args).await,
        Command::Elect(args) => elect::run(&ctx, &client, &args).await,
        Command::Cluster(_)
        | Command::Sessions { .. }
        | Command::Bench(_)
        | Command::Digest { .. }
        | Command::Snapshot(_) => {
            unreachable!("handled above")
        }
    };
    // The operation's outcome is what counts; a failed close only loses the session early.
    let _ = client.close().await;
    result
}
