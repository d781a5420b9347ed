//! The `processor` node: summarises both sensor topics on `/processed`,
//! applying the sensor's calibration and a gain that callers set through
//! the service `/processor/set_gain`.

use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use cortex::prelude::*;

use cortex::messages::ImageMessage;

use super::msgs::{Calibration, GainSet, Imu, SetGain, Summary, PROCESSED};

/// What the processor applies to each input.
struct Settings {
    gain: f64,
    calibration: Option<Calibration>,
}

static SETTINGS: Mutex<Settings> = Mutex::new(Settings {
    gain: 1.0,
    calibration: None,
});

fn settings() -> MutexGuard<'static, Settings> {
    SETTINGS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[subscribe("/sensor/a", node = "processor", publishes(PROCESSED))]
async fn on_camera(image: ImageMessage, header: Header, ctx: Ctx) -> cortex::Result<()> {
    // The pixels borrow the received ZeroMQ frame: no copy was made.
    // Mean brightness over every 64th byte (cheap even in a debug build).
    let pixels = image.data.as_bytes();
    let sample: Vec<u64> = pixels.iter().step_by(64).map(|&p| p as u64).collect();
    let mean = sample.iter().sum::<u64>() as f64 / sample.len().max(1) as f64;
    ctx.publish(&PROCESSED, summary("/sensor/a", mean, header))?;
    Ok(())
}

#[subscribe("/sensor/b", node = "processor", publishes(PROCESSED))]
async fn on_imu(imu: Imu, header: Header, ctx: Ctx) -> cortex::Result<()> {
    let bias = settings()
        .calibration
        .as_ref()
        .map_or([0.0; 3], |c| c.accel_bias);
    let norm = (0..3)
        .map(|i| (imu.accel[i] - bias[i]).powi(2))
        .sum::<f64>()
        .sqrt();
    ctx.publish(&PROCESSED, summary("/sensor/b", norm, header))?;
    Ok(())
}

/// `value` times the gain, with what was applied.
fn summary(source: &str, value: f64, header: Header) -> Summary {
    let settings = settings();
    Summary {
        source: source.into(),
        value: value * settings.gain,
        sensor_stamp_ns: header.timestamp_ns,
        gain: settings.gain,
        calibration: settings
            .calibration
            .as_ref()
            .map_or_else(String::new, |c| c.sensor_id.clone()),
    }
}

/// The sensor publishes its calibration once, on a latched topic: this
/// subscription gets it even when the processor starts later.
#[subscribe("/sensor/calibration", node = "processor")]
async fn on_calibration(calibration: Calibration, header: Header, from: PublisherId) {
    let now_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let age_ms = now_ns.saturating_sub(header.timestamp_ns) as f64 / 1e6;
    println!(
        "processor: calibration {} from node {}, published {age_ms:.0} ms ago: accel bias {:?}",
        calibration.sensor_id,
        from.node(),
        calibration.accel_bias
    );
    settings().calibration = Some(calibration);
}

/// Sets the gain; answers with the previous one. A gain that is not a
/// positive number is refused: the caller gets `Error::ServiceFailed`.
#[service("/processor/set_gain", node = "processor")]
async fn set_gain(request: SetGain) -> Result<GainSet, String> {
    if !(request.gain.is_finite() && request.gain > 0.0) {
        return Err(format!(
            "the gain must be a positive number, not {}",
            request.gain
        ));
    }
    let previous = std::mem::replace(&mut settings().gain, request.gain);
    println!(
        "processor: gain {previous} -> {} (through /processor/set_gain)",
        request.gain
    );
    Ok(GainSet { previous })
}
