//! A ZeroMQ socket's notification descriptor (`ZMQ_FD`) in tokio's reactor.
//!
//! libzmq creates the descriptor with the socket, never replaces it, and
//! closes it when the socket closes; it signals "`ZMQ_EVENTS` may have
//! changed", edge-triggered, always as *readable* (see
//! [`AsyncSocket`](super::AsyncSocket) for the loop that is correct under
//! those rules). One registration path serves every socket driven by tokio.

use std::io;
use std::os::unix::io::{AsRawFd, RawFd};

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// A socket's `ZMQ_FD`. It does not own the descriptor: libzmq does.
#[derive(Debug)]
pub(crate) struct ZmqFd(RawFd);

impl AsRawFd for ZmqFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

/// Registers `socket`'s `ZMQ_FD` with the current tokio reactor, for
/// readability. Must be called inside a tokio runtime.
///
/// # Safety
///
/// The returned [`AsyncFd`] must be dropped before `socket` is closed:
/// libzmq closes the descriptor together with the socket, and a
/// registration must never outlive its descriptor (the number could be
/// reused by another file meanwhile).
pub(crate) unsafe fn register(socket: &zmq::Socket) -> io::Result<AsyncFd<ZmqFd>> {
    let raw = socket.get_fd()?;
    // SAFETY: `raw` is the socket's `ZMQ_FD`, open until the socket closes,
    // which the caller promises happens only after the registration is
    // dropped; `ZmqFd::as_raw_fd` always returns this same value.
    unsafe { AsyncFd::register_with_interest(ZmqFd(raw), Interest::READABLE) }.map_err(Into::into)
}
