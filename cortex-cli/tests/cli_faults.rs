//! The CLI under faults: a reader that goes away (F7 of the reliability
//! campaign) and a hostile sequence number (F6).

use std::process::{Command, Stdio};
use std::time::Duration;

use cortex::codec::Header;
use cortex::discovery::{Client, Daemon, TopicInfo};
use cortex::messages::IntMessage;
use cortex::{Message, Node, NodeConfig};

struct World {
    dir: tempfile::TempDir,
    discovery: String,
    stop: cortex::discovery::ShutdownHandle,
}

async fn world() -> World {
    let dir = tempfile::Builder::new()
        .prefix("cxf")
        .tempdir_in("/tmp")
        .unwrap();
    let discovery = format!("ipc://{}/d.sock", dir.path().display());
    let daemon = Daemon::bind(discovery.clone()).await.unwrap();
    let stop = daemon.shutdown_handle();
    tokio::spawn(daemon.run());
    World {
        dir,
        discovery,
        stop,
    }
}

async fn shell(script: String) -> (i32, String, String) {
    tokio::task::spawn_blocking(move || {
        let out = Command::new("bash")
            .args(["-c", &script])
            .env_remove("CORTEX_DISCOVERY")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

/// `cortex topic echo /x | head -2`: echo ends with success when `head`
/// closes the pipe, instead of panicking on a broken pipe.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_into_a_closed_pipe_ends_quietly() {
    let w = world().await;
    let node = Node::new(
        NodeConfig::new("pipe")
            .discovery(&w.discovery)
            .socket_root(w.dir.path().join("topics"))
            .spawn_daemon(false),
    )
    .await
    .unwrap();
    let publisher = node.publisher::<IntMessage>("/pipe").await.unwrap();
    let feeding = tokio::spawn(async move {
        for n in 0.. {
            publisher.publish(&IntMessage { data: n }).unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    let (code, out, err) = shell(format!(
        "set -o pipefail; {} topic echo /pipe --address {} | head -2",
        env!("CARGO_BIN_EXE_cortex"),
        w.discovery
    ))
    .await;
    assert_eq!(code, 0, "stdout {out:?}\nstderr {err}");
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(!err.contains("panicked"), "{err}");
    feeding.abort();
    w.stop.shutdown();
}

/// One header with sequence `u64::MAX` (and the restart after it) counts
/// no loss, at a subscriber and in `cortex topic hz`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_extreme_sequence_number_is_not_counted_as_loss() {
    let w = world().await;
    let ctx = zmq::Context::new();
    let raw = ctx.socket(zmq::PUB).unwrap();
    let address = format!("ipc://{}/raw.sock", w.dir.path().display());
    raw.bind(&address).unwrap();
    Client::new(w.discovery.clone())
        .register(&TopicInfo {
            name: "/seq".into(),
            address,
            message_type: "IntMessage".into(),
            fingerprint: IntMessage::FINGERPRINT,
            publisher_node: "raw".into(),
        })
        .await
        .unwrap();
    let metadata = IntMessage { data: 1 }.encode(0).unwrap().metadata;
    let sending = tokio::spawn(async move {
        // 0, 1, u64::MAX, then 0, 1, u64::MAX ... : a jump and a restart
        // every third message, and never a lost one.
        for _ in 0..2000 {
            for seq in [0, 1, u64::MAX] {
                let header = Header::now(IntMessage::FINGERPRINT, seq).to_bytes();
                raw.send_multipart([&b"/seq"[..], &header, &metadata], 0)
                    .unwrap();
            }
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
    });

    let node = Node::new(
        NodeConfig::new("seq")
            .discovery(&w.discovery)
            .socket_root(w.dir.path().join("topics"))
            .spawn_daemon(false),
    )
    .await
    .unwrap();
    let mut sub = node.subscriber::<IntMessage>("/seq").await.unwrap();
    for _ in 0..30 {
        tokio::time::timeout(Duration::from_secs(10), sub.recv())
            .await
            .unwrap()
            .unwrap();
    }
    assert_eq!(sub.stats().dropped, 0, "{:?}", sub.stats());

    let (code, out, err) = shell(format!(
        "{} topic hz /seq --window 0.5 -n 2 --address {}",
        env!("CARGO_BIN_EXE_cortex"),
        w.discovery
    ))
    .await;
    assert_eq!(code, 0, "{err}");
    let totals = out.lines().filter(|l| l.starts_with("/seq: ")).count();
    assert_eq!(totals, 2, "two reports: {out}");
    assert!(
        out.lines().all(|l| l.contains("lost 0")),
        "no loss in total or for the publisher: {out}"
    );
    sending.abort();
    w.stop.shutdown();
}

/// `cortex topic list` with more records than one reply holds (F4).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_list_shows_more_records_than_one_reply_holds() {
    let dir = tempfile::Builder::new()
        .prefix("cxf")
        .tempdir_in("/tmp")
        .unwrap();
    let discovery = format!("ipc://{}/d.sock", dir.path().display());
    let daemon = Daemon::bind_with(
        cortex::discovery::DaemonConfig::new(discovery.clone()).probe_interval(None),
    )
    .await
    .unwrap();
    let stop = daemon.shutdown_handle();
    tokio::spawn(daemon.run());
    let client = Client::new(discovery.clone());
    let long_dir = "/tmp/cortex-listing-test/a-fairly-long-directory-name/for/the/sockets";
    for i in 0..6_000 {
        client
            .register(&TopicInfo {
                name: format!(
                    "/robot/sensors/camera_{i:05}/image_raw/compressed/with/a/long/suffix"
                ),
                address: format!("ipc://{long_dir}/n__{i}.sock"),
                message_type: "ImageMessage".into(),
                fingerprint: 1,
                publisher_node: "lister".into(),
            })
            .await
            .unwrap();
    }
    let raw = client
        .request(&cortex::discovery::Request::list())
        .await
        .unwrap();
    assert!(
        raw.topics.unwrap().len() < 6_000,
        "the records do not fit one reply"
    );
    let (code, out, err) = shell(format!(
        "{} topic list --address {discovery}",
        env!("CARGO_BIN_EXE_cortex")
    ))
    .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 6_001, "a header and every topic");
    stop.shutdown();
}
