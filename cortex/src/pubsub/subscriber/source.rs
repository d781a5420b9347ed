//! One publisher as a subscriber sees it: its socket (and shared-memory
//! side), its sequence, and what arrived from it.

use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;

use super::SubscriberOptions;
use crate::codec::Header;
use crate::discovery::{check_topic_address, TopicInfo};
use crate::io::AsyncSocket;
use crate::pubsub::latch::{replay_topic, Replay, Stamp, Taken};
use crate::pubsub::publisher::beacon_topic;
use crate::pubsub::queue::QueueBudget;
use crate::pubsub::sequence::{SequenceEvent, SequenceTracker};
use crate::pubsub::shm::{layout, shm_topic, ShmReceiver};

/// Which publisher sent a message: the node that registered it and its
/// endpoint. Cheap to clone.
///
/// A `#[subscribe]` handler gets it by taking an argument of this type;
/// [`Subscriber::recv_from`](super::Subscriber::recv_from) returns it with
/// each message.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublisherId {
    node: Arc<str>,
    address: Arc<str>,
}

impl PublisherId {
    pub(crate) fn of(info: &TopicInfo) -> Self {
        Self {
            node: info.publisher_node.as_str().into(),
            address: info.address.as_str().into(),
        }
    }

    /// The publishing node's name (`publisher_node` in its discovery record).
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The endpoint the publisher binds.
    pub fn address(&self) -> &str {
        &self.address
    }
}

impl fmt::Display for PublisherId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.node, self.address)
    }
}

/// Counters of one publisher at one subscriber.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PublisherCounts {
    /// The publisher.
    pub publisher: PublisherId,
    /// Messages received from it and delivered.
    pub received: u64,
    /// Messages of its sequence that never arrived.
    pub dropped: u64,
    /// Whether its messages arrive through shared memory.
    pub shared_memory: bool,
}

/// What arrived from a publisher.
pub(crate) enum Incoming {
    /// A shared-memory sample (its frames, without the topic).
    Sample(Bytes),
    /// A socket message (every frame, the topic first).
    Frames(Vec<zmq::Message>),
}

/// One publisher's connection. Field order is drop order: the shared-memory
/// side closes before the socket.
pub(crate) struct Source {
    shm: Option<ShmReceiver>,
    socket: AsyncSocket,
    pub(crate) info: TopicInfo,
    pub(crate) id: PublisherId,
    sequence: SequenceTracker,
    budget: QueueBudget,
    pub(crate) received: u64,
    pub(crate) dropped: u64,
    /// The publisher left discovery: read what it still has queued, then
    /// close once it has been quiet for a while (see `Feed::poll_next`).
    pub(crate) leaving: bool,
    /// When a message last arrived from it (or it was connected).
    pub(crate) last_active: std::time::Instant,
    /// Whether the publisher is latched (replays to joining subscribers).
    latched: bool,
    /// Its registration, per discovery (see `PublisherWatch::registration`).
    pub(crate) registration: Option<u64>,
    /// The newest header timestamp delivered from it (latched publishers):
    /// a replay asked for again repeats nothing older.
    pub(crate) last_stamp: u64,
    /// A latched publisher's replay, until it has been delivered.
    replay: Option<Replay<Incoming>>,
}

impl Source {
    /// Connects to the publisher of `info` (asking for its replay if it is
    /// `latched`, of what is newer than `floor`); the error says why its
    /// record is unusable.
    pub(crate) fn open(
        ctx: &zmq::Context,
        info: TopicInfo,
        latched: bool,
        floor: u64,
        options: &SubscriberOptions,
        copies: &Arc<AtomicU64>,
    ) -> Result<Self, String> {
        check_topic_address(&info.address)?;
        let topic = info.name.as_str();
        let shm = open_shm(topic, &info.address, options, copies);
        let replay = latched.then(|| new_replay(topic, floor, options));
        let socket = sub_socket(ctx, topic, options, shm.is_some())
            .and_then(|socket| {
                if let Some(replay) = &replay {
                    // Sent after the live subscription (SUB sends them in
                    // byte order; this one starts with 0xff): see `latch`.
                    socket.set_subscribe(replay.topic_frame())?;
                }
                Ok(socket)
            })
            .map_err(|e| format!("creating its socket failed: {e}"))?;
        socket
            .connect(&info.address)
            .map_err(|e| format!("connecting failed: {e}"))?;
        let socket = AsyncSocket::new(socket)
            .map_err(|e| format!("registering its socket with tokio failed: {e}"))?;
        Ok(Source {
            shm,
            socket,
            id: PublisherId::of(&info),
            info,
            sequence: SequenceTracker::new(),
            budget: QueueBudget::receiving(options.queue_bytes, options.queue_depth),
            received: 0,
            dropped: 0,
            leaving: false,
            last_active: std::time::Instant::now(),
            latched,
            registration: None,
            last_stamp: floor,
            replay,
        })
    }

