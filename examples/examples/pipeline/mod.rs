//! The example pipeline after the original architecture page: a `sensor`
//! node publishes a camera frame on `/sensor/a` and an IMU reading on
//! `/sensor/b` from a 30 Hz timer; a `processor` node subscribes to both and
//! republishes a summary on `/processed`. The sensor also publishes its
//! calibration once, on the latched topic `/sensor/calibration`, which the
//! processor applies whenever it starts; the processor serves
//! `/processor/set_gain`, which changes the gain it applies.
//!
//! The handlers live here and are compiled into each example binary that
//! declares `mod pipeline;`; a node runs the handlers registered for its name.
#![allow(dead_code)]

pub(crate) mod msgs;
pub(crate) mod processor;
pub(crate) mod sensor;
