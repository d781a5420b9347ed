#[cortex::main]
fn main() {}
