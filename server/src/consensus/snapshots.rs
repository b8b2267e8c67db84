//! State-machine snapshot files: `<data-dir>/snapshots/snap-<index>.snap`.
//!
//! A file holds the tree serialised at a Raft index (the tree's own format carries a
//! checksum, so a torn or corrupted file is detected when it is read). Files are
//! written to a temporary name, fsynced, renamed and the directory fsynced, so a file
//! with its final name is always complete.
//!
//! Guarantees:
//! - Saving never deletes a file. Files are deleted only by [`SnapshotDir::prune_below`],
//!   which the Raft loop calls with the index the log records durably as its snapshot,
//!   so the file a restart needs is never gone (a file saved but not yet recorded, as
//!   after a crash between the two, stays until a later snapshot is recorded).
//! - A file read from disk to be sent to a follower is checked first (magic, length,
//!   checksum): a damaged one is never sent; it is reported through
//!   [`SnapshotDir::take_damaged`] so that the loop writes a fresh snapshot.
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::storage::SnapshotSource;
use crate::tree::DataTree;

/// The snapshot directory of one member.
pub struct SnapshotDir {
    dir: PathBuf,
    /// The newest snapshot's bytes, kept so that sending it to a follower does not
    /// re-read the file each time.
    cache: Mutex<Option<(u64, Arc<Vec<u8>>)>>,
    /// Set when a file turned out damaged; cleared by [`SnapshotDir::take_damaged`].
    damaged: AtomicBool,
}

impl SnapshotDir {
    /// Opens (creating if needed) the directory and removes leftover temporary files.
    pub fn open(dir: &Path) -> std::io::Result<SnapshotDir> {
        fs::create_dir_all(dir)?;
        for entry in fs::read_dir(dir)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "tmp") {
                let _ = fs::remove_file(&path);
            }
        }
        Ok(SnapshotDir {
            dir: dir.to_path_buf(),
            cache: Mutex::new(None),
            damaged: AtomicBool::new(false),
        })
    }

    fn path(&self, index: u64) -> PathBuf {
        self.dir.join(format!("snap-{index:020}.snap"))
    }

    /// Writes the snapshot at `index` durably. Deletes nothing (see the module doc).
    pub fn save(&self, index: u64, bytes: Arc<Vec<u8>>) -> std::io::Result<()> {
        let tmp = self.dir.join(format!("snap-{index:020}.tmp"));
        {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
        }
        fs::rename(&tmp, self.path(index))?;
        fs::File::open(&self.dir)?.sync_all()?;
        *self.cache.lock() = Some((index, bytes));
        Ok(())
    }

    /// Indexes of the snapshot files present, newest first.
    pub fn list(&self) -> Vec<u64> {
        let mut out: Vec<u64> = fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_prefix("snap-")?
                    .strip_suffix(".snap")?
                    .parse()
                    .ok()
            })
            .collect();
        out.sort_unstable_by(|a, b| b.cmp(a));
        out
    }

    /// Reads the snapshot at `index`. A file read from disk is checked first (magic,
    /// length, checksum); a damaged one is an `InvalidData` error and marks the directory
    /// as having a damaged snapshot.
    pub fn read(&self, index: u64) -> std::io::Result<Arc<Vec<u8>>> {
        if let Some((i, bytes)) = self.cache.lock().as_ref() {
            if *i == index {
                return Ok(bytes.clone());
            }
        }
        let bytes = fs::read(self.path(index))?;
        if let Err(e) = DataTree::check_snapshot(&bytes) {
            self.damaged.store(true, Ordering::Release);
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("snapshot file {index} is damaged: {e}"),
            ));
        }
        let bytes = Arc::new(bytes);
        *self.cache.lock() = Some((index, bytes.clone()));
        Ok(bytes)
    }

    /// Whether a damaged file was found since the last call (the loop then writes a fresh
    /// snapshot, which replaces it as the one the log records).
    pub fn take_damaged(&self) -> bool {
        self.damaged.swap(false, Ordering::AcqRel)
    }

    /// Deletes the files older than `recorded`, the index of the snapshot the log records
    /// durably; that one and any newer file stay.
    pub fn prune_below(&self, recorded: u64) {
        for index in self.list().into_iter().filter(|&i| i < recorded) {
            let _ = fs::remove_file(self.path(index));
        }
    }
}

impl SnapshotSource for SnapshotDir {
    fn load(&self, index: u64) -> Option<Arc<Vec<u8>>> {
        self.read(index).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_list_read_prune() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = SnapshotDir::open(tmp.path()).expect("open");
        for i in [5u64, 10, 15] {
            dir.save(i, Arc::new(DataTree::new().snapshot()))
                .expect("save");
        }
        assert_eq!(dir.list(), vec![15, 10, 5]);
        dir.prune_below(10);
        assert_eq!(dir.list(), vec![15, 10]);
        let fresh = SnapshotDir::open(tmp.path()).expect("reopen");
        assert_eq!(*fresh.read(10).expect("read"), DataTree::new().snapshot());
        assert!(fresh.read(5).is_err());
    }

    #[test]
    fn saving_never_deletes_the_snapshot_the_log_records() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = SnapshotDir::open(tmp.path()).expect("open");
        let bytes = Arc::new(DataTree::new().snapshot());
        // 5 is recorded; 10 was saved and then the member crashed before recording it.
        dir.save(5, bytes.clone()).expect("save");
        dir.save(10, bytes.clone()).expect("save");
        // After the restart the log still records 5; the next snapshot is saved...
        let dir = SnapshotDir::open(tmp.path()).expect("reopen");
        dir.save(15, bytes).expect("save");
        // ...and a crash now must still find 5.
        assert!(dir.list().contains(&5), "{:?}", dir.list());
        assert!(dir.read(5).is_ok());
        // Once 15 is recorded, the older ones go.
        dir.prune_below(15);
        assert_eq!(dir.list(), vec![15]);
    }

    #[test]
    fn a_damaged_file_is_never_handed_out_and_asks_for_a_fresh_snapshot() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = SnapshotDir::open(tmp.path()).expect("open");
        dir.save(7, Arc::new(DataTree::new().snapshot()))
            .expect("save");
        let path = tmp.path().join(format!("snap-{:020}.snap", 7));
        let mut b = fs::read(&path).expect("read");
        let mid = b.len() / 2;
        b[mid] ^= 0x40;
        fs::write(&path, &b).expect("damage");
        let fresh = SnapshotDir::open(tmp.path()).expect("reopen");
        assert!(!fresh.take_damaged());
        assert!(
            fresh.load(7).is_none(),
            "a damaged snapshot must not be sent"
        );
        assert!(fresh.take_damaged());
        assert!(!fresh.take_damaged(), "reported once");
    }
}
