//! The member's recent history of tree changes, so that persistent watches
//! re-registered after a reconnect get the events they missed while the client was
//! away, instead of silently skipping them.
//!
//! The history is complete after a known zxid: it holds every change applied after
//! [`History::complete_after`], up to the tree's current state. Old changes are
//! dropped once the history holds more than its byte budget, and a tree replaced by a
//! snapshot starts a new history at the snapshot's index (what the snapshot skipped
//! is unknown). A client whose watches were complete up to a zxid older than that can
//! only be told that it must read the state again ("resync needed").
use std::collections::VecDeque;

use crate::tree::{Change, ChangeKind};

/// Default byte budget of a member's change history (a path's length plus
/// [`ENTRY_OVERHEAD`] per change): about 100,000 changes of 40-byte paths.
pub const HISTORY_BYTES: usize = 8 << 20;

/// Bytes counted per change beside its path.
pub const ENTRY_OVERHEAD: usize = 48;

/// One recorded change: what happened where, at which zxid, as which change of that
/// transaction (a multi changes several nodes under one zxid).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The transaction's zxid.
    pub zxid: u64,
    /// The change's position among its transaction's changes.
    pub index: u32,
    /// What happened.
    pub kind: ChangeKind,
    /// Where.
    pub path: String,
}

/// Recent changes, oldest first, bounded in bytes.
#[derive(Debug)]
pub struct History {
    entries: VecDeque<Recorded>,
    bytes: usize,
    budget: usize,
    complete_after: u64,
}

/// The history no longer reaches back to the zxid asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the change history starts after zxid {complete_after}; zxid {asked} is older")]
pub struct Gap {
    /// The zxid after which the history is complete.
    pub complete_after: u64,
    /// The zxid asked for.
    pub asked: u64,
}

impl History {
    /// An empty history of a tree at `zxid`, holding at most `budget` bytes.
    pub fn new(zxid: u64, budget: usize) -> History {
        History {
            entries: VecDeque::new(),
            bytes: 0,
            budget,
            complete_after: zxid,
        }
    }

    /// Every change after this zxid is in the history.
    pub fn complete_after(&self) -> u64 {
        self.complete_after
    }

    /// Records the changes of the transaction at `zxid` (called in zxid order), then
    /// drops the oldest changes beyond the budget.
    pub fn record(&mut self, zxid: u64, changes: &[Change]) {
        for (i, change) in changes.iter().enumerate() {
            self.bytes += change.path.len() + ENTRY_OVERHEAD;
            self.entries.push_back(Recorded {
                zxid,
                index: u32::try_from(i).unwrap_or(u32::MAX),
                kind: change.kind,
                path: change.path.clone(),
            });
        }
        while self.bytes > self.budget {
            let Some(old) = self.entries.pop_front() else {
                break;
            };
            self.bytes -= old.path.len() + ENTRY_OVERHEAD;
            // Changes of `old.zxid` may remain, but a client must have seen all of
            // that transaction for the history to serve it.
            self.complete_after = self.complete_after.max(old.zxid);
        }
    }

    /// Forgets everything: the tree was replaced by a snapshot at `zxid`.
    pub fn reset(&mut self, zxid: u64) {
        self.entries.clear();
        self.bytes = 0;
        self.complete_after = zxid;
    }

    /// Every change after `zxid`, oldest first; a [`Gap`] when some of them were
    /// already dropped (or skipped by a snapshot).
    pub fn since(&self, zxid: u64) -> Result<impl Iterator<Item = &Recorded>, Gap> {
        if zxid < self.complete_after {
            return Err(Gap {
                complete_after: self.complete_after,
                asked: zxid,
            });
        }
        let start = self.entries.partition_point(|r| r.zxid <= zxid);
        Ok(self.entries.range(start..))
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(kind: ChangeKind, path: &str) -> Change {
        Change {
            kind,
            path: path.to_string(),
        }
    }

    fn zxids(h: &History, since: u64) -> Result<Vec<(u64, u32)>, Gap> {
        Ok(h.since(since)?.map(|r| (r.zxid, r.index)).collect())
    }

    #[test]
    fn serves_every_change_after_a_zxid_it_still_covers() {
        let mut h = History::new(10, HISTORY_BYTES);
        h.record(11, &[change(ChangeKind::NodeCreated, "/a")]);
        h.record(
            12,
            &[
                change(ChangeKind::NodeDataChanged, "/a"),
                change(ChangeKind::NodeDeleted, "/b"),
            ],
        );
        assert_eq!(zxids(&h, 10), Ok(vec![(11, 0), (12, 0), (12, 1)]));
        assert_eq!(zxids(&h, 11), Ok(vec![(12, 0), (12, 1)]));
        assert_eq!(zxids(&h, 12), Ok(vec![]));
        assert_eq!(
            zxids(&h, 9),
            Err(Gap {
                complete_after: 10,
                asked: 9
            }),
            "what came before the history started is unknown"
        );
    }

    #[test]
    fn dropping_old_changes_moves_the_start_and_keeps_the_budget() {
        let per = "/a".len() + ENTRY_OVERHEAD;
        let mut h = History::new(0, 3 * per);
        for zxid in 1..=5 {
            h.record(zxid, &[change(ChangeKind::NodeDataChanged, "/a")]);
            assert!(h.bytes() <= 3 * per);
        }
        assert_eq!(h.complete_after(), 2);
        assert!(zxids(&h, 1).is_err());
        assert_eq!(zxids(&h, 2), Ok(vec![(3, 0), (4, 0), (5, 0)]));
        // A transaction partly dropped cannot be served from before it.
        let mut h = History::new(0, 3 * per);
        let two = [
            change(ChangeKind::NodeCreated, "/a"),
            change(ChangeKind::NodeDataChanged, "/a"),
        ];
        h.record(1, &two);
        h.record(2, &two);
        assert_eq!(h.complete_after(), 1, "half of zxid 1 was dropped");
        assert!(zxids(&h, 0).is_err());
        assert_eq!(zxids(&h, 1), Ok(vec![(2, 0), (2, 1)]));
    }

    #[test]
    fn a_snapshot_starts_a_new_history() {
        let mut h = History::new(0, HISTORY_BYTES);
        h.record(1, &[change(ChangeKind::NodeCreated, "/a")]);
        h.reset(40);
        assert_eq!(h.bytes(), 0);
        assert!(zxids(&h, 1).is_err());
        assert_eq!(zxids(&h, 40), Ok(vec![]));
    }
}
