//! A worker that does its job only while it is the elected leader.
//!
//! Start it several times (in different terminals, or on different machines): one
//! instance leads and works, printing its term's token; the others wait. Stop the
//! leader (Ctrl-C resigns at once; kill -9 frees the leadership once its session
//! expires) and another takes over with a greater token. Each instance also prints the
//! leader changes it observes. A leader stops working as soon as its leadership may be
//! lost (its session's lease runs down while it cannot reach the ensemble), then
//! campaigns again.
//!
//! ```sh
//! cargo run -p paddock-examples --bin leader_worker -- NAME [HOST:PORT,...]
//! ```
use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;
use paddock::recipes::Election;
use paddock::Client;
use tokio::signal::unix::{signal, SignalKind};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let name = args
        .next()
        .unwrap_or_else(|| format!("worker-{}", std::process::id()));
    let servers = args
        .next()
        .or_else(|| std::env::var("PADDOCK_SERVERS").ok())
        .unwrap_or_else(|| "127.0.0.1:7181".into());
    // One handler for the whole run, so that no Ctrl-C is missed between two waits.
    let mut interrupt = signal(SignalKind::interrupt())?;
    let client = Client::connect(&servers).await.context("connecting")?;
    let election = Election::new(&client, "/elections/worker")?;

    // Print every leader change, in the background.
    let mut changes = Box::pin(election.observe());
    tokio::spawn(async move {
        while let Some(change) = changes.next().await {
            match change {
                Ok(Some(l)) => println!(
                    "observed: {} leads (token {})",
                    String::from_utf8_lossy(&l.value),
                    l.token
                ),
                Ok(None) => println!("observed: nobody leads"),
                Err(e) => {
                    eprintln!("observing stopped: {e}");
                    break;
                }
            }
        }
    });

    loop {
        let term = tokio::select! {
            t = election.campaign(name.as_bytes()) => t?,
            _ = interrupt.recv() => break,
        };
        println!("{name}: elected with token {}", term.token());
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let stop = loop {
            tokio::select! {
                why = term.lost() => {
                    println!("{name}: leadership may be lost ({why:?}); stopping work");
                    break false;
                }
                _ = interrupt.recv() => break true,
                _ = tick.tick() => println!("{name}: working as leader (token {})", term.token()),
            }
        };
        // Resigning fails only if the session is gone (and the node with it).
        let _ = term.resign().await;
        if stop || client.state().is_terminal() {
            break;
        }
    }
    client.close().await?;
    Ok(())
}
