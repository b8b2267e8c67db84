//! `paddock delete`: deletes a znode, or with `--recursive` its whole subtree
//! (children first). Quiet in text mode; JSON mode lists what was deleted.
use paddock::Client;
use serde_json::json;

use super::{tree, Ctx};
use crate::output::emit;

/// Deletes `path` (and its descendants when `recursive`).
pub async fn run(
    ctx: &Ctx,
    client: &Client,
    path: &str,
    version: Option<i32>,
    recursive: bool,
) -> anyhow::Result<()> {
    let deleted = if recursive {
        tree::delete_tree(client, path, version).await?
    } else {
        client.delete(path, version).await?;
        vec![path.to_string()]
    };
    emit(
        ctx.output,
        String::new,
        || json!({ "path": path, "deleted": deleted }),
    );
    Ok(())
}
