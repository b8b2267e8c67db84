//! Framing and message encoding shared by the client and the server.
//!
//! A frame is a 4-byte big-endian length followed by one protobuf message. Both ends
//! enforce a maximum frame length: a peer that announces a larger frame gets an error
//! and its connection is closed before the frame is read into memory. A frame's buffer
//! grows with the bytes that actually arrive, never to the announced length up front, so
//! a peer that announces a large frame and stalls costs what it sent.
#![cfg_attr(not(feature = "internal"), allow(dead_code))]
use bytes::{Buf, BufMut, Bytes, BytesMut};
use protobuf::Message;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::{Decoder, Encoder, Framed};

/// Version of the client protocol spoken by this crate, sent in the handshake.
pub const PROTOCOL_VERSION: u32 = 1;

/// Default maximum frame length on client connections (4 MiB): room for a 1 MiB value
/// and a multi of several, small enough that a flood of frames cannot exhaust memory.
pub const DEFAULT_MAX_FRAME: usize = 4 * 1024 * 1024;

/// Errors decoding or framing protocol messages.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The bytes are not a valid protobuf message of the expected type.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// A frame was well-formed protobuf but did not have the expected shape.
    #[error("unexpected message: {0}")]
    Unexpected(&'static str),
}

/// Wraps a byte stream in the length-delimited framing with the given frame limit.
pub fn framed<S: AsyncRead + AsyncWrite>(stream: S, max_frame: usize) -> Framed<S, FrameCodec> {
    Framed::new(stream, codec(max_frame))
}

/// The length-delimited codec with the given maximum frame length.
pub fn codec(max_frame: usize) -> FrameCodec {
    FrameCodec { max_frame }
}

/// Most the read buffer grows by, beyond what has arrived, while a frame is incomplete.
pub const RESERVE_STEP: usize = 64 * 1024;

/// Length-delimited frames: a 4-byte big-endian body length, then the body, at most
/// `max_frame` bytes. Decoding refuses a larger announced length at once (an
/// `InvalidData` error) and, while a frame is incomplete, reserves at most
/// [`RESERVE_STEP`] bytes beyond what is buffered.
#[derive(Debug, Clone, Copy)]
pub struct FrameCodec {
    max_frame: usize,
}

impl FrameCodec {
    /// Changes the largest frame accepted from now on (e.g. once a handshake is done).
    pub fn set_max_frame(&mut self, max_frame: usize) {
        self.max_frame = max_frame;
    }
}

fn too_large(len: usize, max: usize) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("frame of {len} bytes exceeds the limit of {max} bytes"),
    )
}

impl Decoder for FrameCodec {
    type Item = BytesMut;
    type Error = std::io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, std::io::Error> {
        let Some(head) = src.get(..4) else {
            return Ok(None);
        };
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        if len > self.max_frame {
            return Err(too_large(len, self.max_frame));
        }
        let missing = (4 + len).saturating_sub(src.len());
        if missing > 0 {
            src.reserve(missing.min(RESERVE_STEP));
            return Ok(None);
        }
        src.advance(4);
        Ok(Some(src.split_to(len)))
    }
}

impl Encoder<Bytes> for FrameCodec {
    type Error = std::io::Error;

    fn encode(&mut self, body: Bytes, dst: &mut BytesMut) -> Result<(), std::io::Error> {
        if body.len() > self.max_frame {
            return Err(too_large(body.len(), self.max_frame));
        }
        dst.reserve(4 + body.len());
        dst.put_u32(body.len() as u32);
        dst.extend_from_slice(&body);
        Ok(())
    }
}

/// Encodes a message into a frame body.
pub fn encode<M: Message>(msg: &M) -> Bytes {
    Bytes::from(encode_vec(msg))
}

/// Encodes a message into a plain vector (for APIs that take `Vec<u8>`, such as a
/// Raft proposal), without the copy a [`Bytes`] would need.
pub fn encode_vec<M: Message>(msg: &M) -> Vec<u8> {
    let mut out = Vec::with_capacity(msg.compute_size() as usize);
    // Writing into a Vec cannot fail for a message whose required fields are set
    // (proto3 has none), so the error branch is unreachable in practice.
    msg.write_to_vec(&mut out)
        .expect("protobuf encoding into a Vec does not fail");
    out
}

/// Decodes a frame body into a message.
pub fn decode<M: Message>(buf: &[u8]) -> Result<M, CodecError> {
    M::parse_from_bytes(buf).map_err(|e| CodecError::Malformed(e.to_string()))
}

