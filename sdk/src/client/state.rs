//! The client's connection state, observable as a stream of changes.
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use parking_lot::Mutex;
use tokio::sync::{broadcast, watch};

/// How many transitions a [`StateStream`] buffers before a slow consumer skips ahead
/// to the latest state.
pub const STATE_BUFFER: usize = 64;

/// Where the client's session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Looking for a member to connect to for the first time; requests wait.
    Connecting,
    /// Connected to a member; requests flow.
    Connected {
        /// Id of the member the client is connected to.
        server_id: u64,
    },
    /// The connection was lost; the client is reconnecting within the session timeout.
    /// Requests wait; watches stay registered and are re-registered on reconnect.
    Disconnected,
    /// The session is gone: the ensemble expired it (or refused to resume it), or the
    /// client could not reach any member for a whole session timeout. Terminal.
    Expired,
    /// The client closed its session. Terminal.
    Closed,
}

impl State {
    /// Whether the state can never change again.
    pub fn is_terminal(self) -> bool {
        matches!(self, State::Expired | State::Closed)
    }
}

/// Publishes state transitions: a `watch` for "the current state" and a numbered
/// broadcast for streams that want every transition. Both are updated under one lock so
/// that a subscriber gets a consistent (current state, later transitions) pair.
pub(crate) struct StateHub {
    inner: Mutex<HubInner>,
    watch_rx: watch::Receiver<State>,
}

struct HubInner {
    seq: u64,
    current: State,
    watch_tx: watch::Sender<State>,
    tx: broadcast::Sender<(u64, State)>,
}

impl StateHub {
    pub fn new(initial: State) -> Arc<StateHub> {
        let (watch_tx, watch_rx) = watch::channel(initial);
        let (tx, _) = broadcast::channel(STATE_BUFFER);
        Arc::new(StateHub {
            inner: Mutex::new(HubInner {
                seq: 0,
                current: initial,
                watch_tx,
                tx,
            }),
            watch_rx,
        })
    }

    /// Records a transition. Once terminal, the state never changes again.
    pub fn set(&self, state: State) {
        let mut g = self.inner.lock();
        if g.current.is_terminal() {
            return;
        }
        g.seq += 1;
        g.current = state;
        let seq = g.seq;
        let _ = g.watch_tx.send(state);
        let _ = g.tx.send((seq, state));
    }

    /// The latest state.
    pub fn current(&self) -> State {
        self.inner.lock().current
    }

    pub fn watch(&self) -> watch::Receiver<State> {
        self.watch_rx.clone()
    }

    fn snapshot(&self) -> (u64, State) {
        let g = self.inner.lock();
        (g.seq, g.current)
    }

    /// Re-subscribes `rx` at the tail and returns the state it starts after, in one
    /// step, so that no transition falls between the two.
    fn resync(&self, rx: &mut broadcast::Receiver<(u64, State)>) -> (u64, State) {
        let g = self.inner.lock();
        *rx = g.tx.subscribe();
        (g.seq, g.current)
    }

    /// A stream of the current state followed by every later transition.
    pub fn stream(self: &Arc<Self>) -> StateStream {
        let (seq, current, rx) = {
            let g = self.inner.lock();
            (g.seq, g.current, g.tx.subscribe())
        };
        let start = Cursor {
            hub: self.clone(),
            rx,
            seen: seq,
            first: Some(current),
            done: false,
        };
        StateStream {
            inner: futures::stream::unfold(start, Cursor::next).boxed(),
        }
    }
}

struct Cursor {
    hub: Arc<StateHub>,
    rx: broadcast::Receiver<(u64, State)>,
    seen: u64,
    first: Option<State>,
    done: bool,
}

