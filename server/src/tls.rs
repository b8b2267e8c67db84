//! TLS on `paddockd`'s listeners and peer links, with certificates that are reloaded
//! without a restart.
//!
//! - Client listener (`--tls-cert/--tls-key`): clients verify the member's certificate;
//!   with `--tls-client-ca` every client must present a certificate signed by that CA
//!   (mutual TLS), and its subject is the connection's `x509` identity.
//! - Peer links (`--peer-tls-cert/--peer-tls-key/--peer-tls-ca`): mutual TLS both ways.
//!   A member accepts a peer connection only with a certificate signed by the peer CA,
//!   and dials its peers verifying their certificates against the same CA and the host
//!   it dialled (an IP address must be among the certificate's subject alternative
//!   names), presenting its own certificate.
//! - Admin listener (`--admin-tls-cert/--admin-tls-key`): HTTPS.
//!
//! Reloading: [`Reloader`] re-reads every configured file on SIGHUP, and whenever a
//! file's modification time or size changed (checked every [`RELOAD_CHECK`]). A new
//! set that does not load (a key that does not match its certificate, a file half
//! written) is logged and ignored: the member keeps serving with what it had. New
//! connections use the new certificates; established ones keep theirs.
//!
//! Every TLS handshake on a listener must finish within [`HANDSHAKE_TIMEOUT`], inside
//! the connection's own task, so a client that stalls its handshake holds one
//! connection slot for a bounded time and never the accept loop.
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use paddock::tls::{provider, read_certs, read_private_key, read_roots, Stream, TlsError};
use parking_lot::{Mutex, RwLock};
use rustls::server::WebPkiClientVerifier;
use slog::{error, info, Logger};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// How often the certificate files are checked for changes.
pub const RELOAD_CHECK: Duration = Duration::from_secs(2);
/// Longest a TLS handshake on a listener may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// The PEM files of one TLS identity: a certificate chain, its key, and the CA that
/// the other end's certificates must be signed by (none: the other end is not asked
/// for one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// Certificate chain, leaf first.
    pub cert: PathBuf,
    /// The leaf's private key.
    pub key: PathBuf,
    /// CA for the other end's certificates.
    pub ca: Option<PathBuf>,
}

impl TlsFiles {
    fn paths(&self) -> Vec<&Path> {
        let mut v = vec![self.cert.as_path(), self.key.as_path()];
        v.extend(self.ca.as_deref());
        v
    }
}

/// TLS settings of a member; `None` means plain TCP on that listener or link.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsConfig {
    /// Client listener (`ca`: required client certificates).
    pub client: Option<TlsFiles>,
    /// Peer links (`ca` is always set: mutual TLS).
    pub peer: Option<TlsFiles>,
    /// Admin listener (`ca` is never set).
    pub admin: Option<TlsFiles>,
}

/// Modification time and size of each file, to notice a change.
type Stamp = Vec<Option<(SystemTime, u64)>>;

fn stamp(paths: &[&Path]) -> Stamp {
    paths
        .iter()
        .map(|p| {
            std::fs::metadata(p)
                .ok()
                .and_then(|m| Some((m.modified().ok()?, m.len())))
        })
        .collect()
}

fn server_config(files: &TlsFiles) -> Result<rustls::ServerConfig, TlsError> {
    let certs = read_certs(&files.cert)?;
    let key = read_private_key(&files.key)?;
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let builder = match &files.ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(read_roots(ca)?), provider())
                    .build()
                    .map_err(|e| TlsError::Config(format!("{}: {e}", ca.display())))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    builder
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Config(format!("{}: {e}", files.key.display())))
}

/// A listener's TLS configuration, replaced as a whole when its files change.
pub struct ServerTls {
    what: &'static str,
    files: TlsFiles,
    config: RwLock<Arc<rustls::ServerConfig>>,
    stamp: Mutex<Stamp>,
}

impl ServerTls {
    /// Loads `files` for the listener named `what` (for logs and errors).
    pub fn load(what: &'static str, files: TlsFiles) -> Result<ServerTls, TlsError> {
        let st = stamp(&files.paths());
        let config = server_config(&files)?;
        Ok(ServerTls {
            what,
            files,
            config: RwLock::new(Arc::new(config)),
            stamp: Mutex::new(st),
        })
    }

    /// Runs the server side of a TLS handshake on `tcp` with the current certificates,
    /// within [`HANDSHAKE_TIMEOUT`].
    pub async fn accept(&self, tcp: TcpStream) -> std::io::Result<Stream> {
        let acceptor = tokio_rustls::TlsAcceptor::from(self.config.read().clone());
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
            Ok(Ok(tls)) => Ok(Stream::Tls(Box::new(tokio_rustls::TlsStream::Server(tls)))),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "TLS handshake not finished in time",
            )),
        }
    }
}

