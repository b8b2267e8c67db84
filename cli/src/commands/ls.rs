//! `paddock ls`: a node's children (names, sorted), or with `--recursive` the full
//! paths of all its descendants, sorted in tree order. One per line in text mode.
use paddock::Client;
use serde_json::json;

use super::{tree, Ctx};
use crate::output::emit;

/// Lists `path`.
pub async fn run(ctx: &Ctx, client: &Client, path: &str, recursive: bool) -> anyhow::Result<()> {
    if recursive {
        let all = tree::descendants(client, path).await?;
        emit(
            ctx.output,
            || lines(&all),
            || json!({ "path": path, "descendants": all }),
        );
    } else {
        let children = client.children(path).await?;
        emit(
            ctx.output,
            || lines(&children),
            || json!({ "path": path, "children": children }),
        );
    }
    Ok(())
}

fn lines(items: &[String]) -> String {
    items.iter().map(|s| format!("{s}\n")).collect()
}
