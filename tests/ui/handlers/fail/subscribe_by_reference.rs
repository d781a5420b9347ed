use cortex::prelude::*;

#[derive(Message)]
struct A {
    x: u32,
}

#[subscribe("/a")]
async fn by_reference(a: &A) {}

fn main() {}
