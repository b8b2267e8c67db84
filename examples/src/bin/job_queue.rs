//! A work queue: producers put jobs, consumers take them in order, each job exactly
//! once to exactly one consumer (consumers take turns, so an arriving job wakes one of
//! them, not all).
//!
//! ```sh
//! cargo run -p paddock-examples --bin job_queue -- produce 10 [HOST:PORT,...]
//! cargo run -p paddock-examples --bin job_queue -- consume [HOST:PORT,...]   # until idle 2 s
//! ```
use std::time::Duration;

use anyhow::{bail, Context};
use paddock::recipes::DistributedQueue;
use paddock::Client;

const QUEUE: &str = "/queues/jobs";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let servers = |i: usize| {
        args.get(i)
            .cloned()
            .or_else(|| std::env::var("PADDOCK_SERVERS").ok())
            .unwrap_or_else(|| "127.0.0.1:7181".into())
    };
    match args.first().map(String::as_str) {
        Some("produce") => {
            let n: usize = args
                .get(1)
                .context("usage: job_queue produce N [SERVERS]")?
                .parse()
                .context("N must be a number")?;
            let client = Client::connect(&servers(2)).await.context("connecting")?;
            let queue = DistributedQueue::new(&client, QUEUE)?;
            for i in 0..n {
                queue.put(format!("job {i}").as_bytes()).await?;
            }
            println!("put {n} jobs; {} waiting", queue.len().await?);
            client.close().await?;
        }
        Some("consume") => {
            let client = Client::connect(&servers(1)).await.context("connecting")?;
            let queue = DistributedQueue::new(&client, QUEUE)?;
            let mut done = 0;
            while let Some(job) = queue.try_take(Duration::from_secs(2)).await? {
                println!("took {}", String::from_utf8_lossy(&job));
                done += 1;
            }
            println!("idle after {done} jobs");
            client.close().await?;
        }
        _ => bail!("usage: job_queue produce N [SERVERS] | consume [SERVERS]"),
    }
    Ok(())
}
