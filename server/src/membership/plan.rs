//! Checking a membership change against the configuration, on the leader, and turning
//! it into the ConfChangeV2 to propose. Pure: the Raft loop supplies what it knows.
//!
//! Rules (a refusal names the rule):
//! - one change at a time: none while a proposed one has not applied, or while a joint
//!   configuration has not been left (`NotReady`: retry once it has);
//! - add: a new id, a peer address, at most [`MAX_VOTERS`] voters and
//!   [`MAX_MEMBERS`] members in all;
//! - promote: a learner the leader heard from lately, whose log is within
//!   [`PROMOTE_LAG`] entries of the leader's commit index; with `replace`, a voter other than the leader leaves in the same joint
//!   change (the leader hands leadership on before it is replaced or removed);
//! - remove: a member, never the leader itself, never the last voter.
use paddock::proto::paddock::{MemberChangeRequest, MemberChangeRequest_Kind as Kind};
use paddock::proto::replication as rpb;
use paddock::Code;
use raft::prelude::{ConfChangeTransition, ConfChangeType, ConfChangeV2};

use super::roster::RosterView;
use super::MAX_MEMBERS;
use crate::config::MAX_VOTERS;

/// How far (in entries) behind the leader's commit index a learner may be and still be
/// promoted: it then catches up within a heartbeat or two, so the quorum it joins does
/// not wait for it.
pub const PROMOTE_LAG: u64 = 1000;

/// A refused change: the code and the reason for people.
pub type Refusal = (Code, String);

/// What the leader knows beyond the configuration when it checks a change.
pub struct LeaderView<'a> {
    /// The leader's id.
    pub me: u64,
    /// The configuration and addresses.
    pub roster: &'a RosterView,
    /// A proposed change has not applied yet.
    pub pending: bool,
    /// The leader's commit index.
    pub committed: u64,
    /// Each member's progress as the leader tracks it: the index up to which its log
    /// matches the leader's, and whether the leader heard from it lately.
    pub progress: &'a dyn Fn(u64) -> Option<(u64, bool)>,
}

/// A checked change: the ConfChangeV2 to propose and the addresses it records.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The Raft change (its context is set when proposed).
    pub cc: ConfChangeV2,
    /// Members it adds, with their addresses.
    pub added: Vec<rpb::MemberRecord>,
}

fn refuse<T>(code: Code, message: impl Into<String>) -> Result<T, Refusal> {
    Err((code, message.into()))
}

fn single(id: u64, ty: ConfChangeType) -> raft::prelude::ConfChangeSingle {
    let mut c = raft::prelude::ConfChangeSingle {
        node_id: id,
        ..Default::default()
    };
    c.set_change_type(ty);
    c
}

