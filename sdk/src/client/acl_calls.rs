//! The ACL operations of a [`Client`]: adding an identity to the session's
//! connections, creating a node with an ACL, reading and replacing a node's ACL.
//! What the schemes and permissions mean: [`crate::acl`].
use super::{unexpected, Client};
use crate::acl::Acl;
use crate::error::Result;
use crate::proto::paddock as pb;
use crate::types::{version_to_wire, CreateMode, Stat};

impl Client {
    /// Adds an identity to this session's connections, as ZooKeeper's `addauth`:
    /// `add_auth("digest", b"alice:secret")` makes nodes whose ACL names
    /// `digest:alice:<hash>` (see [`crate::acl::digest`]) accessible. The identity
    /// lasts for the session: the client sends it again on every new connection, before
    /// anything else. Fails with `AuthFailed` for another scheme or malformed
    /// credentials (the identity is then not kept).
    pub async fn add_auth(&self, scheme: &str, auth: &[u8]) -> Result<()> {
        let entry = (scheme.to_string(), auth.to_vec());
        // Kept before it is sent: a connection that is lost meanwhile gets it on the
        // next one; a refusal takes it out again.
        self.shared.auths.lock().push(entry.clone());
        let mut a = pb::AuthRequest::new();
        a.scheme = entry.0.clone();
        a.auth = entry.1.clone();
        match self.call(pb::Request_oneof_op::auth(a), false).await {
            Ok(_) => Ok(()),
            Err(e) => {
                if e.code() == crate::Code::AuthFailed {
                    let mut auths = self.shared.auths.lock();
                    if let Some(i) = auths.iter().rposition(|x| *x == entry) {
                        auths.remove(i);
                    }
                }
                Err(e)
            }
        }
    }

    /// Creates a node with `acl` (see [`Client::create`] for the rest). An empty `acl`
    /// is refused with `InvalidAcl`, as in ZooKeeper; [`Acl::open`] gives the default.
    /// [`Acl::creator_all`] grants everything to this session's authenticated
    /// identities. Fails with `NoAuth` without CREATE on the parent.
    pub async fn create_with_acl(
        &self,
        path: &str,
        data: &[u8],
        mode: CreateMode,
        acl: &[Acl],
    ) -> Result<String> {
        if acl.is_empty() {
            return Err(crate::Error::Server {
                code: crate::Code::InvalidAcl,
                message: format!("{path}: an ACL needs at least one entry"),
            });
        }
        if mode.is_ttl() {
            return Err(crate::Error::BadArguments(format!(
                "{path}: {mode:?} needs a time to live: use create_ttl"
            )));
        }
        Ok(self.create_inner(path, data, mode, None, acl).await?.0)
    }

    /// A node's ACL and stat (`aversion` counts its changes). Needs READ or ADMIN on
    /// the node (`NoAuth` otherwise).
    pub async fn get_acl(&self, path: &str) -> Result<(Vec<Acl>, Stat)> {
        self.read(|| async {
            let mut g = pb::GetAclRequest::new();
            g.path = self.path_in(path, false)?;
            let resp = self.call(pb::Request_oneof_op::get_acl(g), false).await?;
            match resp.result {
                Some(pb::Response_oneof_result::get_acl(r)) => Ok((
                    r.acl.iter().map(Acl::from).collect(),
                    Stat::from(r.stat.get_ref()),
                )),
                _ => Err(unexpected("get_acl")),
            }
        })
        .await
    }

    /// Replaces a node's ACL. With `Some(version)` only if the node's ACL version
    /// (`aversion`) still matches (`BadVersion` otherwise). Needs ADMIN on the node.
    /// Returns the new stat. Fires no watch, as in ZooKeeper.
    pub async fn set_acl(&self, path: &str, acl: &[Acl], version: Option<i32>) -> Result<Stat> {
        let mut s = pb::SetAclRequest::new();
        s.path = self.path_in(path, false)?;
        s.acl = acl.iter().map(pb::Acl::from).collect();
        s.version = version_to_wire(version);
        let resp = self.call(pb::Request_oneof_op::set_acl(s), false).await?;
        match resp.result {
            Some(pb::Response_oneof_result::set_acl(r)) => Ok(Stat::from(r.stat.get_ref())),
            _ => Err(unexpected("set_acl")),
        }
    }
}
