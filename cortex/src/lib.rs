//! cortex: typed, zero-copy pub/sub over ZeroMQ for robotics and ML systems.
//!
//! Derive a message, publish it, receive it typed:
//!
//! ```
//! use cortex::prelude::*;
//!
//! #[derive(Message, Debug, Clone, PartialEq)]
//! pub struct Image {
//!     pub data: NdArray<u8>, // rides as its own frame: zero-copy
//!     pub encoding: String,
//!     pub width: u32,
//!     pub height: u32,
//! }
//!
//! let img = Image {
//!     data: NdArray::new(vec![0u8; 4 * 3 * 3], [4, 3, 3]).unwrap(),
//!     encoding: "rgb8".into(),
//!     width: 3,
//!     height: 4,
//! };
//! let encoded = img.encode(0).unwrap();
//! let (back, header) = Image::decode(&encoded.to_frames()).unwrap();
//! assert_eq!(back, img);
//! assert_eq!(header.fingerprint, Image::FINGERPRINT);
//! ```
#![warn(missing_docs)]
#![doc(test(attr(deny(warnings))))]

// Lets generated code say `::cortex::...` inside this crate too.
extern crate self as cortex;

pub mod codec;
pub mod discovery;
pub mod message;
pub mod transport;

pub use codec::{DecodeError, EncodeError, Header};
pub use message::standard as messages;
pub use message::{DType, DynArray, Element, Field, Message, NdArray, Schema, ShapeError, Value};

/// Derives [`Message`](trait@Message): wire encoding, a compile-time
/// fingerprint and a schema.
///
/// Container options, in `#[cortex(...)]`:
/// - `python = "pkg.module.Class"`: use the Python cortex's fingerprint rule
///   for that class (for interop with Python types); the advertised type name
///   becomes `Class`.
/// - `fingerprint = 0x...`: an explicit fingerprint.
///
/// Field options:
/// - `serde`: encode the field through serde (any `Serialize + Deserialize`
///   type; structs become msgpack maps).
/// - `python_type = "..."`: the Python annotation used by the Python rule
///   when it can't be inferred from the Rust type.
///
/// ```compile_fail
/// use cortex::prelude::*;
///
/// #[derive(Message)]
/// struct Bad {
///     when: std::time::Instant, // not a message field type
/// }
/// ```
pub use cortex_derive::Message;

/// The names most programs need.
pub mod prelude {
    pub use crate::{DynArray, Header, Message, NdArray, Value};
}

/// Used by generated code; not a public API.
#[doc(hidden)]
pub mod __private;
