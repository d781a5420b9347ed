//! The shared-memory path for local subscribers, on iceoryx2.
//!
//! A publisher opens an iceoryx2 publish-subscribe service named after its
//! ZeroMQ address (`cortex/shm/<address>`) plus an event service for
//! wake-ups. A cortex subscriber that can open that service (same host,
//! same user, the `shm` feature on both sides) subscribes on the ZeroMQ
//! socket to [`shm_topic`] instead of the topic: the publisher's XPUB sees
//! that, so it knows a shared-memory subscriber is there and writes each
//! message once into a sample (layout in [`layout`]); the subscriber's
//! arrays are views of that sample. Python, remote and `cortex topic echo`
//! subscribers subscribe to the topic itself and get the usual frames;
//! each path costs the publisher work only while it has subscribers.
//!
//! Why iceoryx2 and not a pool of our own: `spikes/shm/RESULTS.md` and the
//! book's Shared memory chapter (measured both; iceoryx2 was faster in
//! every row and reclaims the samples of a subscriber killed with kill -9).

pub(crate) mod layout;

use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use bytes::Bytes;
use iceoryx2::port::listener::Listener;
use iceoryx2::port::notifier::Notifier;
use iceoryx2::port::publisher::Publisher as IoxPublisher;
use iceoryx2::port::subscriber::Subscriber as IoxSubscriber;
use iceoryx2::port::update_connections::UpdateConnections;
use iceoryx2::port::ReceiveError;
use iceoryx2::prelude::*;
use iceoryx2::sample::Sample;
use iceoryx2::sample_mut_uninit::SampleMutUninit;
use iceoryx2::service::ipc_threadsafe::Service as Ipc;
use iceoryx2::service::port_factory::{event, publish_subscribe};
use tokio::io::unix::AsyncFd;

/// Most shared-memory subscribers of one publisher; more use the socket
/// path (each such subscriber logs why at debug level).
pub(crate) const MAX_SUBSCRIBERS: usize = 4;
/// Most samples queued per subscriber (`PublisherOptions::
/// shared_memory_queue`, up to this). A full queue makes that subscriber
/// miss new messages, as on the socket path: the publisher counts an
/// overflow, the subscriber a gap.
pub(crate) const MAX_QUEUE: usize = 1024;
/// Samples a subscriber may hold at once (as messages whose arrays borrow
/// them). Beyond this the subscriber copies new samples out and releases
/// them at once, so holding messages never stalls the stream.
const MAX_BORROWED: usize = 4;

/// The ZeroMQ subscription of a shared-memory subscriber:
/// `"\0cortex.shm\0" + topic`. It never matches the topic's own frames, so
/// the subscriber gets nothing twice; the publisher counts these
/// subscriptions to know whether to write samples.
pub(crate) fn shm_topic(topic: &str) -> Vec<u8> {
    let mut frame = b"\0cortex.shm\0".to_vec();
    frame.extend_from_slice(topic.as_bytes());
    frame
}

/// Why the shared-memory path is not used for a topic (logged).
#[derive(Debug, thiserror::Error)]
#[error("{what}: {detail}")]
pub(crate) struct Unavailable {
    what: &'static str,
    detail: String,
}

fn unavailable<E: std::fmt::Debug>(what: &'static str) -> impl FnOnce(E) -> Unavailable {
    move |detail| Unavailable {
        what,
        detail: format!("{detail:?}"),
    }
}

/// The process's iceoryx2 node, shared by its shared-memory publishers and
/// subscribers and dropped with the last of them (so a process that exits
/// normally leaves no node files behind). Creating it also removes what
/// crashed processes left behind (their segments and ports), so a kill -9
/// costs nothing past the next start.
fn node() -> Result<Arc<Node<Ipc>>, Unavailable> {
    static NODE: Mutex<Weak<Node<Ipc>>> = Mutex::new(Weak::new());
    let mut slot = NODE.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(node) = slot.upgrade() {
        return Ok(node);
    }
    // iceoryx2 logs to stderr on its own; cortex reports what matters
    // through `tracing`. IOX2_LOG_LEVEL=debug brings its logs back.
    set_log_level_from_env_or(LogLevel::Fatal);
    let node = NodeBuilder::new()
        .signal_handling_mode(SignalHandlingMode::Disabled)
        .create::<Ipc>()
        .map_err(unavailable("creating the iceoryx2 node"))?;
    remove_dead();
    let node = Arc::new(node);
    *slot = Arc::downgrade(&node);
    Ok(node)
}

