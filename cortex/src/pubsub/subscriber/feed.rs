//! Every publisher of one topic: a [`Source`] per publisher, kept in step
//! with discovery, read in turn.
//!
//! A cortex daemon tells the feed when publishers join and leave
//! ([`PublisherWatch`]: a long poll answered at the change). Against a
//! Python daemon, which has one publisher per topic and no watch, the feed
//! asks `LOOKUP_TOPIC` every `recheck_after` instead and follows the
//! publisher when its record changes (a restart on a new endpoint).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Sleep;

use super::source::{Incoming, Source};
use super::{SubscriberCounters, SubscriberOptions};
use crate::discovery::{Client, PublisherWatch, TopicInfo};
use crate::error::Result;

/// Longest one `LOOKUP_TOPIC` of the polling fallback may take.
const LOOKUP_BUDGET: Duration = Duration::from_millis(200);

/// Checks that a publisher's record carries the subscriber's type.
pub(crate) type TypeCheck = fn(&TopicInfo) -> Result<()>;

/// How the feed learns of publishers.
enum Watcher {
    /// A cortex daemon's `WATCH_PUBLISHERS`.
    Daemon(PublisherWatch),
    /// A Python daemon: `LOOKUP_TOPIC` every `every`; `last` is the record
    /// followed now.
    Lookup {
        client: Client,
        topic: String,
        last: TopicInfo,
        every: Duration,
    },
}

/// One publisher as discovery lists it: its record, replay depth and
/// registration (see `PublisherWatch::registration`).
type Listed = (TopicInfo, u64, Option<u64>);

/// A change of the topic's publishers, and the watcher to wait for the next.
struct Watched {
    watcher: Watcher,
    publishers: Vec<Listed>,
}

type WatchFuture = Pin<Box<dyn Future<Output = Watched> + Send>>;

/// Waits for the next change of the publishers.
fn next_change(watcher: Watcher, retry_after: Duration) -> WatchFuture {
    Box::pin(async move {
        match watcher {
            Watcher::Daemon(mut watch) => loop {
                match watch.next().await {
                    Ok(Some(publishers)) => {
                        let publishers = with_depths(&watch, publishers);
                        return Watched {
                            watcher: Watcher::Daemon(watch),
                            publishers,
                        };
                    }
                    // The daemon was replaced by one without the watch; the
                    // feed keeps its publishers, no further changes are seen.
                    Ok(None) => std::future::pending::<()>().await,
                    Err(error) => {
                        tracing::debug!(topic = %watch.topic(), %error, "watching the topic's publishers failed; retrying");
                        tokio::time::sleep(retry_after).await;
                    }
                }
            },
            Watcher::Lookup {
                client,
                topic,
                last,
                every,
            } => loop {
                tokio::time::sleep(every).await;
                let lookup = client.lookup(&topic);
                if let Ok(Ok(Some(current))) = tokio::time::timeout(LOOKUP_BUDGET, lookup).await {
                    if current != last {
                        return Watched {
                            publishers: vec![(current.clone(), 0, None)],
                            watcher: Watcher::Lookup {
                                client,
                                topic,
                                last: current,
                                every,
                            },
                        };
                    }
                }
            },
        }
    })
}

fn with_depths(watch: &PublisherWatch, publishers: Vec<TopicInfo>) -> Vec<Listed> {
    publishers
        .into_iter()
        .map(|p| {
            let (depth, registration) = (watch.latched(&p), watch.registration(&p));
            (p, depth, registration)
        })
        .collect()
}

