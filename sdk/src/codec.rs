//! Framing and message encoding shared by the client and the server.
//!
//! A frame is a 4-byte big-endian length followed by one protobuf message. Both ends
//! enforce a maximum frame length: a peer that announces a larger frame gets an error
//! and its connection is closed before the frame is read into memory.
use bytes::{Bytes, BytesMut};
use protobuf::Message;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::{Framed, LengthDelimitedCodec};

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
pub fn framed<S: AsyncRead + AsyncWrite>(
    stream: S,
    max_frame: usize,
) -> Framed<S, LengthDelimitedCodec> {
    Framed::new(stream, codec(max_frame))
}

/// The length-delimited codec with the given maximum frame length.
pub fn codec(max_frame: usize) -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .length_field_length(4)
        .max_frame_length(max_frame)
        .new_codec()
}

/// Encodes a message into a frame body.
pub fn encode<M: Message>(msg: &M) -> Bytes {
    let mut out = Vec::with_capacity(msg.compute_size() as usize);
    // Writing into a Vec cannot fail for a message whose required fields are set
    // (proto3 has none), so the error branch is unreachable in practice.
    msg.write_to_vec(&mut out)
        .expect("protobuf encoding into a Vec does not fail");
    Bytes::from(out)
}

/// Decodes a frame body into a message.
pub fn decode<M: Message>(buf: &[u8]) -> Result<M, CodecError> {
    M::parse_from_bytes(buf).map_err(|e| CodecError::Malformed(e.to_string()))
}

/// Decodes a frame body (as read from the codec) into a message.
pub fn decode_frame<M: Message>(buf: &BytesMut) -> Result<M, CodecError> {
    decode(&buf[..])
}
