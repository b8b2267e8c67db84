//! Client settings.
use std::time::Duration;

use crate::codec::DEFAULT_MAX_FRAME;

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

    /// Sets whether members are tried in list order (see the `in_order` field).
    pub fn in_order(mut self, in_order: bool) -> Self {
        self.in_order = in_order;
        self
    }
}
