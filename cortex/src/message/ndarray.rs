//! N-dimensional arrays that travel as their own ZeroMQ frame.
//!
//! **Sending** hands the array's buffer to the encoder as a shared
//! [`Bytes`] handle: no copy of the payload is made, the frame refers to the
//! same memory (see `crate::io::OutFrame` for the hand-off to libzmq).
//!
//! **Receiving** keeps the received frame and views it as `&[T]` when the
//! frame's address is aligned for `T` (zero-copy). libzmq does not
//! guarantee alignment (small and mid-sized frames land at arbitrary
//! offsets of a shared buffer), so a misaligned frame is copied once into an
//! aligned `Vec<T>`. [`NdArray::is_borrowed`] tells which happened.

use std::fmt;
use std::mem::{align_of, size_of};
use std::sync::Arc;

use bytes::Bytes;

use super::fingerprint::{combine, hash_str};
use super::Field;
use crate::codec::{
    DecodeError, DecodeErrorKind, DecodeErrorKind as K, Decoder, EncodeError, Encoder,
    MAX_PREALLOC, OOB_KEY,
};

#[cfg(not(target_endian = "little"))]
compile_error!("cortex arrays are little-endian on the wire; big-endian targets are not supported");

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

            fn to_shared_bytes(&self) -> Bytes {
                match self { $(DynArray::$variant(a) => a.to_shared_bytes(),)* }
            }

            fn from_desc(desc: ArrayDesc) -> Result<Self, DecodeErrorKind> {
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

impl DynArray {
    /// Borrows the typed array if the element type is `T`.
    pub fn get<T: Element>(&self) -> Option<&NdArray<T>> {
        T::from_dyn_ref(self)
    }

    /// The typed array if the element type is `T`, else `self` back.
    pub fn into_typed<T: Element>(self) -> Result<NdArray<T>, DynArray> {
        T::from_dyn(self)
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.as_bytes().len() / self.dtype().itemsize()
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T: Element> From<NdArray<T>> for DynArray {
    fn from(array: NdArray<T>) -> Self {
        T::into_dyn(array)
    }
}

/// The data length does not match the shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("shape {shape:?} holds {expected} elements but the data has {len}; pass a shape whose product equals the data length")]
pub struct ShapeError {
    /// The requested shape.
    pub shape: Vec<usize>,
    /// The product of the shape (`None` on overflow).
    pub expected: String,
    /// The data length.
    pub len: usize,
}

#[derive(Debug)]
enum Storage<T> {
    /// Data this process made: shared so that sending needs no copy.
    Owned(Arc<Vec<T>>),
    /// A received frame, validated at construction (aligned for `T`,
    /// length a multiple of `size_of::<T>()`, valid values).
    Frame(Bytes),
}

/// An n-dimensional, C-contiguous array of `T` that rides as its own frame.
///
/// Cheap to clone (the data is shared). Derefs to `&[T]` (row-major).
pub struct NdArray<T: Element> {
    shape: Vec<usize>,
    data: Storage<T>,
}

impl<T: Element> NdArray<T> {
    /// An array of `shape` over `data` (row-major). Fails unless the shape's
    /// product equals `data.len()`. A shape of `[]` holds one element.
    pub fn new(data: Vec<T>, shape: impl Into<Vec<usize>>) -> Result<Self, ShapeError> {
        let shape = shape.into();
        let expected = shape.iter().try_fold(1usize, |acc, d| acc.checked_mul(*d));
        if expected != Some(data.len()) {
            return Err(ShapeError {
                expected: expected
                    .map_or_else(|| "an overflowing number of".into(), |e| e.to_string()),
                shape,
                len: data.len(),
            });
        }
        Ok(NdArray {
            shape,
            data: Storage::Owned(Arc::new(data)),
        })
    }

    /// A one-dimensional array.
    pub fn from_vec(data: Vec<T>) -> Self {
        NdArray {
            shape: vec![data.len()],
            data: Storage::Owned(Arc::new(data)),
        }
    }

    /// An array of `shape` with every element `value`.
    pub fn full(shape: impl Into<Vec<usize>>, value: T) -> Result<Self, ShapeError> {
        let shape = shape.into();
        let n = shape
            .iter()
            .try_fold(1usize, |acc, d| acc.checked_mul(*d))
            .ok_or_else(|| ShapeError {
                shape: shape.clone(),
                expected: "an overflowing number of".into(),
                len: 0,
            })?;
        Self::new(vec![value; n], shape)
    }

    /// The dimensions, outermost first.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Number of dimensions.
    pub fn ndim(&self) -> usize {
        self.shape.len()
    }

    /// The elements, row-major.
    pub fn as_slice(&self) -> &[T] {
        match &self.data {
            Storage::Owned(v) => v,
            Storage::Frame(b) => {
                // SAFETY: `from_desc` stores a frame only after checking that
                // its address is aligned for `T`, that its length is a multiple
                // of `size_of::<T>()`, and that every element is a valid `T`
                // (`Element::validate`). `Bytes` is immutable and this array
                // holds it, so the memory is valid and unchanged for `&self`.
                unsafe {
                    std::slice::from_raw_parts(b.as_ptr().cast::<T>(), b.len() / size_of::<T>())
                }
            }
        }
    }

    /// The elements, mutably. A received array, or one still shared with a
    /// message in flight, is copied first (copy-on-write).
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        if let Storage::Frame(_) = self.data {
            self.data = Storage::Owned(Arc::new(self.as_slice().to_vec()));
        }
        match &mut self.data {
            Storage::Owned(v) => Arc::make_mut(v).as_mut_slice(),
            Storage::Frame(_) => &mut [], // replaced just above
        }
    }

    /// The elements as a vector (no copy when not shared).
    pub fn into_vec(self) -> Vec<T> {
        match self.data {
            Storage::Owned(v) => Arc::try_unwrap(v).unwrap_or_else(|shared| shared.to_vec()),
            Storage::Frame(_) => self.as_slice().to_vec(),
        }
    }

    /// The raw little-endian bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match &self.data {
            Storage::Owned(v) => bytemuck::cast_slice(v.as_slice()),
            Storage::Frame(b) => b,
        }
    }

    /// Whether the data borrows a received frame (zero-copy receive).
    pub fn is_borrowed(&self) -> bool {
        matches!(self.data, Storage::Frame(_))
    }

    /// The element at a multi-dimensional index, if in bounds.
    pub fn get(&self, index: &[usize]) -> Option<&T> {
        self.flat_index(index).and_then(|i| self.as_slice().get(i))
    }

    fn flat_index(&self, index: &[usize]) -> Option<usize> {
        if index.len() != self.shape.len() {
            return None;
        }
        index
            .iter()
            .zip(&self.shape)
            .try_fold(0usize, |acc, (i, d)| (*i < *d).then(|| acc * d + i))
    }

    /// The data as a shared handle for an OOB frame (no copy).
    pub(crate) fn to_shared_bytes(&self) -> Bytes {
        match &self.data {
            Storage::Owned(v) => Bytes::from_owner(SharedVec(Arc::clone(v))),
            Storage::Frame(b) => b.clone(),
        }
    }

    fn from_desc(desc: ArrayDesc) -> Result<Self, DecodeErrorKind> {
        if desc.dtype != T::DTYPE {
            return Err(DecodeErrorKind::DtypeMismatch {
                expected: T::DTYPE.rust_name(),
                found: desc.dtype.as_str().into(),
            });
        }
        let aligned = (desc.buffer.as_ptr() as usize) % align_of::<T>() == 0;
        let data = if aligned {
            T::validate(&desc.buffer)?;
            Storage::Frame(desc.buffer)
        } else {
            Storage::Owned(Arc::new(T::copy_from_bytes(&desc.buffer)?))
        };
        Ok(NdArray {
            shape: desc.shape,
            data,
        })
    }
}

