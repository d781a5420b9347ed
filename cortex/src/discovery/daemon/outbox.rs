//! Replies the daemon could not hand to a client yet.
//!
//! The daemon's ROUTER runs with `ROUTER_MANDATORY`, so a reply to a client
//! whose queue is full comes back as `EAGAIN` instead of being dropped
//! silently (a client that pipelines thousands of requests before reading
//! would otherwise lose most replies). Such replies wait here, per client
//! and in order, and are retried; a client's later replies queue behind
//! them. Memory stays bounded: past [`PER_CLIENT_BYTES`] for one client, or
//! [`TOTAL_BYTES`] for all, a reply is dropped and counted — a client that
//! never reads cannot make the daemon grow without limit. A reply to a
//! client that has gone (`EHOSTUNREACH`) is dropped with its queue.

use std::collections::{HashMap, VecDeque};

/// Most bytes of waiting replies kept for one client.
pub(crate) const PER_CLIENT_BYTES: usize = 8 << 20;

/// Most bytes of waiting replies kept for all clients together.
pub(crate) const TOTAL_BYTES: usize = 64 << 20;

/// One reply: the envelope (routing id first) and the body, as frames.
type Frames = Vec<Vec<u8>>;

/// What became of a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sent {
    /// Handed to ZeroMQ.
    Now,
    /// Waiting in the outbox.
    Queued,
    /// Dropped: the client is gone, or the outbox is full.
    Dropped,
}

/// Per-client queues of replies not yet accepted by ZeroMQ.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    queues: HashMap<Vec<u8>, (VecDeque<Frames>, usize)>,
    total: usize,
    /// Replies dropped because a client's or the whole outbox was full.
    pub(crate) overflowed: u64,
}

impl Outbox {
    /// Whether any reply is waiting.
    pub(crate) fn is_empty(&self) -> bool {
        self.queues.is_empty()
    }

    /// Sends `frames` (routing id first) on the ROUTER, or queues it behind
    /// the client's earlier replies.
    pub(crate) fn send(&mut self, socket: &zmq::Socket, frames: Frames) -> Sent {
        let Some(id) = frames.first().cloned() else {
            return Sent::Dropped;
        };
        if !self.queues.contains_key(&id) {
            match try_send(socket, &frames) {
                Ok(()) => return Sent::Now,
                Err(zmq::Error::EAGAIN) => {}
                Err(_) => return Sent::Dropped,
            }
        }
        let size: usize = frames.iter().map(Vec::len).sum();
        let (queue, bytes) = self.queues.entry(id).or_default();
        if *bytes + size > PER_CLIENT_BYTES || self.total + size > TOTAL_BYTES {
            self.overflowed += 1;
            if queue.is_empty() {
                self.queues.retain(|_, (q, _)| !q.is_empty());
            }
            return Sent::Dropped;
        }
        *bytes += size;
        self.total += size;
        queue.push_back(frames);
        Sent::Queued
    }

    /// Retries every waiting reply, in order per client; stops at a client
    /// whose queue is still full. Returns how many were sent.
    pub(crate) fn flush(&mut self, socket: &zmq::Socket) -> usize {
        let mut sent = 0;
        let total = &mut self.total;
        self.queues.retain(|_, (queue, bytes)| {
            while let Some(frames) = queue.front() {
                match try_send(socket, frames) {
                    Ok(()) => {}
                    Err(zmq::Error::EAGAIN) => return true,
                    Err(_) => {
                        // The client is gone: its replies with it.
                        *total -= *bytes;
                        return false;
                    }
                }
                let size: usize = frames.iter().map(Vec::len).sum();
                *bytes -= size;
                *total -= size;
                queue.pop_front();
                sent += 1;
            }
            false
        });
        sent
    }
}

/// One non-blocking send of a whole multipart reply. With
/// `ROUTER_MANDATORY`, only the first frame can fail (`EAGAIN` when the
/// client's queue is full, `EHOSTUNREACH` when it is gone), so a failure
/// never leaves half a message behind.
fn try_send(socket: &zmq::Socket, frames: &[Vec<u8>]) -> Result<(), zmq::Error> {
    let last = frames.len().saturating_sub(1);
    for (i, frame) in frames.iter().enumerate() {
        let more = if i < last { zmq::SNDMORE } else { 0 };
        socket.send(&frame[..], zmq::DONTWAIT | more)?;
    }
    Ok(())
}
