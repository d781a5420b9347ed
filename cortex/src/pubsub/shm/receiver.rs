//! A subscriber's side: samples as `Bytes` that borrow shared memory.

use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use iceoryx2::port::listener::Listener;
use iceoryx2::port::subscriber::{Subscriber as IoxSubscriber, SubscriberCreateError};
use iceoryx2::port::update_connections::UpdateConnections;
use iceoryx2::port::ReceiveError;
use iceoryx2::prelude::*;
use iceoryx2::sample::Sample;
use iceoryx2::service::ipc_threadsafe::Service as Ipc;
use iceoryx2::service::port_factory::publish_subscribe;
use tokio::io::unix::AsyncFd;

use super::{
    layout, services, unavailable, Line, Services, Unavailable, MAX_BORROWED, MAX_SUBSCRIBERS,
    SLOTS_TAKEN,
};
use crate::codec::Header;

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

/// The sequence number in a sample's header (0 when unreadable: such a
/// sample goes first, and then fails to decode, counted).
fn sequence(sample: &Bytes) -> u64 {
    layout::frames(sample)
        .ok()
        .and_then(|frames| Header::from_bytes(frames.first()?).ok())
        .map_or(0, |header| header.sequence)
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
    /// The two lanes (small, large; see [`SMALL_SAMPLE`](super::SMALL_SAMPLE)).
    lanes: [IoxSubscriber<Ipc, [Line], ()>; 2],
    /// A sample taken from each lane but not yet returned: the lanes are
    /// merged in the publisher's order (see [`try_recv`](Self::try_recv)).
    ahead: [Option<Bytes>; 2],
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
        let services = services(address, false, 0, 0)?;
        let lane = |factory: &publish_subscribe::PortFactory<Ipc, [Line], ()>| {
            let subscriber = factory.subscriber_builder().create().map_err(|e| match e {
                SubscriberCreateError::ExceedsMaxSupportedSubscribers => Unavailable {
                    what: SLOTS_TAKEN,
                    detail: format!("{MAX_SUBSCRIBERS} per publisher"),
                },
                other => unavailable("creating the shared-memory subscriber")(other),
            })?;
            // Connect to the publisher now, before the socket subscription
            // tells it this subscriber exists: a sample sent to a
            // connection the subscriber has not opened yet would not reach
            // it.
            subscriber
                .update_connections()
                .map_err(unavailable("connecting to the shared-memory publisher"))?;
            Ok::<_, Unavailable>(subscriber)
        };
        let lanes = [lane(&services.small)?, lane(&services.large)?];
        let listener = services
            .wake
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
            lanes,
            ahead: [None, None],
            services,
            borrowed: Arc::new(AtomicUsize::new(0)),
            copied,
        })
    }

    /// Whether the service still has its publisher (false after the
    /// publisher exited or crashed: the subscriber should reopen).
    pub(crate) fn has_publisher(&self) -> bool {
        self.services.large.dynamic_config().number_of_publishers() > 0
    }

    /// The next sample waiting now, if any (no system call when one is
    /// queued), in the order the publisher sent them.
    ///
    /// The publisher sends one message at a time, each fully queued in its
    /// lane before the next, so a sample is next once the *other* lane has
    /// been looked at after it arrived: anything sent earlier would be
    /// there by then. When both lanes have one, the lower sequence goes
    /// first.
    pub(crate) fn try_recv(&mut self) -> std::io::Result<Option<Bytes>> {
        self.fill(0)?;
        self.fill(1)?;
        match (self.ahead[0].is_some(), self.ahead[1].is_some()) {
            (false, false) => return Ok(None),
            // Look again at the empty lane, now that the other one's
            // sample is known to have arrived.
            (true, false) => self.fill(1)?,
            (false, true) => self.fill(0)?,
            (true, true) => {}
        }
        let first = match (&self.ahead[0], &self.ahead[1]) {
            (Some(small), Some(large)) => usize::from(sequence(large) < sequence(small)),
            (Some(_), None) => 0,
            _ => 1,
        };
        Ok(self.ahead[first].take())
    }

    /// Takes the next sample of lane `lane` into `ahead`, if it is empty.
    fn fill(&mut self, lane: usize) -> std::io::Result<()> {
        if self.ahead[lane].is_none() {
            self.ahead[lane] = self.receive(lane)?;
        }
        Ok(())
    }

    /// The next sample of one lane, borrowed or (past the borrow limit)
    /// copied out.
    fn receive(&self, lane: usize) -> std::io::Result<Option<Bytes>> {
        let sample = match self.lanes[lane].receive() {
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
    #[cfg(test)]
    pub(crate) async fn recv(&mut self) -> std::io::Result<Bytes> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// The `poll` form of [`recv`](Self::recv).
    pub(crate) fn poll_recv(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<Bytes>> {
        loop {
            if let Some(sample) = self.try_recv()? {
                return std::task::Poll::Ready(Ok(sample));
            }
            let mut guard = std::task::ready!(self.wake.poll_read_ready(cx))?;
            self.listener
                .try_wait(|_| {})
                .map_err(|e| std::io::Error::other(format!("{e:?}")))?;
            guard.clear_ready();
        }
    }
}
