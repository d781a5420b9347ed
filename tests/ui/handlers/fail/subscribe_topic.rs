use cortex::prelude::*;

#[derive(Message)]
struct M {
    x: u32,
}

#[subscribe]
async fn missing(m: M) {}

#[subscribe("sensor/a")]
async fn no_slash(m: M) {}

#[subscribe("/sensor a")]
async fn space(m: M) {}

#[subscribe("/a", "/b")]
async fn two(m: M) {}

fn main() {}
