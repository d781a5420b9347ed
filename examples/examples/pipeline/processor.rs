//! The `processor` node: summarises both sensor topics on `/processed`.

use cortex::prelude::*;

use super::msgs::{CameraFrame, Imu, Summary, PROCESSED};

#[subscribe("/sensor/a", node = "processor", publishes(PROCESSED))]
async fn on_camera(frame: CameraFrame, header: Header, ctx: Ctx) -> cortex::Result<()> {
    // `frame.pixels` borrows the received ZeroMQ frame: no copy was made.
    // Mean brightness over every 64th byte (cheap even in a debug build).
    let sample: Vec<u64> = frame.pixels.iter().step_by(64).map(|&p| p as u64).collect();
    let value = sample.iter().sum::<u64>() as f64 / sample.len().max(1) as f64;
    ctx.publish(
        &PROCESSED,
        Summary {
            source: "/sensor/a".into(),
            value,
            sensor_stamp_ns: header.timestamp_ns,
        },
    )?;
    Ok(())
}

#[subscribe("/sensor/b", node = "processor", publishes(PROCESSED))]
async fn on_imu(imu: Imu, header: Header, ctx: Ctx) -> cortex::Result<()> {
    let norm = imu.accel.iter().map(|a| a * a).sum::<f64>().sqrt();
    ctx.publish(
        &PROCESSED,
        Summary {
            source: "/sensor/b".into(),
            value: norm,
            sensor_stamp_ns: header.timestamp_ns,
        },
    )?;
    Ok(())
}
