use cortex::prelude::*;

#[derive(Message)]
struct Tick;

fn main() {}
