//! Reading message metadata (msgpack) and resolving out-of-band buffers.

use bytes::Bytes;

use super::error::DecodeErrorKind as K;
use super::OOB_KEY;

/// How deep values may nest before the decoder refuses (stack safety).
pub const MAX_DEPTH: usize = 64;

/// Most elements reserved up front for a sequence whose length came from
/// the wire; longer ones grow as elements actually decode (a hostile count
/// cannot make the decoder allocate gigabytes before failing).
pub const MAX_PREALLOC: usize = 1024;

/// The kind of the next msgpack value, as far as schemas care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// nil
    Nil,
    /// true / false
    Bool,
    /// Any integer encoding.
    Int,
    /// float 32 or float 64.
    Float,
    /// str
    Str,
    /// bin
    Bin,
    /// array
    Array,
    /// map
    Map,
    /// ext or the reserved marker.
    Other,
}

impl ValueKind {
    fn of(marker: u8) -> ValueKind {
        match marker {
            0x00..=0x7f | 0xe0..=0xff | 0xcc..=0xd3 => ValueKind::Int,
            0x80..=0x8f | 0xde | 0xdf => ValueKind::Map,
            0x90..=0x9f | 0xdc | 0xdd => ValueKind::Array,
            0xa0..=0xbf | 0xd9..=0xdb => ValueKind::Str,
            0xc0 => ValueKind::Nil,
            0xc2 | 0xc3 => ValueKind::Bool,
            0xc4..=0xc6 => ValueKind::Bin,
            0xca | 0xcb => ValueKind::Float,
            _ => ValueKind::Other,
        }
    }

    /// A name for error messages.
    pub fn name(self) -> &'static str {
        match self {
            ValueKind::Nil => "nil",
            ValueKind::Bool => "bool",
            ValueKind::Int => "integer",
            ValueKind::Float => "float",
            ValueKind::Str => "string",
            ValueKind::Bin => "bytes",
            ValueKind::Array => "array",
            ValueKind::Map => "map",
            ValueKind::Other => "ext/reserved value",
        }
    }
}

/// An integer as read from msgpack (either signedness).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Int {
    /// Encoded as unsigned (or a non-negative fixint).
    U(u64),
    /// Encoded as signed.
    I(i64),
}

impl Int {
    /// Converts to `T`, failing with a typed error when out of range.
    pub fn convert<T: TryFrom<u64> + TryFrom<i64>>(self, ty: &'static str) -> Result<T, K> {
        let ok = match self {
            Int::U(v) => T::try_from(v).ok(),
            Int::I(v) => T::try_from(v).ok(),
        };
        ok.ok_or_else(|| K::IntOutOfRange {
            value: match self {
                Int::U(v) => v.to_string(),
                Int::I(v) => v.to_string(),
            },
            ty,
        })
    }
}

/// Reads one message's metadata; hands out its OOB frames.
///
/// Every read is bounds-checked and returns [`DecodeErrorKind`](K) on
/// malformed input; nothing here panics.
#[derive(Debug)]
pub struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
    oob: &'a [Bytes],
    used: Vec<bool>,
    depth: usize,
}

impl<'a> Decoder<'a> {
    /// A decoder over `metadata` whose OOB buffers are `oob` (index 0 first).
    pub fn new(metadata: &'a [u8], oob: &'a [Bytes]) -> Self {
        Decoder {
            buf: metadata,
            pos: 0,
            oob,
            used: vec![false; oob.len()],
            depth: 0,
        }
    }

    /// Fails unless every byte and every OOB frame was consumed.
    pub fn finish(&self) -> Result<(), K> {
        let rest = self.buf.len() - self.pos;
        if rest != 0 {
            return Err(K::TrailingBytes(rest));
        }
        let unused = self.used.iter().filter(|u| !**u).count();
        if unused != 0 {
            return Err(K::UnusedFrames { unused });
        }
        Ok(())
    }

    /// The OOB frame `index`, marking it used.
    pub fn oob(&mut self, index: u64) -> Result<Bytes, K> {
        let available = self.oob.len();
        let Some(i) = usize::try_from(index).ok().filter(|i| *i < available) else {
            return Err(K::OobIndex { index, available });
        };
        self.used[i] = true;
        Ok(self.oob[i].clone())
    }

    /// The current position, for [`rewind`](Self::rewind).
    pub fn mark(&self) -> usize {
        self.pos
    }

    /// Returns to a position from [`mark`](Self::mark).
    pub fn rewind(&mut self, mark: usize) {
        self.pos = mark.min(self.buf.len());
    }

