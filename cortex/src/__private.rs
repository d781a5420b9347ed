//! Support for the code that `cortex-derive` generates. Not a public API.

pub use crate::codec::{DecodeError, DecodeErrorKind, Decoder, EncodeError, Encoder};
pub use crate::message::fingerprint::{combine, hash_str};
pub use crate::message::{Field, FieldSchema, Message, Schema};
pub use crate::node::{
    advertise_nothing, run_main, run_service, run_subscriber, run_timer, BoxFuture, Handler,
    HandlerKind, HandlerOutput, MainOptions, Run,
};
pub use inventory;
pub use std::sync::OnceLock;
pub use std::{stringify, vec};

use std::marker::PhantomData;

use crate::pubsub::PublisherId;
use crate::{Ctx, Header, Node};

/// Writes the array header of a message with `fields` fields.
pub fn begin_write(enc: &mut Encoder, fields: usize) -> Result<(), EncodeError> {
    enc.write_array_len(fields)
}

/// Locates an encode error at `ty.name`.
pub fn located_write(
    r: Result<(), EncodeError>,
    ty: &'static str,
    name: &'static str,
) -> Result<(), EncodeError> {
    r.map_err(|e| e.in_field(ty, name))
}

/// Writes one `#[cortex(serde)]` field.
pub fn write_serde_field<T: serde::Serialize>(
    enc: &mut Encoder,
    ty: &'static str,
    name: &'static str,
    v: &T,
) -> Result<(), EncodeError> {
    enc.write_serde(v).map_err(|e| e.in_field(ty, name))
}

/// Reads the array header of a message whose fields are `fields`.
///
/// A count that differs from the declaration is the typical symptom of a
/// peer whose definition has other fields (a Python class is matched by
/// its path only): the error names the fields and what each received
/// value is.
pub fn begin_read(
    dec: &mut Decoder<'_>,
    ty: &'static str,
    fields: &'static [&'static str],
) -> Result<(), DecodeError> {
    let found = dec.read_array_len().map_err(|k| k.at_message(ty))?;
    if found < fields.len() {
        let kind = DecodeErrorKind::MissingValue {
            declared: fields,
            found: dec.describe_values(found),
        };
        return Err(DecodeError::from(kind).in_field(ty, fields[found]));
    }
    if found > fields.len() {
        let kind = DecodeErrorKind::ExtraValues {
            declared: fields,
            found: dec.describe_values(found),
        };
        return Err(kind.at_message(ty));
    }
    dec.enter().map_err(|k| k.at_message(ty))
}

/// Ends a message started with [`begin_read`].
pub fn end_read(dec: &mut Decoder<'_>) {
    dec.leave();
}

/// Locates a decode error at `ty.name`.
pub fn located_read<T>(
    r: Result<T, DecodeError>,
    ty: &'static str,
    name: &'static str,
) -> Result<T, DecodeError> {
    r.map_err(|e| e.in_field(ty, name))
}

/// Reads one `#[cortex(serde)]` field.
pub fn read_serde_field<T: serde::de::DeserializeOwned>(
    dec: &mut Decoder<'_>,
    ty: &'static str,
    name: &'static str,
) -> Result<T, DecodeError> {
    dec.read_serde()
        .map_err(|k| DecodeError::from(k).in_field(ty, name))
}

// Handler arguments, by type.
//
// `#[subscribe]`, `#[timer]` and `#[cortex::main]` never look at an
// argument's name or path: each argument's type is checked against a trait
// here, in code spanned at that argument, so a user's own `Header` message,
// a `type H = cortex::Header` alias, or a message named `Ctx` all work, and
// a wrong argument is underlined where it is written.
//
// For `async fn on_a(h: Header, a: A)` the generated run function reads
//
//     let __cortex_args = no_message();
//     let (__cortex_arg0, __cortex_args) = arg::<Header, _, _>(__cortex_args);
//     let (__cortex_arg1, __cortex_args) = arg::<A, _, _>(__cortex_args);
//     let __cortex_message = message(__cortex_args);
//     run_subscriber(ctx, run, move |msg, header, ctx| async move {
//         let mut __cortex_delivery = Delivery::new(__cortex_message, msg, header, ctx);
//         on_a(extract(&mut __cortex_delivery, __cortex_arg0),
//              extract(&mut __cortex_delivery, __cortex_arg1)).await
//     })
//
// `arg` finds each argument's kind (`SubscribeArg`) and folds it into the
// state (`Step`): no message yet, then the message; `message` requires one.
// Each mistake is one error, at the argument (or, for no message, at the
// argument list): an argument that is neither kind leaves its kind, and so
// every later state, unknown, and a second message makes the state an
// error type; either way the checks after it stay silent.

