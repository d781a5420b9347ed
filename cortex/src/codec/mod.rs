//! The wire codec: header, msgpack metadata and out-of-band buffers.
//!
//! A published message is one ZeroMQ multipart message:
//! `topic · header (24 B) · metadata (msgpack array) · OOB buffers...`.
//! This module handles everything after the topic frame; see the book's
//! protocol reference for the byte-level description.
//!
//! [`Decoder`] and [`Encoder`] are the crate's only msgpack reader and
//! writer: message metadata and the discovery protocol
//! ([`discovery::protocol`](crate::discovery::protocol)) both use them, so
//! both apply one set of rules to hostile input:
//!
//! - nesting deeper than [`MAX_DEPTH`] (64) containers is refused
//!   (`TooDeep`), before it can exhaust the stack;
//! - ext values and the reserved marker `0xc1` are refused (`Unsupported`),
//!   also where they would be skipped: neither peer sends them;
//! - a map read by key (an array descriptor, a discovery request, response
//!   or record) with a key twice is refused (`DuplicateKey`); a reader
//!   must not silently pick one of two values. A dynamic
//!   [`Value::Map`](crate::Value::Map) keeps every entry, in order;
//! - the value of an unknown key is skipped without looking inside it (an
//!   unknown string with invalid UTF-8 is no reason to refuse), but within
//!   the limits above;
//! - a length prefix longer than the bytes left is `Truncated`, and at most
//!   [`MAX_PREALLOC`] elements are reserved from a length on the wire;
//! - bytes after the top-level value are refused (`TrailingBytes`).
//!
//! Discovery adds a size limit of its own on a whole request or response
//! ([`MAX_MESSAGE_BYTES`](crate::discovery::MAX_MESSAGE_BYTES), 1 MiB).

mod decoder;
mod encoder;
mod error;
mod header;

pub use decoder::{Decoder, Int, ValueKind, MAX_DEPTH, MAX_PREALLOC};
pub use encoder::Encoder;
pub use error::{DecodeError, DecodeErrorKind, EncodeError, FieldPath};
pub use header::Header;

use bytes::Bytes;

/// The key that marks a metadata map as an array descriptor:
/// `{"__cortex_oob__": "numpy", "buffer": i, "dtype": "<f4", "shape": [..]}`.
pub const OOB_KEY: &str = "__cortex_oob__";

/// One message's frames after encoding, ready to be sent after the topic frame.
#[derive(Debug, Clone)]
pub struct EncodedMessage {
    /// The 24-byte header.
    pub header: Header,
    /// The msgpack metadata (one array of the field values).
    pub metadata: Vec<u8>,
    /// Out-of-band buffers, shared with the message's arrays (not copies).
    pub oob: Vec<Bytes>,
}

impl EncodedMessage {
    /// Header, metadata and OOB buffers as one frame list (as
    /// [`Message::decode`](crate::Message::decode) takes it). Copies the
    /// metadata but not the OOB buffers.
    pub fn to_frames(&self) -> Vec<Bytes> {
        let mut frames = Vec::with_capacity(2 + self.oob.len());
        frames.push(Bytes::copy_from_slice(&self.header.to_bytes()));
        frames.push(Bytes::copy_from_slice(&self.metadata));
        frames.extend(self.oob.iter().cloned());
        frames
    }
}
