//! Administrative calls: [`Client::save_snapshot`] fetches the ensemble's whole tree,
//! as one snapshot consistent at one zxid, from the connected member;
//! [`Client::transfer_leader`] moves leadership.
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::{unexpected, Client};
use crate::error::{Error, Result};
use crate::proto::paddock as pb;
use crate::types::Zxid;

/// What [`Client::save_snapshot`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// The zxid the snapshot reflects: every change up to it, none after.
    pub zxid: Zxid,
    /// Its size in bytes.
    pub bytes: u64,
}

impl Client {
    /// Writes a snapshot of the whole tree to `out`: consistent at one zxid, holding
    /// everything committed before the call (the member first confirms with the
    /// leader), in the checksummed format `paddockd restore --snapshot` seeds a new
    /// ensemble from. It comes in chunks of at most 1 MiB; the member holds the whole
    /// snapshot in memory while it is fetched. When the ensemble has a superuser, only
    /// the superuser may take one (`NoAuth`). A connection lost on the way fails the
    /// call (`ConnectionLoss`; what was written to `out` is incomplete: start again).
    pub async fn save_snapshot<W: AsyncWrite + Unpin>(&self, out: &mut W) -> Result<SnapshotInfo> {
        let (mut stream_id, mut offset) = (0u64, 0u64);
        loop {
            let mut req = pb::SnapshotRequest::new();
            req.stream_id = stream_id;
            req.offset = offset;
            let resp = self
                .call(pb::Request_oneof_op::snapshot(req), false)
                .await?;
            let Some(pb::Response_oneof_result::snapshot(s)) = resp.result else {
                return Err(unexpected("snapshot"));
            };
            if stream_id == 0 {
                stream_id = s.stream_id;
            } else if s.stream_id != stream_id {
                return Err(Error::Protocol("the snapshot stream changed midway".into()));
            }
            out.write_all(&s.chunk)
                .await
                .map_err(|e| Error::BadArguments(format!("writing the snapshot: {e}")))?;
            offset += s.chunk.len() as u64;
            if offset >= s.total_bytes {
                out.flush()
                    .await
                    .map_err(|e| Error::BadArguments(format!("writing the snapshot: {e}")))?;
                return Ok(SnapshotInfo {
                    zxid: s.zxid,
                    bytes: s.total_bytes,
                });
            }
            if s.chunk.is_empty() {
                return Err(Error::Protocol(format!(
                    "the snapshot ended at {offset} of {} bytes",
                    s.total_bytes
                )));
            }
        }
    }
}

impl Client {
    /// Asks the ensemble to move leadership to voter `to` (before a planned restart of
    /// the leader, say) and waits until the connected member sees `to` lead.
    /// `OperationTimeout` when it did not within three election timeouts (`to` down or
    /// far behind); `BadArguments` for a member that is not a voter; `NoAuth`
    /// unless the superuser when the ensemble has one.
    pub async fn transfer_leader(&self, to: u64) -> Result<()> {
        let mut t = pb::TransferLeaderRequest::new();
        t.to = to;
        self.call(pb::Request_oneof_op::transfer_leader(t), false)
            .await
            .map(drop)
    }
}
