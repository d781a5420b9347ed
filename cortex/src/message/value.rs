//! A dynamically typed msgpack value, for Python `dict`/`list`/`Any` fields.

use super::array::read_dyn;
use super::fingerprint::hash_str;
use super::{DynArray, Field};
use crate::codec::{
    DecodeError, DecodeErrorKind, Decoder, EncodeError, Encoder, Int, ValueKind, MAX_PREALLOC,
};

/// Any value a Python peer may send: what `dict`, `list` and `Any` fields
/// hold. Maps keep their order, so re-encoding gives the same bytes.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// nil / `None`.
    Nil,
    /// A bool.
    Bool(bool),
    /// A signed integer (also non-negative values up to `i64::MAX`).
    Int(i64),
    /// An unsigned integer above `i64::MAX`.
    UInt(u64),
    /// A float (always written as float 64, as Python does).
    Float(f64),
    /// A UTF-8 string.
    Str(String),
    /// A byte blob.
    Bin(Vec<u8>),
    /// A list.
    List(Vec<Value>),
    /// A map, in wire order.
    Map(Vec<(Value, Value)>),
    /// A numpy array (travels as an out-of-band frame).
    NdArray(DynArray),
}

impl Value {
    /// The value under string key `key`, if this is a map that has it.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(entries) => entries
                .iter()
                .find(|(k, _)| matches!(k, Value::Str(s) if s == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The integer, if this is one that fits an `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(v) => Some(*v),
            _ => None,
        }
    }

    /// The float (integers convert).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Float(v) => Some(*v),
            Value::Int(v) => Some(*v as f64),
            Value::UInt(v) => Some(*v as f64),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The array, if this is one.
    pub fn as_array(&self) -> Option<&DynArray> {
        match self {
            Value::NdArray(a) => Some(a),
            _ => None,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.into())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(s)
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl From<DynArray> for Value {
    fn from(v: DynArray) -> Self {
        Value::NdArray(v)
    }
}

impl Field for Value {
    const TYPE_HASH: u64 = hash_str("Value");
    fn type_name() -> String {
        "Value".into()
    }
    fn write(&self, enc: &mut Encoder) -> Result<(), EncodeError> {
        match self {
            Value::Nil => enc.write_nil(),
            Value::Bool(b) => enc.write_bool(*b),
            Value::Int(v) => enc.write_i64(*v),
            Value::UInt(v) => enc.write_u64(*v),
            Value::Float(v) => enc.write_f64(*v),
            Value::Str(s) => enc.write_str(s)?,
            Value::Bin(b) => enc.write_bin(b)?,
            Value::List(items) => {
                enc.write_array_len(items.len())?;
                for item in items {
                    item.write(enc)?;
                }
            }
            Value::Map(entries) => {
                enc.write_map_len(entries.len())?;
                for (k, v) in entries {
                    k.write(enc)?;
                    v.write(enc)?;
                }
            }
            Value::NdArray(a) => a.write(enc)?,
        }
        Ok(())
    }
    fn read(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Ok(read_value(dec)?)
    }
}

fn read_value(dec: &mut Decoder<'_>) -> Result<Value, DecodeErrorKind> {
    Ok(match dec.peek_kind()? {
        ValueKind::Nil => {
            dec.read_nil()?;
            Value::Nil
        }
        ValueKind::Bool => Value::Bool(dec.read_bool()?),
        ValueKind::Int => match dec.read_int()? {
            Int::I(v) => Value::Int(v),
            Int::U(v) => i64::try_from(v).map_or(Value::UInt(v), Value::Int),
        },
        ValueKind::Float => Value::Float(dec.read_f64()?),
        ValueKind::Str => Value::Str(dec.read_str()?.to_owned()),
        ValueKind::Bin => Value::Bin(dec.read_bin()?.to_vec()),
        ValueKind::Array => {
            let n = dec.read_array_len()?;
            dec.enter()?;
            let mut items = Vec::with_capacity(n.min(MAX_PREALLOC));
            for _ in 0..n {
                items.push(read_value(dec)?);
            }
            dec.leave();
            Value::List(items)
        }
        ValueKind::Map if dec.at_array_descriptor()? => Value::NdArray(read_dyn(dec)?),
        ValueKind::Map => {
            let n = dec.read_map_len()?;
            dec.enter()?;
            let mut entries = Vec::with_capacity(n.min(MAX_PREALLOC));
            for _ in 0..n {
                let k = read_value(dec)?;
                entries.push((k, read_value(dec)?));
            }
            dec.leave();
            Value::Map(entries)
        }
        ValueKind::Other => {
            return Err(DecodeErrorKind::Unsupported(
                "msgpack ext or reserved marker",
            ))
        }
    })
}

impl std::fmt::Display for Value {
    /// JSON-like; arrays show dtype, shape and their first elements.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Nil => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(v) => write!(f, "{v}"),
            Value::UInt(v) => write!(f, "{v}"),
            Value::Float(v) => write!(f, "{v}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Bin(b) if b.len() <= 16 => write!(f, "bytes{b:02x?}"),
            Value::Bin(b) => write!(f, "bytes[{} B]", b.len()),
            Value::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Value::Map(entries) => {
                f.write_str("{")?;
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}: {v}")?;
                }
                f.write_str("}")
            }
            Value::NdArray(a) => write!(f, "{a:?}"),
        }
    }
}
