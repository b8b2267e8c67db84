//! The rules that decide, from a recipe's queue of contenders (its children ordered by
//! sequence), whether a contender is granted, and if not, which one node before it to
//! watch. A contender watches the node whose departure can change its answer, and no
//! other, so a departure wakes only the contenders it concerns (no herd). Pure
//! functions, checked against simple models below.

/// What a contender at some position of the queue does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Turn {
    /// It holds the grant.
    Granted,
    /// It waits until the node at this position (always before its own) is gone.
    WaitFor(usize),
}

/// A rule: `(queue of child names, position of the contender) -> its turn`.
pub(crate) type Rule = fn(&[&str], usize) -> Turn;

/// Curator's read-write lock markers (`InterProcessReadWriteLock`).
pub(crate) const READ_MARKER: &str = "__READ__";
/// See [`READ_MARKER`].
pub(crate) const WRITE_MARKER: &str = "__WRIT__";

/// An exclusive grant (a lock, a leadership, a write lock): the first contender holds
/// it; every other one watches the contender just before it.
pub(crate) fn exclusive(_queue: &[&str], at: usize) -> Turn {
    match at {
        0 => Turn::Granted,
        n => Turn::WaitFor(n - 1),
    }
}

/// A reader of a read-write lock: granted when no writer of another handle is before
/// it (a handle that holds the write lock may also read); otherwise it watches the
/// nearest such writer.
pub(crate) fn reader(queue: &[&str], at: usize) -> Turn {
    let own = handle_of(queue[at]);
    match queue[..at]
        .iter()
        .rposition(|n| n.contains(WRITE_MARKER) && handle_of(n) != own)
    {
        None => Turn::Granted,
        Some(i) => Turn::WaitFor(i),
    }
}

/// The part of a read-write lock node's name before its marker (`_c_<guid>-`), which
/// tells which handle made it.
fn handle_of(name: &str) -> &str {
    name.find(READ_MARKER)
        .or_else(|| name.find(WRITE_MARKER))
        .map_or(name, |i| &name[..i])
}

#[cfg(test)]
mod tests {
    use super::*;
    use quickcheck::{QuickCheck, TestResult};

    /// A queue as (handle 0..3, is_writer), in sequence order.
    fn names(q: &[(u8, bool)]) -> Vec<String> {
        q.iter()
            .enumerate()
            .map(|(seq, (h, w))| {
                let m = if *w { WRITE_MARKER } else { READ_MARKER };
                format!("_c_{:08x}-aaaa-4aaa-8aaa-aaaaaaaaaaaa-{m}{seq:010}", h % 3)
            })
            .collect()
    }

    /// The model: a writer holds when first; a reader when every writer before it is
    /// its own handle's.
    fn model_granted(q: &[(u8, bool)], at: usize) -> bool {
        let (h, w) = q[at];
        if w {
            at == 0
        } else {
            q[..at].iter().all(|(h2, w2)| !w2 || h2 % 3 == h % 3)
        }
    }

    fn turn(q: &[(u8, bool)], at: usize) -> Turn {
        let n = names(q);
        let refs: Vec<&str> = n.iter().map(String::as_str).collect();
        if q[at].1 {
            exclusive(&refs, at)
        } else {
            reader(&refs, at)
        }
    }

    fn prop(q: Vec<(u8, bool)>) -> TestResult {
        if q.is_empty() || q.len() > 20 {
            return TestResult::discard();
        }
        for at in 0..q.len() {
            let t = turn(&q, at);
            // The rule grants exactly what the model grants.
            if (t == Turn::Granted) != model_granted(&q, at) {
                return TestResult::error(format!("{q:?} at {at}: {t:?}"));
            }
            if let Turn::WaitFor(i) = t {
                // It watches a node before its own whose departure matters: without
                // that node and every node before it, the contender holds.
                if i >= at {
                    return TestResult::error(format!("{q:?} at {at} watches {i}"));
                }
                let rest = q[i + 1..].to_vec();
                if !model_granted(&rest, at - i - 1) && !q[at].1 {
                    return TestResult::error(format!("{q:?} at {at}: waiting on {i} is useless"));
                }
                // No herd: a writer waits on its predecessor; a reader on a writer.
                if !q[at].1 && !q[i].1 {
                    return TestResult::error(format!("{q:?}: reader {at} watches reader {i}"));
                }
            }
        }
        // Safety: a granted writer of one handle excludes every other handle.
        let granted: Vec<usize> = (0..q.len())
            .filter(|&a| turn(&q, a) == Turn::Granted)
            .collect();
        for &a in &granted {
            for &b in &granted {
                if q[a].1 && q[a].0 % 3 != q[b].0 % 3 {
                    return TestResult::error(format!("{q:?}: writer {a} with {b}"));
                }
            }
        }
        TestResult::passed()
    }

    #[test]
    fn read_write_rules_match_the_model() {
        QuickCheck::new()
            .rng(crate::test_seed::gen(
                "read_write_rules_match_the_model",
                20,
            ))
            .tests(500)
            .quickcheck(prop as fn(Vec<(u8, bool)>) -> TestResult);
    }

    #[test]
    fn handles_are_told_apart_by_their_protected_prefix() {
        assert_eq!(handle_of("_c_0123-aa-__WRIT__0000000001"), "_c_0123-aa-");
        assert_eq!(handle_of("_c_0123-aa-__READ__0000000002"), "_c_0123-aa-");
        assert_eq!(exclusive(&["a", "b"], 1), Turn::WaitFor(0));
    }
}
