//! `ServiceClient`: calls one service.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::wire::{self, service_fingerprint};
use crate::codec::Header;
use crate::discovery::{Client, DiscoveryError, TopicInfo};
use crate::error::{Error, Result};
use crate::io::{frame_to_bytes, AsyncSocket};
use crate::Message;

/// How long a new connection may take before the caller looks the service
/// up again (a record whose server is gone but not evicted yet).
const CONNECT_WAIT: Duration = Duration::from_millis(500);

/// Monitor events a connection watches.
const CONNECTED: u16 = zmq::SocketEvent::CONNECTED as u16;
const DISCONNECTED: u16 = zmq::SocketEvent::DISCONNECTED as u16;

/// Calls the service `name` (request `Req`, reply `Rep`). Cheap to clone;
/// clones share one connection, and any number of calls may be in flight
/// at once. Must be used inside a tokio runtime.
pub struct ServiceClient<Req, Rep> {
    inner: Arc<Inner>,
    _types: PhantomData<fn(Req) -> Rep>,
}

impl<Req, Rep> Clone for ServiceClient<Req, Rep> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            _types: PhantomData,
        }
    }
}

impl<Req, Rep> std::fmt::Debug for ServiceClient<Req, Rep> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceClient")
            .field("service", &self.inner.name)
            .finish_non_exhaustive()
    }
}

struct Inner {
    name: String,
    discovery: Client,
    ctx: zmq::Context,
    conn: tokio::sync::Mutex<Option<Conn>>,
    next_id: AtomicU64,
}

/// What a call gets back from the connection.
enum Answer {
    /// `[status, ...]` after the call id.
    Reply(Vec<Bytes>),
    /// The server went away.
    Gone,
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Answer>>>>;

/// A live connection to one server.
struct Conn {
    info: TopicInfo,
    out: mpsc::UnboundedSender<Vec<Bytes>>,
    pending: Pending,
    task: JoinHandle<()>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.task.abort();
        // Calls still waiting on this connection end now, not at their
        // timeout.
        for (_, caller) in lock(&self.pending).drain() {
            let _ = caller.send(Answer::Gone);
        }
    }
}

/// Takes a call out of `pending` when the call ends, however it ends.
struct Forget {
    pending: Pending,
    id: u64,
}

impl Drop for Forget {
    fn drop(&mut self) {
        lock(&self.pending).remove(&self.id);
    }
}

impl<Req: Message, Rep: Message> ServiceClient<Req, Rep> {
    /// A client of the service `name` found through `discovery`, with
    /// sockets in `ctx`. Connects at the first call.
    pub fn new(ctx: &zmq::Context, discovery: &Client, name: &str) -> Self {
        Self {
            inner: Arc::new(Inner {
                name: name.to_owned(),
                discovery: discovery.for_services(),
                ctx: ctx.clone(),
                conn: tokio::sync::Mutex::new(None),
                next_id: AtomicU64::new(1),
            }),
            _types: PhantomData,
        }
    }

