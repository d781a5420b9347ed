//! The `sensor` node: a 30 Hz timer publishing a camera frame and an IMU sample.

use std::sync::atomic::{AtomicU64, Ordering};

use cortex::prelude::*;

use super::msgs::{CameraFrame, Imu, CAMERA, HEIGHT, IMU, WIDTH};

static FRAMES: AtomicU64 = AtomicU64::new(0);

#[timer(hz = 30, node = "sensor", publishes(CAMERA, IMU))]
async fn capture(ctx: Ctx) -> cortex::Result<()> {
    let n = FRAMES.fetch_add(1, Ordering::Relaxed);
    let shade = (n % 256) as u8;
    let pixels = NdArray::full([HEIGHT, WIDTH, 3], shade).expect("fixed shape");
    ctx.publish(
        &CAMERA,
        CameraFrame {
            pixels,
            frame_id: n,
        },
    )?;
    let t = n as f64 / 30.0;
    ctx.publish(
        &IMU,
        Imu {
            accel: [t.sin(), t.cos(), 9.81],
            gyro: [0.0, 0.0, 0.1],
        },
    )?;
    Ok(())
}
