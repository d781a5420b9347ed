//! One publisher as a subscriber sees it: its socket (and shared-memory
//! side), its sequence, and what arrived from it.

use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;

use super::SubscriberOptions;
use crate::discovery::{check_topic_address, TopicInfo};
use crate::io::AsyncSocket;
use crate::pubsub::publisher::beacon_topic;
use crate::pubsub::queue::QueueBudget;
use crate::pubsub::sequence::{SequenceEvent, SequenceTracker};
use crate::pubsub::shm::{shm_topic, ShmReceiver};

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
    /// close.
    pub(crate) leaving: bool,
}

impl Source {
    /// Connects to the publisher of `info`; the error says why its record
    /// is unusable.
    pub(crate) fn open(
        ctx: &zmq::Context,
        info: TopicInfo,
        options: &SubscriberOptions,
        copies: &Arc<AtomicU64>,
    ) -> Result<Self, String> {
        check_topic_address(&info.address)?;
        let topic = info.name.as_str();
        let shm = open_shm(topic, &info.address, options, copies);
        let socket = sub_socket(ctx, topic, options, shm.is_some())
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
        })
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

    /// The next message from this publisher, shared memory first. A
    /// failing shared-memory side is left for the socket (logged).
    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<Incoming>> {
        if let Some(shm) = &mut self.shm {
            match shm.poll_recv(cx) {
                Poll::Ready(Ok(sample)) => return Poll::Ready(Ok(Incoming::Sample(sample))),
                Poll::Ready(Err(error)) => {
                    tracing::warn!(topic = %self.info.name, publisher = %self.id, %error,
                        "receiving from shared memory failed; using the socket");
                    self.use_socket();
                }
                Poll::Pending => {}
            }
        }
        let frames = std::task::ready!(self.socket.poll_recv_multipart(cx))?;
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
