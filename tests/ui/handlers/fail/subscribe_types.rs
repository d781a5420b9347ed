use cortex::prelude::*;

#[derive(Message)]
struct A {
    x: u32,
}

#[subscribe("/a")]
async fn returns_number(a: A) -> u32 {
    1
}

#[subscribe("/b")]
async fn not_a_message(s: std::time::Instant) {}

#[subscribe("/d")]
async fn wrong_return_and_argument(s: std::time::Instant) -> u32 {
    1
}

const NOT_A_TOPIC: &str = "/x";

#[subscribe("/c", publishes(NOT_A_TOPIC))]
async fn publishes_a_string(a: A) {}

fn main() {}
