//! The durable Raft log: raft-rs's [`Storage`] over raft-engine.
//!
//! Layout inside the engine (one engine per member, in `<data-dir>/raft`):
//! - region [`ENTRIES`]: the log entries, nothing else, so that installing a snapshot
//!   can drop them all with one `Clean` command;
//! - region [`META`]: key-values `hard_state` (HardState), `conf_state` (ConfState),
//!   `truncated` (index and term of the last entry removed by compaction) and
//!   `snapshot` (metadata of the newest state-machine snapshot on disk).
//!
//! Invariants (to ensure correctness):
//! - [`DiskStorage::append`] and [`DiskStorage::set_hard_state`] only stage writes;
//!   [`DiskStorage::persist`] makes them durable with one fsync. Nothing that depends
//!   on durability (acknowledging a write, voting, answering an append) happens before
//!   `persist` returns: the Raft loop follows raft-rs's Ready order.
//! - `first_index() == truncated.index + 1` and `term(truncated.index)` is always known,
//!   as raft-rs requires for the entry before the first one.
//! - Entries are compacted only up to an index covered by a durable snapshot, so
//!   restart = newest snapshot + replay of the entries after it.
//! - Any I/O error is returned to the caller, which treats it as fatal: a member that
//!   cannot write its log must stop rather than diverge.
//! - Test builds with the `failpoints` feature can break the first invariant on purpose
//!   (`deferred.rs`), so that the fault-injection harness can show it notices.
use std::path::Path;
use std::sync::Arc;

use raft::eraftpb::{ConfState, Entry, HardState, Snapshot, SnapshotMetadata};
use raft::{GetEntriesContext, RaftState, Storage, StorageError};
use raft_engine::{Engine, LogBatch, MessageExt};

/// Region of the log entries.
const ENTRIES: u64 = 1;
/// Region of the metadata key-values.
const META: u64 = 2;
const KEY_HARD_STATE: &[u8] = b"hard_state";
const KEY_CONF_STATE: &[u8] = b"conf_state";
const KEY_TRUNCATED: &[u8] = b"truncated";
const KEY_SNAPSHOT: &[u8] = b"snapshot";

/// Errors of the durable log. All of them are fatal for the member.
#[derive(Debug, thiserror::Error)]
pub enum StorageFailure {
    /// raft-engine failed (I/O, corruption).
    #[error("raft log: {0}")]
    Engine(#[from] raft_engine::Error),
    /// A stored record could not be decoded.
    #[error("raft log record: {0}")]
    Codec(#[from] protobuf::ProtobufError),
    /// A snapshot could not be written, or one from the leader could not be restored.
    #[error("snapshot: {0}")]
    Snapshot(String),
    /// The log no longer holds entries this member had made durable and acknowledged
    /// (the leader counts on them): its disk lost data. Serving on would risk a lost
    /// write or a double vote; the member stops instead.
    #[error(
        "the raft log lost entries it had acknowledged: {0}; this member's data is damaged: \
         move its data directory away and start it empty with --rejoin-after-data-loss to \
         rejoin from its peers"
    )]
    DataLoss(String),
}

#[derive(Clone)]
struct EntryExt;

impl MessageExt for EntryExt {
    type Entry = Entry;
    fn index(e: &Entry) -> u64 {
        e.index
    }
}

/// Where the newest snapshot's bytes come from when raft-rs asks for one to send.
pub trait SnapshotSource: Send + Sync {
    /// The bytes of the snapshot at `index`, or `None` if it is not on disk (any more).
    fn load(&self, index: u64) -> Option<Arc<Vec<u8>>>;
}

