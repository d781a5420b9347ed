//! The async discovery client.
//!
//! It talks to the daemon through a DEALER socket and frames each request as
//! `[request id, "", body]`. A ROUTER daemon (cortex) or a REP daemon
//! (Python) echoes the envelope back, so every reply names the request it
//! answers and a late reply to an abandoned request is recognised and
//! dropped. After a timeout the socket is closed (LINGER 0 discards anything
//! still queued) and a fresh one is connected before the retry, so a lost
//! reply never leaves the client stuck, unlike a plain REQ socket.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::address::default_address;
use super::error::{DiscoveryError, ProtocolError, Result};
use super::protocol::{NodeInfo, Request, Response, Status, TopicInfo, TOO_MANY_WAITING};
use crate::io::AsyncSocket;

/// The daemon holds a `WAIT_FOR_TOPIC` for up to this long (its
/// [`DaemonConfig::long_poll_window`](super::DaemonConfig::long_poll_window)
/// default); the client allows this plus its request timeout per long poll.
const LONG_POLL_ALLOWANCE: Duration = Duration::from_secs(1);

/// How often a [`PublisherWatch`] asks a daemon that cannot hold its
/// request (it holds as many as it may).
const FULL_DAEMON_POLL: Duration = Duration::from_secs(1);

/// Settings of a [`Client`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Daemon address, `ipc://...` or `tcp://host:port`.
    pub address: String,
    /// How long to wait for each reply before retrying on a fresh socket.
    pub request_timeout: Duration,
    /// How many times to resend after a timeout (0 = send once).
    pub retries: u32,
    /// Lookup interval of [`Client::wait_for_topic`] when the daemon does
    /// not support `WAIT_FOR_TOPIC` (a Python daemon).
    pub poll_interval: Duration,
    /// How often a [`Registration`] checks that the daemon still has it.
    pub keepalive_interval: Duration,
}

impl ClientConfig {
    /// Defaults for the daemon at `address`.
    pub fn new(address: impl Into<String>) -> Self {
        Self {
            address: address.into(),
            request_timeout: Duration::from_secs(1),
            retries: 2,
            poll_interval: Duration::from_millis(100),
            keepalive_interval: Duration::from_millis(500),
        }
    }

    /// Defaults for the daemon at `CORTEX_DISCOVERY`, else the default address.
    pub fn from_env() -> Self {
        Self::new(default_address())
    }

    /// Sets [`request_timeout`](Self::request_timeout).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Sets [`retries`](Self::retries).
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// Sets [`poll_interval`](Self::poll_interval).
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Sets [`keepalive_interval`](Self::keepalive_interval).
    pub fn keepalive_interval(mut self, interval: Duration) -> Self {
        self.keepalive_interval = interval;
        self
    }
}

/// The ZeroMQ context shared by clients that were not given one.
fn shared_context() -> zmq::Context {
    static CONTEXT: OnceLock<zmq::Context> = OnceLock::new();
    CONTEXT.get_or_init(zmq::Context::new).clone()
}

/// An async client of the discovery daemon.
///
/// Cheap to clone; clones share one connection, and their requests take
/// turns on it. Every method bounds its wait by the configured timeout and
/// retries, so it always returns. Must be used inside a tokio runtime.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
    /// Requests concern services, not topics (see [`Client::for_services`]).
    services: bool,
}

struct Inner {
    config: ClientConfig,
    ctx: zmq::Context,
    conn: Mutex<Option<Conn>>,
    /// Whether the daemon knows the cortex extensions (asked once, the
    /// first time a request would carry an extension key).
    extended: tokio::sync::OnceCell<bool>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client of the daemon at `address`, with default settings.
    pub fn new(address: impl Into<String>) -> Self {
        Self::with_config(ClientConfig::new(address))
    }

    /// A client of the daemon at `CORTEX_DISCOVERY` (else the default address).
    pub fn from_env() -> Self {
        Self::with_config(ClientConfig::from_env())
    }

    /// A client with explicit settings, on the process-wide ZeroMQ context.
    pub fn with_config(config: ClientConfig) -> Self {
        Self::with_context(shared_context(), config)
    }