/// What an argument of a `#[subscribe]` handler is: it implements this
/// trait with `Kind` = [`IsMessage<Self>`] if it is a message (any type
/// that implements [`Message`]), with [`IsExtractor`] if it is an
/// [`Extractor`].
///
/// Both impls are blanket impls, so for every type the compiler weighs
/// both and, for a type that is neither, reports this trait (with the
/// message below) rather than assuming the type was meant as a message.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an argument of a #[subscribe] handler",
    label = "not a cortex message, `cortex::Header`, `cortex::PublisherId` or `cortex::Ctx`",
    note = "a #[subscribe] handler takes one message (a type that implements `cortex::Message`: derive it), and optionally `cortex::Header`, `cortex::PublisherId` and `cortex::Ctx`, in any order"
)]
pub trait SubscribeArg<Kind> {}

/// The kind of the message argument.
#[derive(Debug)]
pub struct IsMessage<T>(PhantomData<T>);

/// The kind of an [`Extractor`] argument.
#[derive(Debug)]
pub struct IsExtractor;

impl<T: Message> SubscribeArg<IsMessage<T>> for T {}

impl<E: Extractor> SubscribeArg<IsExtractor> for E {}

/// An argument of a `#[subscribe]` handler taken from the delivery rather
/// than the message: [`Header`], [`PublisherId`] and [`Ctx`].
pub trait Extractor: Sized {
    /// The argument for one delivery.
    fn extract<M>(delivery: &Delivery<M>) -> Self;
}

impl Extractor for Header {
    fn extract<M>(delivery: &Delivery<M>) -> Self {
        delivery.header
    }
}

impl Extractor for PublisherId {
    fn extract<M>(delivery: &Delivery<M>) -> Self {
        delivery.publisher.clone()
    }
}

impl Extractor for Ctx {
    fn extract<M>(delivery: &Delivery<M>) -> Self {
        delivery.ctx.clone()
    }
}

/// Fold state: no message argument so far.
#[derive(Debug)]
pub struct NoMessage;

/// Fold state: the message argument is `T`.
#[derive(Debug)]
pub struct OneMessage<T>(PhantomData<T>);

/// One step of the fold: the state after an argument of kind `K`.
///
/// Implemented on the state, not the kind, so the compiler picks an impl
/// only once the state is known (never by elimination from a guess).
pub trait Step<K> {
    /// The next state.
    type Next;
}

impl<S> Step<IsExtractor> for S {
    type Next = S;
}

impl<T> Step<IsMessage<T>> for NoMessage {
    type Next = OneMessage<T>;
}

impl<A, T> Step<IsMessage<T>> for OneMessage<A>
where
    T: SecondMessage<A>,
{
    type Next = <T as SecondMessage<A>>::Next;
}

/// `Self`, a message argument after `A`, another one. Never implemented:
/// it is the error, and its `Next` (an error type) silences later checks.
#[diagnostic::on_unimplemented(
    message = "a #[subscribe] handler takes one message, but `{A}` and `{Self}` are both messages",
    label = "a second message argument",
    note = "subscribe to each topic with its own handler; the other arguments may be `cortex::Header`, `cortex::PublisherId` and `cortex::Ctx`"
)]
pub trait SecondMessage<A> {
    /// Never defined.
    type Next;
}

/// The message type of a handler, once every argument is folded in.
#[diagnostic::on_unimplemented(
    message = "a #[subscribe] handler needs one argument whose type is a cortex message",
    label = "no message among these arguments",
    note = "e.g. `async fn on_image(img: Image, header: Header, ctx: Ctx)` where `Image` derives `cortex::Message`"
)]
pub trait HandlerMessage {
    /// The message type.
    type Message;
}

impl<T> HandlerMessage for OneMessage<T> {
    type Message = T;
}

/// A type-level value: a fold state, or the message type.
pub struct State<S>(PhantomData<fn() -> S>);

/// One argument: its type `A` and kind `K`.
pub struct Arg<A, K>(PhantomData<fn() -> (A, K)>);

