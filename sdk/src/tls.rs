//! TLS for connections to Paddock members (rustls with the `ring` provider; no OpenSSL).
//!
//! A client that is given a [`ClientTls`] (see
//! [`ClientConfig::tls`](crate::ClientConfig::tls)) speaks TLS to every member it
//! connects to and refuses a member whose certificate is not signed by the configured
//! CA or is not valid for the name it dialled: the host part of the member's address
//! (an IP address must then be in the certificate's subject alternative names), or the
//! name set with [`ClientTls::server_name`]. With a client certificate as well, the
//! client can connect to members that require mutual TLS (`paddockd --tls-client-ca`).
//!
//! The PEM helpers ([`read_certs`], [`read_private_key`], [`read_roots`]) are the ones
//! `paddockd` itself uses, so files that work for one work for the other.
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::RootCertStore;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Why TLS material could not be loaded or a TLS configuration built. Each message
/// names the file involved.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        reason: String,
    },
    /// A file holds no PEM certificate (or one that does not parse).
    #[error("{path}: no PEM certificate found ({reason})")]
    NoCertificate {
        /// The file.
        path: PathBuf,
        /// What the PEM parser said.
        reason: String,
    },
    /// A file holds no PEM private key (PKCS#8, PKCS#1 or SEC1).
    #[error("{path}: no PEM private key found ({reason})")]
    NoKey {
        /// The file.
        path: PathBuf,
        /// What the PEM parser said.
        reason: String,
    },
    /// The certificates, key or CA were refused by rustls (a key that does not match
    /// its certificate, a CA that is not a CA certificate, ...).
    #[error("invalid TLS configuration: {0}")]
    Config(String),
}

/// The crypto provider every TLS configuration of Paddock uses. Pinned rather than
/// taken from the process default, so an application that also links another rustls
/// provider gets the same behaviour.
///
/// Why *ring*: it builds from C and assembly with only a C compiler, where aws-lc-rs
/// (rustls's default) adds a large C build to every machine that compiles Paddock.
/// rustls 0.23.48 deprecates it because it offers no post-quantum key exchange
/// (X25519MLKEM768); TLS 1.3 with X25519 and TLS 1.2's ECDHE suites are what it
/// negotiates.
#[allow(deprecated)]
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads every PEM certificate in `path` (a chain: the leaf first).
pub fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::NoCertificate {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
            reason: "the file has no CERTIFICATE block".into(),
        });
    }
    Ok(certs)
}

/// Reads the first PEM private key in `path`.
pub fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = read(path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| TlsError::NoKey {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Reads the CA certificates in `path` into a root store; every one must parse.
pub fn read_roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in read_certs(path)? {
        roots
            .add(cert)
            .map_err(|e| TlsError::Config(format!("{}: {e}", path.display())))?;
    }
    Ok(roots)
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError::Read {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// A rustls client configuration that trusts the CAs in `ca` and, given `identity`
/// (certificate chain file, key file), presents that certificate to servers that ask
/// for one.
pub fn client_config(
    ca: &Path,
    identity: Option<(&Path, &Path)>,
) -> Result<rustls::ClientConfig, TlsError> {
    let roots = read_roots(ca)?;
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_root_certificates(roots);
    match identity {
        None => Ok(builder.with_no_client_auth()),
        Some((cert, key)) => builder
            .with_client_auth_cert(read_certs(cert)?, read_private_key(key)?)
            .map_err(|e| TlsError::Config(format!("{}: {e}", cert.display()))),
    }
}

/// How a client speaks TLS to the members: the trusted CAs, an optional client
/// certificate, and optionally the name to verify members' certificates against.
#[derive(Clone)]
pub struct ClientTls {
    config: Arc<rustls::ClientConfig>,
    server_name: Option<String>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl ClientTls {
    /// Trusts the CA certificates in `ca` (PEM); with `identity` = (certificate chain,
    /// private key), both PEM, presents that certificate to members that require one.
    pub fn from_pem_files(ca: &Path, identity: Option<(&Path, &Path)>) -> Result<Self, TlsError> {
        Ok(ClientTls::from_config(Arc::new(client_config(
            ca, identity,
        )?)))
    }

    /// Uses a rustls configuration built by the caller (its own roots, client
    /// certificate resolver, protocol versions).
    pub fn from_config(config: Arc<rustls::ClientConfig>) -> Self {
        ClientTls {
            config,
            server_name: None,
        }
    }

    /// Verifies every member's certificate against `name` instead of the host part of
    /// the address dialled (for certificates issued to one DNS name for the ensemble).
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// Runs the TLS handshake over `tcp`, connected to `addr` (`host:port`).
    pub async fn connect(&self, addr: &str, tcp: TcpStream) -> io::Result<Stream> {
        let host = match &self.server_name {
            Some(name) => name.clone(),
            None => host_of(addr).to_string(),
        };
        let name = ServerName::try_from(host.clone()).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{host:?} is not a valid TLS server name: {e}"),
            )
        })?;
        let connector = tokio_rustls::TlsConnector::from(self.config.clone());
        let tls = connector.connect(name, tcp).await?;
        Ok(Stream::Tls(Box::new(tokio_rustls::TlsStream::Client(tls))))
    }
}

/// The host part of `host:port` or `[v6]:port` (the whole string when there is no port).
pub fn host_of(addr: &str) -> &str {
    if let Some(rest) = addr.strip_prefix('[') {
        if let Some(end) = rest.find(']') {
            return &rest[..end];
        }
    }
    match addr.rsplit_once(':') {
        Some((host, _)) if !host.contains(':') => host,
        _ => addr,
    }
}

/// A connection that is plain TCP or TLS over TCP; reads and writes go to whichever it is.
#[derive(Debug)]
pub enum Stream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS (as client or as server) over TCP.
    Tls(Box<tokio_rustls::TlsStream<TcpStream>>),
}

impl Stream {
    /// The certificate chain the other end presented (TLS with client or server
    /// authentication), leaf first; `None` for plain TCP or when it presented none.
    pub fn peer_certificates(&self) -> Option<&[CertificateDer<'static>]> {
        match self {
            Stream::Plain(_) => None,
            Stream::Tls(s) => s.get_ref().1.peer_certificates(),
        }
    }

    /// The TCP socket underneath.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.get_ref().0,
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::host_of;

    #[test]
    fn host_of_strips_the_port() {
        assert_eq!(host_of("127.0.0.1:7181"), "127.0.0.1");
        assert_eq!(host_of("paddock-1.example:7181"), "paddock-1.example");
        assert_eq!(host_of("[::1]:7181"), "::1");
        assert_eq!(host_of("localhost"), "localhost");
        assert_eq!(host_of("::1"), "::1");
    }
}