    /// A client whose socket lives in `ctx` (e.g. the node's context).
    pub fn with_context(ctx: zmq::Context, config: ClientConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                ctx,
                conn: Mutex::new(None),
                extended: tokio::sync::OnceCell::new(),
            }),
            services: false,
        }
    }

    /// A view of this client (same connection) whose requests concern
    /// services instead of topics: registering, looking up, waiting for,
    /// watching and unregistering then use the daemon's service registry,
    /// which is kept apart from topics (a Python client never lists a
    /// service). A Python daemon ignores the difference: there a service is
    /// a topic of the same name.
    pub fn for_services(&self) -> Client {
        Client {
            inner: Arc::clone(&self.inner),
            services: true,
        }
    }

    /// Every service record, by name (see [`for_services`](Self::for_services)).
    /// A Python daemon has none of its own: an error says so.
    pub async fn list_services(&self) -> Result<Vec<TopicInfo>> {
        let mut all: Vec<TopicInfo> = Vec::new();
        loop {
            let cursor = all.last().map(|t| t.name.clone());
            let request = Request::list_services(cursor.as_deref());
            let response = self.request(&request).await?;
            if response.status != Status::Ok {
                return Err(self.rejected(&request, response));
            }
            let page = response.topics.unwrap_or_default();
            let forward = page
                .first()
                .is_some_and(|t| cursor.as_deref().is_none_or(|c| t.name.as_str() > c));
            if !forward {
                return Ok(all);
            }
            all.extend(page);
        }
    }

    /// Tells the daemon what the node of `info` does now (`REPORT_NODE`);
    /// a node's background task calls this every few seconds. `Ok(false)`:
    /// the daemon does not track nodes (a Python daemon, or an older cortex
    /// one), and the report was skipped.
    pub async fn report_node(&self, info: &NodeInfo) -> Result<bool> {
        if !self.extended().await? {
            tracing::debug!(node = %info.name, daemon = %self.address(),
                "the discovery daemon does not track nodes (a Python daemon?); not reporting");
            return Ok(false);
        }
        let request = Request::report_node(info.clone());
        let response = self.request(&request).await?;
        match response.status {
            Status::Ok => Ok(true),
            _ if Self::unknown_command(&response) => {
                tracing::debug!(node = %info.name, daemon = %self.address(),
                    "the discovery daemon does not know REPORT_NODE; not reporting");
                Ok(false)
            }
            _ => Err(self.rejected(&request, response)),
        }
    }

    /// Tells the daemon to forget the node of `info` (`UNREGISTER_NODE`),
    /// as a closing node does; `Ok(false)` if the daemon did not know it,
    /// or does not track nodes.
    pub async fn unregister_node(&self, info: &NodeInfo) -> Result<bool> {
        if !self.extended().await? {
            return Ok(false);
        }
        let request = Request::unregister_node(info.clone());
        let response = self.request(&request).await?;
        match response.status {
            Status::Ok => Ok(true),
            Status::NotFound => Ok(false),
            _ if Self::unknown_command(&response) => Ok(false),
            _ => Err(self.rejected(&request, response)),
        }
    }

    /// The latest report of every node (`LIST_NODES`), by node name, with
    /// how long ago the daemon got each. A daemon that does not track
    /// nodes (a Python daemon) is an error that says so.
    pub async fn list_nodes(&self) -> Result<Vec<NodeReport>> {
        let request = Request::list_nodes(None);
        if !self.extended().await? {
            return Err(self.tracks_no_nodes(&request, "it does not know the cortex extensions"));
        }
        let mut all: Vec<NodeReport> = Vec::new();
        loop {
            let cursor = all.last().map(|r| (r.info.name.clone(), r.info.instance));
            let request = Request::list_nodes(cursor.as_ref().map(|(n, i)| (n.as_str(), *i)));
            let response = self.request(&request).await?;
            match response.status {
                Status::Ok => {}
                _ if Self::unknown_command(&response) => {
                    return Err(self.tracks_no_nodes(&request, &response.message));
                }
                _ => return Err(self.rejected(&request, response)),
            }
            let ages = response.ages_ms.unwrap_or_default();
            let page = response.nodes.unwrap_or_default();
            // A page must move forward; anything else ends the list.
            let forward = page.first().is_some_and(|n| {
                cursor
                    .as_ref()
                    .is_none_or(|(name, i)| (&n.name, n.instance) > (name, *i))
            });
            if !forward {
                return Ok(all);
            }
            all.extend(page.into_iter().enumerate().map(|(i, info)| NodeReport {
                info,
                age: Duration::from_millis(ages.get(i).copied().unwrap_or(0)),
            }));
        }
    }

    /// The error of a listing a daemon without node reports cannot answer.
    fn tracks_no_nodes(&self, request: &Request, why: &str) -> DiscoveryError {
        DiscoveryError::Rejected {
            address: self.address().to_owned(),
            command: request.command.name(),
            topic: None,
            message: format!(
                "{why}: this daemon does not track nodes (a Python cortex daemon knows topics \
                 only); run the cortex daemon (`cortex discovery`) to list nodes"
            ),
        }
    }

    /// Whether `response` is a daemon's `ERROR` about a command it does
    /// not know (a cortex daemon older than the command: `bad request:
    /// unknown command ...`; a Python daemon: `Unknown command ...`).
    fn unknown_command(response: &Response) -> bool {
        response.status == Status::Error
            && response
                .message
                .to_ascii_lowercase()
                .contains("unknown command")
    }

    /// `request` scoped to this client's records, without the extension
    /// keys if the daemon does not know them (a Python daemon: it would
    /// treat a service as a topic anyway, and cannot tell subscribers that
    /// a publisher is latched).
    async fn prepared(&self, request: Request) -> Result<Request> {
        let mut request = self.scoped(request);
        if (request.service || request.latched.is_some()) && !self.extended().await? {
            request.service = false;
            request.latched = None;
        }
        Ok(request)
    }

    /// Whether the daemon knows the cortex extensions (a Python daemon
    /// answers `ERROR` to `WATCH_PUBLISHERS`): asked once per client.
    async fn extended(&self) -> Result<bool> {
        self.inner
            .extended
            .get_or_try_init(|| async {
                let probe = Request::watch_publishers("/", None);
                let config = &self.inner.config;
                let mut conn = self.inner.conn.lock().await;
                let response = exchange(
                    &mut conn,
                    &self.inner.ctx,
                    config,
                    &probe,
                    config.request_timeout,
                    config.retries,
                )
                .await?;
                Ok(response.status == Status::Ok)
            })
            .await
            .copied()
    }

    /// `request` about this client's kind of record (topics or services).
    fn scoped(&self, request: Request) -> Request {
        if self.services {
            request.for_service()
        } else {
            request
        }
    }

    /// The settings in use.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// The daemon address.
    pub fn address(&self) -> &str {
        &self.inner.config.address
    }

    /// Sends `request` and returns the daemon's response, whatever its status.
    pub async fn request(&self, request: &Request) -> Result<Response> {
        let config = &self.inner.config;
        let request = &self.prepared(request.clone()).await?;
        let mut conn = self.inner.conn.lock().await;
        exchange(
            &mut conn,
            &self.inner.ctx,
            config,
            request,
            config.request_timeout,
            config.retries,
        )
        .await
    }

    /// Checks that the daemon answers.
    pub async fn ping(&self) -> Result<()> {
        let request = Request::ping();
        let response = self.request(&request).await?;
        match response.status {
            Status::Ok => Ok(()),
            _ => Err(self.rejected(&request, response)),
        }
    }

    /// Checks that a daemon answers at all: any reply counts, so a daemon
    /// that does not know `PING` (older Python daemons answer it with
    /// `ERROR`) is alive too.
    pub async fn alive(&self) -> Result<()> {
        self.request(&Request::ping()).await.map(drop)
    }

    /// Registers `info` as a publisher of its topic. Registering again from
    /// the same `publisher_node` overwrites the node's record; other nodes
    /// may publish the topic too if they send the same type (a cortex
    /// daemon; a Python daemon allows one publisher per topic:
    /// [`DiscoveryError::TopicTaken`]). A publisher of another type is
    /// refused with both types named ([`DiscoveryError::Rejected`]).
    pub async fn register(&self, info: &TopicInfo) -> Result<()> {
        self.register_latched(info, 0).await
    }

    /// [`register`](Self::register) for a publisher that replays its last
    /// `latched` messages to each subscriber that joins (a cortex daemon
    /// tells subscribers through [`PublisherWatch::latched`]; a Python
    /// daemon ignores it).
    pub async fn register_latched(&self, info: &TopicInfo, latched: u64) -> Result<()> {
        let request = Request::register_latched(info.clone(), latched);
        let response = self.request(&request).await?;
        match response.status {
            Status::Ok => Ok(()),
            Status::AlreadyExists => Err(DiscoveryError::TopicTaken {
                topic: info.name.clone(),
                address: self.address().to_owned(),
                message: response.message,
            }),
            _ => Err(self.rejected(&request, response)),
        }
    }

    /// Removes the record of `name`; `false` if there was none.
    pub async fn unregister(&self, name: &str) -> Result<bool> {
        let request = Request::unregister(name);
        let response = self.request(&request).await?;
        match response.status {
            Status::Ok => Ok(true),
            Status::NotFound => Ok(false),
            _ => Err(self.rejected(&request, response)),
        }
    }

    /// The record of `name`, if registered.
    /// Removes one publisher's record (`UNREGISTER_PUBLISHER`), leaving the
    /// topic's other publishers; `false` if the daemon had no such record.
    /// Against a Python daemon (one publisher per topic), removes the topic
    /// if `info` is its record.
    pub async fn unregister_publisher(&self, info: &TopicInfo) -> Result<bool> {
        let request = Request::unregister_publisher(info.clone());
        let response = self.request(&request).await?;
        match response.status {
            Status::Ok => Ok(true),
            Status::NotFound => Ok(false),
            _ if Self::unsupported(&response) => match self.lookup(&info.name).await? {
                Some(current)
                    if current.publisher_node == info.publisher_node
                        && current.address == info.address =>
                {
                    self.unregister(&info.name).await
                }
                _ => Ok(false),
            },
            _ => Err(self.rejected(&request, response)),
        }
    }

    /// Every publisher of `name`, oldest first (empty if none). Against a
    /// Python daemon, the one record `LOOKUP_TOPIC` returns.
    pub async fn publishers(&self, name: &str) -> Result<Vec<TopicInfo>> {
        if !self.extended().await? {
            return Ok(self.lookup(name).await?.into_iter().collect());
        }
        let request = Request::watch_publishers(name, None);
        let response = self.request(&request).await?;
        match response.status {
            Status::Ok => Ok(response.topics.unwrap_or_default()),
            _ if Self::unsupported(&response) => Ok(self.lookup(name).await?.into_iter().collect()),
            _ => Err(self.rejected(&request, response)),
        }
    }

    /// Follows the publishers of `name` as they join and leave (see
    /// [`PublisherWatch`]). Uses a connection of its own for its long polls.
    pub fn watch_publishers(&self, name: &str) -> PublisherWatch {
        PublisherWatch {
            client: self.clone(),
            topic: name.to_owned(),
            conn: None,
            version: None,
            park: true,
            last: Vec::new(),
        }
    }

    /// Whether `response` is how a daemon answers a command it does not
    /// know (a Python daemon: `ERROR`, "Unknown command ...").
    fn unsupported(response: &Response) -> bool {
        response.status == Status::Error && response.topics.is_none()
    }

    /// Fetches the record of `name` (`None` if it is not registered). For a
    /// topic with several publishers, the oldest one's.
    pub async fn lookup(&self, name: &str) -> Result<Option<TopicInfo>> {
        let request = Request::lookup(name);
        let response = self.request(&request).await?;
        self.lookup_result(&request, response)
    }

    /// Every registered record, in name order.
    ///
    /// A cortex daemon is asked page by page (`LIST_TOPICS_FROM`), so any
    /// number of records arrives; the pages are consistent one by one, not
    /// as a whole (a topic registered meanwhile may be missed). A daemon
    /// without the extension (the Python one) is asked with `LIST_TOPICS`.
    pub async fn list(&self) -> Result<Vec<TopicInfo>> {
        let mut all: Vec<TopicInfo> = Vec::new();
        loop {
            let cursor = all.last().map(|t| t.name.clone());
            let request = Request::list_from(cursor.as_deref());
            let response = self.request(&request).await?;
            match response.status {
                Status::Ok => {
                    let page = response.topics.unwrap_or_default();
                    // A page must move forward; anything else ends the list.
                    let forward = page
                        .first()
                        .is_some_and(|t| cursor.as_deref().is_none_or(|c| t.name.as_str() > c));
                    if !forward {
                        return Ok(all);
                    }
                    all.extend(page);
                }
                Status::Error if cursor.is_none() => break,
                _ => return Err(self.rejected(&request, response)),
            }
        }
        let request = Request::list();
        let response = self.request(&request).await?;
        match response.status {
            Status::Ok => Ok(response.topics.unwrap_or_default()),
            _ => Err(self.rejected(&request, response)),
        }
    }

    /// Waits until `name` is registered and returns its record.
    ///
    /// With a cortex daemon this is a long poll (`WAIT_FOR_TOPIC`): the
    /// daemon answers as soon as the topic is registered. A daemon without
    /// the extension (the Python one) answers `ERROR`, and the client falls
    /// back to `LOOKUP_TOPIC` every [`ClientConfig::poll_interval`].
    /// Uses its own connection, so other requests on this client proceed.
    pub async fn wait_for_topic(&self, name: &str, timeout: Duration) -> Result<TopicInfo> {
        let config = &self.inner.config;
        let deadline = Instant::now() + timeout;
        let mut conn = None;
        let request = self.prepared(Request::wait_for_topic(name)).await?;
        let timed_out = || DiscoveryError::WaitTimeout {
            topic: name.to_owned(),
            address: config.address.clone(),
            timeout,
        };
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(timed_out());
            }
            let per_poll = remaining.min(LONG_POLL_ALLOWANCE + config.request_timeout);
            match exchange(&mut conn, &self.inner.ctx, config, &request, per_poll, 0).await {
                Ok(response) => match response.status {
                    Status::Ok => {
                        return response.topic_info.ok_or_else(|| self.missing_info());
                    }
                    // The daemon's window ended: ask again.
                    Status::NotFound => {}
                    Status::Error | Status::AlreadyExists => {
                        tracing::debug!(
                            topic = name,
                            daemon = %config.address,
                            "daemon does not support WAIT_FOR_TOPIC; polling LOOKUP_TOPIC"
                        );
                        return self.poll_for_topic(name, deadline, conn, timeout).await;
                    }
                },
                Err(DiscoveryError::Timeout { .. }) => {}
                Err(e) => return Err(e),
            }
        }
    }

    async fn poll_for_topic(
        &self,
        name: &str,
        deadline: Instant,
        mut conn: Option<Conn>,
        timeout: Duration,
    ) -> Result<TopicInfo> {
        let config = &self.inner.config;
        let request = self.prepared(Request::lookup(name)).await?;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(DiscoveryError::WaitTimeout {
                    topic: name.to_owned(),
                    address: config.address.clone(),
                    timeout,
                });
            }
            let per_try = remaining.min(config.request_timeout);
            match exchange(&mut conn, &self.inner.ctx, config, &request, per_try, 0).await {
                Ok(response) => {
                    if let Some(info) = self.lookup_result(&request, response)? {
                        return Ok(info);
                    }
                }
                Err(DiscoveryError::Timeout { .. }) => continue,
                Err(e) => return Err(e),
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            tokio::time::sleep(config.poll_interval.min(remaining)).await;
        }
    }

    /// Registers `info` and keeps it registered: a background task checks
    /// every [`ClientConfig::keepalive_interval`] that the daemon still has
    /// the record and registers it again if not (after a daemon restart, or
    /// an eviction by mistake). Fails like [`register`](Self::register) if
    /// the first registration fails.
    pub async fn keep_registered(&self, info: TopicInfo) -> Result<Registration> {
        self.keep_registered_latched(info, 0).await
    }

    /// [`keep_registered`](Self::keep_registered) for a publisher that
    /// replays its last `latched` messages to each subscriber that joins.
    pub async fn keep_registered_latched(
        &self,
        info: TopicInfo,
        latched: u64,
    ) -> Result<Registration> {
        self.register_latched(&info, latched).await?;
        let config = self.inner.config.clone();
        // Short timeouts so a restarted daemon is noticed quickly; its own
        // connection so a slow user request never delays the check.
        let timeout = config.request_timeout.min(config.keepalive_interval);
        let mut keeper = Client::with_context(
            self.inner.ctx.clone(),
            config.clone().request_timeout(timeout).retries(1),
        );
        keeper.services = self.services;
        let restored = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn(keep_alive(
            keeper.clone(),
            info.clone(),
            latched,
            config.keepalive_interval,
            Arc::clone(&restored),
        ));
        Ok(Registration {
            info,
            client: keeper,
            task,
            restored,
        })
    }

    fn lookup_result(&self, request: &Request, response: Response) -> Result<Option<TopicInfo>> {
        match response.status {
            Status::Ok => response
                .topic_info
                .map(Some)
                .ok_or_else(|| self.missing_info()),
            Status::NotFound => Ok(None),
            _ => Err(self.rejected(request, response)),
        }
    }

    fn missing_info(&self) -> DiscoveryError {
        DiscoveryError::Protocol {
            address: self.address().to_owned(),
            cause: ProtocolError::MissingKey {
                what: "response",
                key: "topic_info",
            },
        }
    }

    fn rejected(&self, request: &Request, response: Response) -> DiscoveryError {
        DiscoveryError::Rejected {
            address: self.address().to_owned(),
            command: request.command.name(),
            topic: request.topic().map(str::to_owned),
            message: response.message,
        }
    }
}

