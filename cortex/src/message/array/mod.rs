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
//!
//! One concept per file: [`DType`] (the numpy element types),
//! [`Element`] (the Rust types that map to them), [`NdArray`] (a typed
//! array), [`DynArray`] (an array of any element type), and the wire
//! descriptor that links an array field to its out-of-band frame.

mod descriptor;
mod dtype;
mod dyn_array;
mod element;
mod ndarray;

pub(crate) use descriptor::read_dyn;
pub use dtype::DType;
pub use dyn_array::DynArray;
pub use element::Element;
pub use ndarray::{NdArray, ShapeError};

#[cfg(not(target_endian = "little"))]
compile_error!("cortex arrays are little-endian on the wire; big-endian targets are not supported");