/// raft-rs storage backed by raft-engine. Owned by the Raft loop (inside the RawNode).
pub struct DiskStorage {
    engine: Arc<Engine>,
    /// Whether the log was created by this open.
    created: bool,
    /// Set while a background purge of compacted log files runs.
    purging: Arc<std::sync::atomic::AtomicBool>,
    hard_state: HardState,
    conf_state: ConfState,
    /// Index and term of the entry just before the first one held.
    truncated: SnapshotMetadata,
    /// Metadata of the newest durable state-machine snapshot (index 0: none yet).
    snapshot: SnapshotMetadata,
    /// Staged writes, made durable by `persist`.
    batch: LogBatch,
    snapshots: Arc<dyn SnapshotSource>,
    /// Writes the `storage::ack_before_durable` failpoint holds back (test builds only).
    /// Set to the index raft-rs asked a snapshot to reach when none did.
    snapshot_wanted: std::sync::atomic::AtomicU64,
    #[cfg(feature = "failpoints")]
    deferred: super::deferred::Deferred,
}

impl DiskStorage {
    /// Opens (or creates) the log under `dir`. A new log is initialised with `voters`
    /// as its configuration (none for a member that joins an ensemble: it receives the
    /// configuration with the leader's snapshot); an existing one keeps its own.
    pub fn open(
        dir: &Path,
        voters: &[u64],
        snapshots: Arc<dyn SnapshotSource>,
    ) -> Result<DiskStorage, StorageFailure> {
        let cfg = raft_engine::Config {
            dir: dir.to_string_lossy().into_owned(),
            // The tail of the last file may be torn by a crash; everything before it
            // was fsynced before it was acknowledged.
            recovery_mode: raft_engine::RecoveryMode::TolerateTailCorruption,
            target_file_size: raft_engine::ReadableSize::mb(64),
            purge_threshold: raft_engine::ReadableSize::gb(1),
            ..Default::default()
        };
        let engine = Arc::new(Engine::open(cfg)?);
        let hard_state = engine
            .get_message::<HardState>(META, KEY_HARD_STATE)?
            .unwrap_or_default();
        let truncated = engine
            .get_message::<SnapshotMetadata>(META, KEY_TRUNCATED)?
            .unwrap_or_default();
        let snapshot = engine
            .get_message::<SnapshotMetadata>(META, KEY_SNAPSHOT)?
            .unwrap_or_default();
        let mut storage = DiskStorage {
            created: false,
            conf_state: ConfState::default(),
            engine,
            purging: Arc::default(),
            hard_state,
            truncated,
            snapshot,
            batch: LogBatch::default(),
            snapshots,
            snapshot_wanted: Default::default(),
            #[cfg(feature = "failpoints")]
            deferred: Default::default(),
        };
        match storage
            .engine
            .get_message::<ConfState>(META, KEY_CONF_STATE)?
        {
            Some(cs) => storage.conf_state = cs,
            None => {
                storage.created = true;
                let cs = ConfState {
                    voters: voters.to_vec(),
                    ..Default::default()
                };
                storage
                    .batch
                    .put_message(META, KEY_CONF_STATE.to_vec(), &cs)?;
                storage.conf_state = cs;
                storage.persist_now()?;
            }
        }
        storage.verify()?;
        Ok(storage)
    }

    /// Reads every entry the log holds once, so that a damaged entry (raft-engine checks
    /// an entry's checksum only when it is read) stops the start with a clear error
    /// instead of failing later, in the middle of replication.
    fn verify(&self) -> Result<(), StorageFailure> {
        const CHUNK: u64 = 1024;
        let (first, last) = (self.truncated.index + 1, self.last());
        let mut low = first;
        let mut buf = Vec::new();
        while low <= last {
            let high = (low + CHUNK).min(last + 1);
            buf.clear();
            self.engine
                .fetch_entries_to::<EntryExt>(ENTRIES, low, high, None, &mut buf)
                .map_err(|e| {
                    StorageFailure::Engine(raft_engine::Error::Corruption(format!(
                        "entries {low} to {}: {e}",
                        high - 1
                    )))
                })?;
            if let Some(e) = buf
                .iter()
                .enumerate()
                .find(|(i, e)| e.index != low + *i as u64)
            {
                return Err(StorageFailure::Engine(raft_engine::Error::Corruption(
                    format!(
                        "entry {} is stored as index {}",
                        low + e.0 as u64,
                        e.1.index
                    ),
                )));
            }
            low = high;
        }
        if self.hard_state.commit > last && self.hard_state.commit > self.snapshot.index {
            return Err(StorageFailure::DataLoss(format!(
                "its hard state says {} is committed, but it ends at {last}",
                self.hard_state.commit
            )));
        }
        Ok(())
    }

