//! Publishing a configuration value, and reading it back from another member.
//!
//! Shows the SDK as a service uses it for configuration:
//! - connecting to an ensemble from a member list;
//! - creating missing parent nodes (`NodeExists` from a concurrent creator is fine);
//! - a compare-and-set update: read the node's version, `set` with that version, and
//!   retry if someone else wrote in between (`BadVersion`);
//! - reading from a *different* member: its local tree may lag the leader, so the
//!   reader calls `sync` first to see the value just written.
//!
//! Run against a running ensemble (`paddockd` with no arguments starts one member):
//!
//! ```sh
//! cargo run -p paddock-examples --bin config_publish -- NAME VALUE [HOST:PORT,...]
//! # e.g.
//! PADDOCK_SERVERS=127.0.0.1:7181,127.0.0.1:7281 \
//!     cargo run -p paddock-examples --bin config_publish -- feature-flags 'dark_mode=on'
//! ```
//!
//! The member list comes from the third argument, else `PADDOCK_SERVERS`, else
//! `127.0.0.1:7181`. The value lands at `/config/NAME`.
use anyhow::{bail, Context};
use paddock::{Client, ClientConfig, Code, CreateMode, Error};

/// Parent of every published value.
const CONFIG_ROOT: &str = "/config";
/// Compare-and-set attempts before giving up on a hotly contended key.
const CAS_ATTEMPTS: usize = 5;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(name), Some(value)) = (args.next(), args.next()) else {
        bail!("usage: config_publish NAME VALUE [HOST:PORT,...]");
    };
    let servers: Vec<String> = args
        .next()
        .or_else(|| std::env::var("PADDOCK_SERVERS").ok())
        .unwrap_or_else(|| "127.0.0.1:7181".into())
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let path = format!("{CONFIG_ROOT}/{name}");

    // The writer starts on the first member, the reader on the second (if any).
    let writer = Client::connect_with(ClientConfig::new(servers.clone()).in_order(true))
        .await
        .context("connecting the writer")?;
    let version = publish(&writer, &path, value.as_bytes()).await?;
    println!(
        "published {path} = {value:?} (version {version}) via member {}",
        writer.server_id()
    );

    let mut others = servers;
    others.rotate_left(1);
    let reader = Client::connect_with(ClientConfig::new(others).in_order(true))
        .await
        .context("connecting the reader")?;
    // Without sync, a lagging member could still answer with the previous value.
    reader.sync(&path).await?;
    let (data, stat) = reader.get(&path).await?;
    println!(
        "read back {path} = {:?} (version {}) via member {}",
        String::from_utf8_lossy(&data),
        stat.version,
        reader.server_id()
    );

    writer.close().await?;
    reader.close().await?;
    Ok(())
}

/// Creates or updates `path` with `value`; returns the node's new data version.
async fn publish(client: &Client, path: &str, value: &[u8]) -> anyhow::Result<i32> {
    ignore_exists(
        client
            .create(CONFIG_ROOT, b"", CreateMode::Persistent)
            .await,
    )?;
    for _ in 0..CAS_ATTEMPTS {
        let result = match client.exists(path).await? {
            Some(stat) => client
                .set(path, value, Some(stat.version))
                .await
                .map(|s| s.version),
            None => client
                .create_with_stat(path, value, CreateMode::Persistent)
                .await
                .map(|(_, s)| s.version),
        };
        match result {
            Ok(version) => return Ok(version),
            // Someone else created or changed it between our read and our write: retry.
            Err(e) if matches!(e.code(), Code::BadVersion | Code::NodeExists | Code::NoNode) => {}
            Err(e) => return Err(e.into()),
        }
    }
    bail!("{path}: gave up after {CAS_ATTEMPTS} concurrent updates")
}

/// Treats `NodeExists` as success (for creating shared parents).
fn ignore_exists<T>(result: Result<T, Error>) -> Result<(), Error> {
    match result {
        Ok(_) => Ok(()),
        Err(e) if e.code() == Code::NodeExists => Ok(()),
        Err(e) => Err(e),
    }
}
