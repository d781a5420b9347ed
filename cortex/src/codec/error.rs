//! Errors raised while encoding or decoding messages.

use std::fmt;

/// Where in a message a decode error happened: `Type.field` segments,
/// outermost first, so an error reads `Image.data: ...`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldPath(Vec<(&'static str, &'static str)>);

impl FieldPath {
    /// The segments, outermost first: `(type name, field name)`.
    pub fn segments(&self) -> &[(&'static str, &'static str)] {
        &self.0
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (ty, field)) in self.0.iter().enumerate() {
            if i == 0 {
                write!(f, "{ty}.{field}")?;
            } else {
                write!(f, ".{field}")?;
            }
        }
        Ok(())
    }
}

/// A received message could not be decoded.
///
/// Decoding never panics: every malformed input ends up here. The
/// [`Display`](fmt::Display) form names the type and field involved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Fewer frames than header + metadata.
    #[error("expected at least 2 frames (header, metadata), got {found}: the sender is not speaking the cortex wire format")]
    MissingFrames {
        /// How many frames arrived.
        found: usize,
    },
    /// The header frame is not 24 bytes.
    #[error("header frame is {len} bytes, expected 24 (fingerprint, timestamp_ns, sequence as big-endian u64)")]
    HeaderLength {
        /// Length of the received header frame.
        len: usize,
    },
    /// The sender's type is not the receiver's type.
    #[error("fingerprint mismatch: expected {expected_type} (0x{expected:016x}) but the message carries 0x{found:016x}; publisher and subscriber disagree on the message type or its definition: rebuild both from the same definition")]
    FingerprintMismatch {
        /// The type the receiver expected.
        expected_type: &'static str,
        /// Its fingerprint.
        expected: u64,
        /// The fingerprint in the received header.
        found: u64,
    },
    /// The metadata is not valid msgpack for the expected schema.
    #[error("{path}: {kind}")]
    Field {
        /// Where the error happened (`Type.field`).
        path: FieldPath,
        /// What went wrong.
        kind: DecodeErrorKind,
    },
    /// Something went wrong outside any field (e.g. the top-level array).
    #[error("{ty}: {kind}")]
    Message {
        /// The message type being decoded.
        ty: &'static str,
        /// What went wrong.
        kind: DecodeErrorKind,
    },
}

impl DecodeError {
    /// What went wrong, without the location, if this error is about content.
    pub fn kind(&self) -> Option<&DecodeErrorKind> {
        match self {
            DecodeError::Field { kind, .. } | DecodeError::Message { kind, .. } => Some(kind),
            _ => None,
        }
    }
}