/// Removes what crashed processes left in shared memory: their segments,
/// and their ports, whose queued and held samples go back to the
/// publishers' pools. Runs when the process first uses shared memory and
/// whenever a shared-memory subscriber leaves a publisher (it may have
/// been killed).
pub(crate) fn remove_dead() {
    let mut removed = 0;
    let _ = Node::<Ipc>::list(Config::global_config(), |state| {
        if let NodeState::Dead(view) = state {
            if view.try_remove_stale_resources().is_ok() {
                removed += 1;
            }
        }
        CallbackProgression::Continue
    });
    if removed > 0 {
        tracing::info!(removed, "removed the shared memory of crashed processes");
    }
}

/// The unit a sample is counted in: 64 bytes. A service of `[u8]` at
/// 64-byte alignment would space every *byte* 64 bytes apart in its pool
/// (iceoryx2 pads each element to the payload alignment), reserving 64×
/// the address space; lines of [`layout::FRAME_ALIGN`] bytes pad nothing.
type Line = [u8; layout::FRAME_ALIGN];

/// A sample's payload as bytes, to be written.
fn flat_mut(lines: &mut [MaybeUninit<Line>]) -> &mut [MaybeUninit<u8>] {
    // SAFETY: `MaybeUninit<[u8; N]>` has the size and alignment of
    // `[MaybeUninit<u8>; N]` (N bytes, alignment 1), so `lines` is
    // `lines.len() × N` contiguous bytes; the result borrows `lines`
    // mutably for its whole life, so nothing else can reach them.
    unsafe {
        std::slice::from_raw_parts_mut(
            lines.as_mut_ptr().cast::<MaybeUninit<u8>>(),
            lines.len() * layout::FRAME_ALIGN,
        )
    }
}

/// The data service, the wake-up service, and the node they belong to
/// (dropped last: tuple fields drop in order).
type Services = (
    publish_subscribe::PortFactory<Ipc, [Line], ()>,
    event::PortFactory<Ipc>,
    Arc<Node<Ipc>>,
);

/// The data and event services of the publisher at `address`.
fn services(address: &str, create: bool, queue: usize) -> Result<Services, Unavailable> {
    let node = node()?;
    let data: ServiceName = format!("cortex/shm/{address}")
        .as_str()
        .try_into()
        .map_err(unavailable("naming the service"))?;
    let wake: ServiceName = format!("cortex/shm/{address}/wake")
        .as_str()
        .try_into()
        .map_err(unavailable("naming the service"))?;
    let builder = node
        .service_builder(&data)
        .publish_subscribe::<[Line]>()
        .payload_alignment(
            Alignment::new(layout::FRAME_ALIGN)
                .unwrap_or(Alignment::new(8).expect("8 is a power of two")),
        )
        .max_publishers(1)
        .max_subscribers(MAX_SUBSCRIBERS)
        .subscriber_max_borrowed_samples(MAX_BORROWED)
        .history_size(0)
        .enable_safe_overflow(false);
    // The queue size is the creator's to choose; an opener takes it as is.
    let builder = if create {
        builder.subscriber_max_buffer_size(queue.clamp(1, MAX_QUEUE))
    } else {
        builder
    };
    let data = if create {
        builder
            .open_or_create()
            .map_err(unavailable("creating the shared-memory service"))?
    } else {
        builder
            .open()
            .map_err(unavailable("opening the shared-memory service"))?
    };
    let wake = node.service_builder(&wake).event();
    let wake = if create {
        wake.open_or_create()
            .map_err(unavailable("creating the wake-up service"))?
    } else {
        wake.open()
            .map_err(unavailable("opening the wake-up service"))?
    };
    Ok((data, wake, node))
}

