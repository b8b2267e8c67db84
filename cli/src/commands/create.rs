//! `paddock create`: creates one znode (any create mode) and prints the created path.
use paddock::{Client, Op, OpResult};
use serde_json::json;

use super::Ctx;
use crate::args::CreateArgs;
use crate::output::{emit, stat_json};

/// Creates the node described by `args`.
pub async fn run(ctx: &Ctx, client: &Client, args: &CreateArgs) -> anyhow::Result<()> {
    let (mode, ttl) = args.mode();
    let data = args.data.as_bytes();
    let (path, stat) = match (&args.acl, ttl) {
        (Some(acl), _) => {
            let acl = paddock::acl::parse_acl(acl)
                .map_err(|e| crate::UsageError(format!("--acl: {e}")))?;
            // One create with every option (mode, TTL, ACL) is a multi of one.
            let mut op = Op::create(&args.path, data).mode(mode).acl(acl);
            if let Some(ttl) = ttl {
                op = op.ttl(ttl);
            }
            match client.multi(&[op]).await?.pop() {
                Some(OpResult::Create { path, stat }) => (path, stat),
                other => anyhow::bail!("unexpected answer to a create: {other:?}"),
            }
        }
        (None, Some(ttl)) => client.create_ttl(&args.path, data, mode, ttl).await?,
        (None, None) => client.create_with_stat(&args.path, data, mode).await?,
    };
    emit(
        ctx.output,
        || path.clone(),
        || json!({ "path": path, "stat": stat_json(&stat) }),
    );
    if args.hold {
        hold(client).await?;
    }
    Ok(())
}

/// Keeps the session alive (the SDK pings) until SIGINT/SIGTERM; fails if the
/// session expires or is closed meanwhile.
async fn hold(client: &Client) -> anyhow::Result<()> {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let mut states = client.state_changes();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = term.recv() => return Ok(()),
            changed = states.changed() => {
                if changed.is_err() || states.borrow().is_terminal() {
                    anyhow::bail!("session ended while holding: {:?}", *states.borrow());
                }
            }
        }
    }
}
