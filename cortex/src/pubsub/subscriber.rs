//! `Subscriber<T>`: finds a topic through discovery, checks its type,
//! receives and decodes, counting what goes wrong.

use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Sleep;

use super::publisher::beacon_topic;
use super::publisher::shm_default;
use super::queue::QueueBudget;
use super::sequence::{SequenceEvent, SequenceTracker};
use super::shm::{layout, shm_topic, ShmReceiver};
use crate::codec::{DecodeError, Header};
use crate::discovery::{check_topic_address, Client, TopicInfo};
use crate::error::{Error, Result};
use crate::io::{frame_to_bytes, AsyncSocket};
use crate::Message;

/// Longest a quiet subscriber spends asking discovery whether its
/// publisher moved.
const RECHECK_BUDGET: Duration = Duration::from_millis(200);

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
    /// After a period this long without messages, ask discovery whether the
    /// publisher moved (restarted on a new endpoint): the check runs between
    /// one and two periods after the last message. Default 1 s.
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
    /// Messages lost on the way: gaps in the publisher's sequence, and
    /// messages after the last one received that the publisher's sequence
    /// beacons say were sent.
    pub dropped: u64,
    /// Messages that arrived but could not be decoded (malformed frames,
    /// wrong fingerprint); each is logged.
    pub decode_errors: u64,
    /// Times the subscriber connected to a new endpoint.
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

/// Receives messages of type `T` from one topic.
pub struct Subscriber<T: Message> {
    /// The shared-memory side, when the publisher offers it; declared
    /// before the socket so it closes first.
    shm: Option<ShmReceiver>,
    socket: AsyncSocket,
    discovery: Client,
    info: TopicInfo,
    options: SubscriberOptions,
    counters: Arc<SubscriberCounters>,
    sequence: SequenceTracker,
    /// This topic's beacon frame (see `publisher::beacon_topic`).
    beacon_frame: Vec<u8>,
    budget: QueueBudget,
    /// Undecodable messages not yet logged, and when the last log was.
    unreported_decode_errors: u64,
    last_decode_warning: Option<std::time::Instant>,
    /// Fires every `recheck_after`; a period without messages triggers a
    /// discovery re-check. One long-lived timer instead of a timeout per
    /// `recv` keeps timer-wheel work off the per-message path.
    idle: Pin<Box<Sleep>>,
    /// Whether a message arrived since `idle` was last set.
    active: bool,
    _type: PhantomData<fn() -> T>,
}

impl<T: Message> std::fmt::Debug for Subscriber<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriber")
            .field("topic", &self.info.name)
            .field("type", &T::TYPE_NAME)
            .field("address", &self.info.address)
            .field("stats", &self.stats())
            .finish()
    }
}