/// A publisher's shared-memory side.
pub(crate) struct ShmSender {
    publisher: IoxPublisher<Ipc, [Line], ()>,
    notifier: Notifier<Ipc>,
    /// Loans out now (see [`MAX_LOANS`]).
    loans: Arc<AtomicUsize>,
    backed: Mutex<Backed>,
    _services: Services,
}

/// The sample memory known to have pages behind it. Shared memory is a
/// file in `/dev/shm` (a tmpfs) whose pages are allocated on first write;
/// when the tmpfs is full (a container's 64 MiB default, say) that first
/// write kills the process with SIGBUS. So each sample's range is
/// populated ([`populate`]) before its first use, which fails cleanly
/// instead; iceoryx2 reuses the same few samples, so this costs one
/// system call per sample slot, not per message.
#[derive(Debug, Default)]
struct Backed {
    /// Sample start → bytes populated from there.
    ranges: std::collections::HashMap<usize, usize>,
    /// Largest sample asked for: a larger one may come from a new segment
    /// (iceoryx2 grows its pool), at addresses an old one may have used.
    largest: usize,
}

/// Allocates the pages behind `bytes` (a range of a shared-memory mapping),
/// or says why it cannot: an error instead of a SIGBUS at the first write.
fn populate(bytes: &mut [MaybeUninit<u8>]) -> Result<(), SendFailed> {
    if bytes.is_empty() {
        return Ok(());
    }
    let page = 4096;
    let start = bytes.as_ptr() as usize / page * page;
    let end = (bytes.as_ptr() as usize + bytes.len()).next_multiple_of(page);
    // SAFETY: `start..end` covers `bytes` widened to whole pages, all part
    // of the same shared mapping (iceoryx2 maps whole pages).
    // MADV_POPULATE_WRITE only allocates and maps pages, as a write would,
    // without changing any byte, so other samples on the edge pages are
    // untouched.
    let rc = unsafe {
        libc::madvise(
            start as *mut libc::c_void,
            end - start,
            libc::MADV_POPULATE_WRITE,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let error = std::io::Error::last_os_error();
    if error.raw_os_error() == Some(libc::EINVAL) {
        // Linux before 5.14: no MADV_POPULATE_WRITE; check the free space.
        return room_in_dev_shm(end - start);
    }
    Err(SendFailed(format!(
        "shared memory is full: no pages for a {}-byte sample in /dev/shm ({error}); \
         free space there, or give a container a larger one (docker run --shm-size=1g)",
        bytes.len()
    )))
}

/// Whether `/dev/shm` has `len` bytes free (the check where populating is
/// not supported).
fn room_in_dev_shm(len: usize) -> Result<(), SendFailed> {
    let mut stat = MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: the path is a NUL-terminated literal and `stat` is writable
    // memory of the right type, filled in when the call returns 0.
    if unsafe { libc::statvfs(c"/dev/shm".as_ptr(), stat.as_mut_ptr()) } != 0 {
        return Ok(());
    }
    // SAFETY: statvfs returned 0, so it filled `stat`.
    let stat = unsafe { stat.assume_init() };
    let free = (stat.f_bavail as u128) * (stat.f_frsize as u128);
    if free >= len as u128 {
        Ok(())
    } else {
        Err(SendFailed(format!(
            "shared memory is full: /dev/shm has {free} bytes free, a sample needs {len}; \
             free space there, or give a container a larger one (docker run --shm-size=1g)"
        )))
    }
}

impl std::fmt::Debug for ShmSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShmSender").finish_non_exhaustive()
    }
}

/// Why a message did not go into shared memory (the publisher counts it
/// and sends the message over the socket path instead).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct SendFailed(String);

