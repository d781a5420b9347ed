//! Set-up shared by the CLI tests that run nodes in the test process: a
//! discovery daemon in a temporary directory of its own, nodes on it, and
//! the `cortex` binary pointed at nothing else.

// Each test file uses a part of this.
#![allow(dead_code)]

use std::process::{Command, Stdio};

use cortex::discovery::{Daemon, ShutdownHandle};
use cortex::{Node, NodeConfig};

/// A daemon in a temporary directory of its own; stopped when dropped.
pub(crate) struct World {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) discovery: String,
    stop: ShutdownHandle,
}

impl Drop for World {
    fn drop(&mut self) {
        self.stop.shutdown();
    }
}

/// Starts a daemon in a new directory `/tmp/<prefix>…`.
pub(crate) async fn world(prefix: &str) -> World {
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in("/tmp")
        .unwrap();
    let discovery = format!("ipc://{}/d.sock", dir.path().display());
    let daemon = Daemon::bind(discovery.clone()).await.unwrap();
    let stop = daemon.shutdown_handle();
    tokio::spawn(daemon.run());
    World {
        dir,
        discovery,
        stop,
    }
}

impl World {
    /// A node called `name` on this world's daemon and socket directory.
    pub(crate) async fn node(&self, name: &str) -> Node {
        Node::new(
            NodeConfig::new(name)
                .discovery(&self.discovery)
                .socket_root(self.dir.path().join("topics"))
                .spawn_daemon(false),
        )
        .await
        .unwrap()
    }

    /// `cortex ARGS`, with no `CORTEX_DISCOVERY` from the environment and
    /// no stdin.
    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_cortex"));
        command
            .args(args)
            .env_remove("CORTEX_DISCOVERY")
            .stdin(Stdio::null());
        command
    }

    /// `cortex ARGS --address <this world's daemon>`.
    pub(crate) fn addressed(&self, args: &[&str]) -> Command {
        let mut command = self.command(args);
        command.args(["--address", &self.discovery]);
        command
    }

    /// Runs `cortex ARGS --address <daemon>` to the end, off the runtime's
    /// threads: whether it succeeded, its stdout and its stderr.
    pub(crate) async fn run(&self, args: &[&str]) -> (bool, String, String) {
        let mut command = self.addressed(args);
        tokio::task::spawn_blocking(move || {
            let out = command.output().unwrap();
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        })
        .await
        .unwrap()
    }
}

/// A spawned command; killed (and reaped) when dropped.
pub(crate) struct Killed(pub(crate) std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Killed {
    /// Sends `signal` to the child.
    pub(crate) fn signal(&self, signal: libc::c_int) {
        // SAFETY: a signal to the child this test spawned and has not reaped.
        assert_eq!(unsafe { libc::kill(self.0.id() as libc::pid_t, signal) }, 0);
    }

    /// Waits for the exit off the runtime's threads: success and stderr
    /// (empty unless piped).
    pub(crate) async fn finish(mut self) -> (bool, String) {
        tokio::task::spawn_blocking(move || {
            let mut stderr = String::new();
            if let Some(mut err) = self.0.stderr.take() {
                std::io::Read::read_to_string(&mut err, &mut stderr).unwrap();
            }
            let status = self.0.wait().unwrap();
            (status.success(), stderr)
        })
        .await
        .unwrap()
    }
}

/// Whether `python3` can `import modules` (e.g. `"zmq, msgpack"`); when
/// not, the test is skipped with a note, except under `CI=true`, where it
/// fails (`.ci/run` installs them: `python3 -m pip install {packages}`).
pub(crate) fn python_has(modules: &str, packages: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", &format!("import {modules}")])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        let missing =
            format!("python3 cannot import {modules} (python3 -m pip install {packages})");
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{missing}: under CI=true this test must run"
        );
        eprintln!("skipped: {missing}");
    }
    ok
}
