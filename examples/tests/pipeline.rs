//! The sensor and processor examples as separate processes, with a private
//! discovery daemon and socket root: messages flow end to end, the 30 Hz
//! timer keeps its rate, the processor applies the calibration the sensor
//! published on a latched topic before the processor started, its service
//! `/processor/set_gain` changes the gain across processes, and SIGTERM
//! shuts both down cleanly.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cortex::discovery::{Client, Daemon};
use cortex::prelude::*;
use cortex::Error;

/// The pipeline's own message types, topics and service.
#[allow(dead_code)]
#[path = "../examples/pipeline/msgs.rs"]
mod msgs;

use msgs::{Calibration, CameraFrame, SetGain, Summary, CALIBRATION, CAMERA, PROCESSED, SET_GAIN};

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

/// Starts an example; its standard output (the pipeline's story lines) is
/// read back by [`output`].
fn spawn(name: &str, discovery: &str, root: &Path) -> Spawned {
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
fn output(child: &mut Spawned) -> String {
    let mut text = String::new();
    if let Some(mut stdout) = child.0.stdout.take() {
        std::io::Read::read_to_string(&mut stdout, &mut text).expect("reading stdout");
    }
    text
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

/// Receives summaries until `done` holds for one, at most `within`.
async fn until_summary(
    processed: &mut cortex::Subscriber<Summary>,
    within: Duration,
    what: &str,
    mut done: impl FnMut(&Summary) -> bool,
) -> Summary {
    tokio::time::timeout(within, async {
        loop {
            let (summary, _) = processed.recv().await.unwrap();
            if done(&summary) {
                return summary;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no summary {what} within {within:?}"))
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

    let node = Node::new(
        NodeConfig::new("test")
            .discovery(&discovery)
            .socket_root(&root)
            .spawn_daemon(false),
    )
    .await
    .unwrap();

    // The sensor first: its first tick publishes the calibration, once,
    // before the frame this test waits for.
    let mut sensor = spawn("sensor", &discovery, &root);
    let mut camera = node.subscriber::<CameraFrame>(CAMERA.name()).await.unwrap();
    tokio::time::timeout(Duration::from_secs(20), camera.recv())
        .await
        .expect("a camera frame")
        .unwrap();

    // Latched across processes: a subscriber that joins after that one
    // publish gets it at once.
    let mut calibration = node
        .subscriber::<Calibration>(CALIBRATION.name())
        .await
        .unwrap();
    let (cal, header) = tokio::time::timeout(Duration::from_secs(10), calibration.recv())
        .await
        .expect("the latched calibration")
        .unwrap();
    assert_eq!((cal.sensor_id.as_str(), header.sequence), ("imu-0042", 0));
    assert_eq!(calibration.stats().dropped, 0);
    drop(calibration);

    // The processor starts after the calibration was published, and applies it.
    let mut processor = spawn("processor", &discovery, &root);
    let mut processed = node.subscriber::<Summary>(PROCESSED.name()).await.unwrap();
    let mut sources = std::collections::BTreeSet::new();
    until_summary(
        &mut processed,
        Duration::from_secs(20),
        "of both topics with the calibration applied",
        |s| {
            if s.calibration == "imu-0042" {
                sources.insert(s.source.clone());
            }
            sources.len() == 2
        },
    )
    .await;

    // The service, across processes: the gain changes what the processor
    // publishes; a bad gain is refused with the handler's message.
    let ctx = node.ctx();
    let reply = ctx.call(&SET_GAIN, SetGain { gain: 2.0 }).await.unwrap();
    assert_eq!(reply.previous, 1.0);
    let doubled = until_summary(
        &mut processed,
        Duration::from_secs(10),
        "of the camera with gain 2",
        |s| s.gain == 2.0 && s.source == CAMERA.name(),
    )
    .await;
    // Every camera frame is one shade: its mean is a whole number, doubled.
    let mean = doubled.value / 2.0;
    assert!(
        mean.fract() == 0.0 && (0.0..=255.0).contains(&mean),
        "{doubled:?}"
    );
    let err = ctx
        .call(&SET_GAIN, SetGain { gain: -1.0 })
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::ServiceFailed { node, message, .. }
            if node == "processor" && message.contains("positive")),
        "{err}"
    );
    let reply = ctx.call(&SET_GAIN, SetGain { gain: 1.0 }).await.unwrap();
    assert_eq!(reply.previous, 2.0, "the refused call changed nothing");

    // The 30 Hz timer: count frames over 3 s, measured from the next one.
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

    // SIGTERM: both exit 0, leave no socket files, and unregister their
    // topics and the service.
    drop((camera, processed));
    sigterm(&sensor);
    sigterm(&processor);
    assert!(wait_exit(&mut sensor, Duration::from_secs(10))
        .await
        .success());
    assert!(wait_exit(&mut processor, Duration::from_secs(10))
        .await
        .success());
    // The lines that show the calibration and the gain in the demo.
    let said = output(&mut sensor);
    assert!(
        said.contains("sensor: published calibration imu-0042 on /sensor/calibration"),
        "{said}"
    );
    let said = output(&mut processor);
    for line in [
        "processor: calibration imu-0042 from node sensor, published ",
        "processor: gain 1 -> 2 (through /processor/set_gain)",
    ] {
        assert!(said.contains(line), "{line:?} missing from: {said}");
    }
    let leftovers: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    assert!(leftovers.is_empty(), "socket files left: {leftovers:?}");
    let client = Client::new(discovery.clone());
    let topics = client.list().await.unwrap();
    assert!(topics.is_empty(), "topics still registered: {topics:?}");
    let services = client.list_services().await.unwrap();
    assert!(
        services.is_empty(),
        "services still registered: {services:?}"
    );
    daemon_stop.shutdown();
}
