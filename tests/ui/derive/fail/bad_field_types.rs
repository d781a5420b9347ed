use cortex::prelude::*;

// Every problem is reported at once, each at its own field type.
#[derive(Message)]
struct Sample {
    name: &'static str,
    data: &'static [u8],
    pair: (u32, u32),
    letter: char,
    big: u128,
}

fn main() {}
