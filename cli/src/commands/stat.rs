//! `paddock stat`: prints a znode's stat as zkCli does (or as a JSON object).
use paddock::Client;
use serde_json::json;

use super::Ctx;
use crate::output::{emit, stat_json, stat_text};

/// Prints the stat of `path`; `NoNode` if it does not exist.
pub async fn run(ctx: &Ctx, client: &Client, path: &str) -> anyhow::Result<()> {
    let stat = client
        .exists(path)
        .await?
        .ok_or_else(|| paddock::Error::Server {
            code: paddock::Code::NoNode,
            message: path.to_string(),
        })?;
    emit(
        ctx.output,
        || stat_text(&stat),
        || json!({ "path": path, "stat": stat_json(&stat) }),
    );
    Ok(())
}
