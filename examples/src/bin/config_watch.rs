//! A service's configuration kept in memory by a tree cache: it reads the whole
//! `/config` subtree once, then follows every change through one recursive watch, and
//! stays exact across reconnects (it reads everything again if it missed changes).
//! The program prints the configuration, then every change, until Ctrl-C.
//!
//! ```sh
//! cargo run -p paddock-examples --bin config_watch -- [HOST:PORT,...]
//! # elsewhere:
//! paddock create /config/feature-x on && paddock set /config/feature-x off
//! ```
use anyhow::Context;
use futures::StreamExt;
use paddock::recipes::{CacheEvent, TreeCache};
use paddock::Client;
use tokio::signal::unix::{signal, SignalKind};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let servers = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("PADDOCK_SERVERS").ok())
        .unwrap_or_else(|| "127.0.0.1:7181".into());
    let mut interrupt = signal(SignalKind::interrupt())?;
    let client = Client::connect(&servers).await.context("connecting")?;
    let (cache, mut events) = TreeCache::start(&client, "/config").await?;
    cache.initialized().await?;
    println!("configuration ({} nodes):", cache.len());
    for (path, node) in cache.snapshot() {
        println!("  {path} = {}", String::from_utf8_lossy(&node.data));
    }
    loop {
        let event = tokio::select! {
            e = events.next() => match e {
                Some(e) => e?,
                None => break,
            },
            _ = interrupt.recv() => break,
        };
        match event {
            CacheEvent::Created { path, node } | CacheEvent::Changed { path, node } => {
                println!("set {path} = {}", String::from_utf8_lossy(&node.data))
            }
            CacheEvent::Deleted { path, .. } => println!("removed {path}"),
            CacheEvent::Resynced => println!("(re-read after missing changes)"),
            CacheEvent::Initialized => {}
        }
    }
    drop(cache);
    client.close().await?;
    Ok(())
}
