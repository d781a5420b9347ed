//! Frames between cortex and libzmq, without copying payloads.
//!
//! * Sending: [`OutFrame::from_bytes`] hands a shared [`Bytes`] buffer to
//!   libzmq with `zmq_msg_init_data`; libzmq keeps a reference and releases
//!   it (from its I/O thread) when the frame has gone out. The array's memory
//!   is the frame's memory.
//! * Receiving: [`frame_to_bytes`] wraps a received `zmq::Message` in
//!   [`Bytes`] so decoded arrays can borrow it.

use std::ffi::c_void;

use bytes::Bytes;

/// A received frame as shared bytes (no copy).
pub fn frame_to_bytes(msg: zmq::Message) -> Bytes {
    Bytes::from_owner(ZmqFrame(msg))
}

struct ZmqFrame(zmq::Message);

impl AsRef<[u8]> for ZmqFrame {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// One outgoing frame that owns its payload without having copied it.
pub struct OutFrame {
    msg: zmq_sys::zmq_msg_t,
}

impl std::fmt::Debug for OutFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutFrame").finish_non_exhaustive()
    }
}

/// Called by libzmq, possibly on its I/O thread, when it no longer needs the
/// data: drops the `Bytes` handle that kept the data alive.
unsafe extern "C" fn release_bytes(_data: *mut c_void, hint: *mut c_void) {
    // SAFETY: `hint` is the `Box<Bytes>` leaked in `from_bytes`; libzmq calls
    // this exactly once per message. `Bytes` is `Send`, so dropping it on
    // another thread is fine.
    drop(unsafe { Box::from_raw(hint.cast::<Bytes>()) });
}

impl OutFrame {
    /// Wraps `data` for sending; the payload is not copied.
    pub fn from_bytes(data: Bytes) -> Self {
        let mut msg = zmq_sys::zmq_msg_t::default();
        let rc = if data.is_empty() {
            // SAFETY: `msg` is a valid, writable zmq_msg_t.
            unsafe { zmq_sys::zmq_msg_init(&mut msg) }
        } else {
            let ptr = data.as_ptr() as *mut c_void;
            let len = data.len();
            let hint = Box::into_raw(Box::new(data)).cast::<c_void>();
            // SAFETY: `ptr..ptr+len` stays valid and unchanged while `hint`
            // (the owning `Bytes`) lives; libzmq never writes to it and frees
            // `hint` through `release_bytes` exactly once. With a non-null
            // free function, zmq_msg_init_data cannot fail.
            unsafe { zmq_sys::zmq_msg_init_data(&mut msg, ptr, len, Some(release_bytes), hint) }
        };
        if rc != 0 {
            // Only ENOMEM inside libzmq; abort like the allocator would
            // rather than send a half-initialised message.
            std::alloc::handle_alloc_error(std::alloc::Layout::new::<zmq_sys::zmq_msg_t>());
        }
        OutFrame { msg }
    }

    /// A copy of small data (topic, header, metadata) as a frame. Cheaper
    /// than sharing for small payloads: libzmq stores up to 33 bytes inline.
    pub fn copy_from_slice(data: &[u8]) -> Self {
        let mut msg = zmq_sys::zmq_msg_t::default();
        // SAFETY: `msg` is a valid, writable zmq_msg_t; on success
        // zmq_msg_data points at `data.len()` writable bytes owned by `msg`.
        unsafe {
            if zmq_sys::zmq_msg_init_size(&mut msg, data.len()) != 0 {
                // Out of memory inside libzmq: abort like the allocator would.
                std::alloc::handle_alloc_error(
                    std::alloc::Layout::array::<u8>(data.len())
                        .unwrap_or(std::alloc::Layout::new::<u8>()),
                );
            }
            std::ptr::copy_nonoverlapping(
                data.as_ptr(),
                zmq_sys::zmq_msg_data(&mut msg).cast::<u8>(),
                data.len(),
            );
        }
        OutFrame { msg }
    }

    /// The address of the payload libzmq will send.
    pub fn data_ptr(&mut self) -> *const u8 {
        // SAFETY: `self.msg` was initialised in `from_bytes` and not closed.
        unsafe { zmq_sys::zmq_msg_data(&mut self.msg) as *const u8 }
    }

