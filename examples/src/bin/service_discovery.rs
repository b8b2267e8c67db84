//! Service discovery with a group: instances register themselves (an ephemeral member
//! holding their address) and clients follow the set of live instances.
//!
//! ```sh
//! # in one terminal: print the live instances of "web" and every change
//! cargo run -p paddock-examples --bin service_discovery -- watch [HOST:PORT,...]
//! # in others: register instances; each stays registered until Ctrl-C (or, if it is
//! # killed, until its session expires)
//! cargo run -p paddock-examples --bin service_discovery -- register web-1 10.0.0.1:8080
//! cargo run -p paddock-examples --bin service_discovery -- register web-2 10.0.0.2:8080
//! ```
use anyhow::{bail, Context};
use futures::StreamExt;
use paddock::recipes::Group;
use paddock::Client;
use tokio::signal::unix::{signal, SignalKind};

const SERVICE: &str = "/services/web";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let servers = |i: usize| {
        args.get(i)
            .cloned()
            .or_else(|| std::env::var("PADDOCK_SERVERS").ok())
            .unwrap_or_else(|| "127.0.0.1:7181".into())
    };
    let mut interrupt = signal(SignalKind::interrupt())?;
    match args.first().map(String::as_str) {
        Some("register") => {
            let (Some(name), Some(addr)) = (args.get(1), args.get(2)) else {
                bail!("usage: service_discovery register NAME ADDRESS [SERVERS]");
            };
            let client = Client::connect(&servers(3)).await.context("connecting")?;
            let group = Group::new(&client, SERVICE)?;
            let me = group.join(name, addr.as_bytes()).await?;
            println!("registered {name} at {addr}");
            interrupt.recv().await;
            me.leave().await?;
            println!("deregistered {name}");
            client.close().await?;
        }
        Some("watch") => {
            let client = Client::connect(&servers(1)).await.context("connecting")?;
            let group = Group::new(&client, SERVICE)?;
            let mut changes = Box::pin(group.watch());
            let mut known = paddock::recipes::Members::new();
            loop {
                let members = tokio::select! {
                    m = changes.next() => match m {
                        Some(m) => m?,
                        None => break,
                    },
                    _ = interrupt.recv() => break,
                };
                for (name, addr) in &members {
                    if known.get(name) != Some(addr) {
                        println!("up: {name} at {}", String::from_utf8_lossy(addr));
                    }
                }
                for name in known.keys().filter(|n| !members.contains_key(*n)) {
                    println!("down: {name}");
                }
                println!("live instances: {}", members.len());
                known = members;
            }
            client.close().await?;
        }
        _ => bail!("usage: service_discovery register NAME ADDRESS [SERVERS] | watch [SERVERS]"),
    }
    Ok(())
}