/// Keeps an array's vector alive for as long as a frame refers to it.
struct SharedVec<T>(Arc<Vec<T>>);

impl<T: Element> AsRef<[u8]> for SharedVec<T> {
    fn as_ref(&self) -> &[u8] {
        bytemuck::cast_slice(self.0.as_slice())
    }
}

impl<T: Element> std::ops::Deref for NdArray<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        self.as_slice()
    }
}

impl<T: Element, const D: usize> std::ops::Index<[usize; D]> for NdArray<T> {
    type Output = T;
    /// # Panics
    /// When the index is out of bounds or has the wrong number of dimensions,
    /// like slice indexing. Use [`NdArray::get`] to avoid the panic.
    fn index(&self, index: [usize; D]) -> &T {
        match self.get(&index) {
            Some(v) => v,
            None => panic!("index {index:?} out of bounds for shape {:?}", self.shape),
        }
    }
}

impl<T: Element> Clone for NdArray<T> {
    fn clone(&self) -> Self {
        NdArray {
            shape: self.shape.clone(),
            data: match &self.data {
                Storage::Owned(v) => Storage::Owned(Arc::clone(v)),
                Storage::Frame(b) => Storage::Frame(b.clone()),
            },
        }
    }
}

impl<T: Element> PartialEq for NdArray<T> {
    fn eq(&self, other: &Self) -> bool {
        self.shape == other.shape && self.as_slice() == other.as_slice()
    }
}

impl<T: Element> fmt::Debug for NdArray<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 8;
        let data = self.as_slice();
        write!(f, "NdArray<{}>{:?} [", T::DTYPE.rust_name(), self.shape)?;
        for (i, v) in data.iter().take(SHOWN).enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{v:?}")?;
        }
        if data.len() > SHOWN {
            write!(f, ", … {} more", data.len() - SHOWN)?;
        }
        f.write_str("]")
    }
}

