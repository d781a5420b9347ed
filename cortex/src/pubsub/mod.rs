//! Publish and subscribe: one XPUB socket per topic, typed publishers and
//! subscribers over ZeroMQ, driven by tokio.
//!
//! Uses the I/O layer ([`crate::io`]) and discovery ([`crate::discovery`]);
//! a second transport (shared memory) belongs here too.

mod endpoint;
mod publisher;
mod queue;
mod sequence;
mod subscriber;

pub use endpoint::{
    socket_file_name, Transport, DEFAULT_SOCKET_ROOT, MAX_IPC_PATH, SOCKET_ROOT_ENV,
};
pub use publisher::{beacon_topic, Publisher, PublisherOptions, PublisherStats};
pub use queue::OnFullQueue;
pub use sequence::{SequenceEvent, SequenceTracker};
pub use subscriber::{Subscriber, SubscriberCounters, SubscriberOptions, SubscriberStats};
