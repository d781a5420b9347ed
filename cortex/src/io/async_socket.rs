//! ZeroMQ sockets on tokio (edge-triggered `ZMQ_FD`).
//!
//! A [`zmq::Socket`] exposes a notification descriptor (`ZMQ_FD`) that is
//! edge-triggered and only ever signals *readable*, for both directions: it
//! says "`ZMQ_EVENTS` may have changed", not "data is waiting". The loop that
//! is correct under those rules is:
//!
//! 1. read `ZMQ_EVENTS`; if the wanted flag is set, act with `DONTWAIT` on a
//!    whole multipart message and return;
//! 2. otherwise await readiness of the descriptor, re-read `ZMQ_EVENTS`, and
//!    clear tokio's readiness only if the wanted flag is still not set;
//! 3. go to 1.
//!
//! Every send and receive can consume an edge, so `ZMQ_EVENTS` is re-read
//! before each operation rather than trusted from an earlier wake.
//!
//! Receiving uses the receive itself as that check: a `DONTWAIT` receive that
//! finds no message has just processed libzmq's command mailbox (exactly
//! what reading `ZMQ_EVENTS` does) and left it empty, so the next change
//! writes the mailbox's signaler again and produces a fresh edge. The loop
//! is therefore "receive; on `EAGAIN` await an edge, clear it, receive
//! again", which saves the two `ZMQ_EVENTS` reads (two `poll(2)` calls) per
//! message that the generic loop costs an idle receiver. Clearing before the
//! next receive is safe: that receive re-reads the mailbox, and tokio never
//! clears readiness that arrived after the guard was taken.
//!
//! [`AsyncSocket`] owns the socket; its methods take `&mut self`, so one task
//! drives it and the futures are `Send`.

use std::fmt;
use std::io;

use tokio::io::unix::AsyncFd;

use super::zmq_fd::{self, ZmqFd};

/// How many operations may complete back to back without awaiting before the
/// socket yields to the scheduler, so a busy socket cannot starve other tasks.
const MAX_OPS_PER_WAKE: u32 = 64;

/// A ZeroMQ socket of any type driven by tokio.
///
/// Sends and receives whole multipart messages without ever blocking a
/// runtime thread. Both operations are cancel-safe: a cancelled
/// [`recv_multipart`](Self::recv_multipart) consumes nothing, and a cancelled
/// [`send_multipart`](Self::send_multipart) has sent nothing (the frames are
/// dropped).
pub struct AsyncSocket {
    // Declaration order is drop order: the reactor registration must go
    // before libzmq closes the descriptor together with the socket.
    fd: AsyncFd<ZmqFd>,
    socket: zmq::Socket,
    ops_since_wait: u32,
}

impl fmt::Debug for AsyncSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncSocket")
            .field("type", &self.socket.get_socket_type().ok())
            .field(
                "fd",
                &std::os::unix::io::AsRawFd::as_raw_fd(self.fd.get_ref()),
            )
            .finish()
    }
}

impl AsyncSocket {
    /// Wraps `socket` and registers its `ZMQ_FD` with the current tokio
    /// reactor. Must be called inside a tokio runtime.
    pub fn new(socket: zmq::Socket) -> io::Result<Self> {
        // SAFETY: `AsyncSocket` owns the socket and drops (or, in
        // `into_inner`, explicitly drops) the registration first.
        let fd = unsafe { zmq_fd::register(&socket) }?;
        Ok(Self {
            fd,
            socket,
            ops_since_wait: 0,
        })
    }

    /// The wrapped socket, for options and `bind`/`connect`.
    ///
    /// Do not send or receive through it directly: that consumes edges of
    /// `ZMQ_FD` this wrapper does not know about (harmless for correctness,
    /// since events are re-read before every wait, but it defeats the point).
    pub fn get_ref(&self) -> &zmq::Socket {
        &self.socket
    }

    /// Unwraps the socket, deregistering it from the reactor first.
    pub fn into_inner(self) -> zmq::Socket {
        let Self { fd, socket, .. } = self;
        drop(fd);
        socket
    }

