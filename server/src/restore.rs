//! `paddockd restore`: seeds a member of a new ensemble from a backup snapshot.
//!
//! A backup (`paddock snapshot save`) is one tree snapshot in the checksummed format of
//! `tree::snapshot`, consistent at its zxid. Restoring writes, into an empty data
//! directory, what a follower would hold after installing that snapshot from a leader:
//! the snapshot file, and a new Raft log whose snapshot record is at the backup's zxid
//! (term 1) with the configured voters. Every member of the new ensemble is restored
//! from the same file, so they all start from the same tree; the log continues after
//! the zxid, so zxids (and the fencing tokens made from them) keep growing past every
//! one the backup holds.
//!
//! Guarantees: nothing is written unless the whole snapshot verifies (checksum,
//! structure, digest) and the data directory holds no log; the written state is
//! durable (fsynced) when `restore` returns.
use std::path::{Path, PathBuf};
use std::sync::Arc;

use raft::eraftpb::{ConfState, SnapshotMetadata};

use crate::config::Config;
use crate::consensus::incarnation::Incarnations;
use crate::consensus::snapshots::SnapshotDir;
use crate::consensus::storage::{DiskStorage, StorageFailure};
use crate::tree::DataTree;

/// What a restore wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    /// The zxid the snapshot reflects (the new log starts after it).
    pub zxid: u64,
    /// Nodes in the tree, "/" included.
    pub nodes: usize,
    /// Sessions in the tree (they expire unless their clients come back).
    pub sessions: usize,
    /// The tree's digest, as `/status` reports it once the members run.
    pub digest: u64,
}

/// Why a restore was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The snapshot file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a valid snapshot.
    #[error("{path} is not a valid snapshot: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The data directory already holds a log: restoring would overwrite a member.
    #[error("{0} already holds a Raft log: restore only into a new, empty data directory")]
    NotEmpty(PathBuf),
    /// Writing the data directory failed.
    #[error("writing {path}: {reason}")]
    Write {
        /// What was being written.
        path: PathBuf,
        /// The error.
        reason: String,
    },
}

fn write_err(path: &Path, e: impl std::fmt::Display) -> RestoreError {
    RestoreError::Write {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Seeds `config.data_dir` from the snapshot at `snapshot` for member `config.id` of
/// an ensemble of `config.peers`. See the module doc.
pub fn restore(config: &Config, snapshot: &Path) -> Result<Restored, RestoreError> {
    let bytes = std::fs::read(snapshot).map_err(|source| RestoreError::Read {
        path: snapshot.to_path_buf(),
        source,
    })?;
    let mut tree = DataTree::restore(&bytes).map_err(|e| RestoreError::Invalid {
        path: snapshot.to_path_buf(),
        reason: e.to_string(),
    })?;
    // The new ensemble's members are the configured ones, at the configured addresses
    // (they announce themselves once they run), not the backed-up ensemble's.
    tree.clear_members();
    let bytes = tree.snapshot();
    let zxid = tree.applied_zxid();
    if zxid == 0 {
        return Err(RestoreError::Invalid {
            path: snapshot.to_path_buf(),
            reason: "it is at zxid 0 (an ensemble that never applied anything)".into(),
        });
    }
    let raft_dir = config.data_dir.join("raft");
    let has_log = std::fs::read_dir(&raft_dir).is_ok_and(|mut d| d.next().is_some());
    if has_log {
        return Err(RestoreError::NotEmpty(config.data_dir.clone()));
    }
    let snap_dir = config.data_dir.join("snapshots");
    for dir in [&config.data_dir, &raft_dir, &snap_dir] {
        std::fs::create_dir_all(dir).map_err(|e| write_err(dir, e))?;
    }
    let snapshots = Arc::new(SnapshotDir::open(&snap_dir).map_err(|e| write_err(&snap_dir, e))?);
    snapshots
        .save(zxid, Arc::new(bytes))
        .map_err(|e| write_err(&snap_dir, e))?;
    let voters = config.voters();
    let storage_err = |e: StorageFailure| write_err(&raft_dir, e);
    let mut storage =
        DiskStorage::open(&raft_dir, &voters, snapshots.clone()).map_err(storage_err)?;
    let mut meta = SnapshotMetadata {
        index: zxid,
        term: 1,
        ..Default::default()
    };
    meta.set_conf_state(ConfState {
        voters,
        ..Default::default()
    });
    storage.install_snapshot(&meta).map_err(storage_err)?;
    // The new log's own data-directory identity, recorded now so that the first start
    // finds a complete log.
    Incarnations::load(storage.engine(), true).map_err(storage_err)?;
    Ok(Restored {
        zxid,
        nodes: tree.node_count(),
        sessions: tree.session_count(),
        digest: tree.digest(),
    })
}
