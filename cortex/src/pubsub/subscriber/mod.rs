//! `Subscriber<T>`: finds every publisher of a topic through discovery,
//! checks its type, receives and decodes, counting what goes wrong.
//!
//! The parts: `source` (one publisher: its socket, shared-memory side and
//! sequence) and `feed` (all publishers of the topic, following discovery).

mod feed;
mod source;

use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use self::feed::Feed;
use self::source::Incoming;
pub use self::source::{PublisherCounts, PublisherId};
use super::publisher::beacon_topic;
use super::publisher::shm_default;
use super::shm::layout;
use crate::codec::{DecodeError, Header};
use crate::discovery::{Client, TopicInfo};
use crate::error::{Error, Result};
use crate::io::frame_to_bytes;
use crate::Message;

/// How often at most a subscriber logs that messages cannot be decoded.
const DECODE_WARNING_EVERY: Duration = Duration::from_secs(10);

/// Subscriber settings.
#[derive(Debug, Clone)]
pub struct SubscriberOptions {
    /// Most messages buffered before ZeroMQ drops (receive high-water mark).
    /// Drops show up as sequence gaps. Default 1000.
    pub queue_depth: i32,
    /// Most bytes buffered: the high-water mark follows the size of recent
    /// messages so that the queue holds about this much (assuming 4 MiB
    /// messages until the first one arrives). Default 64 MiB.
    pub queue_bytes: usize,
    /// How long to wait for the topic to be registered. Default 10 s.
    pub wait_timeout: Duration,
    /// After a period this long without messages, check that each
    /// publisher's shared-memory side still has its publisher (a restart
    /// on the same endpoint makes a new one). A publisher that left
    /// discovery is let go once it has been quiet this long (one that goes
    /// on sending was only lost by a restarted daemon). Against a Python
    /// daemon, which cannot tell subscribers of changes, also how often
    /// discovery is asked whether the publisher moved. Default 1 s.
    pub recheck_after: Duration,
    /// Receive through shared memory when the publisher offers it (same
    /// host, a cortex publisher with the `shm` feature): arrays then borrow
    /// the publisher's memory. Default `true`, or `false` when the
    /// environment variable `CORTEX_SHM` is `0`. Otherwise, or when it
    /// cannot be opened, the socket path is used (logged at debug level).
    pub shared_memory: bool,
}

impl Default for SubscriberOptions {
    fn default() -> Self {
        SubscriberOptions {
            queue_depth: 1000,
            queue_bytes: 64 << 20,
            wait_timeout: Duration::from_secs(10),
            recheck_after: Duration::from_secs(1),
            shared_memory: shm_default(),
        }
    }
}

/// Counters of one subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SubscriberStats {
    /// Messages decoded and delivered.
    pub received: u64,
    /// Messages lost on the way: gaps in each publisher's sequence, and
    /// messages after the last one received that a publisher's sequence
    /// beacons say were sent. Per publisher: [`Subscriber::publishers`].
    pub dropped: u64,
    /// Messages that arrived but could not be decoded (malformed frames,
    /// wrong fingerprint); each is logged.
    pub decode_errors: u64,
    /// Publishers connected to after the subscriber started (one joined,
    /// or one moved to a new endpoint).
    pub reconnects: u64,
    /// Shared-memory messages copied out of shared memory because the
    /// application held too many received messages at once (none lost;
    /// each cost a copy, and its arrays do not borrow).
    pub shared_memory_copies: u64,
}

/// Shared, lock-free counters (readable while the subscriber receives).
#[derive(Debug, Default)]
pub struct SubscriberCounters {
    received: AtomicU64,
    dropped: AtomicU64,
    decode_errors: AtomicU64,
    reconnects: AtomicU64,
    shm_copies: Arc<AtomicU64>,
}

impl SubscriberCounters {
    /// A snapshot.
    pub fn snapshot(&self) -> SubscriberStats {
        SubscriberStats {
            received: self.received.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            decode_errors: self.decode_errors.load(Ordering::Relaxed),
            reconnects: self.reconnects.load(Ordering::Relaxed),
            shared_memory_copies: self.shm_copies.load(Ordering::Relaxed),
        }
    }
}

/// Receives messages of type `T` from every publisher of one topic.
///
/// Publishers join and leave while it runs: against a cortex daemon the
/// subscriber is told at once and connects to (or lets go of) each;
/// publishers take turns, and each one's messages arrive in the order
/// sent. Loss is counted per publisher, from its own sequence.
pub struct Subscriber<T: Message> {
    feed: Feed,
    topic: String,
    counters: Arc<SubscriberCounters>,
    /// This topic's beacon frame (see `publisher::beacon_topic`).
    beacon_frame: Vec<u8>,
    /// Undecodable messages not yet logged, and when the last log was.
    unreported_decode_errors: u64,
    last_decode_warning: Option<std::time::Instant>,
    _type: PhantomData<fn() -> T>,
}

