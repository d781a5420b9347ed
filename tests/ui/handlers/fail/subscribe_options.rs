use cortex::prelude::*;

#[derive(Message)]
struct M {
    x: u32,
}

#[subscribe("/a", queue = 0, qeueu = 3, node = 5)]
async fn bad_values(m: M) {}

#[subscribe("/a", queue = 1, queue = 2, node = "x", node = "y")]
async fn duplicates(m: M) {}

fn main() {}
