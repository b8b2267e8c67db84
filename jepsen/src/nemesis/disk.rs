//! Disk faults on a stopped member's data directory.
//!
//! `paddockd` keeps its Raft log in `<data>/raft/*.raftlog` (raft-engine) and its tree
//! snapshots in `<data>/snapshots/snap-<index>.snap`. These functions damage those files
//! the way a crash or a bad disk does; the member is started again afterwards and must
//! either refuse to start with a clear message or recover, never serve wrong data.
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use rand::Rng;

/// The damage to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Damage {
    /// Cut the last bytes off the newest log file (a torn write).
    TruncateTail,
    /// Overwrite the last bytes of the newest log file with zeros.
    ZeroTail,
    /// Flip one bit in an older log file (or in the older half of the only one).
    BitflipLog,
    /// Flip one bit in the newest snapshot file.
    BitflipSnapshot,
}

/// Raft-engine log files under `data`, oldest first.
pub fn log_files(data: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(data.join("raft"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "raftlog"))
        .collect();
    v.sort();
    v
}

/// Snapshot files under `data`, oldest first.
pub fn snapshot_files(data: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(data.join("snapshots"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "snap"))
        .collect();
    v.sort();
    v
}

/// Length of `file` without its trailing zero bytes (raft-engine may preallocate).
fn used_len(file: &Path) -> std::io::Result<u64> {
    let bytes = std::fs::read(file)?;
    Ok(bytes
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |i| i as u64 + 1))
}

/// Damages `data` (the member must not be running). Returns a description of what was
/// done, or `None` when there was no file to damage.
pub fn damage(data: &Path, what: Damage, rng: &mut impl Rng) -> std::io::Result<Option<String>> {
    match what {
        Damage::TruncateTail | Damage::ZeroTail => {
            let Some(file) = log_files(data).pop() else {
                return Ok(None);
            };
            let used = used_len(&file)?;
            if used == 0 {
                return Ok(None);
            }
            let n = rng.gen_range(1..=used.clamp(1, 64 * 1024));
            let at = used - n;
            if what == Damage::TruncateTail {
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&file)?
                    .set_len(at)?;
                Ok(Some(format!(
                    "truncated {} to {at} bytes (cut {n})",
                    file.display()
                )))
            } else {
                let mut f = std::fs::OpenOptions::new().write(true).open(&file)?;
                f.seek(SeekFrom::Start(at))?;
                f.write_all(&vec![0u8; n as usize])?;
                f.sync_all()?;
                Ok(Some(format!(
                    "zeroed {n} bytes at {at} of {}",
                    file.display()
                )))
            }
        }
        Damage::BitflipLog => {
            let files = log_files(data);
            let (file, range) = match files.len() {
                0 => return Ok(None),
                1 => {
                    let used = used_len(&files[0])?;
                    (files[0].clone(), 0..(used / 2).max(1))
                }
                _ => {
                    let f = files[rng.gen_range(0..files.len() - 1)].clone();
                    let used = used_len(&f)?;
                    (f, 0..used.max(1))
                }
            };
            flip(&file, range, rng).map(Some)
        }
        Damage::BitflipSnapshot => {
            let Some(file) = snapshot_files(data).pop() else {
                return Ok(None);
            };
            let len = std::fs::metadata(&file)?.len();
            flip(&file, 0..len.max(1), rng).map(Some)
        }
    }
}

fn flip(file: &Path, range: std::ops::Range<u64>, rng: &mut impl Rng) -> std::io::Result<String> {
    let at = rng.gen_range(range);
    let bit = rng.gen_range(0..8u8);
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(file)?;
    f.seek(SeekFrom::Start(at))?;
    let mut b = [0u8; 1];
    f.read_exact(&mut b)?;
    b[0] ^= 1 << bit;
    f.seek(SeekFrom::Start(at))?;
    f.write_all(&b)?;
    f.sync_all()?;
    Ok(format!(
        "flipped bit {bit} of byte {at} in {}",
        file.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn dir_with(files: &[(&str, &[u8])]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("raft")).unwrap();
        std::fs::create_dir_all(d.path().join("snapshots")).unwrap();
        for (name, bytes) in files {
            std::fs::write(d.path().join(name), bytes).unwrap();
        }
        d
    }

    #[test]
    fn truncate_cuts_only_the_newest_log_and_ignores_preallocated_zeros() {
        let mut newest = vec![7u8; 1000];
        newest.extend(vec![0u8; 4000]);
        let d = dir_with(&[
            ("raft/0000000000000001.raftlog", &[1u8; 100]),
            ("raft/0000000000000002.raftlog", &newest),
        ]);
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let what = damage(d.path(), Damage::TruncateTail, &mut rng)
            .unwrap()
            .unwrap();
        assert!(what.contains("0000000000000002"), "{what}");
        let len = std::fs::metadata(d.path().join("raft/0000000000000002.raftlog"))
            .unwrap()
            .len();
        assert!(len < 1000, "cut into the used part: {len}");
        assert_eq!(
            std::fs::read(d.path().join("raft/0000000000000001.raftlog")).unwrap(),
            vec![1u8; 100]
        );
    }

    #[test]
    fn zero_tail_overwrites_used_bytes() {
        let d = dir_with(&[("raft/0000000000000001.raftlog", &[9u8; 500])]);
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        damage(d.path(), Damage::ZeroTail, &mut rng)
            .unwrap()
            .unwrap();
        let bytes = std::fs::read(d.path().join("raft/0000000000000001.raftlog")).unwrap();
        assert_eq!(bytes.len(), 500);
        assert_eq!(*bytes.last().unwrap(), 0);
        assert_eq!(bytes[0], 9);
    }

    #[test]
    fn bitflips_change_exactly_one_bit() {
        let d = dir_with(&[
            ("raft/0000000000000001.raftlog", &[0x55u8; 300]),
            ("raft/0000000000000002.raftlog", &[0x55u8; 300]),
            ("snapshots/snap-00000000000000000010.snap", &[0xAAu8; 300]),
        ]);
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        for (what, file, orig) in [
            (Damage::BitflipLog, "raft/0000000000000001.raftlog", 0x55u8),
            (
                Damage::BitflipSnapshot,
                "snapshots/snap-00000000000000000010.snap",
                0xAA,
            ),
        ] {
            damage(d.path(), what, &mut rng).unwrap().unwrap();
            let bytes = std::fs::read(d.path().join(file)).unwrap();
            let diff: u32 = bytes.iter().map(|b| (b ^ orig).count_ones()).sum();
            assert_eq!(diff, 1, "{what:?}");
        }
        // The newest log file is left alone when an older one exists.
        let newest = std::fs::read(d.path().join("raft/0000000000000002.raftlog")).unwrap();
        assert!(newest.iter().all(|&b| b == 0x55));
    }

    #[test]
    fn nothing_to_damage_is_reported() {
        let d = dir_with(&[]);
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        assert!(damage(d.path(), Damage::BitflipSnapshot, &mut rng)
            .unwrap()
            .is_none());
        assert!(damage(d.path(), Damage::TruncateTail, &mut rng)
            .unwrap()
            .is_none());
    }
}