/// Sends `request` on `slot` (connecting first if empty), waits `timeout`
/// per attempt, and retries `retries` times on a fresh socket.
async fn exchange(
    slot: &mut Option<Conn>,
    ctx: &zmq::Context,
    config: &ClientConfig,
    request: &Request,
    timeout: Duration,
    retries: u32,
) -> Result<Response> {
    let body = request.encode();
    let attempts = retries.saturating_add(1);
    for _ in 0..attempts {
        let conn = match slot {
            Some(conn) => conn,
            None => slot.insert(Conn::open(ctx, &config.address).map_err(|source| {
                DiscoveryError::Io {
                    context: "cannot connect a socket to the discovery daemon",
                    address: config.address.clone(),
                    cause: source,
                }
            })?),
        };
        match tokio::time::timeout(timeout, conn.roundtrip(&body)).await {
            Ok(Ok(reply)) => {
                return Response::decode(&reply).map_err(|source| DiscoveryError::Protocol {
                    address: config.address.clone(),
                    cause: source,
                });
            }
            Ok(Err(e)) => {
                tracing::debug!(daemon = %config.address, error = %e, "discovery socket error; reconnecting");
                *slot = None;
            }
            Err(_elapsed) => {
                tracing::debug!(
                    daemon = %config.address,
                    command = %request.command,
                    "no reply from discovery daemon; retrying on a fresh socket"
                );
                *slot = None;
            }
        }
    }
    Err(DiscoveryError::Timeout {
        address: config.address.clone(),
        command: request.command.name(),
        attempts,
        timeout,
    })
}

