//! Access control lists with ZooKeeper's semantics.
//!
//! Every znode has an ACL: a list of entries, each granting a set of [`Perms`] to an
//! [`Id`] (a scheme and an id within it). A request is allowed when some entry grants
//! the permission it needs to one of the identities of the connection that sent it:
//!
//! | scheme | id | who has it |
//! |---|---|---|
//! | `world` | `anyone` | everybody |
//! | `digest` | `user:BASE64(SHA1(user:password))` | a connection that called `add_auth("digest", "user:password")` |
//! | `ip` | `10.0.0.7` or `10.0.0.0/8` | connections from that address or network |
//! | `x509` | the client certificate's subject, e.g. `CN=billing,O=Example` | TLS connections with that client certificate |
//! | `auth` | (empty) | in a create or setACL only: stands for every authenticated identity (`digest`, `x509`) of the connection that sends it |
//!
//! Which permission each operation needs: create a child: CREATE on the parent; delete a
//! child: DELETE on the parent; read data, list children, count descendants, add a
//! watch: READ; set data: WRITE; read the ACL: READ or ADMIN; set the ACL: ADMIN; check
//! (in a multi): READ. `exists` and `sync` need none. A superuser (the member's
//! `--super-digest`) is allowed everything.
//!
//! The text form (the CLI's `--acl`, [`parse_acl`], [`format_acl`]) is ZooKeeper's:
//! `scheme:id:perms` entries separated by commas, perms as letters `crwda`, e.g.
//! `world:anyone:r,digest:alice:KhWWQ+n8zHr6o2AEbq/sAH5ZwDg=:cdrwa`.
use std::fmt;

use crate::proto::paddock as pb;

/// A set of permissions (ZooKeeper's bits).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Perms(u32);

impl Perms {
    /// Read data, list children.
    pub const READ: Perms = Perms(1);
    /// Set data.
    pub const WRITE: Perms = Perms(2);
    /// Create children.
    pub const CREATE: Perms = Perms(4);
    /// Delete children.
    pub const DELETE: Perms = Perms(8);
    /// Set the ACL.
    pub const ADMIN: Perms = Perms(16);
    /// All of them.
    pub const ALL: Perms = Perms(31);
    /// None.
    pub const NONE: Perms = Perms(0);

    /// The permissions of ZooKeeper's bit mask (bits above ADMIN are dropped).
    pub fn from_bits(bits: u32) -> Perms {
        Perms(bits & 31)
    }

    /// ZooKeeper's bit mask.
    pub fn bits(self) -> u32 {
        self.0
    }

    /// Whether every permission of `other` is in `self`.
    pub fn contains(self, other: Perms) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether the two share a permission.
    pub fn intersects(self, other: Perms) -> bool {
        self.0 & other.0 != 0
    }
}

impl std::ops::BitOr for Perms {
    type Output = Perms;
    fn bitor(self, rhs: Perms) -> Perms {
        Perms(self.0 | rhs.0)
    }
}

impl fmt::Debug for Perms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Perms({self})")
    }
}

impl fmt::Display for Perms {
    /// The letters of ZooKeeper's text form, in its order: `cdrwa`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (p, c) in LETTERS {
            if self.contains(p) {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

const LETTERS: [(Perms, char); 5] = [
    (Perms::CREATE, 'c'),
    (Perms::DELETE, 'd'),
    (Perms::READ, 'r'),
    (Perms::WRITE, 'w'),
    (Perms::ADMIN, 'a'),
];

impl std::str::FromStr for Perms {
    type Err = String;
    /// Letters from `crwda` in any order (at least one).
    fn from_str(s: &str) -> Result<Perms, String> {
        if s.is_empty() {
            return Err("no permissions given (use letters from crwda)".into());
        }
        let mut perms = Perms::NONE;
        for ch in s.chars() {
            match LETTERS.iter().find(|(_, c)| *c == ch.to_ascii_lowercase()) {
                Some((p, _)) => perms = perms | *p,
                None => {
                    return Err(format!(
                        "unknown permission {ch:?} (use letters from crwda)"
                    ))
                }
            }
        }
        Ok(perms)
    }
}

/// An identity: a scheme and an id within it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id {
    /// `world`, `digest`, `ip`, `x509` or `auth`.
    pub scheme: String,
    /// The id within the scheme.
    pub id: String,
}

impl Id {
    /// An identity.
    pub fn new(scheme: impl Into<String>, id: impl Into<String>) -> Id {
        Id {
            scheme: scheme.into(),
            id: id.into(),
        }
    }

    /// `world:anyone`.
    pub fn anyone() -> Id {
        Id::new("world", "anyone")
    }

    /// `auth:`: every authenticated identity of the connection that creates the node.
    pub fn creator() -> Id {
        Id::new("auth", "")
    }

    /// The `digest` identity of `user` with `password` (see [`digest`]).
    pub fn digest(user: &str, password: &str) -> Id {
        Id::new("digest", digest(user, password))
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.scheme, self.id)
    }
}

