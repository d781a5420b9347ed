//! Writing message metadata (msgpack) and collecting out-of-band buffers.

use bytes::Bytes;

use super::error::EncodeError;

/// Builds one message's metadata and out-of-band (OOB) buffer list.
///
/// Integers are written in msgpack's smallest encoding (non-negative values
/// as unsigned, as the Python cortex does), so output is byte-identical to
/// the Python encoder's for the same values.
#[derive(Debug, Default)]
pub struct Encoder {
    buf: Vec<u8>,
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
            buf: Vec::with_capacity(capacity),
            oob: Vec::new(),
        }
    }

    /// The metadata and the OOB buffers, in index order.
    pub fn finish(self) -> (Vec<u8>, Vec<Bytes>) {
        (self.buf, self.oob)
    }

    /// Appends an OOB buffer and returns its index (0 = the frame after the metadata).
    pub fn push_oob(&mut self, buffer: Bytes) -> usize {
        self.oob.push(buffer);
        self.oob.len() - 1
    }

    /// msgpack nil.
    pub fn write_nil(&mut self) {
        self.buf.push(0xc0);
    }

    /// msgpack bool.
    pub fn write_bool(&mut self, v: bool) {
        self.buf.push(if v { 0xc3 } else { 0xc2 });
    }

    /// An unsigned integer in its smallest encoding.
    pub fn write_u64(&mut self, v: u64) {
        if v < 0x80 {
            self.buf.push(v as u8);
        } else if v <= u8::MAX as u64 {
            self.buf.extend_from_slice(&[0xcc, v as u8]);
        } else if v <= u16::MAX as u64 {
            self.buf.push(0xcd);
            self.buf.extend_from_slice(&(v as u16).to_be_bytes());
        } else if v <= u32::MAX as u64 {
            self.buf.push(0xce);
            self.buf.extend_from_slice(&(v as u32).to_be_bytes());
        } else {
            self.buf.push(0xcf);
            self.buf.extend_from_slice(&v.to_be_bytes());
        }
    }

    /// A signed integer in its smallest encoding (non-negative values as unsigned).
    pub fn write_i64(&mut self, v: i64) {
        if v >= 0 {
            self.write_u64(v as u64);
        } else if v >= -32 {
            self.buf.push(v as i8 as u8);
        } else if v >= i8::MIN as i64 {
            self.buf.extend_from_slice(&[0xd0, v as i8 as u8]);
        } else if v >= i16::MIN as i64 {
            self.buf.push(0xd1);
            self.buf.extend_from_slice(&(v as i16).to_be_bytes());
        } else if v >= i32::MIN as i64 {
            self.buf.push(0xd2);
            self.buf.extend_from_slice(&(v as i32).to_be_bytes());
        } else {
            self.buf.push(0xd3);
            self.buf.extend_from_slice(&v.to_be_bytes());
        }
    }

    /// msgpack float 32.
    pub fn write_f32(&mut self, v: f32) {
        self.buf.push(0xca);
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// msgpack float 64.
    pub fn write_f64(&mut self, v: f64) {
        self.buf.push(0xcb);
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// msgpack str.
    pub fn write_str(&mut self, v: &str) -> Result<(), EncodeError> {
        let len = checked_len(v.len())?;
        if len < 32 {
            self.buf.push(0xa0 | len as u8);
        } else {
            self.write_len(len, [0xd9, 0xda, 0xdb]);
        }
        self.buf.extend_from_slice(v.as_bytes());
        Ok(())
    }

    /// msgpack bin.
    pub fn write_bin(&mut self, v: &[u8]) -> Result<(), EncodeError> {
        let len = checked_len(v.len())?;
        self.write_len(len, [0xc4, 0xc5, 0xc6]);
        self.buf.extend_from_slice(v);
        Ok(())
    }

    /// The header of a msgpack array of `len` elements.
    pub fn write_array_len(&mut self, len: usize) -> Result<(), EncodeError> {
        let len = checked_len(len)?;
        if len < 16 {
            self.buf.push(0x90 | len as u8);
        } else {
            self.write_len16(len, [0xdc, 0xdd]);
        }
        Ok(())
    }

    /// The header of a msgpack map of `len` entries.
    pub fn write_map_len(&mut self, len: usize) -> Result<(), EncodeError> {
        let len = checked_len(len)?;
        if len < 16 {
            self.buf.push(0x80 | len as u8);
        } else {
            self.write_len16(len, [0xde, 0xdf]);
        }
        Ok(())
    }

    /// Serializes a serde value as msgpack (structs as maps keyed by field name).
    pub fn write_serde<T: serde::Serialize + ?Sized>(&mut self, v: &T) -> Result<(), EncodeError> {
        let mut ser = rmp_serde::Serializer::new(&mut self.buf).with_struct_map();
        v.serialize(&mut ser).map_err(|e| EncodeError::Serde {
            path: Default::default(),
            message: e.to_string(),
        })
    }

    fn write_len(&mut self, len: u32, markers: [u8; 3]) {
        if len <= u8::MAX as u32 {
            self.buf.extend_from_slice(&[markers[0], len as u8]);
        } else if len <= u16::MAX as u32 {
            self.buf.push(markers[1]);
            self.buf.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            self.buf.push(markers[2]);
            self.buf.extend_from_slice(&len.to_be_bytes());
        }
    }

    fn write_len16(&mut self, len: u32, markers: [u8; 2]) {
        if len <= u16::MAX as u32 {
            self.buf.push(markers[0]);
            self.buf.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            self.buf.push(markers[1]);
            self.buf.extend_from_slice(&len.to_be_bytes());
        }
    }
}

fn checked_len(len: usize) -> Result<u32, EncodeError> {
    u32::try_from(len).map_err(|_| EncodeError::too_long(len))
}
