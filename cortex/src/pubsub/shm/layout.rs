//! How one message's frames sit in one shared-memory sample.
//!
//! ```text
//! 0      magic "CXS1" (4 bytes)
//! 4      frame count n, u32 little-endian
//! 8      n × (offset u64 LE, length u64 LE), offsets from the sample start
//! …      the frames: header, metadata, then one per array; each starts
//!        at a multiple of FRAME_ALIGN
//! ```
//!
//! The sample itself starts at a multiple of [`FRAME_ALIGN`] (the service's
//! payload alignment), so every array frame is aligned for any element type
//! and the subscriber's `NdArray` can borrow it in place.

use bytes::Bytes;

/// Alignment of the sample and of every frame in it.
pub(crate) const FRAME_ALIGN: usize = 64;

const MAGIC: &[u8; 4] = b"CXS1";
const FIXED: usize = 8;
const ENTRY: usize = 16;

/// Most frames a sample may describe (header, metadata and arrays): a
/// bound on the table a hostile sample could make the reader walk.
pub(crate) const MAX_FRAMES: usize = 4096;

fn align_up(n: usize) -> Option<usize> {
    n.checked_add(FRAME_ALIGN - 1)
        .map(|v| v / FRAME_ALIGN * FRAME_ALIGN)
}

/// Where each frame goes: `(offsets, total size)`, or `None` if the sizes
/// overflow `usize` or there are more than [`MAX_FRAMES`] frames.
pub(crate) fn plan(lengths: &[usize]) -> Option<(Vec<usize>, usize)> {
    if lengths.len() > MAX_FRAMES {
        return None;
    }
    let mut at = align_up(FIXED + ENTRY * lengths.len())?;
    let mut offsets = Vec::with_capacity(lengths.len());
    for &len in lengths {
        offsets.push(at);
        at = align_up(at.checked_add(len)?)?;
    }
    Some((offsets, at))
}

/// Writes the table of a planned sample into `out[..table]` (the frames
/// themselves are copied by the caller to `offsets`).
pub(crate) fn write_table(out: &mut [u8], offsets: &[usize], lengths: &[usize]) {
    out[..4].copy_from_slice(MAGIC);
    out[4..8].copy_from_slice(&(offsets.len() as u32).to_le_bytes());
    for (i, (off, len)) in offsets.iter().zip(lengths).enumerate() {
        let at = FIXED + i * ENTRY;
        out[at..at + 8].copy_from_slice(&(*off as u64).to_le_bytes());
        out[at + 8..at + 16].copy_from_slice(&(*len as u64).to_le_bytes());
    }
}

/// Why a sample could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum LayoutError {
    #[error("shared-memory sample of {0} bytes is too short for its frame table")]
    Short(usize),
    #[error("shared-memory sample does not start with the cortex magic")]
    Magic,
    #[error("shared-memory sample claims {0} frames (at most {MAX_FRAMES})")]
    TooManyFrames(usize),
    #[error("shared-memory sample frame {index} ({offset}+{len}) lies outside its {size} bytes")]
    OutOfBounds {
        index: usize,
        offset: u64,
        len: u64,
        size: usize,
    },
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

/// The frames of a sample, as views of it (no copy). Checks the table
/// against the sample's size: a corrupt sample is an error, never a panic.
pub(crate) fn frames(sample: &Bytes) -> Result<Vec<Bytes>, LayoutError> {
    let size = sample.len();
    if size < FIXED {
        return Err(LayoutError::Short(size));
    }
    if &sample[..4] != MAGIC {
        return Err(LayoutError::Magic);
    }
    let n = u32::from_le_bytes([sample[4], sample[5], sample[6], sample[7]]) as usize;
    if n > MAX_FRAMES {
        return Err(LayoutError::TooManyFrames(n));
    }
    if size < FIXED + n * ENTRY {
        return Err(LayoutError::Short(size));
    }
    (0..n)
        .map(|index| {
            let at = FIXED + index * ENTRY;
            let (offset, len) = (u64_at(sample, at), u64_at(sample, at + 8));
            let end = offset.checked_add(len).filter(|&e| e <= size as u64);
            match end {
                Some(end) => Ok(sample.slice(offset as usize..end as usize)),
                None => Err(LayoutError::OutOfBounds {
                    index,
                    offset,
                    len,
                    size,
                }),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(frames_in: &[&[u8]]) -> Bytes {
        let lengths: Vec<usize> = frames_in.iter().map(|f| f.len()).collect();
        let (offsets, total) = plan(&lengths).expect("plan");
        let mut out = vec![0u8; total];
        write_table(&mut out, &offsets, &lengths);
        for (f, off) in frames_in.iter().zip(&offsets) {
            out[*off..*off + f.len()].copy_from_slice(f);
        }
        Bytes::from(out)
    }

    #[test]
    fn frames_round_trip_at_aligned_offsets() {
        let header = [7u8; 24];
        let meta = b"\x93\x01\x02\x03";
        let big = vec![9u8; 1000];
        let sample = build(&[&header, meta, &[], &big]);
        let got = frames(&sample).expect("frames");
        assert_eq!(got.len(), 4);
        assert_eq!(&got[0][..], &header);
        assert_eq!(&got[1][..], meta);
        assert!(got[2].is_empty());
        assert_eq!(&got[3][..], &big[..]);
        let (offsets, _) = plan(&[24, 4, 0, 1000]).expect("plan");
        assert!(offsets.iter().all(|o| o % FRAME_ALIGN == 0));
    }

    #[test]
    fn a_corrupt_table_is_an_error_not_a_panic() {
        let good = build(&[b"abc", b"defg"]);
        assert_eq!(
            frames(&Bytes::from_static(b"CXS")),
            Err(LayoutError::Short(3))
        );
        assert_eq!(
            frames(&Bytes::from_static(b"NOPE\0\0\0\0")),
            Err(LayoutError::Magic)
        );
        let mut many = good.to_vec();
        many[4..8].copy_from_slice(&(MAX_FRAMES as u32 + 1).to_le_bytes());
        assert_eq!(
            frames(&Bytes::from(many)),
            Err(LayoutError::TooManyFrames(MAX_FRAMES + 1))
        );
        let mut short = good.to_vec();
        short[4..8].copy_from_slice(&200u32.to_le_bytes());
        assert!(matches!(
            frames(&Bytes::from(short)),
            Err(LayoutError::Short(_))
        ));
        for (offset, len) in [(u64::MAX, 1), (8, u64::MAX), (0, good.len() as u64 + 1)] {
            let mut bad = good.to_vec();
            bad[8..16].copy_from_slice(&offset.to_le_bytes());
            bad[16..24].copy_from_slice(&len.to_le_bytes());
            assert!(
                matches!(
                    frames(&Bytes::from(bad)),
                    Err(LayoutError::OutOfBounds { index: 0, .. })
                ),
                "offset {offset} len {len}"
            );
        }
    }

    #[test]
    fn oversized_plans_are_refused() {
        assert_eq!(plan(&[usize::MAX]), None);
        assert_eq!(plan(&vec![0; MAX_FRAMES + 1]), None);
    }
}