impl<T: Message> std::fmt::Debug for Subscriber<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let publishers: Vec<_> = self.feed.sources.iter().map(|s| s.id.to_string()).collect();
        f.debug_struct("Subscriber")
            .field("topic", &self.topic)
            .field("type", &T::TYPE_NAME)
            .field("publishers", &publishers)
            .field("stats", &self.stats())
            .finish()
    }
}

impl<T: Message> Subscriber<T> {
    /// Waits for `topic` to be registered, checks that it carries `T`, and
    /// connects to every publisher. Must run inside a tokio runtime.
    pub async fn connect(
        ctx: &zmq::Context,
        discovery: &Client,
        topic: &str,
        options: &SubscriberOptions,
    ) -> Result<Self> {
        let counters = Arc::<SubscriberCounters>::default();
        let feed = Feed::connect(
            ctx,
            discovery,
            topic,
            options,
            Arc::clone(&counters),
            check_type::<T>,
        )
        .await?;
        let publishers: Vec<_> = feed.sources.iter().map(|s| s.id.to_string()).collect();
        tracing::info!(
            topic,
            r#type = T::TYPE_NAME,
            ?publishers,
            shared_memory = feed.sources.iter().any(|s| s.uses_shared_memory()),
            "subscribed"
        );
        Ok(Subscriber {
            feed,
            topic: topic.to_owned(),
            counters,
            beacon_frame: beacon_topic(topic),
            unreported_decode_errors: 0,
            last_decode_warning: None,
            _type: PhantomData,
        })
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The discovery record of the oldest publisher connected to (what
    /// `LOOKUP_TOPIC` returns), if any is; [`publishers`](Self::publishers)
    /// lists them all.
    pub fn info(&self) -> Option<&TopicInfo> {
        self.feed.sources.first().map(|s| &s.info)
    }

    /// The publishers connected to now, with what arrived from each.
    pub fn publishers(&self) -> Vec<PublisherCounts> {
        self.feed.sources.iter().map(|s| s.stats()).collect()
    }

    /// Counters so far.
    pub fn stats(&self) -> SubscriberStats {
        self.counters.snapshot()
    }

    /// Whether messages arrive through shared memory (arrays borrow the
    /// publisher's memory) rather than the socket, from any publisher.
    pub fn uses_shared_memory(&self) -> bool {
        self.feed.sources.iter().any(|s| s.uses_shared_memory())
    }

    /// A handle to the counters, readable from other tasks.
    pub fn counters(&self) -> Arc<SubscriberCounters> {
        Arc::clone(&self.counters)
    }

    /// The next message, from any publisher. Malformed messages are
    /// counted, logged and skipped; publishers that join, leave or restart
    /// (on the same or a new endpoint) are followed.
    pub async fn recv(&mut self) -> Result<(T, Header)> {
        self.recv_from().await.map(|(msg, header, _)| (msg, header))
    }

    /// Like [`recv`](Self::recv), and which publisher sent the message.
    pub async fn recv_from(&mut self) -> Result<(T, Header, PublisherId)> {
        loop {
            let (i, incoming) = std::future::poll_fn(|cx| self.feed.poll_next(cx))
                .await
                .map_err(|e| Error::io(format!("receiving on topic {}", self.topic), e))?;
            let decoded = match incoming {
                Incoming::Sample(sample) => self.decode_sample(i, &sample).map(Some),
                Incoming::Frames(frames) => self.decode(i, frames),
            };
            match decoded {
                Ok(Some((msg, header))) => {
                    let publisher = self.feed.sources[i].id.clone();
                    return Ok((msg, header, publisher));
                }
                Ok(None) => {}
                Err(e) => {
                    self.counters.decode_errors.fetch_add(1, Ordering::Relaxed);
                    self.warn_undecodable(&e);
                }
            }
        }
    }

    /// Logs an undecodable message: the first at once, then at most one
    /// line per [`DECODE_WARNING_EVERY`] with how many were dropped since
    /// (a peer with another definition of the type sends nothing else).
    fn warn_undecodable(&mut self, error: &Error) {
        self.unreported_decode_errors += 1;
        let now = std::time::Instant::now();
        if self
            .last_decode_warning
            .is_some_and(|at| now.duration_since(at) < DECODE_WARNING_EVERY)
        {
            return;
        }
        tracing::warn!(topic = %self.topic, r#type = T::TYPE_NAME, dropped = self.unreported_decode_errors,
            %error, "dropping messages that cannot be decoded (counted in decode_errors)");
        self.unreported_decode_errors = 0;
        self.last_decode_warning = Some(now);
    }

    /// A message from source `i`, or `None` for a sequence beacon
    /// (counted, not delivered).
    fn decode(&mut self, i: usize, frames: Vec<zmq::Message>) -> Result<Option<(T, Header)>> {
        if frames.first().is_some_and(|f| **f == *self.beacon_frame) {
            self.beacon(i, &frames);
            return Ok(None);
        }
        let found = frames.len().saturating_sub(1);
        let mut frames = frames.into_iter();
        match frames.next() {
            Some(topic) if *topic == *self.topic.as_bytes() => {}
            // SUB filters by prefix: `/a` also matches `/ab`.
            other => {
                return Err(Error::Malformed {
                    topic: self.topic.clone(),
                    reason: format!(
                        "topic frame is {:?}",
                        other
                            .as_ref()
                            .map(|f| String::from_utf8_lossy(f).into_owned())
                    ),
                })
            }
        }
        // What `Message::decode` does, reading the header and metadata in
        // place: only the OOB frames, which arrays borrow, become `Bytes`.
        let (Some(header), Some(metadata)) = (frames.next(), frames.next()) else {
            return Err(self.decode_error(DecodeError::MissingFrames { found }));
        };
        let oob: Vec<Bytes> = frames.map(frame_to_bytes).collect();
        self.decode_parts(i, &header, &metadata, &oob).map(Some)
    }

    /// A message from a shared-memory sample (its frames are views of it).
    fn decode_sample(&mut self, i: usize, sample: &Bytes) -> Result<(T, Header)> {
        let frames = layout::frames(sample).map_err(|e| Error::Malformed {
            topic: self.topic.clone(),
            reason: e.to_string(),
        })?;
        let found = frames.len().saturating_sub(1);
        match frames.as_slice() {
            [header, metadata, oob @ ..] => self.decode_parts(i, header, metadata, oob),
            _ => Err(self.decode_error(DecodeError::MissingFrames { found })),
        }
    }

    fn decode_error(&self, cause: DecodeError) -> Error {
        Error::Decode {
            topic: self.topic.clone(),
            ty: T::TYPE_NAME,
            cause: Box::new(cause),
        }
    }

    /// Header check, sequence count and body decode, for either path.
    fn decode_parts(
        &mut self,
        i: usize,
        header: &[u8],
        metadata: &[u8],
        oob: &[Bytes],
    ) -> Result<(T, Header)> {
        let header = Header::from_bytes(header).map_err(|e| self.decode_error(e))?;
        if !T::accepts_fingerprint(header.fingerprint) {
            return Err(self.decode_error(DecodeError::FingerprintMismatch {
                expected_type: T::TYPE_NAME,
                expected: T::FINGERPRINT,
                found: header.fingerprint,
            }));
        }
        // Counted before the body is decoded: a message of the right type
        // that fails to decode is a decode error, not also a gap later.
        let source = &mut self.feed.sources[i];
        let lost = source.count_sequence(header.sequence);
        self.counters.dropped.fetch_add(lost, Ordering::Relaxed);
        let msg = T::decode_body(metadata, oob).map_err(|e| self.decode_error(e))?;
        self.feed.sources[i].received += 1;
        self.counters.received.fetch_add(1, Ordering::Relaxed);
        Ok((msg, header))
    }

    /// A sequence beacon `[beacon topic, header]`: the publisher's last
    /// sequence so far; messages up to it that never arrived are lost.
    fn beacon(&mut self, i: usize, frames: &[zmq::Message]) {
        let header = match frames {
            [_, header] => Header::from_bytes(header).ok(),
            _ => None,
        };
        match header {
            Some(h) if T::accepts_fingerprint(h.fingerprint) => {
                let lost = self.feed.sources[i].count_beacon(h.sequence);
                self.counters.dropped.fetch_add(lost, Ordering::Relaxed);
            }
            _ => {
                self.counters.decode_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(topic = %self.topic, r#type = T::TYPE_NAME, "dropping a malformed sequence beacon");
            }
        }
    }
}

fn check_type<T: Message>(info: &TopicInfo) -> Result<()> {
    if T::accepts_fingerprint(info.fingerprint) {
        Ok(())
    } else {
        Err(Error::TypeMismatch {
            topic: info.name.clone(),
            expected_type: T::TYPE_NAME,
            expected: T::FINGERPRINT,
            found_type: info.message_type.clone(),
            found: info.fingerprint,
        })
    }
}
