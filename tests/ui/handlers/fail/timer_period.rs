use cortex::prelude::*;

// 2^64 ns is about 584 years: this used to wrap to a 1 ns timer.
#[timer(period_ms = 18_446_744_073_710)]
async fn overflows() {}

#[timer(period_ms = 31_536_000_001)]
async fn over_a_year() {}

#[timer(hz = 0.00000001)]
async fn once_in_three_years() {}

#[timer(period_ms = 99_999_999_999_999_999_999)]
async fn not_u64() {}

fn main() {}
