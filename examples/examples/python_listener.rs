//! The Rust half of a mixed Python/Rust system (book: Python interop): a
//! Rust node whose `#[subscribe]` handlers receive what a Python cortex
//! node publishes, a standard `ImageMessage` on `/camera` and the
//! user-defined `robot_msgs.WheelCommand` on `/wheels`.
//!
//! ```sh
//! cd examples/python && python3 talker.py          # the Python cortex node
//! cargo run -p cortex-examples --example python_listener
//! ```

mod robot_msgs;

use cortex::messages::ImageMessage;
use cortex::prelude::*;
use robot_msgs::WheelCommand;

#[subscribe("/camera")]
async fn on_image(image: ImageMessage, header: Header) {
    // The pixels borrow the received frame; a Python peer may send any
    // dtype, so the standard message carries a `DynArray`.
    let mean = image.data.get::<u8>().map_or(f64::NAN, |pixels| {
        pixels.iter().map(|&p| f64::from(p)).sum::<f64>() / pixels.len().max(1) as f64
    });
    println!(
        "/camera seq {}: {}x{} {} ({}), mean {mean:.1}",
        header.sequence,
        image.width,
        image.height,
        image.encoding,
        image.data.dtype().as_str(),
    );
}

#[subscribe("/wheels")]
async fn on_wheels(command: WheelCommand, header: Header) {
    println!(
        "/wheels seq {}: left {:+.2} right {:+.2} rad/s",
        header.sequence, command.left_rad_s, command.right_rad_s
    );
}

#[cortex::main(name = "rust_listener")]
async fn main() {}
