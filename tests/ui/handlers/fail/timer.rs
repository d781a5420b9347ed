use cortex::prelude::*;

#[timer]
async fn no_rate() {}

#[timer(hz = 0)]
async fn zero() {}

#[timer(hz = "30")]
async fn string_rate() {}

#[timer(hz = 30, period_ms = 10)]
async fn both() {}

#[timer(hz = 2_000_000)]
async fn too_fast() {}

#[timer(hz = 30, jitter = 1)]
fn not_async() {}

fn main() {}
