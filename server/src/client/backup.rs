//! Online backups over the client protocol (`SnapshotRequest`): the whole tree as one
//! snapshot, consistent at one zxid, fetched in chunks of at most [`CHUNK`] bytes.
//!
//! The first request of a stream waits for a ReadIndex round (so the snapshot holds
//! everything committed before the request), then serialises the tree under its read
//! lock (apply waits meanwhile: a cost proportional to the tree's size) and keeps the
//! bytes for the connection. Later requests take slices of them; a new stream replaces
//! the old one, and the bytes go when the connection ends. The bytes are exactly what
//! `paddockd restore --snapshot` reads: `DataTree::snapshot`'s checksummed format.
//!
//! When the member has a superuser (`--super-digest`), only the superuser may take a
//! snapshot: it holds every node whatever its ACL.
use std::sync::Arc;

use paddock::proto::paddock as pb;
use paddock::Code;
use parking_lot::Mutex;

use super::dispatch::Reply;
use super::{respond, ClientContext};
use crate::tree::Who;

/// Largest chunk in one response.
pub const CHUNK: usize = 1 << 20;

/// A snapshot being fetched on one connection.
struct Stream {
    id: u64,
    zxid: u64,
    bytes: Arc<Vec<u8>>,
}

/// The connection's current backup stream (at most one).
#[derive(Default, Clone)]
pub struct Backups {
    current: Arc<Mutex<Option<Stream>>>,
}

impl Backups {
    /// Answers one `SnapshotRequest` from a connection with identities `who`.
    pub fn serve(
        &self,
        ctx: &Arc<ClientContext>,
        who: &Who,
        xid: i64,
        req: pb::SnapshotRequest,
    ) -> Reply {
        let ctx = ctx.clone();
        let current = self.current.clone();
        if ctx.config.super_digest.is_some() && !who.superuser {
            let zxid = ctx.raft.applied();
            return Box::pin(std::future::ready(respond::error(
                xid,
                zxid,
                Code::NoAuth,
                "a snapshot holds every node: only the superuser may take one",
            )));
        }
        Box::pin(async move {
            if req.stream_id == 0 {
                if req.offset != 0 {
                    return respond::error(
                        xid,
                        ctx.raft.applied(),
                        Code::BadArguments,
                        "a new snapshot stream starts at offset 0",
                    );
                }
                if let Err(e) = ctx.raft.read_barrier().await {
                    return respond::error(xid, ctx.raft.applied(), Code::NotReady, e.to_string());
                }
                let raft = ctx.raft.clone();
                let taken = tokio::task::spawn_blocking(move || {
                    let tree = raft.tree();
                    (tree.applied_zxid(), tree.snapshot())
                })
                .await;
                let Ok((zxid, bytes)) = taken else {
                    return respond::error(
                        xid,
                        ctx.raft.applied(),
                        Code::SystemError,
                        "taking the snapshot failed",
                    );
                };
                let id = rand::random::<u64>() | 1;
                *current.lock() = Some(Stream {
                    id,
                    zxid,
                    bytes: Arc::new(bytes),
                });
                return chunk(&current, xid, id, 0);
            }
            chunk(&current, xid, req.stream_id, req.offset)
        })
    }
}

/// The response with the bytes of stream `id` from `offset`.
fn chunk(current: &Mutex<Option<Stream>>, xid: i64, id: u64, offset: u64) -> pb::Response {
    let guard = current.lock();
    let Some(s) = guard.as_ref().filter(|s| s.id == id) else {
        return respond::error(
            xid,
            0,
            Code::BadArguments,
            format!("no snapshot stream {id:#x} on this connection (start again at stream 0)"),
        );
    };
    let total = s.bytes.len() as u64;
    if offset > total {
        return respond::error(
            xid,
            s.zxid,
            Code::BadArguments,
            format!("offset {offset} is past the snapshot's {total} bytes"),
        );
    }
    let start = offset as usize;
    let end = (start + CHUNK).min(s.bytes.len());
    let mut r = pb::SnapshotResponse::new();
    r.stream_id = s.id;
    r.total_bytes = total;
    r.zxid = s.zxid;
    r.chunk = s.bytes[start..end].to_vec();
    respond::ok(xid, s.zxid, pb::Response_oneof_result::snapshot(r))
}
