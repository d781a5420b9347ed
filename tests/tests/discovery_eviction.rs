//! A publisher process killed with SIGKILL disappears from LOOKUP and LIST
//! within 2 s, although it sends no heartbeats (like a Python publisher).
//!
//! The publisher is this test binary re-executed in "child mode": it binds
//! a PUB socket, registers it through `CORTEX_DISCOVERY`, prints `READY`
//! and sleeps until killed.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cortex::discovery::{Client, DaemonConfig, DiscoveryError, TopicInfo};

/// Selects child mode and carries the endpoint to bind.
const CHILD_ENDPOINT: &str = "CORTEX_TEST_CHILD_ENDPOINT";
/// The topic the child registers.
const CHILD_TOPIC: &str = "/child/topic";
/// The bound for eviction after a kill -9.
const EVICTION_BOUND: Duration = Duration::from_secs(2);
use cortex_tests::{TestDaemon, BOUND};

/// Child mode, run only by [`spawn_child`] (`--ignored --exact`), so it
/// is not counted as a passing test in normal runs.
#[test]
#[ignore = "the child process of the eviction tests; they run it"]
fn child_publisher_process() {
    let Ok(endpoint) = std::env::var(CHILD_ENDPOINT) else {
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let ctx = zmq::Context::new();
        let publisher = ctx.socket(zmq::PUB).unwrap();
        publisher.set_linger(0).unwrap();
        publisher.bind(&endpoint).unwrap();
        let address = publisher.get_last_endpoint().unwrap().unwrap();
        // The daemon address comes from CORTEX_DISCOVERY.
        let client = Client::from_env();
        client
            .register(&TopicInfo {
                name: CHILD_TOPIC.into(),
                address,
                message_type: "IntMessage".into(),
                fingerprint: 1,
                publisher_node: format!("child-{}", std::process::id()),
            })
            .await
            .unwrap();
        println!("READY");
        loop {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
    });
}

/// Kills the child (by pid, SIGKILL) if the test ends early.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_child(daemon: &str, endpoint: &str) -> ChildGuard {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "child_publisher_process",
            "--ignored",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENDPOINT, endpoint)
        .env("CORTEX_DISCOVERY", daemon)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.trim_end().ends_with("READY") {
                let _ = tx.send(());
            }
        }
    });
    let guard = ChildGuard(child);
    rx.recv_timeout(BOUND)
        .expect("child publisher registered and printed READY");
    guard
}

async fn killed_publisher_is_evicted(daemon_address: &str, child_endpoint: &str) {
    let daemon = TestDaemon::start(DaemonConfig::new(daemon_address)).await;
    let client = Client::new(daemon.address.clone());
    let mut child = spawn_child(&daemon.address, child_endpoint);

    let registered = client
        .lookup(CHILD_TOPIC)
        .await
        .unwrap()
        .expect("the child registered its topic");
    assert_eq!(registered.publisher_node, format!("child-{}", child.0.id()));
    // Probes keep a live publisher registered...
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(client.lookup(CHILD_TOPIC).await.unwrap().is_some());
    // ...and another node cannot take it over with another type.
    let mut rival = registered.clone();
    rival.publisher_node = "rival".into();
    rival.fingerprint ^= 1;
    assert!(matches!(
        client.register(&rival).await,
        Err(DiscoveryError::Rejected { .. })
    ));

    child.0.kill().unwrap();
    let killed = Instant::now();
    child.0.wait().unwrap();
    loop {
        if client.lookup(CHILD_TOPIC).await.unwrap().is_none() {
            break;
        }
        assert!(killed.elapsed() < BOUND, "record never evicted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let took = killed.elapsed();
    eprintln!("eviction after kill -9 ({child_endpoint}): {took:?}");
    assert!(
        took < EVICTION_BOUND,
        "evicted after {took:?}; the bound is {EVICTION_BOUND:?}"
    );
    assert!(client
        .list()
        .await
        .unwrap()
        .iter()
        .all(|t| t.name != CHILD_TOPIC));
    // The name is free again.
    client.register(&rival).await.unwrap();
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_ipc_publisher_is_evicted() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = format!("ipc://{}/d.sock", dir.path().display());
    let endpoint = format!("ipc://{}/child.sock", dir.path().display());
    killed_publisher_is_evicted(&daemon, &endpoint).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_tcp_publisher_is_evicted() {
    killed_publisher_is_evicted("tcp://127.0.0.1:*", "tcp://127.0.0.1:*").await;
}
