//! What the bench does, as pure data and functions: the run's node layout under a
//! random prefix, key names, values, which member each session starts on, the
//! operation mix, and how the key set is preloaded in batches.
//!
//! Shape (the same as the peer baseline in shared/peerbench, so numbers compare):
//! session *i* on member *i mod N*; values of `--value-size` bytes; set/get/mixed pick
//! a uniformly random key of the preloaded set; mixed is 90 % get / 10 % set; create
//! makes fresh nodes named `<session>-<seq>` in one directory; lock has every session
//! contend for one lock (Curator's layout, as peerbench's lock workload).
use paddock::Op;
use rand::Rng;

use crate::args::Workload;

/// Upper bound for the data of one preload `multi` (well below the frame limit).
const PRELOAD_BATCH_BYTES: usize = 256 * 1024;
/// Upper bound for the operations of one preload `multi`.
const PRELOAD_BATCH_OPS: usize = 100;

/// The nodes one bench run uses; all of them live under `prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// `/bench-<random hex>`: unique per run, deleted afterwards.
    pub prefix: String,
}

impl Layout {
    /// A layout with a fresh random prefix.
    pub fn random() -> Layout {
        Layout::with_tag(&format!("{:08x}", rand::random::<u32>()))
    }

    /// A layout whose prefix is `/bench-<tag>`.
    pub fn with_tag(tag: &str) -> Layout {
        Layout {
            prefix: format!("/bench-{tag}"),
        }
    }

    /// Directory of the preloaded key set.
    pub fn kv_dir(&self) -> String {
        format!("{}/kv", self.prefix)
    }

    /// Directory of the nodes the create workload makes.
    pub fn create_dir(&self) -> String {
        format!("{}/create", self.prefix)
    }

    /// The lock every session of the lock workload contends for.
    pub fn lock(&self) -> String {
        format!("{}/lock", self.prefix)
    }

    /// The nodes to create before anything else, parents first.
    pub fn dirs(&self) -> Vec<String> {
        vec![
            self.prefix.clone(),
            self.kv_dir(),
            self.create_dir(),
            self.lock(),
        ]
    }

    /// Path of preloaded key `i`.
    pub fn key(&self, i: u64) -> String {
        format!("{}/kv/{i:010}", self.prefix)
    }

    /// Path of the `seq`-th node created by `session`.
    pub fn created(&self, session: usize, seq: u64) -> String {
        format!("{}/create/{session:05}-{seq:010}", self.prefix)
    }
}

/// A value of `size` bytes (printable, so `paddock get` shows something sensible).
pub fn value(size: usize) -> Vec<u8> {
    (0..size).map(|i| b'a' + (i % 26) as u8).collect()
}

/// The member list for session `i`, rotated so that member `i mod N` comes first; the
/// session is created with in-order connection, so it lands there (the rest are
/// fallbacks should that member fail).
pub fn rotated(servers: &[String], i: usize) -> Vec<String> {
    let mut v = servers.to_vec();
    if !v.is_empty() {
        let k = i % v.len();
        v.rotate_left(k);
    }
    v
}

/// One operation of the closed loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Read preloaded key `i`.
    Get(u64),
    /// Overwrite preloaded key `i`.
    Set(u64),
    /// Create the next node of this session.
    Create,
    /// Open a session, create an ephemeral node, close the session.
    Churn,
    /// Acquire the run's lock, then release it.
    Lock,
}

/// Picks the next operation of `workload` over a key set of `keys` keys.
pub fn next_step(workload: Workload, keys: u64, rng: &mut impl Rng) -> Step {
    match workload {
        Workload::Create => Step::Create,
        Workload::Churn => Step::Churn,
        // The election workload times failovers instead of running this loop (see
        // `failover.rs`); were it asked for steps, lock hand-offs are the closest.
        Workload::Lock | Workload::Election => Step::Lock,
        Workload::Set => Step::Set(rng.gen_range(0..keys)),
        Workload::Get => Step::Get(rng.gen_range(0..keys)),
        Workload::Mixed => {
            let k = rng.gen_range(0..keys);
            if rng.gen_range(0..10) == 0 {
                Step::Set(k)
            } else {
                Step::Get(k)
            }
        }
    }
}

