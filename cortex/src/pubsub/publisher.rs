//! `Publisher<T>`: one XPUB socket per topic, registered with discovery;
//! [`RawPublisher`], its untyped core, sends messages already encoded
//! under a type given at run time (for tools that replay or bridge).

use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::unix::AsyncFd;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::endpoint::Transport;
use super::latch::{self, History};
use super::loan::{self, Loan, Store};
use super::queue::{OnFullQueue, QueueBudget};
use super::shm::{self, shm_topic, LoanBuf, ShmSender};
use crate::codec::{Encoder, Header};
use crate::discovery::{Client, Registration, TopicInfo};
use crate::error::{Error, Result};
use crate::io::{register_zmq_fd, sockopt, OutFrame, ZmqFd};
use crate::message::ShapeError;
use crate::{Element, Field, Message, NdArray};

/// Frames up to this size are stored inside the `zmq_msg_t` by libzmq
/// (its "very small message" optimisation), so copying them is cheaper
/// than handing over a shared buffer.
const MAX_INLINE_FRAME: usize = 33;

/// Array frames shorter than this are copied into a libzmq-owned frame
/// instead of lent: lending costs libzmq an allocation for the external
/// buffer's bookkeeping plus a release callback on its I/O thread, which is
/// more than copying a few KiB (bench, 1 KiB throughput, 4 rounds each:
/// cortex/raw 0.72–0.90× copying against 0.55–0.78× lending). From this
/// size up, arrays are lent to libzmq without copying.
const COPY_ARRAYS_BELOW: usize = 8 * 1024;

/// The metadata buffer's starting size never grows beyond this (a larger
/// message simply grows its own buffer).
const MAX_METADATA_HINT: usize = 64 * 1024;

/// Publisher settings.
#[derive(Debug, Clone)]
pub struct PublisherOptions {
    /// Most messages queued per subscriber (ZeroMQ's send high-water mark).
    /// Default 1000.
    pub queue_depth: i32,
    /// Most bytes queued per subscriber: the high-water mark follows the
    /// size of recent messages so that a queue holds about this much.
    /// Default 64 MiB (about 70 VGA RGB frames, 10 1080p frames).
    pub queue_bytes: usize,
    /// How long unsent messages may hold up closing. Default 100 ms.
    pub linger: Duration,
    /// What a full subscriber queue does. Default
    /// [`OnFullQueue::SkipSlowSubscriber`].
    pub on_full_queue: OnFullQueue,
    /// How often the publisher tells its subscribers the last sequence it
    /// sent (a beacon), so a subscriber counts messages it lost even when
    /// no later message arrives to reveal the gap. Default 1 s.
    pub beacon_interval: Duration,
    /// Offer local cortex subscribers the shared-memory path (Linux, the
    /// `shm` feature, on by default): each message is then written once
    /// into shared memory and their arrays borrow it; other subscribers
    /// (Python, remote, `cortex topic echo`) get the socket frames as
    /// before. Default `true`, or `false` when the environment variable
    /// `CORTEX_SHM` is `0`. Where shared memory cannot be set up, the
    /// publisher logs why and every subscriber uses the socket.
    pub shared_memory: bool,
    /// Most messages over 64 KiB queued per shared-memory subscriber (at
    /// most 1024; smaller messages queue up to [`queue_depth`](Self::queue_depth)
    /// of them, in 64 KiB slots, so at most 64 MiB). A subscriber whose
    /// queue is full misses new messages (counted on both sides, as on the
    /// socket path). A stalled subscriber pins up to this many large
    /// messages (plus 4 it may hold) of the publisher's shared memory, so
    /// the default is small: 16, i.e. 120 MiB of 1080p frames, 320 MiB of
    /// 16 MiB images. Default 16.
    pub shared_memory_queue: usize,
    /// Keep the last this many messages and replay them to each subscriber
    /// that joins, before the live stream (a latched topic: a map, a
    /// calibration, a robot description). The kept messages share their
    /// arrays with what was sent (no copy, except loaned arrays). 0, the
    /// default: not latched. Subscribers on a Python daemon, and Python
    /// subscribers, get the live stream only.
    pub latched: usize,
}

/// Environment variable that turns the shared-memory path off (`0`) for
/// the publishers and subscribers of a process (the default of
/// [`PublisherOptions::shared_memory`] and `SubscriberOptions::shared_memory`).
pub const SHM_ENV: &str = "CORTEX_SHM";

/// Shared memory is on unless `CORTEX_SHM` is `0`.
pub(crate) fn shm_default() -> bool {
    std::env::var_os(SHM_ENV).is_none_or(|v| v != "0")
}

impl Default for PublisherOptions {
    fn default() -> Self {
        PublisherOptions {
            queue_depth: 1000,
            queue_bytes: 64 << 20,
            linger: Duration::from_millis(100),
            on_full_queue: OnFullQueue::default(),
            beacon_interval: Duration::from_secs(1),
            shared_memory: shm_default(),
            shared_memory_queue: 16,
            latched: 0,
        }
    }
}

/// How often at most a publisher warns that a subscriber is too slow.
const SLOW_WARNING_EVERY: Duration = Duration::from_secs(10);

