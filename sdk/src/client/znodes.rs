//! The znode operations of a [`Client`]: create, read, write, delete, multi, sync and
//! the listings, with the handle's namespace applied to every path in and out, and its
//! retry policy to every read.
use std::time::Duration;

use futures::future::join_all;

use super::{unexpected, Client};
use crate::acl::Acl;
use crate::error::{Code, Error, Result};
use crate::path::{join, parent};
use crate::proto::paddock as pb;
use crate::types::{op_to_proto, ttl_to_wire, version_to_wire, CreateMode, Op, OpResult, Stat};

/// How many deletes of one level [`Client::delete_all`] keeps in flight.
const DELETE_BATCH: usize = 256;

impl Client {
    /// Creates a node and returns its path (with the sequence suffix for sequential
    /// modes). Fails with `NodeExists`, `NoNode` (parent missing),
    /// `NoChildrenForEphemerals`, or `BadArguments` for invalid paths and for the TTL
    /// modes (use [`Client::create_ttl`]).
    pub async fn create(&self, path: &str, data: &[u8], mode: CreateMode) -> Result<String> {
        Ok(self.create_with_stat(path, data, mode).await?.0)
    }

    /// Like [`Client::create`], and returns the new node's stat too.
    pub async fn create_with_stat(
        &self,
        path: &str,
        data: &[u8],
        mode: CreateMode,
    ) -> Result<(String, Stat)> {
        if mode.is_ttl() {
            return Err(Error::BadArguments(format!(
                "{path}: {mode:?} needs a time to live: use create_ttl"
            )));
        }
        self.create_inner(path, data, mode, None, &[]).await
    }

    /// Creates a node in a TTL mode ([`CreateMode::PersistentWithTtl`] or
    /// [`CreateMode::PersistentSequentialWithTtl`]): the ensemble deletes it once `ttl`
    /// has passed with no change to it and no children.
    pub async fn create_ttl(
        &self,
        path: &str,
        data: &[u8],
        mode: CreateMode,
        ttl: Duration,
    ) -> Result<(String, Stat)> {
        if !mode.is_ttl() {
            return Err(Error::BadArguments(format!(
                "{path}: {mode:?} takes no time to live"
            )));
        }
        if ttl.is_zero() {
            return Err(Error::BadArguments(format!(
                "{path}: the time to live must be positive"
            )));
        }
        self.create_inner(path, data, mode, Some(ttl), &[]).await
    }

    /// Creates a node like [`Client::create`], first creating every missing ancestor
    /// as an empty persistent node (Curator's `creatingParentsIfNeeded`). An ancestor
    /// that another client creates meanwhile is fine; the node itself must not exist.
    pub async fn create_all(&self, path: &str, data: &[u8], mode: CreateMode) -> Result<String> {
        match self.create(path, data, mode).await {
            Err(e) if e.code() == Code::NoNode => {}
            done => return done,
        }
        // Ancestors by their full paths, the namespace's own included.
        let full = self.path_in(path, mode.is_sequential())?;
        let whole = Client {
            ns: Default::default(),
            ..self.clone()
        };
        let mut missing = Vec::new();
        let mut at = parent(&full);
        while let Some(p) = at.filter(|p| *p != "/") {
            if whole.exists(p).await?.is_some() {
                break;
            }
            missing.push(p.to_string());
            at = parent(p);
        }
        while let Some(p) = missing.pop() {
            match whole.create(&p, b"", CreateMode::Persistent).await {
                Ok(_) => {}
                Err(e) if e.code() == Code::NodeExists => {}
                Err(e) => return Err(e),
            }
        }
        self.create(path, data, mode).await
    }

