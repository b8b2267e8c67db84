//! Who a client connection is, for the ACLs: its identities, `addauth`, the `auth`
//! scheme's expansion, and the checks of reads.
//!
//! A connection starts with the identities the member can see for itself: `ip:ADDR`
//! (the client's address) and, over TLS with a client certificate, `x509:SUBJECT`. An
//! `AuthRequest` adds `digest:user:BASE64(SHA1(user:password))`; the identity matching
//! the member's `--super-digest` makes the connection a superuser, for which no ACL
//! applies. Identities live as long as the connection (the SDK sends its `add_auth`
//! calls again on every new connection, as ZooKeeper's clients do).
//!
//! Writes carry the connection's identities in their transaction ([`Who`]) and are
//! checked by every replica when they apply (`tree::ops`), against the ACLs as they
//! are at that zxid. Reads are checked here, against the local tree they read.
use paddock::acl::{self, Acl, Id, Perms};
use paddock::proto::paddock as pb;
use paddock::Code;

use super::validate::Rejection;
use crate::tree::Who;

/// The identities a connection starts with: its address and, if it presented one, its
/// client certificate's subject.
pub fn initial(peer: Option<std::net::SocketAddr>, cert: Option<&[u8]>) -> Who {
    let mut identities = Vec::new();
    if let Some(addr) = peer {
        identities.push(Id::new("ip", addr.ip().to_canonical().to_string()));
    }
    if let Some(subject) = cert.and_then(subject) {
        identities.push(Id::new("x509", subject));
    }
    Who {
        identities,
        superuser: false,
    }
}