/// Counters of one publisher.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PublisherStats {
    /// Messages handed to ZeroMQ and/or shared memory (for at least one
    /// subscriber, or for none when nobody subscribes).
    pub published: u64,
    /// Messages nobody got because a subscriber's queue was full
    /// ([`OnFullQueue::RefuseForAll`]).
    pub dropped: u64,
    /// Times a subscriber's queue was full and ZeroMQ began to skip that
    /// subscriber ([`OnFullQueue::SkipSlowSubscriber`]): it then misses
    /// every message until its queue has drained to half, and counts them
    /// itself (`SubscriberStats::dropped`). ZeroMQ does not tell the
    /// publisher how many messages each skipped subscriber missed.
    pub overflows: u64,
    /// Subscriptions currently known (from XPUB subscription messages),
    /// over either path.
    pub subscribers: u64,
    /// Of those, the subscribers that receive through shared memory.
    pub shared_memory_subscribers: u64,
    /// Messages that could not be written into shared memory (logged; the
    /// shared-memory subscribers count them as lost).
    pub shared_memory_failures: u64,
}

/// Publishes messages of type `T` on one topic.
///
/// `publish` never blocks. When a subscriber's queue is full, by default
/// ([`OnFullQueue::SkipSlowSubscriber`]) only that subscriber misses the
/// message; [`OnFullQueue::RefuseForAll`] refuses it for everyone instead.
/// Either way the publisher counts it, and subscribers count their losses. Queues are bounded in bytes
/// ([`PublisherOptions::queue_bytes`]). Array payloads go to ZeroMQ
/// without a copy.
pub struct Publisher<T: Message> {
    raw: RawPublisher,
    _type: PhantomData<fn(T)>,
}

/// A publisher of one topic whose type is known at run time only: it sends
/// message bodies already encoded ([`publish_encoded`](Self::publish_encoded))
/// under the type name and fingerprint it was bound with, with the header,
/// sequence, queues, shared memory, beacons and latching of a
/// [`Publisher`]. `cortex play` replays recordings with it.
pub struct RawPublisher {
    shared: Arc<Shared>,
    reader: JoinHandle<()>,
    registration: Option<Registration>,
}

struct Shared {
    topic: String,
    topic_frame: Bytes,
    /// The frame of this topic's sequence beacons (see [`beacon_topic`]).
    beacon_frame: Bytes,
    fingerprint: u64,
    message_type: String,
    node: String,
    address: String,
    path: Option<PathBuf>,
    policy: OnFullQueue,
    beacon_interval: Duration,
    socket: Mutex<Locked>,
    sequence: AtomicU64,
    /// Starting capacity of the metadata buffer (the largest seen so far).
    metadata_hint: AtomicUsize,
    published: AtomicU64,
    dropped: AtomicU64,
    overflows: AtomicU64,
    /// Subscriptions to the topic itself (socket-path subscribers).
    subscribers: AtomicI64,
    /// Subscriptions to [`shm_topic`] (shared-memory subscribers).
    shm_subscribers: AtomicI64,
    shm_frame: Vec<u8>,
    shm_failures: AtomicU64,
    subscribers_changed: Notify,
    /// Set by `publish` when a send left a subscription waiting.
    poke: Notify,
    closed: AtomicBool,
}

/// What only one thread may touch at a time: the socket and the state
/// that goes with its sends.
struct Locked {
    socket: zmq::Socket,
    budget: QueueBudget,
    /// Overflows not yet reported, and when the last report was.
    unreported_overflows: u64,
    last_slow_warning: Option<std::time::Instant>,
    /// The shared-memory side, when it could be set up.
    shm: Option<ShmSender>,
    last_shm_warning: Option<std::time::Instant>,
    /// The last messages, for a latched topic.
    history: Option<History>,
}

/// The topic frame of a topic's sequence beacons:
/// `"\0cortex.seq\0" + topic`. A beacon is the two frames
/// `[beacon topic, header]`, whose header carries the type's fingerprint
/// and the last sequence the publisher sent. The frame does not start with
/// the topic, so a SUB subscribed to the topic (a Python subscriber, or
/// `cortex topic echo`) never receives beacons; cortex subscribers
/// subscribe to it as well.
pub fn beacon_topic(topic: &str) -> Vec<u8> {
    let mut frame = Vec::with_capacity(BEACON_PREFIX.len() + topic.len());
    frame.extend_from_slice(BEACON_PREFIX);
    frame.extend_from_slice(topic.as_bytes());
    frame
}

/// Starts every beacon topic frame (NUL first: no topic name starts so).
const BEACON_PREFIX: &[u8] = b"\0cortex.seq\0";

impl<T: Message> std::fmt::Debug for Publisher<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.raw.debug("Publisher", f)
    }
}

impl std::fmt::Debug for RawPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.debug("RawPublisher", f)
    }
}

impl<T: Message> Publisher<T> {
    /// Binds the topic's socket and registers it with discovery (kept
    /// registered across daemon restarts). Must run inside a tokio runtime.
    pub async fn bind(
        ctx: &zmq::Context,
        discovery: &Client,
        node: &str,
        topic: &str,
        transport: &Transport,
        options: &PublisherOptions,
    ) -> Result<Self> {
        let raw = RawPublisher::bind(
            ctx,
            discovery,
            node,
            topic,
            transport,
            options,
            T::TYPE_NAME,
            T::FINGERPRINT,
        )
        .await?;
        Ok(Self {
            raw,
            _type: PhantomData,
        })
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        self.raw.topic()
    }

    /// The address subscribers connect to.
    pub fn address(&self) -> &str {
        self.raw.address()
    }
}

