//! `cortex topic echo` and `cortex topic hz` against a live publisher.

use std::process::{Command, Stdio};
use std::time::Duration;

use cortex::discovery::Daemon;
use cortex::messages::IntMessage;
use cortex::{Node, NodeConfig};

async fn run_cli(args: Vec<String>) -> (bool, String, String) {
    tokio::task::spawn_blocking(move || {
        let out = Command::new(env!("CARGO_BIN_EXE_cortex"))
            .args(&args)
            .env_remove("CORTEX_DISCOVERY")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_and_hz_show_a_live_topic() {
    let dir = tempfile::Builder::new()
        .prefix("cxcli")
        .tempdir_in("/tmp")
        .unwrap();
    let discovery = format!("ipc://{}/d.sock", dir.path().display());
    let daemon = Daemon::bind(discovery.clone()).await.unwrap();
    let stop = daemon.shutdown_handle();
    tokio::spawn(daemon.run());
    let node = Node::new(
        NodeConfig::new("clitest")
            .discovery(&discovery)
            .socket_root(dir.path().join("topics"))
            .spawn_daemon(false),
    )
    .await
    .unwrap();
    let publisher = node.publisher::<IntMessage>("/cli/int").await.unwrap();
    let feeding = tokio::spawn(async move {
        for n in 0.. {
            publisher.publish(&IntMessage { data: 40 + n }).unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });

    let addr = ["--address".to_string(), discovery.clone()];
    let mut echo: Vec<String> = ["topic", "echo", "/cli/int", "-n", "2"]
        .map(String::from)
        .to_vec();
    echo.extend(addr.iter().cloned());
    let (ok, out, err) = run_cli(echo).await;
    assert!(ok, "{err}");
    assert_eq!(out.matches("--- seq").count(), 2, "{out}");
    assert!(
        out.contains("data: "),
        "standard messages print field names: {out}"
    );
    assert!(err.contains("IntMessage"), "{err}");

    let mut hz: Vec<String> = ["topic", "hz", "/cli/int", "--window", "1", "-n", "1"]
        .map(String::from)
        .to_vec();
    hz.extend(addr.iter().cloned());
    let (ok, out, err) = run_cli(hz).await;
    assert!(ok, "{err}");
    let rate: f64 = out
        .split(": ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no rate in {out:?}"));
    // ~50 msg/s are sent; a loaded machine may slow the sender, not speed it up.
    assert!(rate > 5.0 && rate < 60.0, "{out}");
    assert!(out.contains("lost 0"), "{out}");

    feeding.abort();
    stop.shutdown();
}

#[test]
fn echo_of_a_missing_topic_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cortex"))
        .args([
            "topic",
            "echo",
            "/none",
            "--wait-s",
            "1",
            "--timeout-ms",
            "200",
            "--address",
        ])
        .arg(format!("ipc://{}/nobody.sock", dir.path().display()))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/none") || err.contains("nobody.sock"),
        "{err}"
    );
}
