//! Talking to the members' admin endpoints, shared by `cluster status` and `sessions`:
//! finding a member's admin address through a session handshake, and fetching one
//! JSON document from it.
use std::time::Duration;

use anyhow::bail;
use paddock::{Client, ClientConfig};
use serde_json::Value;

use super::{with_tls, Ctx};
use crate::http;

/// Limit for one connect + handshake while discovering admin addresses.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Session timeout requested for the discovery sessions (they live for one handshake).
const DISCOVERY_SESSION: Duration = Duration::from_secs(5);
/// Limit for one admin HTTP fetch.
const HTTP_TIMEOUT: Duration = Duration::from_secs(3);

/// The admin address of the first member in `servers` (tried in list order) that
/// accepts a session, as it announced it in the handshake. The short-lived discovery
/// session is closed before returning.
pub async fn discover_admin(ctx: &Ctx, servers: &[String]) -> Result<String, String> {
    let config = with_tls(
        ClientConfig::new(servers.iter().cloned())
            .in_order(true)
            .connect_timeout(CONNECT_TIMEOUT)
            .session_timeout(ctx.session_timeout.min(DISCOVERY_SESSION)),
        ctx.tls.as_ref(),
    );
    let client = Client::connect_with(config)
        .await
        .map_err(|e| format!("unreachable: {e}"))?;
    let admin = client.admin_addr();
    let _ = client.close().await;
    if admin.is_empty() {
        Err("member announced no admin address (use --admin)".into())
    } else {
        Ok(admin)
    }
}

/// `GET {path}` from an admin address (`https://` when it announced HTTPS), within
/// the admin fetch timeout.
pub async fn get(ctx: &Ctx, admin: &str, path: &str) -> anyhow::Result<http::Response> {
    http::get(admin, path, ctx.tls.as_ref(), HTTP_TIMEOUT).await
}

/// Fetches `GET {path}` from an admin address and decodes it as JSON.
pub async fn fetch_json(ctx: &Ctx, admin: &str, path: &str) -> anyhow::Result<Value> {
    parse_json(&get(ctx, admin, path).await?, path)
}

/// Decodes an admin response: a 200 with a JSON body (`path` names it in errors).
pub fn parse_json(resp: &http::Response, path: &str) -> anyhow::Result<Value> {
    if resp.status != 200 {
        let body = String::from_utf8_lossy(&resp.body);
        bail!("HTTP {} {} {}", resp.status, resp.reason, body.trim());
    }
    match serde_json::from_slice::<Value>(&resp.body) {
        Ok(v) => Ok(v),
        Err(e) => bail!("{path} is not JSON: {e}"),
    }
}
