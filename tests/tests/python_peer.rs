//! A Python peer written from the wire spec (`tests/python/peer.py`)
//! exchanges messages with cortex through one discovery daemon. Skipped,
//! with a note, when `python3` lacks `pyzmq` or `msgpack` (`.ci/run`
//! installs them).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use cortex::messages::{ArrayMessage, IntMessage};
use cortex::prelude::*;
use cortex_tests::TestEnv;

fn python_ready() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import zmq, msgpack"])
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("skipped: python3 with pyzmq and msgpack is not available");
    }
    ok
}

fn peer() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python/peer.py")
}

/// Kills the Python process (by pid) if the test ends early.
struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_publisher_to_rust_subscriber() {
    if !python_ready() {
        return;
    }
    let env = TestEnv::new();
    let _daemon = env.start_daemon().await;
    let path = env.dir.path().join("py_int.sock");
    let mut py = Peer(
        Command::new("python3")
            .arg(peer())
            .args([
                "pub",
                &env.discovery,
                "/py/int",
                path.to_str().unwrap(),
                "20",
            ])
            .spawn()
            .unwrap(),
    );
    let node = Node::new(env.node_config("rs")).await.unwrap();
    let mut sub = node.subscriber::<IntMessage>("/py/int").await.unwrap();
    for seq in 0..20u64 {
        let (msg, header) = tokio::time::timeout(Duration::from_secs(20), sub.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(header.sequence, seq);
        assert_eq!(msg.data, seq as i64 * 1000 - 7);
    }
    assert_eq!(sub.stats().decode_errors, 0);
    let status = tokio::task::spawn_blocking(move || py.0.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_publisher_to_python_subscriber() {
    if !python_ready() {
        return;
    }
    let env = TestEnv::new();
    let _daemon = env.start_daemon().await;
    let node = Node::new(env.node_config("rs")).await.unwrap();
    let publisher = node.publisher::<ArrayMessage>("/rs/array").await.unwrap();
    let mut py = Peer(
        Command::new("python3")
            .arg(peer())
            .args(["sub", &env.discovery, "/rs/array", "3"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stdout = py.0.stdout.take().unwrap();
    let lines = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map(|l| l.unwrap())
            .collect::<Vec<_>>()
    });
    publisher
        .wait_for_subscribers(1, Duration::from_secs(20))
        .await
        .unwrap();
    for k in 0..3 {
        let values: Vec<f32> = (0..6).map(|i| (i + k) as f32 * 0.5).collect();
        let msg = ArrayMessage {
            data: NdArray::new(values, [2, 3]).unwrap().into(),
            name: format!("a{k}"),
            frame_id: "base".into(),
        };
        assert!(publisher.publish(&msg).unwrap());
    }
    let lines = tokio::time::timeout(Duration::from_secs(20), lines)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lines[0], "ready");
    let got: Vec<serde_json::Value> = lines[1..]
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(got.len(), 3);
    for (k, v) in got.iter().enumerate() {
        assert_eq!(v["fingerprint"], ArrayMessage::FINGERPRINT);
        assert_eq!(v["sequence"], k as u64);
        assert_eq!(v["shape"], serde_json::json!([2, 3]));
        assert_eq!(v["name"], format!("a{k}"));
        assert_eq!(v["frame_id"], "base");
        let values: Vec<f64> = (0..6).map(|i| (i + k) as f64 * 0.5).collect();
        assert_eq!(v["values"], serde_json::json!(values));
    }
    assert!(py.0.wait().unwrap().success());
}
