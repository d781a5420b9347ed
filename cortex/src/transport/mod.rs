//! Transport: publishers and subscribers on ZeroMQ, driven by tokio.

pub mod async_socket;
mod endpoint;
pub mod frame;
mod publisher;
mod sequence;
mod sockopt;
mod subscriber;

pub use endpoint::{
    socket_file_name, Transport, DEFAULT_SOCKET_ROOT, MAX_IPC_PATH, SOCKET_ROOT_ENV,
};
pub use publisher::{OnFullQueue, Publisher, PublisherOptions, PublisherStats};
pub use sequence::{SequenceEvent, SequenceTracker};
pub use subscriber::{Subscriber, SubscriberCounters, SubscriberOptions, SubscriberStats};