/// One DEALER connection to the daemon.
#[derive(Debug)]
struct Conn {
    socket: AsyncSocket,
    next_id: u64,
}

impl Conn {
    fn open(ctx: &zmq::Context, address: &str) -> std::io::Result<Self> {
        let socket = ctx.socket(zmq::DEALER)?;
        socket.set_linger(0)?;
        socket.set_reconnect_ivl(50)?;
        socket.set_reconnect_ivl_max(500)?;
        socket.connect(address)?;
        Ok(Self {
            socket: AsyncSocket::new(socket)?,
            next_id: 1,
        })
    }

    /// Sends `body` and returns the reply body to it, skipping stale replies.
    async fn roundtrip(&mut self, body: &[u8]) -> std::io::Result<Vec<u8>> {
        let id = self.next_id.to_be_bytes();
        self.next_id = self.next_id.wrapping_add(1);
        let frames = vec![
            zmq::Message::from(&id[..]),
            zmq::Message::new(),
            zmq::Message::from(body),
        ];
        self.socket.send_multipart(frames).await?;
        loop {
            let reply = self.socket.recv_multipart().await?;
            match reply.as_slice() {
                [rid, delim, body] if rid[..] == id[..] && delim.is_empty() => {
                    return Ok(body.to_vec());
                }
                _ => tracing::debug!("dropping a stale or malformed discovery reply"),
            }
        }
    }
}

