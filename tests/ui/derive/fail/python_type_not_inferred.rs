use cortex::prelude::*;

#[derive(Message)]
struct Inner {
    x: u32,
}

#[derive(Message)]
#[cortex(python = "pkg.Outer")]
struct Outer {
    inner: Inner,
    extra: Value,
}

fn main() {}
