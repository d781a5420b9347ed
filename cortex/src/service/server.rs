//! `ServiceServer`: answers calls of one service.

use std::fmt::Display;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::FutureExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::wire::{self, service_fingerprint};
use crate::codec::Header;
use crate::discovery::{Client, Registration, TopicInfo};
use crate::error::{Error, Result};
use crate::io::{frame_to_bytes, AsyncSocket};
use crate::pubsub::Transport;
use crate::Message;

/// A running service server: registered with discovery, answering calls
/// (each in a task of its own, so calls run concurrently) until closed or
/// dropped.
pub struct ServiceServer<Req, Rep> {
    name: String,
    address: String,
    path: Option<PathBuf>,
    task: JoinHandle<()>,
    registration: Option<Registration>,
    served: Arc<Counters>,
    _types: PhantomData<fn(Req) -> Rep>,
}

#[derive(Debug, Default)]
struct Counters {
    answered: AtomicU64,
    failed: AtomicU64,
    refused: AtomicU64,
}

impl<Req, Rep> std::fmt::Debug for ServiceServer<Req, Rep> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceServer")
            .field("name", &self.name)
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

/// What the serve loop sends back: the caller's routing id and the frames.
type Outgoing = Vec<Bytes>;

impl<Req: Message, Rep: Message> ServiceServer<Req, Rep> {
    /// Binds the service `name`'s socket, registers it with discovery as
    /// node `node`'s, and answers every call with `handler`. A handler
    /// error goes back to the caller as
    /// [`Error::ServiceFailed`](crate::Error::ServiceFailed), with its
    /// message; a panic too (logged here). Must run inside a tokio runtime.
    pub async fn serve<F, Fut, E>(
        ctx: &zmq::Context,
        discovery: &Client,
        node: &str,
        name: &str,
        transport: &Transport,
        handler: F,
    ) -> Result<Self>
    where
        F: Fn(Req) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<Rep, E>> + Send + 'static,
        E: Display + 'static,
    {
        let endpoint = transport.endpoint(node, &format!("{name}.service"))?;
        let ctx_err = |what: &str| format!("{what} for service {name} ({})", endpoint.bind);
        let socket = ctx
            .socket(zmq::ROUTER)
            .map_err(|e| Error::zmq(ctx_err("creating the ROUTER socket"), e))?;
        socket
            .set_linger(0)
            .and_then(|()| socket.set_router_mandatory(false))
            .map_err(|e| Error::zmq(ctx_err("configuring the socket"), e))?;
        let address = transport.bind(&socket, &endpoint, "service", name)?;
        let socket = AsyncSocket::new(socket)
            .map_err(|e| Error::io(ctx_err("registering the socket with tokio"), e))?;
        let served = Arc::new(Counters::default());
        let task = tokio::spawn(serve_loop::<Req, Rep, F, Fut, E>(
            socket,
            name.to_owned(),
            Arc::new(handler),
            Arc::clone(&served),
        ));
        let mut server = ServiceServer {
            name: name.to_owned(),
            address: address.clone(),
            path: endpoint.path,
            task,
            registration: None,
            served,
            _types: PhantomData,
        };
        let info = TopicInfo {
            name: name.to_owned(),
            address,
            message_type: super::type_name::<Req, Rep>(),
            fingerprint: service_fingerprint(Req::FINGERPRINT, Rep::FINGERPRINT),
            publisher_node: node.to_owned(),
        };
        server.registration = Some(discovery.for_services().keep_registered(info).await?);
        tracing::info!(service = name, node, types = %super::type_name::<Req, Rep>(), address = %server.address, "serving");
        Ok(server)
    }

    /// The service name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The endpoint callers connect to.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Calls answered with a reply, with a handler error, and refused
    /// (undecodable, or of another type).
    pub fn counts(&self) -> (u64, u64, u64) {
        (
            self.served.answered.load(Ordering::Relaxed),
            self.served.failed.load(Ordering::Relaxed),
            self.served.refused.load(Ordering::Relaxed),
        )
    }

    /// Unregisters, stops answering and removes the socket file.
    pub async fn close(mut self) -> Result<()> {
        if let Some(registration) = self.registration.take() {
            registration.unregister().await?;
        }
        Ok(())
    }
}

impl<Req, Rep> Drop for ServiceServer<Req, Rep> {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(path) = &self.path {
            let _ = std::fs::remove_file(path);
        }
    }
}

async fn serve_loop<Req, Rep, F, Fut, E>(
    mut socket: AsyncSocket,
    name: String,
    handler: Arc<F>,
    served: Arc<Counters>,
) where
    Req: Message,
    Rep: Message,
    F: Fn(Req) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = std::result::Result<Rep, E>> + Send + 'static,
    E: Display + 'static,
{
    let (tx, mut rx) = mpsc::unbounded_channel::<Outgoing>();
    loop {
        tokio::select! {
            Some(reply) = rx.recv() => {
                let frames = reply.into_iter().map(|b| zmq::Message::from(&b[..])).collect();
                if let Err(e) = socket.send_multipart(frames).await {
                    // A caller that went away: ROUTER drops its reply.
                    tracing::debug!(service = %name, error = %e, "could not send a reply");
                }
            }
            frames = socket.recv_multipart() => {
                let frames = match frames {
                    Ok(frames) => frames,
                    Err(e) => {
                        tracing::warn!(service = %name, error = %e, "receiving a call failed");
                        continue;
                    }
                };
                let frames: Vec<Bytes> = frames.into_iter().map(frame_to_bytes).collect();
                handle::<Req, Rep, F, Fut, E>(&name, frames, &handler, &served, &tx);
            }
        }
    }
}

