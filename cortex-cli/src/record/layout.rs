//! How a cortex message is stored in a recording: the channels' message
//! encoding and the length-prefixed frames (see [the module above](super)).

use bytes::Bytes;

/// The channels' message encoding: cortex frames, length-prefixed.
pub(crate) const MESSAGE_ENCODING: &str = "cortex";
/// The schema records' encoding.
pub(crate) const SCHEMA_ENCODING: &str = "jsonschema";

/// Replaces the contents of `out` with `frames` in the recorded layout:
/// `u32` LE frame count, then per frame `u32` LE length and bytes.
pub(crate) fn encode_frames(frames: &[Bytes], out: &mut Vec<u8>) {
    out.clear();
    out.reserve(4 + frames.iter().map(|f| 4 + f.len()).sum::<usize>());
    out.extend_from_slice(&(frames.len() as u32).to_le_bytes());
    for frame in frames {
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(frame);
    }
}

/// The frames of a recorded message (slices of `data`, no copy), or why
/// they cannot be read: a count or length past the end, or bytes left
/// over.
pub(crate) fn decode_frames(data: &Bytes) -> Result<Vec<Bytes>, String> {
    let u32_at = |at: usize| -> Result<usize, String> {
        data.get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .ok_or_else(|| format!("the message ends at byte {} inside a length", data.len()))
    };
    let count = u32_at(0)?;
    // Each frame takes at least its 4-byte length: a larger count lies.
    if count > data.len() / 4 {
        return Err(format!("it claims {count} frames in {} bytes", data.len()));
    }
    let mut frames = Vec::with_capacity(count);
    let mut at = 4;
    for i in 0..count {
        let len = u32_at(at)?;
        let end = (at + 4)
            .checked_add(len)
            .filter(|&end| end <= data.len())
            .ok_or_else(|| format!("frame {i} ({len} bytes) runs past the message's end"))?;
        frames.push(data.slice(at + 4..end));
        at = end;
    }
    if at != data.len() {
        return Err(format!("{} bytes follow the last frame", data.len() - at));
    }
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let frames = vec![
            Bytes::from_static(b"header"),
            Bytes::new(),
            Bytes::from(vec![7u8; 1000]),
        ];
        let mut data = Vec::new();
        encode_frames(&frames, &mut data);
        assert_eq!(decode_frames(&Bytes::from(data)).unwrap(), frames);
    }

    #[test]
    fn damaged_layouts_are_refused_not_panicked_on() {
        let mut data = Vec::new();
        encode_frames(&[Bytes::from_static(b"abc")], &mut data);
        for cut in 0..data.len() {
            assert!(decode_frames(&Bytes::copy_from_slice(&data[..cut])).is_err());
        }
        let mut longer = data.clone();
        longer.push(0);
        assert!(decode_frames(&Bytes::from(longer)).is_err());
        let lying = [u32::MAX.to_le_bytes(), 0u32.to_le_bytes()].concat();
        assert!(decode_frames(&Bytes::from(lying)).is_err());
        let long_frame = [1u32.to_le_bytes(), u32::MAX.to_le_bytes()].concat();
        assert!(decode_frames(&Bytes::from(long_frame)).is_err());
    }
}
