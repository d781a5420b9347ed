// Named `entry` so that this test only compiles it: running it would start a node.
#[cortex::main]
async fn entry() {
    // The node runs after the body.
}

fn main() {
    let _: fn() -> std::process::ExitCode = entry;
}
