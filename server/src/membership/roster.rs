//! [`Roster`]: the members this process knows, with their roles and addresses, as one
//! snapshot that the Raft loop replaces whenever the configuration or the member list
//! changes (and at start). The peer listener asks it whom to admit, the peer links
//! whom to dial and where, and client requests list it.
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use parking_lot::RwLock;
use raft::eraftpb::ConfState;

use crate::tree::MemberAddrs;

/// One view of the membership: a Raft configuration plus the addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RosterView {
    /// Voters (of the incoming configuration while a joint change is in progress).
    pub voters: BTreeSet<u64>,
    /// Learners (and members that become learners when a joint change completes).
    pub learners: BTreeSet<u64>,
    /// Voters of the outgoing configuration while a joint change is in progress.
    pub outgoing: BTreeSet<u64>,
    /// Addresses of every member above as the ensemble knows them: the replicated
    /// record (a peer address missing there is taken from this member's `--peers` or
    /// `--join` list).
    pub addrs: BTreeMap<u64, MemberAddrs>,
}

impl RosterView {
    /// The view of configuration `cs` with the `recorded` member list, falling back to
    /// `fallback` (id -> peer address) for members without a record.
    pub fn new(
        cs: &ConfState,
        recorded: &BTreeMap<u64, MemberAddrs>,
        fallback: &BTreeMap<u64, String>,
    ) -> RosterView {
        let voters: BTreeSet<u64> = cs.voters.iter().copied().collect();
        let learners: BTreeSet<u64> = cs
            .learners
            .iter()
            .chain(cs.learners_next.iter())
            .copied()
            .collect();
        let outgoing: BTreeSet<u64> = cs.voters_outgoing.iter().copied().collect();
        let mut view = RosterView {
            voters,
            learners,
            outgoing,
            addrs: BTreeMap::new(),
        };
        for id in view.ids() {
            let mut addrs = recorded.get(&id).cloned().unwrap_or_default();
            if addrs.peer.is_empty() {
                addrs.peer = fallback.get(&id).cloned().unwrap_or_default();
            }
            view.addrs.insert(id, addrs);
        }
        view
    }

    /// Every member of the configuration: voters, learners and outgoing voters.
    pub fn ids(&self) -> BTreeSet<u64> {
        self.voters
            .iter()
            .chain(&self.learners)
            .chain(&self.outgoing)
            .copied()
            .collect()
    }

    /// Whether a joint change is in progress.
    pub fn joint(&self) -> bool {
        !self.outgoing.is_empty()
    }

    /// Whether `id` is a voter of either configuration.
    pub fn is_voter(&self, id: u64) -> bool {
        self.voters.contains(&id) || self.outgoing.contains(&id)
    }
}

/// The shared, current [`RosterView`], plus the addresses this member was started with
/// (`--peers`, over the member list `--join` fetched). Those are this member's own
/// view of the network and win over the replicated addresses when it dials a member
/// (a peer may be reached through another address from here: a proxy, a NAT); they
/// also stand in for the configuration while its log holds none yet (a member that
/// joins and has not received the ensemble's snapshot).
pub struct Roster {
    me: u64,
    view: RwLock<Arc<RosterView>>,
    fallback: BTreeMap<u64, String>,
}

impl Roster {
    /// A roster for member `me`, starting from `view`.
    pub fn new(me: u64, view: RosterView, fallback: BTreeMap<u64, String>) -> Roster {
        Roster {
            me,
            view: RwLock::new(Arc::new(view)),
            fallback,
        }
    }

    /// The current view.
    pub fn view(&self) -> Arc<RosterView> {
        self.view.read().clone()
    }

    /// Replaces the view.
    pub fn set(&self, view: RosterView) {
        *self.view.write() = Arc::new(view);
    }

    /// The configured addresses (see the type's doc).
    pub fn fallback(&self) -> &BTreeMap<u64, String> {
        &self.fallback
    }

    /// Whether `id` is another member this one exchanges messages with: a member of the
    /// configuration or, while this member's log has none yet, one of the configured
    /// addresses.
    pub fn knows(&self, id: u64) -> bool {
        if id == self.me || id == 0 {
            return false;
        }
        let ids = self.view().ids();
        if ids.is_empty() {
            self.fallback.contains_key(&id)
        } else {
            ids.contains(&id)
        }
    }

    /// The other members to keep a link to, with the peer address to dial: this
    /// member's configured one, else the replicated one (members with neither are left
    /// out).
    pub fn links(&self) -> BTreeMap<u64, String> {
        let view = self.view();
        let mut out = BTreeMap::new();
        if view.ids().is_empty() {
            out.extend(self.fallback.clone());
        } else {
            for (id, a) in &view.addrs {
                let addr = self.fallback.get(id).unwrap_or(&a.peer);
                if !addr.is_empty() {
                    out.insert(*id, addr.clone());
                }
            }
        }
        out.remove(&self.me);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cs(voters: &[u64], learners: &[u64], outgoing: &[u64]) -> ConfState {
        ConfState {
            voters: voters.to_vec(),
            learners: learners.to_vec(),
            voters_outgoing: outgoing.to_vec(),
            ..Default::default()
        }
    }

    #[test]
    fn configured_addresses_are_dialled_and_recorded_ones_listed() {
        let recorded = BTreeMap::from([(
            2,
            MemberAddrs {
                peer: "b:2".into(),
                client: "b:1".into(),
            },
        )]);
        let fallback = BTreeMap::from([(1, "a:2".to_string()), (2, "old:2".to_string())]);
        let view = RosterView::new(&cs(&[1, 2], &[4], &[]), &recorded, &fallback);
        assert_eq!(
            view.addrs[&2].peer, "b:2",
            "the ensemble's record is listed"
        );
        assert_eq!(view.addrs[&1].peer, "a:2");
        assert_eq!(view.addrs[&4].peer, "", "no address known for 4");
        let roster = Roster::new(1, view, fallback);
        assert!(roster.knows(4) && roster.knows(2) && !roster.knows(1) && !roster.knows(3));
        assert_eq!(
            roster.links(),
            BTreeMap::from([(2, "old:2".to_string())]),
            "this member's configured address is dialled; not itself, not a member \
             without an address"
        );
        let recorded3 = BTreeMap::from([(
            3,
            MemberAddrs {
                peer: "c:2".into(),
                client: String::new(),
            },
        )]);
        roster.set(RosterView::new(
            &cs(&[1, 3], &[], &[]),
            &recorded3,
            roster.fallback(),
        ));
        assert_eq!(
            roster.links(),
            BTreeMap::from([(3, "c:2".to_string())]),
            "a member not configured here is dialled at its recorded address"
        );
    }

    #[test]
    fn a_member_without_a_configuration_knows_the_configured_addresses() {
        let fallback = BTreeMap::from([(1, "a:2".to_string()), (4, "d:2".to_string())]);
        let roster = Roster::new(
            4,
            RosterView::new(&ConfState::default(), &BTreeMap::new(), &fallback),
            fallback,
        );
        assert!(roster.knows(1) && !roster.knows(4) && !roster.knows(2));
        assert_eq!(roster.links(), BTreeMap::from([(1, "a:2".to_string())]));
    }

    #[test]
    fn a_joint_configuration_counts_both_sides() {
        let view = RosterView::new(
            &cs(&[1, 2, 4], &[], &[1, 2, 3]),
            &BTreeMap::new(),
            &BTreeMap::new(),
        );
        assert!(view.joint());
        assert!(view.is_voter(3) && view.is_voter(4));
        assert_eq!(view.ids(), BTreeSet::from([1, 2, 3, 4]));
    }
}
