//! The node runtime: one process's publishers, subscribers and timers.
//!
//! A [`Node`] owns one ZeroMQ context, a discovery client, and the
//! publishers it advertises. [`Node::run`] starts every `#[subscribe]` and
//! `#[timer]` handler registered in the binary for this node, runs until
//! Ctrl-C, SIGTERM or [`Node::shutdown`], then shuts down gracefully: stop
//! timers and subscriptions, let in-flight handlers finish (bounded by
//! [`NodeConfig::shutdown_timeout`]), unregister topics, remove socket files.
//! While it lives, a node tells the discovery daemon what it publishes,
//! subscribes to and serves (see `report`), for `cortex node list`.

mod config;
mod ctx;
mod handler;
mod host;
mod main;
pub(crate) mod registry;
mod report;
mod topic;

pub use config::{NodeConfig, SPAWN_DAEMON_ENV};
pub use ctx::Ctx;
pub use handler::{run_service, run_subscriber, run_timer, HandlerOutput};
pub use main::{run_main, MainOptions};
pub use registry::{advertise_nothing, BoxFuture, Handler, HandlerKind, Run};
pub use topic::Topic;

use std::any::Any;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use crate::discovery::{default_address, Client, ClientConfig};
use crate::error::{Error, Result};
use crate::io::SocketAccess;
use crate::pubsub::{
    Publisher, PublisherStats, RawPublisher, Subscriber, SubscriberCounters, SubscriberStats,
};
use crate::service::{Service, ServiceClient, ServiceServer};
use crate::Message;

/// A cortex node. Cheap to clone (all clones are the same node).
#[derive(Clone)]
pub struct Node {
    inner: Arc<Inner>,
}

/// A type's fields, name and type, as node reports carry them.
type Fields = Vec<(String, String)>;

struct Inner {
    config: NodeConfig,
    zmq: zmq::Context,
    discovery: Client,
    publishers: Mutex<BTreeMap<String, Arc<dyn Advertised>>>,
    /// Service clients of [`Ctx::call`], by service name.
    callers: Mutex<BTreeMap<String, Arc<dyn Any + Send + Sync>>>,
    subscribers: Mutex<Vec<(String, &'static str, Arc<SubscriberCounters>)>>,
    stop: watch::Sender<bool>,
    spawned: Mutex<Vec<JoinHandle<()>>>,
    stats: Counters,
    /// The discovery daemon this process hosts for the node, if any.
    hosting: Mutex<Option<host::Hosting>>,
    /// Takes over hosting when the host goes away (see `host`).
    watchdog: Mutex<Option<JoinHandle<()>>>,
    started: std::sync::atomic::AtomicBool,
    failure: Mutex<Option<Error>>,
    /// Tells this node from others of its name in the daemon's reports.
    instance: u64,
    /// Subscriptions to report: `#[subscribe]` handlers, standalone
    /// subscribers (see `report`).
    listed_subscriptions: Mutex<Vec<report::Listed>>,
    /// Services to report: `#[service]` handlers.
    listed_services: Mutex<Vec<report::Listed>>,
    /// Standalone publishers to report ([`Node::publisher`],
    /// [`Node::raw_publisher`]), with their types' fields when known.
    listed_publishers: Mutex<Vec<(crate::pubsub::PublisherWatch, Fields)>>,
    /// Wakes the reporter when what the node does changes.
    changed: Arc<Notify>,
    /// Reports what the node does to the daemon, until the node closes.
    reporter: Mutex<Option<report::Reporter>>,
}

/// A publisher the node advertises, whatever its message type.
trait Advertised: Send + Sync {
    /// The message type's name.
    fn type_name(&self) -> &'static str;
    /// The message type's schema (its fields, for node reports).
    fn schema(&self) -> &'static crate::Schema;
    /// The endpoint subscribers connect to.
    fn address(&self) -> &str;
    /// The counters.
    fn stats(&self) -> PublisherStats;
    /// For getting the typed publisher back.
    fn as_any(&self) -> &dyn Any;
    /// Unregisters and closes, unless a handler still holds the publisher
    /// (then dropping it later closes the socket).
    fn close(self: Arc<Self>) -> registry::BoxFuture<Result<()>>;
}

impl<T: Message> Advertised for Publisher<T> {
    fn type_name(&self) -> &'static str {
        T::TYPE_NAME
    }
    fn schema(&self) -> &'static crate::Schema {
        T::schema()
    }
    fn address(&self) -> &str {
        Publisher::address(self)
    }
    fn stats(&self) -> PublisherStats {
        Publisher::stats(self)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn close(self: Arc<Self>) -> registry::BoxFuture<Result<()>> {
        Box::pin(async move {
            match Arc::try_unwrap(self) {
                Ok(publisher) => publisher.close().await,
                Err(_) => Ok(()),
            }
        })
    }
}

