//! The processor node on its own: `cargo run -p cortex-examples --example processor`.
//! Subscribes to `/sensor/a`, `/sensor/b` and `/sensor/calibration`,
//! publishes `/processed`, serves `/processor/set_gain`.

mod pipeline;

#[cortex::main(name = "processor")]
async fn main() {}
