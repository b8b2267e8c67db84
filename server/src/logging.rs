//! The server's one logger tree.
//!
//! Job: build the root [`slog::Logger`] that every component (raft-rs included, which takes a
//! `slog::Logger`) derives its child loggers from, e.g. `root.new(o!("member" => id))` and then
//! `log.new(o!("component" => "raft"))`.
//!
//! Guarantees:
//! - Everything goes to stderr: human-readable text by default, one JSON object per line with
//!   `--log-format json`. Stdout stays free for programs that drive `paddockd`.
//! - Records below the configured level are filtered *before* the asynchronous channel, so
//!   disabled `debug!`/`trace!` calls cost a level comparison and nothing else.
//! - Writing a log record never blocks the caller on stderr: the records go through a bounded
//!   channel ([`ASYNC_CHANNEL_SIZE`] records) to one writer thread. The Raft loop must not stall
//!   because whoever reads our stderr is slow, so on overflow records are dropped *and counted*:
//!   the writer thread emits an error record saying how many were lost (slog-async's
//!   `DropAndReport`). At ordinary volume the channel never fills and nothing is lost.
//! - Records still queued when the last handle of the root logger is dropped are flushed by the
//!   writer thread before it exits. Keep a clone of the root logger alive in `main` until exit.

use serde::{Deserialize, Serialize};
use slog::{o, Drain, Logger};

/// How many records the asynchronous drain buffers before it starts dropping (and reporting)
/// them. Large enough to absorb a burst such as an election with verbose raft-rs logging.
pub const ASYNC_CHANNEL_SIZE: usize = 8192;

/// Output format of the server's logs (`--log-format`, `log_format` in the config file).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, clap::ValueEnum, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines (colours when stderr is a terminal). The default.
    #[default]
    Text,
    /// One JSON object per line, with `ts`, `level`, `msg` and every key-value of the record.
    Json,
}

/// Minimum severity that is logged (`--log-level`, `log_level` in the config file).
///
/// A separate type from [`slog::Level`] because that one has no clap or serde support.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, clap::ValueEnum, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Everything, including raft-rs's per-message traces.
    Trace,
    /// Diagnostics useful while debugging.
    Debug,
    /// Normal operation: elections, membership, snapshots, listeners. The default.
    #[default]
    Info,
    /// Something unexpected that the server handled.
    Warning,
    /// A failed operation.
    Error,
    /// The server cannot continue.
    Critical,
}

impl From<LogLevel> for slog::Level {
    fn from(level: LogLevel) -> slog::Level {
        match level {
            LogLevel::Trace => slog::Level::Trace,
            LogLevel::Debug => slog::Level::Debug,
            LogLevel::Info => slog::Level::Info,
            LogLevel::Warning => slog::Level::Warning,
            LogLevel::Error => slog::Level::Error,
            LogLevel::Critical => slog::Level::Critical,
        }
    }
}

/// Builds the root logger: `format` to stderr, records below `level` discarded.
///
/// Guarantees: the returned logger is cheap to clone and `Send + Sync`; logging through it never
/// blocks on stderr (see the module doc for the overflow policy). The caller adds the member's
/// identity with `logger.new(o!("member" => id))`.
pub fn root_logger(format: LogFormat, level: slog::Level) -> Logger {
    let drain = match format {
        LogFormat::Text => {
            let decorator = slog_term::TermDecorator::new().stderr().build();
            let drain = slog_term::FullFormat::new(decorator).build().fuse();
            async_drain(drain.filter_level(level).fuse())
        }
        LogFormat::Json => {
            let drain = slog_json::Json::new(std::io::stderr())
                .add_default_keys()
                .build()
                .fuse();
            async_drain(drain.filter_level(level).fuse())
        }
    };
    Logger::root(drain, o!())
}

/// Wraps a synchronous drain in the bounded asynchronous channel described in the module doc.
fn async_drain<D>(drain: D) -> slog::Fuse<slog_async::Async>
where
    D: Drain<Ok = (), Err = slog::Never> + Send + 'static,
{
    slog_async::Async::new(drain)
        .chan_size(ASYNC_CHANNEL_SIZE)
        .overflow_strategy(slog_async::OverflowStrategy::DropAndReport)
        .thread_name("paddock-log".to_string())
        .build()
        .fuse()
}

/// A logger that throws every record away. Costs one allocation; for tests and benchmarks.
pub fn discard() -> Logger {
    Logger::root(slog::Discard, o!())
}

/// A synchronous logger that writes text through the test harness's captured stdout, so the
/// output shows up only for failing tests (or with `--nocapture`).
///
/// Guarantees: every record at or above `level` is written before the logging call returns.
pub fn test_logger(level: slog::Level) -> Logger {
    let decorator = slog_term::PlainSyncDecorator::new(slog_term::TestStdoutWriter);
    let drain = slog_term::FullFormat::new(decorator)
        .build()
        .filter_level(level)
        .fuse();
    Logger::root(drain, o!())
}

#[cfg(test)]
mod tests {
    use super::*;
    use slog::info;

    #[test]
    fn loggers_build_and_log() {
        for format in [LogFormat::Text, LogFormat::Json] {
            let log = root_logger(format, slog::Level::Info).new(o!("member" => 1u64));
            info!(log, "hello"; "format" => ?format);
        }
        info!(discard(), "nobody hears this");
        info!(test_logger(slog::Level::Debug), "captured");
    }

    #[test]
    fn level_and_format_names() {
        assert_eq!(slog::Level::from(LogLevel::Warning), slog::Level::Warning);
        let f: LogFormat = serde_json::from_str("\"json\"").unwrap();
        assert_eq!(f, LogFormat::Json);
        let l: LogLevel = serde_json::from_str("\"debug\"").unwrap();
        assert_eq!(l, LogLevel::Debug);
    }
}
