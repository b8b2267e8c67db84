//! Checks on client requests before anything is proposed: a request that breaks a
//! rule gets a clear error and never reaches the Raft log.
use paddock::proto::paddock as pb;
use paddock::{path, Code};

/// Limits a request must respect.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest znode value.
    pub max_data_bytes: usize,
    /// Most operations in one multi.
    pub max_multi_ops: usize,
}

/// A rejected request: the code and a message naming what is wrong.
pub type Rejection = (Code, String);

fn check_path(p: &str, sequential: bool) -> Result<(), Rejection> {
    let r = if sequential {
        path::validate_sequential(p)
    } else {
        path::validate(p)
    };
    r.map_err(|e| (Code::BadArguments, e))
}

fn check_data(data: &[u8], limits: &Limits) -> Result<(), Rejection> {
    if data.len() > limits.max_data_bytes {
        return Err((
            Code::TooLarge,
            format!(
                "value of {} bytes exceeds the limit of {} bytes",
                data.len(),
                limits.max_data_bytes
            ),
        ));
    }
    Ok(())
}

/// Checks a create.
pub fn create(c: &pb::CreateRequest, limits: &Limits) -> Result<(), Rejection> {
    let mode: paddock::CreateMode = c.mode.into();
    check_path(&c.path, mode.is_sequential())?;
    if c.path == "/" {
        return Err((Code::NodeExists, "/".into()));
    }
    check_data(&c.data, limits)?;
    if mode.is_ttl() && c.ttl_ms <= 0 {
        return Err((Code::BadArguments, "a TTL node needs ttl_ms > 0".into()));
    }
    if !mode.is_ttl() && c.ttl_ms != 0 {
        return Err((
            Code::BadArguments,
            "ttl_ms is only valid for TTL modes".into(),
        ));
    }
    Ok(())
}

/// Checks a set.
pub fn set_data(s: &pb::SetDataRequest, limits: &Limits) -> Result<(), Rejection> {
    check_path(&s.path, false)?;
    check_data(&s.data, limits)
}

/// Checks a plain path argument (delete, reads, sync).
pub fn plain(p: &str) -> Result<(), Rejection> {
    check_path(p, false)
}

/// Checks a multi: op count, every op, and the total size of the values.
pub fn multi(m: &pb::MultiRequest, limits: &Limits) -> Result<(), Rejection> {
    use pb::MultiOp_oneof_op as O;
    if m.ops.len() > limits.max_multi_ops {
        return Err((
            Code::TooLarge,
            format!(
                "multi of {} operations exceeds the limit of {}",
                m.ops.len(),
                limits.max_multi_ops
            ),
        ));
    }
    for (i, op) in m.ops.iter().enumerate() {
        let r = match &op.op {
            Some(O::create(c)) => create(c, limits),
            Some(O::delete(d)) => plain(&d.path),
            Some(O::set_data(s)) => set_data(s, limits),
            Some(O::check(c)) => plain(&c.path),
            None => Err((Code::BadArguments, "empty operation".into())),
        };
        r.map_err(|(code, msg)| (code, format!("operation {i}: {msg}")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_data_bytes: 10,
        max_multi_ops: 2,
    };

    #[test]
    fn rejects_bad_requests() {
        let mut c = pb::CreateRequest::new();
        c.path = "/a//b".into();
        assert_eq!(create(&c, &LIMITS).unwrap_err().0, Code::BadArguments);
        c.path = "/a".into();
        c.data = vec![0; 11];
        assert_eq!(create(&c, &LIMITS).unwrap_err().0, Code::TooLarge);
        c.data = vec![];
        c.ttl_ms = 5;
        assert_eq!(create(&c, &LIMITS).unwrap_err().0, Code::BadArguments);
        c.ttl_ms = 0;
        assert!(create(&c, &LIMITS).is_ok());
        let mut m = pb::MultiRequest::new();
        for _ in 0..3 {
            m.ops.push(pb::MultiOp::new());
        }
        assert_eq!(multi(&m, &LIMITS).unwrap_err().0, Code::TooLarge);
        m.ops.pop();
        let err = multi(&m, &LIMITS).unwrap_err();
        assert!(err.1.starts_with("operation 0"), "{err:?}");
    }
}
