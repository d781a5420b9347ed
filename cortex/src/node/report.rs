//! Telling the discovery daemon what the node does (`REPORT_NODE`), so
//! `cortex node list` and `cortex topic info` can show it.
//!
//! A background task reports at start, every
//! [`NodeConfig::report_interval`](super::NodeConfig::report_interval), and
//! shortly after the node starts or stops publishing, subscribing or
//! serving something; it unregisters the node when the node closes. What
//! a report holds:
//!
//! - publishes: the node's managed publishers ([`Node::advertise`] and
//!   `publishes(...)` of handlers) and its open standalone ones
//!   ([`Node::publisher`], [`Node::raw_publisher`]), each with its
//!   subscribers now, as the publisher counts them (Python subscribers and
//!   command-line tools included), and its type's fingerprint and fields
//!   (none for a raw publisher);
//! - subscribes: `#[subscribe]` handlers (from their start, while they
//!   still wait for a publisher too) and standalone subscribers
//!   ([`Node::subscriber`]) while they exist;
//! - serves: `#[service]` handlers.
//!
//! Standalone servers ([`Node::serve`]) are not reported (their discovery
//! records still show them in `cortex service list`).
//!
//! [`Node::advertise`]: super::Node::advertise
//! [`Node::subscriber`]: super::Node::subscriber
//! [`Node::publisher`]: super::Node::publisher
//! [`Node::raw_publisher`]: super::Node::raw_publisher
//! [`Node::serve`]: super::Node::serve

use std::any::Any;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::{lock, Inner};
use crate::discovery::{
    Client, ClientConfig, DiscoveryError, NodeInfo, NodePublication, NodeService, NodeSubscription,
};

/// How long after a change the report goes out, so that a burst of
/// changes (every topic advertised at start) makes one report.
const CHANGE_DELAY: Duration = Duration::from_millis(50);

/// How long a closing node waits for the daemon to forget it.
const UNREGISTER_TIMEOUT: Duration = Duration::from_millis(500);

/// Something the node reports while it lives: a subscription or a
/// service, with a handle that dies with it.
pub(super) struct Listed {
    topic: String,
    message_type: String,
    alive: Weak<dyn Any + Send + Sync>,
}

impl Listed {
    pub(super) fn new(
        topic: &str,
        message_type: impl Into<String>,
        alive: &Arc<dyn Any + Send + Sync>,
    ) -> Self {
        Self {
            topic: topic.to_owned(),
            message_type: message_type.into(),
            alive: Arc::downgrade(alive),
        }
    }

    pub(super) fn is_alive(&self) -> bool {
        self.alive.strong_count() > 0
    }
}

/// Keeps a handler's subscription or service in the node's reports for
/// as long as it is held.
pub(crate) struct ListedGuard {
    _alive: Arc<dyn Any + Send + Sync>,
    changed: Arc<Notify>,
}

impl ListedGuard {
    pub(super) fn new(alive: Arc<dyn Any + Send + Sync>, changed: Arc<Notify>) -> Self {
        changed.notify_one();
        Self {
            _alive: alive,
            changed,
        }
    }
}

impl Drop for ListedGuard {
    fn drop(&mut self) {
        self.changed.notify_one();
    }
}

/// The reporting task of a node, and what it needs to stop.
pub(super) struct Reporter {
    client: Client,
    name: String,
    instance: u64,
    task: JoinHandle<()>,
}

impl Reporter {
    /// Starts reporting for the node `inner` every `every`.
    pub(super) fn start(
        inner: Weak<Inner>,
        ctx: &zmq::Context,
        address: &str,
        name: &str,
        instance: u64,
        changed: Arc<Notify>,
        every: Duration,
    ) -> Self {
        // A connection of its own, with short timeouts: a report never
        // queues behind (or delays) the node's other requests, and a
        // missing daemon costs one short wait per interval.
        let client = Client::with_context(
            ctx.clone(),
            ClientConfig::new(address)
                .request_timeout(every.clamp(Duration::from_millis(100), Duration::from_secs(1)))
                .retries(0),
        );
        let task = tokio::spawn(report(inner, client.clone(), changed, every));
        Self {
            client,
            name: name.to_owned(),
            instance,
            task,
        }
    }

