//! Arrays whose element type is known only at run time.

use super::descriptor::{read_dyn, write_desc};
use super::{Element, NdArray};
use crate::codec::{DecodeError, Decoder, EncodeError, Encoder};
use crate::message::fingerprint::hash_str;
use crate::message::Field;

pub use super::element::DynArray;

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
