//! `#[cortex::main(logging = false)]` leaves logging to the program: its
//! own global `tracing` subscriber installs without a panic. (With the
//! default, cortex installs one first, and a second `init()` panics.)
//!
//! One test in its own binary: the global subscriber and the environment
//! variables below are per process.

use std::process::ExitCode;

use cortex::Node;

#[cortex::main(name = "logging-off", worker_threads = 1, logging = false)]
async fn program(node: Node) -> cortex::Result<()> {
    // Panics if a global subscriber is already installed.
    tracing_subscriber::fmt().with_test_writer().init();
    tracing::info!(node = %node.name(), "the program's own subscriber");
    Ok(())
}

#[test]
fn with_logging_off_the_program_installs_its_own_subscriber() {
    let env = cortex_tests::TestEnv::new();
    // The node finds (or starts) its daemon in this test's directory.
    std::env::set_var("CORTEX_DISCOVERY", &env.discovery);
    std::env::set_var("CORTEX_SOCKET_ROOT", env.socket_root());
    let code = program();
    assert_eq!(format!("{code:?}"), format!("{:?}", ExitCode::SUCCESS));
}
