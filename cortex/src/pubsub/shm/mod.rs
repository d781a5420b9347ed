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
use std::sync::{Arc, Mutex, PoisonError, Weak};

use iceoryx2::prelude::*;
use iceoryx2::service::ipc_threadsafe::Service as Ipc;
use iceoryx2::service::port_factory::{event, publish_subscribe};

use realm::realm;

/// Most shared-memory subscribers of one publisher; more use the socket
/// path (each such subscriber logs why, at info level).
pub(crate) const MAX_SUBSCRIBERS: usize = 8;
/// Most samples queued per subscriber in either lane (see
/// [`SMALL_SAMPLE`]). A full queue makes that subscriber miss new
/// messages, as on the socket path: the publisher counts an overflow, the
/// subscriber a gap.
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
#[derive(Debug, Clone, thiserror::Error)]
#[error("{what}: {detail}")]
pub(crate) struct Unavailable {
    what: &'static str,
    detail: String,
}

/// What a subscriber's [`Unavailable`] says when the publisher already
/// has [`MAX_SUBSCRIBERS`] shared-memory subscribers.
const SLOTS_TAKEN: &str = "every shared-memory slot of this publisher is taken";

impl Unavailable {
    /// Whether the publisher has its maximum of shared-memory subscribers
    /// (worth telling the user: the others are on shared memory).
    pub(crate) fn slots_taken(&self) -> bool {
        self.what == SLOTS_TAKEN
    }
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
        .config(&realm()?.config)
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
    let Ok(realm) = realm() else {
        return;
    };
    let mut removed = 0;
    let _ = Node::<Ipc>::list(&realm.config, |state| {
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

/// Samples up to this size (table, header, metadata and arrays) go
/// through the *small* lane, larger ones through the *large* lane. Each
/// lane is an iceoryx2 service with its own queue per subscriber, so the
/// memory a stalled subscriber pins is bounded in bytes for both: at most
/// `queue_depth` (1000) small slots of 64 KiB (the socket path's 64 MiB
/// budget), and `shared_memory_queue` (16) large samples.
pub(crate) const SMALL_SAMPLE: usize = 64 << 10;

/// A publisher's iceoryx2 services: the two data lanes (see
/// [`SMALL_SAMPLE`]), the wake-up event, and the node they belong to
/// (fields drop in order: the node last).
pub(super) struct Services {
    small: publish_subscribe::PortFactory<Ipc, [Line], ()>,
    large: publish_subscribe::PortFactory<Ipc, [Line], ()>,
    wake: event::PortFactory<Ipc>,
    _node: Arc<Node<Ipc>>,
}

/// One data lane of the publisher at `address`, queueing `queue` samples
/// per subscriber when created here (an opener takes what the creator
/// chose).
fn lane(
    node: &Node<Ipc>,
    name: &str,
    create: bool,
    queue: usize,
) -> Result<publish_subscribe::PortFactory<Ipc, [Line], ()>, Unavailable> {
    let name: ServiceName = name.try_into().map_err(unavailable("naming the service"))?;
    let builder = node
        .service_builder(&name)
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
    if create {
        builder
            .subscriber_max_buffer_size(queue.clamp(1, MAX_QUEUE))
            .open_or_create()
            .map_err(unavailable("creating the shared-memory service"))
    } else {
        builder
            .open()
            .map_err(unavailable("opening the shared-memory service"))
    }
}

/// The services of the publisher at `address`: created (with queues of
/// `small_queue` and `large_queue` samples) or opened.
fn services(
    address: &str,
    create: bool,
    small_queue: usize,
    large_queue: usize,
) -> Result<Services, Unavailable> {
    let node = node()?;
    let base = realm()?.service_base(address);
    let large = lane(&node, &base, create, large_queue)?;
    let small = lane(&node, &format!("{base}/small"), create, small_queue)?;
    let wake: ServiceName = format!("{base}/wake")
        .as_str()
        .try_into()
        .map_err(unavailable("naming the service"))?;
    let wake = node.service_builder(&wake).event();
    let wake = if create {
        wake.open_or_create()
            .map_err(unavailable("creating the wake-up service"))?
    } else {
        wake.open()
            .map_err(unavailable("opening the wake-up service"))?
    };
    Ok(Services {
        small,
        large,
        wake,
        _node: node,
    })
}

mod backing;
mod realm;
mod receiver;
mod sender;
#[cfg(test)]
mod tests;

pub(crate) use receiver::ShmReceiver;
pub(crate) use sender::{LoanBuf, SendFailed, ShmSender};
