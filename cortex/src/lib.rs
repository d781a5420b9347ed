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
//!
//! # Layers
//!
//! Each module uses only those above it in this list (`cortex/tests/layers.rs`
//! checks it):
//!
//! ```text
//! codec      bytes ↔ values: header, the msgpack reader and writer, errors
//!   ↓
//! message    Message and Field, NdArray/DynArray, Value, standard messages
//!   ↓
//! io         ZeroMQ on tokio (AsyncSocket), zero-copy frames, socket files
//!   ↓
//! discovery  protocol, client, daemon
//!   ↓
//! pubsub     Publisher, Subscriber, queues, sequence tracking, latched
//!            topics (+ Error); service: ServiceServer, ServiceClient
//!            (the same layer: request/response beside publish/subscribe)
//!   ↓
//! node       Node, handlers (#[subscribe], #[timer], #[service]),
//!            Ctx::call, #[cortex::main] support
//! ```
//!
//! The `cortex` command-line tool is its own crate (`cortex-cli`), on top.
#![warn(missing_docs)]
#![doc(test(attr(deny(warnings), allow(dead_code))))]

// Lets generated code say `::cortex::...` inside this crate too.
extern crate self as cortex;

pub mod codec;
pub mod discovery;
mod error;
pub mod io;
pub mod message;
pub mod node;
pub mod pubsub;
pub mod service;

/// Re-exported: received frames are [`bytes::Bytes`] (see [`Message::decode`]).
pub use bytes;
pub use codec::{DecodeError, EncodeError, Header};
pub use error::{Error, Result};
/// Re-exported: map fields and some standard messages use [`indexmap::IndexMap`].
pub use indexmap;
pub use message::standard as messages;
pub use message::{DType, DynArray, Element, Field, Message, NdArray, Schema, ShapeError, Value};
pub use node::{Ctx, Node, NodeConfig, NodeStats, Topic};
pub use pubsub::{Publisher, PublisherId, Subscriber};
pub use service::{Service, ServiceClient};
/// Re-exported: [`Publisher::bind`] and [`Subscriber::connect`] take a [`zmq::Context`].
pub use zmq;

/// Derives [`Message`](trait@Message): wire encoding, a compile-time
/// fingerprint and a schema.
///
/// Container options, in `#[cortex(...)]`:
/// - `python = "pkg.module.Class"`: the fingerprint a Python cortex node
///   sends for that class (a hash of the path only), and, as
///   [`Message::ALTERNATE_FINGERPRINT`], the structural one (path plus
///   fields) a fixed Python cortex would send; the advertised type name
///   becomes `Class`. Fields are not covered: a Python class with other
///   fields fails at decode, naming the field.
/// - `fingerprint = 0x...`: an explicit fingerprint.
///
/// Field options:
/// - `serde`: encode the field through serde (any `Serialize + Deserialize`
///   type; structs become msgpack maps).
/// - `python_type = "..."`: the field's Python annotation, for the
///   structural fingerprint, when it can't be inferred from the Rust type.
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

/// Calls an async function for every message on a topic.
///
/// ```ignore
/// #[subscribe("/sensor/camera", queue = 4, publishes(PROCESSED))]
/// async fn on_image(img: Image, header: Header, ctx: Ctx) -> cortex::Result<()> { ... }
/// ```
///
/// Arguments are told apart by their types, never their names, in any
/// order: the message, owned (the one argument whose type implements
/// [`Message`]), and optionally [`Header`], [`PublisherId`] (which of the
/// topic's publishers sent it) and [`Ctx`]. So a message of
/// your own named `Header` (a ROS-style `my_msgs::Header`) or `Ctx` is the
/// message, and `type H = cortex::Header;` is the header. A wrong argument
/// is a compile error at that argument, as are two message arguments or
/// none.
///
/// ```no_run
/// use cortex::prelude::*;
///
/// mod my_msgs {
///     #[derive(cortex::Message)]
///     pub struct Header {
///         pub frame_id: String,
///     }
/// }
///
/// #[subscribe("/frames")]
/// async fn on_frame(header: Header, msg: my_msgs::Header) {
///     println!("{} #{}", msg.frame_id, header.sequence);
/// }
/// # fn main() {}
/// ```
///
/// Returns `()` or `Result<(), E: Display>`;
/// errors and panics are logged with topic and type, counted, and the node
/// keeps running. Messages of one subscription are handled one at a time,
/// in order; a slow handler does not stall other subscriptions.
///
/// Options: `queue = N` (receive queue depth), `node = "name"` (binaries
/// with several nodes), `publishes(TOPIC, ...)` (topics this handler
/// publishes on: advertised before the node starts).
///
/// Handlers in a library crate are linked only if the binary uses that crate.
///
/// ```compile_fail
/// use cortex::prelude::*;
///
/// #[subscribe("/count")]
/// async fn on_count(n: u32) {} // `u32` is not a message: derive one
/// # fn main() {}
/// ```
pub use cortex_derive::subscribe;

