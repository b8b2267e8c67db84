//! What one member can vouch for: its rounds of session touches, the ones a leader
//! granted, and from them each session's lease and the member's contact with a leader
//! that a quorum follows.
//!
//! A member hands what it heard to the leader in numbered rounds, one per forward
//! interval (empty ones too). A round is *granted* when the leader refreshed its
//! sessions while its lead was confirmed by a quorum within the grant window (on the
//! leader itself, at once). From a granted round sent at `s`, each of its sessions stays
//! valid until at least `s + timeout`: the leader expires it no earlier, and a successor
//! is elected after the refresh and gives every session a full timeout plus the grant
//! window. The member's *contact* is the send instant of its newest granted round.
//!
//! Plain data and instants passed in: every rule here is unit-tested without a clock.
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// One round sent to the leader and not answered yet.
#[derive(Debug)]
struct Round {
    sent: Instant,
    sessions: Vec<u64>,
}

/// The rounds and vouches of one member.
#[derive(Debug)]
pub struct Standing {
    next_round: u64,
    rounds: BTreeMap<u64, Round>,
    /// Per session, the send instant of the newest granted round that held it.
    vouched: HashMap<u64, Instant>,
    contact: Option<Instant>,
    /// A round unanswered for this long is given up (its sessions are sent again).
    give_up_after: Duration,
}

impl Standing {
    /// No rounds, no vouches, no contact.
    pub fn new(give_up_after: Duration) -> Standing {
        Standing {
            next_round: 1,
            rounds: BTreeMap::new(),
            vouched: HashMap::new(),
            contact: None,
            give_up_after,
        }
    }

    /// Starts a round sent at `now` with `sessions`; returns its number.
    pub fn start(&mut self, now: Instant, sessions: Vec<u64>) -> u64 {
        let n = self.next_round;
        self.next_round += 1;
        self.rounds.insert(
            n,
            Round {
                sent: now,
                sessions,
            },
        );
        n
    }

    /// Round `n` could not be sent, or was answered without a grant: returns its
    /// sessions, to be sent again.
    pub fn failed(&mut self, n: u64) -> Vec<u64> {
        self.rounds
            .remove(&n)
            .map(|r| r.sessions)
            .unwrap_or_default()
    }

    /// Round `n` was granted. Earlier rounds still unanswered will not be (the leader
    /// answers in order on one link): their sessions are returned, to be sent again.
    pub fn granted(&mut self, n: u64) -> Vec<u64> {
        let Some(round) = self.rounds.remove(&n) else {
            return Vec::new();
        };
        for id in round.sessions {
            let at = self.vouched.entry(id).or_insert(round.sent);
            *at = (*at).max(round.sent);
        }
        self.contact = Some(self.contact.map_or(round.sent, |c| c.max(round.sent)));
        let earlier: Vec<u64> = self.rounds.range(..n).map(|(k, _)| *k).collect();
        earlier.into_iter().flat_map(|k| self.failed(k)).collect()
    }

    /// Gives up rounds unanswered since before `now - give_up_after`; returns their
    /// sessions, to be sent again.
    pub fn give_up(&mut self, now: Instant) -> Vec<u64> {
        let old: Vec<u64> = self
            .rounds
            .iter()
            .filter(|(_, r)| now.saturating_duration_since(r.sent) > self.give_up_after)
            .map(|(k, _)| *k)
            .collect();
        old.into_iter().flat_map(|k| self.failed(k)).collect()
    }

    /// Until when `session` (with this timeout) is known to stay valid; `None` if no
    /// granted round held it.
    pub fn valid_until(&self, session: u64, timeout: Duration) -> Option<Instant> {
        self.vouched.get(&session).map(|s| *s + timeout)
    }

    /// The send instant of the newest granted round.
    pub fn contact(&self) -> Option<Instant> {
        self.contact
    }

    /// Vouches for `session` from `at` on, without a round: for a session this member
    /// created, `at` being when it received the connect request (every leader that can
    /// expire it was elected, or applied its creation, after that).
    pub fn vouch(&mut self, session: u64, at: Instant) {
        let v = self.vouched.entry(session).or_insert(at);
        *v = (*v).max(at);
    }

    /// Forgets a session that ended.
    pub fn forget(&mut self, session: u64) {
        self.vouched.remove(&session);
    }

    /// Rounds waiting for an answer (for tests and metrics).
    pub fn in_flight(&self) -> usize {
        self.rounds.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn nothing_is_vouched_for_before_a_grant() {
        let t0 = Instant::now();
        let mut s = Standing::new(S);
        let r = s.start(t0, vec![1, 2]);
        assert_eq!(s.valid_until(1, S), None);
        assert_eq!(s.contact(), None);
        assert_eq!(s.failed(r), vec![1, 2]);
        assert_eq!(s.valid_until(1, S), None);
        assert_eq!(s.in_flight(), 0);
    }

    #[test]
    fn a_grant_vouches_from_when_the_round_was_sent_not_when_it_was_answered() {
        let t0 = Instant::now();
        let mut s = Standing::new(S);
        let r = s.start(t0, vec![7]);
        assert!(s.granted(r).is_empty());
        assert_eq!(s.valid_until(7, 4 * S), Some(t0 + 4 * S));
        assert_eq!(s.valid_until(8, 4 * S), None);
        assert_eq!(s.contact(), Some(t0));
    }

    #[test]
    fn vouches_and_contact_only_move_forward() {
        let t0 = Instant::now();
        let mut s = Standing::new(10 * S);
        let early = s.start(t0, vec![1]);
        let late = s.start(t0 + S, vec![1, 2]);
        // The later round answered first: the earlier one is given up and resent.
        assert_eq!(s.granted(late), vec![1]);
        assert_eq!(s.granted(early), Vec::<u64>::new());
        assert_eq!(s.valid_until(1, S), Some(t0 + 2 * S));
        assert_eq!(s.contact(), Some(t0 + S));
        let again = s.start(t0 + 2 * S, vec![2]);
        s.granted(again);
        assert_eq!(s.valid_until(1, S), Some(t0 + 2 * S));
        assert_eq!(s.valid_until(2, S), Some(t0 + 3 * S));
        assert_eq!(s.contact(), Some(t0 + 2 * S));
    }

    #[test]
    fn unanswered_rounds_are_given_up_and_their_sessions_returned() {
        let t0 = Instant::now();
        let mut s = Standing::new(S);
        s.start(t0, vec![1]);
        s.start(t0 + S, vec![2]);
        assert!(s.give_up(t0 + S).is_empty());
        assert_eq!(s.give_up(t0 + S + S / 2), vec![1]);
        assert_eq!(s.in_flight(), 1);
        assert_eq!(s.contact(), None);
    }

    #[test]
    fn a_forgotten_session_is_vouched_for_no_more() {
        let t0 = Instant::now();
        let mut s = Standing::new(S);
        let r = s.start(t0, vec![3]);
        s.granted(r);
        s.forget(3);
        assert_eq!(s.valid_until(3, S), None);
        assert_eq!(s.contact(), Some(t0));
    }

    #[test]
    fn a_vouch_without_a_round_counts_like_a_grant_and_never_goes_back() {
        let t0 = Instant::now();
        let mut s = Standing::new(S);
        s.vouch(4, t0 + S);
        s.vouch(4, t0);
        assert_eq!(s.valid_until(4, S), Some(t0 + 2 * S));
        assert_eq!(s.contact(), None, "a vouch is not contact with a leader");
    }
}
