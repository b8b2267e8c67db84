//! `paddockd`: parses flags and the config file, starts one member and runs it until
//! SIGTERM or SIGINT (graceful stop) or a fatal storage error (exit status 1).
//! `paddockd restore --snapshot FILE` instead seeds an empty data directory from a
//! backup and exits (status 0, or 1 with the reason).
use anyhow::Context;
use clap::Parser;
use paddock_server::config::{Args, Command, Config};
use paddock_server::logging::root_logger;
use paddock_server::node::Node;
use slog::{crit, info};

fn main() {
    // Test builds only: failpoints from the FAILPOINTS environment variable.
    #[cfg(feature = "failpoints")]
    let _failpoints = fail::FailScenario::setup();
    let args = Args::parse();
    let command = args.command.clone();
    let config = match Config::load(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("paddockd: {e}");
            std::process::exit(2);
        }
    };
    if let Some(Command::Restore { snapshot }) = command {
        match paddock_server::restore::restore(&config, &snapshot) {
            Ok(r) => {
                println!(
                    "restored member {} into {}: zxid {} ({:#x}), {} znodes, {} sessions, digest {:016x}",
                    config.id,
                    config.data_dir.display(),
                    r.zxid,
                    r.zxid,
                    r.nodes,
                    r.sessions,
                    r.digest
                );
                return;
            }
            Err(e) => {
                eprintln!("paddockd restore: {e}");
                std::process::exit(1);
            }
        }
    }
    if let Err(e) = run(config) {
        eprintln!("paddockd: {e:#}");
        std::process::exit(1);
    }
}

fn run(config: Config) -> anyhow::Result<()> {
    let log = root_logger(config.log_format, config.log_level.into())
        .new(slog::o!("member" => config.id));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("paddockd")
        .build()
        .context("starting the tokio runtime")?;
    let result = rt.block_on(async {
        let node = Node::start(config, log.clone())
            .await
            .context("starting the member")?;
        let failed = tokio::select! {
            _ = shutdown_signal() => {
                info!(log, "stopping on signal");
                false
            }
            _ = node.failed() => true,
        };
        // A member that cannot stop in time (a stuck disk, say) still exits: all it
        // acknowledged is durable already.
        match tokio::time::timeout(std::time::Duration::from_secs(15), node.shutdown()).await {
            Ok(r) => r.context("raft log failure")?,
            Err(_) => anyhow::bail!("graceful stop did not finish within 15 s"),
        }
        if failed {
            crit!(log, "the raft loop stopped unexpectedly");
            anyhow::bail!("the raft loop stopped unexpectedly");
        }
        Ok(())
    });
    // Let the async log drain flush before the process exits.
    drop(log);
    result
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
