//! A small, strict msgpack reader and the writer helpers discovery needs.
//!
//! Reading goes through a borrowed [`Value`] tree so that maps are handled by
//! key, any valid integer encoding is accepted, and hostile input (truncated,
//! deeply nested, absurd lengths) yields an error instead of a panic or a huge
//! allocation. Writing uses `rmp` with the smallest encodings, which is what
//! the Python cortex produces.

use std::convert::Infallible;

use rmp::encode::{ByteBuf, ValueWriteError};
use rmp::Marker;

use super::error::ProtocolError;

/// Nesting deeper than this is rejected (discovery messages nest 2 levels).
const MAX_DEPTH: usize = 16;

/// A decoded msgpack value borrowing from the input.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value<'a> {
    Nil,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(&'a [u8]),
    Bin(&'a [u8]),
    Array(Vec<Value<'a>>),
    Map(Vec<(Value<'a>, Value<'a>)>),
    Ext,
}

impl Value<'_> {
    /// The msgpack type name, for error messages.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "nil",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Bin(_) => "bin",
            Value::Array(_) => "array",
            Value::Map(_) => "map",
            Value::Ext => "ext",
        }
    }
}

/// Decodes exactly one value spanning all of `bytes`.
pub(crate) fn parse(bytes: &[u8]) -> Result<Value<'_>, ProtocolError> {
    let mut reader = Reader { bytes, pos: 0 };
    let value = reader.value(0)?;
    if reader.pos != bytes.len() {
        return Err(reader.err("trailing bytes after the value"));
    }
    Ok(value)
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn err(&self, what: &'static str) -> ProtocolError {
        ProtocolError::Msgpack {
            offset: self.pos,
            what,
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtocolError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| self.err("truncated input"))?;
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn be<const N: usize>(&mut self) -> Result<[u8; N], ProtocolError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn len8(&mut self) -> Result<usize, ProtocolError> {
        Ok(usize::from(self.be::<1>()?[0]))
    }

    fn len16(&mut self) -> Result<usize, ProtocolError> {
        Ok(usize::from(u16::from_be_bytes(self.be()?)))
    }

    fn len32(&mut self) -> Result<usize, ProtocolError> {
        usize::try_from(u32::from_be_bytes(self.be()?)).map_err(|_| self.err("length too large"))
    }

    /// Every element takes at least one byte: refuse counts the remaining
    /// input cannot hold before allocating for them.
    fn check_count(&self, count: usize, min_bytes_each: usize) -> Result<(), ProtocolError> {
        let remaining = self.bytes.len() - self.pos;
        match count.checked_mul(min_bytes_each) {
            Some(need) if need <= remaining => Ok(()),
            _ => Err(self.err("container length exceeds the input")),
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value<'a>, ProtocolError> {
        if depth > MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        let marker = Marker::from_u8(self.be::<1>()?[0]);
        Ok(match marker {
            Marker::FixPos(n) => Value::Int(i128::from(n)),
            Marker::FixNeg(n) => Value::Int(i128::from(n)),
            Marker::Null => Value::Nil,
            Marker::True => Value::Bool(true),
            Marker::False => Value::Bool(false),
            Marker::U8 => Value::Int(i128::from(u8::from_be_bytes(self.be()?))),
            Marker::U16 => Value::Int(i128::from(u16::from_be_bytes(self.be()?))),
            Marker::U32 => Value::Int(i128::from(u32::from_be_bytes(self.be()?))),
            Marker::U64 => Value::Int(i128::from(u64::from_be_bytes(self.be()?))),
            Marker::I8 => Value::Int(i128::from(i8::from_be_bytes(self.be()?))),
            Marker::I16 => Value::Int(i128::from(i16::from_be_bytes(self.be()?))),
            Marker::I32 => Value::Int(i128::from(i32::from_be_bytes(self.be()?))),
            Marker::I64 => Value::Int(i128::from(i64::from_be_bytes(self.be()?))),
            Marker::F32 => Value::Float(f64::from(f32::from_be_bytes(self.be()?))),
            Marker::F64 => Value::Float(f64::from_be_bytes(self.be()?)),
            Marker::FixStr(n) => Value::Str(self.take(usize::from(n))?),
            Marker::Str8 => {
                let n = self.len8()?;
                Value::Str(self.take(n)?)
            }
            Marker::Str16 => {
                let n = self.len16()?;
                Value::Str(self.take(n)?)
            }
            Marker::Str32 => {
                let n = self.len32()?;
                Value::Str(self.take(n)?)
            }
            Marker::Bin8 => {
                let n = self.len8()?;
                Value::Bin(self.take(n)?)
            }
            Marker::Bin16 => {
                let n = self.len16()?;
                Value::Bin(self.take(n)?)
            }
            Marker::Bin32 => {
                let n = self.len32()?;
                Value::Bin(self.take(n)?)
            }
            Marker::FixArray(n) => self.array(usize::from(n), depth)?,
            Marker::Array16 => {
                let n = self.len16()?;
                self.array(n, depth)?
            }
            Marker::Array32 => {
                let n = self.len32()?;
                self.array(n, depth)?
            }
            Marker::FixMap(n) => self.map(usize::from(n), depth)?,
            Marker::Map16 => {
                let n = self.len16()?;
                self.map(n, depth)?
            }
            Marker::Map32 => {
                let n = self.len32()?;
                self.map(n, depth)?
            }
            Marker::FixExt1 => self.ext(1)?,
            Marker::FixExt2 => self.ext(2)?,
            Marker::FixExt4 => self.ext(4)?,
            Marker::FixExt8 => self.ext(8)?,
            Marker::FixExt16 => self.ext(16)?,
            Marker::Ext8 => {
                let n = self.len8()?;
                self.ext(n)?
            }
            Marker::Ext16 => {
                let n = self.len16()?;
                self.ext(n)?
            }
            Marker::Ext32 => {
                let n = self.len32()?;
                self.ext(n)?
            }
            Marker::Reserved => return Err(self.err("reserved marker 0xc1")),
        })
    }

    fn array(&mut self, n: usize, depth: usize) -> Result<Value<'a>, ProtocolError> {
        self.check_count(n, 1)?;
        let mut items = Vec::with_capacity(n);
        for _ in 0..n {
            items.push(self.value(depth + 1)?);
        }
        Ok(Value::Array(items))
    }

    fn map(&mut self, n: usize, depth: usize) -> Result<Value<'a>, ProtocolError> {
        self.check_count(n, 2)?;
        let mut entries = Vec::with_capacity(n);
        for _ in 0..n {
            let key = self.value(depth + 1)?;
            let value = self.value(depth + 1)?;
            entries.push((key, value));
        }
        Ok(Value::Map(entries))
    }

    fn ext(&mut self, n: usize) -> Result<Value<'a>, ProtocolError> {
        // One type byte, then the payload.
        self.take(1)?;
        self.take(n)?;
        Ok(Value::Ext)
    }
}

