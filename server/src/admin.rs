//! The admin HTTP endpoint: `GET /status`, `GET /metrics`, `GET /health`.
//!
//! Job: let operators, load balancers and Prometheus look at a member without speaking the
//! client protocol. The endpoint only reads: it asks an [`AdminSource`] (implemented by the
//! server, faked in tests) and never touches replicated state.
//!
//! Routes:
//! - `GET /status`: [`Status`] as JSON.
//! - `GET /metrics`: Prometheus text format, `text/plain; version=0.0.4`.
//! - `GET /health`: 200 `ok`, or 503 with the reason from [`AdminSource::healthy`].
//! - anything else: 404 (405 for another method on a known path).
//!
//! Guarantees (the admin port must not be a way to exhaust the server), see [`AdminLimits`]:
//! - At most `max_connections` connections are served at once: the accept loop takes a semaphore
//!   permit *before* accepting, so extra clients wait in the kernel's backlog and cost us nothing.
//! - A connection must send its request headers within `header_read_timeout`, and lives at most
//!   `connection_lifetime` in total (keep-alive included), so slow or idle clients cannot hold
//!   permits forever. HTTP/1.1 only; request bodies are never read.
//! - Handlers are synchronous calls into the [`AdminSource`], whose methods must be cheap and
//!   never block on I/O; they never hold a lock across an `.await`.
//! - Shutdown: when the `shutdown` future completes, the listener is closed (new connections are
//!   refused), open connections finish their current request, and [`serve`] returns within
//!   `shutdown_grace` (connections still open then are dropped).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use crate::metrics::TEXT_CONTENT_TYPE;
use crate::tls::ServerTls;

/// What the admin endpoint shows; implemented by the running server.
///
/// Contract for implementors: every method is called on a Tokio worker thread, concurrently, and
/// must return quickly without blocking I/O (read atomics or take a short lock).
pub trait AdminSource: Send + Sync + 'static {
    /// A snapshot of this member's state for `GET /status`.
    fn status(&self) -> Status;
    /// Every metric in Prometheus text format for `GET /metrics`
    /// (usually [`crate::metrics::Metrics::render`]).
    fn metrics_text(&self) -> String;
    /// `Ok` if this member can serve clients; `Err(reason)` makes `GET /health` answer 503 with
    /// `reason` as the body.
    fn healthy(&self) -> Result<(), String>;
    /// The sessions this member knows (all sessions of the ensemble), for `GET /sessions`.
    fn sessions(&self) -> Vec<SessionRow> {
        Vec::new()
    }
}

/// One session as `GET /sessions` lists it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct SessionRow {
    /// Session id, `0x`-prefixed hex.
    pub id: String,
    /// Negotiated timeout in ms.
    pub timeout_ms: u32,
    /// Ephemeral nodes the session owns.
    pub ephemerals: usize,
    /// Time left before the leader expires it, in ms (only on the leader).
    pub expires_in_ms: Option<u64>,
}

/// This member's state as `GET /status` returns it (JSON, these field names).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// This member's id.
    pub id: u64,
    /// Raft role: `leader`, `follower`, `candidate` or `pre-candidate`.
    pub role: String,
    /// The leader this member knows of, 0 if none.
    pub leader_id: u64,
    /// Current Raft term.
    pub term: u64,
    /// Highest log index known committed.
    pub commit_index: u64,
    /// Highest log index applied to the tree (the last zxid).
    pub applied_index: u64,
    /// Index of the newest snapshot this member holds (taken here or installed from the
    /// leader).
    #[serde(default)]
    pub snapshot_index: u64,
    /// Digest of the tree at `applied_index`, 16 hex digits; equal on members at the same index.
    pub digest: String,
    /// Znodes in the tree.
    pub znode_count: u64,
    /// Live sessions in the ensemble.
    pub session_count: u64,
    /// Watches registered on this member.
    pub watch_count: u64,
    /// Client listener address.
    pub client_addr: String,
    /// Peer listener address.
    pub peer_addr: String,
    /// Admin listener address.
    pub admin_addr: String,
    /// Server version (`CARGO_PKG_VERSION`).
    pub version: String,
    /// Time since this member last had a round of session liveness granted by a leader
    /// that a quorum follows, in ms (`null`: never since it started). The member serves
    /// clients only while this stays within an election timeout plus a quarter session
    /// tick; `/health` says 503 otherwise.
    #[serde(default)]
    pub leader_contact_ms: Option<u64>,
    /// This member's data directory, 16 hex digits: a random number given to its Raft log
    /// when the log was created (peers refuse a member that comes back with another one).
    #[serde(default)]
    pub incarnation: String,
}

