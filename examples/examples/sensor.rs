//! The sensor node on its own: `cargo run -p cortex-examples --example sensor`.
//! Publishes `/sensor/a` (camera) and `/sensor/b` (IMU) at 30 Hz, and its
//! calibration once on the latched `/sensor/calibration`, until Ctrl-C or
//! SIGTERM.

mod pipeline;

#[cortex::main(name = "sensor")]
async fn main() {}
