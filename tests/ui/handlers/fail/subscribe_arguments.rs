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
async fn two_messages(a: A, b: B) {}

#[subscribe("/b")]
async fn no_message(header: Header, ctx: Ctx) {}

#[subscribe("/c")]
async fn by_reference(a: &A) {}

#[subscribe("/d")]
async fn twice(a: A, h1: Header, h2: Header) {}

fn main() {}
