//! Conversion between the replicated entry format (`paddock.replication.Txn`, what the
//! Raft log stores) and the tree's plain transaction type.
//!
//! Decoding is deterministic: every replica turns the same bytes into the same
//! [`Txn`] (or the same error), so the tree stays identical everywhere.
use paddock::proto::paddock as pb;
use paddock::proto::replication as rpb;

use paddock::Code;

use crate::tree::{Txn, TxnOp, Who};
use paddock::acl::{Acl, Id};

/// Why an entry's payload could not be turned into a transaction.
#[derive(Debug, thiserror::Error)]
pub enum TxnDecodeError {
    /// The payload is not a valid `Txn` message.
    #[error("undecodable transaction: {0}")]
    Malformed(String),
    /// The message carries no operation (or an operation not allowed where it is).
    #[error("transaction without a valid operation")]
    NoOp,
}

/// Decodes an entry's payload into the replication message.
pub fn decode(bytes: &[u8]) -> Result<rpb::Txn, TxnDecodeError> {
    paddock::codec::decode::<rpb::Txn>(bytes).map_err(|e| TxnDecodeError::Malformed(e.to_string()))
}

/// Converts a replication message into the tree's transaction, moving the operation
/// (paths and values) out of it rather than copying it; the message keeps its other
/// fields (session, xid, origin, proposal id).
pub fn to_tree(txn: &mut rpb::Txn) -> Result<Txn, TxnDecodeError> {
    use rpb::Txn_oneof_op as O;
    let op = match txn.op.take().ok_or(TxnDecodeError::NoOp)? {
        O::create(c) => create_op(c),
        O::delete(d) => delete_op(d),
        O::set_data(s) => set_op(s),
        O::multi(m) => TxnOp::Multi(
            m.ops
                .into_iter()
                .map(multi_op)
                .collect::<Result<Vec<_>, _>>()?,
        ),
        O::create_session(s) => TxnOp::CreateSession {
            session_id: s.session_id,
            password: s.password,
            timeout_ms: s.timeout_ms,
        },
        O::close_session(s) => TxnOp::CloseSession {
            session_id: s.session_id,
        },
        O::reap(r) => TxnOp::Reap {
            path: r.path,
            czxid: r.czxid as u64,
            mzxid: r.mzxid as u64,
        },
        O::refused(r) => TxnOp::Refused {
            // An unknown or OK code still refuses the write: it never applies.
            code: Code::from_proto(r.code).unwrap_or(Code::SystemError),
            message: r.message,
        },
        O::set_acl(s) => TxnOp::SetAcl {
            path: s.path,
            acl: s.acl.iter().map(Acl::from).collect(),
            version: s.version,
        },
        O::record_member(m) => TxnOp::RecordMember {
            id: m.id,
            addrs: crate::tree::MemberAddrs {
                peer: m.peer_addr,
                client: m.client_addr,
            },
        },
    };
    Ok(Txn {
        session_id: txn.session_id,
        xid: txn.xid,
        prev_xid: txn.prev_xid,
        oldest_pending_xid: txn.oldest_pending_xid,
        time_ms: txn.time_ms,
        who: Who {
            identities: txn
                .identities
                .iter()
                .map(|i| Id::new(i.scheme.clone(), i.id.clone()))
                .collect(),
            superuser: txn.superuser,
        },
        op,
    })
}

/// The replication form of a sender's identities.
pub fn identities(ids: &[Id]) -> protobuf::RepeatedField<rpb::Identity> {
    ids.iter()
        .map(|i| {
            let mut p = rpb::Identity::new();
            p.scheme = i.scheme.clone();
            p.id = i.id.clone();
            p
        })
        .collect()
}

fn create_op(c: pb::CreateRequest) -> TxnOp {
    TxnOp::Create {
        mode: c.mode.into(),
        ttl_ms: c.ttl_ms,
        acl: c.acl.iter().map(Acl::from).collect(),
        path: c.path,
        data: c.data,
    }
}

fn delete_op(d: pb::DeleteRequest) -> TxnOp {
    TxnOp::Delete {
        path: d.path,
        version: d.version,
    }
}

fn set_op(s: pb::SetDataRequest) -> TxnOp {
    TxnOp::SetData {
        path: s.path,
        data: s.data,
        version: s.version,
    }
}

fn multi_op(op: pb::MultiOp) -> Result<TxnOp, TxnDecodeError> {
    use pb::MultiOp_oneof_op as M;
    Ok(match op.op.ok_or(TxnDecodeError::NoOp)? {
        M::create(c) => create_op(c),
        M::delete(d) => delete_op(d),
        M::set_data(s) => set_op(s),
        M::check(c) => TxnOp::Check {
            path: c.path,
            version: c.version,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_multi() {
        let mut t = rpb::Txn::new();
        t.session_id = 7;
        t.xid = 3;
        t.time_ms = 99;
        let mut m = pb::MultiRequest::new();
        let mut op = pb::MultiOp::new();
        let mut c = pb::CheckVersionRequest::new();
        c.path = "/a".into();
        c.version = 2;
        op.set_check(c);
        m.ops.push(op);
        t.set_multi(m);
        let bytes = paddock::codec::encode(&t);
        let back = to_tree(&mut decode(&bytes).expect("decode")).expect("convert");
        assert_eq!(back.session_id, 7);
        assert!(
            matches!(back.op, TxnOp::Multi(ref ops) if matches!(ops[0], TxnOp::Check { version: 2, .. }))
        );
        assert!(decode(&[0xff, 0xff, 0xff]).is_err());
        assert!(to_tree(&mut rpb::Txn::new()).is_err());
    }
}