/// A msgpack map with string keys, looked up by key.
pub(crate) struct Fields<'v, 'a> {
    what: &'static str,
    entries: Vec<(&'a str, &'v Value<'a>)>,
}

impl<'v, 'a> Fields<'v, 'a> {
    /// Interprets `value` as a map whose keys are all strings; non-string
    /// keys are ignored (they cannot name a known field), duplicates refused.
    pub(crate) fn new(what: &'static str, value: &'v Value<'a>) -> Result<Self, ProtocolError> {
        let Value::Map(map) = value else {
            return Err(ProtocolError::WrongType {
                what,
                expected: "map",
                found: value.type_name(),
            });
        };
        let mut entries: Vec<(&'a str, &'v Value<'a>)> = Vec::with_capacity(map.len());
        for (k, v) in map {
            let Value::Str(raw) = k else { continue };
            let Ok(key) = std::str::from_utf8(raw) else {
                continue;
            };
            if entries.iter().any(|(seen, _)| *seen == key) {
                return Err(ProtocolError::DuplicateKey {
                    what,
                    key: key.to_owned(),
                });
            }
            entries.push((key, v));
        }
        Ok(Self { what, entries })
    }

    /// The value under `key`, if present.
    pub(crate) fn get(&self, key: &str) -> Option<&'v Value<'a>> {
        self.entries
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
    }

    /// The value under `key`, or an error naming the map and key.
    pub(crate) fn require(&self, key: &'static str) -> Result<&'v Value<'a>, ProtocolError> {
        self.get(key).ok_or(ProtocolError::MissingKey {
            what: self.what,
            key,
        })
    }
}

/// A string value (valid UTF-8).
pub(crate) fn as_str(what: &'static str, value: &Value<'_>) -> Result<String, ProtocolError> {
    match value {
        Value::Str(raw) => {
            std::str::from_utf8(raw)
                .map(str::to_owned)
                .map_err(|_| ProtocolError::WrongType {
                    what,
                    expected: "UTF-8 str",
                    found: "invalid UTF-8",
                })
        }
        other => Err(ProtocolError::WrongType {
            what,
            expected: "str",
            found: other.type_name(),
        }),
    }
}

/// An integer value.
pub(crate) fn as_int(what: &'static str, value: &Value<'_>) -> Result<i128, ProtocolError> {
    match value {
        Value::Int(i) => Ok(*i),
        other => Err(ProtocolError::WrongType {
            what,
            expected: "int",
            found: other.type_name(),
        }),
    }
}

/// Unwraps a write into an in-memory buffer, which cannot fail.
fn ok<T>(result: Result<T, ValueWriteError<Infallible>>) -> T {
    match result {
        Ok(v) => v,
        Err(ValueWriteError::InvalidMarkerWrite(e) | ValueWriteError::InvalidDataWrite(e)) => {
            match e {}
        }
    }
}

/// Writes msgpack with the smallest encodings, as Python's `msgpack` does.
#[derive(Default)]
pub(crate) struct Writer {
    buf: ByteBuf,
}

impl Writer {
    pub(crate) fn map_len(&mut self, len: u32) {
        ok(rmp::encode::write_map_len(&mut self.buf, len));
    }

