//! One stalled subscriber of a camera topic (F2 of the reliability
//! campaign), across processes: the `sensor` example publishes 640×480 RGB
//! frames at 30 Hz; of two subscribers here, one reads and one does not.
//! The reading one gets every frame, the sensor's memory stays bounded by
//! the queue budget, the sensor warns that a subscriber is too slow, and
//! the stalled one, once it reads again, catches up and accounts for every
//! frame it missed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cortex::discovery::Daemon;
use cortex::messages::ImageMessage;
use cortex::prelude::*;

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
    let path = dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo test -p cortex-examples` (it builds the examples)",
        path.display()
    );
    path
}

/// Resident memory of a process, in MiB.
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS");
    kib / 1024.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_subscriber_costs_the_others_nothing_and_memory_stays_bounded() {
    let dir = tempfile::Builder::new()
        .prefix("cxslow")
        .tempdir_in("/tmp")
        .unwrap();
    let discovery = format!("ipc://{}/d.sock", dir.path().display());
    let root = dir.path().join("topics");
    let daemon = Daemon::bind(discovery.clone()).await.unwrap();
    let stop = daemon.shutdown_handle();
    tokio::spawn(daemon.run());
    let log = dir.path().join("sensor.log");
    let mut sensor = Spawned(
        Command::new(example("sensor"))
            .env("CORTEX_DISCOVERY", &discovery)
            .env("CORTEX_SOCKET_ROOT", &root)
            .env("CORTEX_SPAWN_DAEMON", "0")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );

    let node = Node::new(
        NodeConfig::new("watcher")
            .discovery(&discovery)
            .socket_root(&root)
            .spawn_daemon(false),
    )
    .await
    .unwrap();
    let mut fast = node.subscriber::<ImageMessage>("/sensor/a").await.unwrap();
    let mut stalled = node.subscriber::<ImageMessage>("/sensor/a").await.unwrap();
    let stalled_counters = stalled.counters();

    // 12 s at 30 Hz is 330 MB of frames: far beyond the 64 MiB budget.
    let run = Duration::from_secs(12);
    let start = Instant::now();
    let mut frames = 0u64;
    let mut peak_rss = 0.0f64;
    let mut next_sample = 30;
    while start.elapsed() < run {
        let (frame, _) = tokio::time::timeout(Duration::from_secs(2), fast.recv())
            .await
            .expect("the reading subscriber keeps receiving")
            .unwrap();
        assert_eq!(frame.data.shape(), &[480, 640, 3]);
        frames += 1;
        if frames >= next_sample {
            peak_rss = peak_rss.max(rss_mib(sensor.0.id()));
            next_sample += 30;
        }
    }
    let rate = frames as f64 / run.as_secs_f64();
    eprintln!("reader: {rate:.1} frames/s; sensor RSS peak {peak_rss:.0} MiB while one subscriber stalled");
    assert!(rate > 24.0, "the reading subscriber got {rate:.1} frames/s");
    assert_eq!(fast.stats().dropped, 0, "{:?}", fast.stats());
    assert_eq!(stalled_counters.snapshot().received, 0);
    // Without a byte budget the stalled queue would hold 1000 frames
    // (0.9 GB); with it, at most 64 MiB on the sensor's side.
    assert!(
        peak_rss < 128.0,
        "sensor RSS peaked at {peak_rss:.0} MiB while a subscriber stalled"
    );

    // The stalled subscriber reads again: it catches up with the stream
    // within a few seconds while the other goes on.
    let catch_up = Instant::now();
    while catch_up.elapsed() < Duration::from_secs(3) {
        tokio::select! {
            r = fast.recv() => { r.unwrap(); }
            r = stalled.recv() => { r.unwrap(); }
        }
    }
    // Stop the sensor (its last beacon tells both how far it got), then
    // read what is left.
    let status = Command::new("kill")
        .args(["-TERM", &sensor.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || sensor.0.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success());
    while tokio::time::timeout(Duration::from_millis(500), fast.recv())
        .await
        .is_ok()
    {}
    while tokio::time::timeout(Duration::from_millis(500), stalled.recv())
        .await
        .is_ok()
    {}
    let (f, s) = (fast.stats(), stalled.stats());
    assert!(s.dropped > 100, "{s:?}");
    // Both account for the same stream (each may have joined a message or
    // two apart).
    let (fast_total, stalled_total) = (f.received + f.dropped, s.received + s.dropped);
    assert!(
        fast_total.abs_diff(stalled_total) <= 3,
        "fast {f:?}, stalled {s:?}"
    );
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(
        log.contains("too slow") && log.contains("/sensor/a"),
        "the sensor warns about the slow subscriber: {log}"
    );
    assert!(log.matches("too slow").count() <= 3, "rate-limited: {log}");
    stop.shutdown();
}
