//! The element types of arrays, with their numpy spelling.

use std::fmt;

/// The element types an array may hold, with their numpy spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    /// `|u1`
    U8,
    /// `|i1`
    I8,
    /// `<u2`
    U16,
    /// `<i2`
    I16,
    /// `<u4`
    U32,
    /// `<i4`
    I32,
    /// `<u8`
    U64,
    /// `<i8`
    I64,
    /// `<f4`
    F32,
    /// `<f8`
    F64,
    /// `|b1`
    Bool,
}

impl DType {
    const ALL: [DType; 11] = [
        DType::U8,
        DType::I8,
        DType::U16,
        DType::I16,
        DType::U32,
        DType::I32,
        DType::U64,
        DType::I64,
        DType::F32,
        DType::F64,
        DType::Bool,
    ];

    /// The numpy dtype string (`<f4`).
    pub const fn as_str(self) -> &'static str {
        match self {
            DType::U8 => "|u1",
            DType::I8 => "|i1",
            DType::U16 => "<u2",
            DType::I16 => "<i2",
            DType::U32 => "<u4",
            DType::I32 => "<i4",
            DType::U64 => "<u8",
            DType::I64 => "<i8",
            DType::F32 => "<f4",
            DType::F64 => "<f8",
            DType::Bool => "|b1",
        }
    }

    /// The Rust element type (`f32`).
    pub const fn rust_name(self) -> &'static str {
        match self {
            DType::U8 => "u8",
            DType::I8 => "i8",
            DType::U16 => "u16",
            DType::I16 => "i16",
            DType::U32 => "u32",
            DType::I32 => "i32",
            DType::U64 => "u64",
            DType::I64 => "i64",
            DType::F32 => "f32",
            DType::F64 => "f64",
            DType::Bool => "bool",
        }
    }

    /// Bytes per element.
    pub const fn itemsize(self) -> usize {
        match self {
            DType::U8 | DType::I8 | DType::Bool => 1,
            DType::U16 | DType::I16 => 2,
            DType::U32 | DType::I32 | DType::F32 => 4,
            DType::U64 | DType::I64 | DType::F64 => 8,
        }
    }

    /// Parses a numpy dtype string. One-byte types accept any byte-order
    /// character (`|u1`, `<u1`, `=u1`); wider ones must be little-endian
    /// (`<`) or native (`=`, which is little-endian on every supported host).
    pub fn parse(s: &str) -> Option<DType> {
        let (order, code) = s.split_at_checked(1)?;
        DType::ALL.into_iter().find(|d| {
            let own = d.as_str();
            own[1..] == *code
                && (order == &own[..1]
                    || order == "="
                    || (d.itemsize() == 1 && matches!(order, "<" | ">" | "|")))
        })
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