#[derive(Default)]
struct Counters {
    handled: AtomicU64,
    handler_errors: AtomicU64,
    handler_panics: AtomicU64,
    missed_ticks: AtomicU64,
}

/// A node's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeStats {
    /// Handler invocations that returned `Ok`.
    pub handled: u64,
    /// Handler invocations that returned an error (each logged).
    pub handler_errors: u64,
    /// Handler invocations that panicked (each caught and logged).
    pub handler_panics: u64,
    /// Timer ticks skipped because a handler overran.
    pub missed_ticks: u64,
    /// Per subscription: topic, type, counters.
    pub subscriptions: Vec<(String, &'static str, SubscriberStats)>,
    /// Per advertised topic: topic, type, counters (published, dropped, subscribers).
    pub publications: Vec<(String, &'static str, PublisherStats)>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("name", &self.inner.config.name)
            .field("discovery", &self.inner.discovery.address())
            .finish_non_exhaustive()
    }
}

impl Node {
    /// Creates a node: connects to discovery, starting an in-process daemon
    /// when none answers and [`NodeConfig::spawn_daemon`] allows it.
    pub async fn new(config: NodeConfig) -> Result<Node> {
        if config.name.is_empty()
            || config.name.contains(['/', '\0'])
            || config.name.contains(char::is_whitespace)
        {
            return Err(Error::InvalidNodeName {
                name: config.name.clone(),
            });
        }
        crate::io::raise_fd_limit();
        // An invalid CORTEX_SOCKET_ACCESS must not pass for the default.
        SocketAccess::from_env().map_err(|e| Error::InvalidSetting {
            setting: crate::io::SOCKET_ACCESS_ENV.into(),
            problem: e.problem,
        })?;
        let zmq = zmq::Context::new();
        let address = config.discovery.clone().unwrap_or_else(default_address);
        let discovery = Client::with_context(zmq.clone(), ClientConfig::new(address.clone()));
        let probe = Client::with_context(
            zmq.clone(),
            ClientConfig::new(address.clone())
                .request_timeout(Duration::from_millis(300))
                .retries(0),
        );
        let mut hosting = None;
        if let Err(ping_error) = probe.alive().await {
            if !config.spawn_daemon {
                return Err(ping_error.into());
            }
            hosting = host::host(
                &address,
                config.socket_access,
                &config.name,
                "no discovery daemon answered",
            )
            .await?;
        }
        let (stop, _) = watch::channel(false);
        let inner = Arc::new(Inner {
            config,
            zmq,
            discovery,
            publishers: Mutex::default(),
            callers: Mutex::default(),
            subscribers: Mutex::default(),
            stop,
            spawned: Mutex::default(),
            stats: Counters::default(),
            hosting: Mutex::new(hosting),
            watchdog: Mutex::default(),
            started: Default::default(),
            failure: Mutex::default(),
            instance: report::random_instance(),
            listed_subscriptions: Mutex::default(),
            listed_services: Mutex::default(),
            listed_publishers: Mutex::default(),
            changed: Arc::default(),
            reporter: Mutex::default(),
        });
        if let Some(every) = inner.config.report_interval {
            let reporter = report::Reporter::start(
                Arc::downgrade(&inner),
                &inner.zmq,
                &address,
                &inner.config.name,
                inner.instance,
                Arc::clone(&inner.changed),
                every.max(Duration::from_millis(10)),
            );
            *lock(&inner.reporter) = Some(reporter);
        }
        if inner.config.spawn_daemon {
            let watchdog = host::watch(Arc::downgrade(&inner), &inner.config, address);
            *lock(&inner.watchdog) = Some(watchdog);
        }
        Ok(Node { inner })
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.inner.config.name
    }