impl<T: Message> Subscriber<T> {
    /// Waits for `topic` to be registered, checks that it carries `T`, and
    /// connects. Must run inside a tokio runtime.
    pub async fn connect(
        ctx: &zmq::Context,
        discovery: &Client,
        topic: &str,
        options: &SubscriberOptions,
    ) -> Result<Self> {
        let deadline = tokio::time::Instant::now() + options.wait_timeout;
        let counters = Arc::<SubscriberCounters>::default();
        // A record whose address nobody can connect to (written by a broken
        // or hostile client, or kept by a daemon that does not check
        // addresses) is waited out like a missing one, not fatal.
        let (info, socket, shm) = loop {
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            let info = discovery.wait_for_topic(topic, remaining).await?;
            check_type::<T>(&info)?;
            let problem = match check_topic_address(&info.address) {
                Ok(()) => {
                    let shm = open_shm(topic, &info.address, options, &counters);
                    let socket = Self::socket(ctx, topic, options, shm.is_some())?;
                    match socket.connect(&info.address) {
                        Ok(()) => break (info, socket, shm),
                        Err(e) => format!("connecting failed: {e}"),
                    }
                }
                Err(reason) => reason,
            };
            tracing::error!(topic, address = %info.address, node = %info.publisher_node, %problem,
                "the topic's record names an address no subscriber can use; waiting for a usable one");
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            if remaining.is_zero() {
                return Err(Error::UnusableRecord {
                    topic: topic.to_owned(),
                    address: info.address,
                    node: info.publisher_node,
                    problem,
                });
            }
            tokio::time::sleep(options.recheck_after.min(remaining)).await;
        };
        let socket = AsyncSocket::new(socket).map_err(|e| {
            Error::io(
                format!("registering the socket of topic {topic} with tokio"),
                e,
            )
        })?;
        tracing::info!(topic, r#type = T::TYPE_NAME, address = %info.address, shared_memory = shm.is_some(), "subscribed");
        Ok(Subscriber {
            shm,
            socket,
            discovery: discovery.clone(),
            info,
            options: options.clone(),
            counters,
            sequence: SequenceTracker::new(),
            beacon_frame: beacon_topic(topic),
            budget: QueueBudget::receiving(options.queue_bytes, options.queue_depth),
            unreported_decode_errors: 0,
            last_decode_warning: None,
            idle: Box::pin(tokio::time::sleep(options.recheck_after)),
            active: false,
            _type: PhantomData,
        })
    }

    /// A SUB socket for `topic` (or, for a shared-memory subscriber, its
    /// [`shm_topic`]) and its beacons, not yet connected.
    fn socket(
        ctx: &zmq::Context,
        topic: &str,
        options: &SubscriberOptions,
        shm: bool,
    ) -> Result<zmq::Socket> {
        let socket = ctx
            .socket(zmq::SUB)
            .map_err(|e| Error::zmq(format!("creating the SUB socket for topic {topic}"), e))?;
        let hwm = QueueBudget::receiving(options.queue_bytes, options.queue_depth).hwm();
        socket
            .set_rcvhwm(hwm)
            .and_then(|()| socket.set_linger(0))
            .and_then(|()| socket.set_subscribe(&data_subscription(topic, shm)))
            .and_then(|()| socket.set_subscribe(&beacon_topic(topic)))
            .map_err(|e| Error::zmq(format!("configuring the SUB socket for topic {topic}"), e))?;
        Ok(socket)
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.info.name
    }

    /// The publisher's discovery record.
    pub fn info(&self) -> &TopicInfo {
        &self.info
    }

    /// Counters so far.
    pub fn stats(&self) -> SubscriberStats {
        self.counters.snapshot()
    }

    /// Whether messages arrive through shared memory (arrays borrow the
    /// publisher's memory) rather than the socket.
    pub fn uses_shared_memory(&self) -> bool {
        self.shm.is_some()
    }

    /// A handle to the counters, readable from other tasks.
    pub fn counters(&self) -> Arc<SubscriberCounters> {
        Arc::clone(&self.counters)
    }

    /// The next message. Malformed messages are counted, logged and
    /// skipped; a publisher that restarts (on the same or a new endpoint)
    /// is reconnected to.
    pub async fn recv(&mut self) -> Result<(T, Header)> {
        loop {
            let frames = tokio::select! {
                biased;
                sample = next_sample(&mut self.shm) => {
                    let sample = match sample {
                        Ok(sample) => sample,
                        Err(error) => {
                            // Not fatal: this publisher's messages come
                            // over the socket from now on.
                            tracing::warn!(topic = %self.info.name, %error,
                                "receiving from shared memory failed; using the socket");
                            self.use_socket();
                            continue;
                        }
                    };
                    self.active = true;
                    match self.decode_sample(&sample) {
                        Ok(delivery) => return Ok(delivery),
                        Err(e) => {
                            self.counters.decode_errors.fetch_add(1, Ordering::Relaxed);
                            self.warn_undecodable(&e);
                        }
                    }
                    continue;
                }
                frames = self.socket.recv_multipart() => frames.map_err(|e| {
                    Error::io(format!("receiving on topic {}", self.info.name), e)
                })?,
                () = self.idle.as_mut() => {
                    let quiet = !std::mem::take(&mut self.active);
                    let next = tokio::time::Instant::now() + self.options.recheck_after;
                    self.idle.as_mut().reset(next);
                    if quiet {
                        self.recheck().await;
                    }
                    continue;
                }
            };
            self.active = true;
            match self.decode(frames) {
                Ok(Some(delivery)) => return Ok(delivery),
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
        tracing::warn!(topic = %self.info.name, r#type = T::TYPE_NAME, dropped = self.unreported_decode_errors,
            %error, "dropping messages that cannot be decoded (counted in decode_errors)");
        self.unreported_decode_errors = 0;
        self.last_decode_warning = Some(now);
    }

    /// A message, or `None` for a sequence beacon (counted, not delivered).
    fn decode(&mut self, frames: Vec<zmq::Message>) -> Result<Option<(T, Header)>> {
        let decode_err = |source| Error::Decode {
            topic: self.info.name.clone(),
            ty: T::TYPE_NAME,
            cause: Box::new(source),
        };
        if let Some(hwm) = self
            .budget
            .observe(frames.iter().map(|f| f.len()).sum::<usize>())
        {
            if let Err(e) = self.socket.get_ref().set_rcvhwm(hwm) {
                tracing::debug!(topic = %self.info.name, hwm, error = %e, "could not resize the queue");
            }
        }
        if frames.first().is_some_and(|f| **f == *self.beacon_frame) {
            self.beacon(&frames);
            return Ok(None);
        }
        let found = frames.len().saturating_sub(1);
        let mut frames = frames.into_iter();
        match frames.next() {
            Some(topic) if *topic == *self.info.name.as_bytes() => {}
            // SUB filters by prefix: `/a` also matches `/ab`.
            other => {
                return Err(Error::Malformed {
                    topic: self.info.name.clone(),
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
            return Err(decode_err(DecodeError::MissingFrames { found }));
        };
        let oob: Vec<Bytes> = frames.map(frame_to_bytes).collect();
        self.decode_parts(&header, &metadata, &oob).map(Some)
    }

    /// A message from a shared-memory sample (its frames are views of it).
    fn decode_sample(&mut self, sample: &Bytes) -> Result<(T, Header)> {
        let frames = layout::frames(sample).map_err(|e| Error::Malformed {
            topic: self.info.name.clone(),
            reason: e.to_string(),
        })?;
        let found = frames.len().saturating_sub(1);
        match frames.as_slice() {
            [header, metadata, oob @ ..] => self.decode_parts(header, metadata, oob),
            _ => Err(Error::Decode {
                topic: self.info.name.clone(),
                ty: T::TYPE_NAME,
                cause: Box::new(DecodeError::MissingFrames { found }),
            }),
        }
    }

    /// Header check, sequence count and body decode, for either path.
    fn decode_parts(
        &mut self,
        header: &[u8],
        metadata: &[u8],
        oob: &[Bytes],
    ) -> Result<(T, Header)> {
        let decode_err = |source| Error::Decode {
            topic: self.info.name.clone(),
            ty: T::TYPE_NAME,
            cause: Box::new(source),
        };
        let header = Header::from_bytes(header).map_err(decode_err)?;
        if !T::accepts_fingerprint(header.fingerprint) {
            return Err(decode_err(DecodeError::FingerprintMismatch {
                expected_type: T::TYPE_NAME,
                expected: T::FINGERPRINT,
                found: header.fingerprint,
            }));
        }
        // Counted before the body is decoded: a message of the right type
        // that fails to decode is a decode error, not also a gap later.
        self.count_sequence(header.sequence);
        let msg = T::decode_body(metadata, oob).map_err(|source| Error::Decode {
            topic: self.info.name.clone(),
            ty: T::TYPE_NAME,
            cause: Box::new(source),
        })?;
        self.counters.received.fetch_add(1, Ordering::Relaxed);
        Ok((msg, header))
    }

    /// A sequence beacon `[beacon topic, header]`: the publisher's last
    /// sequence so far; messages up to it that never arrived are lost.
    fn beacon(&mut self, frames: &[zmq::Message]) {
        let header = match frames {
            [_, header] => Header::from_bytes(header).ok(),
            _ => None,
        };
        match header {
            Some(h) if T::accepts_fingerprint(h.fingerprint) => {
                let lost = self.sequence.observe_last_sent(h.sequence);
                self.counters.dropped.fetch_add(lost, Ordering::Relaxed);
            }
            _ => {
                self.counters.decode_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(topic = %self.info.name, r#type = T::TYPE_NAME, "dropping a malformed sequence beacon");
            }
        }
    }

    fn count_sequence(&mut self, sequence: u64) {
        match self.sequence.observe(sequence) {
            SequenceEvent::Gap { lost } => {
                self.counters.dropped.fetch_add(lost, Ordering::Relaxed);
            }
            SequenceEvent::Restarted { last } => {
                tracing::info!(topic = %self.info.name, sequence, last, "publisher restarted (sequence went back)");
            }
            SequenceEvent::Jumped { last } => {
                tracing::warn!(topic = %self.info.name, sequence, last, "sequence jumped too far to be loss; counting from here");
            }
            SequenceEvent::First | SequenceEvent::InOrder | SequenceEvent::Repeated => {}
        }
    }

    /// Asks discovery where the topic is now; reconnects if it moved.
    async fn recheck(&mut self) {
        // Bounded: while it runs the socket is not read, and an unreachable
        // daemon would otherwise hold it up for the client's full timeout
        // and retries (seconds). The next quiet period asks again.
        let lookup = self.discovery.lookup(&self.info.name);
        let current = match tokio::time::timeout(RECHECK_BUDGET, lookup).await {
            Ok(Ok(Some(info))) => info,
            Ok(Ok(None) | Err(_)) | Err(_) => return,
        };
        if current.address == self.info.address {
            // Same address: a restarted publisher has a new shared-memory
            // service, which the old one's subscription never sees.
            if self.shm.as_ref().is_some_and(|shm| !shm.has_publisher()) {
                self.switch_path(&current.address);
            }
            return;
        }
        if let Err(reason) = check_topic_address(&current.address) {
            tracing::warn!(topic = %self.info.name, address = %current.address, %reason, "the topic's new record names an unusable address; not following it");
            return;
        }
        if let Err(e) = check_type::<T>(&current) {
            tracing::error!(topic = %self.info.name, error = %e, "the topic's new publisher has another type; not following it (staying on the old address)");
            return;
        }
        let socket = self.socket.get_ref();
        let _ = socket.disconnect(&self.info.address);
        match socket.connect(&current.address) {
            Ok(()) => {
                self.switch_path(&current.address);
                tracing::info!(topic = %self.info.name, from = %self.info.address, to = %current.address, "publisher moved; reconnected");
                self.counters.reconnects.fetch_add(1, Ordering::Relaxed);
                self.sequence.reset();
                self.info = current;
            }
            Err(e) => {
                tracing::warn!(topic = %self.info.name, address = %current.address, error = %e, "reconnecting failed; will retry");
            }
        }
    }
}

impl<T: Message> Subscriber<T> {
    /// Leaves shared memory for the socket path.
    fn use_socket(&mut self) {
        if self.shm.take().is_some() {
            let topic = self.info.name.clone();
            let socket = self.socket.get_ref();
            let _ = socket.set_unsubscribe(&data_subscription(&topic, true));
            if let Err(e) = socket.set_subscribe(&data_subscription(&topic, false)) {
                tracing::warn!(topic, error = %e, "could not change the subscription");
            }
        }
    }

    /// Re-decides between shared memory and the socket for the publisher
    /// at `address`, and subscribes on the socket accordingly.
    fn switch_path(&mut self, address: &str) {
        let topic = self.info.name.clone();
        let was = self.shm.is_some();
        self.shm = None;
        self.shm = open_shm(&topic, address, &self.options, &self.counters);
        let now = self.shm.is_some();
        if was != now {
            let socket = self.socket.get_ref();
            let _ = socket.set_unsubscribe(&data_subscription(&topic, was));
            if let Err(e) = socket.set_subscribe(&data_subscription(&topic, now)) {
                tracing::warn!(topic, error = %e, "could not change the subscription");
            }
        }
    }
}

/// What a subscriber subscribes to on the socket for its messages.
fn data_subscription(topic: &str, shm: bool) -> Vec<u8> {
    if shm {
        shm_topic(topic)
    } else {
        topic.as_bytes().to_vec()
    }
}

/// The shared-memory side for the publisher at `address`, if it offers one.
fn open_shm(
    topic: &str,
    address: &str,
    options: &SubscriberOptions,
    counters: &SubscriberCounters,
) -> Option<ShmReceiver> {
    if !options.shared_memory {
        return None;
    }
    match ShmReceiver::open(address, Arc::clone(&counters.shm_copies)) {
        Ok(shm) if shm.has_publisher() => Some(shm),
        Ok(_) => {
            tracing::debug!(
                topic,
                address,
                "the shared-memory service has no publisher; using the socket"
            );
            None
        }
        Err(reason) if reason.slots_taken() => {
            tracing::info!(topic, address, %reason, "no shared memory for this subscriber; using the socket");
            None
        }
        Err(reason) => {
            tracing::debug!(topic, address, %reason, "no shared memory for this publisher; using the socket");
            None
        }
    }
}

/// The next shared-memory sample; never ready without shared memory.
async fn next_sample(shm: &mut Option<ShmReceiver>) -> std::io::Result<Bytes> {
    match shm {
        Some(shm) => shm.recv().await,
        None => std::future::pending().await,
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
