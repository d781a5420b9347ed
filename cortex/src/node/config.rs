//! Node settings.

use std::path::PathBuf;
use std::time::Duration;

use crate::io::SocketAccess;
use crate::pubsub::{PublisherOptions, SubscriberOptions, Transport};

/// Environment variable that, when set to `0`/`false`, stops a node from
/// starting its own discovery daemon when none answers.
pub const SPAWN_DAEMON_ENV: &str = "CORTEX_SPAWN_DAEMON";

/// How a [`Node`](super::Node) is set up. Start from [`NodeConfig::new`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NodeConfig {
    /// Node name: part of socket file names and discovery records.
    pub name: String,
    /// Discovery daemon address; `None` means `CORTEX_DISCOVERY`, else
    /// `ipc:///tmp/cortex/discovery.sock`.
    pub discovery: Option<String>,
    /// Where publishers bind (ipc under a root directory, or tcp).
    pub transport: Transport,
    /// Publisher settings (queue depth, linger).
    pub publisher: PublisherOptions,
    /// Subscriber settings (queue depth, timeouts).
    pub subscriber: SubscriberOptions,
    /// Start an in-process discovery daemon when none answers (default
    /// true; `CORTEX_SPAWN_DAEMON=0` turns it off).
    pub spawn_daemon: bool,
    /// How long shutdown waits for in-flight handlers. Default 5 s.
    pub shutdown_timeout: Duration,
    /// How long [`Ctx::call`](crate::Ctx::call) waits for a reply (finding
    /// the service and connecting included). Default 5 s.
    pub call_timeout: Duration,
    /// Who may connect to the ipc sockets of this node and of a discovery
    /// daemon it starts (default: the user only; `CORTEX_SOCKET_ACCESS`).
    pub socket_access: SocketAccess,
    /// How often the node tells the discovery daemon what it publishes,
    /// subscribes to and serves (for `cortex node list`); it also reports
    /// at start and soon after each change. The daemon forgets a node
    /// after three intervals without a report. Default 2 s; `None`: never
    /// (the node is then not listed).
    pub report_interval: Option<Duration>,
}

impl NodeConfig {
    /// Defaults for a node called `name`.
    pub fn new(name: impl Into<String>) -> Self {
        let spawn_daemon = !matches!(
            std::env::var(SPAWN_DAEMON_ENV).as_deref(),
            Ok("0") | Ok("false") | Ok("no")
        );
        NodeConfig {
            name: name.into(),
            discovery: None,
            transport: Transport::default(),
            publisher: PublisherOptions::default(),
            subscriber: SubscriberOptions::default(),
            spawn_daemon,
            shutdown_timeout: Duration::from_secs(5),
            call_timeout: Duration::from_secs(5),
            socket_access: SocketAccess::from_env().unwrap_or_default(),
            report_interval: Some(Duration::from_secs(2)),
        }
    }

    /// Sets [`report_interval`](Self::report_interval) (`None`: the node
    /// does not report what it does).
    pub fn report_interval(mut self, interval: Option<Duration>) -> Self {
        self.report_interval = interval;
        self
    }

    /// Sets [`call_timeout`](Self::call_timeout).
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// Uses the discovery daemon at `address`.
    pub fn discovery(mut self, address: impl Into<String>) -> Self {
        self.discovery = Some(address.into());
        self
    }

    /// Binds ipc sockets under `root`.
    pub fn socket_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.transport = Transport::Ipc {
            root: root.into(),
            access: self.socket_access,
        };
        self
    }

    /// Who may connect to this node's ipc sockets (and to the discovery
    /// daemon it may start): [`SocketAccess::Owner`] by default, or
    /// `CORTEX_SOCKET_ACCESS`.
    pub fn socket_access(mut self, access: SocketAccess) -> Self {
        if let Transport::Ipc { access: a, .. } = &mut self.transport {
            *a = access;
        }
        self.socket_access = access;
        self
    }

    /// Publishes over tcp on `bind_host`, advertised as `advertise_host`.
    pub fn tcp(mut self, bind_host: impl Into<String>, advertise_host: impl Into<String>) -> Self {
        self.transport = Transport::Tcp {
            bind_host: bind_host.into(),
            advertise_host: advertise_host.into(),
        };
        self
    }

    /// Shared memory for local cortex subscribers, on both this node's
    /// publishers and its subscribers (see
    /// [`PublisherOptions::shared_memory`](crate::pubsub::PublisherOptions::shared_memory)).
    pub fn shared_memory(mut self, on: bool) -> Self {
        self.publisher.shared_memory = on;
        self.subscriber.shared_memory = on;
        self
    }

    /// Sets both the publisher and subscriber queue depth (most messages
    /// per queue).
    pub fn queue_depth(mut self, depth: i32) -> Self {
        self.publisher.queue_depth = depth;
        self.subscriber.queue_depth = depth;
        self
    }

    /// Sets both the publisher and subscriber byte budget per queue (see
    /// [`PublisherOptions::queue_bytes`]).
    pub fn queue_bytes(mut self, bytes: usize) -> Self {
        self.publisher.queue_bytes = bytes;
        self.subscriber.queue_bytes = bytes;
        self
    }

    /// What publishers do when a subscriber's queue is full (see
    /// [`OnFullQueue`](crate::pubsub::OnFullQueue)).
    pub fn on_full_queue(mut self, policy: crate::pubsub::OnFullQueue) -> Self {
        self.publisher.on_full_queue = policy;
        self
    }

    /// How long shutdown waits for in-flight handlers.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// How long a subscriber waits for its topic before warning (and
    /// waiting again, for `#[subscribe]` handlers).
    pub fn wait_timeout(mut self, timeout: Duration) -> Self {
        self.subscriber.wait_timeout = timeout;
        self
    }

    /// Whether to start a discovery daemon when none answers.
    pub fn spawn_daemon(mut self, spawn: bool) -> Self {
        self.spawn_daemon = spawn;
        self
    }
}