/// The publishers of one topic, as one stream of messages.
pub(crate) struct Feed {
    topic: String,
    ctx: zmq::Context,
    options: SubscriberOptions,
    counters: Arc<SubscriberCounters>,
    type_check: TypeCheck,
    pub(crate) sources: Vec<Source>,
    /// Where the next round of polling starts (fairness between publishers).
    next: usize,
    watch: WatchFuture,
    /// Records already reported as unusable (node, address), so each is
    /// logged once.
    refused: HashSet<(String, String)>,
    /// The newest timestamp delivered from each latched publisher that was
    /// let go, so that a replay after it comes back (a daemon restart lost
    /// its record for a while) repeats nothing.
    latched_seen: HashMap<(String, String), u64>,
    /// Fires every `recheck_after`; a quiet period re-checks the
    /// shared-memory sides. One long-lived timer instead of a timeout per
    /// message keeps timer-wheel work off the per-message path.
    idle: Pin<Box<Sleep>>,
    active: bool,
}

impl Feed {
    /// Waits until `topic` has a publisher whose record is usable and
    /// carries the right type, and connects to every such publisher.
    pub(crate) async fn connect(
        ctx: &zmq::Context,
        discovery: &Client,
        topic: &str,
        options: &SubscriberOptions,
        counters: Arc<SubscriberCounters>,
        type_check: TypeCheck,
    ) -> Result<Self> {
        let deadline = tokio::time::Instant::now() + options.wait_timeout;
        let mut feed = Feed {
            topic: topic.to_owned(),
            ctx: ctx.clone(),
            options: options.clone(),
            counters,
            type_check,
            sources: Vec::new(),
            next: 0,
            watch: Box::pin(std::future::pending()),
            refused: HashSet::new(),
            latched_seen: HashMap::new(),
            idle: Box::pin(tokio::time::sleep(options.recheck_after)),
            active: false,
        };
        loop {
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            let first = discovery.wait_for_topic(topic, remaining).await?;
            // A publisher of another type is an error at once (the daemon
            // refuses to mix types on one topic).
            type_check(&first)?;
            let mut watch = discovery.watch_publishers(topic);
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            let (watcher, publishers) = match tokio::time::timeout(remaining, watch.next()).await {
                Ok(Ok(Some(publishers))) => {
                    let publishers = with_depths(&watch, publishers);
                    (Watcher::Daemon(watch), publishers)
                }
                Ok(Ok(None)) => {
                    tracing::debug!(topic, daemon = %discovery.address(),
                        "the daemon cannot watch publishers (a Python daemon); polling LOOKUP_TOPIC");
                    let watcher = Watcher::Lookup {
                        client: discovery.clone(),
                        topic: topic.to_owned(),
                        last: first.clone(),
                        every: options.recheck_after,
                    };
                    (watcher, vec![(first.clone(), 0, None)])
                }
                Ok(Err(e)) => return Err(e.into()),
                Err(_) => Err(crate::discovery::DiscoveryError::WaitTimeout {
                    topic: topic.to_owned(),
                    address: discovery.address().to_owned(),
                    timeout: options.wait_timeout,
                })?,
            };
            feed.apply(&publishers);
            if !feed.sources.is_empty() {
                feed.counters.reconnects.store(0, Ordering::Relaxed);
                feed.watch = next_change(watcher, options.recheck_after);
                return Ok(feed);
            }
            // A record whose address nobody can connect to (written by a
            // broken or hostile client, or kept by a daemon that does not
            // check addresses) is waited out like a missing one, not fatal.
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            if remaining.is_zero() {
                let problem = match crate::discovery::check_topic_address(&first.address) {
                    Err(reason) => reason,
                    Ok(()) => "no publisher of the topic could be connected to".to_owned(),
                };
                return Err(crate::error::Error::UnusableRecord {
                    topic: topic.to_owned(),
                    address: first.address,
                    node: first.publisher_node,
                    problem,
                });
            }
            tokio::time::sleep(options.recheck_after.min(remaining)).await;
        }
    }

