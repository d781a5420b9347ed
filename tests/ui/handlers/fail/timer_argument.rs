use cortex::prelude::*;

#[derive(Message)]
struct Reading {
    value: f64,
}

#[timer(hz = 30)]
async fn count(n: u32) {}

#[timer(hz = 30)]
async fn message(ctx: Ctx, r: Reading) {}

fn main() {}
