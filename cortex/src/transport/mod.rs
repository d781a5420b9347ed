//! Transport: publishers and subscribers on ZeroMQ, driven by tokio.

pub mod async_socket;
mod endpoint;
mod fd_limit;
pub mod frame;
mod publisher;
mod queue;
mod sequence;
mod socket_dir;
mod sockopt;
mod subscriber;

pub use endpoint::{
    socket_file_name, Transport, DEFAULT_SOCKET_ROOT, MAX_IPC_PATH, SOCKET_ROOT_ENV,
};
pub use fd_limit::raise_fd_limit;
pub use publisher::{beacon_topic, Publisher, PublisherOptions, PublisherStats};
pub use queue::OnFullQueue;
pub use sequence::{SequenceEvent, SequenceTracker};
pub(crate) use socket_dir::{check_socket_path, prepare_dir, restrict_socket};
pub use socket_dir::{SocketAccess, SocketDirError, SOCKET_ACCESS_ENV};
pub use subscriber::{Subscriber, SubscriberCounters, SubscriberOptions, SubscriberStats};
