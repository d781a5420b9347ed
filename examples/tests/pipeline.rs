//! The sensor and processor examples as separate processes, with a private
//! discovery daemon and socket root: messages flow end to end, the 30 Hz
//! timer keeps its rate, and SIGTERM shuts both down cleanly.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cortex::discovery::{Client, Daemon};
use cortex::prelude::*;

#[derive(Message, Debug)]
struct CameraFrame {
    pixels: NdArray<u8>,
    frame_id: u64,
}

#[derive(Message, Debug)]
struct Summary {
    source: String,
    value: f64,
    sensor_stamp_ns: u64,
}

/// A child process that is killed (by pid) if the test ends early.
struct Spawned(Child);

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `target/<profile>/examples/<name>`, next to this test's executable.
fn example(name: &str) -> PathBuf {
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

fn spawn(name: &str, discovery: &str, root: &Path) -> Spawned {
    Spawned(
        Command::new(example(name))
            .env("CORTEX_DISCOVERY", discovery)
            .env("CORTEX_SOCKET_ROOT", root)
            .env("CORTEX_SPAWN_DAEMON", "0")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}")),
    )
}

fn sigterm(child: &Spawned) {
    let status = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

async fn wait_exit(child: &mut Spawned, within: Duration) -> std::process::ExitStatus {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sensor_and_processor_processes() {
    let dir = tempfile::Builder::new()
        .prefix("cxp")
        .tempdir_in("/tmp")
        .unwrap();
    let discovery = format!("ipc://{}/d.sock", dir.path().display());
    let root = dir.path().join("topics");
    let daemon = Daemon::bind(discovery.clone()).await.unwrap();
    let daemon_stop = daemon.shutdown_handle();
    tokio::spawn(daemon.run());

    let mut sensor = spawn("sensor", &discovery, &root);
    let mut processor = spawn("processor", &discovery, &root);

    let node = Node::new(
        NodeConfig::new("test")
            .discovery(&discovery)
            .socket_root(&root)
            .spawn_daemon(false),
    )
    .await
    .unwrap();
    let mut camera = node.subscriber::<CameraFrame>("/sensor/a").await.unwrap();
    let mut processed = node.subscriber::<Summary>("/processed").await.unwrap();

    // End to end: both sensor topics come out of the processor.
    let mut sources = std::collections::BTreeSet::new();
    tokio::time::timeout(Duration::from_secs(20), async {
        while sources.len() < 2 {
            let (summary, _) = processed.recv().await.unwrap();
            sources.insert(summary.source);
        }
    })
    .await
    .expect("summaries of both topics");

    // The 30 Hz timer: count frames over 3 s, measured from the first one.
    let (first, _) = camera.recv().await.unwrap();
    let start = Instant::now();
    let mut count = 0u64;
    let mut last_id = first.frame_id;
    while start.elapsed() < Duration::from_secs(3) {
        let (frame, _) = tokio::time::timeout(Duration::from_secs(2), camera.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(frame.pixels.shape(), &[480, 640, 3]);
        last_id = frame.frame_id;
        count += 1;
    }
    let rate = count as f64 / start.elapsed().as_secs_f64();
    assert!(
        (27.0..=33.0).contains(&rate),
        "timer rate {rate:.1} Hz (frames {} to {last_id})",
        first.frame_id
    );
    assert_eq!(camera.stats().dropped, 0);

    // SIGTERM: both exit 0, leave no socket files, and unregister.
    drop((camera, processed));
    sigterm(&sensor);
    sigterm(&processor);
    assert!(wait_exit(&mut sensor, Duration::from_secs(10))
        .await
        .success());
    assert!(wait_exit(&mut processor, Duration::from_secs(10))
        .await
        .success());
    let leftovers: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    assert!(leftovers.is_empty(), "socket files left: {leftovers:?}");
    let topics = Client::new(discovery.clone()).list().await.unwrap();
    assert!(topics.is_empty(), "topics still registered: {topics:?}");
    daemon_stop.shutdown();
}