impl RawPublisher {
    /// Binds the topic's socket for messages of `message_type` with
    /// `fingerprint` and registers it with discovery, as
    /// [`Publisher::bind`] does for a typed publisher.
    #[allow(clippy::too_many_arguments)]
    pub async fn bind(
        ctx: &zmq::Context,
        discovery: &Client,
        node: &str,
        topic: &str,
        transport: &Transport,
        options: &PublisherOptions,
        message_type: &str,
        fingerprint: u64,
    ) -> Result<Self> {
        let endpoint = transport.endpoint(node, topic)?;
        let ctx_err = |what: &str| format!("{what} for topic {topic} ({})", endpoint.bind);
        let mut socket = ctx
            .socket(zmq::XPUB)
            .map_err(|e| Error::zmq(ctx_err("creating the XPUB socket"), e))?;
        let budget = QueueBudget::new(options.queue_bytes, options.queue_depth);
        socket
            .set_sndhwm(budget.hwm())
            .and_then(|()| {
                socket.set_linger(i32::try_from(options.linger.as_millis()).unwrap_or(i32::MAX))
            })
            // Sends fail with EAGAIN when a subscriber's queue is full, so
            // the publisher always knows; `publish` then applies the policy.
            .and_then(|()| sockopt::set_int(&mut socket, sockopt::XPUB_NODROP, 1))
            .and_then(|()| sockopt::set_int(&mut socket, sockopt::XPUB_VERBOSER, 1))
            .map_err(|e| Error::zmq(ctx_err("configuring the socket"), e))?;
        let address = transport.bind(&socket, &endpoint, "topic", topic)?;
        // `RefuseForAll` needs every queue to refuse together, which only
        // the socket path can do: such publishers keep to it.
        let shm = if options.shared_memory
            && options.on_full_queue == OnFullQueue::SkipSlowSubscriber
        {
            match ShmSender::create(
                &address,
                options.queue_depth.max(1) as usize,
                options.shared_memory_queue,
            ) {
                Ok(sender) => Some(sender),
                Err(reason) => {
                    tracing::warn!(topic, %reason, "shared memory unavailable: every subscriber of this topic uses the socket");
                    None
                }
            }
        } else {
            if options.shared_memory {
                tracing::info!(topic, "shared memory not used: OnFullQueue::RefuseForAll needs every queue to refuse together, which only the socket path can do");
            }
            None
        };
        let shared = Arc::new(Shared {
            topic: topic.to_owned(),
            topic_frame: Bytes::copy_from_slice(topic.as_bytes()),
            beacon_frame: Bytes::from(beacon_topic(topic)),
            fingerprint,
            message_type: message_type.to_owned(),
            node: node.to_owned(),
            address: address.clone(),
            path: endpoint.path,
            policy: options.on_full_queue,
            beacon_interval: options.beacon_interval,
            socket: Mutex::new(Locked {
                socket,
                budget,
                unreported_overflows: 0,
                last_slow_warning: None,
                shm,
                last_shm_warning: None,
                history: (options.latched > 0).then(|| History::new(options.latched)),
            }),
            sequence: AtomicU64::new(0),
            metadata_hint: AtomicUsize::new(64),
            published: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            overflows: AtomicU64::new(0),
            subscribers: AtomicI64::new(0),
            shm_subscribers: AtomicI64::new(0),
            shm_frame: shm_topic(topic),
            shm_failures: AtomicU64::new(0),
            subscribers_changed: Notify::new(),
            poke: Notify::new(),
            closed: AtomicBool::new(false),
        });
        // SAFETY: the reader task owns the registration and an Arc of the
        // socket, and drops the registration first (see `Reader`), so it is
        // gone before libzmq can close the descriptor.
        let async_fd = unsafe { register_zmq_fd(&shared.lock().socket) }
            .map_err(|e| Error::io(ctx_err("registering ZMQ_FD with tokio"), e))?;
        let reader = tokio::spawn(read_subscriptions(Reader {
            fd: async_fd,
            shared: Arc::clone(&shared),
        }));
        let mut publisher = RawPublisher {
            shared,
            reader,
            registration: None,
        };
        let info = TopicInfo {
            name: topic.to_owned(),
            address,
            message_type: message_type.to_owned(),
            fingerprint,
            publisher_node: node.to_owned(),
        };
        let latched = options.latched as u64;
        publisher.registration = Some(discovery.keep_registered_latched(info, latched).await?);
        tracing::info!(topic, node, r#type = message_type, address = %publisher.shared.address, "publishing");
        Ok(publisher)
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.shared.topic
    }

    /// The address subscribers connect to.
    pub fn address(&self) -> &str {
        &self.shared.address
    }

    /// The type name it was bound with.
    pub fn message_type(&self) -> &str {
        &self.shared.message_type
    }

    /// The fingerprint it was bound with (every header carries it).
    pub fn fingerprint(&self) -> u64 {
        self.shared.fingerprint
    }

    /// Publishes a message body already encoded: `metadata` (the msgpack
    /// frame) and `oob` (the out-of-band array frames), as they follow the
    /// header on the wire, e.g. a recorded message's frames. The header
    /// (this publisher's fingerprint, its next sequence, the time now) is
    /// added here. The body is sent as it is: one that does not match the
    /// fingerprint fails to decode at typed subscribers (which count it).
    /// Otherwise as [`Publisher::publish`]: never blocks; `Ok(false)` when
    /// refused for everyone under [`OnFullQueue::RefuseForAll`].
    pub fn publish_encoded(&self, metadata: &[u8], oob: Vec<Bytes>) -> Result<bool> {
        self.send_encoded(metadata.to_vec(), oob, None)
    }

    fn debug(&self, name: &str, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(name)
            .field("topic", &self.shared.topic)
            .field("type", &self.shared.message_type)
            .field("address", &self.shared.address)
            .field("stats", &self.stats())
            .finish()
    }
}

impl<T: Message> Publisher<T> {
    /// Publishes `msg` to every subscriber whose queue has room. A full
    /// queue: with [`OnFullQueue::SkipSlowSubscriber`] (the default) that
    /// subscriber misses the message, the others get it, and `publish`
    /// returns `Ok(true)`; with [`OnFullQueue::RefuseForAll`] nobody gets
    /// it and `publish` returns `Ok(false)`. Both are counted in
    /// [`stats`](Self::stats). Never blocks.
    pub fn publish(&self, msg: &T) -> Result<bool> {
        let shared = &*self.raw.shared;
        if shared.closed.load(Ordering::Relaxed) {
            return Err(Error::Closed(format!("publisher of {}", shared.topic)));
        }
        let (metadata, oob) = self.encode(msg)?;
        self.raw.send_encoded(metadata, oob, None)
    }

