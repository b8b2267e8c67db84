//! Bucketed session expiry (as ZooKeeper's `ExpiryQueue`): a session's deadline is
//! rounded up to the next multiple of the bucket interval, so that one check per
//! interval finds every expired session by looking at whole buckets, and touching a
//! session moves it between buckets in O(log n).
//!
//! Pure: times are plain milliseconds supplied by the caller; no clock, no I/O.
//!
//! Invariants:
//! - a session is in at most one bucket, and `deadline_of` names that bucket;
//! - `expired(now)` returns exactly the sessions whose bucket time is `<= now`, and
//!   removes them;
//! - a deadline never moves backwards when a session is touched (a touch can only extend it).
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Sessions ordered by their (bucketed) deadlines.
#[derive(Debug, Clone)]
pub struct ExpiryQueue {
    interval_ms: u64,
    buckets: BTreeMap<u64, BTreeSet<u64>>,
    deadlines: HashMap<u64, u64>,
}

impl ExpiryQueue {
    /// A queue whose buckets are `interval_ms` wide (at least 1).
    pub fn new(interval_ms: u64) -> ExpiryQueue {
        ExpiryQueue {
            interval_ms: interval_ms.max(1),
            buckets: BTreeMap::new(),
            deadlines: HashMap::new(),
        }
    }

    /// The bucket a deadline falls into: the next multiple of the interval at or after it.
    pub fn bucket(&self, deadline_ms: u64) -> u64 {
        deadline_ms.div_ceil(self.interval_ms) * self.interval_ms
    }

    /// Records that `session` was heard from at `now_ms`: it expires no earlier than
    /// `now_ms + timeout_ms` (rounded up to a bucket). Adds the session if it is new.
    pub fn touch(&mut self, session: u64, now_ms: u64, timeout_ms: u64) {
        let bucket = self.bucket(now_ms.saturating_add(timeout_ms));
        match self.deadlines.get(&session).copied() {
            Some(old) if old >= bucket => {}
            Some(old) => {
                self.remove_from_bucket(session, old);
                self.insert(session, bucket);
            }
            None => self.insert(session, bucket),
        }
    }

    /// Forgets a session (closed or expired).
    pub fn remove(&mut self, session: u64) {
        if let Some(old) = self.deadlines.remove(&session) {
            self.remove_from_bucket(session, old);
        }
    }

    /// Removes and returns every session whose bucket time is `<= now_ms`, in
    /// deadline order (ties by id).
    pub fn expired(&mut self, now_ms: u64) -> Vec<u64> {
        let later = self.buckets.split_off(&(now_ms.saturating_add(1)));
        let due = std::mem::replace(&mut self.buckets, later);
        let mut out = Vec::new();
        for (_, sessions) in due {
            for s in sessions {
                self.deadlines.remove(&s);
                out.push(s);
            }
        }
        out
    }

    /// The bucketed deadline of a session, if it is queued.
    pub fn deadline_of(&self, session: u64) -> Option<u64> {
        self.deadlines.get(&session).copied()
    }

    /// Number of queued sessions.
    pub fn len(&self) -> usize {
        self.deadlines.len()
    }

    /// Whether no session is queued.
    pub fn is_empty(&self) -> bool {
        self.deadlines.is_empty()
    }

    /// Empties the queue.
    pub fn clear(&mut self) {
        self.buckets.clear();
        self.deadlines.clear();
    }

    fn insert(&mut self, session: u64, bucket: u64) {
        self.buckets.entry(bucket).or_default().insert(session);
        self.deadlines.insert(session, bucket);
    }

    fn remove_from_bucket(&mut self, session: u64, bucket: u64) {
        if let Some(set) = self.buckets.get_mut(&bucket) {
            set.remove(&session);
            if set.is_empty() {
                self.buckets.remove(&bucket);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quickcheck::QuickCheck;
    use std::collections::HashMap as Map;

    #[test]
    fn buckets_round_up_and_expire_in_order() {
        let mut q = ExpiryQueue::new(100);
        q.touch(1, 0, 250); // deadline 250 -> bucket 300
        q.touch(2, 0, 100); // -> 100
        q.touch(3, 50, 100); // 150 -> 200
        assert_eq!(q.deadline_of(1), Some(300));
        assert_eq!(q.expired(99), Vec::<u64>::new());
        assert_eq!(q.expired(100), vec![2]);
        q.touch(3, 150, 100); // extends to 300
        assert_eq!(q.expired(299), Vec::<u64>::new());
        assert_eq!(q.expired(300), vec![1, 3]);
        assert!(q.is_empty());
    }

    #[test]
    fn touch_never_shortens_and_remove_forgets() {
        let mut q = ExpiryQueue::new(10);
        q.touch(7, 0, 1000);
        q.touch(7, 0, 10);
        assert_eq!(q.deadline_of(7), Some(1000));
        q.remove(7);
        assert_eq!(q.expired(u64::MAX), Vec::<u64>::new());
    }

    #[derive(Clone, Debug)]
    enum Op {
        Touch(u8, u16, u16),
        Remove(u8),
        Expire(u16),
    }

    impl quickcheck::Arbitrary for Op {
        fn arbitrary(g: &mut quickcheck::Gen) -> Op {
            match u8::arbitrary(g) % 3 {
                0 => Op::Touch(
                    u8::arbitrary(g) % 8,
                    u16::arbitrary(g) % 1000,
                    u16::arbitrary(g) % 500,
                ),
                1 => Op::Remove(u8::arbitrary(g) % 8),
                _ => Op::Expire(u16::arbitrary(g) % 1500),
            }
        }
    }

    /// Against a model that keeps the exact bucketed deadline per session.
    #[test]
    fn matches_model() {
        QuickCheck::new()
            .rng(crate::test_seed::gen(
                "sessions::expiry::matches_model",
                100,
            ))
            .quickcheck(model_run as fn(Vec<Op>) -> bool);
    }

    fn model_run(ops: Vec<Op>) -> bool {
        let mut q = ExpiryQueue::new(50);
        let mut model: Map<u64, u64> = Map::new();
        for op in ops {
            match op {
                Op::Touch(s, now, t) => {
                    let b = (u64::from(now) + u64::from(t)).div_ceil(50) * 50;
                    let e = model.entry(u64::from(s)).or_insert(b);
                    *e = (*e).max(b);
                    q.touch(u64::from(s), u64::from(now), u64::from(t));
                }
                Op::Remove(s) => {
                    model.remove(&u64::from(s));
                    q.remove(u64::from(s));
                }
                Op::Expire(now) => {
                    let mut want: Vec<(u64, u64)> = model
                        .iter()
                        .filter(|(_, d)| **d <= u64::from(now))
                        .map(|(s, d)| (*d, *s))
                        .collect();
                    want.sort_unstable();
                    for (_, s) in &want {
                        model.remove(s);
                    }
                    let want: Vec<u64> = want.into_iter().map(|(_, s)| s).collect();
                    if q.expired(u64::from(now)) != want {
                        return false;
                    }
                }
            }
            if q.len() != model.len() {
                return false;
            }
        }
        true
    }
}
