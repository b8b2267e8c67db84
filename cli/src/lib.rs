//! `paddock`, the command line of a Paddock ensemble, as a library so that the
//! binary stays a thin shell and integration tests can drive commands directly.
//!
//! Modules:
//! - [`args`]: the command line as clap definitions (parsing only).
//! - [`commands`]: one file per command; opens sessions, calls the SDK, prints.
//! - [`bench`]: the closed-loop load generator (`paddock bench`).
//! - [`output`]: text and JSON formatting (stat lists, tables, times).
//! - [`http`]: the tiny HTTP/1.1 GET used for the members' admin `/status`.
//!
//! Exit status (see [`exit_code`]): 0 success, 1 a Paddock or runtime error (message on
//! stderr, `paddock: <error>`), 2 a usage error; `paddock lock` exits with its command's.
pub mod args;
pub mod bench;
pub mod commands;
pub mod http;
pub mod output;

pub use args::Cli;
pub use commands::run;

/// A usage error found after parsing (e.g. an empty address list); exits with 2
/// like clap's own usage errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Exit with this status and print nothing more: the status of a command that
/// `paddock lock` ran (it reported for itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitWith(pub i32);

impl std::fmt::Display for ExitWith {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit status {}", self.0)
    }
}

impl std::error::Error for ExitWith {}

/// The exit status for an error returned by [`run`]: 2 for usage errors, the given
/// status for [`ExitWith`], else 1.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    if err.downcast_ref::<UsageError>().is_some() {
        2
    } else if let Some(ExitWith(code)) = err.downcast_ref::<ExitWith>() {
        *code
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes() {
        assert_eq!(exit_code(&UsageError("x".into()).into()), 2);
        let no_node = paddock::Error::Server {
            code: paddock::Code::NoNode,
            message: "/a/b".into(),
        };
        assert_eq!(no_node.to_string(), "no node: /a/b");
        assert_eq!(exit_code(&no_node.into()), 1);
        assert_eq!(exit_code(&anyhow::anyhow!("other")), 1);
    }
}