    /// The service name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Calls the service with `request` and waits up to `timeout` for the
    /// reply, including the time to find the service and connect.
    pub async fn call(&self, request: &Req, timeout: Duration) -> Result<Rep> {
        let deadline = Instant::now() + timeout;
        let name = &self.inner.name;
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let encoded = request.encode(id).map_err(|cause| Error::Encode {
            topic: name.clone(),
            ty: Req::TYPE_NAME,
            cause,
        })?;
        let not_found = || Error::ServiceNotFound {
            service: name.clone(),
            address: self.inner.discovery.address().to_owned(),
            timeout,
        };
        let (rx, info, _forget) = loop {
            // Bounded as a whole: waiting for another caller's connection
            // attempt counts against this call's timeout too.
            let connection = tokio::time::timeout_at(deadline, self.connection(deadline, timeout));
            let (out, pending, info) = connection.await.map_err(|_| not_found())??;
            let (tx, rx) = oneshot::channel();
            lock(&pending).insert(id, tx);
            // Removes the call from `pending` however this call ends (a
            // reply took it out already; a timeout or a dropped future not).
            let forget = Forget { pending, id };
            let mut frames = vec![
                Bytes::copy_from_slice(&wire::id_frame(id)),
                Bytes::from_static(wire::CALL),
            ];
            frames.extend(encoded.to_frames());
            if out.send(frames).is_ok() {
                break (rx, info, forget);
            }
            // The connection ended just now: find the service again (unless
            // another caller already has).
            drop(forget);
            let mut slot = self.inner.conn.lock().await;
            if slot.as_ref().is_some_and(|c| c.out.same_channel(&out)) {
                *slot = None;
            }
        };
        let answer = match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Answer::Gone,
            Err(_) => {
                return Err(Error::ServiceTimeout {
                    service: name.clone(),
                    node: info.publisher_node,
                    timeout,
                });
            }
        };
        match answer {
            Answer::Gone => Err(Error::ServiceUnavailable {
                service: name.clone(),
                node: info.publisher_node,
                address: info.address,
            }),
            Answer::Reply(frames) => reply::<Rep>(name, &info, &frames),
        }
    }

    /// The open connection, or a new one to the service's server once
    /// discovery has it (within `deadline`).
    async fn connection(
        &self,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<(mpsc::UnboundedSender<Vec<Bytes>>, Pending, TopicInfo)> {
        let mut slot = self.inner.conn.lock().await;
        if let Some(conn) = &*slot {
            if !conn.out.is_closed() {
                return Ok((
                    conn.out.clone(),
                    Arc::clone(&conn.pending),
                    conn.info.clone(),
                ));
            }
        }
        *slot = None;
        let name = &self.inner.name;
        // The last record found whose server did not accept a connection.
        let mut unreachable: Option<TopicInfo> = None;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let not_found = |unreachable: Option<TopicInfo>| match unreachable {
                // Found, but nothing answered there: its server is gone.
                Some(info) => Error::ServiceUnavailable {
                    service: name.clone(),
                    node: info.publisher_node,
                    address: info.address,
                },
                None => Error::ServiceNotFound {
                    service: name.clone(),
                    address: self.inner.discovery.address().to_owned(),
                    timeout,
                },
            };
            if remaining.is_zero() {
                return Err(not_found(unreachable));
            }
            let info = match self.inner.discovery.wait_for_topic(name, remaining).await {
                Ok(info) => info,
                Err(DiscoveryError::WaitTimeout { .. }) => return Err(not_found(unreachable)),
                Err(e) => return Err(e.into()),
            };
            check_types::<Req, Rep>(&info)?;
            let remaining = deadline.saturating_duration_since(Instant::now());
            match open(&self.inner.ctx, &info, remaining.min(CONNECT_WAIT)).await? {
                Some(conn) => {
                    let handles = (conn.out.clone(), Arc::clone(&conn.pending), info);
                    *slot = Some(conn);
                    return Ok(handles);
                }
                // Nothing listens there (a dead server not evicted yet):
                // ask discovery again shortly.
                None => {
                    unreachable = Some(info);
                    let pause = Duration::from_millis(50);
                    tokio::time::sleep(
                        pause.min(deadline.saturating_duration_since(Instant::now())),
                    )
                    .await;
                }
            }
        }
    }
}

/// Checks that a service record carries `Req -> Rep`.
fn check_types<Req: Message, Rep: Message>(info: &TopicInfo) -> Result<()> {
    if info.fingerprint == service_fingerprint(Req::FINGERPRINT, Rep::FINGERPRINT) {
        return Ok(());
    }
    Err(Error::ServiceTypeMismatch {
        service: info.name.clone(),
        expected: super::type_name::<Req, Rep>(),
        found: info.message_type.clone(),
        node: info.publisher_node.clone(),
    })
}

/// Decodes a reply (`[status, ...]`).
fn reply<Rep: Message>(name: &str, info: &TopicInfo, frames: &[Bytes]) -> Result<Rep> {
    let text = |f: Option<&Bytes>| {
        f.map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default()
    };
    match frames {
        [status, header, metadata, oob @ ..] if status.as_ref() == wire::OK => {
            let decode_err = |cause| Error::Decode {
                topic: name.to_owned(),
                ty: Rep::TYPE_NAME,
                cause: Box::new(cause),
            };
            let header = Header::from_bytes(header).map_err(decode_err)?;
            if header.fingerprint != Rep::FINGERPRINT {
                return Err(Error::ServiceTypeMismatch {
                    service: name.to_owned(),
                    expected: format!("a reply of {}", Rep::TYPE_NAME),
                    found: format!("a reply with fingerprint {:#018x}", header.fingerprint),
                    node: info.publisher_node.clone(),
                });
            }
            Rep::decode_body(metadata, oob).map_err(decode_err)
        }
        [status, rest @ ..] if status.as_ref() == wire::FAILED => Err(Error::ServiceFailed {
            service: name.to_owned(),
            node: info.publisher_node.clone(),
            message: text(rest.first()),
        }),
        [status, rest @ ..] if status.as_ref() == wire::REFUSED => Err(Error::ServiceFailed {
            service: name.to_owned(),
            node: info.publisher_node.clone(),
            message: format!("the server refused the call: {}", text(rest.first())),
        }),
        _ => Err(Error::Malformed {
            topic: name.to_owned(),
            reason: format!("a service reply of {} frames", frames.len()),
        }),
    }
}