/// One node's latest report, as [`Client::list_nodes`] returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeReport {
    /// What the node said it does.
    pub info: NodeInfo,
    /// How long before the listing the daemon received the report.
    pub age: Duration,
}

/// A topic kept registered by a background task; see
/// [`Client::keep_registered`].
///
/// Dropping it stops the task but leaves the record at the daemon (the
/// daemon evicts it once the endpoint dies); call
/// [`unregister`](Self::unregister) to remove it.
#[derive(Debug)]
pub struct Registration {
    info: TopicInfo,
    client: Client,
    task: JoinHandle<()>,
    restored: Arc<AtomicU64>,
}

/// Follows the publishers of one topic: [`next`](Self::next) returns their
/// records whenever a publisher joins, leaves or registers again.
///
/// The daemon holds each `WATCH_PUBLISHERS` request until the topic changes
/// (or its long-poll window ends, when the watch asks again), so a change
/// is known within a round trip. Made by [`Client::watch_publishers`].
#[derive(Debug)]
pub struct PublisherWatch {
    client: Client,
    topic: String,
    conn: Option<Conn>,
    /// The version of the last answer returned.
    version: Option<u64>,
    /// Whether to ask to be held until a change (`false` while the daemon
    /// holds as many long polls as it may: then ask at intervals).
    park: bool,
    /// The last answer's records, replay depths and registrations.
    last: Vec<(TopicInfo, u64, Option<u64>)>,
}

