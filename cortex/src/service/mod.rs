//! Services: typed request/response between nodes, over ZeroMQ.
//!
//! A server binds a ROUTER socket (one per service, next to the topic
//! sockets) and registers it with discovery as a *service* record, kept
//! apart from topics so a Python client never lists it. A caller
//! ([`ServiceClient`], or [`Ctx::call`](crate::Ctx::call) in a handler)
//! finds the record, checks both types, and talks to the server through a
//! DEALER socket: many calls at once, each matched to its reply by an id.
//!
//! What a caller can get back, besides the reply: the server's handler
//! failed ([`Error::ServiceFailed`](crate::Error::ServiceFailed), its
//! message included), the server went away during the call
//! ([`Error::ServiceUnavailable`](crate::Error::ServiceUnavailable), at
//! once, not after the timeout), no reply in time
//! ([`Error::ServiceTimeout`](crate::Error::ServiceTimeout)), no such
//! service within the timeout
//! ([`Error::ServiceNotFound`](crate::Error::ServiceNotFound)), or a
//! server with other types
//! ([`Error::ServiceTypeMismatch`](crate::Error::ServiceTypeMismatch)).
//!
//! The parts: [`wire`] (frames and the service fingerprint, public for
//! tools that call services without the Rust types, like `cortex service
//! call`), `server`, `client`.

mod client;
mod server;
pub mod wire;

use std::marker::PhantomData;

pub use client::ServiceClient;
pub use server::ServiceServer;
pub use wire::service_fingerprint;

use crate::Message;

/// A service name bound to its request and reply types, so calling it with
/// the wrong types does not compile:
///
/// ```
/// use cortex::prelude::*;
/// # #[derive(Message)] pub struct SetGain { pub gain: f64 }
/// # #[derive(Message)] pub struct GainSet { pub previous: f64 }
/// pub const SET_GAIN: Service<SetGain, GainSet> = Service::new("/processor/set_gain");
/// ```
pub struct Service<Req, Rep> {
    name: &'static str,
    _types: PhantomData<fn(Req) -> Rep>,
}

impl<Req: Message, Rep: Message> Service<Req, Rep> {
    /// A service called `name`, taking `Req` and answering `Rep`.
    pub const fn new(name: &'static str) -> Self {
        Service {
            name,
            _types: PhantomData,
        }
    }

    /// The service name.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// What its discovery record calls its types: `"Req -> Rep"`.
    pub fn type_name() -> String {
        type_name::<Req, Rep>()
    }
}

impl<Req, Rep> Clone for Service<Req, Rep> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<Req, Rep> Copy for Service<Req, Rep> {}

impl<Req: Message, Rep: Message> std::fmt::Debug for Service<Req, Rep> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Service<{}>({})", Self::type_name(), self.name)
    }
}

/// `"Req -> Rep"`, the `message_type` of a service record.
pub(crate) fn type_name<Req: Message, Rep: Message>() -> String {
    format!("{} -> {}", Req::TYPE_NAME, Rep::TYPE_NAME)
}
