//! A member's admin endpoint, as the harness reads it: `/status` and `/health` over a
//! plain HTTP/1.0 GET with a deadline (a paused member never answers).
use std::time::Duration;

use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest admin response the harness reads.
const MAX_BODY: usize = 4 << 20;

/// The fields of `/status` the harness uses.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Status {
    /// Member id.
    pub id: u64,
    /// `leader`, `follower`, `candidate`, `pre-candidate`.
    pub role: String,
    /// The leader this member knows (0: none).
    pub leader_id: u64,
    /// Current term.
    pub term: u64,
    /// Highest index known committed.
    pub commit_index: u64,
    /// Last zxid applied.
    pub applied_index: u64,
    /// The tree's digest (hex).
    pub digest: String,
    /// Znodes in the tree.
    #[serde(default)]
    pub znode_count: u64,
    /// Live sessions.
    #[serde(default)]
    pub session_count: u64,
}

/// GET `path` from `addr` within `timeout`: (status code, body).
pub async fn get(addr: &str, path: &str, timeout: Duration) -> Option<(u16, String)> {
    tokio::time::timeout(timeout, get_inner(addr, path))
        .await
        .ok()?
}

async fn get_inner(addr: &str, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(addr).await.ok()?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > MAX_BODY {
            return None;
        }
    }
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let code = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, body.to_string()))
}

/// `/status` of the member at `addr`, or `None` if it does not answer in time.
pub async fn status(addr: &str, timeout: Duration) -> Option<Status> {
    let (code, body) = get(addr, "/status", timeout).await?;
    if code != 200 {
        return None;
    }
    serde_json::from_str(&body).ok()
}

/// Whether `/health` answers 200.
pub async fn healthy(addr: &str, timeout: Duration) -> bool {
    matches!(get(addr, "/health", timeout).await, Some((200, _)))
}