impl Cursor {
    async fn next(mut self) -> Option<(State, Cursor)> {
        if self.done {
            return None;
        }
        if let Some(s) = self.first.take() {
            return Some(self.emit(s));
        }
        loop {
            match self.rx.recv().await {
                Ok((seq, s)) if seq > self.seen => {
                    self.seen = seq;
                    return Some(self.emit(s));
                }
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    // Too slow: skip to the latest state (never behind it).
                    let (seq, s) = self.hub.resync(&mut self.rx);
                    if seq > self.seen {
                        self.seen = seq;
                        return Some(self.emit(s));
                    }
                }
                Err(broadcast::error::RecvError::Closed) => {
                    let (seq, s) = self.hub.snapshot();
                    if seq > self.seen {
                        self.seen = seq;
                        self.done = true;
                        return Some((s, self));
                    }
                    return None;
                }
            }
        }
    }

    fn emit(mut self, s: State) -> (State, Cursor) {
        if s.is_terminal() {
            self.done = true;
        }
        (s, self)
    }
}

/// The client's connection states as a stream (see
/// [`Client::states`](crate::Client::states)).
///
/// Guarantees:
/// - the first item is the state at the moment the stream was created;
/// - then every later transition, in order, exactly once — unless the consumer falls
///   more than [`STATE_BUFFER`] transitions behind, in which case it skips ahead to the
///   latest state (the latest state is always delivered);
/// - after a terminal state ([`State::Expired`] or [`State::Closed`]) the stream ends.
pub struct StateStream {
    inner: BoxStream<'static, State>,
}

impl std::fmt::Debug for StateStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateStream").finish_non_exhaustive()
    }
}

impl Stream for StateStream {
    type Item = State;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<State>> {
        self.inner.poll_next_unpin(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stream_starts_with_current_state_and_sees_every_transition() {
        let hub = StateHub::new(State::Connecting);
        hub.set(State::Connected { server_id: 1 });
        let s = hub.stream();
        // Transitions between subscribe and first poll are not lost.
        hub.set(State::Disconnected);
        hub.set(State::Connected { server_id: 2 });
        hub.set(State::Disconnected);
        hub.set(State::Closed);
        // Nothing after a terminal state.
        hub.set(State::Connected { server_id: 3 });
        let got: Vec<State> = s.collect().await;
        assert_eq!(
            got,
            vec![
                State::Connected { server_id: 1 },
                State::Disconnected,
                State::Connected { server_id: 2 },
                State::Disconnected,
                State::Closed,
            ]
        );
        assert_eq!(hub.current(), State::Closed);
        assert_eq!(*hub.watch().borrow(), State::Closed);
    }

    #[tokio::test]
    async fn stream_created_after_terminal_yields_it_and_ends() {
        let hub = StateHub::new(State::Connecting);
        hub.set(State::Expired);
        let got: Vec<State> = hub.stream().collect().await;
        assert_eq!(got, vec![State::Expired]);
    }

    #[tokio::test]
    async fn slow_consumer_skips_to_latest() {
        let hub = StateHub::new(State::Connecting);
        let mut s = hub.stream();
        assert_eq!(s.next().await, Some(State::Connecting));
        for i in 0..(STATE_BUFFER as u64 * 3) {
            hub.set(State::Connected { server_id: i });
            hub.set(State::Disconnected);
        }
        hub.set(State::Connected { server_id: 999 });
        // Lagged: the next item is the latest state, and nothing older follows.
        assert_eq!(s.next().await, Some(State::Connected { server_id: 999 }));
        hub.set(State::Expired);
        assert_eq!(s.next().await, Some(State::Expired));
        assert_eq!(s.next().await, None);
    }

    #[tokio::test]
    async fn live_stream_wakes_on_transition() {
        let hub = StateHub::new(State::Connecting);
        let mut s = hub.stream();
        assert_eq!(s.next().await, Some(State::Connecting));
        let h = hub.clone();
        let task = tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            h.set(State::Connected { server_id: 4 });
        });
        assert_eq!(s.next().await, Some(State::Connected { server_id: 4 }));
        task.await.expect("setter task");
    }
}
