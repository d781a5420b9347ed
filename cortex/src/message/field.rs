//! [`Field`] for the built-in types.

use super::fingerprint::{combine, hash_str};
use super::Field;
use crate::codec::{DecodeError, DecodeErrorKind, Decoder, EncodeError, Encoder};

impl Field for bool {
    const TYPE_HASH: u64 = hash_str("bool");
    fn type_name() -> String {
        "bool".into()
    }
    fn write(&self, enc: &mut Encoder) -> Result<(), EncodeError> {
        enc.write_bool(*self);
        Ok(())
    }
    fn read(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Ok(dec.read_bool()?)
    }
}

macro_rules! int_field {
    ($($t:ident => $write:ident as $wide:ty),* $(,)?) => {$(
        impl Field for $t {
            const TYPE_HASH: u64 = hash_str(stringify!($t));
            fn type_name() -> String {
                stringify!($t).into()
            }
            fn write(&self, enc: &mut Encoder) -> Result<(), EncodeError> {
                enc.$write(*self as $wide);
                Ok(())
            }
            fn read(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
                Ok(dec.read_int()?.convert::<$t>(stringify!($t))?)
            }
        }
    )*};
}

int_field! {
    i8 => write_i64 as i64, i16 => write_i64 as i64, i32 => write_i64 as i64,
    i64 => write_i64 as i64, isize => write_i64 as i64,
    u16 => write_u64 as u64, u32 => write_u64 as u64, u64 => write_u64 as u64,
    usize => write_u64 as u64,
}

// `u8` is separate: a sequence of `u8` is a byte blob (msgpack bin).
impl Field for u8 {
    const TYPE_HASH: u64 = hash_str("u8");
    const SEQ_TYPE_HASH: u64 = hash_str("bytes");
    fn type_name() -> String {
        "u8".into()
    }
    fn write(&self, enc: &mut Encoder) -> Result<(), EncodeError> {
        enc.write_u64(*self as u64);
        Ok(())
    }
    fn read(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Ok(dec.read_int()?.convert::<u8>("u8")?)
    }
    fn seq_type_name() -> String {
        "bytes".into()
    }
    fn write_seq(items: &[Self], enc: &mut Encoder) -> Result<(), EncodeError> {
        enc.write_bin(items)
    }
    fn read_seq(dec: &mut Decoder<'_>) -> Result<Vec<Self>, DecodeError> {
        Ok(dec.read_bin()?.to_vec())
    }
}

impl Field for f32 {
    const TYPE_HASH: u64 = hash_str("f32");
    fn type_name() -> String {
        "f32".into()
    }
    fn write(&self, enc: &mut Encoder) -> Result<(), EncodeError> {
        enc.write_f32(*self);
        Ok(())
    }
    fn read(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Ok(dec.read_f64()? as f32)
    }
}

impl Field for f64 {
    const TYPE_HASH: u64 = hash_str("f64");
    fn type_name() -> String {
        "f64".into()
    }
    fn write(&self, enc: &mut Encoder) -> Result<(), EncodeError> {
        enc.write_f64(*self);
        Ok(())
    }
    fn read(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Ok(dec.read_f64()?)
    }
}

impl Field for String {
    const TYPE_HASH: u64 = hash_str("String");
    fn type_name() -> String {
        "String".into()
    }
    fn write(&self, enc: &mut Encoder) -> Result<(), EncodeError> {
        enc.write_str(self)
    }
    fn read(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Ok(dec.read_str()?.to_owned())
    }
}

impl<T: Field> Field for Vec<T> {
    const TYPE_HASH: u64 = T::SEQ_TYPE_HASH;
    fn type_name() -> String {
        T::seq_type_name()
    }
    fn write(&self, enc: &mut Encoder) -> Result<(), EncodeError> {
        T::write_seq(self, enc)
    }
    fn read(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        T::read_seq(dec)
    }
}

impl<T: Field, const N: usize> Field for [T; N] {
    const TYPE_HASH: u64 = combine(hash_str("array"), &[T::SEQ_TYPE_HASH, N as u64]);
    fn type_name() -> String {
        format!("[{}; {N}]", T::type_name())
    }
    fn write(&self, enc: &mut Encoder) -> Result<(), EncodeError> {
        T::write_seq(self, enc)
    }
    fn read(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let v = T::read_seq(dec)?;
        let found = v.len();
        v.try_into()
            .map_err(|_| DecodeError::from(DecodeErrorKind::Length { expected: N, found }))
    }
}

impl<T: Field> Field for Option<T> {
    const TYPE_HASH: u64 = combine(hash_str("Option"), &[T::TYPE_HASH]);
    fn type_name() -> String {
        format!("Option<{}>", T::type_name())
    }
    fn write(&self, enc: &mut Encoder) -> Result<(), EncodeError> {
        match self {
            Some(v) => v.write(enc),
            None => {
                enc.write_nil();
                Ok(())
            }
        }
    }
    fn read(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        if dec.read_nil()? {
            Ok(None)
        } else {
            T::read(dec).map(Some)
        }
    }
}

macro_rules! map_field {
    ($($map:ident { $($bound:tt)* }),* $(,)?) => {$(
        /// A msgpack map with string keys (a Python `dict`).
        impl<T: Field> Field for $map<String, T> where String: $($bound)* {
            const TYPE_HASH: u64 = combine(hash_str("Map"), &[T::TYPE_HASH]);
            fn type_name() -> String {
                format!("{}<String, {}>", stringify!($map), T::type_name())
            }
            fn write(&self, enc: &mut Encoder) -> Result<(), EncodeError> {
                enc.write_map_len(self.len())?;
                for (k, v) in self {
                    enc.write_str(k)?;
                    v.write(enc)?;
                }
                Ok(())
            }
            fn read(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
                let n = dec.read_map_len()?;
                dec.enter()?;
                let mut out = $map::default();
                for _ in 0..n {
                    let k = dec.read_str()?.to_owned();
                    let v = T::read(dec)?;
                    out.insert(k, v);
                }
                dec.leave();
                Ok(out)
            }
        }
    )*};
}

use std::collections::{BTreeMap, HashMap};

use indexmap::IndexMap;

map_field! {
    IndexMap { std::hash::Hash + Eq },
    HashMap { std::hash::Hash + Eq },
    BTreeMap { Ord },
}