    /// A number picked at random when the node was created: tells this
    /// node from others of its name in the daemon's node reports
    /// ([`NodeInfo::instance`](crate::discovery::NodeInfo::instance)).
    pub fn instance(&self) -> u64 {
        self.inner.instance
    }

    /// The node's settings.
    pub fn config(&self) -> &NodeConfig {
        &self.inner.config
    }

    /// The discovery client.
    pub fn discovery(&self) -> &Client {
        &self.inner.discovery
    }

    /// A handle for publishing, spawning and shutting down.
    pub fn ctx(&self) -> Ctx {
        Ctx { node: self.clone() }
    }

    /// Binds and registers `topic` so that [`publish`](Self::publish) can use
    /// it. Advertising the same topic again is a no-op; advertising it with
    /// another type is an error.
    pub async fn advertise<T: Message>(&self, topic: &Topic<T>) -> Result<()> {
        if lock(&self.inner.publishers).contains_key(topic.name()) {
            return self.advertised::<T>(topic.name()).map(drop);
        }
        let mut options = self.inner.config.publisher.clone();
        if topic.latched_depth() > 0 {
            options.latched = topic.latched_depth();
        }
        // Managed: reported from `publishers`, not listed as standalone.
        let publisher = self.bind_publisher::<T>(topic.name(), &options).await?;
        lock(&self.inner.publishers).insert(topic.name().to_owned(), Arc::new(publisher));
        self.report_new_publisher();
        Ok(())
    }

    /// Reports a publisher just added at once, in the background (see
    /// `report::Reporter::report_now`): never delays the caller, even when
    /// the daemon does not answer.
    fn report_new_publisher(&self) {
        let reporter = lock(&self.inner.reporter)
            .as_ref()
            .map(report::Reporter::client);
        match (reporter, self.inner.config.report_interval) {
            (Some(client), Some(every)) => {
                let inner = Arc::clone(&self.inner);
                tokio::spawn(async move {
                    report::Reporter::report_now(client, &inner, every).await;
                });
            }
            _ => self.inner.changed.notify_one(),
        }
    }

    /// The publisher of an advertised topic, as `T`.
    fn advertised<T: Message>(&self, topic: &str) -> Result<Arc<dyn Advertised>> {
        let advertised = lock(&self.inner.publishers)
            .get(topic)
            .cloned()
            .ok_or_else(|| Error::NotAdvertised {
                node: self.name().to_owned(),
                topic: topic.to_owned(),
            })?;
        if advertised.as_any().is::<Publisher<T>>() {
            Ok(advertised)
        } else {
            Err(Error::TopicTypeConflict {
                node: self.name().to_owned(),
                topic: topic.to_owned(),
                advertised: advertised.type_name(),
                requested: T::TYPE_NAME,
            })
        }
    }

    /// Publishes on an advertised topic. `Ok(false)`: refused at a full
    /// subscriber queue (counted by the publisher).
    pub fn publish<T: Message>(&self, topic: &Topic<T>, msg: &T) -> Result<bool> {
        let advertised = self.advertised::<T>(topic.name())?;
        match advertised.as_any().downcast_ref::<Publisher<T>>() {
            Some(publisher) => publisher.publish(msg),
            None => unreachable!("`advertised` checked the type"),
        }
    }

    /// Waits until `n` subscribers are connected to an advertised topic, so
    /// the first messages are not lost to ZeroMQ's slow-joiner window.
    pub async fn wait_for_subscribers<T: Message>(
        &self,
        topic: &Topic<T>,
        n: u64,
        timeout: Duration,
    ) -> Result<()> {
        let advertised = self.advertised::<T>(topic.name())?;
        match advertised.as_any().downcast_ref::<Publisher<T>>() {
            Some(publisher) => publisher.wait_for_subscribers(n, timeout).await,
            None => unreachable!("`advertised` checked the type"),
        }
    }

