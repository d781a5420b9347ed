//! Shared helpers for cortex's integration tests.
#![warn(missing_docs)]

use std::path::PathBuf;

/// The interop vectors captured from the Python cortex (a copy of
/// `shared/interop/` kept in `tests/data/interop/`).
pub fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/interop")
}

/// Parses one interop JSON file.
pub fn interop_json(name: &str) -> serde_json::Value {
    let path = interop_dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

/// A private world for one test: its own temp directory (socket root) and
/// discovery address, so tests run in parallel and leave nothing behind.
#[derive(Debug)]
pub struct TestEnv {
    /// The temporary directory (removed on drop).
    pub dir: tempfile::TempDir,
    /// `ipc://<dir>/discovery.sock`.
    pub discovery: String,
}

impl TestEnv {
    /// A fresh environment.
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("cx")
            .tempdir_in("/tmp")
            .expect("temp dir");
        let discovery = format!("ipc://{}/discovery.sock", dir.path().display());
        TestEnv { dir, discovery }
    }

    /// Where publishers bind their sockets.
    pub fn socket_root(&self) -> PathBuf {
        self.dir.path().join("topics")
    }

    /// A node configuration using this environment (no daemon auto-start).
    pub fn node_config(&self, name: &str) -> cortex::NodeConfig {
        cortex::NodeConfig::new(name)
            .discovery(&self.discovery)
            .socket_root(self.socket_root())
            .spawn_daemon(false)
    }

    /// Starts a discovery daemon for this environment in the current runtime.
    pub async fn start_daemon(&self) -> cortex::discovery::ShutdownHandle {
        let daemon = cortex::discovery::Daemon::bind(self.discovery.clone())
            .await
            .expect("daemon binds");
        let handle = daemon.shutdown_handle();
        tokio::spawn(daemon.run());
        handle
    }

    /// Socket files currently under the socket root.
    pub fn socket_files(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.socket_root())
            .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default()
    }
}

impl Default for TestEnv {
    fn default() -> Self {
        Self::new()
    }
}
