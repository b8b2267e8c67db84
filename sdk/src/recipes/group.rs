//! Group membership and service discovery: each member of a group is an ephemeral child
//! `<group>/<name>` holding the member's data (an address, a JSON document), present
//! exactly as long as the member's session; anyone can list the members and follow the
//! changes.
use std::collections::BTreeMap;

use futures::Stream;

use super::contenders::{delete_if_present, delete_in_background};
use super::nodes::ensure_container;
use crate::path::{join, validate};
use crate::{Client, Code, CreateMode, Error, Result, WatchFuture};

/// A group at one path.
///
/// ```no_run
/// # async fn demo(client: paddock::Client) -> paddock::Result<()> {
/// use paddock::recipes::Group;
/// let web = Group::new(&client, "/services/web")?;
/// let me = web.join("host-1", b"10.0.0.5:8080").await?;
/// for (name, address) in web.members().await? {
///     println!("{name} at {}", String::from_utf8_lossy(&address));
/// }
/// me.leave().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Group {
    client: Client,
    path: String,
}

/// The members of a group: name -> data.
pub type Members = BTreeMap<String, Vec<u8>>;

impl Group {
    /// A handle on the group at `path` (created on first join, as a container).
    pub fn new(client: &Client, path: &str) -> Result<Group> {
        validate(path).map_err(Error::BadArguments)?;
        Ok(Group {
            client: client.clone(),
            path: path.to_string(),
        })
    }

    /// Joins as `name` with `data`. Fails with `NodeExists` if another session is a
    /// member under that name; joining again from the same session updates the data.
    pub async fn join(&self, name: &str, data: &[u8]) -> Result<Membership> {
        let node = join(&self.path, name);
        validate(&node).map_err(Error::BadArguments)?;
        for _ in 0..10 {
            match self.client.create(&node, data, CreateMode::Ephemeral).await {
                Ok(_) => return Ok(self.membership(node)),
                Err(e) if e.code() == Code::NoNode => {
                    ensure_container(&self.client, &self.path).await?
                }
                Err(e) if e.code() == Code::NodeExists => {
                    let (_, stat) = self.client.get(&node).await?;
                    if stat.ephemeral_owner != self.client.session_id() {
                        return Err(e);
                    }
                    self.client.set(&node, data, None).await?;
                    return Ok(self.membership(node));
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::Server {
            code: Code::NoNode,
            message: format!("{}: the group node kept disappearing", self.path),
        })
    }

    fn membership(&self, node: String) -> Membership {
        Membership {
            client: self.client.clone(),
            node,
            left: false,
        }
    }

    /// The members now, as the connected member's tree has them.
    pub async fn members(&self) -> Result<Members> {
        Ok(self.members_watch(false).await?.0)
    }

    async fn members_watch(&self, watch: bool) -> Result<(Members, Option<WatchFuture>)> {
        let (names, fired) = if watch {
            loop {
                match self.client.children_watch(&self.path).await {
                    Ok((names, _, fired)) => break (names, Some(fired)),
                    Err(e) if e.code() == Code::NoNode => {
                        // No group yet: wait for it to be created (unless it just was).
                        let (stat, fired) = self.client.exists_watch(&self.path).await?;
                        if stat.is_none() {
                            break (Vec::new(), Some(fired));
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
        } else {
            match self.client.children(&self.path).await {
                Ok(names) => (names, None),
                Err(e) if e.code() == Code::NoNode => (Vec::new(), None),
                Err(e) => return Err(e),
            }
        };
        let mut members = Members::new();
        for name in names {
            match self.client.get(&join(&self.path, &name)).await {
                Ok((data, _)) => {
                    members.insert(name, data);
                }
                // It left between the two reads.
                Err(e) if e.code() == Code::NoNode => {}
                Err(e) => return Err(e),
            }
        }
        Ok((members, fired))
    }

    /// The members as they change: first the current set, then a new set after each
    /// join or departure (changes in quick succession may come as one). Ends with an
    /// error item when the session ends. A member that only updates its data is not a
    /// change of the set.
    pub fn watch(&self) -> impl Stream<Item = Result<Members>> + Send + 'static {
        struct St {
            group: Group,
            wait: Option<WatchFuture>,
            done: bool,
        }
        let st = St {
            group: self.clone(),
            wait: None,
            done: false,
        };
        futures::stream::unfold(st, |mut st| async move {
            if st.done {
                return None;
            }
            if let Some(w) = st.wait.take() {
                if let Err(e) = w.await {
                    st.done = true;
                    return Some((Err(e), st));
                }
            }
            match st.group.members_watch(true).await {
                Ok((members, fired)) => {
                    st.wait = fired;
                    Some((Ok(members), st))
                }
                Err(e) => {
                    st.done = true;
                    Some((Err(e), st))
                }
            }
        })
    }
}

/// This session's membership of a group. Leaving (or dropping it) deletes the member's
/// node; the end of the session does too.
pub struct Membership {
    client: Client,
    node: String,
    left: bool,
}

impl Membership {
    /// The member's node.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Replaces the member's data.
    pub async fn update(&self, data: &[u8]) -> Result<()> {
        self.client.set(&self.node, data, None).await.map(|_| ())
    }

    /// Leaves the group.
    pub async fn leave(mut self) -> Result<()> {
        self.left = true;
        delete_if_present(&self.client, &self.node).await
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        if !self.left {
            delete_in_background(&self.client, std::mem::take(&mut self.node));
        }
    }
}