    /// A standalone publisher on `topic` (not managed by the node), with
    /// the node's publisher options.
    pub async fn publisher<T: Message>(&self, topic: &str) -> Result<Publisher<T>> {
        self.publisher_with(topic, &self.inner.config.publisher)
            .await
    }

    /// A standalone publisher on `topic` with `options` (e.g. a latched
    /// one: [`PublisherOptions::latched`](crate::pubsub::PublisherOptions::latched)).
    pub async fn publisher_with<T: Message>(
        &self,
        topic: &str,
        options: &crate::pubsub::PublisherOptions,
    ) -> Result<Publisher<T>> {
        let publisher = self.bind_publisher::<T>(topic, options).await?;
        self.list_publisher(publisher.watch(), T::schema().field_pairs());
        self.report_new_publisher();
        Ok(publisher)
    }

    /// A publisher of the node's, not yet reported anywhere.
    async fn bind_publisher<T: Message>(
        &self,
        topic: &str,
        options: &crate::pubsub::PublisherOptions,
    ) -> Result<Publisher<T>> {
        let c = &self.inner.config;
        Publisher::bind(
            &self.inner.zmq,
            &self.inner.discovery,
            &c.name,
            topic,
            &c.transport,
            options,
        )
        .await
    }

    /// Reports a standalone publisher while it lives.
    fn list_publisher(&self, watch: crate::pubsub::PublisherWatch, fields: Fields) {
        if self.inner.config.report_interval.is_none() {
            return; // Nothing reports: nothing to keep.
        }
        let mut listed = lock(&self.inner.listed_publishers);
        listed.retain(|(watch, _)| watch.get().is_some());
        listed.push((watch, fields));
    }

    /// A standalone publisher on `topic` for messages of a type known at
    /// run time only (`message_type`, `fingerprint`), sending bodies
    /// already encoded ([`RawPublisher::publish_encoded`]), e.g. recorded
    /// ones. Typed code wants [`publisher`](Self::publisher).
    pub async fn raw_publisher(
        &self,
        topic: &str,
        message_type: &str,
        fingerprint: u64,
        options: &crate::pubsub::PublisherOptions,
    ) -> Result<RawPublisher> {
        let c = &self.inner.config;
        let publisher = RawPublisher::bind(
            &self.inner.zmq,
            &self.inner.discovery,
            &c.name,
            topic,
            &c.transport,
            options,
            message_type,
            fingerprint,
        )
        .await?;
        // Its fields are not known here: reported without them.
        self.list_publisher(publisher.watch(), Vec::new());
        self.report_new_publisher();
        Ok(publisher)
    }

    /// A client of the service `service` (cached per node: calls share one
    /// connection).
    pub fn service_client<Req: Message, Rep: Message>(
        &self,
        service: &Service<Req, Rep>,
    ) -> ServiceClient<Req, Rep> {
        let mut callers = lock(&self.inner.callers);
        if let Some(client) = callers
            .get(service.name())
            .and_then(|c| c.downcast_ref::<ServiceClient<Req, Rep>>())
        {
            return client.clone();
        }
        let client = ServiceClient::new(&self.inner.zmq, &self.inner.discovery, service.name());
        callers.insert(service.name().to_owned(), Arc::new(client.clone()));
        client
    }

    /// Serves `service` with `handler` outside the node's handlers (a
    /// `#[service]` function is the usual way); serves until the returned
    /// server is closed or dropped.
    pub async fn serve<Req, Rep, F, Fut, E>(
        &self,
        service: &Service<Req, Rep>,
        handler: F,
    ) -> Result<ServiceServer<Req, Rep>>
    where
        Req: Message,
        Rep: Message,
        F: Fn(Req) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<Rep, E>> + Send + 'static,
        E: std::fmt::Display + 'static,
    {
        let c = &self.inner.config;
        ServiceServer::serve(
            &self.inner.zmq,
            &self.inner.discovery,
            &c.name,
            service.name(),
            &c.transport,
            handler,
        )
        .await
    }

    /// A standalone subscriber to `topic` (waits for the topic to appear),
    /// with the node's subscriber options.
    pub async fn subscriber<T: Message>(&self, topic: &str) -> Result<Subscriber<T>> {
        self.subscriber_with(topic, &self.inner.config.subscriber)
            .await
    }

