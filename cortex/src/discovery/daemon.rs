//! The discovery daemon.
//!
//! One task owns a ROUTER socket and the registry. A ROUTER accepts plain
//! REQ clients (the Python cortex) and DEALER clients alike: everything up
//! to the first empty frame is the envelope, which the reply carries back
//! unchanged. Every request gets a reply; a request that cannot be decoded
//! gets `ERROR` with the reason.
//!
//! Work that must wait (endpoint probes, long polls) never runs on the
//! request path: probes are spawned tasks that report back over a channel,
//! and long-poll waiters are parked and answered when their topic appears.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::address::{default_address, validate_bind_address};
use super::client::{Client, ClientConfig};
use super::error::{DiscoveryError, Result};
use super::host_lock::HostLock;
use super::outbox::{Outbox, Sent};
use super::probe::{probe, Liveness};
use super::protocol::{Command, Request, Response, Status, TopicInfo, MAX_MESSAGE_BYTES};
use crate::io::AsyncSocket;
use crate::io::{check_socket_path, prepare_dir, restrict_socket, SocketAccess};

/// Per-frame size limit of the daemon socket: a larger frame makes libzmq
/// drop the sender's connection instead of buffering it. Anything above
/// [`MAX_MESSAGE_BYTES`](super::MAX_MESSAGE_BYTES) but below this limit gets
/// an `ERROR` reply.
const MAX_FRAME_BYTES: i64 = 64 << 20;

/// How often the daemon checks that its ipc socket file is still its own.
const SOCKET_FILE_CHECK: Duration = Duration::from_millis(500);

/// How soon replies waiting in the [`Outbox`] are retried.
const OUTBOX_RETRY: Duration = Duration::from_millis(10);

/// How many probes run at once in one probe round.
const PROBE_CONCURRENCY: usize = 128;

/// Settings of a [`Daemon`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DaemonConfig {
    /// Address to bind, `ipc://...` or `tcp://host:port` (`tcp://host:*`
    /// picks a free port; see [`Daemon::address`]).
    pub address: String,
    /// How often registered endpoints are probed; `None` disables eviction.
    pub probe_interval: Option<Duration>,
    /// Bound on one probe.
    pub probe_timeout: Duration,
    /// Consecutive failed probes after which a record is evicted.
    pub evict_after: u32,
    /// How long a `WAIT_FOR_TOPIC` is held before `NOT_FOUND`.
    pub long_poll_window: Duration,
    /// Most `WAIT_FOR_TOPIC` requests held at once; more get `ERROR`.
    pub max_waiters: usize,
    /// Whether the `SHUTDOWN` command stops the daemon (the Python daemon
    /// honours it; turn it off to keep clients from stopping the daemon).
    pub allow_shutdown_command: bool,
    /// How long to wait for a `PING` answer from a daemon already at the
    /// address before deciding it is dead.
    pub liveness_timeout: Duration,
    /// Who may connect to an ipc daemon socket (and its directory); see
    /// [`SocketAccess`].
    pub socket_access: SocketAccess,
}

impl DaemonConfig {
    /// Defaults for a daemon at `address`.
    pub fn new(address: impl Into<String>) -> Self {
        Self {
            address: address.into(),
            probe_interval: Some(Duration::from_millis(250)),
            probe_timeout: Duration::from_millis(500),
            evict_after: 2,
            long_poll_window: Duration::from_secs(1),
            max_waiters: 4096,
            allow_shutdown_command: true,
            liveness_timeout: Duration::from_millis(500),
            socket_access: SocketAccess::from_env().unwrap_or_default(),
        }
    }

    /// Sets [`socket_access`](Self::socket_access).
    pub fn socket_access(mut self, access: SocketAccess) -> Self {
        self.socket_access = access;
        self
    }

    /// Defaults for a daemon at `CORTEX_DISCOVERY`, else the default address.
    pub fn from_env() -> Self {
        Self::new(default_address())
    }

    /// Sets [`probe_interval`](Self::probe_interval).
    pub fn probe_interval(mut self, interval: Option<Duration>) -> Self {
        self.probe_interval = interval;
        self
    }

    /// Sets [`long_poll_window`](Self::long_poll_window).
    pub fn long_poll_window(mut self, window: Duration) -> Self {
        self.long_poll_window = window;
        self
    }

