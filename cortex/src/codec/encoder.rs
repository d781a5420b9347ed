//! Writing message metadata (msgpack) and collecting out-of-band buffers.

use std::convert::Infallible;

use bytes::Bytes;
use rmp::encode::{ByteBuf, ValueWriteError};

use super::error::EncodeError;

/// Unwraps a write into an in-memory buffer, which cannot fail.
fn ok<T>(result: Result<T, ValueWriteError<Infallible>>) -> T {
    match result {
        Ok(v) => v,
        Err(ValueWriteError::InvalidMarkerWrite(e) | ValueWriteError::InvalidDataWrite(e)) => {
            match e {}
        }
    }
}

/// Builds one message's metadata and out-of-band (OOB) buffer list.
///
/// Written with `rmp` in msgpack's smallest encodings (non-negative integers
/// as unsigned, as the Python cortex's `msgpack` does), so output is
/// byte-identical to the Python encoder's for the same values.
#[derive(Debug, Default)]
pub struct Encoder {
    buf: ByteBuf,
    oob: Vec<Bytes>,
}

impl Encoder {
    /// An empty encoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// An encoder whose metadata buffer has room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        Encoder {
            buf: ByteBuf::with_capacity(capacity),
            oob: Vec::new(),
        }
    }

    /// The metadata and the OOB buffers, in index order.
    pub fn finish(self) -> (Vec<u8>, Vec<Bytes>) {
        (self.buf.into_vec(), self.oob)
    }

    /// Appends an OOB buffer and returns its index (0 = the frame after the metadata).
    pub fn push_oob(&mut self, buffer: Bytes) -> usize {
        self.oob.push(buffer);
        self.oob.len() - 1
    }

    /// msgpack nil.
    pub fn write_nil(&mut self) {
        let Ok(()) = rmp::encode::write_nil(&mut self.buf);
    }

    /// msgpack bool.
    pub fn write_bool(&mut self, v: bool) {
        let Ok(()) = rmp::encode::write_bool(&mut self.buf, v);
    }

    /// An unsigned integer in its smallest encoding.
    pub fn write_u64(&mut self, v: u64) {
        ok(rmp::encode::write_uint(&mut self.buf, v));
    }

    /// A signed integer in its smallest encoding (non-negative values as unsigned).
    pub fn write_i64(&mut self, v: i64) {
        ok(rmp::encode::write_sint(&mut self.buf, v));
    }

    /// msgpack float 32.
    pub fn write_f32(&mut self, v: f32) {
        ok(rmp::encode::write_f32(&mut self.buf, v));
    }

    /// msgpack float 64.
    pub fn write_f64(&mut self, v: f64) {
        ok(rmp::encode::write_f64(&mut self.buf, v));
    }

    /// msgpack str.
    pub fn write_str(&mut self, v: &str) -> Result<(), EncodeError> {
        checked_len(v.len())?;
        ok(rmp::encode::write_str(&mut self.buf, v));
        Ok(())
    }

    /// msgpack bin.
    pub fn write_bin(&mut self, v: &[u8]) -> Result<(), EncodeError> {
        checked_len(v.len())?;
        ok(rmp::encode::write_bin(&mut self.buf, v));
        Ok(())
    }

    /// The header of a msgpack array of `len` elements.
    pub fn write_array_len(&mut self, len: usize) -> Result<(), EncodeError> {
        ok(rmp::encode::write_array_len(
            &mut self.buf,
            checked_len(len)?,
        ));
        Ok(())
    }

    /// The header of a msgpack map of `len` entries.
    pub fn write_map_len(&mut self, len: usize) -> Result<(), EncodeError> {
        ok(rmp::encode::write_map_len(&mut self.buf, checked_len(len)?));
        Ok(())
    }

    /// Serializes a serde value as msgpack (structs as maps keyed by field name).
    pub fn write_serde<T: serde::Serialize + ?Sized>(&mut self, v: &T) -> Result<(), EncodeError> {
        let mut ser = rmp_serde::Serializer::new(self.buf.as_mut_vec()).with_struct_map();
        v.serialize(&mut ser).map_err(|e| EncodeError::Serde {
            path: Default::default(),
            message: e.to_string(),
        })
    }
}

fn checked_len(len: usize) -> Result<u32, EncodeError> {
    u32::try_from(len).map_err(|_| EncodeError::too_long(len))
}