    /// A standalone subscriber to `topic` with `options`.
    pub async fn subscriber_with<T: Message>(
        &self,
        topic: &str,
        options: &crate::pubsub::SubscriberOptions,
    ) -> Result<Subscriber<T>> {
        let subscriber =
            Subscriber::connect(&self.inner.zmq, &self.inner.discovery, topic, options).await?;
        // Reported while the subscriber (its counters) lives.
        if self.inner.config.report_interval.is_some() {
            let alive: Arc<dyn Any + Send + Sync> = subscriber.counters();
            let mut listed = lock(&self.inner.listed_subscriptions);
            listed.retain(report::Listed::is_alive);
            listed.push(report::Listed::new(topic, T::TYPE_NAME, &alive));
            drop(listed);
            self.inner.changed.notify_one();
        }
        Ok(subscriber)
    }

    /// Lists a `#[subscribe]` handler's topic in the node's reports until
    /// the returned guard is dropped.
    pub(crate) fn list_subscription(&self, topic: &str, ty: &'static str) -> report::ListedGuard {
        let alive: Arc<dyn Any + Send + Sync> = Arc::new(());
        lock(&self.inner.listed_subscriptions).push(report::Listed::new(topic, ty, &alive));
        report::ListedGuard::new(alive, Arc::clone(&self.inner.changed))
    }

    /// Lists a `#[service]` handler's service in the node's reports until
    /// the returned guard is dropped.
    pub(crate) fn list_service(&self, name: &str, types: String) -> report::ListedGuard {
        let alive: Arc<dyn Any + Send + Sync> = Arc::new(());
        lock(&self.inner.listed_services).push(report::Listed::new(name, types, &alive));
        report::ListedGuard::new(alive, Arc::clone(&self.inner.changed))
    }