/// Checks `req` against `at` (see the module doc) and plans it.
pub fn plan(req: &MemberChangeRequest, at: &LeaderView<'_>) -> Result<Planned, Refusal> {
    let roster = at.roster;
    let id = req.id;
    if id == 0 {
        return refuse(Code::BadArguments, "member id 0 is not valid");
    }
    if at.pending || roster.joint() {
        return refuse(
            Code::NotReady,
            "another membership change is still in progress; retry when it has applied",
        );
    }
    let role = |id: u64| {
        if roster.voters.contains(&id) {
            "a voter"
        } else {
            "a learner"
        }
    };
    let mut changes = Vec::new();
    let mut added = Vec::new();
    match req.kind {
        Kind::ADD => {
            if roster.ids().contains(&id) {
                return refuse(
                    Code::BadArguments,
                    format!("member {id} is already {}", role(id)),
                );
            }
            if !valid_addr(&req.peer_addr) {
                return refuse(
                    Code::BadArguments,
                    format!("peer address {:?} is not HOST:PORT", req.peer_addr),
                );
            }
            if !req.client_addr.is_empty() && !valid_addr(&req.client_addr) {
                return refuse(
                    Code::BadArguments,
                    format!("client address {:?} is not HOST:PORT", req.client_addr),
                );
            }
            if roster.ids().len() >= MAX_MEMBERS {
                return refuse(
                    Code::BadArguments,
                    format!("the ensemble has {MAX_MEMBERS} members already"),
                );
            }
            if !req.learner && roster.voters.len() >= MAX_VOTERS {
                return refuse(
                    Code::BadArguments,
                    format!("the ensemble has {MAX_VOTERS} voters already"),
                );
            }
            let ty = if req.learner {
                ConfChangeType::AddLearnerNode
            } else {
                ConfChangeType::AddNode
            };
            changes.push(single(id, ty));
            let mut rec = rpb::MemberRecord::new();
            rec.id = id;
            rec.peer_addr = req.peer_addr.clone();
            rec.client_addr = req.client_addr.clone();
            added.push(rec);
        }
        Kind::PROMOTE => {
            if !roster.learners.contains(&id) {
                return refuse(
                    Code::BadArguments,
                    if roster.voters.contains(&id) {
                        format!("member {id} is a voter already")
                    } else {
                        format!("member {id} is not a member (add it as a learner first)")
                    },
                );
            }
            let (matched, active) = (at.progress)(id).unwrap_or((0, false));
            if !active || matched == 0 {
                return refuse(
                    Code::BadArguments,
                    format!(
                        "learner {id} has not caught up yet (the leader has not heard from it \
                         lately, or it holds nothing yet: is it running?); retry when it has"
                    ),
                );
            }
            if matched + PROMOTE_LAG < at.committed {
                return refuse(
                    Code::BadArguments,
                    format!(
                        "learner {id} has not caught up yet (its log matches up to {matched}, \
                         the leader committed {}); retry when it has",
                        at.committed
                    ),
                );
            }
            changes.push(single(id, ConfChangeType::AddNode));
            if req.replace != 0 {
                if !roster.voters.contains(&req.replace) {
                    return refuse(
                        Code::BadArguments,
                        format!("member {} is not a voter", req.replace),
                    );
                }
                if req.replace == at.me {
                    return refuse(
                        Code::NotReady,
                        format!("member {} leads: it hands leadership on first", at.me),
                    );
                }
                changes.push(single(req.replace, ConfChangeType::RemoveNode));
            } else if roster.voters.len() >= MAX_VOTERS {
                return refuse(
                    Code::BadArguments,
                    format!("the ensemble has {MAX_VOTERS} voters already; promote with a voter to replace"),
                );
            }
        }
        Kind::REMOVE => {
            if !roster.ids().contains(&id) {
                return refuse(Code::BadArguments, format!("member {id} is not a member"));
            }
            if id == at.me {
                return refuse(
                    Code::NotReady,
                    format!("member {id} leads: it hands leadership on first"),
                );
            }
            if roster.voters.len() == 1 && roster.voters.contains(&id) {
                return refuse(Code::BadArguments, format!("member {id} is the last voter"));
            }
            changes.push(single(id, ConfChangeType::RemoveNode));
        }
    }
    let mut cc = ConfChangeV2::default();
    // One change is made at once; two (promote with replace) go through a joint
    // configuration that raft-rs leaves by itself once it has applied.
    cc.set_transition(ConfChangeTransition::Auto);
    cc.set_changes(changes.into());
    Ok(Planned { cc, added })
}