/// A certificate's subject in RFC 2253 form (most specific attribute first, e.g.
/// `CN=billing,O=Example`), as ZooKeeper's x509 provider names it.
pub fn subject(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let registry = x509_parser::objects::oid_registry();
    let mut rdns: Vec<String> = cert
        .subject()
        .iter_rdn()
        .map(|rdn| {
            rdn.iter()
                .map(|attr| {
                    let name = x509_parser::objects::oid2abbrev(attr.attr_type(), registry)
                        .map(str::to_string)
                        .unwrap_or_else(|_| attr.attr_type().to_id_string());
                    let value = attr.as_str().unwrap_or("?");
                    format!("{name}={value}")
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    rdns.reverse();
    (!rdns.is_empty()).then(|| rdns.join(","))
}

/// Handles an `AuthRequest`: scheme `digest` with `user:password` adds that digest
/// identity (and superuser rights if it is `super_digest`). Anything else is refused
/// with AuthFailed and changes nothing.
pub fn add(
    who: &mut Who,
    req: &pb::AuthRequest,
    super_digest: Option<&str>,
) -> Result<(), Rejection> {
    if req.scheme != "digest" {
        return Err((
            Code::AuthFailed,
            format!(
                "unsupported auth scheme {:?}: add_auth takes \"digest\" (ip and x509 come \
                 from the connection itself)",
                req.scheme
            ),
        ));
    }
    let text = std::str::from_utf8(&req.auth).map_err(|_| {
        (
            Code::AuthFailed,
            "digest credentials are not UTF-8".to_string(),
        )
    })?;
    let Some((user, password)) = text.split_once(':').filter(|(u, _)| !u.is_empty()) else {
        return Err((
            Code::AuthFailed,
            "digest credentials must be user:password".to_string(),
        ));
    };
    let id = Id::digest(user, password);
    if super_digest == Some(id.id.as_str()) {
        who.superuser = true;
    }
    if !who.identities.contains(&id) {
        who.identities.push(id);
    }
    Ok(())
}

/// The ACL a create or setACL proposes: validated, with every `auth` entry replaced by
/// one entry per authenticated identity of the connection (`digest`, `x509`) with the
/// same permissions. Empty stays empty (the default open ACL) for a create.
pub fn expand(acl: &[pb::Acl], who: &Who) -> Result<Vec<Acl>, Rejection> {
    let acl: Vec<Acl> = acl.iter().map(Acl::from).collect();
    if acl.is_empty() {
        return Ok(acl);
    }
    acl::validate(&acl).map_err(|e| (Code::InvalidAcl, e))?;
    let mut out = Vec::with_capacity(acl.len());
    for a in acl {
        if a.id.scheme != "auth" {
            if !out.contains(&a) {
                out.push(a);
            }
            continue;
        }
        let authenticated: Vec<&Id> = who
            .identities
            .iter()
            .filter(|i| i.scheme == "digest" || i.scheme == "x509")
            .collect();
        if authenticated.is_empty() {
            return Err((
                Code::InvalidAcl,
                "the auth scheme needs an authenticated identity: call add_auth (digest) or \
                 connect with a client certificate (x509) first"
                    .to_string(),
            ));
        }
        for id in authenticated {
            let e = Acl::new(a.perms, id.clone());
            if !out.contains(&e) {
                out.push(e);
            }
        }
    }
    Ok(out)
}

/// Replaces the ACL of a create with its expansion (see [`expand`]).
pub fn expand_create(c: &mut pb::CreateRequest, who: &Who) -> Result<(), Rejection> {
    let acl = expand(&c.acl, who)?;
    c.acl = acl.iter().map(pb::Acl::from).collect();
    Ok(())
}

/// Expands the ACLs of a multi's creates (see [`expand`]).
pub fn expand_multi(m: &mut pb::MultiRequest, who: &Who) -> Result<(), Rejection> {
    for op in m.ops.iter_mut() {
        if let Some(pb::MultiOp_oneof_op::create(c)) = op.op.as_mut() {
            expand_create(c, who)?;
        }
    }
    Ok(())
}

/// NoAuth unless `acl` grants one of `needed` to the connection (superusers pass).
pub fn permit(acl: &[Acl], needed: Perms, who: &Who, path: &str) -> Result<(), Rejection> {
    if who.superuser || acl::allows(acl, needed, &who.identities) {
        Ok(())
    } else {
        Err((
            Code::NoAuth,
            format!("{path}: the ACL does not grant {needed}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(scheme: &str, text: &str) -> pb::AuthRequest {
        let mut r = pb::AuthRequest::new();
        r.scheme = scheme.into();
        r.auth = text.as_bytes().to_vec();
        r
    }

    #[test]
    fn a_connection_starts_with_its_address() {
        let who = initial(Some("127.0.0.9:4000".parse().expect("addr")), None);
        assert_eq!(who.identities, vec![Id::new("ip", "127.0.0.9")]);
        assert!(!who.superuser);
        let v6 = initial(Some("[::ffff:10.0.0.1]:1".parse().expect("addr")), None);
        assert_eq!(v6.identities, vec![Id::new("ip", "10.0.0.1")]);
    }

    #[test]
    fn digest_auth_adds_an_identity_and_the_super_digest_a_superuser() {
        let mut who = Who::default();
        add(&mut who, &auth("digest", "alice:secret"), None).expect("auth");
        add(&mut who, &auth("digest", "alice:secret"), None).expect("twice");
        assert_eq!(who.identities, vec![Id::digest("alice", "secret")]);
        assert!(!who.superuser);
        let sup = acl::digest("super", "test");
        add(&mut who, &auth("digest", "super:test"), Some(&sup)).expect("auth");
        assert!(who.superuser);
        for (scheme, text) in [
            ("digest", "nocolon"),
            ("digest", ":pw"),
            ("kerberos", "a:b"),
        ] {
            let mut w = Who::default();
            let e = add(&mut w, &auth(scheme, text), None).expect_err("refused");
            assert_eq!(e.0, Code::AuthFailed);
            assert!(w.identities.is_empty());
        }
    }

    #[test]
    fn auth_entries_expand_to_the_authenticated_identities() {
        let anyone: pb::Acl = (&Acl::new(Perms::READ, Id::anyone())).into();
        let creator: pb::Acl = (&Acl::new(Perms::ALL, Id::creator())).into();
        let mut who = initial(Some("10.0.0.1:1".parse().expect("addr")), None);
        // Only the address: nothing authenticated to expand to.
        assert_eq!(
            expand(std::slice::from_ref(&creator), &who)
                .expect_err("no identity")
                .0,
            Code::InvalidAcl
        );
        add(&mut who, &auth("digest", "bob:pw"), None).expect("auth");
        let acl = expand(&[anyone, creator], &who).expect("expanded");
        assert_eq!(
            acl,
            vec![
                Acl::new(Perms::READ, Id::anyone()),
                Acl::new(Perms::ALL, Id::digest("bob", "pw")),
            ]
        );
        let bad: pb::Acl = (&Acl::new(Perms::READ, Id::new("world", "everyone"))).into();
        assert_eq!(
            expand(&[bad], &who).expect_err("invalid").0,
            Code::InvalidAcl
        );
        assert!(expand(&[], &who).expect("empty").is_empty());
    }
}
