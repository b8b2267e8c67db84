//! `paddock ls`: a node's children (names, sorted), or with `--recursive` the full
//! paths of all its descendants, sorted in tree order. One per line in text mode.
//!
//! Ephemeral nodes are marked with their owner session (the `id` `paddock sessions`
//! shows): text `worker-1  ephemeral owner=0x1a2b` (other nodes: just the name); JSON
//! keeps `children` (or `descendants`) as the plain list and adds `ephemeral_owners`,
//! an object from name (full path with `--recursive`) to owner session id as a
//! `0x`-hex string, holding only the ephemeral nodes. The owners come from one
//! `exists` per listed node, issued concurrently.
use std::collections::BTreeMap;

use futures::{stream, StreamExt};
use paddock::{Client, Code};
use serde_json::{json, Value};

use super::{tree, Ctx};
use crate::output::{emit, hex};

/// Lists `path`.
pub async fn run(ctx: &Ctx, client: &Client, path: &str, recursive: bool) -> anyhow::Result<()> {
    let (names, paths) = if recursive {
        let all = tree::descendants(client, path).await?;
        (all.clone(), all)
    } else {
        let children = client.children(path).await?;
        let paths = children.iter().map(|c| tree::join(path, c)).collect();
        (children, paths)
    };
    let owners = ephemeral_owners(client, &paths).await?;
    let key = if recursive { "descendants" } else { "children" };
    emit(
        ctx.output,
        || render_text(&names, &owners),
        || render_json(path, key, &names, &owners),
    );
    Ok(())
}

/// The `ephemeralOwner` of each path (0 for other nodes and for nodes deleted
/// meanwhile), in the same order; the requests are in flight concurrently.
pub async fn ephemeral_owners(client: &Client, paths: &[String]) -> paddock::Result<Vec<u64>> {
    let stats: Vec<paddock::Result<Option<paddock::Stat>>> = stream::iter(paths)
        .map(|p| client.exists(p))
        .buffered(tree::CONCURRENCY)
        .collect()
        .await;
    stats
        .into_iter()
        .map(|r| match r {
            Ok(stat) => Ok(stat.map_or(0, |s| s.ephemeral_owner)),
            Err(e) if e.code() == Code::NoNode => Ok(0),
            Err(e) => Err(e),
        })
        .collect()
}

/// One line per entry; ephemeral ones annotated with their owner.
pub fn render_text(names: &[String], owners: &[u64]) -> String {
    names
        .iter()
        .zip(owners)
        .map(|(name, &owner)| {
            if owner == 0 {
                format!("{name}\n")
            } else {
                format!("{name}  ephemeral owner={}\n", hex(owner))
            }
        })
        .collect()
}

/// `{path, <key>: [names], ephemeral_owners: {name: "0x.."}}`.
pub fn render_json(path: &str, key: &str, names: &[String], owners: &[u64]) -> Value {
    let ephemeral: BTreeMap<&str, String> = names
        .iter()
        .zip(owners)
        .filter(|(_, &o)| o != 0)
        .map(|(n, &o)| (n.as_str(), hex(o)))
        .collect();
    json!({ "path": path, key: names, "ephemeral_owners": ephemeral })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        vec!["config".into(), "worker-1".into()]
    }

    #[test]
    fn text_marks_ephemerals() {
        assert_eq!(
            render_text(&names(), &[0, 0x1a2b]),
            "config\nworker-1  ephemeral owner=0x1a2b\n"
        );
        assert_eq!(render_text(&names(), &[0, 0]), "config\nworker-1\n");
        assert_eq!(render_text(&[], &[]), "");
    }

    #[test]
    fn json_owner_map() {
        let v = render_json("/svc", "children", &names(), &[0, 0x100_0000_0000_0001]);
        assert_eq!(
            v,
            json!({
                "path": "/svc",
                "children": ["config", "worker-1"],
                "ephemeral_owners": {"worker-1": "0x100000000000001"}
            })
        );
        let v = render_json("/", "descendants", &["/a".into()], &[0]);
        assert_eq!(v["descendants"], json!(["/a"]));
        assert_eq!(v["ephemeral_owners"], json!({}));
    }
}