    /// The payload length.
    pub fn len(&self) -> usize {
        // SAFETY: as in `data_ptr`.
        unsafe { zmq_sys::zmq_msg_size(&self.msg) }
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sends the frame on `socket` with zmq `flags` (`SNDMORE`,
    /// `DONTWAIT`). On error the frame is handed back, so `EAGAIN` can be
    /// retried without rebuilding it.
    pub fn send(mut self, socket: &mut zmq::Socket, flags: i32) -> Result<(), (zmq::Error, Self)> {
        // SAFETY: `self.msg` is initialised; `socket.as_mut_ptr()` is a live
        // socket owned by the caller, used from this thread only. On success
        // libzmq takes the content and leaves `msg` empty; either way `msg`
        // remains valid to close in `Drop`.
        let rc = unsafe { zmq_sys::zmq_msg_send(&mut self.msg, socket.as_mut_ptr(), flags) };
        if rc == -1 {
            // SAFETY: reads the calling thread's zmq errno.
            let errno = unsafe { zmq_sys::zmq_errno() };
            Err((zmq::Error::from_raw(errno), self))
        } else {
            Ok(())
        }
    }
}

impl Drop for OutFrame {
    fn drop(&mut self) {
        // SAFETY: `msg` is initialised (possibly emptied by a send); closing
        // releases our reference, calling `release_bytes` if it was the last.
        unsafe { zmq_sys::zmq_msg_close(&mut self.msg) };
    }
}

// SAFETY: a zmq_msg_t is plain data plus a reference-counted, thread-safe
// content block; libzmq allows a message to be moved between threads (not
// shared). `OutFrame` has no `&self` methods that touch libzmq.
unsafe impl Send for OutFrame {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prelude::*;

    #[derive(crate::Message)]
    struct Image {
        data: NdArray<u8>,
    }

    #[test]
    fn send_hands_the_array_memory_to_libzmq() {
        let img = Image {
            data: NdArray::new(vec![7u8; 1920 * 1080 * 3], [1080, 1920, 3]).unwrap(),
        };
        let enc = img.encode(0).unwrap();
        let mut frame = OutFrame::from_bytes(enc.oob[0].clone());
        assert_eq!(frame.data_ptr(), img.data.as_ptr(), "same memory, no copy");
        assert_eq!(frame.len(), 1920 * 1080 * 3);
    }

    #[test]
    fn round_trip_over_zmq_borrows_the_received_frame() {
        let ctx = zmq::Context::new();
        let mut tx = ctx.socket(zmq::PAIR).unwrap();
        let rx = ctx.socket(zmq::PAIR).unwrap();
        rx.bind("inproc://frame-test").unwrap();
        tx.connect("inproc://frame-test").unwrap();
        let img = Image {
            data: NdArray::new(
                (0..1920 * 1080 * 3).map(|i| i as u8).collect(),
                [1080, 1920, 3],
            )
            .unwrap(),
        };
        let enc = img.encode(3).unwrap();
        OutFrame::copy_from_slice(&enc.header.to_bytes())
            .send(&mut tx, zmq::SNDMORE)
            .unwrap();
        OutFrame::copy_from_slice(&enc.metadata)
            .send(&mut tx, zmq::SNDMORE)
            .unwrap();
        OutFrame::from_bytes(enc.oob[0].clone())
            .send(&mut tx, 0)
            .unwrap();
        drop(enc);

        let frames: Vec<Bytes> = (0..3)
            .map(|_| frame_to_bytes(rx.recv_msg(0).unwrap()))
            .collect();
        let (back, header) = Image::decode(&frames).unwrap();
        assert_eq!(header.sequence, 3);
        assert_eq!(back.data, img.data);
        // Large frames are 8-aligned by libzmq, so u8 (and wider) borrow.
        assert!(back.data.is_borrowed());
        assert_eq!(
            back.data.as_ptr(),
            frames[2].as_ptr(),
            "decoded array is the received frame"
        );
    }

    #[test]
    fn the_release_callback_frees_after_send() {
        let data = Bytes::from(vec![1u8; 100]);
        let frame = OutFrame::from_bytes(data.clone());
        assert!(!data.is_unique(), "the frame holds a reference");
        drop(frame);
        assert!(data.is_unique(), "closing the frame released it");
    }
}

#[cfg(test)]
mod length_tests {
    use super::*;

    #[test]
    fn length_needs_only_a_shared_reference() {
        let frame = OutFrame::copy_from_slice(b"abc");
        let shared: &OutFrame = &frame;
        assert_eq!(shared.len(), 3);
        assert!(!shared.is_empty());
        assert!(OutFrame::copy_from_slice(b"").is_empty());
    }
}