/// Wraps an accepted connection: a TLS handshake when `tls` is set, else plain TCP.
pub async fn accept(tls: Option<&ServerTls>, tcp: TcpStream) -> std::io::Result<Stream> {
    match tls {
        None => Ok(Stream::Plain(tcp)),
        Some(t) => t.accept(tcp).await,
    }
}

/// The peer links' TLS: the listener side (client certificates required) and the
/// dialling side (presents the same certificate), reloaded together.
pub struct PeerTls {
    server: ServerTls,
    client: RwLock<paddock::tls::ClientTls>,
}

impl PeerTls {
    /// Loads the peer identity; `files.ca` must be set (mutual TLS).
    pub fn load(files: TlsFiles) -> Result<PeerTls, TlsError> {
        let Some(ca) = files.ca.clone() else {
            return Err(TlsError::Config(
                "peer TLS needs a CA (--peer-tls-ca)".into(),
            ));
        };
        let client = paddock::tls::ClientTls::from_pem_files(&ca, Some((&files.cert, &files.key)))?;
        Ok(PeerTls {
            server: ServerTls::load("peer", files)?,
            client: RwLock::new(client),
        })
    }

    /// The listener side.
    pub fn server(&self) -> &ServerTls {
        &self.server
    }

    /// Runs the client side of a TLS handshake to the peer at `addr` over `tcp`,
    /// within [`HANDSHAKE_TIMEOUT`].
    pub async fn connect(&self, addr: &str, tcp: TcpStream) -> std::io::Result<Stream> {
        let client = self.client.read().clone();
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, client.connect(addr, tcp)).await {
            Ok(r) => r,
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "TLS handshake not finished in time",
            )),
        }
    }
}

/// Dials `addr` for a peer link (the TCP connect within `connect_timeout`), then
/// runs the TLS handshake when `tls` is set.
pub async fn connect_peer(
    tls: Option<&PeerTls>,
    addr: &str,
    connect_timeout: Duration,
) -> std::io::Result<Stream> {
    let tcp = match tokio::time::timeout(connect_timeout, TcpStream::connect(addr)).await {
        Ok(r) => r?,
        Err(_) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no TCP connection within {connect_timeout:?}"),
            ))
        }
    };
    crate::peer::tune(&tcp);
    match tls {
        None => Ok(Stream::Plain(tcp)),
        Some(t) => t.connect(addr, tcp).await,
    }
}

/// Something whose TLS files can be re-read.
trait Reload: Send + Sync {
    /// Re-reads the files when they changed (always when `force`); `Ok(true)` when a
    /// new configuration is in use.
    fn reload(&self, force: bool) -> Result<bool, TlsError>;
    /// For logs.
    fn name(&self) -> &'static str;
}

impl Reload for ServerTls {
    fn reload(&self, force: bool) -> Result<bool, TlsError> {
        let now = stamp(&self.files.paths());
        if !force && *self.stamp.lock() == now {
            return Ok(false);
        }
        // Remember the stamp first: a set that fails to load is reported once per change.
        *self.stamp.lock() = now;
        let config = server_config(&self.files)?;
        *self.config.write() = Arc::new(config);
        Ok(true)
    }

    fn name(&self) -> &'static str {
        self.what
    }
}

impl Reload for PeerTls {
    fn reload(&self, force: bool) -> Result<bool, TlsError> {
        let files = &self.server.files;
        let now = stamp(&files.paths());
        if !force && *self.server.stamp.lock() == now {
            return Ok(false);
        }
        *self.server.stamp.lock() = now;
        let Some(ca) = files.ca.as_deref() else {
            return Err(TlsError::Config(
                "peer TLS needs a CA (--peer-tls-ca)".into(),
            ));
        };
        // Both sides load before either is replaced: they always use one identity.
        let client = paddock::tls::ClientTls::from_pem_files(ca, Some((&files.cert, &files.key)))?;
        let server = server_config(files)?;
        *self.server.config.write() = Arc::new(server);
        *self.client.write() = client;
        Ok(true)
    }

    fn name(&self) -> &'static str {
        "peer"
    }
}

/// A member's TLS state: what each listener and the peer links use now.
#[derive(Default, Clone)]
pub struct MemberTls {
    /// Client listener.
    pub client: Option<Arc<ServerTls>>,
    /// Peer links.
    pub peer: Option<Arc<PeerTls>>,
    /// Admin listener.
    pub admin: Option<Arc<ServerTls>>,
}

impl MemberTls {
    /// Loads every configured identity; the first that fails names its file.
    pub fn load(config: &TlsConfig) -> Result<MemberTls, TlsError> {
        Ok(MemberTls {
            client: match &config.client {
                Some(f) => Some(Arc::new(ServerTls::load("client", f.clone())?)),
                None => None,
            },
            peer: match &config.peer {
                Some(f) => Some(Arc::new(PeerTls::load(f.clone())?)),
                None => None,
            },
            admin: match &config.admin {
                Some(f) => Some(Arc::new(ServerTls::load("admin", f.clone())?)),
                None => None,
            },
        })
    }

