//! The `sensor` node: a 30 Hz timer publishing a camera frame and an IMU
//! sample, and the sensor's calibration once, at the first tick.

use std::sync::atomic::{AtomicU64, Ordering};

use cortex::prelude::*;

use cortex::messages::ImageMessage;

use super::msgs::{Calibration, Imu, CALIBRATION, CAMERA, HEIGHT, IMU, WIDTH};

static FRAMES: AtomicU64 = AtomicU64::new(0);

#[timer(hz = 30, node = "sensor", publishes(CAMERA, IMU, CALIBRATION))]
async fn capture(ctx: Ctx) -> cortex::Result<()> {
    let n = FRAMES.fetch_add(1, Ordering::Relaxed);
    if n == 0 {
        // Published once: CALIBRATION is latched, so subscribers that
        // join later get it too.
        let calibration = Calibration {
            sensor_id: "imu-0042".into(),
            accel_bias: [0.02, -0.01, 0.05],
        };
        ctx.publish(&CALIBRATION, &calibration)?;
        println!(
            "sensor: published calibration {} on {} (latched)",
            calibration.sensor_id,
            CALIBRATION.name()
        );
    }
    let shade = (n % 256) as u8;
    let pixels = NdArray::full([HEIGHT, WIDTH, 3], shade).expect("fixed shape");
    ctx.publish(
        &CAMERA,
        ImageMessage {
            data: pixels.into(),
            encoding: "rgb8".into(),
            width: WIDTH as u32,
            height: HEIGHT as u32,
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