    /// What `Message::encode` does, with the metadata buffer sized from
    /// the previous messages so that encoding does not reallocate.
    fn encode(&self, msg: &T) -> Result<(Vec<u8>, Vec<Bytes>)> {
        let shared = &*self.raw.shared;
        let hint = shared.metadata_hint.load(Ordering::Relaxed);
        let mut enc = Encoder::with_capacity(hint);
        Field::write(msg, &mut enc).map_err(|source| Error::Encode {
            topic: shared.topic.clone(),
            ty: T::TYPE_NAME,
            cause: source,
        })?;
        let (metadata, oob) = enc.finish();
        if metadata.len() > hint {
            let grown = metadata.len().next_power_of_two().min(MAX_METADATA_HINT);
            shared.metadata_hint.store(grown, Ordering::Relaxed);
        }
        Ok((metadata, oob))
    }

    /// A writable array of `shape` for the next message: in shared memory
    /// when this publisher has shared-memory subscribers (then
    /// [`publish_loan`](Self::publish_loan) copies nothing), else on the
    /// heap. Fails only for a shape whose size overflows.
    ///
    /// ```no_run
    /// # use cortex::prelude::*;
    /// # #[derive(Message)] struct Frame { pixels: NdArray<u8> }
    /// # fn f(publisher: &cortex::Publisher<Frame>) -> cortex::Result<()> {
    /// let mut pixels = publisher.loan_array::<u8>([480, 640, 3])?;
    /// pixels.fill(7); // the producer writes straight into shared memory
    /// publisher.publish_loan(pixels, |pixels| Frame { pixels })?;
    /// # Ok(()) }
    /// ```
    pub fn loan_array<E: Element + bytemuck::Pod>(
        &self,
        shape: impl Into<Vec<usize>>,
    ) -> Result<Loan<E>> {
        let shape = shape.into();
        let overflow = |shape: &[usize]| Error::LoanShape {
            topic: self.raw.shared.topic.clone(),
            cause: ShapeError::Overflow {
                shape: shape.to_vec(),
            },
        };
        let n = shape
            .iter()
            .try_fold(1usize, |acc, d| acc.checked_mul(*d))
            .ok_or_else(|| overflow(&shape))?;
        let bytes = n
            .checked_mul(std::mem::size_of::<E>())
            .ok_or_else(|| overflow(&shape))?;
        let shared = if self.raw.shared.shm_subscribers.load(Ordering::Relaxed) > 0 {
            let locked = self.raw.shared.lock();
            locked.shm.as_ref().and_then(|shm| shm.loan(bytes).ok())
        } else {
            None
        };
        let store = match shared {
            Some(buf) => Store::Shared(buf),
            None => Store::Heap(vec![E::zeroed(); n]),
        };
        Ok(Loan { store, shape })
    }

    /// Publishes the message `build` makes around a loaned array (see
    /// [`loan_array`](Self::loan_array)), like [`publish`](Self::publish).
    /// When the loan is in shared memory and the message's only array is
    /// that loan, the sample goes to the shared-memory subscribers without
    /// a copy; otherwise (a message with other arrays, a copy of the array
    /// kept by `build`, metadata over 4 KiB) it is sent as `publish` sends.
    /// Socket-path subscribers get a copy either way.
    pub fn publish_loan<E: Element + bytemuck::Pod>(
        &self,
        loan: Loan<E>,
        build: impl FnOnce(NdArray<E>) -> T,
    ) -> Result<bool> {
        let Loan { store, shape } = loan;
        let buf = match store {
            Store::Heap(v) => {
                let array = NdArray::new(v, shape).map_err(|cause| Error::LoanShape {
                    topic: self.raw.shared.topic.clone(),
                    cause,
                })?;
                return self.publish(&build(array));
            }
            Store::Shared(buf) => Arc::new(buf),
        };
        let Some(array) = NdArray::from_shared(loan::view(&buf), shape.clone()) else {
            // Cannot happen: the loan was made for this shape, aligned.
            return Err(Error::LoanShape {
                topic: self.raw.shared.topic.clone(),
                cause: ShapeError::Mismatch {
                    expected: shape.iter().product(),
                    len: buf.bytes().len() / std::mem::size_of::<E>().max(1),
                    shape,
                },
            });
        };
        let msg = build(array);
        let (metadata, mut oob) = self.encode(&msg)?;
        drop(msg);
        let lent = matches!(oob.as_slice(), [only] if only.as_ptr() == buf.bytes().as_ptr()
            && only.len() == buf.bytes().len());
        if lent {
            drop(oob);
            match Arc::try_unwrap(buf) {
                Ok(buf) => return self.raw.send_encoded(metadata, Vec::new(), Some(buf)),
                // `build` kept a copy of the array: it must stay valid, so
                // the sample is not sent; the message goes by copy.
                Err(buf) => oob = vec![loan::view(&buf)],
            }
        }
        self.raw.send_encoded(metadata, oob, None)
    }

