use cortex::prelude::*;

#[derive(Message)]
#[cortex(pyhton = "a.B")]
struct Sample {
    #[cortex(rename = "y")]
    x: u32,
}

fn main() {}