    /// Follows a new set of publishers: connects to the new ones, lets the
    /// ones that left finish what they have queued.
    fn apply(&mut self, publishers: &[Listed]) {
        for source in &mut self.sources {
            source.leaving = !publishers.iter().any(|(p, ..)| source.is(p));
        }
        for (info, latched, registration) in publishers {
            if let Some(source) = self.sources.iter_mut().find(|s| s.is(info)) {
                // Registered again: restarted on the same endpoint (its
                // latched messages are new), or a restarted daemon.
                if source.registration.is_some() && source.registration != *registration {
                    source.ask_replay_again(&self.options);
                }
                source.registration = *registration;
                continue;
            }
            let key = (info.publisher_node.clone(), info.address.clone());
            if let Err(error) = (self.type_check)(info) {
                if self.refused.insert(key) {
                    tracing::error!(topic = %self.topic, %error, "a publisher of the topic has another type; not receiving from it");
                }
                continue;
            }
            let copies = Arc::clone(&self.counters.shm_copies);
            let floor = self.latched_seen.get(&key).copied().unwrap_or(0);
            let opened = Source::open(
                &self.ctx,
                info.clone(),
                *latched > 0,
                floor,
                &self.options,
                &copies,
            );
            match opened {
                Ok(mut source) => {
                    source.registration = *registration;
                    tracing::info!(topic = %self.topic, publisher = %source.id,
                        shared_memory = source.uses_shared_memory(), "connected to a publisher");
                    self.counters.reconnects.fetch_add(1, Ordering::Relaxed);
                    self.sources.push(source);
                }
                Err(problem) => {
                    if self.refused.insert(key) {
                        tracing::error!(topic = %self.topic, address = %info.address, node = %info.publisher_node, %problem,
                            "a publisher's record names an address no subscriber can use; not receiving from it");
                    }
                }
            }
        }
    }

    /// The next message from any publisher, with the index of its source in
    /// [`sources`](Self::sources) (valid until the next call). Publishers
    /// take turns.
    pub(crate) fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<std::io::Result<(usize, Incoming)>> {
        while let Poll::Ready(Watched {
            watcher,
            publishers,
        }) = self.watch.as_mut().poll(cx)
        {
            self.apply(&publishers);
            self.watch = next_change(watcher, self.options.recheck_after);
        }
        while self.idle.as_mut().poll(cx).is_ready() {
            let next = tokio::time::Instant::now() + self.options.recheck_after;
            self.idle.as_mut().reset(next);
            if !std::mem::take(&mut self.active) {
                let copies = Arc::clone(&self.counters.shm_copies);
                for source in &mut self.sources {
                    source.refresh_shared_memory(&self.options, &copies);
                }
            }
        }
        let n = self.sources.len();
        let mut drained = Vec::new();
        for k in 0..n {
            let i = (self.next + k) % n;
            let source = &mut self.sources[i];
            let mut polled = source.poll_next(cx);
            // A departing publisher is closed once it has nothing queued
            // (polled twice, as the first `Pending` may only be a yield)
            // and has been quiet for `recheck_after`: one that goes on
            // sending was dropped by a daemon that restarted or lost it,
            // and comes back with its next registration (the idle timer
            // brings the next check).
            if polled.is_pending() && source.leaving {
                polled = source.poll_next(cx);
                if polled.is_pending() && source.last_active.elapsed() >= self.options.recheck_after
                {
                    drained.push(i);
                }
            }
            if let Poll::Ready(result) = polled {
                self.next = i + 1;
                self.active = true;
                return Poll::Ready(result.map(|incoming| (i, incoming)));
            }
        }
        // Polling order wraps around: remove from the highest index down.
        drained.sort_unstable();
        for i in drained.into_iter().rev() {
            let source = self.sources.remove(i);
            if source.last_stamp > 0 {
                let key = (
                    source.info.publisher_node.clone(),
                    source.info.address.clone(),
                );
                self.latched_seen.insert(key, source.last_stamp);
            }
            tracing::info!(topic = %self.topic, publisher = %source.id, "publisher left");
        }
        Poll::Pending
    }
}
