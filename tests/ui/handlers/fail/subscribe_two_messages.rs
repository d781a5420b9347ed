use cortex::prelude::*;

#[derive(Message)]
struct A {
    x: u32,
}

#[derive(Message)]
struct B {
    x: u32,
}

#[subscribe("/a")]
async fn two_messages(a: A, header: Header, b: B) {}

fn main() {}
