//! The Rust half of a mixed Python/Rust system (book: Python interop): a
//! Rust node publishing, at 10 Hz, a standard `ImageMessage` on
//! `/rust/camera` and the user-defined `robot_msgs.WheelCommand` on
//! `/rust/wheels`, for a Python cortex node to subscribe to.
//!
//! ```sh
//! cargo run -p cortex-examples --example python_talker
//! cd examples/python && python3 listener.py        # the Python cortex node
//! ```

mod robot_msgs;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use cortex::messages::ImageMessage;
use cortex::prelude::*;
use robot_msgs::WheelCommand;

const CAMERA: Topic<ImageMessage> = Topic::new("/rust/camera");
const WHEELS: Topic<WheelCommand> = Topic::new("/rust/wheels");

static TICKS: AtomicU64 = AtomicU64::new(0);

#[timer(hz = 10, publishes(CAMERA, WHEELS))]
async fn tick(ctx: Ctx) -> cortex::Result<()> {
    let n = TICKS.fetch_add(1, Ordering::Relaxed);
    let pixels = NdArray::full([48, 64], (n % 256) as u8).expect("a fixed shape");
    ctx.publish(
        &CAMERA,
        ImageMessage {
            data: pixels.into(),
            encoding: "mono8".into(),
            width: 64,
            height: 48,
        },
    )?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    ctx.publish(
        &WHEELS,
        WheelCommand {
            left_rad_s: 0.5,
            right_rad_s: -0.5,
            issued_at_ns: now.as_nanos() as u64,
        },
    )?;
    Ok(())
}

#[cortex::main(name = "rust_talker")]
async fn main() {}