    /// Sends `frames` as one multipart message.
    ///
    /// Waits while the socket cannot accept a message (high-water mark,
    /// no peer for a DEALER/PAIR/REQ). An empty `frames` sends nothing.
    pub async fn send_multipart(&mut self, frames: Vec<zmq::Message>) -> io::Result<()> {
        if frames.is_empty() {
            return Ok(());
        }
        self.wait_writable().await?;
        let last = frames.len() - 1;
        for (i, frame) in frames.into_iter().enumerate() {
            let more = if i < last { zmq::SNDMORE } else { 0 };
            // With POLLOUT set the first frame is accepted, and libzmq never
            // refuses the remaining frames of a message whose first frame
            // went through (the high-water mark counts whole messages).
            if let Err(e) = self.socket.send(frame, zmq::DONTWAIT | more) {
                return Err(if e == zmq::Error::EAGAIN {
                    io::Error::new(
                        io::ErrorKind::WouldBlock,
                        "zmq socket reported POLLOUT but refused the message; it was dropped",
                    )
                } else {
                    e.into()
                });
            }
        }
        Ok(())
    }

    /// Polls for one whole multipart message: the `poll` form of
    /// [`recv_multipart`](Self::recv_multipart), for a caller that waits on
    /// several sockets at once. After a run of messages it returns
    /// `Pending` once (waking itself), like `recv_multipart` yields.
    pub fn poll_recv_multipart(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<Vec<zmq::Message>>> {
        use std::task::Poll;
        if self.ops_since_wait >= MAX_OPS_PER_WAKE {
            self.ops_since_wait = 0;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        loop {
            if let Some(frames) = self.try_recv_multipart()? {
                self.ops_since_wait += 1;
                return Poll::Ready(Ok(frames));
            }
            // As in `recv_multipart`: EAGAIN means the next change signals
            // a new edge.
            self.ops_since_wait = 0;
            match self.fd.poll_read_ready_mut(cx) {
                Poll::Ready(Ok(mut guard)) => guard.clear_ready(),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Receives one whole multipart message.
    pub async fn recv_multipart(&mut self) -> io::Result<Vec<zmq::Message>> {
        loop {
            self.yield_if_busy().await;
            if let Some(frames) = self.try_recv_multipart()? {
                self.ops_since_wait += 1;
                return Ok(frames);
            }
            // EAGAIN: libzmq's mailbox is drained, the next change signals a
            // new edge (see the module documentation).
            self.ops_since_wait = 0;
            let mut guard = self.fd.readable_mut().await?;
            guard.clear_ready();
        }
    }

    /// Fairness: after [`MAX_OPS_PER_WAKE`] operations in a row without
    /// waiting, lets other tasks run before the next one.
    async fn yield_if_busy(&mut self) {
        if self.ops_since_wait >= MAX_OPS_PER_WAKE {
            self.ops_since_wait = 0;
            tokio::task::yield_now().await;
        }
    }

    /// Receives one whole multipart message if one is waiting, without
    /// waiting for one.
    fn try_recv_multipart(&mut self) -> io::Result<Option<Vec<zmq::Message>>> {
        match self.socket.recv_msg(zmq::DONTWAIT) {
            Ok(first) => {
                let mut frames = Vec::with_capacity(4);
                frames.push(first);
                // The parts of a multipart message arrive atomically, so once
                // the first is here the rest are too.
                while self.socket.get_rcvmore()? {
                    frames.push(self.socket.recv_msg(zmq::DONTWAIT)?);
                }
                Ok(Some(frames))
            }
            Err(zmq::Error::EAGAIN) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Returns once `ZMQ_EVENTS` has `POLLOUT` set.
    async fn wait_writable(&mut self) -> io::Result<()> {
        self.yield_if_busy().await;
        if self.socket.get_events()?.contains(zmq::POLLOUT) {
            self.ops_since_wait += 1;
            return Ok(());
        }
        self.ops_since_wait = 0;
        loop {
            let mut guard = self.fd.readable_mut().await?;
            // The edge may have fired before we started waiting and been
            // consumed by our own `get_events`: re-check before clearing, and
            // clear only when there really is nothing to do, so the next edge
            // wakes us.
            if self.socket.get_events()?.contains(zmq::POLLOUT) {
                return Ok(());
            }
            guard.clear_ready();
        }
    }
}
