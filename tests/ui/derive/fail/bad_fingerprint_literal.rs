use cortex::prelude::*;

#[derive(Message)]
#[cortex(fingerprint = "0x12")]
struct A {
    x: u32,
}

#[derive(Message)]
#[cortex(fingerprint = 0x1_0000_0000_0000_0000)]
struct B {
    x: u32,
}

fn main() {}