/// A parsed `{"__cortex_oob__": "numpy", ...}` descriptor with its frame,
/// size-checked against the shape.
struct ArrayDesc {
    buffer: Bytes,
    dtype: DType,
    shape: Vec<usize>,
}

const OOB_KEY_BYTES: &[u8] = OOB_KEY.as_bytes();

fn write_desc(
    enc: &mut Encoder,
    dtype: DType,
    shape: &[usize],
    data: Bytes,
) -> Result<(), EncodeError> {
    let index = enc.push_oob(data);
    enc.write_map_len(4)?;
    enc.write_str(OOB_KEY)?;
    enc.write_str("numpy")?;
    enc.write_str("buffer")?;
    enc.write_u64(index as u64);
    enc.write_str("dtype")?;
    enc.write_str(dtype.as_str())?;
    enc.write_str("shape")?;
    enc.write_array_len(shape.len())?;
    for d in shape {
        enc.write_u64(*d as u64);
    }
    Ok(())
}

fn read_desc(dec: &mut Decoder<'_>) -> Result<ArrayDesc, DecodeErrorKind> {
    let (mut kind, mut index, mut dtype, mut shape) = (None, None, None, None);
    dec.read_map_by_key(|key, dec| {
        match key {
            OOB_KEY_BYTES => kind = Some(dec.read_str()?),
            b"buffer" => index = Some(dec.read_int()?.convert::<u64>("u64")?),
            b"dtype" => dtype = Some(dec.read_str()?),
            b"shape" => {
                let n = dec.read_array_len()?;
                let mut dims = Vec::with_capacity(n.min(MAX_PREALLOC));
                for _ in 0..n {
                    dims.push(dec.read_int()?.convert::<u64>("u64")?);
                }
                shape = Some(dims);
            }
            _ => dec.skip_value()?,
        }
        Ok::<(), DecodeErrorKind>(())
    })?;
    // `let ... else` rather than `ok_or(K::...)`: on this per-message path
    // an eagerly built error value is built and dropped for nothing.
    let Some(kind) = kind else {
        return Err(K::MissingKey(OOB_KEY));
    };
    if kind != "numpy" {
        return Err(K::UnknownOobKind(kind.into()));
    }
    let Some(index) = index else {
        return Err(K::MissingKey("buffer"));
    };
    let Some(dtype_str) = dtype else {
        return Err(K::MissingKey("dtype"));
    };
    let dtype = DType::parse(dtype_str).ok_or_else(|| K::UnknownDtype(dtype_str.into()))?;
    let Some(raw_shape) = shape else {
        return Err(K::MissingKey("shape"));
    };
    let overflow = || K::ShapeOverflow {
        shape: raw_shape.clone(),
        itemsize: dtype.itemsize(),
    };
    let shape = raw_shape
        .iter()
        .map(|d| usize::try_from(*d))
        .collect::<Result<Vec<usize>, _>>()
        .map_err(|_| overflow())?;
    let expected = shape
        .iter()
        .try_fold(dtype.itemsize(), |acc, d| acc.checked_mul(*d))
        .ok_or_else(overflow)?;
    let buffer = dec.oob(index)?;
    if buffer.len() != expected {
        return Err(K::BufferSize {
            shape,
            dtype: dtype.as_str(),
            expected,
            actual: buffer.len(),
        });
    }
    Ok(ArrayDesc {
        buffer,
        dtype,
        shape,
    })
}

/// Reads an array descriptor of any dtype.
pub(crate) fn read_dyn(dec: &mut Decoder<'_>) -> Result<DynArray, DecodeErrorKind> {
    DynArray::from_desc(read_desc(dec)?)
}

impl<T: Element> Field for NdArray<T> {
    const TYPE_HASH: u64 = combine(hash_str("NdArray"), &[hash_str(T::DTYPE.as_str())]);
    fn type_name() -> String {
        format!("NdArray<{}>", T::DTYPE.rust_name())
    }
    fn write(&self, enc: &mut Encoder) -> Result<(), EncodeError> {
        write_desc(enc, T::DTYPE, &self.shape, self.to_shared_bytes())
    }
    fn read(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Ok(NdArray::from_desc(read_desc(dec)?)?)
    }
}

impl Field for DynArray {
    const TYPE_HASH: u64 = hash_str("DynArray");
    fn type_name() -> String {
        "DynArray".into()
    }
    fn write(&self, enc: &mut Encoder) -> Result<(), EncodeError> {
        write_desc(enc, self.dtype(), self.shape(), self.to_shared_bytes())
    }
    fn read(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Ok(read_dyn(dec)?)
    }
}