// Not derived: a derive would require `S: Copy`.
impl<S> Clone for State<S> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<S> Copy for State<S> {}
impl<S> std::fmt::Debug for State<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("State")
    }
}
impl<A, K> Clone for Arg<A, K> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<A, K> Copy for Arg<A, K> {}
impl<A, K> std::fmt::Debug for Arg<A, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Arg")
    }
}

/// The state before the first argument.
pub fn no_message() -> State<NoMessage> {
    State(PhantomData)
}

/// Folds argument type `A` into the state: its kind, and the next state.
pub fn arg<A, K, S>(_state: State<S>) -> (Arg<A, K>, State<S::Next>)
where
    A: SubscribeArg<K>,
    S: Step<K>,
{
    (Arg(PhantomData), State(PhantomData))
}

/// The handler's message type, from the state after the last argument.
pub fn message<S: HandlerMessage>(_state: State<S>) -> State<S::Message> {
    State(PhantomData)
}

/// What one received message offers a handler's arguments.
#[derive(Debug)]
pub struct Delivery<M> {
    message: Option<M>,
    header: Header,
    publisher: PublisherId,
    ctx: Ctx,
}

impl<M> Delivery<M> {
    /// A delivery of `message`, whose type [`message`] found.
    pub fn new(
        _message_type: State<M>,
        message: M,
        header: Header,
        publisher: PublisherId,
        ctx: Ctx,
    ) -> Self {
        Delivery {
            message: Some(message),
            header,
            publisher,
            ctx,
        }
    }
}

/// Takes an argument of type `A` out of a delivery of `M`; `Self` is the
/// argument's kind.
pub trait Take<A, M> {
    /// The argument.
    fn take(delivery: &mut Delivery<M>) -> A;
}

impl<E: Extractor, M> Take<E, M> for IsExtractor {
    fn take(delivery: &mut Delivery<M>) -> E {
        E::extract(delivery)
    }
}

// `M: SameAs<T>` rather than `Take<T, T>`: the compiler must not infer the
// delivery's type from one argument (after a second message it would pick
// one of the two and report the other again).
impl<T, M: SameAs<T>> Take<T, M> for IsMessage<T> {
    fn take(delivery: &mut Delivery<M>) -> T {
        match delivery.message.take() {
            Some(message) => message.same(),
            // The fold admits one message argument, and each argument is
            // taken once.
            None => unreachable!("a #[subscribe] handler takes its message once"),
        }
    }
}

/// `Self` is `T`.
pub trait SameAs<T> {
    /// `self`.
    fn same(self) -> T;
}

impl<T> SameAs<T> for T {
    fn same(self) -> T {
        self
    }
}

/// One argument of the handler call.
pub fn extract<A, K, M>(delivery: &mut Delivery<M>, _arg: Arg<A, K>) -> A
where
    K: Take<A, M>,
{
    K::take(delivery)
}

/// An argument of a `#[timer]` handler: [`Ctx`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an argument of a #[timer] handler",
    label = "not `cortex::Ctx`",
    note = "a #[timer] handler takes no arguments or one `ctx: cortex::Ctx`"
)]
pub trait TimerArg {
    /// The argument for one tick.
    fn from_tick(ctx: &Ctx) -> Self;
}

impl TimerArg for Ctx {
    fn from_tick(ctx: &Ctx) -> Self {
        ctx.clone()
    }
}

/// The second argument of a `#[service]` handler: [`Ctx`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an argument of a #[service] handler",
    label = "not `cortex::Ctx`",
    note = "a #[service] handler takes the request (a message) and optionally `ctx: cortex::Ctx`"
)]
pub trait ServiceArg {
    /// The argument for one call.
    fn from_call(ctx: &Ctx) -> Self;
}

impl ServiceArg for Ctx {
    fn from_call(ctx: &Ctx) -> Self {
        ctx.clone()
    }
}

/// The argument of `#[cortex::main]`: [`Node`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the argument of #[cortex::main]",
    label = "not `cortex::Node`",
    note = "`async fn main(node: cortex::Node) -> cortex::Result<()>` hands over the node (call `node.run().await`); `async fn main()` runs it after the body"
)]
pub trait MainArg {
    /// The argument, from the node `#[cortex::main]` built.
    fn from_node(node: Node) -> Self;
}

impl MainArg for Node {
    fn from_node(node: Node) -> Self {
        node
    }
}