    /// A create; an empty `acl` gives the node the default open ACL.
    pub(super) async fn create_inner(
        &self,
        path: &str,
        data: &[u8],
        mode: CreateMode,
        ttl: Option<Duration>,
        acl: &[Acl],
    ) -> Result<(String, Stat)> {
        let full = self.path_in(path, mode.is_sequential())?;
        let mut c = pb::CreateRequest::new();
        c.path = full;
        c.data = data.to_vec();
        c.mode = mode.into();
        c.ttl_ms = ttl_to_wire(ttl);
        c.acl = acl.iter().map(pb::Acl::from).collect();
        let resp = self.call(pb::Request_oneof_op::create(c), false).await?;
        match resp.result {
            Some(pb::Response_oneof_result::create(c)) => {
                Ok((self.path_out(&c.path), Stat::from(c.stat.get_ref())))
            }
            _ => Err(unexpected("create")),
        }
    }

    /// Returns a node's data and stat from the connected member's tree.
    pub async fn get(&self, path: &str) -> Result<(Vec<u8>, Stat)> {
        self.read(|| self.get_once(path, false)).await
    }

    /// Like [`Client::get`], but linearizable: the member first confirms with the
    /// leader (Raft ReadIndex) that it has applied everything committed before the call.
    pub async fn get_linearizable(&self, path: &str) -> Result<(Vec<u8>, Stat)> {
        self.read(|| self.get_once(path, true)).await
    }

    async fn get_once(&self, path: &str, linearizable: bool) -> Result<(Vec<u8>, Stat)> {
        let mut g = pb::GetDataRequest::new();
        g.path = self.path_in(path, false)?;
        let resp = self
            .call(pb::Request_oneof_op::get_data(g), linearizable)
            .await?;
        match resp.result {
            Some(pb::Response_oneof_result::get_data(mut g)) => {
                let stat = Stat::from(g.stat.get_ref());
                Ok((std::mem::take(&mut g.data), stat))
            }
            _ => Err(unexpected("get")),
        }
    }

    /// Replaces a node's data. With `Some(version)` the write only happens if the
    /// node's version still matches (`BadVersion` otherwise); `None` matches any
    /// version. Returns the new stat.
    pub async fn set(&self, path: &str, data: &[u8], version: Option<i32>) -> Result<Stat> {
        let mut s = pb::SetDataRequest::new();
        s.path = self.path_in(path, false)?;
        s.data = data.to_vec();
        s.version = version_to_wire(version);
        let resp = self.call(pb::Request_oneof_op::set_data(s), false).await?;
        match resp.result {
            Some(pb::Response_oneof_result::set_data(s)) => Ok(Stat::from(s.stat.get_ref())),
            _ => Err(unexpected("set")),
        }
    }

    /// Deletes a node (it must have no children). With `Some(version)` only if the
    /// version matches; `None` matches any version.
    pub async fn delete(&self, path: &str, version: Option<i32>) -> Result<()> {
        let mut d = pb::DeleteRequest::new();
        d.path = self.path_in(path, false)?;
        d.version = version_to_wire(version);
        self.call(pb::Request_oneof_op::delete(d), false).await?;
        Ok(())
    }

    /// Deletes a node and everything below it, deepest nodes first (zkCli's
    /// `deleteall`). Nodes that others delete meanwhile are fine; if others keep
    /// creating children below it, it tries again a few times, then fails with
    /// `NotEmpty`. Succeeds if the node does not exist. It is not atomic: a failure
    /// may leave part of the subtree deleted.
    pub async fn delete_all(&self, path: &str) -> Result<()> {
        if path == "/" {
            return Err(Error::BadArguments(
                "delete_all of / would delete the whole tree".into(),
            ));
        }
        let mut last = None;
        for _ in 0..5 {
            match self.delete_all_once(path).await {
                Err(e) if e.code() == Code::NotEmpty => last = Some(e),
                done => return done,
            }
        }
        Err(last.unwrap_or_else(|| Error::Server {
            code: Code::NotEmpty,
            message: path.to_string(),
        }))
    }