/// Whether `addr` looks like HOST:PORT (a port number after the last colon).
fn valid_addr(addr: &str) -> bool {
    match addr.rsplit_once(':') {
        Some((host, port)) => !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::MemberAddrs;
    use std::collections::{BTreeMap, BTreeSet};

    fn roster(voters: &[u64], learners: &[u64]) -> RosterView {
        RosterView {
            voters: voters.iter().copied().collect(),
            learners: learners.iter().copied().collect(),
            outgoing: BTreeSet::new(),
            addrs: voters
                .iter()
                .chain(learners)
                .map(|id| (*id, MemberAddrs::default()))
                .collect::<BTreeMap<_, _>>(),
        }
    }

    fn req(kind: Kind, id: u64) -> MemberChangeRequest {
        let mut r = MemberChangeRequest::new();
        r.kind = kind;
        r.id = id;
        r.peer_addr = "127.0.0.9:7000".into();
        r
    }

    fn check(
        r: &MemberChangeRequest,
        roster: &RosterView,
        matched: u64,
    ) -> Result<Planned, Refusal> {
        let m = move |_| Some((matched, true));
        plan(
            r,
            &LeaderView {
                me: 1,
                roster,
                pending: false,
                committed: 5000,
                progress: &m,
            },
        )
    }

    fn types(p: &Planned) -> Vec<(u64, ConfChangeType)> {
        p.cc.changes
            .iter()
            .map(|c| (c.node_id, c.get_change_type()))
            .collect()
    }

    #[test]
    fn an_add_records_the_new_members_addresses() {
        let mut r = req(Kind::ADD, 4);
        r.learner = true;
        r.client_addr = "127.0.0.9:7001".into();
        let p = check(&r, &roster(&[1, 2, 3], &[]), 0).expect("planned");
        assert_eq!(types(&p), vec![(4, ConfChangeType::AddLearnerNode)]);
        assert_eq!(p.added.len(), 1);
        assert_eq!(p.added[0].client_addr, "127.0.0.9:7001");
        r.learner = false;
        let p = check(&r, &roster(&[1, 2, 3], &[]), 0).expect("planned");
        assert_eq!(types(&p), vec![(4, ConfChangeType::AddNode)]);
    }

    #[test]
    fn refusals_name_their_reason() {
        let three = roster(&[1, 2, 3], &[4]);
        let code = |r: Result<Planned, Refusal>| r.map(|_| ()).unwrap_err().0;
        assert_eq!(
            code(check(&req(Kind::ADD, 2), &three, 0)),
            Code::BadArguments
        );
        assert_eq!(
            code(check(&req(Kind::ADD, 0), &three, 0)),
            Code::BadArguments
        );
        let mut bad = req(Kind::ADD, 5);
        bad.peer_addr = "nowhere".into();
        assert_eq!(code(check(&bad, &three, 0)), Code::BadArguments);
        assert_eq!(
            code(check(&req(Kind::PROMOTE, 2), &three, 5000)),
            Code::BadArguments
        );
        assert_eq!(
            code(check(&req(Kind::PROMOTE, 9), &three, 5000)),
            Code::BadArguments
        );
        assert_eq!(
            code(check(&req(Kind::REMOVE, 9), &three, 0)),
            Code::BadArguments
        );
        assert_eq!(
            code(check(&req(Kind::REMOVE, 1), &three, 0)),
            Code::NotReady,
            "the leader"
        );
        assert_eq!(
            code(check(&req(Kind::REMOVE, 1), &roster(&[1], &[]), 0)),
            Code::NotReady
        );
        let seven = roster(&[1, 2, 3, 4, 5, 6, 7], &[8]);
        assert_eq!(
            code(check(&req(Kind::ADD, 9), &seven, 0)),
            Code::BadArguments,
            "too many voters"
        );
        assert_eq!(
            code(check(&req(Kind::PROMOTE, 8), &seven, 5000)),
            Code::BadArguments
        );
        let full = roster(&[1, 2, 3], &(4..=14).collect::<Vec<u64>>());
        let mut learner = req(Kind::ADD, 15);
        learner.learner = true;
        let (code, why) = check(&learner, &full, 0).map(|_| ()).unwrap_err();
        assert_eq!(code, Code::BadArguments);
        assert!(why.contains("14 members"), "{why}");
    }

    #[test]
    fn a_learner_is_promoted_only_once_it_has_caught_up() {
        let r = req(Kind::PROMOTE, 4);
        let view = roster(&[1, 2, 3], &[4]);
        let (code, why) = check(&r, &view, 100).map(|_| ()).unwrap_err();
        assert_eq!(code, Code::BadArguments);
        assert!(why.contains("not caught up"), "{why}");
        let p = check(&r, &view, 5000 - PROMOTE_LAG).expect("close enough");
        assert_eq!(types(&p), vec![(4, ConfChangeType::AddNode)]);
        // A learner that never answered (not running) is not promoted, however small
        // the log is.
        let silent = |_| Some((0, false));
        let at = LeaderView {
            me: 1,
            roster: &view,
            pending: false,
            committed: 3,
            progress: &silent,
        };
        let (code, why) = plan(&r, &at).map(|_| ()).unwrap_err();
        assert_eq!(code, Code::BadArguments);
        assert!(why.contains("is it running"), "{why}");
    }

    #[test]
    fn a_promote_that_replaces_a_voter_is_one_joint_change() {
        let mut r = req(Kind::PROMOTE, 4);
        r.replace = 3;
        let p = check(&r, &roster(&[1, 2, 3], &[4]), 5000).expect("planned");
        assert_eq!(
            types(&p),
            vec![
                (4, ConfChangeType::AddNode),
                (3, ConfChangeType::RemoveNode)
            ]
        );
        assert_eq!(p.cc.get_transition(), ConfChangeTransition::Auto);
        r.replace = 1;
        assert_eq!(
            check(&r, &roster(&[1, 2, 3], &[4]), 5000).unwrap_err().0,
            Code::NotReady
        );
    }

    #[test]
    fn nothing_is_planned_while_a_change_is_in_flight() {
        let view = roster(&[1, 2, 3], &[]);
        let m = |_| Some((0, true));
        let at = LeaderView {
            me: 1,
            roster: &view,
            pending: true,
            committed: 10,
            progress: &m,
        };
        assert_eq!(plan(&req(Kind::ADD, 4), &at).unwrap_err().0, Code::NotReady);
        let mut joint = roster(&[1, 2, 4], &[]);
        joint.outgoing = [1, 2, 3].into();
        assert_eq!(
            check(&req(Kind::REMOVE, 2), &joint, 0).unwrap_err().0,
            Code::NotReady
        );
    }
}
