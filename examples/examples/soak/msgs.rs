//! The two streams of the soak: their message types, topics and sizes.

use cortex::prelude::*;

/// The 1 kHz stream: about 60 bytes of metadata per message (plus the
/// 24-byte header and the topic frame).
#[derive(Message, Debug, Clone)]
pub(crate) struct Small {
    /// The publisher's count of this topic's messages, which is also the
    /// header's sequence number (checked by the subscriber).
    pub(crate) counter: u64,
    /// Wall-clock ns at publish time.
    pub(crate) stamp_ns: u64,
    /// Filler up to the intended size (msgpack bin).
    pub(crate) filler: Vec<u8>,
}

/// The 30 Hz stream: a VGA RGB frame (921,600 bytes, its own ZeroMQ frame).
#[derive(Message, Debug, Clone)]
pub(crate) struct Frame {
    /// Every pixel byte is `counter % 256` (checked by the subscriber).
    pub(crate) pixels: NdArray<u8>,
    /// As [`Small::counter`].
    pub(crate) counter: u64,
}

pub(crate) const SMALL: &str = "/soak/small";
pub(crate) const VGA: &str = "/soak/vga";

/// Publish rates.
pub(crate) const SMALL_HZ: u64 = 1000;
pub(crate) const VGA_HZ: u64 = 30;

/// Filler bytes of a [`Small`]: with the two integers and the msgpack
/// framing, the metadata is about 60 bytes.
pub(crate) const FILLER: usize = 42;

/// VGA RGB.
pub(crate) const SHAPE: [usize; 3] = [480, 640, 3];

impl Small {
    pub(crate) fn new(counter: u64, stamp_ns: u64) -> Small {
        Small {
            counter,
            stamp_ns,
            filler: vec![0x5a; FILLER],
        }
    }
}

impl Frame {
    /// A freshly allocated frame, as a camera driver would hand over.
    pub(crate) fn new(counter: u64) -> Frame {
        let pixels = NdArray::full(SHAPE.to_vec(), shade(counter)).expect("a fixed, valid shape");
        Frame { pixels, counter }
    }

    /// Whether the pixels are what frame `counter` was sent with (shape,
    /// and the first, middle and last byte).
    pub(crate) fn intact(&self) -> bool {
        let data = self.pixels.as_slice();
        let want = shade(self.counter);
        self.pixels.shape() == SHAPE
            && [0, data.len() / 2, data.len().wrapping_sub(1)]
                .iter()
                .all(|&i| data.get(i) == Some(&want))
    }
}

fn shade(counter: u64) -> u8 {
    (counter % 256) as u8
}
