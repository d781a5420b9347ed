//! ZeroMQ on tokio: the I/O layer under discovery and pub/sub.
//!
//! [`AsyncSocket`] drives any ZeroMQ socket from a tokio task without
//! blocking a runtime thread; [`OutFrame`] hands buffers to libzmq without
//! copying them; the socket options the `zmq` crate does not expose, the
//! safety of ipc socket files and directories ([`SocketAccess`]) and the
//! process's open-file limit live here too.

mod async_socket;
mod fd_limit;
mod frame;
mod socket_dir;
pub(crate) mod sockopt;
mod zmq_fd;

pub use async_socket::AsyncSocket;
pub use fd_limit::raise_fd_limit;
pub use frame::{frame_to_bytes, OutFrame};
pub(crate) use socket_dir::{check_socket_path, prepare_dir, restrict_socket};
pub use socket_dir::{SocketAccess, SocketDirError, SOCKET_ACCESS_ENV};
pub(crate) use zmq_fd::{register as register_zmq_fd, ZmqFd};
