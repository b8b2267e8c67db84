//! Little-endian byte encoding shared by snapshots and digests.
//!
//! Fixed-width integers are little-endian; byte strings are a u64 length then the bytes.
//! The [`Reader`] checks every length against what is left, so truncated or corrupt input
//! becomes a [`SnapshotError`], never a panic or a huge allocation.
use std::collections::VecDeque;

use paddock::proto::paddock::ErrorCode;
use paddock::{Code, OpResult, Stat};
use protobuf::ProtobufEnum;

use super::session::LastWrite;
use super::snapshot::SnapshotError;
use super::txn::{Output, TxnError, TxnResult};

/// Appends encoded values to a buffer.
#[derive(Default)]
pub(crate) struct Writer {
    pub(crate) buf: Vec<u8>,
}

impl Writer {
    pub(crate) fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    pub(crate) fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn bytes(&mut self, v: &[u8]) {
        self.u64(v.len() as u64);
        self.buf.extend_from_slice(v);
    }
    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }
}

/// Reads encoded values from a slice, bounds-checked.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }
    /// Bytes not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], SnapshotError> {
        if n > self.remaining() {
            return Err(SnapshotError::Truncated);
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], SnapshotError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    pub(crate) fn u8(&mut self) -> Result<u8, SnapshotError> {
        Ok(self.array::<1>()?[0])
    }
    pub(crate) fn u32(&mut self) -> Result<u32, SnapshotError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    pub(crate) fn u64(&mut self) -> Result<u64, SnapshotError> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    pub(crate) fn i32(&mut self) -> Result<i32, SnapshotError> {
        Ok(i32::from_le_bytes(self.array()?))
    }
    pub(crate) fn i64(&mut self) -> Result<i64, SnapshotError> {
        Ok(i64::from_le_bytes(self.array()?))
    }
    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], SnapshotError> {
        let len = self.u64()?;
        let len = usize::try_from(len).map_err(|_| SnapshotError::Truncated)?;
        self.take(len)
    }
    pub(crate) fn string(&mut self) -> Result<String, SnapshotError> {
        let b = self.bytes()?;
        String::from_utf8(b.to_vec())
            .map_err(|_| SnapshotError::Corrupt("string is not UTF-8".into()))
    }
    pub(crate) fn bool(&mut self) -> Result<bool, SnapshotError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(SnapshotError::Corrupt(format!("bad flag byte {b}"))),
        }
    }
    /// A count of items that each take at least `min_item` bytes; rejects counts the
    /// remaining input cannot hold, so callers may preallocate.
    pub(crate) fn count(&mut self, min_item: usize) -> Result<usize, SnapshotError> {
        let n = self.u64()?;
        let n = usize::try_from(n).map_err(|_| SnapshotError::Truncated)?;
        if n.saturating_mul(min_item.max(1)) > self.remaining() {
            return Err(SnapshotError::Truncated);
        }
        Ok(n)
    }
}

pub(crate) fn put_stat(w: &mut Writer, s: &Stat) {
    w.i64(s.czxid as i64);
    w.i64(s.mzxid as i64);
    w.i64(s.pzxid as i64);
    w.i64(s.ctime);
    w.i64(s.mtime);
    w.i32(s.version);
    w.i32(s.cversion);
    w.i32(s.aversion);
    w.i64(s.ephemeral_owner as i64);
    w.i32(s.data_length);
    w.i32(s.num_children);
}

/// Encoded size of a [`Stat`].
pub(crate) const STAT_LEN: usize = 6 * 8 + 5 * 4;

pub(crate) fn get_stat(r: &mut Reader<'_>) -> Result<Stat, SnapshotError> {
    Ok(Stat {
        czxid: r.i64()? as u64,
        mzxid: r.i64()? as u64,
        pzxid: r.i64()? as u64,
        ctime: r.i64()?,
        mtime: r.i64()?,
        version: r.i32()?,
        cversion: r.i32()?,
        aversion: r.i32()?,
        ephemeral_owner: r.i64()? as u64,
        data_length: r.i32()?,
        num_children: r.i32()?,
    })
}

fn put_code(w: &mut Writer, c: Option<Code>) {
    w.i32(c.map_or(ErrorCode::OK, Code::to_proto).value());
}

fn get_code(r: &mut Reader<'_>) -> Result<Option<Code>, SnapshotError> {
    let v = r.i32()?;
    let pb = ErrorCode::from_i32(v)
        .ok_or_else(|| SnapshotError::Corrupt(format!("unknown error code {v}")))?;
    Ok(Code::from_proto(pb))
}

fn get_some_code(r: &mut Reader<'_>) -> Result<Code, SnapshotError> {
    get_code(r)?.ok_or_else(|| SnapshotError::Corrupt("error code OK in an error".into()))
}

fn put_op_result(w: &mut Writer, o: &OpResult) {
    match o {
        OpResult::Create { path, stat } => {
            w.u8(0);
            w.bytes(path.as_bytes());
            put_stat(w, stat);
        }
        OpResult::Delete => w.u8(1),
        OpResult::SetData { stat } => {
            w.u8(2);
            put_stat(w, stat);
        }
        OpResult::Check => w.u8(3),
    }
}

