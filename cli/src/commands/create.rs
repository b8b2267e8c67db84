//! `paddock create`: creates one znode (any create mode) and prints the created path.
use paddock::Client;
use serde_json::json;

use super::Ctx;
use crate::args::CreateArgs;
use crate::output::{emit, stat_json};

/// Creates the node described by `args`.
pub async fn run(ctx: &Ctx, client: &Client, args: &CreateArgs) -> anyhow::Result<()> {
    let (mode, ttl) = args.mode();
    let (path, stat) = client
        .create_with_stat(&args.path, args.data.as_bytes(), mode, ttl)
        .await?;
    emit(
        ctx.output,
        || path.clone(),
        || json!({ "path": path, "stat": stat_json(&stat) }),
    );
    Ok(())
}
