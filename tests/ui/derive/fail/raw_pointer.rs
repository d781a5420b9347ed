use cortex::prelude::*;

#[derive(Message)]
struct Sample {
    ptr: *const u8,
}

fn main() {}