    /// Sets [`allow_shutdown_command`](Self::allow_shutdown_command).
    pub fn allow_shutdown_command(mut self, allow: bool) -> Self {
        self.allow_shutdown_command = allow;
        self
    }
}

/// Stops a running [`Daemon`]; cheap to clone.
#[derive(Debug, Clone)]
pub struct ShutdownHandle {
    tx: Arc<watch::Sender<bool>>,
}

impl ShutdownHandle {
    /// Asks the daemon to stop; [`Daemon::run`] then returns. Idempotent.
    pub fn shutdown(&self) {
        self.tx.send_replace(true);
    }
}

/// A bound discovery daemon. Create with [`Daemon::bind`], then
/// [`run`](Daemon::run) it (e.g. in `tokio::spawn`).
pub struct Daemon {
    // Declaration order is drop order: the socket goes before its context.
    socket: AsyncSocket,
    ctx: zmq::Context,
    config: DaemonConfig,
    address: String,
    /// The ipc socket file we created, with its identity `(dev, ino)`, so
    /// shutdown removes it only if no other daemon has replaced it since.
    socket_file: Option<(PathBuf, u64, u64)>,
    /// For an ipc address: the lock that makes this process the host of
    /// the address (see [`HostLock`]); released when `run` returns.
    host_lock: Option<HostLock>,
    shutdown_tx: Arc<watch::Sender<bool>>,
    shutdown_rx: watch::Receiver<bool>,
}

impl std::fmt::Debug for Daemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Daemon")
            .field("address", &self.address)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Daemon {
    /// Binds a daemon with default settings at `address`.
    pub async fn bind(address: impl Into<String>) -> Result<Self> {
        Self::bind_with(DaemonConfig::new(address)).await
    }

    /// Binds a daemon.
    ///
    /// Refuses with [`DiscoveryError::AlreadyRunning`] when a live daemon
    /// answers at the address. For ipc, an existing socket file nobody
    /// listens on (left by a crashed daemon) is taken over, and the parent
    /// directory is created if needed.
    pub async fn bind_with(config: DaemonConfig) -> Result<Self> {
        crate::io::raise_fd_limit();
        let address = config.address.clone();
        let ipc_path = validate_bind_address(&address)?;
        let host_lock = match &ipc_path {
            Some(path) => Some(prepare_ipc_path(&address, path, &config).await?),
            None => None,
        };
        let io_err = |context: &'static str| {
            let address = address.clone();
            move |e: zmq::Error| DiscoveryError::Io {
                context,
                address,
                source: e.into(),
            }
        };
        let ctx = zmq::Context::new();
        let socket = ctx
            .socket(zmq::ROUTER)
            .map_err(io_err("cannot create the daemon socket"))?;
        socket
            .set_linger(0)
            .map_err(io_err("cannot configure the daemon socket"))?;
        socket
            .set_maxmsgsize(MAX_FRAME_BYTES)
            .and_then(|()| socket.set_router_mandatory(true))
            .map_err(io_err("cannot configure the daemon socket"))?;
        if let Err(e) = socket.bind(&address) {
            return Err(match e {
                zmq::Error::EADDRINUSE => {
                    if answers_ping(&address, config.liveness_timeout).await {
                        DiscoveryError::AlreadyRunning { address }
                    } else {
                        DiscoveryError::AddressInUse {
                            address,
                            detail: "another process is bound to it".into(),
                        }
                    }
                }
                other => io_err("cannot bind the daemon socket")(other),
            });
        }
        if let Some(path) = &ipc_path {
            restrict_socket(path, config.socket_access).map_err(|source| {
                DiscoveryError::SocketDir {
                    address: address.clone(),
                    source,
                }
            })?;
        }
        let socket_file = ipc_path.and_then(|path| {
            use std::os::unix::fs::MetadataExt;
            let meta = std::fs::metadata(&path).ok()?;
            Some((path, meta.dev(), meta.ino()))
        });
        let bound = match socket.get_last_endpoint() {
            Ok(Ok(endpoint)) if address.starts_with("tcp://") => endpoint,
            _ => address.clone(),
        };
        let socket = AsyncSocket::new(socket).map_err(|source| DiscoveryError::Io {
            context: "cannot register the daemon socket with tokio",
            address: address.clone(),
            source,
        })?;
        let (tx, rx) = watch::channel(false);
        tracing::info!(address = %bound, "discovery daemon listening");
        Ok(Self {
            socket,
            ctx,
            config,
            address: bound,
            socket_file,
            host_lock,
            shutdown_tx: Arc::new(tx),
            shutdown_rx: rx,
        })
    }

    /// The bound address (for `tcp://host:*`, with the chosen port).
    pub fn address(&self) -> &str {
        &self.address
    }

    /// A handle that stops [`run`](Self::run).
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            tx: Arc::clone(&self.shutdown_tx),
        }
    }

    /// Serves requests until shut down (by a [`ShutdownHandle`] or, if
    /// allowed, the `SHUTDOWN` command). On return the socket is closed and
    /// the ipc socket file removed (unless another daemon replaced it).
    pub async fn run(self) -> Result<()> {
        let Daemon {
            socket,
            ctx,
            config,
            address,
            socket_file,
            host_lock,
            shutdown_tx: _shutdown_tx,
            mut shutdown_rx,
        } = self;
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let mut server = Server {
            socket,
            registry: BTreeMap::new(),
            waiters: Vec::new(),
            generation: 0,
            events_tx,
            config,
            address,
            socket_file: socket_file.clone(),
            outbox: Outbox::default(),
            overflow_logged: 0,
        };
        let outcome = server.serve(&mut shutdown_rx, events_rx).await;
        server.outbox.flush(server.socket.get_ref());
        let Server {
            socket, address, ..
        } = server;
        // Give the last replies (e.g. to SHUTDOWN) a moment to leave.
        let _ = socket.get_ref().set_linger(100);
        drop(socket);
        // Terminating the context waits until libzmq has closed the
        // listener; only then is the file safe to remove.
        let _ = tokio::task::spawn_blocking(move || drop(ctx)).await;
        if let Some((path, dev, ino)) = socket_file {
            remove_if_same(&path, dev, ino);
        }
        // Only now may another process bind the address.
        drop(host_lock);
        tracing::info!(address = %address, "discovery daemon stopped");
        outcome
    }
}

