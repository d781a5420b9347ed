//! Publish and subscribe: one XPUB socket per topic, typed publishers and
//! subscribers over ZeroMQ, driven by tokio.
//!
//! Uses the I/O layer ([`crate::io`]) and discovery ([`crate::discovery`]).
//! Local cortex subscribers receive through shared memory (`shm`, on
//! iceoryx2) when both sides have it; the socket path serves everyone else.

mod endpoint;
mod latch;
mod loan;
mod publisher;
mod queue;
mod sequence;
#[cfg(all(feature = "shm", target_os = "linux"))]
mod shm;
#[cfg(not(all(feature = "shm", target_os = "linux")))]
#[path = "shm_off.rs"]
mod shm;
mod subscriber;

pub use endpoint::{
    socket_file_name, Transport, DEFAULT_SOCKET_ROOT, MAX_IPC_PATH, SOCKET_ROOT_ENV,
};
pub use latch::replay_topic;
pub use loan::Loan;
pub(crate) use publisher::PublisherWatch;
pub use publisher::{
    beacon_topic, Publisher, PublisherOptions, PublisherStats, RawPublisher, SHM_ENV,
};
pub use queue::OnFullQueue;
pub use sequence::{SequenceEvent, SequenceTracker};

/// Removes what crashed processes left in shared memory (their segments,
/// and their ports, whose samples go back to their publishers' pools).
/// cortex does this by itself when a process first uses shared memory and
/// whenever a shared-memory subscriber leaves a publisher; call it to tidy
/// up at another moment (after killing a process in a test, say). Does
/// nothing without the `shm` feature.
pub fn remove_dead_shared_memory() {
    shm::remove_dead();
}
pub use subscriber::{
    PublisherCounts, PublisherId, Subscriber, SubscriberCounters, SubscriberOptions,
    SubscriberStats,
};
