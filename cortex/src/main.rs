//! The `cortex` command-line tool.
fn main() {}