/// Keys per preload `multi` for values of `value_size` bytes.
pub fn preload_batch(value_size: usize) -> usize {
    (PRELOAD_BATCH_BYTES / (value_size + 64)).clamp(1, PRELOAD_BATCH_OPS)
}

/// The preload batches: key index ranges `[start, end)` covering `0..keys`.
pub fn preload_ranges(keys: u64, batch: usize) -> Vec<(u64, u64)> {
    let batch = batch.max(1) as u64;
    (0..keys.div_ceil(batch))
        .map(|b| (b * batch, ((b + 1) * batch).min(keys)))
        .collect()
}

/// The `multi` that creates keys `start..end` with `value`.
pub fn preload_ops(layout: &Layout, (start, end): (u64, u64), value: &[u8]) -> Vec<Op> {
    (start..end)
        .map(|i| Op::create(layout.key(i), value))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn layout_paths() {
        let l = Layout::with_tag("00c0ffee");
        assert_eq!(l.prefix, "/bench-00c0ffee");
        assert_eq!(
            l.dirs(),
            vec![
                "/bench-00c0ffee",
                "/bench-00c0ffee/kv",
                "/bench-00c0ffee/create",
                "/bench-00c0ffee/lock"
            ]
        );
        assert_eq!(l.key(42), "/bench-00c0ffee/kv/0000000042");
        assert_eq!(l.created(3, 7), "/bench-00c0ffee/create/00003-0000000007");
        for p in l.dirs().iter().chain([&l.key(1), &l.created(1, 1)]) {
            paddock::path::validate(p).unwrap();
        }
        assert_ne!(Layout::random(), Layout::random());
        assert!(Layout::random().prefix.starts_with("/bench-"));
    }

    #[test]
    fn values() {
        assert_eq!(value(0), b"");
        assert_eq!(value(3), b"abc");
        assert_eq!(value(100).len(), 100);
        assert_eq!(value(27)[26], b'a');
    }

    #[test]
    fn session_i_starts_on_member_i_mod_n() {
        let s: Vec<String> = ["a", "b", "c"].iter().map(|x| x.to_string()).collect();
        assert_eq!(rotated(&s, 0), ["a", "b", "c"]);
        assert_eq!(rotated(&s, 1), ["b", "c", "a"]);
        assert_eq!(rotated(&s, 5), ["c", "a", "b"]);
        assert_eq!(rotated(&s[..1], 7), ["a"]);
        assert!(rotated(&[], 3).is_empty());
    }

    #[test]
    fn operation_mix() {
        let mut rng = StdRng::seed_from_u64(7);
        assert_eq!(next_step(Workload::Create, 10, &mut rng), Step::Create);
        let n = 100_000;
        let (mut gets, mut sets) = (0, 0);
        for _ in 0..n {
            match next_step(Workload::Mixed, 10, &mut rng) {
                Step::Get(k) => {
                    assert!(k < 10);
                    gets += 1
                }
                Step::Set(k) => {
                    assert!(k < 10);
                    sets += 1
                }
                Step::Create | Step::Churn | Step::Lock => panic!("create in mixed"),
            }
        }
        assert_eq!(gets + sets, n);
        let share = f64::from(sets) / f64::from(n);
        assert!((0.09..0.11).contains(&share), "set share {share}");
        assert!(matches!(
            next_step(Workload::Get, 1, &mut rng),
            Step::Get(0)
        ));
        assert!(matches!(
            next_step(Workload::Set, 1, &mut rng),
            Step::Set(0)
        ));
    }

    #[test]
    fn preload_batches() {
        assert_eq!(preload_batch(100), 100);
        assert_eq!(preload_batch(10_000), 26);
        assert_eq!(preload_batch(1 << 20), 1);
        assert_eq!(
            preload_ranges(250, 100),
            vec![(0, 100), (100, 200), (200, 250)]
        );
        assert_eq!(preload_ranges(100, 100), vec![(0, 100)]);
        assert_eq!(preload_ranges(1, 100), vec![(0, 1)]);
        let l = Layout::with_tag("t");
        let ops = preload_ops(&l, (5, 7), b"v");
        assert_eq!(ops.len(), 2);
        assert_eq!(ops[0].path(), "/bench-t/kv/0000000005");
        assert!(
            matches!(&ops[1], Op::Create { data, mode: paddock::CreateMode::Persistent, .. } if data == b"v")
        );
    }
}
