//! The SDK's error type and the error codes shared with the server.
use crate::proto::paddock::ErrorCode as Pb;

/// An error code as the ensemble reports it. Codes mirror ZooKeeper's
/// `KeeperException.Code`; [`Code::NotReady`], [`Code::TooLarge`],
/// [`Code::PreviousWriteMissing`] and [`Code::ResyncNeeded`] are Paddock's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Code {
    /// An unexpected failure inside the server.
    SystemError,
    /// Operations of a failed multi that came after the failing one.
    RuntimeInconsistency,
    /// The server found its own state inconsistent.
    DataInconsistency,
    /// The connection was lost before the answer; the outcome of a write is unknown.
    ConnectionLoss,
    /// A message could not be decoded.
    MarshallingError,
    /// The operation is not implemented.
    Unimplemented,
    /// The operation did not finish in time; its outcome is unknown.
    OperationTimeout,
    /// An argument was invalid (path, mode, version, ...).
    BadArguments,
    /// The session is not known to the ensemble.
    UnknownSession,
    /// An API misuse.
    ApiError,
    /// The node does not exist.
    NoNode,
    /// Not authorised.
    NoAuth,
    /// The expected version did not match.
    BadVersion,
    /// Ephemeral nodes cannot have children.
    NoChildrenForEphemerals,
    /// The node already exists.
    NodeExists,
    /// The node has children.
    NotEmpty,
    /// The session has expired or was closed; create a new client.
    SessionExpired,
    /// Invalid ACL.
    InvalidAcl,
    /// Authentication failed (an `add_auth` with an unknown scheme or malformed
    /// credentials).
    AuthFailed,
    /// The session moved to another server.
    SessionMoved,
    /// No such watcher.
    NoWatcher,
    /// The request timed out in the server.
    RequestTimeout,
    /// A quota was exceeded.
    QuotaExceeded,
    /// The server is shedding load; retry later.
    Throttled,
    /// The member cannot serve now (no leader, catching up); retry, possibly elsewhere.
    NotReady,
    /// The request exceeds a configured size limit.
    TooLarge,
    /// A write was not applied because the session's previous write was not (session
    /// FIFO). The SDK resends both in order; callers never see it.
    PreviousWriteMissing,
    /// A persistent watch missed events that could not be replayed (see
    /// [`Error::ResyncNeeded`]).
    ResyncNeeded,
}

impl Code {
    /// The code for a wire value; `None` for `OK`.
    #[doc(hidden)]
    pub fn from_proto(code: Pb) -> Option<Code> {
        Some(match code {
            Pb::OK => return None,
            Pb::SYSTEM_ERROR => Code::SystemError,
            Pb::RUNTIME_INCONSISTENCY => Code::RuntimeInconsistency,
            Pb::DATA_INCONSISTENCY => Code::DataInconsistency,
            Pb::CONNECTION_LOSS => Code::ConnectionLoss,
            Pb::MARSHALLING_ERROR => Code::MarshallingError,
            Pb::UNIMPLEMENTED => Code::Unimplemented,
            Pb::OPERATION_TIMEOUT => Code::OperationTimeout,
            Pb::BAD_ARGUMENTS => Code::BadArguments,
            Pb::UNKNOWN_SESSION => Code::UnknownSession,
            Pb::API_ERROR => Code::ApiError,
            Pb::NO_NODE => Code::NoNode,
            Pb::NO_AUTH => Code::NoAuth,
            Pb::BAD_VERSION => Code::BadVersion,
            Pb::NO_CHILDREN_FOR_EPHEMERALS => Code::NoChildrenForEphemerals,
            Pb::NODE_EXISTS => Code::NodeExists,
            Pb::NOT_EMPTY => Code::NotEmpty,
            Pb::SESSION_EXPIRED => Code::SessionExpired,
            Pb::INVALID_ACL => Code::InvalidAcl,
            Pb::AUTH_FAILED => Code::AuthFailed,
            Pb::SESSION_MOVED => Code::SessionMoved,
            Pb::NO_WATCHER => Code::NoWatcher,
            Pb::REQUEST_TIMEOUT => Code::RequestTimeout,
            Pb::QUOTA_EXCEEDED => Code::QuotaExceeded,
            Pb::THROTTLED => Code::Throttled,
            Pb::NOT_READY => Code::NotReady,
            Pb::TOO_LARGE => Code::TooLarge,
            Pb::PREVIOUS_WRITE_MISSING => Code::PreviousWriteMissing,
            Pb::RESYNC_NEEDED => Code::ResyncNeeded,
        })
    }