    /// Spawns a task that is aborted when the node shuts down.
    pub fn spawn<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let mut spawned = lock(&self.inner.spawned);
        spawned.retain(|h| !h.is_finished());
        spawned.push(tokio::spawn(fut));
    }

    /// Asks [`run`](Self::run) to shut down gracefully.
    pub fn shutdown(&self) {
        self.inner.stop.send_replace(true);
    }

    /// Whether this process hosts the discovery daemon for this node (it
    /// started one, or took over from a host that went away).
    pub fn owns_daemon(&self) -> bool {
        lock(&self.inner.hosting).is_some()
    }

    /// Final clean-up after [`run`](Self::run): stops reporting to the
    /// discovery daemon and has it forget the node, stops hosting the
    /// daemon, if this node does, and waits until its socket file is gone.
    /// The other nodes using that daemon take over hosting and re-register.
    pub async fn close(self) {
        let reporter = lock(&self.inner.reporter).take();
        if let Some(reporter) = reporter {
            reporter.stop().await;
        }
        if let Some(watchdog) = lock(&self.inner.watchdog).take() {
            watchdog.abort();
        }
        let hosting = lock(&self.inner.hosting).take();
        if let Some(hosting) = hosting {
            hosting.stop().await;
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> NodeStats {
        let s = &self.inner.stats;
        NodeStats {
            handled: s.handled.load(Ordering::Relaxed),
            handler_errors: s.handler_errors.load(Ordering::Relaxed),
            handler_panics: s.handler_panics.load(Ordering::Relaxed),
            missed_ticks: s.missed_ticks.load(Ordering::Relaxed),
            subscriptions: lock(&self.inner.subscribers)
                .iter()
                .map(|(topic, ty, c)| (topic.clone(), *ty, c.snapshot()))
                .collect(),
            publications: lock(&self.inner.publishers)
                .iter()
                .map(|(topic, a)| (topic.clone(), a.type_name(), a.stats()))
                .collect(),
        }
    }

    pub(crate) fn track_subscriber(
        &self,
        topic: &str,
        ty: &'static str,
        counters: Arc<SubscriberCounters>,
    ) {
        lock(&self.inner.subscribers).push((topic.to_owned(), ty, counters));
    }

    /// Runs every handler registered for this node until Ctrl-C, SIGTERM or
    /// [`shutdown`](Self::shutdown), then shuts down gracefully.
    ///
    /// Every `publishes(...)` topic is advertised before any handler starts,
    /// so a type conflict is a start-up error and no message is lost to
    /// lazy set-up.
    pub async fn run(&self) -> Result<()> {
        if self.inner.started.swap(true, Ordering::SeqCst) {
            return Err(Error::NodeAlreadyRunning {
                node: self.name().to_owned(),
            });
        }
        let handlers = registry::handlers_for(self.name());
        for handler in &handlers {
            if let Err(e) = (handler.advertise)(self.clone()).await {
                self.finish(Vec::new()).await?;
                return Err(e);
            }
        }
        let mut tasks = Vec::with_capacity(handlers.len());
        for &handler in &handlers {
            let run = Run {
                handler,
                stop: self.inner.stop.subscribe(),
            };
            let fut = match handler.kind {
                HandlerKind::Subscribe { run: start, .. }
                | HandlerKind::Timer { run: start, .. }
                | HandlerKind::Service { run: start, .. } => start(self.ctx(), run),
            };
            let node = self.clone();
            tasks.push(tokio::spawn(async move {
                // A subscription or timer that cannot go on (e.g. its topic
                // carries another type) stops the node: running without it
                // would be a silent failure.
                let outcome = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(fut))
                    .await
                    .unwrap_or(Err(Error::HandlerPanicked {
                        handler: handler.name,
                    }));
                if let Err(error) = outcome {
                    tracing::error!(node = %node.name(), handler = handler.name, %error, "handler failed; stopping the node");
                    lock(&node.inner.failure).get_or_insert(error);
                    node.shutdown();
                }
            }));
        }
        tracing::info!(node = %self.name(), handlers = handlers.len(), discovery = %self.inner.discovery.address(), "node running");

        let mut stop = self.inner.stop.subscribe();
        tokio::select! {
            _ = stop.wait_for(|s| *s) => {}
            signal = shutdown_signal() => {
                tracing::info!(node = %self.name(), %signal, "shutting down");
            }
        }
        self.shutdown();
        self.finish(tasks).await?;
        match lock(&self.inner.failure).take() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// Waits for in-flight handlers, then unregisters and closes publishers.
    async fn finish(&self, tasks: Vec<JoinHandle<()>>) -> Result<()> {
        let deadline = tokio::time::Instant::now() + self.inner.config.shutdown_timeout;
        for task in tasks {
            let abort = task.abort_handle();
            if tokio::time::timeout_at(deadline, task).await.is_err() {
                tracing::warn!(node = %self.name(), "a handler did not finish within the shutdown timeout; aborting it");
                abort.abort();
            }
        }
        for task in lock(&self.inner.spawned).drain(..) {
            task.abort();
        }
        let publishers = std::mem::take(&mut *lock(&self.inner.publishers));
        for (topic, advertised) in publishers {
            // Bounded: with the daemon gone, unregistering would time out per topic.
            let close = advertised.close();
            match tokio::time::timeout_at(
                deadline.max(tokio::time::Instant::now() + Duration::from_millis(200)),
                close,
            )
            .await
            {
                Ok(Ok(())) => {}
                Ok(Err(error)) => {
                    tracing::warn!(node = %self.name(), %topic, %error, "could not unregister topic")
                }
                Err(_) => {
                    tracing::warn!(node = %self.name(), %topic, "unregistering timed out; the daemon evicts the record once the socket is gone")
                }
            }
        }
        self.inner.changed.notify_one();
        tracing::info!(node = %self.name(), "node stopped");
        Ok(())
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(reporter) = lock(&self.reporter).take() {
            reporter.stop_soon();
        }
        if let Some(watchdog) = lock(&self.watchdog).take() {
            watchdog.abort();
        }
        if let Some(hosting) = lock(&self.hosting).as_ref() {
            hosting.signal_stop();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Resolves on Ctrl-C or SIGTERM, naming which.
async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return "Ctrl-C";
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "Ctrl-C",
        _ = term.recv() => "SIGTERM",
    }
}