/// Creates (or checks) the directory of an ipc path, takes the address's
/// [`HostLock`], and checks what is at the path: nothing, a stale socket
/// (taken over), or a live daemon (an error). Anything but a socket is
/// refused, never deleted.
async fn prepare_ipc_path(address: &str, path: &Path, config: &DaemonConfig) -> Result<HostLock> {
    let unsafe_path = |source| DiscoveryError::SocketDir {
        address: address.to_owned(),
        source,
    };
    if let Some(parent) = path.parent() {
        prepare_dir(parent, config.socket_access).map_err(unsafe_path)?;
    }
    let lock = match HostLock::try_acquire(path) {
        Ok(Some(lock)) => lock,
        Ok(None) => {
            // Another cortex daemon runs (or is starting) at this address.
            return Err(if answers_ping(address, config.liveness_timeout).await {
                DiscoveryError::AlreadyRunning {
                    address: address.to_owned(),
                }
            } else {
                DiscoveryError::AddressInUse {
                    address: address.to_owned(),
                    detail: format!(
                        "another process holds {} (a daemon starting up?) but does not answer PING",
                        HostLock::path_for(path).display()
                    ),
                }
            });
        }
        Err(source) => {
            return Err(DiscoveryError::Io {
                context: "cannot lock the daemon's lock file",
                address: address.to_owned(),
                source,
            })
        }
    };
    check_socket_path(path).map_err(unsafe_path)?;
    let liveness_timeout = config.liveness_timeout;
    if !path.exists() {
        return Ok(lock);
    }
    match tokio::net::UnixStream::connect(path).await {
        Ok(stream) => {
            drop(stream);
            // Not a cortex daemon (it would hold the lock): a Python one?
            if answers_ping(address, liveness_timeout).await {
                Err(DiscoveryError::AlreadyRunning {
                    address: address.to_owned(),
                })
            } else {
                Err(DiscoveryError::AddressInUse {
                    address: address.to_owned(),
                    detail: format!(
                        "a process listens on {} but does not answer PING",
                        path.display()
                    ),
                })
            }
        }
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound
            ) =>
        {
            tracing::warn!(
                path = %path.display(),
                "taking over a stale discovery socket file (its daemon is gone)"
            );
            Ok(lock)
        }
        Err(source) => Err(DiscoveryError::Io {
            context: "cannot check the existing daemon socket file",
            address: address.to_owned(),
            source,
        }),
    }
}

