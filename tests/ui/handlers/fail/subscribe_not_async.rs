use cortex::prelude::*;

#[derive(Message)]
struct M {
    x: u32,
}

#[subscribe("/a")]
fn handler(m: M) {}

fn main() {}