    /// Counters so far.
    pub fn stats(&self) -> PublisherStats {
        self.raw.stats()
    }

    /// See [`RawPublisher::watch`].
    pub(crate) fn watch(&self) -> PublisherWatch {
        self.raw.watch()
    }

    /// Waits until at least `n` subscriptions have reached this publisher,
    /// so the first messages are not lost to ZeroMQ's slow-joiner window.
    pub async fn wait_for_subscribers(&self, n: u64, timeout: Duration) -> Result<()> {
        self.raw.wait_for_subscribers(n, timeout).await
    }

    /// Unregisters from discovery, closes the socket (bounded by the
    /// linger time) and removes the socket file.
    pub async fn close(self) -> Result<()> {
        self.raw.close().await
    }
}

impl RawPublisher {
    /// Sends an encoded message; `loan` is its one array, lent from shared
    /// memory (see [`publish_loan`](Self::publish_loan)), with `oob` empty.
    fn send_encoded(
        &self,
        metadata: Vec<u8>,
        mut oob: Vec<Bytes>,
        loan: Option<LoanBuf>,
    ) -> Result<bool> {
        let shared = &*self.shared;
        if shared.closed.load(Ordering::Relaxed) {
            return Err(Error::Closed(format!("publisher of {}", shared.topic)));
        }
        let size = metadata.len()
            + oob.iter().map(Bytes::len).sum::<usize>()
            + loan.as_ref().map_or(0, |l| l.bytes().len());
        // Small frames are copied: libzmq keeps up to 33 bytes inside the
        // message itself, so a short topic and the header cost no allocation.
        let topic = if shared.topic_frame.len() <= MAX_INLINE_FRAME {
            OutFrame::copy_from_slice(&shared.topic_frame)
        } else {
            OutFrame::from_bytes(shared.topic_frame.clone())
        };
        let metadata_bytes = metadata;
        let metadata = OutFrame::copy_from_slice(&metadata_bytes);
        let mut locked = shared.lock();
        if let Some(hwm) = locked.budget.observe(size) {
            // Applies to the queues of connected subscribers too.
            if let Err(e) = locked.socket.set_sndhwm(hwm) {
                tracing::debug!(topic = %shared.topic, hwm, error = %e, "could not resize the queues");
            }
        }
        // The sequence is taken under the lock, after encoding succeeded, so
        // concurrent publishers send in sequence order and a failed encode
        // leaves no gap.
        let sequence = shared.sequence.fetch_add(1, Ordering::Relaxed);
        let header = Header::now(shared.fingerprint, sequence).to_bytes();
        let shm_wanted = shared.shm_subscribers.load(Ordering::Relaxed) > 0;
        // What a latched topic keeps (arrays shared, a loan copied).
        let kept = locked.history.is_some().then(|| match &loan {
            Some(loan) => vec![Bytes::copy_from_slice(loan.bytes())],
            None => oob.clone(),
        });
        if let Some(loan) = loan {
            if !shm_wanted || shared.subscribers.load(Ordering::Relaxed) > 0 {
                // The socket path cannot borrow shared memory: a copy.
                oob = vec![Bytes::copy_from_slice(loan.bytes())];
            }
            if shm_wanted {
                shared.send_shm_loan(&mut locked, &header, &metadata_bytes, loan);
            }
        } else if shm_wanted {
            shared.send_shm(&mut locked, &header, &metadata_bytes, &oob);
        }
        if let (Some(history), Some(kept)) = (&mut locked.history, kept) {
            // Kept unless refused for everyone below (then it was never sent).
            history.keep(header, &metadata_bytes, kept);
        }
        if shm_wanted && shared.subscribers.load(Ordering::Relaxed) <= 0 {
            // Nobody on the socket path: skip its work.
            drop(locked);
            shared.published.fetch_add(1, Ordering::Relaxed);
            return Ok(true);
        }
        let fixed = [OutFrame::copy_from_slice(&header), metadata];
        let more = zmq::DONTWAIT | zmq::SNDMORE;
        // Only the first frame can be refused: the high-water mark counts
        // whole messages, and XPUB_NODROP makes a full queue refuse.
        let mut lossy = false;
        match topic.send(&mut locked.socket, more) {
            Ok(()) => {}
            Err((zmq::Error::EAGAIN, topic)) => match shared.policy {
                OnFullQueue::RefuseForAll => {
                    if let Some(history) = &mut locked.history {
                        history.forget_last();
                    }
                    shared.dropped.fetch_add(1, Ordering::Relaxed);
                    return Ok(false);
                }
                OnFullQueue::SkipSlowSubscriber => {
                    // Send to the subscribers that have room: with NODROP
                    // off, ZeroMQ skips the full queues for this message.
                    lossy = true;
                    set_lossy(&mut locked.socket, true);
                    if let Err((e, _)) = topic.send(&mut locked.socket, more) {
                        set_lossy(&mut locked.socket, false);
                        return Err(Error::zmq(format!("sending on topic {}", shared.topic), e));
                    }
                    shared.overflows.fetch_add(1, Ordering::Relaxed);
                    shared.warn_slow(&mut locked);
                }
            },
            Err((e, _)) => {
                return Err(Error::zmq(format!("sending on topic {}", shared.topic), e));
            }
        }
        let last = fixed.len() + oob.len() - 1; // the last frame after the topic
        let rest = fixed.into_iter().chain(oob.into_iter().map(|data| {
            if data.len() < COPY_ARRAYS_BELOW {
                OutFrame::copy_from_slice(&data)
            } else {
                OutFrame::from_bytes(data)
            }
        }));
        let mut failed = None;
        for (i, frame) in rest.enumerate() {
            let flags = if i < last { more } else { zmq::DONTWAIT };
            if let Err((e, _)) = frame.send(&mut locked.socket, flags) {
                failed = Some(e);
                break;
            }
        }
        if lossy {
            set_lossy(&mut locked.socket, false);
        }
        if let Some(e) = failed {
            return Err(Error::zmq(format!("sending on topic {}", shared.topic), e));
        }
        // A send may drain libzmq's command mailbox; a command written while
        // that drain runs raises no signal, so no edge ever reaches the
        // subscription reader. Re-read the events (one poll(2)) and wake the
        // reader if a subscription is waiting. (Skipping this lost an
        // unsubscription about once in 60 runs of
        // `subscriptions_are_counted_while_publishing_flat_out`.)
        if locked
            .socket
            .get_events()
            .map(|ev| ev.contains(zmq::POLLIN))
            .unwrap_or(false)
        {
            shared.poke.notify_one();
        }
        drop(locked);
        shared.published.fetch_add(1, Ordering::Relaxed);
        Ok(true)
    }

