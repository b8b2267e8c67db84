//! Client settings.
use std::time::Duration;

use super::RetryPolicy;
use crate::codec::DEFAULT_MAX_FRAME;
use crate::tls::ClientTls;

/// How a [`Client`](crate::Client) connects and keeps its session.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Client addresses (`host:port`) of the ensemble's members. The client connects to
    /// one of them and moves to another when its connection fails.
    pub servers: Vec<String>,
    /// Requested session timeout; the ensemble clamps it and the negotiated value is
    /// what counts (see [`Client::session_timeout`](crate::Client::session_timeout)).
    pub session_timeout: Duration,
    /// Upper bound for one TCP connect + handshake attempt.
    pub connect_timeout: Duration,
    /// Largest frame the client accepts from a server.
    pub max_frame: usize,
    /// Try the members in list order, starting with the first, instead of starting
    /// at a random one. Lets a caller choose which member a session lands on (load
    /// generators, per-member admin queries); the others remain fallbacks.
    pub in_order: bool,
    /// A path every path of the client lives under (ZooKeeper's chroot; see
    /// [`Client::with_namespace`](crate::Client::with_namespace)). Default: none.
    pub namespace: Option<String>,
    /// How long one call may wait for its answer before it fails with
    /// `OperationTimeout`. Default: none (as long as the session lives).
    pub request_timeout: Option<Duration>,
    /// How reads that fail for a reason that passes are retried. Default:
    /// [`RetryPolicy::NONE`].
    pub retry: RetryPolicy,
    /// TLS to every member (see [`crate::tls`]). Default: none (plain TCP).
    pub tls: Option<ClientTls>,
}

impl ClientConfig {
    /// Settings for the given members with the default timeouts (10 s session).
    pub fn new<I, S>(servers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ClientConfig {
            servers: servers.into_iter().map(Into::into).collect(),
            session_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(2),
            max_frame: DEFAULT_MAX_FRAME,
            in_order: false,
            namespace: None,
            request_timeout: None,
            retry: RetryPolicy::NONE,
            tls: None,
        }
    }

    /// Parses a comma-separated member list such as `127.0.0.1:7181,127.0.0.1:7281`.
    pub fn from_list(list: &str) -> Self {
        Self::new(list.split(',').map(str::trim).filter(|s| !s.is_empty()))
    }

    /// Sets the requested session timeout.
    pub fn session_timeout(mut self, timeout: Duration) -> Self {
        self.session_timeout = timeout;
        self
    }

    /// Sets the connect timeout for one attempt.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Puts every path of the client under `namespace` (checked on connect).
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// Sets how long one call may wait for its answer.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = Some(timeout);
        self
    }

    /// Sets how reads are retried.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Speaks TLS to every member, as `tls` says.
    pub fn tls(mut self, tls: ClientTls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Sets whether members are tried in list order (see the `in_order` field).
    pub fn in_order(mut self, in_order: bool) -> Self {
        self.in_order = in_order;
        self
    }
}