    /// Asks a latched publisher for its replay again (it registered again:
    /// restarted on the same endpoint, or a daemon restarted); only what is
    /// newer than what was delivered comes through. Not while a replay is
    /// still under way.
    pub(crate) fn ask_replay_again(&mut self, options: &SubscriberOptions) {
        if !self.latched || self.replay.as_ref().is_some_and(|r| !r.is_done()) {
            return;
        }
        if let Some(done) = self.replay.take() {
            let _ = self.socket.get_ref().set_unsubscribe(done.topic_frame());
        }
        let replay = new_replay(&self.info.name, self.last_stamp, options);
        if let Err(e) = self.socket.get_ref().set_subscribe(replay.topic_frame()) {
            tracing::warn!(topic = %self.info.name, error = %e, "could not ask for the replay again");
            return;
        }
        self.replay = Some(replay);
    }

    /// Whether this is the publisher of `info` (same node, same endpoint).
    pub(crate) fn is(&self, info: &TopicInfo) -> bool {
        self.info.publisher_node == info.publisher_node && self.info.address == info.address
    }

    pub(crate) fn uses_shared_memory(&self) -> bool {
        self.shm.is_some()
    }

    pub(crate) fn stats(&self) -> PublisherCounts {
        PublisherCounts {
            publisher: self.id.clone(),
            received: self.received,
            dropped: self.dropped,
            shared_memory: self.shm.is_some(),
        }
    }

    /// The next message from this publisher: for a latched publisher that
    /// was just joined, its replay first (see [`crate::pubsub::latch`]).
    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<Incoming>> {
        let polled = self.poll_replayed(cx);
        if self.latched {
            if let Poll::Ready(Ok(incoming)) = &polled {
                if let Some((_, ts)) = stamp_of(self.info.name.as_bytes(), incoming) {
                    self.last_stamp = self.last_stamp.max(ts);
                }
            }
        }
        polled
    }

