//! `paddock sync`: waits until the connected member has applied everything the
//! leader had committed (ZooKeeper's `sync`). Quiet in text mode.
use paddock::Client;
use serde_json::json;

use super::Ctx;
use crate::output::emit;

/// Syncs the connected member.
pub async fn run(ctx: &Ctx, client: &Client, path: &str) -> anyhow::Result<()> {
    client.sync(path).await?;
    emit(
        ctx.output,
        String::new,
        || json!({ "path": path, "synced": true, "last_zxid": client.last_zxid() }),
    );
    Ok(())
}
