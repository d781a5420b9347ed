//! A publisher's side: writing messages (and loans) into samples.

use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use iceoryx2::port::notifier::Notifier;
use iceoryx2::port::publisher::Publisher as IoxPublisher;
use iceoryx2::port::update_connections::UpdateConnections;
use iceoryx2::prelude::*;
use iceoryx2::sample_mut_uninit::SampleMutUninit;
use iceoryx2::service::ipc_threadsafe::Service as Ipc;
use iceoryx2::service::port_factory::publish_subscribe;

use super::backing::Backed;
use super::{flat_mut, layout, services, unavailable, Line, Services, Unavailable, SMALL_SAMPLE};

/// A publisher's shared-memory side.
pub(crate) struct ShmSender {
    /// Samples up to [`SMALL_SAMPLE`].
    small: IoxPublisher<Ipc, [Line], ()>,
    /// Larger samples.
    large: IoxPublisher<Ipc, [Line], ()>,
    notifier: Notifier<Ipc>,
    /// Loans out now (see [`MAX_LOANS`]).
    loans: Arc<AtomicUsize>,
    backed: Mutex<Backed>,
    _services: Services,
}

impl std::fmt::Debug for ShmSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShmSender").finish_non_exhaustive()
    }
}

/// The publisher port of one lane: samples of `slot` bytes at first,
/// `MAX_LOANS` lent plus one for messages sent by copy, and a full queue
/// skips its subscriber (counted) rather than blocking.
fn lane_publisher(
    lane: &publish_subscribe::PortFactory<Ipc, [Line], ()>,
    slot: usize,
    strategy: AllocationStrategy,
) -> Result<IoxPublisher<Ipc, [Line], ()>, Unavailable> {
    lane.publisher_builder()
        .initial_max_slice_len(slot / layout::FRAME_ALIGN)
        .allocation_strategy(strategy)
        .max_loaned_samples(MAX_LOANS + 1)
        .backpressure_strategy(BackpressureStrategy::DiscardData)
        .create()
        .map_err(unavailable("creating the shared-memory publisher"))
}

/// Why a message did not go into shared memory (the publisher counts it in
/// `shared_memory_failures` and logs it; its shared-memory subscribers
/// miss the message and count the gap).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct SendFailed(pub(super) String);

impl From<String> for SendFailed {
    fn from(text: String) -> Self {
        SendFailed(text)
    }
}

impl ShmSender {
    /// The shared-memory side of the publisher at `address`, queueing up
    /// to `small_queue` small and `large_queue` large samples per
    /// subscriber (see [`SMALL_SAMPLE`]; each at most [`MAX_QUEUE`](super::MAX_QUEUE)).
    pub(crate) fn create(
        address: &str,
        small_queue: usize,
        large_queue: usize,
    ) -> Result<Self, Unavailable> {
        let services = services(address, true, small_queue, large_queue)?;
        let small = lane_publisher(&services.small, SMALL_SAMPLE, AllocationStrategy::Static)?;
        // Grows (by powers of two) to the largest message published.
        let large = lane_publisher(
            &services.large,
            2 * SMALL_SAMPLE,
            AllocationStrategy::PowerOfTwo,
        )?;
        let notifier = services
            .wake
            .notifier_builder()
            .create()
            .map_err(unavailable("creating the wake-up notifier"))?;
        Ok(ShmSender {
            small,
            large,
            notifier,
            loans: Arc::new(AtomicUsize::new(0)),
            backed: Mutex::default(),
            _services: services,
        })
    }

    /// The lane for a sample of `total` bytes.
    fn lane(&self, total: usize) -> &IoxPublisher<Ipc, [Line], ()> {
        if total <= SMALL_SAMPLE {
            &self.small
        } else {
            &self.large
        }
    }

    /// Makes sure pages back `payload` (a loaned sample) before anything
    /// writes it; see [`Backed`].
    fn back(&self, payload: &mut [MaybeUninit<u8>]) -> Result<(), SendFailed> {
        self.backed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .back(payload)
    }

    /// Connects to subscriber ports that appeared since the last call, so
    /// the next sample reaches them (called when a shared-memory
    /// subscription arrives on the socket).
    pub(crate) fn connect_new_subscribers(&self) {
        for lane in [&self.small, &self.large] {
            if let Err(e) = lane.update_connections() {
                tracing::debug!(error = ?e, "could not connect new shared-memory subscribers yet");
            }
        }
        if let Err(e) = self.notifier.update_connections() {
            tracing::debug!(error = ?e, "could not connect new wake-up listeners yet");
        }
    }

