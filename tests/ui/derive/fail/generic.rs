use cortex::prelude::*;

#[derive(Message)]
struct Wrapper<T> {
    value: T,
}

fn main() {}
