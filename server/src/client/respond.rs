//! Building wire responses from the tree's results and from errors.
use paddock::proto::paddock as pb;
use paddock::{Code, OpResult, Stat};

use crate::tree::{Output, TxnError, TxnResult};

/// A response with only an xid, zxid and error.
pub fn error(xid: i64, zxid: u64, code: Code, message: impl Into<String>) -> pb::Response {
    let mut r = pb::Response::new();
    r.xid = xid;
    r.zxid = zxid;
    r.err = code.to_proto();
    r.message = message.into();
    r
}

/// An OK response with the given result.
pub fn ok(xid: i64, zxid: u64, result: pb::Response_oneof_result) -> pb::Response {
    let mut r = pb::Response::new();
    r.xid = xid;
    r.zxid = zxid;
    r.result = Some(result);
    r
}

/// The wire form of a stat.
pub fn stat(s: &Stat) -> pb::Stat {
    pb::Stat::from(s)
}

fn create_response(path: &str, s: &Stat) -> pb::CreateResponse {
    let mut c = pb::CreateResponse::new();
    c.path = path.to_string();
    c.set_stat(stat(s));
    c
}

fn set_response(s: &Stat) -> pb::SetDataResponse {
    let mut r = pb::SetDataResponse::new();
    r.set_stat(stat(s));
    r
}

/// The response to a write, from the tree's result at `zxid`.
pub fn write_result(xid: i64, zxid: u64, result: TxnResult) -> pb::Response {
    use pb::Response_oneof_result as R;
    match result {
        Ok(Output::Created { path, stat }) => {
            ok(xid, zxid, R::create(create_response(&path, &stat)))
        }
        Ok(Output::Deleted) => ok(xid, zxid, R::delete(pb::DeleteResponse::new())),
        Ok(Output::DataSet { stat }) => ok(xid, zxid, R::set_data(set_response(&stat))),
        Ok(Output::Checked) => ok(xid, zxid, R::check(pb::CheckVersionResponse::new())),
        Ok(Output::Multi(results)) => {
            let mut m = pb::MultiResponse::new();
            for r in results {
                m.results.push(multi_result(&r));
            }
            ok(xid, zxid, R::multi(m))
        }
        Ok(Output::AclSet { stat: s }) => {
            let mut r = pb::SetAclResponse::new();
            r.set_stat(stat(&s));
            ok(xid, zxid, R::set_acl(r))
        }
        Ok(Output::SessionCreated) => ok(xid, zxid, R::ping(pb::PingResponse::new())),
        Ok(Output::SessionClosed) => {
            ok(xid, zxid, R::close_session(pb::CloseSessionResponse::new()))
        }
        // Only the ensemble itself records members (session 0): no client waits for it.
        Ok(Output::MemberRecorded) => ok(xid, zxid, R::ping(pb::PingResponse::new())),
        Err(e) => txn_error(xid, zxid, e),
    }
}

fn multi_result(r: &OpResult) -> pb::MultiResult {
    use pb::MultiResult_oneof_result as M;
    let mut out = pb::MultiResult::new();
    out.result = Some(match r {
        OpResult::Create { path, stat } => M::create(create_response(path, stat)),
        OpResult::Delete => M::delete(pb::DeleteResponse::new()),
        OpResult::SetData { stat } => M::set_data(set_response(stat)),
        OpResult::Check => M::check(pb::CheckVersionResponse::new()),
    });
    out
}

/// The response for a failed transaction; a failed multi lists every op's code.
pub fn txn_error(xid: i64, zxid: u64, e: TxnError) -> pb::Response {
    let mut r = error(xid, zxid, e.code, e.message);
    if let Some(codes) = e.multi {
        let mut m = pb::MultiResponse::new();
        for c in codes {
            let mut mr = pb::MultiResult::new();
            mr.err = c.map(Code::to_proto).unwrap_or(pb::ErrorCode::OK);
            m.results.push(mr);
        }
        r.result = Some(pb::Response_oneof_result::multi(m));
    }
    r
}