    /// Whether the log has never held anything: no entry, no snapshot, no vote.
    pub fn is_empty(&self) -> bool {
        self.last() == 0 && self.snapshot.index == 0 && self.hard_state.commit == 0
    }

    /// Stages entries for appending; entries at or after the first one replace what
    /// the log held from that index on.
    pub fn append(&mut self, entries: &[Entry]) -> Result<(), StorageFailure> {
        self.batch.add_entries::<EntryExt>(ENTRIES, entries)?;
        #[cfg(feature = "failpoints")]
        if super::deferred::Deferred::active() {
            self.deferred.note_entries(entries);
        }
        Ok(())
    }

    /// Raises the hard state to `term` with a vote already cast (for `me`), durably, so
    /// that no vote is ever granted in `term` or below: for a member that rejoins after
    /// losing its log and learned the ensemble's terms. Nothing changes if the log is
    /// already past `term`, or at it with a vote.
    pub fn adopt_term(&mut self, term: u64, me: u64) -> Result<(), StorageFailure> {
        let hs = &self.hard_state;
        if term < hs.term || (term == hs.term && hs.vote != 0) {
            return Ok(());
        }
        let mut next = hs.clone();
        next.term = term;
        next.vote = me;
        self.set_hard_state(&next)?;
        self.persist_now()?;
        Ok(())
    }

    /// Stages a new hard state.
    pub fn set_hard_state(&mut self, hs: &HardState) -> Result<(), StorageFailure> {
        self.hard_state = hs.clone();
        self.batch.put_message(META, KEY_HARD_STATE.to_vec(), hs)?;
        Ok(())
    }

    /// Stages a new commit index (from a LightReady).
    pub fn set_commit(&mut self, commit: u64) -> Result<(), StorageFailure> {
        let mut hs = self.hard_state.clone();
        hs.commit = commit;
        self.set_hard_state(&hs)
    }

    /// Makes every staged write durable (one fsync). Returns whether anything was written.
    pub fn persist(&mut self) -> Result<bool, StorageFailure> {
        #[cfg(feature = "failpoints")]
        if super::deferred::Deferred::active() {
            // Broken on purpose (see `deferred.rs`): report durable, write later.
            if !self.batch.is_empty() {
                self.deferred.hold(&mut self.batch)?;
            }
            if self.deferred.due() {
                self.deferred.flush(&self.engine)?;
            }
            return Ok(true);
        }
        self.persist_now()
    }

    /// Like [`DiskStorage::persist`], and also writes whatever a test failpoint held back.
    fn persist_now(&mut self) -> Result<bool, StorageFailure> {
        #[cfg(feature = "failpoints")]
        if !self.deferred.is_empty() {
            self.deferred.hold(&mut self.batch)?;
            self.deferred.flush(&self.engine)?;
            return Ok(true);
        }
        if self.batch.is_empty() {
            return Ok(false);
        }
        self.engine.write(&mut self.batch, true)?;
        Ok(true)
    }

    /// Records a snapshot received from the leader: drops every entry (the snapshot
    /// replaces them) and makes the new metadata durable at once. The snapshot's bytes
    /// must already be durable in the snapshot directory.
    pub fn install_snapshot(&mut self, meta: &SnapshotMetadata) -> Result<(), StorageFailure> {
        let mut batch = LogBatch::default();
        batch.add_command(ENTRIES, raft_engine::Command::Clean);
        let mut plain = meta.clone();
        plain.clear_conf_state();
        batch.put_message(META, KEY_TRUNCATED.to_vec(), &plain)?;
        batch.put_message(META, KEY_SNAPSHOT.to_vec(), meta)?;
        batch.put_message(META, KEY_CONF_STATE.to_vec(), meta.get_conf_state())?;
        let mut hs = self.hard_state.clone();
        hs.commit = hs.commit.max(meta.index);
        hs.term = hs.term.max(meta.term);
        batch.put_message(META, KEY_HARD_STATE.to_vec(), &hs)?;
        self.persist_now()?;
        self.engine.write(&mut batch, true)?;
        self.hard_state = hs;
        self.truncated = plain;
        self.snapshot = meta.clone();
        self.conf_state = meta.get_conf_state().clone();
        Ok(())
    }

