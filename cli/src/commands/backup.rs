//! `paddock snapshot save` and `paddock snapshot status`: online backups of the whole
//! tree, and checking a saved one with the same reader `paddockd restore` uses.
use std::io::Write;
use std::path::Path;

use anyhow::Context;
use paddock_server::tree::DataTree;
use serde_json::json;

use super::Ctx;
use crate::output::emit;

/// Saves a snapshot through any member: to `FILE.part`, fsynced, checked, renamed.
pub async fn save(ctx: &Ctx, file: &Path) -> anyhow::Result<()> {
    let client = ctx.connect().await?;
    let part = file.with_extension(match file.extension() {
        Some(e) => format!("{}.part", e.to_string_lossy()),
        None => "part".into(),
    });
    let result = async {
        let mut out = tokio::fs::File::create(&part)
            .await
            .with_context(|| format!("creating {}", part.display()))?;
        let info = client.save_snapshot(&mut out).await?;
        out.sync_all()
            .await
            .with_context(|| format!("syncing {}", part.display()))?;
        drop(out);
        let bytes = std::fs::read(&part).with_context(|| format!("reading {}", part.display()))?;
        let tree = DataTree::restore(&bytes)
            .map_err(|e| anyhow::anyhow!("the snapshot received does not verify: {e}"))?;
        std::fs::rename(&part, file)
            .with_context(|| format!("renaming {} to {}", part.display(), file.display()))?;
        if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        anyhow::Ok((info, tree))
    }
    .await;
    let _ = client.close().await;
    let (info, tree) = match result {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_file(&part);
            return Err(e);
        }
    };
    emit(
        ctx.output,
        || {
            format!(
                "saved {}: zxid {} ({:#x}), {} bytes, {} znodes, {} sessions",
                file.display(),
                info.zxid,
                info.zxid,
                info.bytes,
                tree.node_count(),
                tree.session_count()
            )
        },
        || {
            json!({
                "file": file.display().to_string(),
                "zxid": info.zxid,
                "bytes": info.bytes,
                "znodes": tree.node_count(),
                "sessions": tree.session_count(),
                "digest": format!("{:016x}", tree.digest()),
            })
        },
    );
    Ok(())
}

/// Checks a saved snapshot and prints its zxid, size and contents.
pub fn status(ctx: &Ctx, file: &Path) -> anyhow::Result<()> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let tree = DataTree::restore(&bytes)
        .map_err(|e| anyhow::anyhow!("{} is not a valid snapshot: {e}", file.display()))?;
    emit(
        ctx.output,
        || {
            format!(
                "{}: valid (checksum, structure and digest verified)\nzxid      {} ({:#x})\nbytes     {}\nznodes    {}\nsessions  {}\ndigest    {:016x}",
                file.display(),
                tree.applied_zxid(),
                tree.applied_zxid(),
                bytes.len(),
                tree.node_count(),
                tree.session_count(),
                tree.digest()
            )
        },
        || {
            json!({
                "file": file.display().to_string(),
                "valid": true,
                "zxid": tree.applied_zxid(),
                "bytes": bytes.len(),
                "znodes": tree.node_count(),
                "sessions": tree.session_count(),
                "digest": format!("{:016x}", tree.digest()),
            })
        },
    );
    let _ = std::io::stdout().flush();
    Ok(())
}