    fn poll_replayed(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<Incoming>> {
        loop {
            let topic = self.info.name.as_bytes();
            let Some(replay) = &mut self.replay else {
                return self.poll_raw(cx);
            };
            if let Some(due) = replay.next_due() {
                return Poll::Ready(Ok(due));
            }
            if replay.is_done() {
                let _ = self.socket.get_ref().set_unsubscribe(replay.topic_frame());
                self.replay = None;
                continue;
            }
            if replay.poll_expired(cx, |m| stamp_of(topic, m)) {
                tracing::warn!(topic = %self.info.name, publisher = %self.id,
                    "the latched publisher did not replay its last messages in time; delivering the live stream");
                continue;
            }
            let mut incoming = std::task::ready!(self.poll_raw(cx))?;
            let Some(replay) = &mut self.replay else {
                return Poll::Ready(Ok(incoming));
            };
            let topic = self.info.name.as_bytes();
            let (replayed, marker) = match &mut incoming {
                Incoming::Frames(frames) if *frames[0] == *replay.topic_frame() => {
                    if frames.len() > 1 {
                        // Delivered as a message of the topic.
                        frames[0] = zmq::Message::from(topic);
                    }
                    (true, frames.len() == 1)
                }
                _ => (false, false),
            };
            match replay.take(incoming, replayed, marker, |m| stamp_of(topic, m)) {
                Ok(Taken::Deliver(m)) => return Poll::Ready(Ok(m)),
                Ok(Taken::Held) => {}
                Err(held) => {
                    tracing::warn!(topic = %self.info.name, publisher = %self.id, held,
                        "stopped waiting for the latched publisher's replay: as many live messages as the queue holds arrived first");
                }
            }
        }
    }

    /// The next message from the publisher's socket or shared memory,
    /// shared memory first. A failing shared-memory side is left for the
    /// socket (logged).
    fn poll_raw(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<Incoming>> {
        if let Some(shm) = &mut self.shm {
            match shm.poll_recv(cx) {
                Poll::Ready(Ok(sample)) => {
                    self.last_active = std::time::Instant::now();
                    return Poll::Ready(Ok(Incoming::Sample(sample)));
                }
                Poll::Ready(Err(error)) => {
                    tracing::warn!(topic = %self.info.name, publisher = %self.id, %error,
                        "receiving from shared memory failed; using the socket");
                    self.use_socket();
                }
                Poll::Pending => {}
            }
        }
        let frames = std::task::ready!(self.socket.poll_recv_multipart(cx))?;
        self.last_active = std::time::Instant::now();
        if let Some(hwm) = self
            .budget
            .observe(frames.iter().map(|f| f.len()).sum::<usize>())
        {
            if let Err(e) = self.socket.get_ref().set_rcvhwm(hwm) {
                tracing::debug!(topic = %self.info.name, hwm, error = %e, "could not resize the queue");
            }
        }
        Poll::Ready(Ok(Incoming::Frames(frames)))
    }

    /// Counts a received message's sequence number.
    pub(crate) fn count_sequence(&mut self, sequence: u64) -> u64 {
        match self.sequence.observe(sequence) {
            SequenceEvent::Gap { lost } => {
                self.dropped += lost;
                lost
            }
            SequenceEvent::Restarted { last } => {
                tracing::info!(topic = %self.info.name, publisher = %self.id, sequence, last,
                    "publisher restarted (sequence went back)");
                0
            }
            SequenceEvent::Jumped { last } => {
                tracing::warn!(topic = %self.info.name, publisher = %self.id, sequence, last,
                    "sequence jumped too far to be loss; counting from here");
                0
            }
            SequenceEvent::First | SequenceEvent::InOrder | SequenceEvent::Repeated => 0,
        }
    }

    /// Takes a sequence beacon (the publisher's last sequence so far):
    /// returns how many messages up to it never arrived.
    pub(crate) fn count_beacon(&mut self, last_sent: u64) -> u64 {
        let lost = self.sequence.observe_last_sent(last_sent);
        self.dropped += lost;
        lost
    }

    /// A restarted publisher on the same endpoint has a new shared-memory
    /// service, which the old one's subscription never sees: reopen it.
    pub(crate) fn refresh_shared_memory(
        &mut self,
        options: &SubscriberOptions,
        copies: &Arc<AtomicU64>,
    ) {
        if self.shm.as_ref().is_some_and(|shm| !shm.has_publisher()) {
            self.switch_path(options, copies);
        }
    }

    /// Leaves shared memory for the socket path.
    fn use_socket(&mut self) {
        if self.shm.take().is_some() {
            self.subscribe(true, false);
        }
    }

    /// Re-decides between shared memory and the socket, and subscribes on
    /// the socket accordingly.
    fn switch_path(&mut self, options: &SubscriberOptions, copies: &Arc<AtomicU64>) {
        let was = self.shm.is_some();
        self.shm = None;
        self.shm = open_shm(&self.info.name, &self.info.address, options, copies);
        let now = self.shm.is_some();
        if was != now {
            self.subscribe(was, now);
        }
    }

    fn subscribe(&self, was_shm: bool, shm: bool) {
        let topic = &self.info.name;
        let socket = self.socket.get_ref();
        let _ = socket.set_unsubscribe(&data_subscription(topic, was_shm));
        if let Err(e) = socket.set_subscribe(&data_subscription(topic, shm)) {
            tracing::warn!(topic, error = %e, "could not change the subscription");
        }
    }
}

/// A new replay of `topic`'s latched publisher, of what is newer than
/// `floor`, holding at most `queue_depth` live messages meanwhile.
fn new_replay(topic: &str, floor: u64, options: &SubscriberOptions) -> Replay<Incoming> {
    let max_held = usize::try_from(options.queue_depth).unwrap_or(1);
    Replay::new(replay_topic(topic, unique_id()), floor, max_held)
}

/// The sequence number and timestamp of a message (`None` for a beacon or
/// anything without a readable header).
fn stamp_of(topic: &[u8], incoming: &Incoming) -> Stamp {
    let header = match incoming {
        Incoming::Frames(frames) if frames.len() >= 3 && *frames[0] == *topic => {
            Header::from_bytes(&frames[1]).ok()
        }
        Incoming::Frames(_) => None,
        Incoming::Sample(sample) => layout::frames(sample)
            .ok()
            .and_then(|frames| Header::from_bytes(frames.first()?).ok()),
    };
    header.map(|h| (h.sequence, h.timestamp_ns))
}

/// An id no other subscriber of this host is likely to use (for its replay
/// topic): randomly keyed hashing of the process, time and a counter.
fn unique_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u64(COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

/// A SUB socket for `topic` (or, for a shared-memory subscriber, its
/// [`shm_topic`]) and its beacons, not yet connected.
fn sub_socket(
    ctx: &zmq::Context,
    topic: &str,
    options: &SubscriberOptions,
    shm: bool,
) -> Result<zmq::Socket, zmq::Error> {
    let socket = ctx.socket(zmq::SUB)?;
    let hwm = QueueBudget::receiving(options.queue_bytes, options.queue_depth).hwm();
    socket.set_rcvhwm(hwm)?;
    socket.set_linger(0)?;
    socket.set_subscribe(&data_subscription(topic, shm))?;
    socket.set_subscribe(&beacon_topic(topic))?;
    Ok(socket)
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
    copies: &Arc<AtomicU64>,
) -> Option<ShmReceiver> {
    if !options.shared_memory {
        return None;
    }
    match ShmReceiver::open(address, Arc::clone(copies)) {
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
