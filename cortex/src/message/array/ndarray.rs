//! Typed n-dimensional arrays.

use std::fmt;
use std::mem::{align_of, size_of};
use std::sync::Arc;

use bytes::Bytes;

use super::descriptor::{read_desc, write_desc, ArrayDesc};
use super::Element;
use crate::codec::{DecodeError, DecodeErrorKind, Decoder, EncodeError, Encoder};
use crate::message::fingerprint::{combine, hash_str};
use crate::message::Field;

/// A shape that does not fit the data, or cannot be counted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShapeError {
    /// The shape's product is not the data length.
    #[error("shape {shape:?} holds {expected} elements but the data has {len}; pass a shape whose product equals the data length")]
    Mismatch {
        /// The requested shape.
        shape: Vec<usize>,
        /// The product of the shape.
        expected: usize,
        /// The data length.
        len: usize,
    },
    /// The shape's product does not fit in `usize`.
    #[error("shape {shape:?} has more elements than usize can count; check its dimensions")]
    Overflow {
        /// The requested shape.
        shape: Vec<usize>,
    },
}

/// The number of elements of `shape`, checked.
fn element_count(shape: &[usize]) -> Result<usize, ShapeError> {
    shape
        .iter()
        .try_fold(1usize, |acc, d| acc.checked_mul(*d))
        .ok_or_else(|| ShapeError::Overflow {
            shape: shape.to_vec(),
        })
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
        let expected = element_count(&shape)?;
        if expected != data.len() {
            return Err(ShapeError::Mismatch {
                shape,
                expected,
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
        let n = element_count(&shape)?;
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

    /// An array viewing `buffer` (no copy): `None` unless the buffer is
    /// aligned for `T`, holds exactly the shape's elements, and holds valid
    /// values. Used for arrays lent from shared memory.
    pub(crate) fn from_shared(buffer: Bytes, shape: Vec<usize>) -> Option<Self> {
        let n = element_count(&shape).ok()?;
        let fits = n.checked_mul(size_of::<T>()) == Some(buffer.len());
        let aligned = (buffer.as_ptr() as usize).is_multiple_of(align_of::<T>());
        (fits && aligned && T::validate(&buffer).is_ok()).then(|| NdArray {
            shape,
            data: Storage::Frame(buffer),
        })
    }

    /// The data as a shared handle for an OOB frame (no copy).
    pub(crate) fn to_shared_bytes(&self) -> Bytes {
        match &self.data {
            Storage::Owned(v) => Bytes::from_owner(SharedVec(Arc::clone(v))),
            Storage::Frame(b) => b.clone(),
        }
    }

    pub(super) fn from_desc(desc: ArrayDesc) -> Result<Self, DecodeErrorKind> {
        if desc.dtype != T::DTYPE {
            return Err(DecodeErrorKind::DtypeMismatch {
                expected: T::DTYPE.rust_name(),
                found: desc.dtype.as_str().into(),
            });
        }
        let aligned = (desc.buffer.as_ptr() as usize).is_multiple_of(align_of::<T>());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_errors_say_what_is_wrong() {
        let err = NdArray::new(vec![1u8, 2, 3], [2, 2]).unwrap_err();
        assert_eq!(
            err,
            ShapeError::Mismatch {
                shape: vec![2, 2],
                expected: 4,
                len: 3
            }
        );
        let err = NdArray::full([usize::MAX, 2], 0u8).unwrap_err();
        assert_eq!(
            err,
            ShapeError::Overflow {
                shape: vec![usize::MAX, 2]
            }
        );
        assert!(err
            .to_string()
            .contains("more elements than usize can count"));
        assert_eq!(NdArray::full([2, 3], 7u8).unwrap().len(), 6);
    }
}
