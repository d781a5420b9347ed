use cortex::prelude::*;

#[derive(Message)]
#[cortex(python = "a.B", fingerprint = 7)]
struct Sample {
    x: u32,
}

fn main() {}