    /// The wire value of this code.
    #[doc(hidden)]
    pub fn to_proto(self) -> Pb {
        match self {
            Code::SystemError => Pb::SYSTEM_ERROR,
            Code::RuntimeInconsistency => Pb::RUNTIME_INCONSISTENCY,
            Code::DataInconsistency => Pb::DATA_INCONSISTENCY,
            Code::ConnectionLoss => Pb::CONNECTION_LOSS,
            Code::MarshallingError => Pb::MARSHALLING_ERROR,
            Code::Unimplemented => Pb::UNIMPLEMENTED,
            Code::OperationTimeout => Pb::OPERATION_TIMEOUT,
            Code::BadArguments => Pb::BAD_ARGUMENTS,
            Code::UnknownSession => Pb::UNKNOWN_SESSION,
            Code::ApiError => Pb::API_ERROR,
            Code::NoNode => Pb::NO_NODE,
            Code::NoAuth => Pb::NO_AUTH,
            Code::BadVersion => Pb::BAD_VERSION,
            Code::NoChildrenForEphemerals => Pb::NO_CHILDREN_FOR_EPHEMERALS,
            Code::NodeExists => Pb::NODE_EXISTS,
            Code::NotEmpty => Pb::NOT_EMPTY,
            Code::SessionExpired => Pb::SESSION_EXPIRED,
            Code::InvalidAcl => Pb::INVALID_ACL,
            Code::AuthFailed => Pb::AUTH_FAILED,
            Code::SessionMoved => Pb::SESSION_MOVED,
            Code::NoWatcher => Pb::NO_WATCHER,
            Code::RequestTimeout => Pb::REQUEST_TIMEOUT,
            Code::QuotaExceeded => Pb::QUOTA_EXCEEDED,
            Code::Throttled => Pb::THROTTLED,
            Code::NotReady => Pb::NOT_READY,
            Code::TooLarge => Pb::TOO_LARGE,
            Code::PreviousWriteMissing => Pb::PREVIOUS_WRITE_MISSING,
            Code::ResyncNeeded => Pb::RESYNC_NEEDED,
        }
    }

    /// A short lower-case name, as shown to people ("no node").
    pub fn describe(self) -> &'static str {
        match self {
            Code::SystemError => "system error",
            Code::RuntimeInconsistency => "runtime inconsistency",
            Code::DataInconsistency => "data inconsistency",
            Code::ConnectionLoss => "connection loss",
            Code::MarshallingError => "marshalling error",
            Code::Unimplemented => "unimplemented",
            Code::OperationTimeout => "operation timeout",
            Code::BadArguments => "bad arguments",
            Code::UnknownSession => "unknown session",
            Code::ApiError => "api error",
            Code::NoNode => "no node",
            Code::NoAuth => "not authorised",
            Code::BadVersion => "bad version",
            Code::NoChildrenForEphemerals => "no children for ephemerals",
            Code::NodeExists => "node exists",
            Code::NotEmpty => "not empty",
            Code::SessionExpired => "session expired",
            Code::InvalidAcl => "invalid acl",
            Code::AuthFailed => "auth failed",
            Code::SessionMoved => "session moved",
            Code::NoWatcher => "no watcher",
            Code::RequestTimeout => "request timeout",
            Code::QuotaExceeded => "quota exceeded",
            Code::Throttled => "throttled",
            Code::NotReady => "not ready",
            Code::TooLarge => "too large",
            Code::PreviousWriteMissing => "previous write of the session missing",
            Code::ResyncNeeded => "watch needs a resync",
        }
    }

    /// Whether retrying the same request later (or on another member) can succeed
    /// without the caller changing anything.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            Code::ConnectionLoss
                | Code::OperationTimeout
                | Code::RequestTimeout
                | Code::Throttled
                | Code::NotReady
                | Code::PreviousWriteMissing
        )
    }
}