    /// Records a snapshot this member took at `index` (durable on disk already), with
    /// `conf`, the configuration as of `index`, and compacts the log so that at most
    /// `keep` entries before `index` remain. The recorded configuration is the one a
    /// restart begins with: the membership changes after `index` are applied again as
    /// the log after the snapshot is replayed.
    pub fn snapshot_taken(
        &mut self,
        index: u64,
        term: u64,
        keep: u64,
        conf: ConfState,
    ) -> Result<(), StorageFailure> {
        if index <= self.snapshot.index {
            return Ok(());
        }
        let mut meta = SnapshotMetadata {
            index,
            term,
            ..Default::default()
        };
        meta.set_conf_state(conf.clone());
        let mut batch = LogBatch::default();
        batch.put_message(META, KEY_SNAPSHOT.to_vec(), &meta)?;
        batch.put_message(META, KEY_CONF_STATE.to_vec(), &conf)?;
        // The snapshot holds applied (so committed) entries: a restart must never see a
        // commit index below it.
        if self.hard_state.commit < index {
            self.hard_state.commit = index;
            batch.put_message(META, KEY_HARD_STATE.to_vec(), &self.hard_state)?;
        }
        let compact_to = index.saturating_sub(keep);
        let mut truncated = self.truncated.clone();
        if compact_to > self.truncated.index + 1 {
            truncated.index = compact_to - 1;
            truncated.term = self.term(compact_to - 1).map_err(|e| {
                StorageFailure::Engine(raft_engine::Error::Other(
                    format!("term of {}: {e}", compact_to - 1).into(),
                ))
            })?;
            batch.put_message(META, KEY_TRUNCATED.to_vec(), &truncated)?;
            batch.add_command(ENTRIES, raft_engine::Command::Compact { index: compact_to });
        }
        self.persist_now()?;
        self.engine.write(&mut batch, true)?;
        self.snapshot = meta;
        self.conf_state = conf;
        self.truncated = truncated;
        // Reclaim files that hold only compacted entries, off the Raft loop: a purge
        // may rewrite live entries and take long enough to miss heartbeats.
        if !self.purging.swap(true, std::sync::atomic::Ordering::AcqRel) {
            let (engine, purging) = (self.engine.clone(), self.purging.clone());
            std::thread::spawn(move || {
                let _ = engine.purge_expired_files();
                purging.store(false, std::sync::atomic::Ordering::Release);
            });
        }
        Ok(())
    }

    /// Quorum-loss recovery (`--force-new-ensemble`): makes `me` the only voter and
    /// everything this log holds committed, durably. What the old majority committed
    /// beyond this log is lost, and entries here that it never committed become
    /// committed: the operator accepts both by asking for it.
    pub fn force_new_ensemble(&mut self, me: u64) -> Result<(), StorageFailure> {
        let cs = ConfState {
            voters: vec![me],
            ..Default::default()
        };
        let mut hs = self.hard_state.clone();
        hs.commit = hs.commit.max(self.last()).max(self.snapshot.index);
        // A vote cast in the old ensemble must not stop this member electing itself.
        hs.term += 1;
        hs.vote = me;
        let mut batch = LogBatch::default();
        batch.put_message(META, KEY_CONF_STATE.to_vec(), &cs)?;
        batch.put_message(META, KEY_HARD_STATE.to_vec(), &hs)?;
        if self.snapshot.index > 0 {
            let mut snap = self.snapshot.clone();
            snap.set_conf_state(cs.clone());
            batch.put_message(META, KEY_SNAPSHOT.to_vec(), &snap)?;
            self.snapshot = snap;
        }
        self.persist_now()?;
        self.engine.write(&mut batch, true)?;
        self.conf_state = cs;
        self.hard_state = hs;
        Ok(())
    }