    fn reloadables(&self) -> Vec<Arc<dyn Reload>> {
        let mut v: Vec<Arc<dyn Reload>> = Vec::new();
        if let Some(c) = &self.client {
            v.push(c.clone());
        }
        if let Some(p) = &self.peer {
            v.push(p.clone());
        }
        if let Some(a) = &self.admin {
            v.push(a.clone());
        }
        v
    }

    /// Re-reads every identity whose files changed (all of them when `force`), logging
    /// each outcome. Returns how many were replaced.
    pub fn reload(&self, force: bool, log: &Logger) -> usize {
        let mut replaced = 0;
        for r in self.reloadables() {
            match r.reload(force) {
                Ok(true) => {
                    replaced += 1;
                    info!(log, "TLS certificates reloaded"; "listener" => r.name());
                }
                Ok(false) => {}
                Err(e) => {
                    error!(log, "TLS certificates NOT reloaded; still using the previous ones";
                           "listener" => r.name(), "error" => %e);
                }
            }
        }
        replaced
    }
}

/// Reloads a member's certificates on SIGHUP and when their files change, until `stop`.
pub struct Reloader;

impl Reloader {
    /// Runs the reload loop. SIGHUP is taken over even without TLS (it is logged and
    /// otherwise ignored), so an operator's reload never kills a member.
    pub async fn run(tls: MemberTls, stop: CancellationToken, log: Logger) {
        #[cfg(unix)]
        let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(s) => Some(s),
            Err(e) => {
                error!(log, "cannot listen for SIGHUP; certificates reload on file changes only"; "error" => %e);
                None
            }
        };
        let mut check = tokio::time::interval(RELOAD_CHECK);
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            #[cfg(unix)]
            let hangup = async {
                match hup.as_mut() {
                    Some(h) => {
                        h.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            #[cfg(not(unix))]
            let hangup = std::future::pending::<()>();
            let force = tokio::select! {
                _ = stop.cancelled() => return,
                _ = hangup => true,
                _ = check.tick() => false,
            };
            if tls.reloadables().is_empty() {
                if force {
                    info!(
                        log,
                        "SIGHUP: no TLS certificates configured; nothing to reload"
                    );
                }
                continue;
            }
            if force {
                info!(log, "SIGHUP: reloading TLS certificates");
            }
            let tls = tls.clone();
            let log2 = log.clone();
            // File reads and key parsing off the async workers.
            let _ = tokio::task::spawn_blocking(move || tls.reload(force, &log2)).await;
        }
    }
}

/// The listeners, of (name, bound address, has TLS), that other machines can reach
/// without TLS: plain TCP is only safe on a loopback address.
pub fn exposed_without_tls(
    listeners: &[(&'static str, std::net::SocketAddr, bool)],
) -> Vec<(&'static str, std::net::SocketAddr)> {
    listeners
        .iter()
        .filter(|(_, addr, tls)| !tls && !addr.ip().is_loopback())
        .map(|(what, addr, _)| (*what, *addr))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_listeners_off_loopback_are_exposed() {
        let a = |s: &str| s.parse::<std::net::SocketAddr>().expect("addr");
        let listeners = [
            ("client", a("10.1.2.3:7181"), false),
            ("peer", a("10.1.2.3:7182"), true),
            ("admin", a("127.0.0.1:7180"), false),
            ("other", a("0.0.0.0:7183"), false),
            ("v6", a("[::1]:7184"), false),
        ];
        assert_eq!(
            exposed_without_tls(&listeners),
            vec![("client", a("10.1.2.3:7181")), ("other", a("0.0.0.0:7183"))]
        );
    }

    #[test]
    fn incomplete_or_unreadable_files_are_refused_with_their_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = TlsFiles {
            cert: dir.path().join("missing.crt"),
            key: dir.path().join("missing.key"),
            ca: None,
        };
        let e = ServerTls::load("client", missing).err().expect("refused");
        assert!(e.to_string().contains("missing.crt"), "{e}");
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate").expect("write");
        let e = ServerTls::load(
            "client",
            TlsFiles {
                cert: junk.clone(),
                key: junk.clone(),
                ca: None,
            },
        )
        .err()
        .expect("refused");
        assert!(e.to_string().contains("junk.pem"), "{e}");
        let e = PeerTls::load(TlsFiles {
            cert: junk.clone(),
            key: junk,
            ca: None,
        })
        .err()
        .expect("refused");
        assert!(e.to_string().contains("peer-tls-ca"), "{e}");
    }
}
