//! The order of a session's writes, as the client tells it to the ensemble.
//!
//! Every write names the write the client sent just before it (`prev_write_xid`) and the
//! oldest write whose result the client still waits for (`oldest_pending_write_xid`).
//! The ensemble applies a write only right after the one it names, and remembers the
//! results of pending writes, so the client can resend them after a reconnect and get
//! each applied exactly once, in order.
//!
//! Invariants:
//! - `pending` holds the xids of the writes sent and not yet answered, ascending (xids
//!   are assigned in send order).
//! - A resent write keeps the xid and the names it was first sent with: it is not sent
//!   again through [`WriteChain::sent`].
use std::collections::VecDeque;

/// The session's write order and its writes in flight.
#[derive(Debug, Default)]
pub(crate) struct WriteChain {
    /// Xid of the write sent last: the next write names it (0 before the first).
    last_sent: i64,
    /// Xids of the writes sent whose result has not arrived, ascending.
    pending: VecDeque<i64>,
}

/// What a write carries about its place in the session's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Names {
    /// The write sent just before it (0: none).
    pub prev: i64,
    /// The oldest write still waiting for its result (at most this write's xid).
    pub oldest_pending: i64,
}

impl WriteChain {
    /// Records that write `xid` (above every earlier one) is being sent for the first
    /// time, and returns what it must name.
    pub fn sent(&mut self, xid: i64) -> Names {
        let prev = std::mem::replace(&mut self.last_sent, xid);
        self.pending.push_back(xid);
        Names {
            prev,
            oldest_pending: self.pending.front().copied().unwrap_or(xid),
        }
    }

    /// Records that the result of write `xid` arrived (or that nobody waits for it any
    /// more): the ensemble may forget it.
    pub fn answered(&mut self, xid: i64) {
        if self.pending.front() == Some(&xid) {
            self.pending.pop_front();
        } else if let Ok(i) = self.pending.binary_search(&xid) {
            self.pending.remove(i);
        }
    }

    /// How many writes wait for their result.
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_write_names_the_one_before_and_the_oldest_unanswered() {
        let mut c = WriteChain::default();
        assert_eq!(
            c.sent(1),
            Names {
                prev: 0,
                oldest_pending: 1
            }
        );
        assert_eq!(
            c.sent(4),
            Names {
                prev: 1,
                oldest_pending: 1
            }
        );
        assert_eq!(
            c.sent(5),
            Names {
                prev: 4,
                oldest_pending: 1
            }
        );
        c.answered(4);
        assert_eq!(c.in_flight(), 2);
        c.answered(1);
        assert_eq!(
            c.sent(9),
            Names {
                prev: 5,
                oldest_pending: 5
            }
        );
        c.answered(5);
        c.answered(9);
        c.answered(9);
        assert_eq!(c.in_flight(), 0);
        assert_eq!(
            c.sent(10),
            Names {
                prev: 9,
                oldest_pending: 10
            }
        );
    }
}
