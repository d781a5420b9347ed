//! `cortex topic pub` received by typed subscribers in the test, its
//! errors, and `cortex topic bw` against a publisher of known sizes.

mod common;

use common::Killed;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use cortex::bytes::Bytes;
use cortex::messages::{ImageMessage, IntMessage};
use cortex::pubsub::PublisherOptions;
use cortex::{DynArray, Header, Message, Node, NodeConfig, Topic};

/// Fail-safe bound of every wait below; never reached when things work.
const FAIL_SAFE: Duration = Duration::from_secs(30);

/// `cortex ARGS --address <daemon>`, on the world's socket directory, its
/// stdout and stderr piped.
fn spawn(w: &common::World, args: &[&str]) -> Killed {
    Killed(
        w.addressed(args)
            .env("CORTEX_SOCKET_ROOT", w.dir.path().join("topics"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    )
}

/// The child's exit status and its whole stdout and stderr, waited for
/// off the runtime's threads.
async fn finish(mut child: Killed) -> (bool, String, String) {
    tokio::task::spawn_blocking(move || {
        let mut out = String::new();
        let mut err = String::new();
        use std::io::Read;
        child
            .0
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        child
            .0
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let ok = child.0.wait().unwrap().success();
        (ok, out, err)
    })
    .await
    .unwrap()
}

/// The child's stdout, line by line, as it comes.
fn stdout_lines(child: &mut Killed) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let out = child.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pub_count_reaches_a_typed_subscriber() {
    let w = common::world("cxpub").await;
    // Spawned first: the subscriber waits for the topic to be registered.
    // The long --wait-timeout is a fail-safe; the subscriber ends the wait.
    let publisher = spawn(
        &w,
        &[
            "topic",
            "pub",
            "/x",
            "IntMessage",
            r#"{"data": 5}"#,
            "--count",
            "3",
            "--rate",
            "50",
            "--wait-timeout",
            "30",
        ],
    );
    let node = w.node("listener").await;
    let mut sub = tokio::time::timeout(FAIL_SAFE, node.subscriber::<IntMessage>("/x"))
        .await
        .expect("the topic was never registered")
        .unwrap();
    for _ in 0..3 {
        let (msg, _) = tokio::time::timeout(FAIL_SAFE, sub.recv())
            .await
            .expect("a message did not arrive")
            .unwrap();
        assert_eq!(msg, IntMessage { data: 5 });
    }
    let (ok, out, err) = finish(publisher).await;
    assert!(ok, "{err}");
    assert!(
        out.contains("publishing #3 to /x: IntMessage(data=5)"),
        "{out}"
    );
    assert!(!out.contains("#4"), "{out}");
    assert!(err.contains("publishing /x (IntMessage, "), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pub_once_sends_an_image_built_from_an_array_object() {
    let w = common::world("cxpub").await;
    let image = r#"{"data": {"dtype": "<u1", "shape": [2, 3], "data": [0, 1, 2, 3, 4, 5]},
                    "encoding": "mono8", "width": 3, "height": 2}"#;
    let publisher = spawn(
        &w,
        &[
            "topic",
            "pub",
            "/img",
            "ImageMessage",
            image,
            "--once",
            "--wait-timeout",
            "30",
        ],
    );
    let node = w.node("viewer").await;
    let mut sub = tokio::time::timeout(FAIL_SAFE, node.subscriber::<ImageMessage>("/img"))
        .await
        .expect("the topic was never registered")
        .unwrap();
    let (msg, _) = tokio::time::timeout(FAIL_SAFE, sub.recv())
        .await
        .expect("the image did not arrive")
        .unwrap();
    assert_eq!(
        (msg.encoding.as_str(), msg.width, msg.height),
        ("mono8", 3, 2)
    );
    let DynArray::U8(data) = &msg.data else {
        panic!("not a u8 array: {:?}", msg.data);
    };
    assert_eq!(data.shape(), &[2, 3]);
    assert_eq!(data.as_slice(), &[0, 1, 2, 3, 4, 5]);
    let (ok, out, err) = finish(publisher).await;
    assert!(ok, "{err}");
    assert_eq!(out.lines().count(), 1, "{out}");
}

/// Runs `topic pub ARGS`, expected to fail: its stderr, after checking
/// that it failed and published nothing.
async fn refused(w: &common::World, args: &[&str]) -> String {
    let args = [&["topic", "pub"], args].concat();
    let (ok, out, err) = w.run(&args).await;
    assert!(!ok, "{args:?} succeeded: {out}");
    assert!(out.is_empty(), "{out}");
    err
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pub_errors_name_the_problem_and_the_fix() {
    let w = common::world("cxpub").await;

    let err = refused(&w, &["/x", "IntMessage", "{data: 5}"]).await;
    assert!(
        err.contains("error: cannot publish IntMessage to /x: the message is not valid JSON"),
        "{err}"
    );
    assert!(err.contains("quote it for the shell"), "{err}");

    let fields = "the fields of IntMessage, in order: data (i64)";
    let err = refused(&w, &["/x", "IntMessage", r#"{"dat": 5}"#]).await;
    assert!(
        err.contains(
            "cannot publish IntMessage to /x: IntMessage has no field \"dat\"; \
             field \"data\" (i64) is missing; "
        ),
        "{err}"
    );
    assert!(err.contains(fields), "{err}");

    let err = refused(&w, &["/x", "IntMessage", r#"{"data": "five"}"#]).await;
    assert!(
        err.contains("data is i64: expected an integer, got \"five\""),
        "{err}"
    );
    assert!(err.contains(fields), "{err}");

    let err = refused(&w, &["/x", "IntMessage", "[5]"]).await;
    assert!(err.contains("must be a JSON object of the fields"), "{err}");

    let err = refused(&w, &["/x", "Int", r#"{"data": 5}"#]).await;
    assert!(err.contains("did you mean IntMessage?"), "{err}");

    let err = refused(&w, &["/x", "Twist", "{}"]).await;
    assert!(err.contains("unknown message type"), "{err}");
    assert!(err.contains("standard messages ArrayMessage, "), "{err}");

    let err = refused(&w, &["/x", "IntMessage", "{}", "--rate", "0"]).await;
    assert!(err.contains("--rate: must be a positive number"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pub_refuses_types_it_cannot_build_or_that_clash() {
    let w = common::world("cxpub").await;
    let node = w.node("robot").await;
    let options = PublisherOptions::default();
    let _custom = node
        .raw_publisher("/pose", "MyPose", 0x1234_5678, &options)
        .await
        .unwrap();
    let _ints = node.publisher::<IntMessage>("/count").await.unwrap();

    // A standalone publisher is not in the node's reports: no fields.
    let err = refused(&w, &["/pose", "MyPose", "{}"]).await;
    assert!(
        err.contains("MyPose is not a standard message, and node robot publishes it"),
        "{err}"
    );
    assert!(err.contains("without reporting its fields"), "{err}");
    assert!(err.contains("`cortex node list`"), "{err}");

    let err = refused(&w, &["/count", "FloatMessage", r#"{"data": 1.5}"#]).await;
    assert!(err.contains("it is published as IntMessage (0x"), "{err}");
    assert!(err.contains("by node robot"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bw_reports_count_and_sizes() {
    let w = common::world("cxbw").await;
    let node = w.node("blobs").await;
    let publisher = node
        .raw_publisher("/b", "Blob", 0xB10B, &PublisherOptions::default())
        .await
        .unwrap();
    // Every message is the header, one metadata byte (an empty msgpack
    // list) and an array buffer: 500 bytes after the topic frame.
    let buffer = Bytes::from(vec![7u8; 500 - Header::LEN - 1]);
    let mut bw = spawn(&w, &["topic", "bw", "/b", "--window", "0.2", "-n", "1000"]);
    let lines = stdout_lines(&mut bw);
    publisher
        .wait_for_subscribers(1, FAIL_SAFE)
        .await
        .expect("topic bw did not subscribe");
    const SENT: u64 = 5;
    for _ in 0..SENT {
        publisher
            .publish_encoded(&[0x90], vec![buffer.clone()])
            .unwrap();
    }
    // The messages may fall into more than one window: add up the counts.
    let mut counted = 0;
    while counted < SENT {
        let line = tokio::task::block_in_place(|| lines.recv_timeout(FAIL_SAFE))
            .expect("topic bw stopped reporting");
        assert!(line.starts_with("/b: "), "{line}");
        assert!(line.ends_with(", 1 publisher"), "{line}");
        let count: u64 = line
            .split(", ")
            .find_map(|part| part.strip_suffix(" s")?.split_once(" msgs in "))
            .and_then(|(n, _)| n.parse().ok())
            .unwrap_or_else(|| panic!("no count in {line}"));
        if count > 0 {
            assert!(
                line.contains("size mean 500 B min 500 B max 500 B"),
                "{line}"
            );
        }
        counted += count;
    }
    assert_eq!(counted, SENT);
}

/// A type of this test only: `topic pub` learns its fields from the
/// report of the node that publishes it.
#[derive(Message, Debug, Clone, PartialEq)]
struct Reading {
    label: String,
    values: Vec<f64>,
    gain: Option<u8>,
}

const READINGS: Topic<Reading> = Topic::new("/readings");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pub_builds_a_custom_type_a_live_node_reports() {
    let w = common::world("cxpub").await;
    let sensor = Node::new(
        NodeConfig::new("sensor")
            .discovery(&w.discovery)
            .socket_root(w.dir.path().join("topics"))
            .spawn_daemon(false)
            .report_interval(Some(Duration::from_millis(100))),
    )
    .await
    .unwrap();
    sensor.advertise(&READINGS).await.unwrap();
    // Reports arrive on their own schedule: wait for the type's fields.
    let client = sensor.discovery().clone();
    tokio::time::timeout(FAIL_SAFE, async {
        loop {
            let nodes = client.list_nodes().await.unwrap();
            let reported = nodes
                .iter()
                .flat_map(|n| &n.info.publishes)
                .any(|p| p.message_type == "Reading" && !p.fields.is_empty());
            if reported {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the sensor never reported Reading's fields");

    let err = refused(
        &w,
        &["/readings", "Reading", r#"{"label": 1, "values": [1]}"#],
    )
    .await;
    assert!(
        err.contains("label is String: expected a string, got 1"),
        "{err}"
    );
    assert!(
        err.contains(
            "the fields of Reading, in order: label (String), values (Vec<f64>), gain (Option<u8>)"
        ),
        "{err}"
    );

    let publisher = spawn(
        &w,
        &[
            "topic",
            "pub",
            "/readings",
            "Reading",
            r#"{"label": "left", "values": [1.5, -2]}"#,
            "--once",
            "--wait-timeout",
            "30",
        ],
    );
    let listener = w.node("listener").await;
    let mut sub = listener.subscriber::<Reading>("/readings").await.unwrap();
    // The sensor's own publisher sends nothing: the one message is ours.
    let (msg, _) = tokio::time::timeout(FAIL_SAFE, sub.recv())
        .await
        .expect("the reading did not arrive")
        .unwrap();
    assert_eq!(
        msg,
        Reading {
            label: "left".into(),
            values: vec![1.5, -2.0],
            gain: None,
        }
    );
    let (ok, out, err) = finish(publisher).await;
    assert!(ok, "{err}");
    assert!(
        out.contains(
            "publishing #1 to /readings: Reading(label=\"left\", values=[1.5, -2], gain=null)"
        ),
        "{out}"
    );
}
