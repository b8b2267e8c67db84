//! State-machine snapshot files: `<data-dir>/snapshots/snap-<index>.snap`.
//!
//! A file holds the tree serialised at a Raft index (the tree's own format carries a
//! checksum, so a torn or corrupted file is detected when it is read). Files are
//! written to a temporary name, fsynced, renamed and the directory fsynced, so a file
//! with its final name is always complete. The two newest files are kept.
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use super::storage::SnapshotSource;

/// How many snapshot files are kept.
const KEEP: usize = 2;

/// The snapshot directory of one member.
pub struct SnapshotDir {
    dir: PathBuf,
    /// The newest snapshot's bytes, kept so that sending it to a follower does not
    /// re-read the file each time.
    cache: Mutex<Option<(u64, Arc<Vec<u8>>)>>,
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
        })
    }

    fn path(&self, index: u64) -> PathBuf {
        self.dir.join(format!("snap-{index:020}.snap"))
    }

    /// Writes the snapshot at `index` durably, then prunes old files.
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
        self.prune();
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

    /// Reads the snapshot at `index`.
    pub fn read(&self, index: u64) -> std::io::Result<Arc<Vec<u8>>> {
        if let Some((i, bytes)) = self.cache.lock().as_ref() {
            if *i == index {
                return Ok(bytes.clone());
            }
        }
        let bytes = Arc::new(fs::read(self.path(index))?);
        *self.cache.lock() = Some((index, bytes.clone()));
        Ok(bytes)
    }

    fn prune(&self) {
        for index in self.list().into_iter().skip(KEEP) {
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
            dir.save(i, Arc::new(vec![i as u8; 10])).expect("save");
        }
        assert_eq!(dir.list(), vec![15, 10]);
        let fresh = SnapshotDir::open(tmp.path()).expect("reopen");
        assert_eq!(*fresh.read(10).expect("read"), vec![10u8; 10]);
        assert!(fresh.read(5).is_err());
    }
}
