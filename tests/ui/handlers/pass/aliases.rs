// Extractors under aliases and other paths, in any order; main's `Node`
// through an alias; `logging = false`.
use cortex::prelude::*;

#[derive(Message, Debug)]
pub struct Reading {
    pub value: f64,
}

type H = cortex::Header;
type C = cortex::Ctx;
type R = Reading;

#[subscribe("/a")]
async fn header_first(h: H, r: Reading) {
    let _ = (h.sequence, r.value);
}

#[subscribe("/b")]
async fn ctx_first(c: C, h: H, r: R) {
    let _ = (c.node().name(), h.sequence, r.value);
}

#[subscribe("/c")]
async fn message_between(c: cortex::Ctx, r: self::Reading, h: cortex::codec::Header) {
    let _ = (c.node().name(), h.sequence, r.value);
}

#[subscribe("/d")]
async fn standard_message(m: cortex::messages::FloatMessage, mut h: Header) {
    h.sequence += 1;
    let _ = m;
}

type N = cortex::Node;

// Named `entry` so that this test only compiles it: running it would start a node.
#[cortex::main(logging = false)]
async fn entry(node: N) -> cortex::Result<()> {
    node.run().await
}

#[cortex::main(name = "quiet", logging = false)]
async fn quiet() {}

fn main() {
    let _: fn() -> std::process::ExitCode = entry;
    let _: fn() -> std::process::ExitCode = quiet;
}