    pub(crate) fn array_len(&mut self, len: u32) {
        ok(rmp::encode::write_array_len(&mut self.buf, len));
    }

    pub(crate) fn str(&mut self, s: &str) {
        ok(rmp::encode::write_str(&mut self.buf, s));
    }

    pub(crate) fn bin(&mut self, b: &[u8]) {
        ok(rmp::encode::write_bin(&mut self.buf, b));
    }

    pub(crate) fn uint(&mut self, v: u64) {
        ok(rmp::encode::write_uint(&mut self.buf, v));
    }

    pub(crate) fn nil(&mut self) {
        match rmp::encode::write_nil(&mut self.buf) {
            Ok(()) => {}
            Err(e) => match e {},
        }
    }

    pub(crate) fn into_vec(self) -> Vec<u8> {
        self.buf.into_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_hostile_lengths_without_allocating() {
        // array32 claiming 4 G elements, map32 likewise, str32 past the end.
        for bytes in [
            &[0xdd, 0xff, 0xff, 0xff, 0xff][..],
            &[0xdf, 0xff, 0xff, 0xff, 0xff],
            &[0xdb, 0x00, 0x00, 0x10, 0x00, b'a'],
            &[0xc1],
            &[],
        ] {
            assert!(parse(bytes).is_err(), "{bytes:x?}");
        }
    }

    #[test]
    fn rejects_deep_nesting() {
        let bytes = vec![0x91; 10_000];
        assert!(parse(&bytes).is_err());
    }

    #[test]
    fn accepts_every_integer_width() {
        for (bytes, want) in [
            (&[0x05][..], 5i128),
            (&[0xcc, 0x05], 5),
            (&[0xcd, 0x00, 0x05], 5),
            (&[0xce, 0, 0, 0, 5], 5),
            (&[0xcf, 0, 0, 0, 0, 0, 0, 0, 5], 5),
            (&[0xd0, 0x05], 5),
            (&[0xd3, 0, 0, 0, 0, 0, 0, 0, 5], 5),
            (&[0xff], -1),
        ] {
            assert_eq!(parse(bytes).unwrap(), Value::Int(want));
        }
    }
}