    /// Counters so far.
    pub fn stats(&self) -> PublisherStats {
        self.shared.stats()
    }

    /// A handle that tells, while this publisher lives, what it is and
    /// its counters (for the node's reports), without keeping it alive.
    pub(crate) fn watch(&self) -> PublisherWatch {
        PublisherWatch(Arc::downgrade(&self.shared))
    }

    /// Waits until at least `n` subscriptions have reached this publisher,
    /// so the first messages are not lost to ZeroMQ's slow-joiner window.
    pub async fn wait_for_subscribers(&self, n: u64, timeout: Duration) -> Result<()> {
        let shared = &self.shared;
        let wait = async {
            loop {
                let changed = shared.subscribers_changed.notified();
                tokio::pin!(changed);
                changed.as_mut().enable();
                if shared.subscriber_count() >= n {
                    return;
                }
                changed.await;
            }
        };
        tokio::time::timeout(timeout, wait).await.map_err(|_| {
            Error::Timeout(format!(
                "topic {}: {} of {n} subscriber(s) after {timeout:?}",
                shared.topic,
                shared.subscriber_count()
            ))
        })
    }

    /// Unregisters from discovery, closes the socket (bounded by the
    /// linger time) and removes the socket file.
    pub async fn close(mut self) -> Result<()> {
        if let Some(registration) = self.registration.take() {
            registration.unregister().await?;
        }
        Ok(())
    }
}

/// What a live publisher is (topic, type, address) and its counters, for
/// as long as it lives: see [`RawPublisher::watch`].
#[derive(Debug, Clone)]
pub(crate) struct PublisherWatch(std::sync::Weak<Shared>);

/// A live publisher, as a [`PublisherWatch`] sees it.
#[derive(Debug)]
pub(crate) struct Watched {
    pub(crate) topic: String,
    pub(crate) message_type: String,
    pub(crate) address: String,
    pub(crate) fingerprint: u64,
    pub(crate) stats: PublisherStats,
}

impl PublisherWatch {
    /// The publisher, unless it was dropped or closed.
    pub(crate) fn get(&self) -> Option<Watched> {
        let shared = self.0.upgrade()?;
        if shared.closed.load(Ordering::Relaxed) {
            return None;
        }
        Some(Watched {
            topic: shared.topic.clone(),
            message_type: shared.message_type.clone(),
            address: shared.address.clone(),
            fingerprint: shared.fingerprint,
            stats: shared.stats(),
        })
    }
}

impl Shared {
    fn stats(&self) -> PublisherStats {
        PublisherStats {
            published: self.published.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            overflows: self.overflows.load(Ordering::Relaxed),
            subscribers: self.subscriber_count(),
            shared_memory_subscribers: self.shm_subscribers.load(Ordering::Relaxed).max(0) as u64,
            shared_memory_failures: self.shm_failures.load(Ordering::Relaxed),
        }
    }

    /// Subscribers over both paths.
    fn subscriber_count(&self) -> u64 {
        let inline = self.subscribers.load(Ordering::Relaxed).max(0) as u64;
        inline + self.shm_subscribers.load(Ordering::Relaxed).max(0) as u64
    }