impl PublisherWatch {
    /// How many messages the publisher of `info` replays to a joining
    /// subscriber (a latched topic), per the last answer of
    /// [`next`](Self::next); 0 if it does not, or is not in that answer.
    pub fn latched(&self, info: &TopicInfo) -> u64 {
        self.last
            .iter()
            .find(|(record, ..)| record == info)
            .map_or(0, |(_, depth, _)| *depth)
    }

    /// A number that changes each time the publisher of `info` registers
    /// (again), per the last answer of [`next`](Self::next): tells a
    /// publisher that restarted on the same endpoint from one that did not.
    /// `None` from a daemon that does not say, or for another record.
    pub fn registration(&self, info: &TopicInfo) -> Option<u64> {
        self.last
            .iter()
            .find(|(record, ..)| record == info)
            .and_then(|(.., registered)| *registered)
    }

    /// The watched topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The publishers now (the first call) or after the next change,
    /// oldest first. `Ok(None)`: the daemon does not support watching (a
    /// Python daemon); poll [`Client::lookup`] instead. A daemon that does
    /// not answer is asked again on a fresh connection; only a failure to
    /// open one is an error.
    pub async fn next(&mut self) -> Result<Option<Vec<TopicInfo>>> {
        let client = &self.client;
        let config = &client.inner.config;
        loop {
            let known = if self.park { self.version } else { None };
            let request = client.scoped(Request::watch_publishers(&self.topic, known));
            let wait = LONG_POLL_ALLOWANCE + config.request_timeout;
            let response = match exchange(
                &mut self.conn,
                &client.inner.ctx,
                config,
                &request,
                wait,
                0,
            )
            .await
            {
                Ok(response) => response,
                // Lost, or a daemon restart: ask again from scratch.
                Err(DiscoveryError::Timeout { .. }) => {
                    self.version = None;
                    continue;
                }
                Err(e) => return Err(e),
            };
            match response.status {
                Status::Ok => {
                    let version = response.version;
                    if version.is_some() && version == self.version {
                        // The window ended without a change (or, asking at
                        // intervals, nothing changed: try to be held again).
                        if !self.park {
                            tokio::time::sleep(config.poll_interval.max(FULL_DAEMON_POLL)).await;
                            self.park = true;
                        }
                        continue;
                    }
                    self.version = version;
                    let records = response.topics.unwrap_or_default();
                    let depths = response.latched.unwrap_or_default();
                    let registered = response.registered.unwrap_or_default();
                    self.last = records
                        .iter()
                        .enumerate()
                        .map(|(i, r)| {
                            let depth = depths.get(i).copied().unwrap_or(0);
                            (r.clone(), depth, registered.get(i).copied())
                        })
                        .collect();
                    return Ok(Some(records));
                }
                Status::Error if response.message.starts_with(TOO_MANY_WAITING) => {
                    tracing::debug!(topic = %self.topic, daemon = %client.address(),
                        "the daemon holds as many long polls as it may; asking at intervals");
                    self.park = false;
                    tokio::time::sleep(config.poll_interval.max(FULL_DAEMON_POLL)).await;
                }
                _ if Client::unsupported(&response) => return Ok(None),
                _ => return Err(client.rejected(&request, response)),
            }
        }
    }
}