/// Connects a DEALER to the server of `info`; `None` if nothing accepts the
/// connection within `wait`.
async fn open(ctx: &zmq::Context, info: &TopicInfo, wait: Duration) -> Result<Option<Conn>> {
    let name = &info.name;
    let zmq_err = |what: &str| {
        let what = format!("{what} for service {name} ({})", info.address);
        move |e| Error::zmq(what, e)
    };
    let socket = ctx
        .socket(zmq::DEALER)
        .map_err(zmq_err("creating a DEALER"))?;
    socket
        .set_linger(0)
        .map_err(zmq_err("configuring a DEALER"))?;
    // Watch the connection: a server that goes away fails its calls at once.
    let monitor_address = format!(
        "inproc://cortex-service-monitor-{}",
        MONITORS.fetch_add(1, Ordering::Relaxed)
    );
    socket
        .monitor(&monitor_address, i32::from(CONNECTED | DISCONNECTED))
        .map_err(zmq_err("monitoring a DEALER"))?;
    let monitor = ctx
        .socket(zmq::PAIR)
        .map_err(zmq_err("creating a monitor"))?;
    monitor
        .connect(&monitor_address)
        .map_err(zmq_err("connecting a monitor"))?;
    socket
        .connect(&info.address)
        .map_err(zmq_err("connecting"))?;
    let io = |e| {
        Error::io(
            format!("registering the sockets of service {name} with tokio"),
            e,
        )
    };
    let mut monitor = AsyncSocket::new(monitor).map_err(io)?;
    let socket = AsyncSocket::new(socket).map_err(io)?;
    let connected = tokio::time::timeout(wait, async {
        loop {
            match monitor.recv_multipart().await {
                Ok(frames) if event_of(&frames) == Some(CONNECTED) => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
    })
    .await;
    if connected != Ok(true) {
        return Ok(None);
    }
    let (out, rx) = mpsc::unbounded_channel();
    let pending: Pending = Arc::default();
    let task = tokio::spawn(run(socket, monitor, rx, Arc::clone(&pending), info.clone()));
    Ok(Some(Conn {
        info: info.clone(),
        out,
        pending,
        task,
    }))
}

static MONITORS: AtomicU64 = AtomicU64::new(0);

/// The event number of a monitor message.
fn event_of(frames: &[zmq::Message]) -> Option<u16> {
    let first = frames.first()?;
    Some(u16::from_ne_bytes(first.get(..2)?.try_into().ok()?))
}

/// A connection's I/O: sends calls, hands replies to their callers, and
/// fails every call in flight when the server disconnects.
async fn run(
    mut socket: AsyncSocket,
    mut monitor: AsyncSocket,
    mut calls: mpsc::UnboundedReceiver<Vec<Bytes>>,
    pending: Pending,
    info: TopicInfo,
) {
    loop {
        tokio::select! {
            // Replies first: one that arrived with the disconnection is
            // still delivered.
            biased;
            reply = socket.recv_multipart() => {
                let Ok(frames) = reply else { continue };
                dispatch(&pending, frames.into_iter().map(frame_to_bytes));
            }
            call = calls.recv() => {
                let Some(frames) = call else { return };
                let frames = frames.into_iter().map(|b| zmq::Message::from(&b[..])).collect();
                if let Err(e) = socket.send_multipart(frames).await {
                    tracing::debug!(service = %info.name, error = %e, "sending a call failed");
                }
            }
            event = monitor.recv_multipart() => {
                if matches!(event, Ok(ref frames) if event_of(frames) == Some(DISCONNECTED)) || event.is_err() {
                    tracing::info!(service = %info.name, node = %info.publisher_node, address = %info.address,
                        "the service's server went away; failing the calls in flight");
                    // Replies that came in before the disconnection count.
                    while let Ok(frames) = socket.get_ref().recv_multipart(zmq::DONTWAIT) {
                        dispatch(&pending, frames.into_iter().map(Bytes::from));
                    }
                    // Closing `calls` makes the next call look the service
                    // up again; calls queued meanwhile fail too.
                    calls.close();
                    while calls.try_recv().is_ok() {}
                    for (_, caller) in lock(&pending).drain() {
                        let _ = caller.send(Answer::Gone);
                    }
                    return;
                }
            }
        }
    }
}

/// Hands a reply (`[id, status, ...]`) to its caller, if it still waits.
fn dispatch(pending: &Pending, mut frames: impl Iterator<Item = Bytes>) {
    let Some(id) = frames.next().as_deref().and_then(wire::id_of) else {
        return;
    };
    if let Some(caller) = lock(pending).remove(&id) {
        let _ = caller.send(Answer::Reply(frames.collect()));
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
