//! Membership changes inside the Raft loop: applying ConfChangeV2 entries to raft-rs and
//! to the tree's member list, and the snapshot request of a member that joins.
//!
//! A member that joins starts with an empty log and no configuration. The ensemble's
//! first configuration is not in its log (members are started with it), so replaying
//! the leader's entries from index 1 would give the new member a wrong configuration;
//! it answers the leader's first append with a rejection that asks for a snapshot
//! taken at or after the leader's commit index (which includes the change that added
//! it). The leader's storage then has a snapshot taken if its newest one is older (see
//! `DiskStorage::snapshot`).
use std::collections::BTreeSet;

use paddock::proto::replication as rpb;
use protobuf::Message as _;
use raft::eraftpb::{ConfChangeType, ConfChangeV2, ConfState, Entry, Message, MessageType};
use raft::RawNode;

use super::storage::DiskStorage;
use crate::tree::{DataTree, MemberAddrs};

/// What applying one ConfChangeV2 entry did.
#[derive(Debug)]
pub struct ConfApplied {
    /// The proposal id, if this member proposed the change.
    pub proposal: Option<u64>,
    /// Whether raft-rs took the change (a refusal is the same on every replica).
    pub result: Result<(), String>,
    /// Members the change removed.
    pub removed: Vec<u64>,
}

/// Applies ConfChangeV2 entry `entry` to raft-rs's configuration and to `tree`'s member
/// list (addresses of the members it adds, removal of the ones it removes). An entry
/// with no data is the change that leaves a joint configuration.
pub fn apply_entry(
    node: &mut RawNode<DiskStorage>,
    tree: &mut DataTree,
    entry: &Entry,
    me: u64,
) -> ConfApplied {
    let ctx = if entry.context.is_empty() {
        None
    } else {
        rpb::MemberChange::parse_from_bytes(&entry.context).ok()
    };
    let proposal = ctx
        .as_ref()
        .filter(|c| c.origin == me)
        .map(|c| c.proposal_id);
    let cc = if entry.data.is_empty() {
        ConfChangeV2::default()
    } else {
        match ConfChangeV2::parse_from_bytes(&entry.data) {
            Ok(cc) => cc,
            Err(e) => {
                return ConfApplied {
                    proposal,
                    result: Err(format!("undecodable membership change: {e}")),
                    removed: Vec::new(),
                }
            }
        }
    };
    if let Err(e) = node.apply_conf_change(&cc) {
        return ConfApplied {
            proposal,
            result: Err(e.to_string()),
            removed: Vec::new(),
        };
    }
    let mut removed = Vec::new();
    for c in cc.changes.iter() {
        if c.get_change_type() == ConfChangeType::RemoveNode {
            tree.remove_member(c.node_id);
            removed.push(c.node_id);
        }
    }
    for rec in ctx.iter().flat_map(|c| c.added.iter()) {
        tree.set_member(
            rec.id,
            MemberAddrs {
                peer: rec.peer_addr.clone(),
                client: rec.client_addr.clone(),
            },
        );
    }
    ConfApplied {
        proposal,
        result: Ok(()),
        removed,
    }
}

/// The configuration raft-rs holds now.
pub fn conf_state(node: &RawNode<DiskStorage>) -> ConfState {
    node.raft.prs().conf().to_conf_state()
}

/// Every member of `cs`: voters of both sides, learners, and learners to be.
pub fn ids(cs: &ConfState) -> BTreeSet<u64> {
    cs.voters
        .iter()
        .chain(&cs.voters_outgoing)
        .chain(&cs.learners)
        .chain(&cs.learners_next)
        .copied()
        .collect()
}

/// Whether this member is in no configuration at all (it joins and has not received
/// the ensemble's snapshot yet).
pub fn joining(node: &RawNode<DiskStorage>) -> bool {
    ids(&conf_state(node)).is_empty()
}

/// The answer of joining member `me` to the leader's append `m`: a rejection that asks
/// for a snapshot at or after the leader's commit index.
pub fn ask_for_snapshot(m: &Message, me: u64) -> Message {
    let mut r = Message::default();
    r.set_msg_type(MessageType::MsgAppendResponse);
    r.to = m.from;
    r.from = me;
    r.term = m.term;
    r.reject = true;
    r.index = m.index;
    r.reject_hint = 0;
    r.request_snapshot = m.commit.max(1);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_joining_member_asks_for_a_snapshot_that_covers_the_leaders_commit() {
        let mut m = Message::default();
        m.set_msg_type(MessageType::MsgAppend);
        m.from = 1;
        m.to = 4;
        m.term = 3;
        m.index = 17;
        m.commit = 20;
        let r = ask_for_snapshot(&m, 4);
        assert_eq!(r.get_msg_type(), MessageType::MsgAppendResponse);
        assert_eq!((r.from, r.to, r.term), (4, 1, 3));
        assert!(r.reject);
        assert_eq!((r.index, r.request_snapshot), (17, 20));
        m.commit = 0;
        assert_eq!(
            ask_for_snapshot(&m, 4).request_snapshot,
            1,
            "never 0 (no request)"
        );
    }

    #[test]
    fn ids_cover_both_sides_of_a_joint_configuration() {
        let cs = ConfState {
            voters: vec![1, 2, 4],
            voters_outgoing: vec![1, 2, 3],
            learners: vec![5],
            learners_next: vec![3],
            ..Default::default()
        };
        assert_eq!(ids(&cs), BTreeSet::from([1, 2, 3, 4, 5]));
        assert!(ids(&ConfState::default()).is_empty());
    }
}
