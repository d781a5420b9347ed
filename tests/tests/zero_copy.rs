//! Where zero-copy is promised, the decoded array *is* the received frame;
//! where the frame is misaligned, it is copied exactly once into aligned
//! memory.

use bytes::Bytes;
use cortex::prelude::*;

#[derive(Message, Debug, PartialEq)]
struct Cloud {
    points: NdArray<f32>,
    mask: NdArray<bool>,
}

/// `frames` with each OOB frame moved to `offset` bytes past an 8-aligned
/// address (by slicing a larger buffer: the slice keeps the new address).
fn shifted(frames: &[Bytes], offset: usize) -> Vec<Bytes> {
    let mut out = frames[..2].to_vec();
    for f in &frames[2..] {
        let mut buf = vec![0u8; f.len() + 16];
        buf[offset..offset + f.len()].copy_from_slice(f);
        let owned = Bytes::from(buf);
        // The allocator returns at least 8-aligned memory (glibc: 16).
        assert_eq!(owned.as_ptr() as usize % 8, 0);
        out.push(owned.slice(offset..offset + f.len()));
    }
    out
}

fn cloud() -> Cloud {
    Cloud {
        points: NdArray::new((0..300).map(|i| i as f32 * 0.5).collect(), [100, 3]).unwrap(),
        mask: NdArray::from_vec((0..100).map(|i| i % 3 == 0).collect()),
    }
}

#[test]
fn aligned_frames_are_borrowed() {
    let msg = cloud();
    let frames = shifted(&msg.encode(0).unwrap().to_frames(), 0);
    let (back, _) = Cloud::decode(&frames).unwrap();
    assert_eq!(back, msg);
    assert!(back.points.is_borrowed() && back.mask.is_borrowed());
    assert_eq!(back.points.as_ptr() as *const u8, frames[2].as_ptr());
    assert_eq!(back.mask.as_ptr() as *const u8, frames[3].as_ptr());
}

#[test]
fn misaligned_frames_are_copied_once_and_stay_correct() {
    let msg = cloud();
    for offset in [1, 2, 3, 5] {
        let frames = shifted(&msg.encode(0).unwrap().to_frames(), offset);
        let (back, _) = Cloud::decode(&frames).unwrap();
        assert_eq!(back, msg, "offset {offset}");
        assert!(
            !back.points.is_borrowed(),
            "f32 at offset {offset} must be copied"
        );
        assert_eq!(
            back.points.as_ptr() as usize % std::mem::align_of::<f32>(),
            0
        );
        // bool has alignment 1: still borrowed.
        assert!(back.mask.is_borrowed());
    }
}

#[test]
fn sending_shares_the_array_memory() {
    let msg = cloud();
    let enc = msg.encode(0).unwrap();
    assert_eq!(enc.oob[0].as_ptr(), msg.points.as_ptr() as *const u8);
    assert_eq!(enc.oob[1].as_ptr(), msg.mask.as_ptr() as *const u8);
}

#[test]
fn republishing_a_received_array_shares_the_frame() {
    let msg = cloud();
    let frames = shifted(&msg.encode(0).unwrap().to_frames(), 0);
    let (back, _) = Cloud::decode(&frames).unwrap();
    let again = back.encode(1).unwrap();
    assert_eq!(again.oob[0].as_ptr(), frames[2].as_ptr());
}
