//! Message types and topics of the pipeline.

use cortex::prelude::*;

/// A camera frame: the pixels ride as their own ZeroMQ frame.
#[derive(Message, Debug, Clone)]
pub(crate) struct CameraFrame {
    pub(crate) pixels: NdArray<u8>,
    pub(crate) frame_id: u64,
}

/// An IMU sample.
#[derive(Message, Debug, Clone)]
pub(crate) struct Imu {
    pub(crate) accel: [f64; 3],
    pub(crate) gyro: [f64; 3],
}

/// What the processor makes of each input.
#[derive(Message, Debug, Clone)]
pub(crate) struct Summary {
    pub(crate) source: String,
    /// Mean pixel value (camera) or acceleration norm (IMU).
    pub(crate) value: f64,
    /// When the sensor published the input (ns since the Unix epoch).
    pub(crate) sensor_stamp_ns: u64,
}

pub(crate) const CAMERA: Topic<CameraFrame> = Topic::new("/sensor/a");
pub(crate) const IMU: Topic<Imu> = Topic::new("/sensor/b");
pub(crate) const PROCESSED: Topic<Summary> = Topic::new("/processed");

/// Image size: VGA RGB (921,600 bytes per frame).
pub(crate) const HEIGHT: usize = 480;
pub(crate) const WIDTH: usize = 640;