impl Registration {
    /// The record being kept registered.
    pub fn info(&self) -> &TopicInfo {
        &self.info
    }

    /// How many times the record had to be registered again.
    pub fn restored_count(&self) -> u64 {
        self.restored.load(Ordering::Relaxed)
    }

    /// Stops keeping the record and removes it from the daemon; `false` if
    /// the daemon did not have it, or now holds another node's record for
    /// the name (which is left alone).
    pub async fn unregister(mut self) -> Result<bool> {
        self.task.abort();
        let _ = (&mut self.task).await;
        self.client.unregister_publisher(&self.info).await
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn keep_alive(
    client: Client,
    info: TopicInfo,
    latched: u64,
    every: Duration,
    restored: Arc<AtomicU64>,
) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    let mut warned_owner: Option<String> = None;
    loop {
        ticker.tick().await;
        let needs_register = match client.publishers(&info.name).await {
            Ok(publishers) if publishers.contains(&info) => {
                warned_owner = None;
                false
            }
            Ok(publishers)
                if publishers.first().is_some_and(|p| {
                    p.publisher_node != info.publisher_node && p.fingerprint != info.fingerprint
                }) =>
            {
                let current = publishers.into_iter().next().expect("checked above");
                // Another node holds the name. Registering asks the daemon
                // to check whether that node is still alive.
                if warned_owner.as_deref() != Some(current.publisher_node.as_str()) {
                    tracing::warn!(
                        topic = %info.name,
                        owner = %current.publisher_node,
                        daemon = %client.address(),
                        "topic is now registered by another node with another type; will keep trying to reclaim it"
                    );
                    warned_owner = Some(current.publisher_node);
                }
                true
            }
            Ok(_) => true,
            Err(e) => {
                tracing::debug!(topic = %info.name, error = %e, "discovery daemon unreachable");
                false
            }
        };
        if needs_register {
            match client.register_latched(&info, latched).await {
                Ok(()) => {
                    restored.fetch_add(1, Ordering::Relaxed);
                    warned_owner = None;
                    tracing::info!(
                        topic = %info.name,
                        node = %info.publisher_node,
                        daemon = %client.address(),
                        "registered topic again (daemon restarted or lost it)"
                    );
                }
                Err(DiscoveryError::TopicTaken { .. }) => {}
                Err(e) => {
                    tracing::debug!(topic = %info.name, error = %e, "re-registration failed; will retry");
                }
            }
        }
    }
}
