//! Partition shapes: which directed links to cut (pure, so each shape is unit tested).
//!
//! A link `(a, b)` is what member a sends to member b. Every shape returns the links to
//! cut and the members it impairs (those cut off from a majority, or whose links are
//! reduced when no clean minority exists), which the session checker treats as unable
//! to vouch for their clients while the partition lasts.
use std::collections::BTreeSet;

use rand::seq::SliceRandom;
use rand::Rng;

/// One partition: the links to cut and the members it impairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    /// Directed links `(from, to)` to cut.
    pub links: BTreeSet<(u64, u64)>,
    /// Members cut off from a majority, or touched by a cut when no clean minority exists.
    pub impaired: Vec<u64>,
    /// A one-line description for the history (`{1} | {2,3}`).
    pub detail: String,
}

/// Both directions between every member of `a` and every member of `b`.
fn between(a: &[u64], b: &[u64]) -> BTreeSet<(u64, u64)> {
    let mut out = BTreeSet::new();
    for &x in a {
        for &y in b {
            if x != y {
                out.insert((x, y));
                out.insert((y, x));
            }
        }
    }
    out
}

fn set_str(ids: &[u64]) -> String {
    let v: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
    format!("{{{}}}", v.join(","))
}

/// Cuts `victim` off from everyone else, both ways.
pub fn isolate(ids: &[u64], victim: u64) -> Cut {
    let rest: Vec<u64> = ids.iter().copied().filter(|&i| i != victim).collect();
    Cut {
        links: between(&[victim], &rest),
        impaired: vec![victim],
        detail: format!("{} | {}", set_str(&[victim]), set_str(&rest)),
    }
}

/// A random minority half (`n / 2` members) against the rest.
pub fn halves(ids: &[u64], rng: &mut impl Rng) -> Cut {
    let mut v = ids.to_vec();
    v.shuffle(rng);
    let (small, big) = v.split_at(ids.len() / 2);
    let (mut small, mut big) = (small.to_vec(), big.to_vec());
    small.sort_unstable();
    big.sort_unstable();
    Cut {
        links: between(&small, &big),
        impaired: small.clone(),
        detail: format!("{} | {}", set_str(&small), set_str(&big)),
    }
}

/// Members on a random ring, each connected only to its nearest neighbours, so that
/// every member sees a majority (itself included) but no two members see the same one:
/// for 3 members one pair is cut (the third bridges them), for 5 members each member is
/// cut from the two at distance 2.
pub fn majorities_ring(ids: &[u64], rng: &mut impl Rng) -> Cut {
    let mut ring = ids.to_vec();
    ring.shuffle(rng);
    let n = ring.len();
    // Itself plus `reach` on each side must be a majority.
    let reach = (n / 2).div_ceil(2);
    let mut links = BTreeSet::new();
    for (i, &a) in ring.iter().enumerate() {
        for (j, &b) in ring.iter().enumerate() {
            if i == j {
                continue;
            }
            let d = (i as isize - j as isize).unsigned_abs();
            let d = d.min(n - d);
            if d > reach {
                links.insert((a, b));
            }
        }
    }
    if n == 3 {
        // Each sees a majority of two only if exactly one pair is cut.
        let (a, b) = (ring[0], ring[2]);
        links = between(&[a], &[b]);
    }
    let impaired: BTreeSet<u64> = links.iter().flat_map(|&(a, b)| [a, b]).collect();
    let order: Vec<String> = ring.iter().map(|i| i.to_string()).collect();
    Cut {
        links,
        impaired: impaired.into_iter().collect(),
        detail: format!("ring {}", order.join("-")),
    }
}

/// Two halves that only one member (the bridge) still connects.
pub fn bridge(ids: &[u64], rng: &mut impl Rng) -> Cut {
    let mut v = ids.to_vec();
    v.shuffle(rng);
    let bridge = v[0];
    let rest = &v[1..];
    let (a, b) = rest.split_at(rest.len() / 2);
    let (mut a, mut b) = (a.to_vec(), b.to_vec());
    a.sort_unstable();
    b.sort_unstable();
    let links = between(&a, &b);
    let impaired: BTreeSet<u64> = links.iter().flat_map(|&(x, y)| [x, y]).collect();
    Cut {
        links,
        impaired: impaired.into_iter().collect(),
        detail: format!("{} | bridge {bridge} | {}", set_str(&a), set_str(&b)),
    }
}

/// One-way: `victim` still reaches everyone, but nothing reaches `victim`.
pub fn one_way_into(ids: &[u64], victim: u64) -> Cut {
    let links: BTreeSet<(u64, u64)> = ids
        .iter()
        .filter(|&&i| i != victim)
        .map(|&i| (i, victim))
        .collect();
    Cut {
        links,
        impaired: vec![victim],
        detail: format!("{victim} -> all, nothing -> {victim}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// Members reachable from `a` both ways, `a` included.
    fn sees(ids: &[u64], cut: &Cut, a: u64) -> usize {
        ids.iter()
            .filter(|&&b| a == b || (!cut.links.contains(&(a, b)) && !cut.links.contains(&(b, a))))
            .count()
    }

    #[test]
    fn isolate_cuts_both_directions_of_one_member() {
        let c = isolate(&[1, 2, 3], 2);
        assert_eq!(c.links, BTreeSet::from([(1, 2), (2, 1), (2, 3), (3, 2)]));
        assert_eq!(c.impaired, vec![2]);
    }

    #[test]
    fn halves_leave_a_majority() {
        for n in [3u64, 5] {
            let ids: Vec<u64> = (1..=n).collect();
            for seed in 0..20 {
                let c = halves(&ids, &mut rand::rngs::StdRng::seed_from_u64(seed));
                assert_eq!(c.impaired.len() as u64, n / 2);
                let majority = ids.iter().filter(|i| !c.impaired.contains(i)).count();
                assert!(majority as u64 > n / 2);
                for &m in &c.impaired {
                    assert_eq!(sees(&ids, &c, m) as u64, n / 2);
                }
            }
        }
    }

    #[test]
    fn ring_gives_everyone_a_majority_but_not_the_same_one() {
        for n in [3u64, 5] {
            let ids: Vec<u64> = (1..=n).collect();
            for seed in 0..20 {
                let c = majorities_ring(&ids, &mut rand::rngs::StdRng::seed_from_u64(seed));
                assert!(!c.links.is_empty());
                let seen: Vec<u64> = ids.iter().map(|&a| sees(&ids, &c, a) as u64).collect();
                assert!(seen.iter().all(|&k| k > n / 2), "n={n} seed={seed} {c:?}");
                if n == 5 {
                    assert!(seen.iter().all(|&k| k == 3), "n={n} seed={seed} {c:?}");
                } else {
                    assert_eq!(
                        seen.iter().filter(|&&k| k == n).count(),
                        1,
                        "one bridge: {c:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn bridge_connects_two_halves_through_one_member() {
        let ids = [1, 2, 3, 4, 5];
        let c = bridge(&ids, &mut rand::rngs::StdRng::seed_from_u64(7));
        let full: Vec<u64> = ids
            .iter()
            .copied()
            .filter(|&a| sees(&ids, &c, a) == 5)
            .collect();
        assert_eq!(full.len(), 1, "exactly one bridge: {c:?}");
        assert_eq!(c.links.len(), 8);
    }

    #[test]
    fn one_way_only_cuts_the_inbound_direction() {
        let c = one_way_into(&[1, 2, 3], 1);
        assert_eq!(c.links, BTreeSet::from([(2, 1), (3, 1)]));
        assert!(!c.links.contains(&(1, 2)));
    }
}