    /// The highest index raft-rs asked a snapshot to reach (for a follower that
    /// requested one, such as a member that joins) when the newest one did not, since
    /// the last call; 0 if none.
    pub fn take_snapshot_wanted(&self) -> u64 {
        self.snapshot_wanted
            .swap(0, std::sync::atomic::Ordering::AcqRel)
    }

    /// Metadata of the newest durable snapshot (index 0 when there is none).
    pub fn snapshot_metadata(&self) -> &SnapshotMetadata {
        &self.snapshot
    }

    /// Whether this log was created by this open (its directory held no log).
    pub fn created(&self) -> bool {
        self.created
    }

    /// The engine, for the records that live beside the log (see `incarnation.rs`).
    pub fn engine(&self) -> Arc<Engine> {
        self.engine.clone()
    }

    /// The configuration the log starts from: the newest snapshot's (or the first one,
    /// before any snapshot). Membership changes after it are in the log.
    pub fn conf_state(&self) -> &ConfState {
        &self.conf_state
    }

    /// The voters recorded in the log's configuration.
    pub fn voters(&self) -> Vec<u64> {
        self.conf_state.voters.clone()
    }

    /// The current hard state.
    pub fn hard_state(&self) -> &HardState {
        &self.hard_state
    }

    fn last(&self) -> u64 {
        #[cfg(feature = "failpoints")]
        if let Some(l) = self.deferred.last_index() {
            return l;
        }
        self.engine
            .last_index(ENTRIES)
            .filter(|&i| i > self.truncated.index)
            .unwrap_or(self.truncated.index)
    }
}

/// A loaded snapshot file lent to a `Bytes` without copying it.
struct SharedBytes(Arc<Vec<u8>>);

impl AsRef<[u8]> for SharedBytes {
    fn as_ref(&self) -> &[u8] {
        self.0.as_slice()
    }
}

fn other(msg: String) -> raft::Error {
    raft::Error::Store(StorageError::Other(msg.into()))
}

