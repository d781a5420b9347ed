use cortex::prelude::*;

#[derive(Message)]
struct Point(f64, f64);

fn main() {}
