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
//!
//! The parts: `registry` (records, long polls, eviction: pure logic, tested
//! on paused time), `nodes` (what each node last reported doing, forgotten
//! when it goes silent; pure logic too), `server` (the serve loop around it), `socket_file` (an
//! ipc address taken over safely, watched, removed only if still ours),
//! `outbox` (replies a slow client has not taken yet) and `probe` (is a
//! registered endpoint still served?).

mod nodes;
mod outbox;
mod probe;
mod registry;
mod server;
mod socket_file;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use self::server::Server;
use self::socket_file::{answers_ping, SocketFile};
use super::address::{default_address, validate_bind_address};
use super::error::{DiscoveryError, Result};
use super::host_lock::HostLock;
use crate::io::{restrict_socket, AsyncSocket, SocketAccess};

/// Per-frame size limit of the daemon socket: a larger frame makes libzmq
/// drop the sender's connection instead of buffering it. Anything above
/// [`MAX_MESSAGE_BYTES`](super::MAX_MESSAGE_BYTES) but below this limit gets
/// an `ERROR` reply.
const MAX_FRAME_BYTES: i64 = 64 << 20;

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
    socket_file: Option<SocketFile>,
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
            Some(path) => Some(socket_file::prepare(&address, path, &config).await?),
            None => None,
        };
        let io_err = |context: &'static str| {
            let address = address.clone();
            move |e: zmq::Error| DiscoveryError::Io {
                context,
                address,
                cause: e.into(),
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
                    cause: source,
                }
            })?;
        }
        let socket_file = ipc_path.and_then(SocketFile::identify);
        let bound = match socket.get_last_endpoint() {
            Ok(Ok(endpoint)) if address.starts_with("tcp://") => endpoint,
            _ => address.clone(),
        };
        let socket = AsyncSocket::new(socket).map_err(|source| DiscoveryError::Io {
            context: "cannot register the daemon socket with tokio",
            address: address.clone(),
            cause: source,
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
        let server = Server::new(socket, config, address.clone(), socket_file.clone());
        let (outcome, socket) = server.run(&mut shutdown_rx).await;
        // Give the last replies (e.g. to SHUTDOWN) a moment to leave.
        let _ = socket.get_ref().set_linger(100);
        drop(socket);
        // Terminating the context waits until libzmq has closed the
        // listener; only then is the file safe to remove.
        let _ = tokio::task::spawn_blocking(move || drop(ctx)).await;
        if let Some(file) = socket_file {
            file.remove_if_ours();
        }
        // Only now may another process bind the address.
        drop(host_lock);
        tracing::info!(address = %address, "discovery daemon stopped");
        outcome
    }
}
