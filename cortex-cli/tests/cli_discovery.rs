//! `cortex discovery` as a process: one daemon per address, stale socket
//! takeover, `CORTEX_DISCOVERY`, clean exit on SIGTERM, `cortex topic list`.

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use cortex::discovery::{Client, ClientConfig, TopicInfo};

/// Generous correctness bound for anything that must not hang.
const BOUND: Duration = Duration::from_secs(30);

/// Kills the process (by pid, SIGKILL) if the test ends early.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Proc {
    fn wait_bounded(&mut self) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return status;
            }
            assert!(start.elapsed() < BOUND, "process did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn cortex() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cortex"));
    cmd.env_remove("CORTEX_DISCOVERY").env("RUST_LOG", "info");
    cmd
}

/// Starts `cortex discovery` with its log in `log`.
fn daemon(args: &[&str], envs: &[(&str, &str)], log: &Path) -> Proc {
    let log = std::fs::File::create(log).unwrap();
    let child = cortex()
        .arg("discovery")
        .args(args)
        .envs(envs.iter().copied())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    Proc(child)
}

async fn wait_until_serving(address: &str) {
    let client = Client::with_config(
        ClientConfig::new(address)
            .request_timeout(Duration::from_millis(200))
            .retries(0),
    );
    let start = Instant::now();
    while client.ping().await.is_err() {
        assert!(
            start.elapsed() < BOUND,
            "daemon at {address} never answered"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn sigterm(proc: &Proc) {
    let status = Command::new("kill")
        .args(["-TERM", &proc.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Runs a second `cortex discovery` on `address`; it must refuse and say why.
fn assert_second_refused(address: &str, dir: &Path) {
    let mut second = daemon(&["--address", address], &[], &dir.join("second.log"));
    let status = second.wait_bounded();
    let log = std::fs::read_to_string(dir.join("second.log")).unwrap();
    assert!(!status.success(), "second daemon must fail: {log}");
    assert!(log.contains("already running"), "{log}");
    assert!(log.contains(address), "{log}");
}

#[tokio::test]
async fn second_daemon_refused_stale_socket_taken_over_clean_exit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.sock");
    let address = format!("ipc://{}", path.display());

    let mut first = daemon(&["--address", &address], &[], &dir.path().join("first.log"));
    wait_until_serving(&address).await;
    assert_second_refused(&address, dir.path());
    // The refused daemon did not disturb the first.
    wait_until_serving(&address).await;

    // kill -9 leaves the socket file behind...
    first.0.kill().unwrap();
    first.0.wait().unwrap();
    assert!(path.exists());

    // ...which the next daemon (address from CORTEX_DISCOVERY) takes over.
    let mut third = daemon(
        &[],
        &[("CORTEX_DISCOVERY", &address)],
        &dir.path().join("third.log"),
    );
    wait_until_serving(&address).await;
    sigterm(&third);
    let status = third.wait_bounded();
    assert!(status.success(), "SIGTERM gives a clean exit: {status}");
    assert!(!path.exists(), "the daemon removed its socket file");
    let log = std::fs::read_to_string(dir.path().join("third.log")).unwrap();
    assert!(log.contains("stale"), "{log}");
}

#[tokio::test]
async fn second_daemon_on_tcp_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let address = format!("tcp://127.0.0.1:{port}");
    let mut first = daemon(&["--address", &address], &[], &dir.path().join("first.log"));
    wait_until_serving(&address).await;
    assert_second_refused(&address, dir.path());
    sigterm(&first);
    assert!(first.wait_bounded().success());
}

#[tokio::test]
async fn invalid_address_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let mut proc = daemon(
        &["--address", "udp://127.0.0.1:1"],
        &[],
        &dir.path().join("bad.log"),
    );
    assert!(!proc.wait_bounded().success());
    let log = std::fs::read_to_string(dir.path().join("bad.log")).unwrap();
    assert!(log.contains("invalid discovery address"), "{log}");
}

#[tokio::test]
async fn topic_list_shows_registered_topics() {
    let dir = tempfile::tempdir().unwrap();
    let address = format!("ipc://{}/d.sock", dir.path().display());
    let _daemon = daemon(&["--address", &address], &[], &dir.path().join("d.log"));
    wait_until_serving(&address).await;

    let ctx = zmq::Context::new();
    let publisher = ctx.socket(zmq::PUB).unwrap();
    publisher.set_linger(0).unwrap();
    let topic_address = format!("ipc://{}/t.sock", dir.path().display());
    publisher.bind(&topic_address).unwrap();
    Client::new(address.clone())
        .register(&TopicInfo {
            name: "/cli/topic".into(),
            address: topic_address.clone(),
            message_type: "IntMessage".into(),
            fingerprint: 7,
            publisher_node: "cli-test".into(),
        })
        .await
        .unwrap();

    let out = tokio::task::spawn_blocking(move || {
        cortex()
            .args(["topic", "list"])
            .env("CORTEX_DISCOVERY", &address)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("/cli/topic"), "{stdout}");
    assert!(stdout.contains(&topic_address), "{stdout}");
}