/// Resource bounds of the admin listener. [`AdminLimits::default`] suits production.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminLimits {
    /// Connections served at once; further ones wait in the listen backlog. Default 64.
    pub max_connections: usize,
    /// Time a connection gets to send each request's headers. Default 10 s.
    pub header_read_timeout: Duration,
    /// Longest a connection may stay open, keep-alive included. Default 60 s.
    pub connection_lifetime: Duration,
    /// After shutdown starts, how long open connections get to finish. Default 5 s.
    pub shutdown_grace: Duration,
}

impl Default for AdminLimits {
    fn default() -> AdminLimits {
        AdminLimits {
            max_connections: 64,
            header_read_timeout: Duration::from_secs(10),
            connection_lifetime: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

/// Largest request body accepted by any extractor (none of the routes reads one).
const MAX_BODY_BYTES: usize = 4096;

/// The routes, without any listener; exposed for tests that drive the router directly.
///
/// Guarantees: the routes and status codes listed in the module doc.
pub fn router(source: Arc<dyn AdminSource>) -> Router {
    Router::new()
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .route("/sessions", get(sessions))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(source)
}

async fn status(State(source): State<Arc<dyn AdminSource>>) -> Json<Status> {
    Json(source.status())
}

async fn metrics(State(source): State<Arc<dyn AdminSource>>) -> Response {
    (
        [(header::CONTENT_TYPE, TEXT_CONTENT_TYPE)],
        source.metrics_text(),
    )
        .into_response()
}

async fn health(State(source): State<Arc<dyn AdminSource>>) -> Response {
    match source.healthy() {
        Ok(()) => (StatusCode::OK, "ok\n").into_response(),
        Err(reason) => (StatusCode::SERVICE_UNAVAILABLE, format!("{reason}\n")).into_response(),
    }
}

async fn sessions(State(source): State<Arc<dyn AdminSource>>) -> Json<Vec<SessionRow>> {
    Json(source.sessions())
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        "not found; try /status, /metrics, /health or /sessions\n",
    )
        .into_response()
}

/// Serves the admin endpoint on `listener` (HTTPS with `tls`) with
/// [`AdminLimits::default`] until `shutdown` completes. See [`serve_with`].
pub async fn serve(
    listener: TcpListener,
    source: Arc<dyn AdminSource>,
    tls: Option<Arc<ServerTls>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, source, tls, shutdown, AdminLimits::default()).await
}

/// Serves the admin endpoint on `listener` within `limits` until `shutdown` completes.
///
/// Guarantees: returns `Ok(())` at most `limits.shutdown_grace` after `shutdown` completes, with
/// the listener closed and every connection task ended. Errors accepting a connection (the
/// client went away, or the process is out of file descriptors) do not end the loop: the former
/// are skipped, the latter retried after a short pause, so the admin port cannot take the server
/// down. The `io::Result` is kept for listener failures a future version may report.
pub async fn serve_with(
    listener: TcpListener,
    source: Arc<dyn AdminSource>,
    tls: Option<Arc<ServerTls>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    limits: AdminLimits,
) -> std::io::Result<()> {
    let router = router(source);
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    // Connection tasks watch this to start a graceful close when the server shuts down.
    let (stop_tx, stop_rx) = watch::channel(());
    let mut conns = JoinSet::new();
    tokio::pin!(shutdown);

    loop {
        // Reap finished connection tasks so the set does not grow with every connection served.
        while conns.try_join_next().is_some() {}

        let permit = tokio::select! {
            _ = &mut shutdown => break,
            permit = permits.clone().acquire_owned() => {
                permit.expect("the admin semaphore is never closed")
            }
        };
        let stream = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(e) if is_connection_error(&e) => continue,
                Err(_) => {
                    // EMFILE and friends: the condition passes when other sockets close.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let service = TowerToHyperService::new(router.clone());
        let mut stop = stop_rx.clone();
        let limits = limits.clone();
        let tls = tls.clone();
        conns.spawn(async move {
            let _permit = permit;
            // The TLS handshake (bounded) runs here, never in the accept loop.
            let Ok(stream) = crate::tls::accept(tls.as_deref(), stream).await else {
                return;
            };
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .keep_alive(true);
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            let lifetime = tokio::time::sleep(limits.connection_lifetime);
            tokio::select! {
                _ = conn.as_mut() => return,
                _ = stop.changed() => {}
                _ = lifetime => {}
            }
            // Finish the request in flight (if any), then close.
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(limits.shutdown_grace, conn).await;
        });
    }

    drop(listener);
    let _ = stop_tx.send(());
    let drained = tokio::time::timeout(limits.shutdown_grace, async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        conns.shutdown().await;
    }
    Ok(())
}

/// Errors that concern one connection only (the client gave up before we accepted).
fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Instant;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    struct Fake {
        healthy: AtomicBool,
    }

    impl AdminSource for Fake {
        fn status(&self) -> Status {
            Status {
                id: 2,
                role: "leader".into(),
                leader_id: 2,
                term: 5,
                commit_index: 100,
                applied_index: 99,
                snapshot_index: 50,
                digest: "00112233aabbccdd".into(),
                znode_count: 10,
                session_count: 3,
                watch_count: 4,
                client_addr: "127.0.0.1:7181".into(),
                peer_addr: "127.0.0.1:7182".into(),
                admin_addr: "127.0.0.1:7180".into(),
                version: env!("CARGO_PKG_VERSION").into(),
                leader_contact_ms: Some(5),
                incarnation: "0123456789abcdef".into(),
            }
        }
        fn metrics_text(&self) -> String {
            let m = crate::metrics::Metrics::new();
            m.raft_term.set(5);
            m.render()
        }
        fn healthy(&self) -> Result<(), String> {
            if self.healthy.load(Ordering::SeqCst) {
                Ok(())
            } else {
                Err("no leader".into())
            }
        }
    }

    /// One request over a fresh connection; returns (status code, headers, body).
    async fn request(addr: SocketAddr, method: &str, path: &str) -> (u16, String, String) {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        let req = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.expect("write");
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.expect("read");
        let raw = String::from_utf8(raw).expect("utf-8 response");
        let (head, body) = raw.split_once("\r\n\r\n").expect("header end");
        let code = head
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .expect("status line");
        (code, head.to_ascii_lowercase(), body.to_string())
    }

    async fn start(
        limits: AdminLimits,
    ) -> (
        SocketAddr,
        Arc<Fake>,
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<std::io::Result<()>>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let fake = Arc::new(Fake {
            healthy: AtomicBool::new(true),
        });
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let shutdown = async move {
            let _ = rx.await;
        };
        let server = tokio::spawn(serve_with(listener, fake.clone(), None, shutdown, limits));
        (addr, fake, tx, server)
    }

    #[tokio::test]
    async fn routes_and_shutdown() {
        let (addr, fake, stop, server) = start(AdminLimits::default()).await;

        let (code, head, body) = request(addr, "GET", "/status").await;
        assert_eq!(code, 200);
        assert!(head.contains("content-type: application/json"), "{head}");
        let status: Status = serde_json::from_str(&body).expect("status JSON");
        assert_eq!(status, fake.status());
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["role"], "leader");
        assert_eq!(json["digest"], "00112233aabbccdd");

        let (code, head, body) = request(addr, "GET", "/metrics").await;
        assert_eq!(code, 200);
        assert!(
            head.contains("content-type: text/plain; version=0.0.4"),
            "{head}"
        );
        assert!(body.contains("paddock_raft_term 5"), "{body}");

        let (code, _, body) = request(addr, "GET", "/health").await;
        assert_eq!((code, body.as_str()), (200, "ok\n"));
        fake.healthy.store(false, Ordering::SeqCst);
        let (code, _, body) = request(addr, "GET", "/health").await;
        assert_eq!((code, body.as_str()), (503, "no leader\n"));

        assert_eq!(request(addr, "GET", "/nope").await.0, 404);
        assert_eq!(request(addr, "GET", "/").await.0, 404);
        assert_eq!(request(addr, "POST", "/status").await.0, 405);

        // An idle keep-alive connection must not hold shutdown up past the grace period.
        let _idle = TcpStream::connect(addr).await.unwrap();
        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .expect("serve returns after shutdown")
            .expect("serve task did not panic")
            .expect("serve returns Ok");
        assert!(TcpStream::connect(addr).await.is_err(), "listener closed");
    }

    #[tokio::test]
    async fn connection_cap_and_lifetime() {
        let limits = AdminLimits {
            max_connections: 1,
            connection_lifetime: Duration::from_millis(300),
            ..AdminLimits::default()
        };
        let (addr, _fake, stop, server) = start(limits).await;
        // Holds the only permit while sending nothing.
        let mut idle = TcpStream::connect(addr).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let started = Instant::now();
        let (code, _, _) =
            tokio::time::timeout(Duration::from_secs(10), request(addr, "GET", "/health"))
                .await
                .expect("served once the idle connection expired");
        assert_eq!(code, 200);
        assert!(
            started.elapsed() >= Duration::from_millis(150),
            "second connection was served while the first held the only permit"
        );
        // The idle connection was closed by the server.
        let mut buf = [0u8; 16];
        assert_eq!(idle.read(&mut buf).await.unwrap_or(0), 0);
        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    }
}