impl Storage for DiskStorage {
    fn initial_state(&self) -> raft::Result<RaftState> {
        Ok(RaftState::new(
            self.hard_state.clone(),
            self.conf_state.clone(),
        ))
    }

    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        _context: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        if low <= self.truncated.index {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        if high > self.last() + 1 {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        let mut out = Vec::with_capacity((high - low).min(1024) as usize);
        let max = max_size.into().map(|m| m as usize);
        #[cfg(feature = "failpoints")]
        if let Some(a) = self.deferred.first_index().filter(|&a| a < high) {
            if low < a {
                self.engine
                    .fetch_entries_to::<EntryExt>(ENTRIES, low, a, max, &mut out)
                    .map_err(|e| other(e.to_string()))?;
            }
            out.extend((low.max(a)..high).filter_map(|i| self.deferred.get(i).cloned()));
            // Entries are never split: keep at least one, then stop at max_size.
            if let Some(max) = max {
                let mut size = 0;
                let keep = out
                    .iter()
                    .take_while(|e| {
                        size += protobuf::Message::compute_size(*e) as usize;
                        size <= max
                    })
                    .count()
                    .max(1);
                out.truncate(keep);
            }
            return Ok(out);
        }
        self.engine
            .fetch_entries_to::<EntryExt>(ENTRIES, low, high, max, &mut out)
            .map_err(|e| other(e.to_string()))?;
        Ok(out)
    }

    fn term(&self, idx: u64) -> raft::Result<u64> {
        if idx == self.truncated.index {
            return Ok(self.truncated.term);
        }
        if idx < self.truncated.index {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        if idx > self.last() {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        #[cfg(feature = "failpoints")]
        if self.deferred.first_index().is_some_and(|a| idx >= a) {
            return match self.deferred.get(idx) {
                Some(e) => Ok(e.term),
                None => Err(raft::Error::Store(StorageError::Unavailable)),
            };
        }
        match self.engine.get_entry::<EntryExt>(ENTRIES, idx) {
            Ok(Some(e)) => Ok(e.term),
            Ok(None) => Err(raft::Error::Store(StorageError::Unavailable)),
            Err(e) => Err(other(e.to_string())),
        }
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(self.truncated.index + 1)
    }

    fn last_index(&self) -> raft::Result<u64> {
        Ok(self.last())
    }

    fn snapshot(&self, request_index: u64, _to: u64) -> raft::Result<Snapshot> {
        let meta = &self.snapshot;
        if meta.index == 0 || meta.index < request_index {
            // The loop takes one (see `take_snapshot_wanted`); raft-rs asks again.
            self.snapshot_wanted
                .fetch_max(request_index.max(1), std::sync::atomic::Ordering::AcqRel);
            return Err(raft::Error::Store(
                StorageError::SnapshotTemporarilyUnavailable,
            ));
        }
        let Some(data) = self.snapshots.load(meta.index) else {
            return Err(raft::Error::Store(
                StorageError::SnapshotTemporarilyUnavailable,
            ));
        };
        let mut snap = Snapshot::default();
        snap.set_metadata(meta.clone());
        // The file's bytes as they are loaded (and cached), not a copy of them.
        snap.data = bytes::Bytes::from_owner(SharedBytes(data));
        Ok(snap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoSnapshots;

    impl SnapshotSource for NoSnapshots {
        fn load(&self, _index: u64) -> Option<Arc<Vec<u8>>> {
            None
        }
    }

    /// Entries 1..=n whose data is `n` distinct, incompressible 64-byte strings.
    fn entries(n: u64) -> Vec<Entry> {
        (1..=n)
            .map(|i| Entry {
                index: i,
                term: 1,
                data: (0..64u64)
                    .map(|k| (xxhash_rust::xxh3::xxh3_64(&(i * 64 + k).to_le_bytes()) & 0xff) as u8)
                    .collect::<Vec<u8>>()
                    .into(),
                ..Default::default()
            })
            .collect()
    }

    fn write_log(dir: &Path, n: u64) -> Vec<Entry> {
        let mut s = DiskStorage::open(dir, &[1], Arc::new(NoSnapshots)).expect("open");
        let es = entries(n);
        // One write per 20 entries, as the Raft loop makes them.
        for chunk in es.chunks(20) {
            s.append(chunk).expect("append");
            let hs = HardState {
                term: 1,
                commit: chunk[chunk.len() - 1].index,
                ..Default::default()
            };
            s.set_hard_state(&hs).expect("hard state");
            s.persist().expect("persist");
        }
        es
    }

    #[test]
    fn a_log_reopens_with_every_entry() {
        let d = tempfile::tempdir().expect("tempdir");
        let es = write_log(d.path(), 200);
        let s = DiskStorage::open(d.path(), &[1], Arc::new(NoSnapshots)).expect("reopen");
        assert_eq!(s.last_index().expect("last"), 200);
        let got = s
            .entries(1, 201, None, GetEntriesContext::empty(false))
            .expect("entries");
        assert_eq!(got, es);
    }

    #[test]
    fn a_damaged_entry_stops_the_start_with_a_clear_error() {
        let d = tempfile::tempdir().expect("tempdir");
        let es = write_log(d.path(), 200);
        // Flip one bit inside the data of entry 100 (not in the last write, which a torn
        // tail could explain), found by its bytes in the file.
        let file = std::fs::read_dir(d.path())
            .expect("dir")
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "raftlog"))
            .expect("a log file");
        let mut bytes = std::fs::read(&file).expect("read");
        let needle = &es[99].data[..32];
        let at = bytes
            .windows(needle.len())
            .position(|w| w == needle)
            .expect("entry data in the file");
        bytes[at + 5] ^= 0x10;
        std::fs::write(&file, &bytes).expect("write");
        let err = match DiskStorage::open(d.path(), &[1], Arc::new(NoSnapshots)) {
            Ok(_) => panic!("a log with a damaged entry opened"),
            Err(e) => e.to_string(),
        };
        assert!(
            err.contains("Corruption") || err.contains("hecksum"),
            "unclear error: {err}"
        );
    }
}
