//! A peer that holds more connections than the daemon may open (F1 of the
//! reliability campaign): the daemon sheds them instead of aborting,
//! clients connected before the flood keep being served, and new clients
//! are served again once the flood ends.

use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cortex::discovery::{Client, ClientConfig};

const BOUND: Duration = Duration::from_secs(30);

fn client(address: &str) -> Client {
    Client::with_config(
        ClientConfig::new(address)
            .request_timeout(Duration::from_millis(300))
            .retries(0),
    )
}

async fn until_answers(client: &Client) {
    let start = Instant::now();
    while client.ping().await.is_err() {
        assert!(start.elapsed() < BOUND, "the daemon never answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_flood_is_shed_and_the_daemon_recovers() {
    let dir = tempfile::Builder::new()
        .prefix("cxfd")
        .tempdir_in("/tmp")
        .unwrap();
    let path = dir.path().join("d.sock");
    let address = format!("ipc://{}", path.display());
    // A daemon that may open 128 descriptors at most (soft and hard).
    let mut daemon = Command::new("bash")
        .args([
            "-c",
            &format!(
                "ulimit -n 128; exec {} discovery --address {address}",
                env!("CARGO_BIN_EXE_cortex")
            ),
        ])
        .env_remove("CORTEX_DISCOVERY")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let before = client(&address);
    until_answers(&before).await;

    // 300 connections held open: far more than the daemon may have.
    let flood: Vec<UnixStream> = (0..300)
        .filter_map(|_| UnixStream::connect(&path).ok())
        .collect();
    assert!(flood.len() > 128, "the flood connected {}", flood.len());
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        daemon.try_wait().unwrap().is_none(),
        "the daemon died under the flood"
    );
    // A client connected before the flood is still served.
    before.ping().await.expect("served during the flood");

    drop(flood);
    // New clients are served again.
    until_answers(&client(&address)).await;
    assert!(daemon.try_wait().unwrap().is_none());
    let _ = Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status();
    let status = daemon.wait().unwrap();
    assert!(status.success(), "{status}");
}