/// Removes the socket file at `path` if it is still the one we bound.
fn remove_if_same(path: &Path, dev: u64, ino: u64) {
    use std::os::unix::fs::MetadataExt;
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.dev() == dev && meta.ino() == ino => {
            if let Err(e) = std::fs::remove_file(path) {
                tracing::warn!(path = %path.display(), error = %e, "cannot remove the daemon socket file");
            }
        }
        _ => {}
    }
}

async fn answers_ping(address: &str, timeout: Duration) -> bool {
    let client = Client::with_config(
        ClientConfig::new(address)
            .request_timeout(timeout)
            .retries(0),
    );
    client.alive().await.is_ok()
}

/// A registered topic.
#[derive(Debug)]
struct Entry {
    info: TopicInfo,
    /// Distinguishes registrations of the same name, so a late probe result
    /// about an older registration cannot evict a newer one.
    generation: u64,
    failed_probes: u32,
}

/// A parked `WAIT_FOR_TOPIC`.
struct Waiter {
    envelope: Vec<zmq::Message>,
    topic: String,
    deadline: Instant,
}

/// Results of work spawned off the request path.
enum Event {
    /// A probe round finished: `(topic, generation, liveness)`.
    Probed(Vec<(String, u64, Liveness)>),
    /// A REGISTER conflicting with another node waited for a probe of that
    /// node's endpoint.
    ConflictChecked {
        envelope: Vec<zmq::Message>,
        info: TopicInfo,
        generation: u64,
        liveness: Liveness,
    },
}

/// What woke the serve loop.
enum Wake {
    Shutdown,
    Request(std::io::Result<Vec<zmq::Message>>),
    Event(Event),
    ProbeTick,
    WaiterDeadline,
    FileCheck,
    FlushOutbox,
}

struct Server {
    socket: AsyncSocket,
    registry: BTreeMap<String, Entry>,
    waiters: Vec<Waiter>,
    generation: u64,
    events_tx: mpsc::UnboundedSender<Event>,
    config: DaemonConfig,
    address: String,
    socket_file: Option<(PathBuf, u64, u64)>,
    outbox: Outbox,
    /// `outbox.overflowed` when it was last logged.
    overflow_logged: u64,
}

impl Server {
    async fn serve(
        &mut self,
        shutdown: &mut watch::Receiver<bool>,
        mut events: mpsc::UnboundedReceiver<Event>,
    ) -> Result<()> {
        let mut probe_tick = self.config.probe_interval.map(|every| {
            let mut t = tokio::time::interval(every);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            t
        });
        let mut probing = false;
        let mut file_check = self.socket_file.as_ref().map(|_| {
            let mut t = tokio::time::interval(SOCKET_FILE_CHECK);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            t
        });
        loop {
            // Under a steady stream of requests the retry timer below never
            // fires; waiting replies go out between requests instead.
            if !self.outbox.is_empty() {
                self.outbox.flush(self.socket.get_ref());
            }
            let next_deadline = self.waiters.iter().map(|w| w.deadline).min();
            let wake = tokio::select! {
                biased;
                r = shutdown.wait_for(|stop| *stop) => match r {
                    Ok(_) => Wake::Shutdown,
                    // Unreachable while we hold a sender; treat as stop.
                    Err(_) => Wake::Shutdown,
                },
                Some(event) = events.recv() => Wake::Event(event),
                frames = self.socket.recv_multipart() => Wake::Request(frames),
                _ = tick(&mut probe_tick), if !probing && probe_tick.is_some() => Wake::ProbeTick,
                _ = sleep_until(next_deadline), if next_deadline.is_some() => Wake::WaiterDeadline,
                _ = tick(&mut file_check), if file_check.is_some() => Wake::FileCheck,
                () = tokio::time::sleep(OUTBOX_RETRY), if !self.outbox.is_empty() => Wake::FlushOutbox,
            };
            match wake {
                Wake::Shutdown => return Ok(()),
                Wake::Request(Ok(frames)) => {
                    if self.handle_request(frames).await {
                        return Ok(());
                    }
                }
                Wake::Request(Err(e)) => {
                    tracing::warn!(error = %e, "discovery daemon receive failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Wake::Event(Event::Probed(results)) => {
                    probing = false;
                    self.apply_probes(results);
                }
                Wake::Event(Event::ConflictChecked {
                    envelope,
                    info,
                    generation,
                    liveness,
                }) => {
                    let response = self.resolve_conflict(info, generation, liveness).await;
                    self.reply(envelope, &response);
                }
                Wake::ProbeTick => {
                    probing = self.start_probe_round();
                }
                Wake::WaiterDeadline => self.expire_waiters().await,
                Wake::FileCheck => self.check_socket_file()?,
                // Flushed at the top of the loop.
                Wake::FlushOutbox => {}
            }
        }
    }

    /// Fails when our ipc socket file was removed or replaced: clients can
    /// no longer reach this daemon (e.g. another daemon, perhaps a Python
    /// one, bound the same path and silently took it over).
    fn check_socket_file(&self) -> Result<()> {
        use std::os::unix::fs::MetadataExt;
        let Some((path, dev, ino)) = &self.socket_file else {
            return Ok(());
        };
        let detail = match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.dev() == *dev && meta.ino() == *ino => return Ok(()),
            Ok(_) => format!(
                "another process replaced the socket file {} (a second daemon started \
                 at the same time?), so clients no longer reach this one",
                path.display()
            ),
            Err(_) => format!(
                "the socket file {} was removed, so clients can no longer reach this \
                 daemon; restart it (and keep tmp cleaners away from the directory)",
                path.display()
            ),
        };
        tracing::error!(address = %self.address, "{detail}");
        Err(DiscoveryError::AddressLost {
            address: self.address.clone(),
            detail,
        })
    }