/// Answers the calls of a service with an async function.
///
/// ```no_run
/// use cortex::prelude::*;
/// # #[derive(Message)] pub struct SetMode { pub mode: String }
/// # #[derive(Message)] pub struct SetModeReply { pub previous: String }
/// pub const SET_MODE: Service<SetMode, SetModeReply> = Service::new("/arm/set_mode");
///
/// #[service("/arm/set_mode")]
/// async fn set_mode(req: SetMode, ctx: Ctx) -> cortex::Result<SetModeReply> {
///     tracing::info!(node = ctx.node().name(), mode = %req.mode, "set mode");
///     Ok(SetModeReply { previous: req.mode })
/// }
///
/// // Elsewhere, in any handler: `ctx.call(&SET_MODE, request).await?`.
/// # fn main() {}
/// ```
///
/// The function takes the request (a message) and optionally [`Ctx`], and
/// returns `Result<Reply, E>` with `E: Display`: an error goes back to the
/// caller as [`Error::ServiceFailed`] with its text. Calls are handled
/// concurrently, each in a task of its own. Options: `node = "name"`,
/// `publishes(TOPIC, ...)` as for [`subscribe`](macro@subscribe). The
/// service is registered with discovery while the node runs (see
/// [`service`](mod@crate::service) for how callers find and call it).
pub use cortex_derive::service;

/// Calls an async function on a fixed-rate timer: `#[timer(hz = 30)]` or
/// `#[timer(period_ms = 100)]`, plus `node` and `publishes` as for
/// [`subscribe`](macro@subscribe). The function takes nothing or a [`Ctx`]
/// (checked by type: an alias works). The period is at most a year; a
/// longer one, or a `period_ms` whose nanoseconds overflow, is a compile
/// error.
///
/// Ticks stay on a fixed grid. When a handler overruns, the ticks it ran
/// past are skipped and counted in [`NodeStats::missed_ticks`], never fired
/// back to back.
///
/// ```compile_fail
/// use cortex::prelude::*;
///
/// #[timer(period_ms = 100)]
/// async fn tick(n: u32) {} // a timer has nothing to pass but a `Ctx`
/// # fn main() {}
/// ```
pub use cortex_derive::timer;

/// The entry point: builds the tokio runtime and the [`Node`], then runs.
///
/// `async fn main()` runs its body, then every registered handler until
/// Ctrl-C or SIGTERM. `async fn main(node: Node) -> cortex::Result<()>`
/// hands over the node: call `node.run().await` yourself. Whether there is
/// an argument decides the form; its type must be [`Node`] (or an alias of
/// it), which is checked by type, not by name.
/// Options: `name = "node"` (default: the executable's name),
/// `worker_threads = N`, `discovery = "ipc://..."`, `logging = false`
/// (install no `tracing` subscriber; see [`node::MainOptions::logging`]).
///
/// ```compile_fail
/// struct Node; // not cortex's
///
/// #[cortex::main]
/// async fn main(node: Node) -> cortex::Result<()> {
///     Ok(())
/// }
/// ```
pub use cortex_derive::main;

/// The names most programs need.
pub mod prelude {
    pub use crate::{
        service, subscribe, timer, Ctx, DynArray, Header, Message, NdArray, Node, NodeConfig,
        PublisherId, Service, Topic, Value,
    };
}

/// The README's examples, compiled as doc tests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

/// Used by generated code; not a public API.
#[doc(hidden)]
pub mod __private;