    /// Writes one message (its frames: header, metadata, arrays) into a
    /// sample, sends it to every shared-memory subscriber whose queue has
    /// room and wakes them. Returns how many it reached.
    pub(crate) fn send(&self, frames: &[&[u8]]) -> Result<usize, SendFailed> {
        let lengths: Vec<usize> = frames.iter().map(|f| f.len()).collect();
        let (offsets, total) = layout::plan(&lengths)
            .ok_or_else(|| SendFailed("the message is too large to lay out".into()))?;
        let mut sample = self
            .lane(total)
            .loan_slice_uninit(total / layout::FRAME_ALIGN)
            .map_err(|e| {
                SendFailed(format!("no shared memory for a {total}-byte sample: {e:?}"))
            })?;
        let out = flat_mut(sample.payload_mut());
        self.back(out)?;
        let table = offsets.first().copied().unwrap_or(total);
        let mut head = vec![0u8; table];
        layout::write_table(&mut head, &offsets, &lengths);
        write(&mut out[..table], &head);
        let mut at = table;
        for (frame, &offset) in frames.iter().zip(&offsets) {
            zero(&mut out[at..offset]);
            write(&mut out[offset..offset + frame.len()], frame);
            at = offset + frame.len();
        }
        zero(&mut out[at..]);
        // SAFETY: every byte of the payload was written above: the table,
        // each frame, and the padding between and after them (zeroed).
        let sample = unsafe { sample.assume_init() };
        let reached = sample
            .send()
            .map_err(|e| SendFailed(format!("sending the sample: {e:?}")))?;
        // A listener that cannot take another wake-up has one pending.
        if let Err(e) = self.notifier.notify() {
            tracing::debug!(error = ?e, "a shared-memory wake-up was not delivered");
        }
        Ok(reached)
    }
}

/// Most loans a publisher has out at once; one more sample is kept for
/// messages sent by copy. Beyond this, `loan_array` lends heap memory.
const MAX_LOANS: usize = 4;

/// Room before a loaned array for the frame table, the header and the
/// metadata; a message whose metadata does not fit is sent by copy.
pub(crate) const LOAN_HEAD: usize = 4096;

/// A sample lent to the application before publishing: it writes the
/// array at [`LOAN_HEAD`] directly, and publishing then writes only the
/// table, header and metadata in front of it (no copy of the array).
pub(crate) struct LoanBuf {
    /// `None` only once sent.
    sample: Option<SampleMutUninit<Ipc, [MaybeUninit<Line>], ()>>,
    array: *mut u8,
    len: usize,
    /// The publisher's count of loans outstanding.
    loans: Arc<AtomicUsize>,
}

impl Drop for LoanBuf {
    fn drop(&mut self) {
        self.loans.fetch_sub(1, Ordering::Relaxed);
    }
}

// SAFETY: `array` points into `sample`'s payload, which this struct owns
// and which no one else can reach until it is sent (consuming the struct);
// `&LoanBuf` only gives `&[u8]` of it, `&mut LoanBuf` only `&mut [u8]`, so
// the usual borrow rules keep access exclusive or shared-read-only.
unsafe impl Send for LoanBuf {}
// SAFETY: as above: shared references only read the array bytes.
unsafe impl Sync for LoanBuf {}