/// Decodes a frame body (as read from the codec) into a message.
pub fn decode_frame<M: Message>(buf: &BytesMut) -> Result<M, CodecError> {
    decode(&buf[..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::paddock as pb;
    use crate::types::{op_from_proto, op_to_proto, CreateMode, Op};
    use quickcheck::quickcheck;

    fn request(xid: i64, path: String, data: Vec<u8>, version: i32) -> pb::ClientFrame {
        let mut s = pb::SetDataRequest::new();
        s.path = path;
        s.data = data;
        s.version = version;
        let mut r = pb::Request::new();
        r.xid = xid;
        r.set_set_data(s);
        let mut f = pb::ClientFrame::new();
        f.set_request(r);
        f
    }

    quickcheck! {
        /// Any request survives encode -> frame -> decode unchanged.
        fn request_round_trip(xid: i64, path: String, data: Vec<u8>, version: i32) -> bool {
            let f = request(xid, path, data, version);
            let mut codec = codec(DEFAULT_MAX_FRAME);
            let mut buf = BytesMut::new();
            let body = encode(&f);
            buf.put_u32(body.len() as u32);
            buf.put_slice(&body);
            match codec.decode(&mut buf) {
                Ok(Some(frame)) => decode_frame::<pb::ClientFrame>(&frame).ok() == Some(f),
                _ => false,
            }
        }

        /// Multi operations convert to the wire form and back unchanged.
        fn multi_op_round_trip(path: String, data: Vec<u8>, version: Option<u16>, ttl: Option<u32>, which: u8) -> bool {
            let version = version.map(i32::from);
            let op = match which % 5 {
                0 => Op::Create { path, data, mode: CreateMode::PersistentSequential, ttl: None, acl: Vec::new() },
                1 => Op::Create {
                    path,
                    data,
                    mode: CreateMode::PersistentWithTtl,
                    ttl: ttl.map(|ms| std::time::Duration::from_millis(u64::from(ms) + 1)),
                    acl: crate::acl::Acl::read_only(),
                },
                2 => Op::Delete { path, version },
                3 => Op::SetData { path, data, version },
                _ => Op::Check { path, version },
            };
            op_from_proto(&op_to_proto(&op)) == Some(op)
        }

        /// Arbitrary bytes never panic the decoder: they decode or give an error.
        fn garbage_never_panics(bytes: Vec<u8>) -> bool {
            let _ = decode::<pb::ClientFrame>(&bytes);
            let _ = decode::<pb::ServerFrame>(&bytes);
            true
        }
    }

    #[test]
    fn oversized_frame_is_refused_before_it_is_read() {
        let mut codec = codec(1024);
        let mut buf = BytesMut::new();
        buf.put_u32(1025);
        buf.put_slice(&[0u8; 16]);
        assert!(codec.decode(&mut buf).is_err());
        // A frame at the limit is fine.
        let mut codec = super::codec(1024);
        let mut buf = BytesMut::new();
        buf.put_u32(1024);
        buf.put_slice(&[0u8; 1024]);
        assert_eq!(
            codec.decode(&mut buf).expect("decode").map(|f| f.len()),
            Some(1024)
        );
    }

    #[test]
    fn an_announced_frame_costs_what_arrived_not_what_was_announced() {
        let mut codec = codec(DEFAULT_MAX_FRAME);
        let mut buf = BytesMut::new();
        buf.put_u32(DEFAULT_MAX_FRAME as u32);
        buf.put_slice(&[1u8; 10]);
        assert!(codec.decode(&mut buf).expect("incomplete").is_none());
        assert!(
            buf.capacity() <= 14 + RESERVE_STEP,
            "reserved {} bytes for 14 received",
            buf.capacity()
        );
        // The rest arrives in pieces; the frame comes out whole, once.
        let mut sent = 10;
        while sent < DEFAULT_MAX_FRAME {
            let n = (DEFAULT_MAX_FRAME - sent).min(100_000);
            buf.put_slice(&vec![1u8; n]);
            sent += n;
            let got = codec.decode(&mut buf).expect("decode");
            assert_eq!(got.is_some(), sent == DEFAULT_MAX_FRAME);
            if let Some(frame) = got {
                assert_eq!(frame.len(), DEFAULT_MAX_FRAME);
            }
        }
        assert!(buf.is_empty());
    }

    #[test]
    fn frames_encode_with_their_length_and_within_the_limit() {
        let mut codec = codec(8);
        let mut dst = BytesMut::new();
        codec
            .encode(Bytes::from_static(b"abcdefgh"), &mut dst)
            .expect("at the limit");
        assert_eq!(&dst[..], b"\0\0\0\x08abcdefgh");
        assert!(codec
            .encode(Bytes::from_static(b"abcdefghi"), &mut dst)
            .is_err());
        let back = codec.decode(&mut dst).expect("decode");
        assert_eq!(back.as_deref(), Some(&b"abcdefgh"[..]));
    }

    #[test]
    fn malformed_message_is_an_error() {
        let err = decode::<pb::ClientFrame>(&[0x0a, 0x05, 0x01]).expect_err("truncated field");
        assert!(matches!(err, CodecError::Malformed(_)));
    }
}
