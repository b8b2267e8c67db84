//! The client listener: accepts connections, runs the session handshake, then serves
//! each connection's requests in order.
//!
//! Files: [`handshake`] (connect, create or resume a session), [`connection`] (the
//! per-connection pipeline: many requests in flight, answered in order),
//! [`dispatch`] (one request: validate, then read or propose through Raft),
//! [`reads`] (serving a read from the local tree), [`backup`] (online snapshots in
//! chunks), [`auth`] (the connection's
//! identities and the ACL checks of reads), [`validate`] (limits and path rules),
//! [`respond`] (wire responses).
//!
//! Limits: at most `max_connections` connections (more are closed at accept), frames
//! up to `max_request_bytes` (64 KiB until the handshake is done; a larger frame closes
//! the connection before it is read, and a frame's buffer grows only with the bytes that
//! arrive), a handshake must arrive within 5 s, and each connection has at most
//! [`MAX_IN_FLIGHT`] requests in flight (beyond that the member stops reading from it).
pub mod admin_ops;
pub mod auth;
pub mod backup;
pub mod connection;
pub mod dispatch;
pub mod handshake;
pub mod reads;
pub mod respond;
pub mod validate;

use std::sync::Arc;
use std::time::Duration;

use slog::{debug, warn, Logger};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::consensus::handle::RaftHandle;
use crate::metrics::Metrics;
use crate::tls::ServerTls;

/// Requests one connection may have in flight.
pub const MAX_IN_FLIGHT: usize = 1024;

/// Everything a connection needs, shared by all of them.
pub struct ClientContext {
    /// This member's id.
    pub member_id: u64,
    /// The admin address announced in the handshake.
    pub admin_addr: String,
    /// The Raft loop.
    pub raft: RaftHandle,
    /// Request limits.
    pub limits: validate::Limits,
    /// Largest client frame.
    pub max_frame: usize,
    /// The member's configuration (session timeout negotiation).
    pub config: Arc<crate::config::Config>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Cached per-op metric handles.
    pub ops: Arc<dispatch::OpTable>,
    /// This member's watches and connection registry.
    pub hub: Arc<crate::watch::Hub>,
    /// Session liveness.
    pub sessions: Arc<crate::sessions::Sessions>,
    /// The member list and changes to it.
    pub membership: crate::membership::Membership,
    /// Logger.
    pub log: Logger,
}

/// Accepts client connections until `stop` fires; with `tls`, each connection's TLS
/// handshake runs in its own task (bounded by [`crate::tls::HANDSHAKE_TIMEOUT`]).
pub async fn serve(
    listener: TcpListener,
    ctx: Arc<ClientContext>,
    max_connections: usize,
    tls: Option<Arc<ServerTls>>,
    stop: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(max_connections));
    loop {
        let (stream, addr) = tokio::select! {
            _ = stop.cancelled() => return,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    warn!(ctx.log, "client accept failed"; "error" => %e);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            warn!(ctx.log, "connection limit reached; closing a new connection"; "from" => %addr);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let ctx = ctx.clone();
        let stop = stop.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _permit = permit;
            ctx.metrics.connections.inc();
            let serve = async {
                let stream = crate::tls::accept(tls.as_deref(), stream)
                    .await
                    .map_err(|e| format!("TLS handshake failed: {e}"))?;
                connection::run(stream, &ctx).await
            };
            tokio::select! {
                _ = stop.cancelled() => {}
                r = serve => {
                    if let Err(reason) = r {
                        debug!(ctx.log, "client connection closed"; "from" => %addr, "reason" => reason);
                    }
                }
            }
            ctx.metrics.connections.dec();
        });
    }
}
