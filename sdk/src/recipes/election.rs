//! Leader election laid out as Curator's `LeaderLatch`: each candidate is an ephemeral
//! sequential child `_c_<guid>-latch-<seq>` of the election node, holding the
//! candidate's value, in the queue of [`super::contenders`]; the first candidate leads.
//! A leader's term of office lasts as long as its node, so there is never more than one:
//! the next candidate is elected only once the leader's node is gone (it resigned, or
//! its session ended, which the leader learns first through its lease).
use std::fmt;
use std::time::Duration;

use futures::Stream;

use super::contenders::{enqueue, Grant};
use super::lost::Lost;
use super::nodes::{guid, ordered};
use super::rules;
use super::FencingToken;
use crate::path::{join, validate};
use crate::{Client, Code, Error, Op, Result, WatchFuture};

/// What Curator's latch nodes carry before their sequence number.
const MARKER: &str = "latch-";

/// An election at one path. Any number of candidates (each with its own `Election`, in
/// one process or many) may campaign; observers need not campaign.
///
/// ```no_run
/// # async fn demo(client: paddock::Client) -> paddock::Result<()> {
/// use paddock::recipes::Election;
/// let election = Election::new(&client, "/elections/scheduler")?;
/// let leadership = election.campaign(b"worker-7:8080").await?;
/// println!("leading with token {}", leadership.token());
/// tokio::select! {
///     why = leadership.lost() => eprintln!("no longer sure to lead: {why:?}"),
///     _ = lead(leadership.token().0) => {}
/// }
/// leadership.resign().await?;
/// # Ok(()) }
/// # async fn lead(_token: u64) {}
/// ```
#[derive(Clone)]
pub struct Election {
    client: Client,
    path: String,
    guid: String,
    margin: Duration,
}

/// The leader as observers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leader {
    /// The leader's node under the election path.
    pub node: String,
    /// The value the leader campaigned with.
    pub value: Vec<u8>,
    /// The leader's term of office: the zxid that created its node, greater for every
    /// later leader.
    pub token: FencingToken,
}

impl Election {
    /// An election at `path` (created on first use, as a container, with any missing
    /// ancestors). Leadership's lost signal fires when the lease falls to a fifth of the
    /// session timeout (see [`Election::lost_margin`]).
    pub fn new(client: &Client, path: &str) -> Result<Election> {
        validate(path).map_err(Error::BadArguments)?;
        Ok(Election {
            client: client.clone(),
            path: path.to_string(),
            guid: guid(),
            margin: client.session_timeout() / 5,
        })
    }

    /// How much of the lease must be left when [`Leadership::lost`] fires.
    pub fn lost_margin(mut self, margin: Duration) -> Election {
        self.margin = margin;
        self
    }

    /// Stands as a candidate with `value` and resolves once elected. Fails if the
    /// session ends meanwhile; dropping the future withdraws the candidacy.
    pub async fn campaign(&self, value: &[u8]) -> Result<Leadership> {
        let pending = enqueue(&self.client, &self.path, &self.guid, MARKER, value).await?;
        match pending
            .wait_turn(&self.path, &[MARKER], rules::exclusive, None)
            .await
        {
            Ok(_) => Ok(Leadership {
                grant: Grant::new(&self.client, pending.keep(), self.margin),
                value: value.to_vec(),
            }),
            Err(e) => {
                pending.remove().await;
                Err(e)
            }
        }
    }

    /// The current leader, if any, as the connected member's tree has it.
    pub async fn leader(&self) -> Result<Option<Leader>> {
        current(&self.client, &self.path).await
    }