impl LoanBuf {
    /// The array's bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        // SAFETY: `array..array+len` lies inside the sample's payload (see
        // `ShmSender::loan`) and stays valid while `self` lives. The payload
        // is a mapping of a shared-memory file: every byte has a value
        // (zero, or left by an earlier sample), so reading it as `u8` is
        // defined even before the application writes it.
        unsafe { std::slice::from_raw_parts(self.array, self.len) }
    }

    /// The array's bytes, writable.
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `bytes`; `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.array, self.len) }
    }
}

impl std::fmt::Debug for LoanBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoanBuf")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl ShmSender {
    /// A sample with room for a `len`-byte array at [`LOAN_HEAD`], unless
    /// [`MAX_LOANS`] are out already.
    pub(crate) fn loan(&self, len: usize) -> Result<LoanBuf, SendFailed> {
        if self.loans.fetch_add(1, Ordering::Relaxed) >= MAX_LOANS {
            self.loans.fetch_sub(1, Ordering::Relaxed);
            return Err(SendFailed(format!("{MAX_LOANS} loans are out already")));
        }
        let loans = Arc::clone(&self.loans);
        let give_back = || {
            loans.fetch_sub(1, Ordering::Relaxed);
        };
        let Some(total) = LOAN_HEAD
            .checked_add(len)
            .and_then(|n| n.checked_next_multiple_of(layout::FRAME_ALIGN))
        else {
            give_back();
            return Err(SendFailed("the array is too large".into()));
        };
        let mut sample = match self
            .lane(total)
            .loan_slice_uninit(total / layout::FRAME_ALIGN)
        {
            Ok(sample) => sample,
            Err(e) => {
                give_back();
                return Err(SendFailed(format!(
                    "no shared memory for a {total}-byte sample: {e:?}"
                )));
            }
        };
        let payload = flat_mut(sample.payload_mut());
        if let Err(e) = self.back(payload) {
            give_back();
            return Err(e);
        }
        let array = payload[LOAN_HEAD..].as_mut_ptr().cast::<u8>();
        Ok(LoanBuf {
            sample: Some(sample),
            array,
            len,
            loans: Arc::clone(&self.loans),
        })
    }

    /// Sends a loaned sample as the message `[header, metadata, array]`:
    /// writes the table, header and metadata in front of the array. Gives
    /// the loan back when the metadata does not fit in [`LOAN_HEAD`].
    pub(crate) fn send_loan(
        &self,
        mut loan: LoanBuf,
        header: &[u8],
        metadata: &[u8],
    ) -> Result<Result<usize, SendFailed>, Box<LoanBuf>> {
        let lengths = [header.len(), metadata.len(), loan.len];
        // Header and metadata where `plan` puts them; the array where the
        // application wrote it.
        let Some((mut offsets, _)) = layout::plan(&[header.len(), metadata.len(), 0]) else {
            return Err(Box::new(loan));
        };
        let end = offsets[1] + metadata.len();
        if end > LOAN_HEAD {
            return Err(Box::new(loan));
        }
        offsets[2] = LOAN_HEAD;
        let len = loan.len;
        let Some(mut sample) = loan.sample.take() else {
            return Ok(Err(SendFailed("the loan was sent already".into())));
        };
        let out = flat_mut(sample.payload_mut());
        let mut head = vec![0u8; LOAN_HEAD];
        layout::write_table(&mut head, &offsets, &lengths);
        head[offsets[0]..offsets[0] + header.len()].copy_from_slice(header);
        head[offsets[1]..end].copy_from_slice(metadata);
        write(&mut out[..LOAN_HEAD], &head);
        zero(&mut out[LOAN_HEAD + len..]);
        drop(loan);
        // SAFETY: the head was written just above, the tail padding zeroed,
        // and the array region holds the application's bytes (a shared
        // mapping: defined values, see `LoanBuf::bytes`).
        let sample = unsafe { sample.assume_init() };
        let reached = match sample.send() {
            Ok(n) => n,
            Err(e) => return Ok(Err(SendFailed(format!("sending the sample: {e:?}")))),
        };
        if let Err(e) = self.notifier.notify() {
            tracing::debug!(error = ?e, "a shared-memory wake-up was not delivered");
        }
        Ok(Ok(reached))
    }
}

/// Copies `src` into the uninitialised `dst` (same length). Frames from
/// [`STREAM_MIN`] to [`STREAM_MAX`] bytes go around the cache (see
/// [`stream`]): +15–20 % publishing 1 MiB arrays on the project's VM;
/// larger ones `memcpy` already streams.
fn write(dst: &mut [MaybeUninit<u8>], src: &[u8]) {
    assert_eq!(dst.len(), src.len(), "layout planned these lengths");
    #[cfg(target_arch = "x86_64")]
    if (STREAM_MIN..STREAM_MAX).contains(&src.len()) {
        stream(dst, src);
        return;
    }
    copy(dst, src);
}

/// `write` for any length: a plain `memcpy`.
fn copy(dst: &mut [MaybeUninit<u8>], src: &[u8]) {
    assert_eq!(dst.len(), src.len(), "same lengths");
    // SAFETY: `dst` and `src` have the same length (checked above); `dst`
    // is memory this loan owns exclusively, so they cannot overlap; `u8`
    // and `MaybeUninit<u8>` have the same layout.
    unsafe {
        std::ptr::copy_nonoverlapping(src.as_ptr(), dst.as_mut_ptr().cast::<u8>(), src.len());
    }
}

/// Frames from this size up are copied with non-temporal stores…
#[cfg(target_arch = "x86_64")]
const STREAM_MIN: usize = 256 << 10;
/// …up to this size (glibc's `memcpy` streams large copies by itself).
#[cfg(target_arch = "x86_64")]
const STREAM_MAX: usize = 4 << 20;

/// Copies with non-temporal (streaming) stores: the bytes are for another
/// process, so they need not pass through this core's cache, and a
/// streaming store does not first read each destination line as an
/// ordinary store does. Ends with a store fence, so the bytes are visible
/// before the sample is handed over (streaming stores are weakly ordered).
#[cfg(target_arch = "x86_64")]
fn stream(dst: &mut [MaybeUninit<u8>], src: &[u8]) {
    use std::arch::x86_64::{__m128i, _mm_loadu_si128, _mm_sfence, _mm_stream_si128};
    assert_eq!(dst.len(), src.len(), "same lengths");
    // Up to the first 16-byte boundary of `dst`, and the tail after the
    // last whole 64 bytes, by plain copies.
    let head = dst.as_ptr().align_offset(16).min(dst.len());
    let (dst_head, dst) = dst.split_at_mut(head);
    let (src_head, src) = src.split_at(head);
    copy(dst_head, src_head);
    let body = dst.len() / 64 * 64;
    let (dst_body, dst_tail) = dst.split_at_mut(body);
    let (src_body, src_tail) = src.split_at(body);
    for (d, s) in dst_body.chunks_exact_mut(64).zip(src_body.chunks_exact(64)) {
        let d = d.as_mut_ptr().cast::<__m128i>();
        let s = s.as_ptr().cast::<__m128i>();
        // SAFETY: `d` and `s` each point to 64 bytes of their slices
        // (exact chunks); `d` is 16-byte aligned (the body starts at a
        // 16-byte boundary and advances by 64); `s` is read unaligned;
        // SSE2, which these instructions need, is part of x86_64.
        unsafe {
            for i in 0..4 {
                _mm_stream_si128(d.add(i), _mm_loadu_si128(s.add(i)));
            }
        }
    }
    copy(dst_tail, src_tail);
    // SAFETY: a store fence has no preconditions (SSE, part of x86_64).
    unsafe { _mm_sfence() };
}

fn zero(dst: &mut [MaybeUninit<u8>]) {
    for b in dst {
        b.write(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every length around the edges (head, 64-byte body, tail) and every
    /// destination alignment, against the source.
    #[test]
    fn write_copies_exactly_whatever_the_length_and_alignment() {
        let src: Vec<u8> = (0..(STREAM_MIN_FOR_TEST + 300))
            .map(|i| (i * 7 + 3) as u8)
            .collect();
        let mut dst = vec![MaybeUninit::<u8>::uninit(); src.len() + 64];
        let lengths = [0, 1, 15, 16, 17, 63, 64, 65, 200, 4096];
        for len in lengths.into_iter().chain([STREAM_MIN_FOR_TEST - 1]) {
            for offset in [0, 1, 7, 16, 33] {
                let src = &src[offset..offset + len];
                let dst = &mut dst[offset..offset + len];
                write(dst, src);
                #[cfg(target_arch = "x86_64")]
                stream(dst, src);
                // SAFETY: `write` (and `stream`) wrote every byte of `dst`.
                let got: Vec<u8> = dst.iter().map(|b| unsafe { b.assume_init() }).collect();
                assert_eq!(got, src, "length {len}, offset {offset}");
            }
        }
        for offset in [0, 5, 48] {
            let len = STREAM_MIN_FOR_TEST + 100;
            let src = &src[offset..offset + len];
            let dst = &mut dst[offset..offset + len];
            write(dst, src);
            // SAFETY: `write` wrote every byte of `dst`.
            let got: Vec<u8> = dst.iter().map(|b| unsafe { b.assume_init() }).collect();
            assert!(got == src, "a streamed {len}-byte frame at offset {offset}");
        }
    }

    #[cfg(target_arch = "x86_64")]
    const STREAM_MIN_FOR_TEST: usize = STREAM_MIN;
    #[cfg(not(target_arch = "x86_64"))]
    const STREAM_MIN_FOR_TEST: usize = 256 << 10;
}