/// Errors returned by the SDK. Each condition has one shape: a lost connection is
/// always [`Error::ConnectionLoss`] and an ended session always
/// [`Error::SessionExpired`] or [`Error::Closed`], whether the client or a member found
/// out; every other answer of the ensemble is [`Error::Server`] (or [`Error::Multi`] for
/// a multi). [`Error::code`] gives the ZooKeeper-style code of any of them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The ensemble answered the request with an error code (or the client gave up
    /// waiting: [`Code::OperationTimeout`]).
    #[error("{}", describe(*.code, .message))]
    Server {
        /// What went wrong.
        code: Code,
        /// Detail from the server, usually the path involved.
        message: String,
    },
    /// An operation of a multi failed, so none of them was applied.
    #[error("multi operation {index}: {}", describe(*.code, .message))]
    Multi {
        /// The position of the failing operation in the multi (from 0).
        index: usize,
        /// Why it failed.
        code: Code,
        /// Detail from the server, usually the path involved.
        message: String,
    },
    /// The answer could not arrive: the connection was lost while a read was in flight
    /// (retry it), or the session was lost while a write was in flight (it may or may
    /// not have been applied).
    #[error("connection loss: {0}")]
    ConnectionLoss(String),
    /// The session expired or was closed by the ensemble; this client cannot be used
    /// any more.
    #[error("session expired")]
    SessionExpired,
    /// The client was closed by its owner.
    #[error("client closed")]
    Closed,
    /// The request was rejected before it was sent (invalid path, value too large, ...).
    #[error("bad arguments: {0}")]
    BadArguments(String),
    /// The server sent something this client does not understand.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// A persistent watch was removed with
    /// [`Client::remove_watches`](crate::Client::remove_watches): the last item of its
    /// stream.
    #[error("watch on {path} removed")]
    WatchRemoved {
        /// The watched path.
        path: String,
    },
    /// A persistent watch missed events its member could not replay after a reconnect:
    /// the last item of its stream. Changes up to `zxid` may be missing; read the state
    /// again and add a new watch.
    #[error("watch needs a resync: events up to zxid {zxid} may be missing")]
    ResyncNeeded {
        /// Events up to this zxid may have been missed.
        zxid: u64,
    },
}

fn describe(code: Code, message: &str) -> String {
    if message.is_empty() {
        code.describe().to_string()
    } else {
        format!("{}: {}", code.describe(), message)
    }
}

impl Error {
    /// The ZooKeeper-style code of this error.
    pub fn code(&self) -> Code {
        match self {
            Error::Server { code, .. } | Error::Multi { code, .. } => *code,
            Error::ConnectionLoss(_) => Code::ConnectionLoss,
            Error::SessionExpired | Error::Closed => Code::SessionExpired,
            Error::BadArguments(_) => Code::BadArguments,
            Error::Protocol(_) => Code::MarshallingError,
            Error::WatchRemoved { .. } => Code::NoWatcher,
            Error::ResyncNeeded { .. } => Code::ResyncNeeded,
        }
    }

    /// Builds the error for a wire code and message (`None` for `OK`), in the one shape
    /// its condition has.
    #[doc(hidden)]
    pub fn from_server(code: Pb, message: impl Into<String>) -> Option<Error> {
        let code = Code::from_proto(code)?;
        Some(match code {
            Code::SessionExpired => Error::SessionExpired,
            Code::ConnectionLoss => Error::ConnectionLoss(message.into()),
            code => Error::Server {
                code,
                message: message.into(),
            },
        })
    }

    /// Whether the request can be retried unchanged (see [`Code::is_retryable`]).
    pub fn is_retryable(&self) -> bool {
        self.code().is_retryable()
    }
}

/// Result type of the SDK.
pub type Result<T, E = Error> = std::result::Result<T, E>;