/// One incoming call: answered at once if it cannot be handled, else by a
/// task running the handler.
fn handle<Req, Rep, F, Fut, E>(
    name: &str,
    frames: Vec<Bytes>,
    handler: &Arc<F>,
    served: &Arc<Counters>,
    tx: &mpsc::UnboundedSender<Outgoing>,
) where
    Req: Message,
    Rep: Message,
    F: Fn(Req) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = std::result::Result<Rep, E>> + Send + 'static,
    E: Display + 'static,
{
    // [routing id, call id, kind, ...]
    let [route, id, kind, body @ ..] = frames.as_slice() else {
        tracing::debug!(
            service = name,
            frames = frames.len(),
            "dropping a malformed call"
        );
        return;
    };
    let reply_to = |status: &[u8], rest: Vec<Bytes>| {
        let mut out = vec![route.clone(), id.clone(), Bytes::copy_from_slice(status)];
        out.extend(rest);
        out
    };
    let refuse = |why: String| {
        served.refused.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(service = name, %why, "refused a call");
        let _ = tx.send(reply_to(wire::REFUSED, vec![Bytes::from(why)]));
    };
    if kind.as_ref() == wire::DESCRIBE {
        let _ = tx.send(reply_to(
            wire::OK,
            vec![Bytes::from(describe::<Req, Rep>())],
        ));
        return;
    }
    if kind.as_ref() != wire::CALL {
        return refuse(format!(
            "unknown request kind {:?}",
            String::from_utf8_lossy(kind)
        ));
    }
    let [header, metadata, oob @ ..] = body else {
        return refuse("a call needs a header and a body".into());
    };
    let header = match Header::from_bytes(header) {
        Ok(h) => h,
        Err(e) => return refuse(format!("bad header: {e}")),
    };
    if header.fingerprint != Req::FINGERPRINT {
        return refuse(format!(
            "service {name} takes {} (fingerprint {:#018x}); the call carries fingerprint {:#018x}: \
             call it with the server's request type",
            Req::TYPE_NAME,
            Req::FINGERPRINT,
            header.fingerprint
        ));
    }
    let request = match Req::decode_body(metadata, oob) {
        Ok(request) => request,
        Err(e) => return refuse(format!("cannot decode {}: {e}", Req::TYPE_NAME)),
    };
    let call = handler(request);
    let (tx, served, name) = (tx.clone(), Arc::clone(served), name.to_owned());
    let (route, id) = (route.clone(), id.clone());
    tokio::spawn(async move {
        let reply_to = |status: &[u8], rest: Vec<Bytes>| {
            let mut out = vec![route, id, Bytes::copy_from_slice(status)];
            out.extend(rest);
            out
        };
        let outcome = AssertUnwindSafe(call).catch_unwind().await;
        let reply = match outcome {
            Ok(Ok(reply)) => match reply.encode(header.sequence) {
                Ok(encoded) => {
                    served.answered.fetch_add(1, Ordering::Relaxed);
                    reply_to(wire::OK, encoded.to_frames())
                }
                Err(e) => {
                    served.failed.fetch_add(1, Ordering::Relaxed);
                    let why = format!("the reply ({}) could not be encoded: {e}", Rep::TYPE_NAME);
                    tracing::warn!(service = %name, %why, "call failed");
                    reply_to(wire::FAILED, vec![Bytes::from(why)])
                }
            },
            Ok(Err(e)) => {
                served.failed.fetch_add(1, Ordering::Relaxed);
                let why = e.to_string();
                tracing::warn!(service = %name, error = %why, "service handler returned an error (sent to the caller)");
                reply_to(wire::FAILED, vec![Bytes::from(why)])
            }
            Err(panic) => {
                served.failed.fetch_add(1, Ordering::Relaxed);
                let why = format!("the handler panicked: {}", panic_text(&*panic));
                tracing::error!(service = %name, %why, "call failed");
                reply_to(wire::FAILED, vec![Bytes::from(why)])
            }
        };
        let _ = tx.send(reply);
    });
}

/// The text of a panic payload.
fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}

/// The answer to `describe`: both types' schemas, as JSON.
fn describe<Req: Message, Rep: Message>() -> String {
    let schema = |s: &crate::Schema| {
        serde_json::json!({
            "type": s.type_name,
            "fingerprint": s.fingerprint,
            "fields": s.fields.iter().map(|f| serde_json::json!({"name": f.name, "type": f.ty})).collect::<Vec<_>>(),
        })
    };
    serde_json::json!({
        "request": schema(Req::schema()),
        "reply": schema(Rep::schema()),
    })
    .to_string()
}
