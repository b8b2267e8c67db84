//! The replicated member list: the addresses each member of the ensemble is reached at.
//!
//! Raft's configuration (which ids vote, which learn) lives in the Raft log and its
//! snapshots' metadata; this list holds what the configuration cannot: where each member
//! listens. It changes only by replicated entries (a membership change records the
//! addresses of the members it adds and forgets the ones it removes; a member announces
//! its own addresses with a `RecordMember` transaction), so every replica holds the same
//! list at the same zxid, and it travels in the tree's snapshots.
use std::collections::BTreeMap;

use super::DataTree;

/// Where a member listens.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct MemberAddrs {
    /// Its peer listener (`HOST:PORT`), dialled by the other members.
    pub peer: String,
    /// Its client listener (`HOST:PORT`); empty until the member announced it.
    pub client: String,
}

impl DataTree {
    /// The recorded members, by id.
    pub fn members(&self) -> &BTreeMap<u64, MemberAddrs> {
        &self.members
    }

    /// Records (or replaces) member `id`'s addresses. Called by the apply path only,
    /// for entries that every replica applies alike.
    pub fn set_member(&mut self, id: u64, addrs: MemberAddrs) {
        self.members.insert(id, addrs);
    }

    /// Forgets member `id` (removed from the ensemble).
    pub fn remove_member(&mut self, id: u64) {
        self.members.remove(&id);
    }

    /// Forgets every member: a snapshot seeding a new ensemble (`paddockd restore`)
    /// must not carry the old ensemble's addresses.
    pub fn clear_members(&mut self) {
        self.members.clear();
    }
}
