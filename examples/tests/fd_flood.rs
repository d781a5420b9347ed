//! A peer that holds more connections to a publishing node's socket than
//! the node may open (F1 of the reliability campaign): the node sheds them
//! instead of aborting, its subscribers keep receiving, and new
//! subscribers connect once the flood ends.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use cortex::discovery::Daemon;
use cortex::messages::ImageMessage;
use cortex::prelude::*;
use cortex::Subscriber;

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

async fn frames(sub: &mut Subscriber<ImageMessage>, n: usize) {
    for _ in 0..n {
        tokio::time::timeout(Duration::from_secs(5), sub.recv())
            .await
            .expect("frames keep arriving")
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_flood_on_a_topic_socket_is_shed() {
    let dir = tempfile::Builder::new()
        .prefix("cxfd")
        .tempdir_in("/tmp")
        .unwrap();
    let discovery = format!("ipc://{}/d.sock", dir.path().display());
    let root = dir.path().join("topics");
    let daemon = Daemon::bind(discovery.clone()).await.unwrap();
    let stop = daemon.shutdown_handle();
    tokio::spawn(daemon.run());
    // The sensor may open 128 descriptors at most (soft and hard).
    let mut sensor = Spawned(
        Command::new("bash")
            .args([
                "-c",
                &format!("ulimit -n 128; exec {}", example("sensor").display()),
            ])
            .env("CORTEX_DISCOVERY", &discovery)
            .env("CORTEX_SOCKET_ROOT", &root)
            .env("CORTEX_SPAWN_DAEMON", "0")
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
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
    let mut before = node.subscriber::<ImageMessage>("/sensor/a").await.unwrap();
    frames(&mut before, 5).await;

    let path = root.join("sensor__sensor_a.sock");
    let flood: Vec<UnixStream> = (0..300)
        .filter_map(|_| UnixStream::connect(&path).ok())
        .collect();
    assert!(flood.len() > 128, "the flood connected {}", flood.len());
    // The subscriber connected before the flood keeps receiving.
    frames(&mut before, 30).await;
    assert!(
        sensor.0.try_wait().unwrap().is_none(),
        "the sensor died under the flood"
    );

    drop(flood);
    let mut after = node.subscriber::<ImageMessage>("/sensor/a").await.unwrap();
    frames(&mut after, 5).await;
    assert!(sensor.0.try_wait().unwrap().is_none());
    stop.shutdown();
}