    /// Writes one message into shared memory for the shared-memory
    /// subscribers. A failure (out of shared memory, say) is counted and
    /// logged at most once per [`SLOW_WARNING_EVERY`]; those subscribers
    /// count the message as lost.
    fn send_shm(&self, locked: &mut Locked, header: &[u8], metadata: &[u8], oob: &[Bytes]) {
        let sent = match &locked.shm {
            Some(shm) => self.send_shm_frames(shm, header, metadata, oob),
            None => Err("this publisher has no shared memory (see its log)".to_owned()),
        };
        self.account_shm(locked, sent);
    }

    /// Counts a shared-memory send: `Ok(false)` an overflow, `Err` a failure.
    fn account_shm(&self, locked: &mut Locked, sent: std::result::Result<bool, String>) {
        match sent {
            Ok(true) => {}
            Ok(false) => {
                // A full queue: that subscriber misses this message, as on
                // the socket path, and counts the gap.
                self.overflows.fetch_add(1, Ordering::Relaxed);
                self.warn_slow(locked);
            }
            Err(error) => {
                self.shm_failures.fetch_add(1, Ordering::Relaxed);
                let now = std::time::Instant::now();
                if locked
                    .last_shm_warning
                    .is_none_or(|at| now.duration_since(at) >= SLOW_WARNING_EVERY)
                {
                    locked.last_shm_warning = Some(now);
                    tracing::warn!(topic = %self.topic, node = %self.node, %error,
                        "a message could not be written into shared memory; its shared-memory subscribers miss it (counted in shared_memory_failures)");
                }
            }
        }
    }

    /// [`send_shm`](Self::send_shm) for a message whose one array was lent
    /// from shared memory: no copy of the array (a copy only when the
    /// metadata does not fit in front of it).
    fn send_shm_loan(&self, locked: &mut Locked, header: &[u8], metadata: &[u8], loan: LoanBuf) {
        let sent = match &locked.shm {
            Some(shm) => match shm.send_loan(loan, header, metadata) {
                Ok(sent) => sent.map(|reached| {
                    reached >= self.shm_subscribers.load(Ordering::Relaxed).max(0) as usize
                }),
                Err(loan) => {
                    let array = Bytes::copy_from_slice(loan.bytes());
                    drop(loan);
                    self.send_shm_frames(shm, header, metadata, &[array])
                        .map_err(shm::SendFailed::from)
                }
            },
            None => Err(shm::SendFailed::from(
                "this publisher has no shared memory (see its log)".to_owned(),
            )),
        };
        self.account_shm(locked, sent.map_err(|e| e.to_string()));
    }

    /// Sends through `shm`: whether every shared-memory subscriber had room.
    fn send_shm_frames(
        &self,
        shm: &ShmSender,
        header: &[u8],
        metadata: &[u8],
        oob: &[Bytes],
    ) -> std::result::Result<bool, String> {
        let mut frames: Vec<&[u8]> = Vec::with_capacity(2 + oob.len());
        frames.push(header);
        frames.push(metadata);
        frames.extend(oob.iter().map(|b| &b[..]));
        let subscribers = self.shm_subscribers.load(Ordering::Relaxed).max(0) as usize;
        shm.send(&frames)
            .map(|reached| reached >= subscribers)
            .map_err(|e| e.to_string())
    }

    fn lock(&self) -> MutexGuard<'_, Locked> {
        // A panic while holding the lock leaves the socket usable.
        self.socket
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Reports queue overflows, at most once per [`SLOW_WARNING_EVERY`].
    fn warn_slow(&self, locked: &mut Locked) {
        locked.unreported_overflows += 1;
        let now = std::time::Instant::now();
        if locked
            .last_slow_warning
            .is_some_and(|at| now.duration_since(at) < SLOW_WARNING_EVERY)
        {
            return;
        }
        tracing::warn!(
            topic = %self.topic,
            node = %self.node,
            overflows = locked.unreported_overflows,
            queue_messages = locked.budget.hwm(),
            "a subscriber of this topic is too slow: its queue is full, so it misses messages \
             until it catches up (the other subscribers get them; it counts what it missed)"
        );
        locked.unreported_overflows = 0;
        locked.last_slow_warning = Some(now);
    }

    /// Sends a sequence beacon: the last sequence sent so far. A full queue
    /// is met as a message meets it: with [`OnFullQueue::SkipSlowSubscriber`]
    /// it counts as an overflow and the beacon goes to the others (so the
    /// overflow is never silent); with [`OnFullQueue::RefuseForAll`] the
    /// beacon waits for the next round.
    /// Replays a latched topic's kept messages to the subscriber that
    /// subscribed to `replay` (see [`latch`]).
    fn replay(&self, locked: &Locked, history: &History, replay: &[u8]) {
        let room = usize::try_from(locked.budget.hwm()).unwrap_or(1);
        match history.replay(&locked.socket, replay, room) {
            Ok(sent) if sent < history.len() => {
                tracing::warn!(topic = %self.topic, sent, kept = history.len(),
                    "replayed only the last messages of the latched topic: a subscriber's queue holds fewer (raise queue_depth / queue_bytes)");
            }
            Ok(sent) => {
                tracing::debug!(topic = %self.topic, sent, "replayed the latched topic to a new subscriber")
            }
            Err(e) => tracing::warn!(topic = %self.topic, error = %e,
                "could not replay the latched topic to a new subscriber (its queue is full); it gets the live stream after a wait"),
        }
    }

