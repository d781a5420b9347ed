//! A tour of the message layer: derive a message, encode it into wire
//! frames, decode it back, and look at what travelled.
//!
//! Run: `cargo run -p cortex-examples --example codec_tour`

use cortex::messages::{ImageMessage, PoseMessage};
use cortex::prelude::*;

/// A camera frame: the pixels ride as their own ZeroMQ frame.
#[derive(Message, Debug, Clone, PartialEq)]
pub struct Image {
    pub data: NdArray<u8>,
    pub encoding: String,
    pub width: u32,
    pub height: u32,
    pub exposure_us: Option<u32>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (h, w) = (1080, 1920);
    let pixels: Vec<u8> = (0..h * w * 3).map(|i| (i % 251) as u8).collect();
    let img = Image {
        data: NdArray::new(pixels, [h, w, 3])?,
        encoding: "rgb8".into(),
        width: w as u32,
        height: h as u32,
        exposure_us: Some(8000),
    };

    println!("{}\n", Image::schema());

    let encoded = img.encode(0)?;
    println!(
        "encoded: header {} B, metadata {} B, {} out-of-band frame(s): {:?} B",
        cortex::Header::LEN,
        encoded.metadata.len(),
        encoded.oob.len(),
        encoded.oob.iter().map(|b| b.len()).collect::<Vec<_>>()
    );
    println!(
        "  the OOB frame is the array's own memory (no copy): {}",
        encoded.oob[0].as_ptr() == img.data.as_ptr()
    );

    let frames = encoded.to_frames();
    let (back, header) = Image::decode(&frames)?;
    println!(
        "decoded: {}x{} {} exposure {:?}, seq {}, fingerprint 0x{:016x}",
        back.width,
        back.height,
        back.encoding,
        back.exposure_us,
        header.sequence,
        header.fingerprint
    );
    println!(
        "  pixel [540, 960] = {:?}, borrowed from the frame: {}",
        [
            back.data[[540, 960, 0]],
            back.data[[540, 960, 1]],
            back.data[[540, 960, 2]]
        ],
        back.data.is_borrowed()
    );
    assert_eq!(back, img);

    // Standard messages speak the Python cortex's bytes and fingerprints.
    let pose = PoseMessage {
        position: NdArray::from_vec(vec![1.0f64, 2.0, 3.0]).into(),
        orientation: NdArray::from_vec(vec![0.0f64, 0.0, 0.0, 1.0]).into(),
        frame_id: "map".into(),
        child_frame_id: "base".into(),
    };
    let (pose_back, _) = PoseMessage::decode(&pose.encode(1)?.to_frames())?;
    println!("\n{}", PoseMessage::schema());
    println!("round-tripped: {pose_back:?}");

    // A mismatched type is refused with both names and fingerprints.
    let err = ImageMessage::decode(&frames).unwrap_err();
    println!("\ndecoding an Image as ImageMessage fails as it should:\n  {err}");
    Ok(())
}
