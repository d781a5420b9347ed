//! `cortex node list [--json]`, the subscriber counts and subscribing
//! nodes of `cortex topic info [--json]`, and `cortex topic list --json`,
//! from the reports nodes send the daemon.

use std::process::Stdio;
use std::time::Duration;

use cortex::discovery::{Client, NodeReport};
use cortex::messages::IntMessage;
use cortex::{Message, Node, NodeConfig, Topic};
use serde_json::Value as Json;

mod common;
use common::World;

/// Only against a hang: every wait ends on an event well before it.
const FAILSAFE: Duration = Duration::from_secs(60);

const READINGS: Topic<IntMessage> = Topic::new("/readings");

/// A node on `w` that reports every 100 ms, so listings follow quickly.
async fn node(w: &World, name: &str) -> Node {
    Node::new(
        NodeConfig::new(name)
            .discovery(&w.discovery)
            .socket_root(w.dir.path().join("topics"))
            .spawn_daemon(false)
            .report_interval(Some(Duration::from_millis(100))),
    )
    .await
    .unwrap()
}

/// Runs `cortex ARGS` until its output satisfies `done` (reports arrive
/// on their own schedule); returns that output.
async fn until(w: &World, args: &[&str], done: impl Fn(&str) -> bool) -> String {
    tokio::time::timeout(FAILSAFE, async {
        loop {
            let (ok, out, err) = w.run(args).await;
            assert!(ok, "cortex {args:?} failed: {err}");
            if done(&out) {
                return out;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("cortex {args:?} never showed what was expected"))
}

/// The reports of the daemon until `done` holds for them (bounded).
async fn reports_until(client: &Client, done: impl Fn(&[NodeReport]) -> bool) {
    tokio::time::timeout(FAILSAFE, async {
        while !done(&client.list_nodes().await.unwrap()) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the reports reached the expected state");
}

fn line_of<'a>(out: &'a str, first: &str) -> Vec<&'a str> {
    out.lines()
        .find(|l| l.split_whitespace().next() == Some(first))
        .unwrap_or_else(|| panic!("no line for {first}: {out}"))
        .split_whitespace()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_list_and_topic_info_show_publishers_subscribers_and_their_counts() {
    let w = common::world("cxnodes").await;
    let sensor = node(&w, "sensor").await;
    sensor.advertise(&READINGS).await.unwrap();
    let monitor = node(&w, "monitor").await;
    let _sub = monitor
        .subscriber::<IntMessage>(READINGS.name())
        .await
        .unwrap();
    sensor
        .wait_for_subscribers(&READINGS, 1, FAILSAFE)
        .await
        .unwrap();

    // The table: one line per node, what it does, its subscribers.
    let out = until(&w, &["node", "list"], |out| {
        out.contains("/readings (1 sub)") && out.lines().any(|l| l.starts_with("monitor "))
    })
    .await;
    let header: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NODE",
            "PID",
            "HOST",
            "PUBLISHES",
            "SUBSCRIBES",
            "SERVES",
            "AGE"
        ]
    );
    let pid = std::process::id().to_string();
    let s = line_of(&out, "sensor");
    assert_eq!(s[1], pid, "{out}");
    assert_eq!(s[3..7], ["/readings", "(1", "sub)", "-"], "{out}");
    let m = line_of(&out, "monitor");
    assert_eq!(m[3..6], ["-", "/readings", "-"], "{out}");
    assert!(m[6].ends_with('s'), "an age: {out}");

    // JSON: every field, by name.
    let (ok, out, err) = w.run(&["node", "list", "--json"]).await;
    assert!(ok, "{err}");
    let nodes: Json = serde_json::from_str(&out).unwrap();
    let names: Vec<&str> = nodes
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["monitor", "sensor"], "sorted by name");
    let s = &nodes[1];
    assert_eq!(s["pid"], std::process::id());
    assert_eq!(s["instance"], sensor.instance());
    assert_eq!(s["publishes"][0]["topic"], "/readings");
    assert_eq!(s["publishes"][0]["type"], IntMessage::TYPE_NAME);
    assert_eq!(s["publishes"][0]["subscribers"], 1);
    assert!(s["age_ms"].is_u64());
    assert_eq!(nodes[0]["subscribes"][0]["topic"], "/readings");
    assert_eq!(nodes[0]["serves"], Json::Array(vec![]));

    // A command-line subscriber counts too: the publisher counts every
    // subscription that reaches it, whoever sends it.
    let client = Client::new(w.discovery.clone());
    let mut echo = w
        .addressed(&["topic", "echo", "/readings", "-n", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let subscribers = |nodes: &[NodeReport]| {
        nodes
            .iter()
            .find(|n| n.info.name == "sensor")
            .and_then(|n| n.info.publishes.first())
            .map(|p| p.subscribers)
    };
    reports_until(&client, |nodes| subscribers(nodes) == Some(2)).await;

    // topic info: per publisher SUBS, and who subscribes.
    let record = client.lookup("/readings").await.unwrap().unwrap();
    let out = until(&w, &["topic", "info", "/readings"], |out| {
        out.contains("subscribing nodes: monitor")
    })
    .await;
    assert!(out.contains("SUBS"), "{out}");
    let fingerprint = format!("{:#018x}", IntMessage::FINGERPRINT);
    assert_eq!(
        line_of(&out, "sensor"),
        ["sensor", "IntMessage", &fingerprint, "2", &record.address],
        "{out}"
    );
    let (ok, out, err) = w.run(&["topic", "info", "/readings", "--json"]).await;
    assert!(ok, "{err}");
    let info: Json = serde_json::from_str(&out).unwrap();
    assert_eq!(info["name"], "/readings");
    assert_eq!(info["publishers"][0]["node"], "sensor");
    assert_eq!(info["publishers"][0]["subscribers"], 2);
    assert_eq!(info["publishers"][0]["address"], record.address);
    assert_eq!(info["subscribing_nodes"], serde_json::json!(["monitor"]));

    // Let the echo end: it prints one message and exits.
    tokio::time::timeout(FAILSAFE, async {
        loop {
            sensor.publish(&READINGS, &IntMessage { data: 1 }).unwrap();
            if echo.try_wait().unwrap().is_some() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("echo ends after one message");

    // topic list --json.
    let (ok, out, err) = w.run(&["topic", "list", "--json"]).await;
    assert!(ok, "{err}");
    let topics: Json = serde_json::from_str(&out).unwrap();
    assert_eq!(
        topics,
        serde_json::json!([{
            "name": "/readings",
            "type": "IntMessage",
            "fingerprint": IntMessage::FINGERPRINT,
            "publishers": 1,
            "node": "sensor",
            "address": record.address,
        }])
    );

    // A closed node leaves the listing (at once: it unregisters; tests/
    // node_reports.rs checks that exactly).
    monitor.close().await;
    let out = until(&w, &["node", "list"], |out| !out.contains("monitor")).await;
    assert!(out.contains("sensor"), "{out}");
    sensor.close().await;
    until(&w, &["node", "list", "--json"], |out| out.trim() == "[]").await;
}

/// A publisher whose node does not report (a Python one, say) has no
/// count: `-` in SUBS, `null` in JSON, next to a reported standalone
/// publisher's; and an empty listing says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishers_without_reports_have_no_count_and_an_empty_listing_says_so() {
    let w = common::world("cxnodes").await;
    let (ok, out, err) = w.run(&["node", "list"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("no nodes report"), "{out}");

    let quiet = Node::new(
        NodeConfig::new("quiet")
            .discovery(&w.discovery)
            .socket_root(w.dir.path().join("topics"))
            .spawn_daemon(false)
            .report_interval(None),
    )
    .await
    .unwrap();
    quiet.advertise(&READINGS).await.unwrap();
    let loud = node(&w, "loud").await;
    let _other = loud.publisher::<IntMessage>(READINGS.name()).await.unwrap();
    let loud_managed: Topic<IntMessage> = Topic::new("/loud");
    loud.advertise(&loud_managed).await.unwrap();
    until(&w, &["node", "list"], |out| out.contains("/loud (0 subs)")).await;

    let (ok, out, err) = w.run(&["topic", "info", "/readings"]).await;
    assert!(ok, "{err}");
    // The node that does not report has no count; the other's
    // standalone publisher is reported like a managed one.
    assert!(out.contains("SUBS"), "{out}");
    assert_eq!(line_of(&out, "quiet")[3], "-", "{out}");
    assert_eq!(line_of(&out, "loud")[3], "0", "{out}");
    assert!(out.contains("subscribing nodes: none reported"), "{out}");
    let (ok, out, err) = w.run(&["topic", "info", "/readings", "--json"]).await;
    assert!(ok, "{err}");
    let info: Json = serde_json::from_str(&out).unwrap();
    assert_eq!(info["publishers"][0]["subscribers"], Json::Null);
    assert_eq!(info["publishers"][1]["subscribers"], 0);
    assert_eq!(info["subscribing_nodes"], serde_json::json!([]));

    let (ok, out, err) = w.run(&["topic", "info", "/loud"]).await;
    assert!(ok, "{err}");
    assert_eq!(line_of(&out, "loud")[3], "0", "{out}");
}