impl From<String> for SendFailed {
    fn from(text: String) -> Self {
        SendFailed(text)
    }
}

impl ShmSender {
    /// The shared-memory side of the publisher at `address`, queueing up
    /// to `queue` messages per subscriber (at most [`MAX_QUEUE`]).
    pub(crate) fn create(address: &str, queue: usize) -> Result<Self, Unavailable> {
        let services = services(address, true, queue)?;
        let publisher = services
            .0
            .publisher_builder()
            .initial_max_slice_len((64 << 10) / layout::FRAME_ALIGN)
            .allocation_strategy(AllocationStrategy::PowerOfTwo)
            .max_loaned_samples(MAX_LOANS + 1)
            .backpressure_strategy(BackpressureStrategy::DiscardData)
            .create()
            .map_err(unavailable("creating the shared-memory publisher"))?;
        let notifier = services
            .1
            .notifier_builder()
            .create()
            .map_err(unavailable("creating the wake-up notifier"))?;
        Ok(ShmSender {
            publisher,
            notifier,
            loans: Arc::new(AtomicUsize::new(0)),
            backed: Mutex::default(),
            _services: services,
        })
    }

    /// Makes sure pages back `payload` (a loaned sample) before anything
    /// writes it; see [`Backed`].
    fn back(&self, payload: &mut [MaybeUninit<u8>]) -> Result<(), SendFailed> {
        let mut backed = self.backed.lock().unwrap_or_else(PoisonError::into_inner);
        let (start, len) = (payload.as_ptr() as usize, payload.len());
        if len > backed.largest {
            backed.ranges.clear();
            backed.largest = len;
        }
        if backed.ranges.get(&start).is_some_and(|&done| done >= len) {
            return Ok(());
        }
        populate(payload)?;
        backed.ranges.insert(start, len);
        Ok(())
    }

    /// Connects to subscriber ports that appeared since the last call, so
    /// the next sample reaches them (called when a shared-memory
    /// subscription arrives on the socket).
    pub(crate) fn connect_new_subscribers(&self) {
        if let Err(e) = self.publisher.update_connections() {
            tracing::debug!(error = ?e, "could not connect new shared-memory subscribers yet");
        }
        if let Err(e) = self.notifier.update_connections() {
            tracing::debug!(error = ?e, "could not connect new wake-up listeners yet");
        }
    }

    /// Writes one message (its frames: header, metadata, arrays) into a
    /// sample, sends it to every shared-memory subscriber whose queue has
    /// room and wakes them. Returns how many it reached.
    pub(crate) fn send(&self, frames: &[&[u8]]) -> Result<usize, SendFailed> {
        let lengths: Vec<usize> = frames.iter().map(|f| f.len()).collect();
        let (offsets, total) = layout::plan(&lengths)
            .ok_or_else(|| SendFailed("the message is too large to lay out".into()))?;
        let mut sample = self
            .publisher
            .loan_slice_uninit(total / layout::FRAME_ALIGN)
            .map_err(|e| {
                SendFailed(format!("no shared memory for a {total}-byte sample: {e:?}"))
            })?;
        let out = flat_mut(sample.payload_mut());
        self.back(out)?;
        let table = offsets.first().copied().unwrap_or(total);
        let mut head = vec![0u8; table];
        layout::write_table(&mut head, &offsets, &lengths);
        write(&mut out[..table], &head);
        let mut at = table;
        for (frame, &offset) in frames.iter().zip(&offsets) {
            zero(&mut out[at..offset]);
            write(&mut out[offset..offset + frame.len()], frame);
            at = offset + frame.len();
        }
        zero(&mut out[at..]);
        // SAFETY: every byte of the payload was written above: the table,
        // each frame, and the padding between and after them (zeroed).
        let sample = unsafe { sample.assume_init() };
        let reached = sample
            .send()
            .map_err(|e| SendFailed(format!("sending the sample: {e:?}")))?;
        // A listener that cannot take another wake-up has one pending.
        if let Err(e) = self.notifier.notify() {
            tracing::debug!(error = ?e, "a shared-memory wake-up was not delivered");
        }
        Ok(reached)
    }
}

