//! What the tests that run the example binaries share: starting them on
//! a private daemon and socket root, reading what they printed, stopping
//! them.

// Each test file uses a part of this.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process that is killed (by pid) if the test ends early.
pub(crate) struct Spawned(pub(crate) Child);

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `target/<profile>/examples/<name>`, next to this test's executable.
pub(crate) fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test path");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let path = dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo test -p cortex-examples` (it builds the examples)",
        path.display()
    );
    path
}

/// Starts an example; its standard output (the pipeline's story lines) is
/// read back by [`output`].
pub(crate) fn spawn(name: &str, discovery: &str, root: &Path) -> Spawned {
    Spawned(
        Command::new(example(name))
            .env("CORTEX_DISCOVERY", discovery)
            .env("CORTEX_SOCKET_ROOT", root)
            .env("CORTEX_SPAWN_DAEMON", "0")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}")),
    )
}

/// What an example that has exited printed.
pub(crate) fn output(child: &mut Spawned) -> String {
    let mut text = String::new();
    if let Some(mut stdout) = child.0.stdout.take() {
        std::io::Read::read_to_string(&mut stdout, &mut text).expect("reading stdout");
    }
    text
}

pub(crate) fn sigterm(child: &Spawned) {
    let status = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

pub(crate) async fn wait_exit(child: &mut Spawned, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.0.try_wait().expect("wait") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "process did not exit within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A discovery daemon in a temporary directory of its own, its socket
/// root, and a node of the test's on it.
pub(crate) struct World {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) discovery: String,
    pub(crate) root: PathBuf,
    pub(crate) node: cortex::Node,
    pub(crate) daemon: cortex::discovery::ShutdownHandle,
}

/// Starts a daemon in a new directory `/tmp/<prefix>…` and a node `test`
/// on it (no daemon of its own).
pub(crate) async fn world(prefix: &str) -> World {
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in("/tmp")
        .unwrap();
    let discovery = format!("ipc://{}/d.sock", dir.path().display());
    let root = dir.path().join("topics");
    let daemon = cortex::discovery::Daemon::bind(discovery.clone())
        .await
        .unwrap();
    let stop = daemon.shutdown_handle();
    tokio::spawn(daemon.run());
    let node = cortex::Node::new(
        cortex::NodeConfig::new("test")
            .discovery(&discovery)
            .socket_root(&root)
            .spawn_daemon(false),
    )
    .await
    .unwrap();
    World {
        dir,
        discovery,
        root,
        node,
        daemon: stop,
    }
}