    fn send_beacon(&self) {
        let mut locked = self.lock();
        let next = self.sequence.load(Ordering::Relaxed);
        let Some(last) = next.checked_sub(1) else {
            return;
        };
        let header = Header::now(self.fingerprint, last).to_bytes();
        let more = zmq::DONTWAIT | zmq::SNDMORE;
        let mut lossy = false;
        let first = match locked.socket.send(&self.beacon_frame[..], more) {
            Err(zmq::Error::EAGAIN) if self.policy == OnFullQueue::SkipSlowSubscriber => {
                lossy = true;
                set_lossy(&mut locked.socket, true);
                self.overflows.fetch_add(1, Ordering::Relaxed);
                self.warn_slow(&mut locked);
                locked.socket.send(&self.beacon_frame[..], more)
            }
            other => other,
        };
        let sent = first.and_then(|()| locked.socket.send(&header[..], zmq::DONTWAIT));
        if lossy {
            set_lossy(&mut locked.socket, false);
        }
        if let Err(e) = sent {
            tracing::debug!(topic = %self.topic, error = %e, "sequence beacon not sent");
        }
    }
}

/// Turns XPUB_NODROP off (`true`: full queues are skipped) or on.
fn set_lossy(socket: &mut zmq::Socket, lossy: bool) {
    // Cannot fail for a valid XPUB socket and a valid option.
    let _ = sockopt::set_int(socket, sockopt::XPUB_NODROP, i32::from(!lossy));
}

impl Drop for RawPublisher {
    fn drop(&mut self) {
        // The last word to subscribers: how far the sequence went.
        self.shared.send_beacon();
        self.shared.closed.store(true, Ordering::Relaxed);
        // Release the shared-memory port now, not when the reader task
        // (which shares `Shared`) is finally dropped: a publisher started
        // right after this one on the same address takes its place.
        self.shared.lock().shm = None;
        self.reader.abort();
        if let Some(path) = &self.shared.path {
            // Only our own socket file: the node and topic are in its name.
            let _ = std::fs::remove_file(path);
        }
        tracing::debug!(topic = %self.shared.topic, node = %self.shared.node, "publisher closed");
    }
}

/// The reader task's state. Field order is drop order: the reactor
/// registration goes before the (possibly last) reference to the socket.
struct Reader {
    fd: AsyncFd<ZmqFd>,
    shared: Arc<Shared>,
}

/// Reads XPUB subscription messages (`\x01topic` / `\x00topic`) to count
/// subscribers, and sends a sequence beacon every
/// [`PublisherOptions::beacon_interval`]. Reading follows the receive-first
/// rule of [`AsyncSocket`](super::async_socket::AsyncSocket): drain until
/// `EAGAIN` (which leaves libzmq's mailbox empty, so the next change signals
/// a fresh edge), then await an edge, clear it and drain again. A `publish`
/// on another thread can absorb a command without any edge (see
/// `publish`); it then pokes this task instead.
async fn read_subscriptions(reader: Reader) {
    let Reader { fd, shared } = &reader;
    let mut beacons = tokio::time::interval(shared.beacon_interval.max(Duration::from_millis(1)));
    beacons.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    beacons.tick().await;
    loop {
        {
            let locked = shared.lock();
            loop {
                match locked.socket.recv_bytes(zmq::DONTWAIT) {
                    // Only subscriptions to the topic itself count: cortex
                    // subscribers also subscribe to its beacons.
                    Ok(msg) if msg.get(1..) == Some(&shared.shm_frame[..]) => {
                        let delta = match msg[0] {
                            1 => {
                                if let Some(shm) = &locked.shm {
                                    shm.connect_new_subscribers();
                                }
                                1
                            }
                            0 => -1,
                            _ => 0,
                        };
                        shared.shm_subscribers.fetch_add(delta, Ordering::Relaxed);
                        shared.subscribers_changed.notify_waiters();
                        if delta < 0 {
                            // It may have been killed: give its samples back.
                            tokio::task::spawn_blocking(shm::remove_dead);
                        }
                    }
                    Ok(msg) if latch::replay_request(&msg, &shared.topic).is_some() => {
                        if let Some(history) = &locked.history {
                            shared.replay(&locked, history, &msg[1..]);
                        }
                    }
                    Ok(msg) if msg.get(1..) == Some(shared.topic.as_bytes()) => match msg[0] {
                        1 => {
                            // libzmq gives a new connection the high-water
                            // mark the socket had when it was bound, not the
                            // one the byte budget set since: set it again.
                            let hwm = locked.budget.hwm();
                            if let Err(e) = locked.socket.set_sndhwm(hwm) {
                                tracing::debug!(topic = %shared.topic, hwm, error = %e, "could not size a new subscriber's queue");
                            }
                            shared.subscribers.fetch_add(1, Ordering::Relaxed);
                            shared.subscribers_changed.notify_waiters();
                        }
                        0 => {
                            shared.subscribers.fetch_sub(1, Ordering::Relaxed);
                            shared.subscribers_changed.notify_waiters();
                        }
                        _ => {}
                    },
                    Ok(_) => {}
                    Err(zmq::Error::EAGAIN) => break,
                    Err(_) => return,
                }
            }
        }
        tokio::select! {
            guard = fd.readable() => match guard {
                Ok(mut guard) => guard.clear_ready(),
                Err(_) => return,
            },
            () = shared.poke.notified() => {}
            _ = beacons.tick() => shared.send_beacon(),
        }
    }
}