    /// Enters a nested container; fails beyond [`MAX_DEPTH`].
    pub fn enter(&mut self) -> Result<(), K> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(K::TooDeep(MAX_DEPTH));
        }
        Ok(())
    }

    /// Leaves a nested container.
    pub fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// The kind of the next value, without consuming it.
    pub fn peek_kind(&self) -> Result<ValueKind, K> {
        match self.buf.get(self.pos) {
            Some(m) => Ok(ValueKind::of(*m)),
            None => Err(K::Truncated),
        }
    }

    // Here and in the readers: `let ... else` rather than `ok_or(K::...)`,
    // which builds (and drops) an error value on every successful read.
    fn take(&mut self, n: usize) -> Result<&'a [u8], K> {
        let Some(s) = self
            .pos
            .checked_add(n)
            .and_then(|end| self.buf.get(self.pos..end))
        else {
            return Err(K::Truncated);
        };
        self.pos += n;
        Ok(s)
    }

    fn byte(&mut self) -> Result<u8, K> {
        Ok(self.take(1)?[0])
    }

    fn be<const N: usize>(&mut self) -> Result<[u8; N], K> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn wrong(&self, expected: &'static str) -> K {
        K::WrongType {
            expected,
            found: self.describe_next(),
        }
    }

    /// What the next value is, for error messages: its msgpack kind, or
    /// `ndarray` for an array descriptor map.
    pub fn describe_next(&self) -> &'static str {
        match self.peek_kind() {
            Ok(ValueKind::Map) if self.at_array_descriptor() == Ok(true) => "ndarray",
            Ok(kind) => kind.name(),
            Err(_) => "end of data",
        }
    }

    /// Whether the next value is an array descriptor: a map with the
    /// [`OOB_KEY`] key. Reads ahead without moving the position.
    pub fn at_array_descriptor(&self) -> Result<bool, K> {
        let mut probe = Decoder {
            buf: &self.buf[self.pos..],
            pos: 0,
            oob: &[],
            used: Vec::new(),
            depth: self.depth,
        };
        let n = probe.read_map_len()?;
        for _ in 0..n {
            // Keys as bytes: a non-UTF-8 key is not ours, not an error.
            let is_oob_key = if probe.peek_kind()? == ValueKind::Str {
                probe.read_str_bytes()? == OOB_KEY.as_bytes()
            } else {
                probe.skip_value()?;
                false
            };
            if is_oob_key {
                return Ok(true);
            }
            probe.skip_value()?;
        }
        Ok(false)
    }

    /// What each of the next `n` values is (see
    /// [`describe_next`](Self::describe_next)), skipping them; stops at the
    /// first value that cannot be skipped. For error messages only.
    pub fn describe_values(&mut self, n: usize) -> Vec<&'static str> {
        let mut out = Vec::with_capacity(n.min(MAX_PREALLOC));
        for _ in 0..n {
            out.push(self.describe_next());
            if self.skip_value().is_err() {
                break;
            }
        }
        out
    }

    /// Consumes a nil if the next value is nil.
    pub fn read_nil(&mut self) -> Result<bool, K> {
        if self.peek_kind()? == ValueKind::Nil {
            self.pos += 1;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    /// A bool.
    pub fn read_bool(&mut self) -> Result<bool, K> {
        match self.buf.get(self.pos) {
            Some(0xc2) => {
                self.pos += 1;
                Ok(false)
            }
            Some(0xc3) => {
                self.pos += 1;
                Ok(true)
            }
            Some(_) => Err(self.wrong("bool")),
            None => Err(K::Truncated),
        }
    }

    /// An integer in any msgpack encoding.
    pub fn read_int(&mut self) -> Result<Int, K> {
        let Some(&m) = self.buf.get(self.pos) else {
            return Err(K::Truncated);
        };
        if ValueKind::of(m) != ValueKind::Int {
            return Err(self.wrong("integer"));
        }
        self.pos += 1;
        Ok(match m {
            0x00..=0x7f => Int::U(m as u64),
            0xe0..=0xff => Int::I(m as i8 as i64),
            0xcc => Int::U(self.byte()? as u64),
            0xcd => Int::U(u16::from_be_bytes(self.be()?) as u64),
            0xce => Int::U(u32::from_be_bytes(self.be()?) as u64),
            0xcf => Int::U(u64::from_be_bytes(self.be()?)),
            0xd0 => Int::I(self.byte()? as i8 as i64),
            0xd1 => Int::I(i16::from_be_bytes(self.be()?) as i64),
            0xd2 => Int::I(i32::from_be_bytes(self.be()?) as i64),
            _ => Int::I(i64::from_be_bytes(self.be()?)),
        })
    }

    /// A float; float 32, float 64 and integers are all accepted.
    pub fn read_f64(&mut self) -> Result<f64, K> {
        match self.peek_kind()? {
            ValueKind::Float => {
                let m = self.byte()?;
                Ok(if m == 0xca {
                    f32::from_be_bytes(self.be()?) as f64
                } else {
                    f64::from_be_bytes(self.be()?)
                })
            }
            ValueKind::Int => Ok(match self.read_int()? {
                Int::U(v) => v as f64,
                Int::I(v) => v as f64,
            }),
            _ => Err(self.wrong("float")),
        }
    }

    /// A length prefix of the 8/16/32-bit variant selected by `marker`,
    /// where `first` is the marker of the 8-bit variant.
    fn read_len(&mut self, marker: u8, first: u8) -> Result<usize, K> {
        Ok(match marker - first {
            0 => self.byte()? as usize,
            1 => u16::from_be_bytes(self.be()?) as usize,
            _ => u32::from_be_bytes(self.be()?) as usize,
        })
    }

    /// A UTF-8 string, borrowed from the metadata.
    pub fn read_str(&mut self) -> Result<&'a str, K> {
        std::str::from_utf8(self.read_str_bytes()?).map_err(|_| K::InvalidUtf8)
    }

    /// A msgpack string's bytes, not checked for UTF-8: for comparing keys
    /// against known names, where a match proves validity and a mismatch
    /// is skipped anyway.
    pub fn read_str_bytes(&mut self) -> Result<&'a [u8], K> {
        let Some(&m) = self.buf.get(self.pos) else {
            return Err(K::Truncated);
        };
        let len = match m {
            0xa0..=0xbf => {
                self.pos += 1;
                (m & 0x1f) as usize
            }
            0xd9..=0xdb => {
                self.pos += 1;
                self.read_len(m, 0xd9)?
            }
            _ => return Err(self.wrong("string")),
        };
        self.take(len)
    }

    /// A byte blob, borrowed from the metadata (bin; str is accepted too).
    pub fn read_bin(&mut self) -> Result<&'a [u8], K> {
        let Some(&m) = self.buf.get(self.pos) else {
            return Err(K::Truncated);
        };
        match m {
            0xc4..=0xc6 => {
                self.pos += 1;
                let len = self.read_len(m, 0xc4)?;
                self.take(len)
            }
            0xa0..=0xbf | 0xd9..=0xdb => Ok(self.read_str()?.as_bytes()),
            _ => Err(self.wrong("bytes")),
        }
    }

    /// An array header: the number of elements that follow.
    pub fn read_array_len(&mut self) -> Result<usize, K> {
        self.read_container_len(0x90, 0xdc, "array")
    }

    /// A map header: the number of key/value pairs that follow.
    pub fn read_map_len(&mut self) -> Result<usize, K> {
        self.read_container_len(0x80, 0xde, "map")
    }

    /// A container header: `fix` is the fix-size marker base (count in the
    /// low 4 bits), `m16` the 16-bit-count marker (`m16 + 1` is 32-bit).
    fn read_container_len(&mut self, fix: u8, m16: u8, what: &'static str) -> Result<usize, K> {
        let Some(&m) = self.buf.get(self.pos) else {
            return Err(K::Truncated);
        };
        let len = if m & 0xf0 == fix {
            self.pos += 1;
            (m & 0x0f) as usize
        } else if m == m16 {
            self.pos += 1;
            u16::from_be_bytes(self.be()?) as usize
        } else if m == m16 + 1 {
            self.pos += 1;
            u32::from_be_bytes(self.be()?) as usize
        } else {
            return Err(self.wrong(what));
        };
        self.check_count(len)
    }

    /// Every element takes at least one byte: a count beyond the remaining
    /// bytes is a lie, and refusing it keeps hostile counts from driving
    /// huge allocations.
    fn check_count(&self, len: usize) -> Result<usize, K> {
        if len > self.buf.len() - self.pos {
            Err(K::Truncated)
        } else {
            Ok(len)
        }
    }

    /// Reads a map by key: calls `field(key, self)` for each entry, in wire
    /// order; `field` must consume the value (read it, or
    /// [`skip_value`](Self::skip_value) it). Keys are compared as bytes
    /// (no UTF-8 check). A key that appears twice is
    /// [`DuplicateKey`](K::DuplicateKey), a key that is not a string is
    /// [`WrongType`](K::WrongType): a reader that looks values up by key
    /// must not silently pick one of two.
    pub fn read_map_by_key<E: From<K>>(
        &mut self,
        mut field: impl FnMut(&'a [u8], &mut Self) -> Result<(), E>,
    ) -> Result<(), E> {
        let entries = self.read_map_len()?;
        self.enter()?;
        // No allocation for the usual few keys (this runs per array per
        // message); a set for large maps, which hostile input may claim.
        let mut few: [&'a [u8]; 16] = [&[]; 16];
        let mut many: std::collections::HashSet<&'a [u8]> = std::collections::HashSet::new();
        for i in 0..entries {
            let key = self.read_str_bytes()?;
            let repeated = if entries <= few.len() {
                let seen = few[..i].contains(&key);
                few[i] = key;
                seen
            } else {
                !many.insert(key)
            };
            if repeated {
                return Err(K::DuplicateKey(String::from_utf8_lossy(key).into_owned()).into());
            }
            field(key, self)?;
        }
        self.leave();
        Ok(())
    }

    /// Skips one value of any type (used for unknown map keys).
    pub fn skip_value(&mut self) -> Result<(), K> {
        match self.peek_kind()? {
            ValueKind::Nil | ValueKind::Bool => self.pos += 1,
            ValueKind::Int => {
                self.read_int()?;
            }
            ValueKind::Float => {
                self.read_f64()?;
            }
            // Skipped bytes are not looked at: an unknown string with
            // invalid UTF-8 is no reason to refuse the whole message.
            ValueKind::Str => {
                self.read_str_bytes()?;
            }
            ValueKind::Bin => {
                self.read_bin()?;
            }
            ValueKind::Array => {
                let n = self.read_array_len()?;
                self.enter()?;
                for _ in 0..n {
                    self.skip_value()?;
                }
                self.leave();
            }
            ValueKind::Map => {
                let n = self.read_map_len()?;
                self.enter()?;
                for _ in 0..n {
                    self.skip_value()?;
                    self.skip_value()?;
                }
                self.leave();
            }
            ValueKind::Other => return Err(K::Unsupported("msgpack ext or reserved marker")),
        }
        Ok(())
    }

    /// Deserializes a serde value from msgpack at the current position.
    pub fn read_serde<T: serde::de::DeserializeOwned>(&mut self) -> Result<T, K> {
        let mut rest = &self.buf[self.pos..];
        let before = rest.len();
        let v = rmp_serde::from_read(&mut rest).map_err(|e| K::Serde(e.to_string()))?;
        self.pos += before - rest.len();
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skipping_a_string_does_not_check_its_utf8() {
        // ["\xff\xfe" (a str that is not UTF-8), 7]
        let bytes = [0x92, 0xa2, 0xff, 0xfe, 0x07];
        let mut dec = Decoder::new(&bytes, &[]);
        assert_eq!(dec.read_array_len(), Ok(2));
        dec.skip_value().expect("skipped unread");
        assert!(matches!(dec.read_int(), Ok(Int::U(7))));
        dec.finish().unwrap();
    }

    #[test]
    fn a_map_read_by_key_refuses_a_repeated_key() {
        // {"a": 1, "b": 2, "a": 3}
        let bytes = [0x83, 0xa1, b'a', 0x01, 0xa1, b'b', 0x02, 0xa1, b'a', 0x03];
        let mut dec = Decoder::new(&bytes, &[]);
        let mut seen = Vec::new();
        let err = dec
            .read_map_by_key(|key, dec| {
                seen.push(key.to_vec());
                dec.skip_value()
            })
            .unwrap_err();
        assert_eq!(err, K::DuplicateKey("a".into()));
        assert_eq!(seen, [b"a".to_vec(), b"b".to_vec()]);
        // Many keys take the set path; a repeat there is found too.
        let mut big = vec![0xde, 0x00, 0x12]; // map16 of 18 entries
        for i in 0..17u8 {
            big.extend([0xa1, b'a' + i, 0xc0]);
        }
        big.extend([0xa1, b'c', 0xc0]);
        let err = Decoder::new(&big, &[])
            .read_map_by_key(|_, dec| dec.skip_value())
            .unwrap_err();
        assert_eq!(err, K::DuplicateKey("c".into()));
    }

    #[test]
    fn a_map_key_must_be_a_string() {
        let bytes = [0x81, 0x01, 0x02];
        let err = Decoder::new(&bytes, &[])
            .read_map_by_key(|_, dec| dec.skip_value())
            .unwrap_err();
        assert!(
            matches!(
                err,
                K::WrongType {
                    expected: "string",
                    ..
                }
            ),
            "{err:?}"
        );
    }
}
