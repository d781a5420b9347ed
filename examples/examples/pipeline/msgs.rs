//! Message types, topics and the service of the pipeline.

use cortex::messages::ImageMessage;
use cortex::prelude::*;

/// An IMU sample.
#[derive(Message, Debug, Clone)]
pub(crate) struct Imu {
    pub(crate) accel: [f64; 3],
    pub(crate) gyro: [f64; 3],
}

/// The sensor's calibration, published once.
#[derive(Message, Debug, Clone)]
pub(crate) struct Calibration {
    pub(crate) sensor_id: String,
    /// Subtracted from each IMU acceleration.
    pub(crate) accel_bias: [f64; 3],
}

/// What the processor makes of each input.
#[derive(Message, Debug, Clone)]
pub(crate) struct Summary {
    pub(crate) source: String,
    /// Mean pixel value (camera) or norm of the calibrated acceleration
    /// (IMU), times the gain.
    pub(crate) value: f64,
    /// When the sensor published the input (ns since the Unix epoch).
    pub(crate) sensor_stamp_ns: u64,
    /// The gain applied.
    pub(crate) gain: f64,
    /// The `sensor_id` of the calibration applied ("" before one arrived).
    pub(crate) calibration: String,
}

/// Asks the processor to apply another gain.
#[derive(Message, Debug, Clone)]
pub(crate) struct SetGain {
    pub(crate) gain: f64,
}

/// The processor's answer: the gain it applied until now.
#[derive(Message, Debug, Clone)]
pub(crate) struct GainSet {
    pub(crate) previous: f64,
}

/// The camera: the standard `ImageMessage` (its pixels ride as their own
/// ZeroMQ frame), so Python subscribers, `cortex topic echo` and Foxglove
/// (`cortex bridge foxglove`: a `RawImage`) all show it as an image.
pub(crate) const CAMERA: Topic<ImageMessage> = Topic::new("/sensor/a");
pub(crate) const IMU: Topic<Imu> = Topic::new("/sensor/b");
/// Latched: a subscriber that joins after the one publish still gets it.
pub(crate) const CALIBRATION: Topic<Calibration> = Topic::new("/sensor/calibration").latched(1);
pub(crate) const PROCESSED: Topic<Summary> = Topic::new("/processed");
pub(crate) const SET_GAIN: Service<SetGain, GainSet> = Service::new("/processor/set_gain");

/// Image size: VGA RGB (921,600 bytes per frame).
pub(crate) const HEIGHT: usize = 480;
pub(crate) const WIDTH: usize = 640;