    /// The leader changes as they happen: first the current leader (or `None`), then
    /// each new one (`None` while nobody leads). Each observer watches only the
    /// leader's node, or the election node while nobody leads. Ends with an error item
    /// when the session ends.
    pub fn observe(&self) -> impl Stream<Item = Result<Option<Leader>>> + Send + 'static {
        struct St {
            client: Client,
            path: String,
            /// The token of the leader last yielded (`Some(None)`: none led).
            last: Option<Option<FencingToken>>,
            /// The watch armed after the last look.
            wait: Option<WatchFuture>,
            done: bool,
        }
        let st = St {
            client: self.client.clone(),
            path: self.path.clone(),
            last: None,
            wait: None,
            done: false,
        };
        futures::stream::unfold(st, |mut st| async move {
            if st.done {
                return None;
            }
            loop {
                if let Some(w) = st.wait.take() {
                    if let Err(e) = w.await {
                        st.done = true;
                        return Some((Err(e), st));
                    }
                }
                let now = match current(&st.client, &st.path).await {
                    Ok(now) => now,
                    Err(e) if e.is_retryable() => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                    Err(e) => {
                        st.done = true;
                        return Some((Err(e), st));
                    }
                };
                // Arm the watch before yielding, so that no change after this look
                // is missed.
                match arm(&st.client, &st.path, now.as_ref()).await {
                    Ok(w) => st.wait = w,
                    Err(e) if e.is_retryable() => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                    Err(e) => {
                        st.done = true;
                        return Some((Err(e), st));
                    }
                }
                let token = now.as_ref().map(|l| l.token);
                if st.last != Some(token) {
                    st.last = Some(token);
                    return Some((Ok(now), st));
                }
            }
        })
    }
}

/// A watch that fires when the leader may have changed: on the leader's node, or while
/// nobody leads on the election node's children (or on its creation). `None` if things
/// changed while it was being set (look again at once).
async fn arm(client: &Client, path: &str, leader: Option<&Leader>) -> Result<Option<WatchFuture>> {
    match leader {
        Some(l) => {
            let (stat, w) = client.exists_watch(&l.node).await?;
            Ok(stat.is_some().then_some(w))
        }
        None => match client.children_watch(path).await {
            Ok((children, _, w)) => Ok(ordered(children, MARKER).is_empty().then_some(w)),
            Err(e) if e.code() == Code::NoNode => {
                let (stat, w) = client.exists_watch(path).await?;
                Ok(stat.is_none().then_some(w))
            }
            Err(e) => Err(e),
        },
    }
}

/// The first candidate under `path` and its data: `None` if there is none.
async fn current(client: &Client, path: &str) -> Result<Option<Leader>> {
    loop {
        let children = match client.children(path).await {
            Ok(c) => c,
            Err(e) if e.code() == Code::NoNode => return Ok(None),
            Err(e) => return Err(e),
        };
        let Some((_, first)) = ordered(children, MARKER).into_iter().next() else {
            return Ok(None);
        };
        let node = join(path, &first);
        match client.get(&node).await {
            Ok((value, stat)) => {
                return Ok(Some(Leader {
                    node,
                    value,
                    token: FencingToken(stat.czxid),
                }))
            }
            // The leader left between the two reads: look again.
            Err(e) if e.code() == Code::NoNode => continue,
            Err(e) => return Err(e),
        }
    }
}

/// This candidate's term of office. Resigning (or dropping it) deletes the leader's
/// node, which elects the next candidate.
pub struct Leadership {
    grant: Grant,
    value: Vec<u8>,
}

impl Leadership {
    /// This term's token: greater than every earlier leader's.
    pub fn token(&self) -> FencingToken {
        self.grant.token()
    }

    /// The value this candidate campaigned with.
    pub fn value(&self) -> &[u8] {
        &self.value
    }

    /// The leader's node.
    pub fn node(&self) -> &str {
        self.grant.node()
    }

    /// An operation for a [`Client::multi`] that fails the multi unless this term of
    /// office still stands.
    pub fn check_op(&self) -> Op {
        self.grant.check_op()
    }

    /// Resolves when leadership may be lost: the session's lease falls to the margin,
    /// the session ended, or the leader's node was deleted. The leader must stop acting
    /// as leader when it fires; no other candidate can be elected before the lease
    /// would have run out.
    pub async fn lost(&self) -> Lost {
        self.grant.lost().await
    }

    /// Steps down: deletes the leader's node. Fails only if the node could not be
    /// deleted (the session is gone, and the node with it).
    pub async fn resign(self) -> Result<()> {
        self.grant.give_up().await
    }
}

impl fmt::Debug for Leadership {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Leadership")
            .field("node", &self.node())
            .field("token", &self.token())
            .finish()
    }
}
