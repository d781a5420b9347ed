use cortex::prelude::*;

#[derive(Message)]
#[cortex(fingerprint = 1, fingerprint = 2)]
struct Sample {
    #[cortex(serde, serde)]
    x: u32,
}

fn main() {}
