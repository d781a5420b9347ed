//! Message types: the [`Message`] and [`Field`] traits, arrays, dynamic
//! values and the standard messages.

mod array;
mod dynamic;
mod field;
pub mod fingerprint;
mod schema;
pub mod standard;
mod value;

pub use array::{DType, DynArray, Element, NdArray, ShapeError};
pub use dynamic::DynamicMessage;
pub use schema::{FieldSchema, Schema};
pub use value::Value;

use bytes::Bytes;

use crate::codec::{
    DecodeError, Decoder, EncodeError, EncodedMessage, Encoder, Header, MAX_PREALLOC,
};

#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a cortex message",
    label = "not a message type",
    note = "derive it: `#[derive(cortex::Message)]` on a struct with named fields, or use a standard message from `cortex::messages`"
)]
/// A type that can be published and received: derive it with
/// [`#[derive(Message)]`](macro@crate::Message).
///
/// On the wire a message is a msgpack array of its field values in
/// declaration order, plus one out-of-band frame per array field.
pub trait Message: Field + Send + 'static {
    /// The 64-bit type fingerprint carried in every header and discovery
    /// record this type publishes; receivers reject messages whose
    /// fingerprint is neither this nor
    /// [`ALTERNATE_FINGERPRINT`](Self::ALTERNATE_FINGERPRINT).
    const FINGERPRINT: u64;
    /// A second fingerprint receivers accept for this type, never sent.
    ///
    /// For a `#[cortex(python = "...")]` type it is the Python cortex's
    /// *structural* fingerprint (class path plus field names and types):
    /// Python nodes send the path-only value today
    /// ([`FINGERPRINT`](Self::FINGERPRINT)), and a Python cortex that
    /// computes its fingerprint after `@dataclass` would send this one.
    /// `None` for every other type.
    const ALTERNATE_FINGERPRINT: Option<u64> = None;
    /// The type's name as advertised to discovery (the Python class name
    /// for Python-compatible types).
    const TYPE_NAME: &'static str;

    /// Field names and types, in order, for tools to print.
    fn schema() -> &'static Schema;

    /// Whether a header or discovery record carrying `fingerprint` is of
    /// this type: [`FINGERPRINT`](Self::FINGERPRINT) or
    /// [`ALTERNATE_FINGERPRINT`](Self::ALTERNATE_FINGERPRINT).
    #[inline]
    fn accepts_fingerprint(fingerprint: u64) -> bool {
        fingerprint == Self::FINGERPRINT
            || matches!(Self::ALTERNATE_FINGERPRINT, Some(alt) if alt == fingerprint)
    }

    /// Encodes `self` with a header stamped now.
    fn encode(&self, sequence: u64) -> Result<EncodedMessage, EncodeError> {
        self.encode_with_header(Header::now(Self::FINGERPRINT, sequence))
    }

    /// Encodes `self` under a given header.
    fn encode_with_header(&self, header: Header) -> Result<EncodedMessage, EncodeError> {
        let mut enc = Encoder::with_capacity(64);
        Field::write(self, &mut enc)?;
        let (metadata, oob) = enc.finish();
        Ok(EncodedMessage {
            header,
            metadata,
            oob,
        })
    }

    /// Decodes `[header, metadata, oob...]`, checking the fingerprint.
    ///
    /// Array fields borrow their OOB frame when it is aligned for the
    /// element type and copy it once otherwise.
    fn decode(frames: &[Bytes]) -> Result<(Self, Header), DecodeError> {
        let (header_frame, metadata, oob) = match frames {
            [h, m, oob @ ..] => (h, m, oob),
            _ => {
                return Err(DecodeError::MissingFrames {
                    found: frames.len(),
                })
            }
        };
        let header = Header::from_bytes(header_frame)?;
        if !Self::accepts_fingerprint(header.fingerprint) {
            return Err(DecodeError::FingerprintMismatch {
                expected_type: Self::TYPE_NAME,
                expected: Self::FINGERPRINT,
                found: header.fingerprint,
            });
        }
        Ok((Self::decode_body(metadata, oob)?, header))
    }

    /// Decodes metadata and OOB frames without looking at a header.
    fn decode_body(metadata: &[u8], oob: &[Bytes]) -> Result<Self, DecodeError> {
        let mut dec = Decoder::new(metadata, oob);
        let value = Self::read(&mut dec)?;
        dec.finish().map_err(|k| k.at_message(Self::TYPE_NAME))?;
        Ok(value)
    }
}

/// A type that can be a field of a message.
///
/// Implemented for `bool`, all integers, `f32`, `f64`, `String`,
/// `Vec<u8>` (msgpack bin), `Vec<T>`, `[T; N]`, `Option<T>`,
/// [`NdArray<T>`], [`DynArray`], [`Value`] and every
/// `#[derive(Message)]` struct. Any serde type can be used with
/// `#[cortex(serde)]` on the field instead.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a cortex message field",
    label = "unsupported field type",
    note = "supported: bool, integers, f32, f64, String, Vec<u8> (bytes), Vec<T>, [T; N], Option<T>, NdArray<T>, DynArray, Value, and #[derive(Message)] structs",
    note = "for any serde type, mark the field `#[cortex(serde)]`"
)]
pub trait Field: Sized {
    /// Identifies the field type in native fingerprints.
    const TYPE_HASH: u64;

    /// The type as tools print it (`u32`, `Vec<f32>`, `NdArray<u8>`).
    fn type_name() -> String;

    /// Writes the value.
    fn write(&self, enc: &mut Encoder) -> Result<(), EncodeError>;

    /// Reads the value.
    fn read(dec: &mut Decoder<'_>) -> Result<Self, DecodeError>;

    /// How a `Vec<Self>` is hashed; `u8` overrides this (bytes).
    #[doc(hidden)]
    const SEQ_TYPE_HASH: u64 =
        fingerprint::combine(fingerprint::hash_str("Vec"), &[Self::TYPE_HASH]);

    /// How `Vec<Self>` is named; `u8` overrides this (bytes).
    #[doc(hidden)]
    fn seq_type_name() -> String {
        format!("Vec<{}>", Self::type_name())
    }

    /// How `Vec<Self>` is written; `u8` overrides this (msgpack bin).
    #[doc(hidden)]
    fn write_seq(items: &[Self], enc: &mut Encoder) -> Result<(), EncodeError> {
        enc.write_array_len(items.len())?;
        items.iter().try_for_each(|item| item.write(enc))
    }

    /// How `Vec<Self>` is read; `u8` overrides this (msgpack bin).
    #[doc(hidden)]
    fn read_seq(dec: &mut Decoder<'_>) -> Result<Vec<Self>, DecodeError> {
        let n = dec.read_array_len()?;
        dec.enter()?;
        let mut out = Vec::with_capacity(n.min(MAX_PREALLOC));
        for _ in 0..n {
            out.push(Self::read(dec)?);
        }
        dec.leave();
        Ok(out)
    }
}
