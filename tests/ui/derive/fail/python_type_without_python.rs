use cortex::prelude::*;

#[derive(Message)]
struct Sample {
    #[cortex(python_type = "int")]
    x: u32,
}

fn main() {}
