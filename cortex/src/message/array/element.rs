//! The Rust element types of arrays, and the [`DynArray`] variant of each.

use std::fmt;

use bytes::Bytes;

use super::descriptor::ArrayDesc;
use super::{DType, NdArray};
use crate::codec::DecodeErrorKind;

mod sealed {
    pub trait Sealed {}
}

/// An array element type: `u8 i8 u16 i16 u32 i32 u64 i64 f32 f64 bool`.
pub trait Element:
    sealed::Sealed + bytemuck::NoUninit + PartialEq + fmt::Debug + Send + Sync + 'static
{
    /// The numpy dtype.
    const DTYPE: DType;

    /// Checks that `bytes` hold valid values (only `bool` restricts them).
    #[doc(hidden)]
    fn validate(bytes: &[u8]) -> Result<(), DecodeErrorKind> {
        let _ = bytes;
        Ok(())
    }

    /// Copies little-endian bytes into an aligned vector.
    #[doc(hidden)]
    fn copy_from_bytes(bytes: &[u8]) -> Result<Vec<Self>, DecodeErrorKind>;

    /// Wraps a typed array as a [`DynArray`].
    #[doc(hidden)]
    fn into_dyn(array: NdArray<Self>) -> DynArray;

    /// The typed array inside a [`DynArray`] of this element type.
    #[doc(hidden)]
    fn from_dyn(array: DynArray) -> Result<NdArray<Self>, DynArray>;

    /// Borrows the typed array inside a [`DynArray`] of this element type.
    #[doc(hidden)]
    fn from_dyn_ref(array: &DynArray) -> Option<&NdArray<Self>>;
}

macro_rules! elements {
    ($($t:ident => $variant:ident),* $(,)?) => {
        /// An array of any element type: what a field holds when the
        /// dtype is only known at run time (the standard messages use it).
        #[derive(Clone, PartialEq)]
        pub enum DynArray {
            $(
                #[doc = concat!("`NdArray<", stringify!($t), ">`")]
                $variant(NdArray<$t>),
            )*
        }

        impl DynArray {
            /// The element type.
            pub fn dtype(&self) -> DType {
                match self { $(DynArray::$variant(_) => DType::$variant,)* }
            }

            /// The shape.
            pub fn shape(&self) -> &[usize] {
                match self { $(DynArray::$variant(a) => a.shape(),)* }
            }

            /// The raw little-endian bytes.
            pub fn as_bytes(&self) -> &[u8] {
                match self { $(DynArray::$variant(a) => a.as_bytes(),)* }
            }

            /// Whether the data borrows a received frame (no copy was made).
            pub fn is_borrowed(&self) -> bool {
                match self { $(DynArray::$variant(a) => a.is_borrowed(),)* }
            }

            pub(super) fn to_shared_bytes(&self) -> Bytes {
                match self { $(DynArray::$variant(a) => a.to_shared_bytes(),)* }
            }

            pub(super) fn from_desc(desc: ArrayDesc) -> Result<Self, DecodeErrorKind> {
                match desc.dtype {
                    $(DType::$variant => NdArray::<$t>::from_desc(desc).map(DynArray::$variant),)*
                }
            }
        }

        impl fmt::Debug for DynArray {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self { $(DynArray::$variant(a) => a.fmt(f),)* }
            }
        }

        $(
            impl sealed::Sealed for $t {}
            impl Element for $t {
                const DTYPE: DType = DType::$variant;
                fn copy_from_bytes(bytes: &[u8]) -> Result<Vec<Self>, DecodeErrorKind> {
                    elements!(@copy $t, bytes)
                }
                fn validate(bytes: &[u8]) -> Result<(), DecodeErrorKind> {
                    elements!(@validate $t, bytes)
                }
                fn into_dyn(array: NdArray<Self>) -> DynArray {
                    DynArray::$variant(array)
                }
                fn from_dyn(array: DynArray) -> Result<NdArray<Self>, DynArray> {
                    match array {
                        DynArray::$variant(a) => Ok(a),
                        other => Err(other),
                    }
                }
                fn from_dyn_ref(array: &DynArray) -> Option<&NdArray<Self>> {
                    match array {
                        DynArray::$variant(a) => Some(a),
                        _ => None,
                    }
                }
            }
        )*
    };
    (@copy bool, $bytes:ident) => {{
        bool::validate($bytes)?;
        Ok($bytes.iter().map(|b| *b == 1).collect())
    }};
    (@copy $t:ident, $bytes:ident) => {
        Ok(bytemuck::pod_collect_to_vec::<u8, $t>($bytes))
    };
    (@validate bool, $bytes:ident) => {
        match $bytes.iter().find(|b| **b > 1) {
            Some(b) => Err(DecodeErrorKind::InvalidBool(*b)),
            None => Ok(()),
        }
    };
    (@validate $t:ident, $bytes:ident) => {{
        let _ = $bytes;
        Ok(())
    }};
}

elements! {
    u8 => U8, i8 => I8, u16 => U16, i16 => I16, u32 => U32, i32 => I32,
    u64 => U64, i64 => I64, f32 => F32, f64 => F64, bool => Bool,
}
