//! The processor node on its own: `cargo run -p cortex-examples --example processor`.
//! Subscribes to `/sensor/a` and `/sensor/b`, publishes `/processed`.

mod pipeline;

#[cortex::main(name = "processor")]
async fn main() {}
