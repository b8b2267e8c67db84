//! The client's connection state, observable as a stream of changes.

/// Where the client's session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Looking for a member to (re)connect to; requests wait.
    Connecting,
    /// Connected to a member; requests flow.
    Connected {
        /// Id of the member the client is connected to.
        server_id: u64,
    },
    /// The connection was lost; the client is reconnecting within the session timeout.
    Disconnected,
    /// The ensemble expired the session (or refused to resume it). Terminal.
    Expired,
    /// The client closed its session. Terminal.
    Closed,
}

impl State {
    /// Whether the state can never change again.
    pub fn is_terminal(self) -> bool {
        matches!(self, State::Expired | State::Closed)
    }
}
