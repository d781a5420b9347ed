use cortex::prelude::*;

#[derive(Message)]
enum Mode {
    Idle,
    Run,
}

fn main() {}