    async fn delete_all_once(&self, path: &str) -> Result<()> {
        // Every level of the subtree, read breadth-first with pipelined reads.
        let mut levels: Vec<Vec<String>> = vec![vec![path.to_string()]];
        while let Some(level) = levels.last() {
            let listed = join_all(level.iter().map(|p| self.children(p))).await;
            let mut next = Vec::new();
            for (p, children) in level.iter().zip(listed) {
                match children {
                    Ok(c) => next.extend(c.iter().map(|name| join(p, name))),
                    Err(e) if e.code() == Code::NoNode => {}
                    Err(e) => return Err(e),
                }
            }
            if next.is_empty() {
                break;
            }
            levels.push(next);
        }
        while let Some(level) = levels.pop() {
            for batch in level.chunks(DELETE_BATCH) {
                for r in join_all(batch.iter().map(|p| self.delete(p, None))).await {
                    match r {
                        Ok(()) => {}
                        Err(e) if e.code() == Code::NoNode => {}
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        Ok(())
    }

    /// Returns the node's stat, or `None` if it does not exist.
    pub async fn exists(&self, path: &str) -> Result<Option<Stat>> {
        self.read(|| async {
            let mut e = pb::ExistsRequest::new();
            e.path = self.path_in(path, false)?;
            let resp = self.call(pb::Request_oneof_op::exists(e), false).await?;
            match resp.result {
                Some(pb::Response_oneof_result::exists(e)) => Ok(e.stat.as_ref().map(Stat::from)),
                _ => Err(unexpected("exists")),
            }
        })
        .await
    }

    /// Returns the names of a node's children, sorted.
    pub async fn children(&self, path: &str) -> Result<Vec<String>> {
        Ok(self.children_with_stat(path).await?.0)
    }

    /// Returns the names of a node's children (sorted) and the node's stat.
    pub async fn children_with_stat(&self, path: &str) -> Result<(Vec<String>, Stat)> {
        self.read(|| async {
            let mut g = pb::GetChildrenRequest::new();
            g.path = self.path_in(path, false)?;
            let resp = self
                .call(pb::Request_oneof_op::get_children(g), false)
                .await?;
            match resp.result {
                Some(pb::Response_oneof_result::get_children(mut g)) => {
                    let stat = Stat::from(g.stat.get_ref());
                    Ok((std::mem::take(&mut g.children).into_vec(), stat))
                }
                _ => Err(unexpected("children")),
            }
        })
        .await
    }

    /// Applies all operations atomically: either every one succeeds, or none is
    /// applied and [`Error::Multi`] names the first failing operation (its index, code
    /// and path).
    ///
    /// ```no_run
    /// # async fn demo(client: paddock::Client) -> paddock::Result<()> {
    /// use paddock::{Error, Op};
    /// match client.multi(&[Op::check("/config").version(3), Op::set_data("/config", b"v4")]).await {
    ///     Ok(results) => println!("{results:?}"),
    ///     Err(Error::Multi { index: 0, .. }) => println!("someone changed /config first"),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn multi(&self, ops: &[Op]) -> Result<Vec<OpResult>> {
        let mut m = pb::MultiRequest::new();
        for (index, op) in ops.iter().enumerate() {
            let seq = matches!(op, Op::Create { mode, .. } if mode.is_sequential());
            let full = self.path_in(op.path(), seq).map_err(|e| match e {
                Error::BadArguments(m) => Error::BadArguments(format!("operation {index}: {m}")),
                e => e,
            })?;
            let mut wire = op_to_proto(op);
            set_path(&mut wire, full);
            m.ops.push(wire);
        }
        let resp = self
            .call_raw(pb::Request_oneof_op::multi(m), false, super::Hook::None)
            .await?;
        if let Some(err) = Error::from_server(resp.err, resp.message.clone()) {
            return Err(multi_error(err, &resp));
        }
        let results = match resp.result {
            Some(pb::Response_oneof_result::multi(m)) => m.results.into_vec(),
            _ => return Err(unexpected("multi")),
        };
        let mut out = Vec::with_capacity(results.len());
        for r in results {
            use pb::MultiResult_oneof_result as R;
            out.push(match r.result {
                Some(R::create(c)) => OpResult::Create {
                    path: self.path_out(&c.path),
                    stat: Stat::from(c.stat.get_ref()),
                },
                Some(R::delete(_)) => OpResult::Delete,
                Some(R::set_data(s)) => OpResult::SetData {
                    stat: Stat::from(s.stat.get_ref()),
                },
                Some(R::check(_)) => OpResult::Check,
                None => return Err(unexpected("multi result")),
            });
        }
        Ok(out)
    }

    /// Waits until the connected member has applied everything the leader had
    /// committed when the call was made (ZooKeeper's `sync`).
    pub async fn sync(&self, path: &str) -> Result<()> {
        self.read(|| async {
            let mut s = pb::SyncRequest::new();
            s.path = self.path_in(path, false)?;
            self.call(pb::Request_oneof_op::sync(s), false).await?;
            Ok(())
        })
        .await
    }

    /// The paths of this session's ephemeral nodes that start with `prefix` (`"/"` for
    /// all), sorted. `prefix` is a plain string prefix, so `"/app/lock-"` matches
    /// `/app/lock-0000000001`.
    pub async fn get_ephemerals(&self, prefix: &str) -> Result<Vec<String>> {
        if !prefix.starts_with('/') {
            return Err(Error::BadArguments(format!(
                "prefix must start with / character: {prefix:?}"
            )));
        }
        self.read(|| async {
            let mut g = pb::GetEphemeralsRequest::new();
            g.prefix = self.ns.full(prefix);
            let resp = self
                .call(pb::Request_oneof_op::get_ephemerals(g), false)
                .await?;
            match resp.result {
                Some(pb::Response_oneof_result::get_ephemerals(mut g)) => {
                    let mut paths: Vec<String> = std::mem::take(&mut g.paths)
                        .into_iter()
                        .map(|p| self.path_out(&p))
                        .collect();
                    paths.sort();
                    Ok(paths)
                }
                _ => Err(unexpected("get_ephemerals")),
            }
        })
        .await
    }

    /// The number of nodes below `path` (all descendants, not counting `path` itself),
    /// as ZooKeeper's `getAllChildrenNumber`.
    pub async fn all_children_number(&self, path: &str) -> Result<u64> {
        self.read(|| async {
            let mut g = pb::GetAllChildrenNumberRequest::new();
            g.path = self.path_in(path, false)?;
            let resp = self
                .call(pb::Request_oneof_op::get_all_children_number(g), false)
                .await?;
            match resp.result {
                Some(pb::Response_oneof_result::get_all_children_number(g)) => {
                    Ok(u64::try_from(g.number).unwrap_or(0))
                }
                _ => Err(unexpected("all_children_number")),
            }
        })
        .await
    }
}

/// Replaces the path of a wire multi operation (the namespace applied).
fn set_path(op: &mut pb::MultiOp, path: String) {
    use pb::MultiOp_oneof_op as O;
    match op.op.as_mut() {
        Some(O::create(c)) => c.path = path,
        Some(O::delete(d)) => d.path = path,
        Some(O::set_data(s)) => s.path = path,
        Some(O::check(c)) => c.path = path,
        None => {}
    }
}

/// The error of a failed multi: the first operation whose code is neither OK nor the
/// "rolled back" code of the operations around the failing one.
fn multi_error(err: Error, resp: &pb::Response) -> Error {
    let Error::Server { code, message } = err else {
        return err;
    };
    let failing = match &resp.result {
        Some(pb::Response_oneof_result::multi(m)) => m.results.iter().position(|r| {
            !matches!(
                r.err,
                pb::ErrorCode::OK | pb::ErrorCode::RUNTIME_INCONSISTENCY
            )
        }),
        _ => None,
    };
    match failing {
        Some(index) => Error::Multi {
            index,
            code,
            message,
        },
        None => Error::Server { code, message },
    }
}