fn get_op_result(r: &mut Reader<'_>) -> Result<OpResult, SnapshotError> {
    Ok(match r.u8()? {
        0 => OpResult::Create {
            path: r.string()?,
            stat: get_stat(r)?,
        },
        1 => OpResult::Delete,
        2 => OpResult::SetData { stat: get_stat(r)? },
        3 => OpResult::Check,
        t => return Err(SnapshotError::Corrupt(format!("unknown op result tag {t}"))),
    })
}

/// Encodes a transaction result (used for the per-session last write).
pub(crate) fn put_result(w: &mut Writer, res: &TxnResult) {
    match res {
        Ok(out) => {
            w.u8(0);
            match out {
                Output::Created { path, stat } => {
                    w.u8(0);
                    w.bytes(path.as_bytes());
                    put_stat(w, stat);
                }
                Output::Deleted => w.u8(1),
                Output::DataSet { stat } => {
                    w.u8(2);
                    put_stat(w, stat);
                }
                Output::Checked => w.u8(3),
                Output::Multi(results) => {
                    w.u8(4);
                    w.u64(results.len() as u64);
                    for o in results {
                        put_op_result(w, o);
                    }
                }
                Output::SessionCreated => w.u8(5),
                Output::SessionClosed => w.u8(6),
                Output::AclSet { stat } => {
                    w.u8(7);
                    put_stat(w, stat);
                }
                Output::MemberRecorded => w.u8(8),
            }
        }
        Err(e) => {
            w.u8(1);
            put_code(w, Some(e.code));
            w.bytes(e.message.as_bytes());
            match &e.multi {
                None => w.u8(0),
                Some(codes) => {
                    w.u8(1);
                    w.u64(codes.len() as u64);
                    for c in codes {
                        put_code(w, *c);
                    }
                }
            }
        }
    }
}

/// Decodes what [`put_result`] wrote.
pub(crate) fn get_result(r: &mut Reader<'_>) -> Result<TxnResult, SnapshotError> {
    match r.u8()? {
        0 => Ok(Ok(match r.u8()? {
            0 => Output::Created {
                path: r.string()?,
                stat: get_stat(r)?,
            },
            1 => Output::Deleted,
            2 => Output::DataSet { stat: get_stat(r)? },
            3 => Output::Checked,
            4 => {
                let n = r.count(1)?;
                let mut results = Vec::with_capacity(n);
                for _ in 0..n {
                    results.push(get_op_result(r)?);
                }
                Output::Multi(results)
            }
            5 => Output::SessionCreated,
            6 => Output::SessionClosed,
            7 => Output::AclSet { stat: get_stat(r)? },
            8 => Output::MemberRecorded,
            t => return Err(SnapshotError::Corrupt(format!("unknown output tag {t}"))),
        })),
        1 => {
            let code = get_some_code(r)?;
            let message = r.string()?;
            let multi = if r.bool()? {
                let n = r.count(4)?;
                let mut codes = Vec::with_capacity(n);
                for _ in 0..n {
                    codes.push(get_code(r)?);
                }
                Some(codes)
            } else {
                None
            };
            Ok(Err(TxnError {
                code,
                message,
                multi,
            }))
        }
        t => Err(SnapshotError::Corrupt(format!("unknown result tag {t}"))),
    }
}

/// Encodes a session's remembered writes: flag 0 (none), 1 (one: xid, result) or 2 (u32
/// count, then count x (xid, result)). A session with at most one is encoded exactly as
/// format version 1 encoded its single last write.
pub(crate) fn put_writes(w: &mut Writer, writes: &VecDeque<LastWrite>) {
    match writes.len() {
        0 => w.u8(0),
        1 => w.u8(1),
        n => {
            w.u8(2);
            w.u32(n as u32);
        }
    }
    for l in writes {
        w.i64(l.xid);
        put_result(w, &l.result);
    }
}

/// Decodes what [`put_writes`] wrote; xids must ascend and there are at most `max`.
pub(crate) fn get_writes(
    r: &mut Reader<'_>,
    max: usize,
) -> Result<VecDeque<LastWrite>, SnapshotError> {
    let n = match r.u8()? {
        0 => 0,
        1 => 1,
        2 => r.u32()? as usize,
        t => return Err(SnapshotError::Corrupt(format!("unknown writes flag {t}"))),
    };
    if n > max {
        return Err(SnapshotError::Corrupt(format!(
            "{n} remembered writes, more than the {max} a session keeps"
        )));
    }
    let mut writes = VecDeque::with_capacity(n);
    for _ in 0..n {
        let xid = r.i64()?;
        let result = get_result(r)?;
        if writes.back().is_some_and(|l: &LastWrite| l.xid >= xid) {
            return Err(SnapshotError::Corrupt(format!(
                "remembered write xids not ascending at {xid}"
            )));
        }
        writes.push_back(LastWrite { xid, result });
    }
    Ok(writes)
}