/// What was wrong with the metadata or an out-of-band buffer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The metadata ended in the middle of a value.
    #[error("metadata ends unexpectedly (truncated msgpack)")]
    Truncated,
    /// Bytes remain after the top-level array.
    #[error("{0} trailing byte(s) after the message's msgpack array")]
    TrailingBytes(usize),
    /// A value of another msgpack type was found.
    #[error("expected {expected}, found {found}")]
    WrongType {
        /// What the schema wants.
        expected: &'static str,
        /// What the metadata holds.
        found: &'static str,
    },
    /// The message carries fewer values than its type declares fields: the
    /// error is located at the first field left without a value.
    #[error(
        "no value for this field: the message carries {} value(s) ({}) but the type declares {} fields ({}); \
         the sender's definition has fewer fields: declare the same fields in the same order on both sides",
        .found.len(), .found.join(", "), .declared.len(), .declared.join(", ")
    )]
    MissingValue {
        /// The receiver's fields, in declaration order.
        declared: &'static [&'static str],
        /// What each received value is (`float`, `string`, `ndarray`, ...).
        found: Vec<&'static str>,
    },
    /// The message carries more values than its type declares fields.
    #[error(
        "the message carries {} value(s) ({}) but the type declares {} fields ({}): the values from position {} on match no field; \
         the sender's definition has more fields: declare the same fields in the same order on both sides",
        .found.len(), .found.join(", "), .declared.len(), .declared.join(", "), .declared.len() + 1
    )]
    ExtraValues {
        /// The receiver's fields, in declaration order.
        declared: &'static [&'static str],
        /// What each received value is (`float`, `string`, `ndarray`, ...).
        found: Vec<&'static str>,
    },
    /// A fixed-size array field got another length.
    #[error("expected {expected} elements, found {found}")]
    Length {
        /// The declared length.
        expected: usize,
        /// The received length.
        found: usize,
    },
    /// An integer does not fit the field's type.
    #[error("integer {value} does not fit in {ty}")]
    IntOutOfRange {
        /// The value received, as text (it may be an i64 or a u64).
        value: String,
        /// The field's Rust type.
        ty: &'static str,
    },
    /// A msgpack string is not UTF-8.
    #[error("string is not valid UTF-8")]
    InvalidUtf8,
    /// A msgpack extension type or the reserved marker 0xc1.
    #[error("unsupported msgpack value ({0})")]
    Unsupported(&'static str),
    /// Values nest deeper than the decoder allows.
    #[error("values nest deeper than {0} levels")]
    TooDeep(usize),
    /// A map read by key has the same key twice.
    #[error("the key `{0}` appears twice in one map")]
    DuplicateKey(String),
    /// An array descriptor lacks a key.
    #[error("array descriptor is missing the key `{0}`")]
    MissingKey(&'static str),
    /// An array descriptor's `__cortex_oob__` is not `numpy`.
    #[error("unknown out-of-band kind `{0}` (only \"numpy\" is understood)")]
    UnknownOobKind(String),
    /// An unknown dtype string.
    #[error("unknown dtype `{0}`; supported: |u1 |i1 <u2 <i2 <u4 <i4 <u8 <i8 <f4 <f8 |b1 (little-endian)")]
    UnknownDtype(String),
    /// The dtype is valid but not the field's element type.
    #[error("array has dtype {found} but the field is NdArray<{expected}>")]
    DtypeMismatch {
        /// The field's element type.
        expected: &'static str,
        /// The dtype received.
        found: String,
    },
    /// An OOB buffer index beyond the received frames.
    #[error(
        "out-of-band buffer {index} does not exist: the message has {available} buffer frame(s)"
    )]
    OobIndex {
        /// The index in the descriptor.
        index: u64,
        /// How many OOB frames arrived.
        available: usize,
    },
    /// `product(shape) * itemsize` overflows.
    #[error("shape {shape:?} with itemsize {itemsize} overflows usize")]
    ShapeOverflow {
        /// The received shape.
        shape: Vec<u64>,
        /// Bytes per element.
        itemsize: usize,
    },
    /// The buffer length is not `product(shape) * itemsize`.
    #[error("buffer is {actual} bytes but shape {shape:?} of {dtype} needs {expected}")]
    BufferSize {
        /// The received shape.
        shape: Vec<usize>,
        /// The dtype.
        dtype: &'static str,
        /// Bytes needed.
        expected: usize,
        /// Bytes received.
        actual: usize,
    },
    /// A bool array holds a byte other than 0 or 1.
    #[error("bool array holds byte 0x{0:02x}; only 0 and 1 are valid")]
    InvalidBool(u8),
    /// Frames were sent that no field refers to.
    #[error("{unused} out-of-band frame(s) are not referenced by any field")]
    UnusedFrames {
        /// How many frames were left over.
        unused: usize,
    },
    /// A `#[cortex(serde)]` field failed to deserialize.
    #[error("serde field: {0}")]
    Serde(String),
    /// A user-defined [`Field`](crate::message::Field) implementation rejected the value.
    #[error("{0}")]
    Custom(String),
}

/// A message could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A string, byte blob, array or map is longer than msgpack allows (2^32 - 1).
    #[error("{path}: length {len} exceeds msgpack's limit of 4294967295")]
    TooLong {
        /// Where (`Type.field`).
        path: FieldPath,
        /// The offending length.
        len: usize,
    },
    /// A `#[cortex(serde)]` field failed to serialize.
    #[error("{path}: serde field: {message}")]
    Serde {
        /// Where (`Type.field`).
        path: FieldPath,
        /// The serializer's message.
        message: String,
    },
}

impl EncodeError {
    pub(crate) fn too_long(len: usize) -> Self {
        EncodeError::TooLong {
            path: FieldPath::default(),
            len,
        }
    }

    /// Prefixes the location with `ty.field` (used by generated code).
    #[doc(hidden)]
    pub fn in_field(mut self, ty: &'static str, field: &'static str) -> Self {
        match &mut self {
            EncodeError::TooLong { path, .. } | EncodeError::Serde { path, .. } => {
                path.0.insert(0, (ty, field))
            }
        }
        self
    }
}

impl DecodeErrorKind {
    /// Turns this into an error located at the top level of `ty`.
    pub(crate) fn at_message(self, ty: &'static str) -> DecodeError {
        DecodeError::Message { ty, kind: self }
    }
}

impl From<DecodeErrorKind> for DecodeError {
    fn from(kind: DecodeErrorKind) -> Self {
        DecodeError::Field {
            path: FieldPath::default(),
            kind,
        }
    }
}

impl DecodeError {
    /// Prefixes the location with `ty.field` (used by generated code).
    #[doc(hidden)]
    pub fn in_field(self, ty: &'static str, field: &'static str) -> Self {
        match self {
            DecodeError::Field { mut path, kind } => {
                path.0.insert(0, (ty, field));
                DecodeError::Field { path, kind }
            }
            DecodeError::Message { kind, .. } => DecodeError::Field {
                path: FieldPath(vec![(ty, field)]),
                kind,
            },
            other => other,
        }
    }
}
