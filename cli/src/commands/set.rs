//! `paddock set`: replaces a znode's data, optionally only at a given version. Quiet
//! in text mode; JSON mode prints the new stat.
use paddock::Client;
use serde_json::json;

use super::Ctx;
use crate::output::{emit, stat_json};

/// Writes `data` to `path`.
pub async fn run(
    ctx: &Ctx,
    client: &Client,
    path: &str,
    data: &str,
    version: Option<i32>,
) -> anyhow::Result<()> {
    let stat = client.set(path, data.as_bytes(), version).await?;
    emit(
        ctx.output,
        String::new,
        || json!({ "path": path, "stat": stat_json(&stat) }),
    );
    Ok(())
}
