//! `paddock getacl`, `setacl` and `digest`: a znode's ACL in ZooKeeper's text form
//! (`scheme:id:perms`, see `paddock::acl`), and the digest identity of a user.
use paddock::acl::{digest as digest_id, format_acl, parse_acl, Acl};
use paddock::Client;
use serde_json::{json, Value};

use super::Ctx;
use crate::output::{emit, stat_json};

fn acl_json(acl: &[Acl]) -> Value {
    acl.iter()
        .map(|a| json!({ "scheme": a.id.scheme, "id": a.id.id, "perms": a.perms.to_string() }))
        .collect()
}

/// Prints the ACL of `path`, one entry per line.
pub async fn get(ctx: &Ctx, client: &Client, path: &str) -> anyhow::Result<()> {
    let (acl, stat) = client.get_acl(path).await?;
    emit(
        ctx.output,
        || acl.iter().map(|a| format!("{a}\n")).collect(),
        || json!({ "path": path, "acl": acl_json(&acl), "stat": stat_json(&stat) }),
    );
    Ok(())
}

/// Replaces the ACL of `path` with `text` (ZooKeeper's text form).
pub async fn set(
    ctx: &Ctx,
    client: &Client,
    path: &str,
    text: &str,
    version: Option<i32>,
) -> anyhow::Result<()> {
    let acl = parse_acl(text).map_err(|e| crate::UsageError(format!("ACL: {e}")))?;
    let stat = client.set_acl(path, &acl, version).await?;
    emit(
        ctx.output,
        String::new,
        || json!({ "path": path, "acl": format_acl(&acl), "stat": stat_json(&stat) }),
    );
    Ok(())
}

/// Prints `user:BASE64(SHA1(user:password))` for `user:password`.
pub fn digest(ctx: &Ctx, credentials: &str) -> anyhow::Result<()> {
    let Some((user, password)) = credentials.split_once(':').filter(|(u, _)| !u.is_empty()) else {
        return Err(crate::UsageError("digest: expected USER:PASSWORD".into()).into());
    };
    let id = digest_id(user, password);
    emit(ctx.output, || id.clone(), || json!({ "digest": id }));
    Ok(())
}