/// One ACL entry: `perms` granted to `id`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Acl {
    /// What is granted.
    pub perms: Perms,
    /// To whom.
    pub id: Id,
}

impl Acl {
    /// An entry.
    pub fn new(perms: Perms, id: Id) -> Acl {
        Acl { perms, id }
    }

    /// ZooKeeper's OPEN_ACL_UNSAFE: everybody may do everything. Nodes created without
    /// an ACL get it.
    pub fn open() -> Vec<Acl> {
        vec![Acl::new(Perms::ALL, Id::anyone())]
    }

    /// ZooKeeper's READ_ACL_UNSAFE: everybody may read, nobody may change.
    pub fn read_only() -> Vec<Acl> {
        vec![Acl::new(Perms::READ, Id::anyone())]
    }

    /// ZooKeeper's CREATOR_ALL_ACL: the creating connection's authenticated identities
    /// may do everything (the create fails with `InvalidAcl` if it has none).
    pub fn creator_all() -> Vec<Acl> {
        vec![Acl::new(Perms::ALL, Id::creator())]
    }
}

impl fmt::Display for Acl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.id, self.perms)
    }
}

/// The `digest` scheme's id for `user` with `password`:
/// `user:BASE64(SHA1("user:password"))`, as ZooKeeper's DigestAuthenticationProvider
/// computes it (so digests from ZooKeeper's tools work here, and back).
pub fn digest(user: &str, password: &str) -> String {
    let hash = ring::digest::digest(
        &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        format!("{user}:{password}").as_bytes(),
    );
    format!("{user}:{}", base64(hash.as_ref()))
}

/// Standard base64 with padding (the alphabet Java's `Base64.getEncoder` uses).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Parses ZooKeeper's text form: `scheme:id:perms` entries separated by commas. The id
/// is everything between the first and the last colon, so digests (`user:hash`) and
/// x509 subjects keep theirs. Schemes and ids are checked as [`validate`] does.
pub fn parse_acl(text: &str) -> Result<Vec<Acl>, String> {
    let mut acl = Vec::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (scheme, rest) = entry
            .split_once(':')
            .ok_or_else(|| format!("{entry:?}: expected scheme:id:perms"))?;
        let (id, perms) = rest
            .rsplit_once(':')
            .ok_or_else(|| format!("{entry:?}: expected scheme:id:perms"))?;
        let perms = perms.parse().map_err(|e| format!("{entry:?}: {e}"))?;
        acl.push(Acl::new(perms, Id::new(scheme, id)));
    }
    validate(&acl)?;
    Ok(acl)
}

/// The text form of an ACL (see [`parse_acl`]).
pub fn format_acl(acl: &[Acl]) -> String {
    acl.iter().map(Acl::to_string).collect::<Vec<_>>().join(",")
}

/// Checks an ACL as a member does before it accepts it in a create or setACL: at least
/// one entry, known schemes, `world` only with `anyone`, `digest` ids as `user:hash`,
/// `ip` ids as an address or a network (`addr/bits`), `auth` with an empty id.
pub fn validate(acl: &[Acl]) -> Result<(), String> {
    if acl.is_empty() {
        return Err("an ACL needs at least one entry".into());
    }
    for a in acl {
        let Id { scheme, id } = &a.id;
        let ok = match scheme.as_str() {
            "world" => id == "anyone",
            "auth" => id.is_empty(),
            "digest" => id
                .split_once(':')
                .is_some_and(|(u, h)| !u.is_empty() && !h.is_empty()),
            "ip" => parse_network(id).is_some(),
            "x509" => !id.is_empty(),
            _ => false,
        };
        if !ok {
            return Err(format!(
                "invalid ACL entry {a}: schemes are world:anyone, auth:, digest:user:hash, \
                 ip:addr[/bits] and x509:subject"
            ));
        }
    }
    Ok(())
}

/// An `ip` scheme id as (network address, prefix length).
fn parse_network(id: &str) -> Option<(std::net::IpAddr, u8)> {
    let (addr, bits) = match id.split_once('/') {
        Some((a, b)) => (a, Some(b.parse::<u8>().ok()?)),
        None => (id, None),
    };
    let addr: std::net::IpAddr = addr.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let bits = bits.unwrap_or(max);
    (bits <= max).then_some((addr, bits))
}

/// Whether an `ip` ACL id (`addr` or `addr/bits`) covers the client address `client`.
pub fn ip_matches(network: &str, client: &str) -> bool {
    let (Some((net, bits)), Ok(client)) = (parse_network(network), client.parse()) else {
        return false;
    };
    let (net, client, width) = match (net, client) {
        (std::net::IpAddr::V4(n), std::net::IpAddr::V4(c)) => {
            (u128::from(u32::from(n)), u128::from(u32::from(c)), 32)
        }
        (std::net::IpAddr::V6(n), std::net::IpAddr::V6(c)) => (u128::from(n), u128::from(c), 128),
        _ => return false,
    };
    if bits == 0 {
        return true;
    }
    let shift = width - u32::from(bits);
    (net >> shift) == (client >> shift)
}

