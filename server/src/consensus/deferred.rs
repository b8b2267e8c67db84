//! A deliberately broken log, for testing the fault-injection harness: with the failpoint
//! [`FAILPOINT`] on, [`super::storage::DiskStorage::persist`] reports writes as durable
//! while it keeps them in memory for up to [`HOLD`], so a member acknowledges, votes and
//! answers appends for entries a kill -9 then loses.
//!
//! Compiled only with the `failpoints` cargo feature, which release builds never enable;
//! inert unless `FAILPOINTS="storage::ack_before_durable=return"` is set when `paddockd`
//! starts. The jepsen/ harness runs a kill-all workload against such a build and must
//! report the lost acknowledged writes.
use std::time::{Duration, Instant};

use raft::eraftpb::Entry;
use raft_engine::{Engine, LogBatch};

use super::storage::StorageFailure;

/// The failpoint's name.
pub const FAILPOINT: &str = "storage::ack_before_durable";
/// How long writes stay in memory only.
pub const HOLD: Duration = Duration::from_millis(1500);

/// Writes reported durable but not yet written, and the entries among them, which the
/// storage serves from here until they are written.
#[derive(Default)]
pub struct Deferred {
    batch: LogBatch,
    /// Contiguous entries not yet written, by index.
    entries: Vec<Entry>,
    since: Option<Instant>,
}

impl Deferred {
    /// Whether the failpoint is on.
    pub fn active() -> bool {
        fail::eval(FAILPOINT, |_| ()).is_some()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.since.is_none()
    }

    /// Records entries appended (they are also in the staged batch).
    pub fn note_entries(&mut self, entries: &[Entry]) {
        let Some(first) = entries.first().map(|e| e.index) else {
            return;
        };
        match self.entries.first().map(|e| e.index) {
            Some(a) if first > a => self.entries.truncate((first - a) as usize),
            _ => self.entries.clear(),
        }
        self.entries.extend_from_slice(entries);
    }

    /// Takes over a staged batch.
    pub fn hold(&mut self, staged: &mut LogBatch) -> Result<(), StorageFailure> {
        self.batch.merge(staged)?;
        self.since.get_or_insert_with(Instant::now);
        Ok(())
    }

    /// Whether the oldest held write has waited long enough.
    pub fn due(&self) -> bool {
        self.since.is_some_and(|t| t.elapsed() >= HOLD)
    }

    /// Writes everything held, durably.
    pub fn flush(&mut self, engine: &Engine) -> Result<(), StorageFailure> {
        if !self.batch.is_empty() {
            engine.write(&mut self.batch, true)?;
        }
        self.entries.clear();
        self.since = None;
        Ok(())
    }

    /// The index of the first held entry.
    pub fn first_index(&self) -> Option<u64> {
        self.entries.first().map(|e| e.index)
    }

    /// The index of the last held entry.
    pub fn last_index(&self) -> Option<u64> {
        self.entries.last().map(|e| e.index)
    }

    /// The held entry at `index`.
    pub fn get(&self, index: u64) -> Option<&Entry> {
        let a = self.first_index()?;
        self.entries.get(index.checked_sub(a)? as usize)
    }
}