/// Most loans a publisher has out at once; one more sample is kept for
/// messages sent by copy. Beyond this, `loan_array` lends heap memory.
const MAX_LOANS: usize = 4;

/// Room before a loaned array for the frame table, the header and the
/// metadata; a message whose metadata does not fit is sent by copy.
pub(crate) const LOAN_HEAD: usize = 4096;

/// A sample lent to the application before publishing: it writes the
/// array at [`LOAN_HEAD`] directly, and publishing then writes only the
/// table, header and metadata in front of it (no copy of the array).
pub(crate) struct LoanBuf {
    /// `None` only once sent.
    sample: Option<SampleMutUninit<Ipc, [MaybeUninit<Line>], ()>>,
    array: *mut u8,
    len: usize,
    /// The publisher's count of loans outstanding.
    loans: Arc<AtomicUsize>,
}

impl Drop for LoanBuf {
    fn drop(&mut self) {
        self.loans.fetch_sub(1, Ordering::Relaxed);
    }
}

// SAFETY: `array` points into `sample`'s payload, which this struct owns
// and which no one else can reach until it is sent (consuming the struct);
// `&LoanBuf` only gives `&[u8]` of it, `&mut LoanBuf` only `&mut [u8]`, so
// the usual borrow rules keep access exclusive or shared-read-only.
unsafe impl Send for LoanBuf {}
// SAFETY: as above: shared references only read the array bytes.
unsafe impl Sync for LoanBuf {}