    /// Handles one request; returns `true` when the daemon should stop.
    async fn handle_request(&mut self, mut frames: Vec<zmq::Message>) -> bool {
        // Envelope: everything up to and including the first empty frame
        // after the routing id; without one (a bare DEALER), the routing id.
        let split = frames
            .iter()
            .skip(1)
            .position(|f| f.is_empty())
            .map_or(1, |i| i + 2)
            .min(frames.len());
        let body = frames.split_off(split);
        let envelope = frames;
        let request = match body.as_slice() {
            [body] => Request::decode(body),
            [] => {
                let response = Response::error("empty request: send one msgpack map");
                self.reply(envelope, &response);
                return false;
            }
            more => {
                let response = Response::error(format!(
                    "request has {} body frames; send exactly one msgpack map",
                    more.len()
                ));
                self.reply(envelope, &response);
                return false;
            }
        };
        let request = match request {
            Ok(request) => request,
            Err(e) => {
                tracing::debug!(error = %e, "bad discovery request");
                let response = Response::error(format!("bad request: {e}"));
                self.reply(envelope, &response);
                return false;
            }
        };
        let mut stop = false;
        let response = match request.command {
            Command::RegisterTopic => match request.topic_info {
                Some(info) => self.register(envelope, info).await,
                None => Some((envelope, Response::error("REGISTER_TOPIC needs topic_info"))),
            },
            Command::UnregisterTopic => {
                let response = match request.topic() {
                    Some(name) => self.unregister(name),
                    None => Response::error("UNREGISTER_TOPIC needs topic_name"),
                };
                Some((envelope, response))
            }
            Command::LookupTopic => {
                let response = match request.topic() {
                    Some(name) => self.lookup(name),
                    None => Response::error("LOOKUP_TOPIC needs topic_name"),
                };
                Some((envelope, response))
            }
            Command::ListTopics => Some((envelope, self.list(None))),
            Command::ListTopicsFrom => {
                let response = self.list(Some(request.topic_name.as_deref().unwrap_or("")));
                Some((envelope, response))
            }
            Command::Ping => Some((envelope, Response::new(Status::Ok, "pong"))),
            Command::WaitForTopic => match request.topic() {
                Some(name) => self.wait_for(envelope, name.to_owned()),
                None => Some((envelope, Response::error("WAIT_FOR_TOPIC needs topic_name"))),
            },
            Command::Shutdown => {
                if self.config.allow_shutdown_command {
                    tracing::info!("SHUTDOWN requested by a client");
                    stop = true;
                    Some((envelope, Response::new(Status::Ok, "Shutting down")))
                } else {
                    Some((
                        envelope,
                        Response::error("this daemon does not accept SHUTDOWN; stop its process"),
                    ))
                }
            }
        };
        if let Some((envelope, response)) = response {
            self.reply(envelope, &response);
        }
        stop
    }

