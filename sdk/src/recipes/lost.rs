//! When may a session be gone? A holder of a lock or a leadership must stop acting on
//! it before the ensemble can give it to someone else.
use std::time::Duration;

use tokio::time::Instant;

use crate::{Client, State};

/// Why a grant (a lock, a leadership) may be lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lost {
    /// The session's lease ran down to the safety margin: the client has not heard from
    /// a member that vouches for the session for nearly its timeout (it is disconnected,
    /// or connected to a member cut off from the leader). The session may still be
    /// alive, but nothing can prove it, and the ensemble may expire it once the lease
    /// is over.
    LeaseRunningOut,
    /// The session expired or was closed: its ephemeral nodes are gone.
    SessionEnded,
    /// The node that stood for the grant was deleted (by another client, or an admin).
    NodeDeleted,
}

/// Resolves when `client`'s session may be gone within `margin`: when
/// [`Client::lease`] falls to `margin` or below, or the session ends. While the client
/// is connected to a member that vouches for it, the lease is extended by every answer
/// (pings included) and this stays pending.
///
/// It never resolves later than the ensemble could expire the session, as long as
/// `margin` exceeds the time the holder needs to stop acting: the lease counts from
/// when each request was sent and the ensemble keeps a session alive at least that
/// long.
pub async fn at_risk(client: &Client, margin: Duration) -> Lost {
    let mut states = client.state_changes();
    loop {
        if states.borrow_and_update().is_terminal() {
            return Lost::SessionEnded;
        }
        // Until a member vouched for the session there is no lease: look again soon.
        let wait = match client.lease() {
            Some(left) if left <= margin => return Lost::LeaseRunningOut,
            Some(left) => left - margin,
            None => Duration::from_millis(50),
        };
        // The lease only moves forward while answers arrive: sleep until it would run
        // down if none did, then look again. A state change wakes us early.
        let deadline = Instant::now() + wait.min(Duration::from_secs(1));
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => {}
            changed = states.changed() => {
                if changed.is_err() {
                    return Lost::SessionEnded;
                }
            }
        }
        if matches!(*states.borrow(), State::Expired | State::Closed) {
            return Lost::SessionEnded;
        }
    }
}
