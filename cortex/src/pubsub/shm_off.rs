//! Stand-in for the shared-memory path when cortex is built without the
//! `shm` feature or for a system other than Linux: nothing opens, every
//! subscriber uses the socket path.

use bytes::Bytes;

/// See the `shm` module: the ZeroMQ subscription of a shared-memory subscriber.
pub(crate) fn shm_topic(topic: &str) -> Vec<u8> {
    let mut frame = b"\0cortex.shm\0".to_vec();
    frame.extend_from_slice(topic.as_bytes());
    frame
}

/// Nothing to clean up without shared memory.
pub(crate) fn remove_dead() {}

/// Why the shared-memory path is not used.
#[derive(Debug, thiserror::Error)]
#[error("cortex was built without shared memory (the `shm` feature, Linux only)")]
pub(crate) struct Unavailable;

impl Unavailable {
    /// Never: there are no shared-memory slots.
    pub(crate) fn slots_taken(&self) -> bool {
        false
    }
}

/// Never built.
#[derive(Debug, thiserror::Error)]
#[error("shared memory is not built in")]
pub(crate) struct SendFailed;

impl From<String> for SendFailed {
    fn from(_: String) -> Self {
        SendFailed
    }
}

/// Never exists.
#[derive(Debug)]
pub(crate) enum ShmSender {}

impl ShmSender {
    pub(crate) fn create(
        _address: &str,
        _small_queue: usize,
        _large_queue: usize,
    ) -> Result<Self, Unavailable> {
        Err(Unavailable)
    }
    pub(crate) fn connect_new_subscribers(&self) {
        match *self {}
    }
    pub(crate) fn send(&self, _frames: &[&[u8]]) -> Result<usize, SendFailed> {
        match *self {}
    }
}

/// Never exists.
#[derive(Debug)]
pub(crate) enum LoanBuf {}

impl LoanBuf {
    pub(crate) fn bytes(&self) -> &[u8] {
        match *self {}
    }
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        match *self {}
    }
}

impl ShmSender {
    pub(crate) fn loan(&self, _len: usize) -> Result<LoanBuf, SendFailed> {
        match *self {}
    }
    pub(crate) fn send_loan(
        &self,
        _loan: LoanBuf,
        _header: &[u8],
        _metadata: &[u8],
    ) -> Result<Result<usize, SendFailed>, Box<LoanBuf>> {
        match *self {}
    }
}

/// Never exists.
#[derive(Debug)]
pub(crate) enum ShmReceiver {}

impl ShmReceiver {
    pub(crate) fn open(
        _address: &str,
        _copied: std::sync::Arc<std::sync::atomic::AtomicU64>,
    ) -> Result<Self, Unavailable> {
        Err(Unavailable)
    }
    pub(crate) fn has_publisher(&self) -> bool {
        match *self {}
    }
    pub(crate) fn poll_recv(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<Bytes>> {
        match *self {}
    }
}

pub(crate) mod layout {
    use bytes::Bytes;

    /// Never called without shared memory.
    pub(crate) fn frames(_sample: &Bytes) -> Result<Vec<Bytes>, std::convert::Infallible> {
        Ok(Vec::new())
    }
}
