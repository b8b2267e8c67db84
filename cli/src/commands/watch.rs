//! `paddock watch PATH [--recursive] [--count N]`: sets a persistent watch (recursive
//! with `--recursive`) and prints one line per event as it arrives, flushing stdout
//! after each, so scripts can follow it live.
//!
//! - Text: `TYPE PATH ZXID`, e.g. `NodeDataChanged /a/b 0x1f` (the SDK's event kind
//!   names: NodeCreated, NodeDeleted, NodeDataChanged, NodeChildrenChanged, ...; zxid
//!   in hex).
//! - JSON: one compact object per line, `{"type":"NodeDataChanged","path":"/a/b","zxid":31}`.
//!
//! Nothing else goes to stdout; once the watch is set, `watching PATH` is printed on
//! stderr. Events missed while the client reconnected are printed once it is back.
//! Exits 0 after `--count` events, or on SIGINT/SIGTERM (or when stdout is closed by
//! its reader); exits 1 if the session expires or the watch ends otherwise, including
//! after a `ResyncNeeded` line (missed events could not be replayed).
use futures::StreamExt;
use paddock::{Client, State, WatchedEvent};
use serde_json::json;
use tokio::signal::unix::{signal, SignalKind};

use super::Ctx;
use crate::args::{OutputFormat, WatchArgs};
use crate::output::{hex, print_line};

/// Watches `args.path` until the count is reached, a signal arrives, or the session ends.
pub async fn run(ctx: &Ctx, client: &Client, args: &WatchArgs) -> anyhow::Result<()> {
    // Handlers first: an interrupt right after the "watching" note is a clean stop.
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut states = client.state_changes();
    let mut events = client.add_watch(&args.path, args.recursive).await?;
    eprintln!(
        "watching {}{}",
        args.path,
        if args.recursive { " (recursive)" } else { "" }
    );
    let mut seen = 0u64;
    loop {
        tokio::select! {
            // Events first, so those delivered before the session ended are printed.
            biased;
            event = events.next() => match event {
                Some(Err(paddock::Error::ResyncNeeded { zxid })) => {
                    return Err(anyhow::anyhow!(
                        "events on {} up to zxid {zxid:#x} were missed while disconnected and \
                         cannot be replayed (resync needed): read the state again and watch anew",
                        args.path
                    ));
                }
                Some(Err(e)) if e.code() == paddock::Code::NoWatcher => return Ok(()),
                Some(Err(_)) => return Err(ended(&args.path, client.state())),
                Some(Ok(event)) => {
                    if !print_line(&event_line(ctx.output, &event))? {
                        return Ok(());
                    }
                    seen += 1;
                    if args.count.is_some_and(|n| seen >= n) {
                        return Ok(());
                    }
                }
                None => return Err(ended(&args.path, client.state())),
            },
            _ = interrupt.recv() => return Ok(()),
            _ = terminate.recv() => return Ok(()),
            changed = states.changed() => {
                let state = *states.borrow();
                if changed.is_err() || state.is_terminal() {
                    return Err(ended(&args.path, state));
                }
            }
        }
    }
}

/// One output line (without the newline) for an event.
pub fn event_line(format: OutputFormat, event: &WatchedEvent) -> String {
    let kind = format!("{:?}", event.kind);
    match format {
        OutputFormat::Text => format!("{kind} {} {}", event.path, hex(event.zxid)),
        OutputFormat::Json => {
            json!({ "type": kind, "path": event.path, "zxid": event.zxid }).to_string()
        }
    }
}

/// The error for a watch that stopped delivering events.
fn ended(path: &str, state: State) -> anyhow::Error {
    match state {
        State::Expired => anyhow::anyhow!("session expired while watching {path}"),
        State::Closed => anyhow::anyhow!("session closed while watching {path}"),
        _ => anyhow::anyhow!("the watch on {path} ended (it could not be re-registered)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use paddock::EventKind;
    use serde_json::Value;

    fn event(kind: EventKind, path: &str, zxid: u64) -> WatchedEvent {
        WatchedEvent {
            kind,
            path: path.into(),
            zxid,
        }
    }

    #[test]
    fn text_lines() {
        let e = event(EventKind::NodeDataChanged, "/a/b", 0x1f);
        assert_eq!(
            event_line(OutputFormat::Text, &e),
            "NodeDataChanged /a/b 0x1f"
        );
        for (kind, name) in [
            (EventKind::NodeCreated, "NodeCreated"),
            (EventKind::NodeDeleted, "NodeDeleted"),
            (EventKind::NodeChildrenChanged, "NodeChildrenChanged"),
            (EventKind::PersistentWatchRemoved, "PersistentWatchRemoved"),
        ] {
            assert_eq!(
                event_line(OutputFormat::Text, &event(kind, "/", 1)),
                format!("{name} / 0x1")
            );
        }
    }

    #[test]
    fn json_lines() {
        let line = event_line(
            OutputFormat::Json,
            &event(EventKind::NodeDataChanged, "/a/b", 31),
        );
        assert!(!line.contains('\n'));
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            v,
            json!({"type": "NodeDataChanged", "path": "/a/b", "zxid": 31})
        );
    }

    #[test]
    fn end_messages() {
        assert_eq!(
            ended("/a", State::Expired).to_string(),
            "session expired while watching /a"
        );
        assert!(ended("/a", State::Disconnected)
            .to_string()
            .contains("ended"));
    }
}
