use cortex::prelude::*;

#[derive(Message)]
#[cortex(python = "my robot/msgs")]
struct Sample {
    x: u32,
}

fn main() {}