    async fn register(
        &mut self,
        envelope: Vec<zmq::Message>,
        info: TopicInfo,
    ) -> Option<(Vec<zmq::Message>, Response)> {
        if let Err(reason) = info.check() {
            tracing::warn!(topic = %info.name.chars().take(200).collect::<String>(), node = %info.publisher_node.chars().take(200).collect::<String>(), %reason, "refused a registration");
            let response = Response::error(format!("cannot register this record: {reason}"));
            return Some((envelope, response));
        }
        match self.registry.get(&info.name) {
            Some(existing) if existing.info.publisher_node != info.publisher_node => {
                if self.config.probe_interval.is_none() {
                    return Some((envelope, already_exists(&info.name)));
                }
                // Answer once we know whether the current owner is alive.
                let address = existing.info.address.clone();
                let generation = existing.generation;
                let timeout = self.config.probe_timeout;
                let events = self.events_tx.clone();
                tokio::spawn(async move {
                    let liveness = probe(&address, timeout).await;
                    let _ = events.send(Event::ConflictChecked {
                        envelope,
                        info,
                        generation,
                        liveness,
                    });
                });
                None
            }
            _ => {
                let response = self.insert(info).await;
                Some((envelope, response))
            }
        }
    }

    /// Stores `info` (new, or overwriting the same node's record) and
    /// answers the waiters for it.
    async fn insert(&mut self, info: TopicInfo) -> Response {
        self.generation += 1;
        let name = info.name.clone();
        let previous = self.registry.insert(
            name.clone(),
            Entry {
                info: info.clone(),
                generation: self.generation,
                failed_probes: 0,
            },
        );
        tracing::info!(
            topic = %info.name,
            address = %info.address,
            node = %info.publisher_node,
            message_type = %info.message_type,
            replaced = previous.is_some(),
            "registered topic"
        );
        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waiters)
            .into_iter()
            .partition(|w| w.topic == name);
        self.waiters = waiting;
        for waiter in ready {
            let mut response = Response::new(Status::Ok, "");
            response.topic_info = Some(info.clone());
            self.reply(waiter.envelope, &response);
        }
        Response::new(Status::Ok, format!("Registered topic: {name}"))
    }

    async fn resolve_conflict(
        &mut self,
        info: TopicInfo,
        generation: u64,
        liveness: Liveness,
    ) -> Response {
        let Some(existing) = self.registry.get(&info.name) else {
            return self.insert(info).await;
        };
        if existing.info.publisher_node == info.publisher_node {
            return self.insert(info).await;
        }
        if existing.generation == generation && liveness == Liveness::Dead {
            tracing::info!(
                topic = %info.name,
                address = %existing.info.address,
                node = %existing.info.publisher_node,
                new_node = %info.publisher_node,
                "evicted topic: its publisher is gone and another node registers it"
            );
            return self.insert(info).await;
        }
        already_exists(&info.name)
    }

    fn unregister(&mut self, name: &str) -> Response {
        match self.registry.remove(name) {
            Some(entry) => {
                tracing::info!(
                    topic = %name,
                    node = %entry.info.publisher_node,
                    "unregistered topic"
                );
                Response::new(Status::Ok, format!("Unregistered topic: {name}"))
            }
            None => Response::new(Status::NotFound, format!("Topic not found: {name}")),
        }
    }

    /// The records after `after` (`None`: `LIST_TOPICS`, from the first),
    /// as many as fit in one reply of at most [`MAX_MESSAGE_BYTES`].
    fn list(&self, after: Option<&str>) -> Response {
        use std::ops::Bound;
        let start = match after {
            Some(name) if !name.is_empty() => Bound::Excluded(name),
            _ => Bound::Unbounded,
        };
        // Room for the map, status and message around the records.
        let mut room = MAX_MESSAGE_BYTES - 1024;
        let mut topics = Vec::new();
        for entry in self
            .registry
            .range::<str, _>((start, Bound::Unbounded))
            .map(|(_, e)| e)
        {
            // A record's bin header is at most 5 bytes.
            let size = entry.info.encode().len() + 5;
            if size > room {
                break;
            }
            room -= size;
            topics.push(entry.info.clone());
        }
        let message = if after.is_none() && topics.len() < self.registry.len() {
            format!(
                "listed {} of {} topics (one reply holds at most {} bytes); list the rest with LIST_TOPICS_FROM",
                topics.len(),
                self.registry.len(),
                MAX_MESSAGE_BYTES
            )
        } else {
            String::new()
        };
        let mut response = Response::new(Status::Ok, message);
        response.topics = Some(topics);
        response
    }

    fn lookup(&self, name: &str) -> Response {
        match self.registry.get(name) {
            Some(entry) => {
                let mut response = Response::new(Status::Ok, "");
                response.topic_info = Some(entry.info.clone());
                response
            }
            None => Response::new(Status::NotFound, format!("Topic not found: {name}")),
        }
    }

    fn wait_for(
        &mut self,
        envelope: Vec<zmq::Message>,
        name: String,
    ) -> Option<(Vec<zmq::Message>, Response)> {
        if self.registry.contains_key(&name) {
            return Some((envelope, self.lookup(&name)));
        }
        if self.waiters.len() >= self.config.max_waiters {
            return Some((
                envelope,
                Response::error(format!(
                    "too many clients waiting for topics; poll LOOKUP_TOPIC for {name} instead"
                )),
            ));
        }
        self.waiters.push(Waiter {
            envelope,
            topic: name,
            deadline: Instant::now() + self.config.long_poll_window,
        });
        None
    }

    async fn expire_waiters(&mut self) {
        let now = Instant::now();
        let (expired, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waiters)
            .into_iter()
            .partition(|w| w.deadline <= now);
        self.waiters = waiting;
        for waiter in expired {
            let response = Response::new(
                Status::NotFound,
                format!("Topic not found: {}", waiter.topic),
            );
            self.reply(waiter.envelope, &response);
        }
    }

    /// Spawns a probe of every record; returns whether one was started.
    fn start_probe_round(&mut self) -> bool {
        if self.registry.is_empty() {
            return false;
        }
        let targets: Vec<(String, u64, String)> = self
            .registry
            .iter()
            .map(|(name, e)| (name.clone(), e.generation, e.info.address.clone()))
            .collect();
        let timeout = self.config.probe_timeout;
        let events = self.events_tx.clone();
        tokio::spawn(async move {
            // All probes run at once, bounded by a semaphore, so one slow
            // (timing out) endpoint delays the round by one timeout at most
            // per PROBE_CONCURRENCY slow endpoints.
            let permits = Arc::new(tokio::sync::Semaphore::new(PROBE_CONCURRENCY));
            let mut set = JoinSet::new();
            for (name, generation, address) in targets {
                let permits = Arc::clone(&permits);
                set.spawn(async move {
                    let _permit = permits.acquire_owned().await;
                    (name, generation, probe(&address, timeout).await)
                });
            }
            let mut results = Vec::with_capacity(set.len());
            while let Some(done) = set.join_next().await {
                if let Ok(result) = done {
                    results.push(result);
                }
            }
            let _ = events.send(Event::Probed(results));
        });
        true
    }

    fn apply_probes(&mut self, results: Vec<(String, u64, Liveness)>) {
        for (name, generation, liveness) in results {
            let Some(entry) = self.registry.get_mut(&name) else {
                continue;
            };
            if entry.generation != generation {
                continue;
            }
            match liveness {
                Liveness::Alive => entry.failed_probes = 0,
                Liveness::Unknown => {}
                Liveness::Dead => {
                    entry.failed_probes += 1;
                    if entry.failed_probes >= self.config.evict_after {
                        if let Some(entry) = self.registry.remove(&name) {
                            tracing::info!(
                                topic = %name,
                                address = %entry.info.address,
                                node = %entry.info.publisher_node,
                                "evicted topic: nothing listens at its endpoint any more"
                            );
                        }
                    }
                }
            }
        }
    }

    /// Sends a reply now, or queues it behind the client's earlier ones
    /// (see [`Outbox`]); never waits.
    fn reply(&mut self, envelope: Vec<zmq::Message>, response: &Response) {
        let mut frames: Vec<Vec<u8>> = envelope.iter().map(|f| f.to_vec()).collect();
        frames.push(response.encode());
        if self.outbox.send(self.socket.get_ref(), frames) == Sent::Dropped
            && self.outbox.overflowed > self.overflow_logged
        {
            self.overflow_logged = self.outbox.overflowed;
            tracing::warn!(
                address = %self.address,
                dropped = self.outbox.overflowed,
                "a discovery client does not read its replies; dropping replies beyond its 8 MiB backlog"
            );
        }
    }
}

fn already_exists(name: &str) -> Response {
    Response::new(
        Status::AlreadyExists,
        format!("Topic {name} already registered by another node"),
    )
}

async fn tick(interval: &mut Option<tokio::time::Interval>) {
    match interval {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