    /// Stops reporting and asks the daemon to forget the node (bounded).
    pub(super) async fn stop(self) {
        self.task.abort();
        let info = NodeInfo::new(self.name, self.instance);
        match tokio::time::timeout(UNREGISTER_TIMEOUT, self.client.unregister_node(&info)).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => {
                tracing::debug!(node = %info.name, %error, "could not unregister the node; the daemon forgets it after three report intervals")
            }
            Err(_) => {
                tracing::debug!(node = %info.name, "unregistering the node timed out; the daemon forgets it after three report intervals")
            }
        }
    }

    /// Reports `inner` now (bounded by the request timeout; a failure is
    /// left to the next periodic report). A new publisher is reported so,
    /// without the periodic reporter's batching delay: a tool that
    /// receives its first message (`cortex record`, `topic echo`) and asks
    /// for its type's fields finds them in the daemon's reports at once or
    /// within milliseconds (the tools ask again for a moment: see
    /// `cortex-cli`'s `schemas`).
    pub(super) async fn report_now(client: Client, inner: &Inner, every: Duration) {
        let info = snapshot(inner, every);
        if let Err(error) = client.report_node(&info).await {
            tracing::debug!(node = %info.name, %error, "could not report the node's new publisher; the next report will");
        }
    }

    /// The connection reports go over.
    pub(super) fn client(&self) -> Client {
        self.client.clone()
    }

    /// Stops reporting; the daemon is told if a runtime is still there to
    /// tell it (a node dropped without [`Node::close`](super::Node::close)).
    pub(super) fn stop_soon(self) {
        self.task.abort();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(self.stop());
        }
    }
}

/// Reports now, every `every`, and soon after each change, until the node
/// is gone (or the task is aborted).
async fn report(inner: Weak<Inner>, client: Client, changed: Arc<Notify>, every: Duration) {
    let mut warned = false;
    loop {
        let Some(info) = inner.upgrade().map(|inner| snapshot(&inner, every)) else {
            return;
        };
        match client.report_node(&info).await {
            Ok(_) => warned = false,
            // The daemon refused the report itself (too large, too many
            // nodes): say so once, it will not change by itself.
            Err(error @ DiscoveryError::Rejected { .. }) if !warned => {
                warned = true;
                tracing::warn!(node = %info.name, %error, "the discovery daemon refused the node's report; `cortex node list` will not show it");
            }
            Err(error) => {
                tracing::debug!(node = %info.name, %error, "could not report the node; will retry")
            }
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = changed.notified() => tokio::time::sleep(CHANGE_DELAY).await,
        }
    }
}

/// What the node does now.
fn snapshot(inner: &Inner, every: Duration) -> NodeInfo {
    let mut publishes: Vec<NodePublication> = lock(&inner.publishers)
        .iter()
        .map(|(topic, publisher)| {
            let stats = publisher.stats();
            let schema = publisher.schema();
            NodePublication {
                fingerprint: schema.fingerprint,
                fields: schema.field_pairs(),
                topic: topic.clone(),
                message_type: publisher.type_name().to_owned(),
                address: publisher.address().to_owned(),
                subscribers: stats.subscribers,
                shared_memory_subscribers: stats.shared_memory_subscribers,
            }
        })
        .collect();
    lock(&inner.listed_publishers).retain(|(watch, fields)| {
        let Some(p) = watch.get() else {
            return false;
        };
        publishes.push(NodePublication {
            topic: p.topic,
            message_type: p.message_type,
            address: p.address,
            subscribers: p.stats.subscribers,
            shared_memory_subscribers: p.stats.shared_memory_subscribers,
            fingerprint: p.fingerprint,
            fields: fields.clone(),
        });
        true
    });
    let live = |listed: &mut Vec<Listed>| {
        listed.retain(Listed::is_alive);
        let mut pairs: Vec<(String, String)> = listed
            .iter()
            .map(|l| (l.topic.clone(), l.message_type.clone()))
            .collect();
        pairs.sort();
        pairs.dedup();
        pairs
    };
    let subscribes = live(&mut lock(&inner.listed_subscriptions))
        .into_iter()
        .map(|(topic, message_type)| NodeSubscription {
            topic,
            message_type,
        })
        .collect();
    let serves = live(&mut lock(&inner.listed_services))
        .into_iter()
        .map(|(name, message_type)| NodeService { name, message_type })
        .collect();
    NodeInfo {
        host: host_name(),
        interval: every,
        publishes,
        subscribes,
        serves,
        ..NodeInfo::new(inner.config.name.clone(), inner.instance)
    }
}

/// A number unlikely to repeat across nodes and restarts (std's hasher
/// keys are random per process and per call).
pub(super) fn random_instance() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    if let Ok(now) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        hasher.write_u128(now.as_nanos());
    }
    hasher.finish()
}

/// This host's name (empty if it cannot be read).
fn host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|path| std::fs::read_to_string(path).ok())
        .map(|name| name.trim().to_owned())
        .unwrap_or_default()
}