/// Whether `acl` grants `needed` (any one of its permissions) to one of `ids`.
///
/// `ids` are a connection's identities (`ip:ADDR`, `digest:user:hash`, `x509:subject`);
/// `world:anyone` entries match everybody, `ip` entries match by network.
pub fn allows(acl: &[Acl], needed: Perms, ids: &[Id]) -> bool {
    acl.iter().any(|a| {
        a.perms.intersects(needed)
            && match a.id.scheme.as_str() {
                "world" => a.id.id == "anyone",
                "ip" => ids
                    .iter()
                    .any(|i| i.scheme == "ip" && ip_matches(&a.id.id, &i.id)),
                _ => ids.contains(&a.id),
            }
    })
}

#[doc(hidden)]
impl From<&Acl> for pb::Acl {
    fn from(a: &Acl) -> pb::Acl {
        let mut p = pb::Acl::new();
        p.perms = a.perms.bits();
        p.scheme = a.id.scheme.clone();
        p.id = a.id.id.clone();
        p
    }
}

#[doc(hidden)]
impl From<&pb::Acl> for Acl {
    fn from(p: &pb::Acl) -> Acl {
        Acl::new(
            Perms::from_bits(p.perms),
            Id::new(p.scheme.clone(), p.id.clone()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_zookeepers() {
        // ZooKeeper: DigestAuthenticationProvider.generateDigest("super:test")
        assert_eq!(
            digest("super", "test"),
            "super:D/InIHSb7yEEbrWz8b9l71RjZJU="
        );
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
    }

    #[test]
    fn text_form_round_trips() {
        let acl = parse_acl("world:anyone:r, digest:alice:abc=:cdrwa,ip:10.0.0.0/8:rw").unwrap();
        assert_eq!(acl.len(), 3);
        assert_eq!(acl[0], Acl::new(Perms::READ, Id::anyone()));
        assert_eq!(acl[1].id, Id::new("digest", "alice:abc="));
        assert_eq!(acl[1].perms, Perms::ALL);
        assert_eq!(acl[2].perms, Perms::READ | Perms::WRITE);
        assert_eq!(
            format_acl(&acl),
            "world:anyone:r,digest:alice:abc=:cdrwa,ip:10.0.0.0/8:rw"
        );
        assert_eq!(parse_acl(&format_acl(&acl)).unwrap(), acl);
        let x509 = parse_acl("x509:CN=billing,O=Example:r");
        // A comma inside a subject splits entries: subjects with commas need the API.
        assert!(x509.is_err());
        assert!(parse_acl("x509:CN=billing:r").is_ok());
    }

    #[test]
    fn bad_acls_are_refused() {
        for bad in [
            "",
            "world:everyone:r",
            "digest:alice:r",
            "ip:10.0.0.300:r",
            "ip:10.0.0.0/33:r",
            "auth:bob:r",
            "kerberos:x:r",
            "world:anyone:q",
            "world:anyone:",
            "world:anyone",
        ] {
            assert!(parse_acl(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(validate(&[]).is_err());
    }

    #[test]
    fn who_is_allowed() {
        let alice = Id::digest("alice", "secret");
        let acl = vec![
            Acl::new(Perms::READ, Id::anyone()),
            Acl::new(Perms::ALL, alice.clone()),
            Acl::new(Perms::WRITE, Id::new("ip", "10.1.0.0/16")),
        ];
        let nobody: Vec<Id> = vec![];
        assert!(allows(&acl, Perms::READ, &nobody));
        assert!(!allows(&acl, Perms::WRITE, &nobody));
        assert!(allows(&acl, Perms::DELETE, &[alice]));
        assert!(!allows(
            &acl,
            Perms::DELETE,
            &[Id::digest("alice", "wrong")]
        ));
        assert!(allows(&acl, Perms::WRITE, &[Id::new("ip", "10.1.2.3")]));
        assert!(!allows(&acl, Perms::WRITE, &[Id::new("ip", "10.2.2.3")]));
        assert!(!allows(&acl, Perms::ADMIN, &[Id::new("ip", "10.1.2.3")]));
        // READ or ADMIN (getACL) is one check.
        assert!(allows(&acl, Perms::READ | Perms::ADMIN, &nobody));
    }

    #[test]
    fn networks_match_by_prefix() {
        assert!(ip_matches("127.0.0.1", "127.0.0.1"));
        assert!(!ip_matches("127.0.0.1", "127.0.0.2"));
        assert!(ip_matches("127.0.0.0/8", "127.44.1.2"));
        assert!(ip_matches("0.0.0.0/0", "10.0.0.1"));
        assert!(ip_matches("::1", "::1"));
        assert!(ip_matches("fd00::/8", "fd12::1"));
        assert!(!ip_matches("fd00::/8", "10.0.0.1"));
        assert!(!ip_matches("not-an-ip", "10.0.0.1"));
    }
}
