use cortex::prelude::*;

#[derive(Message)]
struct Sample {
    ok: u32,
    when: std::time::Instant,
}

fn main() {}
