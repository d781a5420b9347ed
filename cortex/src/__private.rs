//! Support for the code that `cortex-derive` generates. Not a public API.

pub use crate::codec::{DecodeError, DecodeErrorKind, Decoder, EncodeError, Encoder};
pub use crate::message::fingerprint::{combine, hash_str};
pub use crate::message::{Field, FieldSchema, Message, Schema};
pub use crate::node::{
    advertise_nothing, run_main, run_subscriber, run_timer, BoxFuture, Handler, HandlerKind,
    HandlerOutput, MainOptions, Run,
};
pub use inventory;
pub use std::sync::OnceLock;
pub use std::{stringify, vec};

/// Writes the array header of a message with `fields` fields.
pub fn begin_write(enc: &mut Encoder, fields: usize) -> Result<(), EncodeError> {
    enc.write_array_len(fields)
}

/// Locates an encode error at `ty.name`.
pub fn located_write(
    r: Result<(), EncodeError>,
    ty: &'static str,
    name: &'static str,
) -> Result<(), EncodeError> {
    r.map_err(|e| e.in_field(ty, name))
}

/// Writes one `#[cortex(serde)]` field.
pub fn write_serde_field<T: serde::Serialize>(
    enc: &mut Encoder,
    ty: &'static str,
    name: &'static str,
    v: &T,
) -> Result<(), EncodeError> {
    enc.write_serde(v).map_err(|e| e.in_field(ty, name))
}

/// Reads the array header of a message whose fields are `fields`.
///
/// A count that differs from the declaration is the typical symptom of a
/// peer whose definition has other fields (a Python class is matched by
/// its path only): the error names the fields and what each received
/// value is.
pub fn begin_read(
    dec: &mut Decoder<'_>,
    ty: &'static str,
    fields: &'static [&'static str],
) -> Result<(), DecodeError> {
    let found = dec.read_array_len().map_err(|k| k.at_message(ty))?;
    if found < fields.len() {
        let kind = DecodeErrorKind::MissingValue {
            declared: fields,
            found: dec.describe_values(found),
        };
        return Err(DecodeError::from(kind).in_field(ty, fields[found]));
    }
    if found > fields.len() {
        let kind = DecodeErrorKind::ExtraValues {
            declared: fields,
            found: dec.describe_values(found),
        };
        return Err(kind.at_message(ty));
    }
    dec.enter().map_err(|k| k.at_message(ty))
}

/// Ends a message started with [`begin_read`].
pub fn end_read(dec: &mut Decoder<'_>) {
    dec.leave();
}

/// Locates a decode error at `ty.name`.
pub fn located_read<T>(
    r: Result<T, DecodeError>,
    ty: &'static str,
    name: &'static str,
) -> Result<T, DecodeError> {
    r.map_err(|e| e.in_field(ty, name))
}

/// Reads one `#[cortex(serde)]` field.
pub fn read_serde_field<T: serde::de::DeserializeOwned>(
    dec: &mut Decoder<'_>,
    ty: &'static str,
    name: &'static str,
) -> Result<T, DecodeError> {
    dec.read_serde()
        .map_err(|k| DecodeError::from(k).in_field(ty, name))
}
