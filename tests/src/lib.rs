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

/// Rust declarations of the user-defined Python classes in
/// `user_messages.json` (`robot_msgs.WheelCommand`, `robot_msgs.Scan`),
/// as a user sharing them with Python nodes writes them.
pub mod robot_msgs {
    use cortex::prelude::*;

    /// `robot_msgs.WheelCommand`: `left_rad_s: float`, `right_rad_s:
    /// float`, `issued_at_ns: int`.
    #[derive(Message, Debug, Clone, PartialEq)]
    #[cortex(python = "robot_msgs.WheelCommand")]
    pub struct WheelCommand {
        /// Left wheel speed.
        pub left_rad_s: f64,
        /// Right wheel speed.
        pub right_rad_s: f64,
        /// When the command was issued.
        pub issued_at_ns: u64,
    }

    /// `robot_msgs.Scan`: `ranges: ndarray`, `angle_min: float`,
    /// `frame_id: str`.
    #[derive(Message, Debug, Clone, PartialEq)]
    #[cortex(python = "robot_msgs.Scan")]
    pub struct Scan {
        /// Ranges in metres.
        pub ranges: NdArray<f32>,
        /// Angle of the first range.
        pub angle_min: f64,
        /// Coordinate frame.
        pub frame_id: String,
    }
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
    pub async fn start_daemon(&self) -> TestDaemon {
        TestDaemon::start(cortex::discovery::DaemonConfig::new(self.discovery.clone())).await
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

/// Generous correctness bound for anything that must not hang.
pub const BOUND: std::time::Duration = std::time::Duration::from_secs(30);

/// A discovery daemon running in the test's runtime.
#[derive(Debug)]
pub struct TestDaemon {
    /// Its resolved address (the real port for `tcp://...:*`).
    pub address: String,
    handle: cortex::discovery::ShutdownHandle,
    join: tokio::task::JoinHandle<cortex::discovery::Result<()>>,
}

impl TestDaemon {
    /// Binds and starts a daemon.
    pub async fn start(config: cortex::discovery::DaemonConfig) -> Self {
        let daemon = cortex::discovery::Daemon::bind_with(config)
            .await
            .expect("daemon binds");
        let address = daemon.address().to_owned();
        let handle = daemon.shutdown_handle();
        let join = tokio::spawn(daemon.run());
        TestDaemon {
            address,
            handle,
            join,
        }
    }

    /// A client of this daemon.
    pub fn client(&self) -> cortex::discovery::Client {
        cortex::discovery::Client::new(self.address.clone())
    }

    /// Whether the daemon task is still running.
    pub fn is_running(&self) -> bool {
        !self.join.is_finished()
    }

    /// Waits (bounded) for the daemon to stop by itself; returns how it ended.
    pub async fn stopped(self) -> cortex::discovery::Result<()> {
        tokio::time::timeout(BOUND, self.join)
            .await
            .expect("daemon stops within the bound")
            .expect("daemon task")
    }

    /// Stops the daemon and waits until it has stopped cleanly.
    pub async fn stop(self) {
        self.handle.shutdown();
        tokio::time::timeout(BOUND, self.join)
            .await
            .expect("daemon stops")
            .expect("daemon task")
            .expect("daemon ran cleanly");
    }
}

/// `ipc://<dir>/<name>`.
pub fn ipc(dir: &tempfile::TempDir, name: &str) -> String {
    format!("ipc://{}/{name}", dir.path().display())
}

/// A bound PUB socket, so the daemon's probes find the endpoint alive.
pub fn live_endpoint(ctx: &zmq::Context, address: &str) -> zmq::Socket {
    let s = ctx.socket(zmq::PUB).expect("PUB socket");
    s.set_linger(0).expect("linger");
    s.bind(address).expect("bind");
    s
}

/// A discovery record for `name` at `address`, published by `node`.
pub fn topic_info(name: &str, address: &str, node: &str) -> cortex::discovery::TopicInfo {
    cortex::discovery::TopicInfo {
        name: name.into(),
        address: address.into(),
        message_type: "IntMessage".into(),
        fingerprint: <cortex::messages::IntMessage as cortex::Message>::FINGERPRINT,
        publisher_node: node.into(),
    }
}

/// The book (`book/src/`): its Rust code blocks, compiled and run as doc tests.
mod book;

/// A `tracing` writer into a shared buffer, for tests that check what was
/// logged: `tracing_subscriber::fmt().with_writer(move || log.clone())`.
#[derive(Clone, Debug, Default)]
pub struct Log(pub std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Log {
    /// Captures this thread's `tracing` output (plain text, INFO and up)
    /// until the guard drops.
    pub fn capture() -> (Log, tracing::subscriber::DefaultGuard) {
        let log = Log::default();
        let writer = log.clone();
        let guard = tracing::subscriber::set_default(
            tracing_subscriber::fmt()
                .with_writer(move || writer.clone())
                .with_ansi(false)
                .finish(),
        );
        (log, guard)
    }

    /// Everything written so far, as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
