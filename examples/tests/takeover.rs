//! Discovery outlives the node that hosts it: with no daemon started by
//! hand, the first node hosts one; when that node exits (killed with
//! SIGKILL, or stopped cleanly), another live node takes over hosting and
//! every live record is back within 2 s.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cortex::discovery::{Client, ClientConfig};

/// Killed (by pid) if the test ends early.
struct Spawned(Child);

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test path");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    dir.join("examples").join(name)
}

/// An example node that may host the daemon (the default).
fn node(name: &str, discovery: &str, root: &Path) -> Spawned {
    Spawned(
        Command::new(example(name))
            .env("CORTEX_DISCOVERY", discovery)
            .env("CORTEX_SOCKET_ROOT", root)
            .env_remove("CORTEX_SPAWN_DAEMON")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}")),
    )
}

/// How long until `topic` is registered at `discovery` (bounded).
async fn until_registered(discovery: &str, topic: &str, since: Instant) -> Duration {
    let client = Client::with_config(
        ClientConfig::new(discovery)
            .request_timeout(Duration::from_millis(100))
            .retries(0),
    );
    loop {
        if let Ok(Some(_)) = client.lookup(topic).await {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < Duration::from_secs(30),
            "{topic} never came back"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn signal(child: &Spawned, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_node_takes_over_hosting_discovery_within_two_seconds() {
    let dir = tempfile::Builder::new()
        .prefix("cxho")
        .tempdir_in("/tmp")
        .unwrap();
    let discovery = format!("ipc://{}/d.sock", dir.path().display());
    let root = dir.path().join("topics");

    // The sensor starts first and hosts the daemon; the processor uses it.
    let mut sensor = node("sensor", &discovery, &root);
    until_registered(&discovery, "/sensor/a", Instant::now()).await;
    let mut processor = node("processor", &discovery, &root);
    until_registered(&discovery, "/processed", Instant::now()).await;

    // SIGKILL the host: the processor takes over, its record comes back.
    signal(&sensor, "-KILL");
    let killed = Instant::now();
    sensor.0.wait().unwrap();
    let after_kill = until_registered(&discovery, "/processed", killed).await;
    eprintln!("host killed: /processed registered again after {after_kill:?}");
    assert!(after_kill < Duration::from_secs(2), "{after_kill:?}");
    assert!(processor.0.try_wait().unwrap().is_none());

    // A new sensor uses the processor's daemon; then the processor, the
    // host now, stops cleanly, and the sensor takes over.
    let mut sensor = node("sensor", &discovery, &root);
    until_registered(&discovery, "/sensor/a", Instant::now()).await;
    signal(&processor, "-TERM");
    let stopped = Instant::now();
    assert!(processor.0.wait().unwrap().success());
    let after_stop = until_registered(&discovery, "/sensor/a", stopped).await;
    eprintln!("host stopped: /sensor/a registered again after {after_stop:?}");
    assert!(after_stop < Duration::from_secs(2), "{after_stop:?}");

    signal(&sensor, "-TERM");
    assert!(sensor.0.wait().unwrap().success());
    // The last host removed its socket file on the way out.
    assert!(!dir.path().join("d.sock").exists());
}
