//! `paddock elect PATH VALUE` and `paddock elect PATH --observe`, on the SDK's
//! [`paddock::recipes::Election`] (Curator's LeaderLatch layout).
//!
//! - Campaign: prints `elected TOKEN NODE` (JSON: `{"event":"elected","token":N,"node":..}`)
//!   once elected, then holds the leadership until SIGINT/SIGTERM (resigns, exits 0) or
//!   until it may be lost (prints why on stderr, exits 1).
//! - Observe: prints the current leader, then every change, one line each:
//!   `leader TOKEN VALUE` or `none` (JSON: `{"event":"leader","token":N,"value":..,"node":..}`
//!   or `{"event":"none"}`), until SIGINT/SIGTERM or the end of the session.
use futures::StreamExt;
use paddock::recipes::{Election, Leader, Lost};
use paddock::Client;
use serde_json::json;
use tokio::signal::unix::{signal, SignalKind};

use super::Ctx;
use crate::args::{ElectArgs, OutputFormat};
use crate::output::print_line;

/// Runs `paddock elect`.
pub async fn run(ctx: &Ctx, client: &Client, args: &ElectArgs) -> anyhow::Result<()> {
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let election = Election::new(client, &args.path)?;
    if args.observe {
        let mut changes = Box::pin(election.observe());
        loop {
            tokio::select! {
                item = changes.next() => match item {
                    Some(Ok(leader)) => {
                        if !print_line(&leader_line(ctx.output, leader.as_ref()))? {
                            return Ok(());
                        }
                    }
                    Some(Err(e)) => return Err(e.into()),
                    None => anyhow::bail!("observing {} ended", args.path),
                },
                _ = interrupt.recv() => return Ok(()),
                _ = terminate.recv() => return Ok(()),
            }
        }
    }
    let value = args.value.clone().unwrap_or_default();
    let term = tokio::select! {
        t = election.campaign(value.as_bytes()) => t?,
        _ = interrupt.recv() => return Ok(()),
        _ = terminate.recv() => return Ok(()),
    };
    let line = match ctx.output {
        OutputFormat::Text => format!("elected {} {}", term.token(), term.node()),
        OutputFormat::Json => {
            json!({"event": "elected", "token": term.token().0, "node": term.node()}).to_string()
        }
    };
    print_line(&line)?;
    tokio::select! {
        lost = term.lost() => {
            let why = match lost {
                Lost::LeaseRunningOut => "no member has vouched for the session for nearly its timeout",
                Lost::SessionEnded => "the session ended",
                Lost::NodeDeleted => "the leader's node was deleted",
            };
            anyhow::bail!("leadership of {} may be lost: {why}", args.path)
        }
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
    term.resign().await?;
    Ok(())
}

/// One output line for the leader an observer sees.
pub fn leader_line(format: OutputFormat, leader: Option<&Leader>) -> String {
    match (format, leader) {
        (OutputFormat::Text, Some(l)) => {
            format!("leader {} {}", l.token, String::from_utf8_lossy(&l.value))
        }
        (OutputFormat::Text, None) => "none".to_string(),
        (OutputFormat::Json, Some(l)) => json!({
            "event": "leader",
            "token": l.token.0,
            "value": String::from_utf8_lossy(&l.value),
            "node": l.node,
        })
        .to_string(),
        (OutputFormat::Json, None) => json!({"event": "none"}).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use paddock::recipes::FencingToken;

    #[test]
    fn leader_lines() {
        let l = Leader {
            node: "/e/_c_x-latch-0000000001".into(),
            value: b"w1:80".to_vec(),
            token: FencingToken(42),
        };
        assert_eq!(leader_line(OutputFormat::Text, Some(&l)), "leader 42 w1:80");
        assert_eq!(leader_line(OutputFormat::Text, None), "none");
        let v: serde_json::Value =
            serde_json::from_str(&leader_line(OutputFormat::Json, Some(&l))).unwrap();
        assert_eq!(v["token"], 42);
        assert_eq!(v["value"], "w1:80");
        assert_eq!(leader_line(OutputFormat::Json, None), r#"{"event":"none"}"#);
    }
}
