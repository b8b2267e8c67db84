//! Per-handle call options: the namespace every path lives under, how long a call may
//! wait, and how reads are retried.
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};

/// A path prefix (ZooKeeper's chroot, Curator's namespace) applied to every path a
/// handle sends and removed from every path it returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Namespace(Option<Arc<str>>);

impl Namespace {
    /// The namespace `prefix` (a valid absolute path; `/` is none).
    pub fn new(prefix: &str) -> Result<Namespace> {
        crate::path::validate(prefix).map_err(Error::BadArguments)?;
        Ok(Namespace((prefix != "/").then(|| Arc::from(prefix))))
    }

    /// This namespace with `inner` below it.
    pub fn nested(&self, inner: &Namespace) -> Namespace {
        match (&self.0, &inner.0) {
            (Some(a), Some(b)) => Namespace(Some(Arc::from(format!("{a}{b}").as_str()))),
            (None, b) => Namespace(b.clone()),
            (a, None) => Namespace(a.clone()),
        }
    }

    /// The prefix, if any.
    pub fn prefix(&self) -> Option<&str> {
        self.0.as_deref()
    }

    /// The ensemble's path for the caller's (already validated) `path`.
    pub fn full(&self, path: &str) -> String {
        match &self.0 {
            None => path.to_string(),
            Some(p) if path == "/" => p.to_string(),
            Some(p) => format!("{p}{path}"),
        }
    }

    /// The caller's path for the ensemble's `path` (unchanged if it lies outside).
    pub fn local(&self, path: &str) -> String {
        match &self.0 {
            None => path.to_string(),
            Some(p) if path == &**p => "/".to_string(),
            Some(p) => match path.strip_prefix(&**p) {
                Some(rest) if rest.starts_with('/') => rest.to_string(),
                _ => path.to_string(),
            },
        }
    }
}

/// How a handle retries a read that failed for a reason that passes (a lost
/// connection, a member that is not ready, a timeout): exponential backoff from
/// `initial` doubling up to `max_delay` between attempts, for at most `max_attempts`
/// attempts in all. Writes need no policy: the session resends a write that may not
/// have applied, with its original xid, until it is answered or the session is lost,
/// and the ensemble applies it at most once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The wait before the first retry.
    pub initial: Duration,
    /// The longest wait between two attempts.
    pub max_delay: Duration,
    /// Attempts in all, the first one included (1: no retry).
    pub max_attempts: u32,
}

impl RetryPolicy {
    /// No retry: a read fails with the first error.
    pub const NONE: RetryPolicy = RetryPolicy {
        initial: Duration::ZERO,
        max_delay: Duration::ZERO,
        max_attempts: 1,
    };

    /// Exponential backoff from `initial` to `max_delay`, `max_attempts` attempts in all.
    pub fn exponential(initial: Duration, max_delay: Duration, max_attempts: u32) -> RetryPolicy {
        RetryPolicy {
            initial,
            max_delay,
            max_attempts: max_attempts.max(1),
        }
    }

    /// The wait before attempt `attempt` (2 for the first retry), or `None` when no
    /// attempt is left.
    pub fn delay(&self, attempt: u32) -> Option<Duration> {
        if attempt > self.max_attempts {
            return None;
        }
        let doublings = attempt.saturating_sub(2).min(30);
        Some(
            self.initial
                .saturating_mul(1u32 << doublings)
                .min(self.max_delay),
        )
    }
}

impl Default for RetryPolicy {
    /// Ten attempts, from 50 ms doubling up to 2 s apart (about 8 s in all).
    fn default() -> Self {
        RetryPolicy::exponential(Duration::from_millis(50), Duration::from_secs(2), 10)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_map_paths_both_ways() {
        let ns = Namespace::new("/app").expect("valid");
        assert_eq!(ns.full("/"), "/app");
        assert_eq!(ns.full("/a/b"), "/app/a/b");
        assert_eq!(ns.local("/app"), "/");
        assert_eq!(ns.local("/app/a"), "/a");
        assert_eq!(ns.local("/apple"), "/apple", "a sibling is outside");
        let none = Namespace::new("/").expect("valid");
        assert_eq!(none.full("/a"), "/a");
        assert_eq!(
            ns.nested(&Namespace::new("/x").expect("valid")).full("/y"),
            "/app/x/y"
        );
        assert!(Namespace::new("app").is_err());
    }

    #[test]
    fn backoff_doubles_up_to_its_bounds() {
        let p = RetryPolicy::exponential(Duration::from_millis(10), Duration::from_millis(35), 5);
        let delays: Vec<_> = (2..=6).map(|a| p.delay(a)).collect();
        assert_eq!(
            delays,
            vec![
                Some(Duration::from_millis(10)),
                Some(Duration::from_millis(20)),
                Some(Duration::from_millis(35)),
                Some(Duration::from_millis(35)),
                None
            ]
        );
        assert_eq!(RetryPolicy::NONE.delay(2), None);
    }
}
