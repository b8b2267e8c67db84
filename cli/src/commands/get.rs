//! `paddock get`: prints a znode's data (raw bytes in text mode; lossy UTF-8, length
//! and stat in JSON mode).
use paddock::Client;

use super::Ctx;
use crate::args::OutputFormat;
use crate::output::{data_json, json_string, write_data};

/// Reads and prints one node.
pub async fn run(ctx: &Ctx, client: &Client, path: &str) -> anyhow::Result<()> {
    let (data, stat) = client.get(path).await?;
    match ctx.output {
        OutputFormat::Text => write_data(&data)?,
        OutputFormat::Json => println!("{}", json_string(&data_json(path, &data, &stat))),
    }
    Ok(())
}
