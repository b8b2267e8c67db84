//! `paddock lock PATH [--timeout S] [--grace S] -- CMD ARGS...`: runs CMD while this
//! process holds the lock at PATH (the SDK's [`paddock::recipes::Lock`], Curator's
//! layout), and exits with CMD's status.
//!
//! CMD gets the grant's fencing token in `PADDOCK_FENCING_TOKEN` and the holder's node in
//! `PADDOCK_LOCK_NODE`. When the lock may be lost (the session's lease runs down while
//! the client cannot reach a member that vouches for it, the session ended, or the node
//! was deleted), CMD is sent SIGTERM, then SIGKILL after the grace period; the same
//! happens when this process gets SIGINT or SIGTERM. The lock is released when CMD ends.
use std::process::ExitStatus;
use std::time::Duration;

use anyhow::Context;
use paddock::recipes::{Lock, Lost};
use paddock::Client;
use tokio::process::Command;
use tokio::signal::unix::{signal, SignalKind};

use crate::args::LockArgs;
use crate::ExitWith;

/// Acquires the lock, runs the command under it, and returns its exit status as an
/// [`ExitWith`] error when it is not 0.
pub async fn run(client: &Client, args: &LockArgs) -> anyhow::Result<()> {
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let lock = Lock::new(client, &args.path)?;
    let guard = tokio::select! {
        g = acquire(&lock, args.timeout) => g?,
        _ = interrupt.recv() => return Err(ExitWith(130).into()),
        _ = terminate.recv() => return Err(ExitWith(143).into()),
    };
    eprintln!(
        "paddock: holding {} (fencing token {}, node {})",
        args.path,
        guard.token(),
        guard.node()
    );
    let (program, rest) = args
        .command
        .split_first()
        .context("no command given after --")?;
    let mut child = Command::new(program)
        .args(rest)
        .env("PADDOCK_FENCING_TOKEN", guard.token().to_string())
        .env("PADDOCK_LOCK_NODE", guard.node())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot run {program}"))?;
    let grace = Duration::from_secs_f64(args.grace);
    let status = tokio::select! {
        s = child.wait() => s?,
        lost = guard.lost() => {
            eprintln!("paddock: the lock on {} may be lost ({}); stopping the command", args.path, describe(lost));
            stop(&mut child, grace).await?
        }
        _ = interrupt.recv() => stop(&mut child, grace).await?,
        _ = terminate.recv() => stop(&mut child, grace).await?,
    };
    // The command is done: hand the lock on. A release that fails means the session is
    // gone, and the node with it.
    if let Err(e) = guard.release().await {
        eprintln!("paddock: releasing {}: {e}", args.path);
    }
    match code(status) {
        0 => Ok(()),
        c => Err(ExitWith(c).into()),
    }
}

async fn acquire(lock: &Lock, timeout: Option<f64>) -> anyhow::Result<paddock::recipes::LockGuard> {
    match timeout {
        None => Ok(lock.acquire().await?),
        Some(s) => lock
            .try_acquire(Duration::from_secs_f64(s))
            .await?
            .with_context(|| format!("{}: not acquired within {s} s", lock.path())),
    }
}

fn describe(lost: Lost) -> &'static str {
    match lost {
        Lost::LeaseRunningOut => "no member has vouched for the session for nearly its timeout",
        Lost::SessionEnded => "the session ended",
        Lost::NodeDeleted => "the lock node was deleted",
    }
}

/// SIGTERM, then SIGKILL once `grace` has passed; the command's final status.
async fn stop(child: &mut tokio::process::Child, grace: Duration) -> anyhow::Result<ExitStatus> {
    if let Some(pid) = child.id() {
        // SAFETY: kill(2) with a pid this process spawned and has not reaped yet.
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGTERM);
        }
    }
    match tokio::time::timeout(grace, child.wait()).await {
        Ok(s) => Ok(s?),
        Err(_) => {
            child.start_kill()?;
            Ok(child.wait().await?)
        }
    }
}

/// The shell's convention: the exit code, or 128 + the signal that ended the process.
fn code(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1)
}