impl LoanBuf {
    /// The array's bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        // SAFETY: `array..array+len` lies inside the sample's payload (see
        // `ShmSender::loan`) and stays valid while `self` lives. The payload
        // is a mapping of a shared-memory file: every byte has a value
        // (zero, or left by an earlier sample), so reading it as `u8` is
        // defined even before the application writes it.
        unsafe { std::slice::from_raw_parts(self.array, self.len) }
    }

    /// The array's bytes, writable.
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `bytes`; `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.array, self.len) }
    }
}

impl std::fmt::Debug for LoanBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoanBuf")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl ShmSender {
    /// A sample with room for a `len`-byte array at [`LOAN_HEAD`], unless
    /// [`MAX_LOANS`] are out already.
    pub(crate) fn loan(&self, len: usize) -> Result<LoanBuf, SendFailed> {
        if self.loans.fetch_add(1, Ordering::Relaxed) >= MAX_LOANS {
            self.loans.fetch_sub(1, Ordering::Relaxed);
            return Err(SendFailed(format!("{MAX_LOANS} loans are out already")));
        }
        let loans = Arc::clone(&self.loans);
        let give_back = || {
            loans.fetch_sub(1, Ordering::Relaxed);
        };
        let Some(total) = LOAN_HEAD
            .checked_add(len)
            .and_then(|n| n.checked_next_multiple_of(layout::FRAME_ALIGN))
        else {
            give_back();
            return Err(SendFailed("the array is too large".into()));
        };
        let mut sample = match self
            .publisher
            .loan_slice_uninit(total / layout::FRAME_ALIGN)
        {
            Ok(sample) => sample,
            Err(e) => {
                give_back();
                return Err(SendFailed(format!(
                    "no shared memory for a {total}-byte sample: {e:?}"
                )));
            }
        };
        let payload = flat_mut(sample.payload_mut());
        if let Err(e) = self.back(payload) {
            give_back();
            return Err(e);
        }
        let array = payload[LOAN_HEAD..].as_mut_ptr().cast::<u8>();
        Ok(LoanBuf {
            sample: Some(sample),
            array,
            len,
            loans: Arc::clone(&self.loans),
        })
    }

    /// Sends a loaned sample as the message `[header, metadata, array]`:
    /// writes the table, header and metadata in front of the array. Gives
    /// the loan back when the metadata does not fit in [`LOAN_HEAD`].
    pub(crate) fn send_loan(
        &self,
        mut loan: LoanBuf,
        header: &[u8],
        metadata: &[u8],
    ) -> Result<Result<usize, SendFailed>, Box<LoanBuf>> {
        let lengths = [header.len(), metadata.len(), loan.len];
        // Header and metadata where `plan` puts them; the array where the
        // application wrote it.
        let Some((mut offsets, _)) = layout::plan(&[header.len(), metadata.len(), 0]) else {
            return Err(Box::new(loan));
        };
        let end = offsets[1] + metadata.len();
        if end > LOAN_HEAD {
            return Err(Box::new(loan));
        }
        offsets[2] = LOAN_HEAD;
        let len = loan.len;
        let Some(mut sample) = loan.sample.take() else {
            return Ok(Err(SendFailed("the loan was sent already".into())));
        };
        let out = flat_mut(sample.payload_mut());
        let mut head = vec![0u8; LOAN_HEAD];
        layout::write_table(&mut head, &offsets, &lengths);
        head[offsets[0]..offsets[0] + header.len()].copy_from_slice(header);
        head[offsets[1]..end].copy_from_slice(metadata);
        write(&mut out[..LOAN_HEAD], &head);
        zero(&mut out[LOAN_HEAD + len..]);
        drop(loan);
        // SAFETY: the head was written just above, the tail padding zeroed,
        // and the array region holds the application's bytes (a shared
        // mapping: defined values, see `LoanBuf::bytes`).
        let sample = unsafe { sample.assume_init() };
        let reached = match sample.send() {
            Ok(n) => n,
            Err(e) => return Ok(Err(SendFailed(format!("sending the sample: {e:?}")))),
        };
        if let Err(e) = self.notifier.notify() {
            tracing::debug!(error = ?e, "a shared-memory wake-up was not delivered");
        }
        Ok(Ok(reached))
    }
}

/// Copies `src` into the uninitialised `dst` (same length).
fn write(dst: &mut [MaybeUninit<u8>], src: &[u8]) {
    assert_eq!(dst.len(), src.len(), "layout planned these lengths");
    // SAFETY: `dst` and `src` have the same length (checked above); `dst`
    // is memory this loan owns exclusively, so they cannot overlap; `u8`
    // and `MaybeUninit<u8>` have the same layout.
    unsafe {
        std::ptr::copy_nonoverlapping(src.as_ptr(), dst.as_mut_ptr().cast::<u8>(), src.len());
    }
}

fn zero(dst: &mut [MaybeUninit<u8>]) {
    for b in dst {
        b.write(0);
    }
}

/// A borrowed sample: released (back to the publisher's pool) on drop.
struct Held {
    sample: Sample<Ipc, [Line], ()>,
    borrowed: Arc<AtomicUsize>,
}

impl AsRef<[u8]> for Held {
    fn as_ref(&self) -> &[u8] {
        self.sample.payload().as_flattened()
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.borrowed.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The listener's descriptor, for tokio.
struct WakeFd(RawFd);

impl AsRawFd for WakeFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

/// A subscriber's shared-memory side. Field order is drop order: the
/// tokio registration goes before the listener that owns the descriptor.
pub(crate) struct ShmReceiver {
    wake: AsyncFd<WakeFd>,
    listener: Listener<Ipc>,
    subscriber: IoxSubscriber<Ipc, [Line], ()>,
    services: Services,
    borrowed: Arc<AtomicUsize>,
    /// Samples copied out because the application held too many.
    copied: Arc<AtomicU64>,
}

impl std::fmt::Debug for ShmReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShmReceiver")
            .field("borrowed", &self.borrowed.load(Ordering::Relaxed))
            .field("copied", &self.copied.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl ShmReceiver {
    /// Opens the shared-memory side of the publisher at `address`; fails
    /// when there is none on this host (a Python or remote publisher, one
    /// built without the `shm` feature, or all its slots taken).
    /// `copied` counts samples copied out because the application held
    /// too many at once.
    pub(crate) fn open(address: &str, copied: Arc<AtomicU64>) -> Result<Self, Unavailable> {
        let services = services(address, false, 0)?;
        let subscriber = services
            .0
            .subscriber_builder()
            .create()
            .map_err(unavailable("creating the shared-memory subscriber"))?;
        // Connect to the publisher now, before the socket subscription
        // tells it this subscriber exists: a sample sent to a connection
        // the subscriber has not opened yet would not reach it.
        subscriber
            .update_connections()
            .map_err(unavailable("connecting to the shared-memory publisher"))?;
        let listener = services
            .1
            .listener_builder()
            .create()
            .map_err(unavailable("creating the wake-up listener"))?;
        // SAFETY: (iceoryx2's contract for the raw value) the number is
        // only kept inside the registration below, which never closes it.
        let fd = unsafe { listener.file_descriptor().native_handle() };
        // SAFETY: `fd` is the listener's descriptor, open until the
        // listener drops; this struct drops the registration first (field
        // order), so it never outlives the descriptor.
        let wake =
            unsafe { AsyncFd::register_with_interest(WakeFd(fd), tokio::io::Interest::READABLE) }
                .map_err(|e| Unavailable {
                what: "registering the wake-up descriptor with tokio",
                detail: e.to_string(),
            })?;
        Ok(ShmReceiver {
            wake,
            listener,
            subscriber,
            services,
            borrowed: Arc::new(AtomicUsize::new(0)),
            copied,
        })
    }

    /// Whether the service still has its publisher (false after the
    /// publisher exited or crashed: the subscriber should reopen).
    pub(crate) fn has_publisher(&self) -> bool {
        self.services.0.dynamic_config().number_of_publishers() > 0
    }

    /// A sample waiting now, if any (no system call when one is queued).
    pub(crate) fn try_recv(&mut self) -> std::io::Result<Option<Bytes>> {
        let sample = match self.subscriber.receive() {
            Ok(Some(sample)) => sample,
            Ok(None) => return Ok(None),
            Err(ReceiveError::ExceedsMaxBorrows) => {
                // Unreachable: samples are copied out before the limit.
                return Err(std::io::Error::other("too many shared-memory samples held"));
            }
            Err(e) => return Err(std::io::Error::other(format!("{e:?}"))),
        };
        let count = self.borrowed.fetch_add(1, Ordering::Relaxed) + 1;
        let held = Held {
            sample,
            borrowed: Arc::clone(&self.borrowed),
        };
        if count >= MAX_BORROWED {
            // Keep one borrow free: copy this one out and release it now.
            self.copied.fetch_add(1, Ordering::Relaxed);
            return Ok(Some(Bytes::copy_from_slice(held.as_ref())));
        }
        Ok(Some(Bytes::from_owner(held)))
    }

    /// The next sample (waits for a wake-up when none is queued).
    pub(crate) async fn recv(&mut self) -> std::io::Result<Bytes> {
        loop {
            if let Some(sample) = self.try_recv()? {
                return Ok(sample);
            }
            let mut guard = self.wake.readable().await?;
            self.listener
                .try_wait(|_| {})
                .map_err(|e| std::io::Error::other(format!("{e:?}")))?;
            guard.clear_ready();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(name: &str) -> String {
        format!(
            "ipc:///tmp/cortex-shm-test-{}-{name}.sock",
            std::process::id()
        )
    }

    #[test]
    fn flat_mut_covers_every_byte_of_the_lines_in_order() {
        let mut lines = [MaybeUninit::<Line>::uninit(); 3];
        let bytes = flat_mut(&mut lines);
        assert_eq!(bytes.len(), 3 * layout::FRAME_ALIGN);
        for (i, b) in bytes.iter_mut().enumerate() {
            b.write(i as u8);
        }
        // SAFETY: every byte of the three lines was written just above.
        let lines = lines.map(|line| unsafe { line.assume_init() });
        assert_eq!(lines[1][0], layout::FRAME_ALIGN as u8);
        assert_eq!(lines[2][63], (3 * layout::FRAME_ALIGN - 1) as u8);
    }

    #[tokio::test]
    async fn a_sample_reserves_its_size_not_64_times_it() {
        let address = address("reserve");
        let sender = ShmSender::create(&address, 16).expect("sender");
        let _receiver = ShmReceiver::open(&address, Arc::default()).expect("receiver");
        sender.connect_new_subscribers();
        sender.send(&[&[1; 100], &[2; 1 << 20]]).expect("sent");
        // The pool holds under a hundred samples of at most 2 MiB now;
        // with one byte per 64-byte element it would map over 10 GiB.
        let maps = std::fs::read_to_string("/proc/self/maps").expect("maps");
        let largest = maps
            .lines()
            .filter(|line| line.contains("/iox2_") && line.ends_with(".data"))
            .filter_map(|line| {
                let (start, end) = line.split_once(' ')?.0.split_once('-')?;
                let start = u64::from_str_radix(start, 16).ok()?;
                Some(u64::from_str_radix(end, 16).ok()? - start)
            })
            .max()
            .expect("the data segment is mapped");
        assert!(largest < 1 << 30, "a data segment maps {largest} bytes");
    }

    #[tokio::test]
    async fn the_first_sample_reaches_a_subscriber_that_connected_before_it() {
        let address = address("first");
        let sender = ShmSender::create(&address, 16).expect("sender");
        let mut receiver = ShmReceiver::open(&address, Arc::default()).expect("receiver");
        sender.connect_new_subscribers();
        sender
            .send(&[b"header", b"meta", &[1, 2, 3]])
            .expect("send");
        let sample = receiver
            .try_recv()
            .expect("receive")
            .expect("the first sample");
        let frames = layout::frames(&sample).expect("frames");
        assert_eq!(frames.len(), 3);
        assert_eq!(&frames[2][..], &[1, 2, 3]);
        assert_eq!(frames[2].as_ptr() as usize % layout::FRAME_ALIGN, 0);
    }
}

#[cfg(test)]
mod more_tests {
    use super::*;

    #[tokio::test]
    async fn two_receivers_each_get_every_sample_in_order() {
        let address = format!("ipc:///tmp/cortex-shm-test-{}-two.sock", std::process::id());
        let sender = ShmSender::create(&address, 16).expect("sender");
        let mut fast = ShmReceiver::open(&address, Arc::default()).expect("fast");
        sender.connect_new_subscribers();
        let _slow = ShmReceiver::open(&address, Arc::default()).expect("slow");
        sender.connect_new_subscribers();
        for i in 0u8..50 {
            sender.send(&[&[i]]).expect("send");
            let sample = tokio::time::timeout(std::time::Duration::from_secs(5), fast.recv())
                .await
                .expect("in time")
                .expect("sample");
            let frames = layout::frames(&sample).expect("frames");
            assert_eq!(&frames[0][..], &[i], "sample {i}");
        }
    }
}

#[cfg(test)]
mod restart_tests {
    use super::*;

    #[tokio::test]
    async fn a_restarted_publisher_reaches_an_existing_subscriber() {
        let address = format!(
            "ipc:///tmp/cortex-shm-test-{}-restart.sock",
            std::process::id()
        );
        let first = ShmSender::create(&address, 16).expect("sender");
        let mut receiver = ShmReceiver::open(&address, Arc::default()).expect("receiver");
        first.connect_new_subscribers();
        first.send(&[&[1]]).expect("send");
        assert!(receiver.try_recv().expect("receive").is_some());
        drop(first);
        let second = ShmSender::create(&address, 16).expect("second sender");
        second.connect_new_subscribers();
        let reached = second.send(&[&[2]]).expect("send");
        let got = tokio::time::timeout(std::time::Duration::from_secs(2), receiver.recv()).await;
        assert!(got.is_ok(), "reached {reached}");
    }
}
