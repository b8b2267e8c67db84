//! Whole-subtree helpers shared by `ls --recursive`, `delete --recursive` and the
//! bench's cleanup: walking a subtree and deleting it children-first.
//!
//! Both issue many requests at once on one session (the SDK pipelines them), one
//! tree level at a time, so a large subtree costs a few round trips per level rather
//! than one per node. Neither is atomic: nodes created or deleted concurrently by
//! others are tolerated (a vanished node is skipped; a node that gained a child is
//! retried), but the result is a best effort, as with ZooKeeper's `deleteall`.
use std::cmp::Ordering;

use futures::{stream, StreamExt};
use paddock::{Client, Code, Error};

/// Requests in flight at once while walking or deleting.
pub const CONCURRENCY: usize = 128;

/// How many times `delete_tree` re-walks a subtree that gained children meanwhile.
const DELETE_ROUNDS: usize = 5;

/// The path of child `name` of `parent`.
pub fn join(parent: &str, name: &str) -> String {
    if parent == "/" {
        format!("/{name}")
    } else {
        format!("{parent}/{name}")
    }
}

/// Orders paths as a depth-first walk with sorted children visits them: a node comes
/// right before its descendants (so `/a/b` sorts before `/a-c`, unlike plain strings).
pub fn tree_order(a: &str, b: &str) -> Ordering {
    a.split('/').cmp(b.split('/'))
}

/// Depth of a path: `/` is 0, `/a` is 1, `/a/b` is 2.
pub fn depth(path: &str) -> usize {
    if path == "/" {
        0
    } else {
        path.matches('/').count()
    }
}

fn is_no_node(e: &Error) -> bool {
    e.code() == Code::NoNode
}

/// Full paths of every descendant of `path` (not `path` itself), in [`tree_order`].
/// Fails with `NoNode` if `path` does not exist.
pub async fn descendants(client: &Client, path: &str) -> paddock::Result<Vec<String>> {
    let mut all = Vec::new();
    let mut level = vec![path.to_string()];
    let mut first = true;
    while !level.is_empty() {
        let results: Vec<(String, paddock::Result<Vec<String>>)> = stream::iter(level)
            .map(|p| async move {
                let r = client.children(&p).await;
                (p, r)
            })
            .buffered(CONCURRENCY)
            .collect()
            .await;
        let mut next = Vec::new();
        for (parent, r) in results {
            match r {
                Ok(children) => next.extend(children.iter().map(|c| join(&parent, c))),
                // Deleted by someone else while we walked: nothing below it either.
                Err(e) if is_no_node(&e) && !first => {}
                Err(e) => return Err(e),
            }
        }
        first = false;
        all.extend(next.iter().cloned());
        level = next;
    }
    all.sort_by(|a, b| tree_order(a, b));
    Ok(all)
}

/// Deletes `path`'s descendants deepest first, then `path` itself unless it is `/`.
/// With `version`, the node's version is checked before anything is deleted (and the
/// final delete of `path` is conditional too). Returns the paths this call deleted.
pub async fn delete_tree(
    client: &Client,
    path: &str,
    version: Option<i32>,
) -> paddock::Result<Vec<String>> {
    if let Some(v) = version {
        let stat = client.exists(path).await?.ok_or_else(|| no_node(path))?;
        if stat.version != v {
            return Err(Error::Server {
                code: Code::BadVersion,
                message: path.to_string(),
            });
        }
    }
    let mut deleted = Vec::new();
    for round in 0..DELETE_ROUNDS {
        let mut nodes = match descendants(client, path).await {
            Ok(n) => n,
            // Gone after an earlier round: someone else finished the job.
            Err(e) if is_no_node(&e) && round > 0 => return Ok(deleted),
            Err(e) => return Err(e),
        };
        // Deepest first; within a level the order does not matter.
        nodes.sort_by_key(|p| std::cmp::Reverse(depth(p)));
        let mut gained_children = false;
        let mut start = 0;
        while start < nodes.len() {
            let d = depth(&nodes[start]);
            let end = start + nodes[start..].iter().take_while(|p| depth(p) == d).count();
            let outcomes: Vec<(String, paddock::Result<()>)> = stream::iter(&nodes[start..end])
                .map(|p| async move { (p.clone(), client.delete(p, None).await) })
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
            for (p, r) in outcomes {
                match r {
                    Ok(()) => deleted.push(p),
                    Err(e) if is_no_node(&e) => {}
                    Err(e) if e.code() == Code::NotEmpty => gained_children = true,
                    Err(e) => return Err(e),
                }
            }
            start = end;
        }
        if path == "/" {
            if !gained_children {
                return Ok(deleted);
            }
            continue;
        }
        match client.delete(path, version).await {
            Ok(()) => {
                deleted.push(path.to_string());
                return Ok(deleted);
            }
            Err(e) if e.code() == Code::NotEmpty => continue,
            Err(e) if is_no_node(&e) && round > 0 => return Ok(deleted),
            Err(e) => return Err(e),
        }
    }
    Err(Error::Server {
        code: Code::NotEmpty,
        message: format!("{path}: children kept appearing during a recursive delete"),
    })
}

fn no_node(path: &str) -> Error {
    Error::Server {
        code: Code::NoNode,
        message: path.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins() {
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("/a", "b"), "/a/b");
    }

    #[test]
    fn depths() {
        assert_eq!(depth("/"), 0);
        assert_eq!(depth("/a"), 1);
        assert_eq!(depth("/a/b/c"), 3);
    }

    #[test]
    fn sorted_in_tree_order() {
        let mut v = vec!["/a-c", "/a/b/c", "/b", "/a", "/a/b", "/a/a"];
        v.sort_by(|a, b| tree_order(a, b));
        assert_eq!(v, vec!["/a", "/a/a", "/a/b", "/a/b/c", "/a-c", "/b"]);
    }
}
