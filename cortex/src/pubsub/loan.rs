//! Arrays lent from a publisher's shared memory: the producer writes the
//! data where subscribers will read it, so publishing copies nothing.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use bytes::Bytes;

use super::shm::LoanBuf;
use crate::message::Element;

/// A writable array for one message, from
/// [`Publisher::loan_array`](super::Publisher::loan_array).
///
/// Derefs to `[E]` (row-major, `shape` given at the loan). When the
/// publisher has shared-memory subscribers, the elements live in a
/// shared-memory sample and
/// [`publish_loan`](super::Publisher::publish_loan) sends that sample
/// without copying the array; otherwise they live on the heap (zeroed) and
/// publishing works as for any `NdArray`. The initial contents of a
/// shared-memory loan are unspecified (zero or left from an earlier
/// message): write every element.
pub struct Loan<E: Element + bytemuck::Pod> {
    pub(super) store: Store<E>,
    pub(super) shape: Vec<usize>,
}

pub(super) enum Store<E> {
    Shared(LoanBuf),
    Heap(Vec<E>),
}

impl<E: Element + bytemuck::Pod> Loan<E> {
    /// The shape asked for.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Whether the elements are in shared memory (publishing them then
    /// copies nothing).
    pub fn is_shared_memory(&self) -> bool {
        matches!(self.store, Store::Shared(_))
    }
}

impl<E: Element + bytemuck::Pod> Deref for Loan<E> {
    type Target = [E];

    fn deref(&self) -> &[E] {
        match &self.store {
            // The sample's array starts 64-byte aligned and holds exactly
            // the shape's elements (`Publisher::loan_array`).
            Store::Shared(buf) => bytemuck::cast_slice(buf.bytes()),
            Store::Heap(v) => v,
        }
    }
}

impl<E: Element + bytemuck::Pod> DerefMut for Loan<E> {
    fn deref_mut(&mut self) -> &mut [E] {
        match &mut self.store {
            Store::Shared(buf) => bytemuck::cast_slice_mut(buf.bytes_mut()),
            Store::Heap(v) => v,
        }
    }
}

impl<E: Element + bytemuck::Pod> std::fmt::Debug for Loan<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loan")
            .field("shape", &self.shape)
            .field("shared_memory", &self.is_shared_memory())
            .finish_non_exhaustive()
    }
}

/// A loaned sample as the owner of the `Bytes` an `NdArray` views.
pub(super) struct LoanView(pub(super) Arc<LoanBuf>);

impl AsRef<[u8]> for LoanView {
    fn as_ref(&self) -> &[u8] {
        self.0.bytes()
    }
}

/// The bytes of a loaned sample, sharing it.
pub(super) fn view(buf: &Arc<LoanBuf>) -> Bytes {
    Bytes::from_owner(LoanView(Arc::clone(buf)))
}
