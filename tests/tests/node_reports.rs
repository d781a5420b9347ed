//! Node reports: every node tells the daemon what it publishes (with each
//! publisher's subscribers), subscribes to and serves; `list_nodes` shows
//! it, and a node that closes or goes silent disappears.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cortex::discovery::{
    Client, ClientConfig, NodeInfo, NodeReport, NodeSubscription, Request, Response, Status,
};
use cortex::prelude::*;
use cortex_tests::{TestEnv, BOUND};

#[derive(Message, Debug, Clone, PartialEq)]
pub struct Reading {
    pub value: f64,
}

const READINGS: Topic<Reading> = Topic::new("/readings");

/// Short, so reports follow changes quickly; a fail-safe, not a measure.
const EVERY: Duration = Duration::from_millis(100);

fn config(env: &TestEnv, name: &str) -> NodeConfig {
    env.node_config(name).report_interval(Some(EVERY))
}

/// Lists the nodes until `done` holds for the listing (bounded).
async fn until(client: &Client, done: impl Fn(&[NodeReport]) -> bool) -> Vec<NodeReport> {
    tokio::time::timeout(BOUND, async {
        loop {
            let nodes = client.list_nodes().await.unwrap();
            if done(&nodes) {
                return nodes;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the node listing reached the expected state")
}

fn named<'a>(nodes: &'a [NodeReport], name: &str) -> Option<&'a NodeInfo> {
    nodes.iter().map(|n| &n.info).find(|n| n.name == name)
}

/// The subscribers `node`'s report gives its publisher of `/readings`.
fn subscribers(nodes: &[NodeReport], node: &str) -> Option<u64> {
    named(nodes, node)?
        .publishes
        .iter()
        .find(|p| p.topic == READINGS.name())
        .map(|p| p.subscribers)
}

#[tokio::test]
async fn list_nodes_shows_publishers_with_their_subscribers_and_subscriptions() {
    let env = TestEnv::new();
    let daemon = env.start_daemon().await;
    let client = daemon.client();

    let sensor = Node::new(config(&env, "sensor")).await.unwrap();
    sensor.advertise(&READINGS).await.unwrap();
    let monitor = Node::new(config(&env, "monitor")).await.unwrap();
    let first = monitor
        .subscriber::<Reading>(READINGS.name())
        .await
        .unwrap();
    let nodes = until(&client, |nodes| {
        subscribers(nodes, "sensor") == Some(1)
            && named(nodes, "monitor").is_some_and(|m| !m.subscribes.is_empty())
    })
    .await;

    let record = client.lookup(READINGS.name()).await.unwrap().unwrap();
    let s = named(&nodes, "sensor").unwrap();
    assert_eq!(s.instance, sensor.instance());
    assert_eq!(s.pid, std::process::id());
    assert!(!s.host.is_empty());
    assert_eq!(s.interval, EVERY);
    assert_eq!(s.publishes.len(), 1);
    assert_eq!(s.publishes[0].message_type, Reading::TYPE_NAME);
    assert_eq!(s.publishes[0].address, record.address, "matches the record");
    assert!(s.subscribes.is_empty() && s.serves.is_empty());
    let m = named(&nodes, "monitor").unwrap();
    assert_eq!(
        m.subscribes,
        [NodeSubscription {
            topic: READINGS.name().into(),
            message_type: Reading::TYPE_NAME.into(),
        }]
    );
    assert!(m.publishes.is_empty());

    // A second subscriber is counted; dropped ones are not, and a node
    // without subscribers no longer lists the topic.
    let second = monitor
        .subscriber::<Reading>(READINGS.name())
        .await
        .unwrap();
    until(&client, |nodes| subscribers(nodes, "sensor") == Some(2)).await;
    drop((first, second));
    until(&client, |nodes| {
        subscribers(nodes, "sensor") == Some(0)
            && named(nodes, "monitor").is_some_and(|m| m.subscribes.is_empty())
    })
    .await;

    // A closed node unregisters and is gone; the other stays. (Waited
    // for, not asserted at once: on a loaded machine the unregistration
    // may time out, and the report then ages out instead.)
    monitor.close().await;
    let nodes = until(&client, |nodes| named(nodes, "monitor").is_none()).await;
    assert!(named(&nodes, "sensor").is_some());
    sensor.close().await;
    until(&client, <[NodeReport]>::is_empty).await;
    daemon.stop().await;
}

#[tokio::test]
async fn a_node_that_stops_reporting_is_forgotten() {
    let env = TestEnv::new();
    let daemon = env.start_daemon().await;
    let client = daemon.client();
    // As a crashed node leaves it: a report, and nothing after.
    let info = NodeInfo {
        interval: EVERY,
        ..NodeInfo::new("crashed", 7)
    };
    assert!(client.report_node(&info).await.unwrap());
    assert_eq!(client.list_nodes().await.unwrap()[0].info, info);
    until(&client, <[NodeReport]>::is_empty).await;
    daemon.stop().await;
}

#[tokio::test]
async fn a_node_without_reports_is_not_listed() {
    let env = TestEnv::new();
    let daemon = env.start_daemon().await;
    let quiet = Node::new(env.node_config("quiet").report_interval(None))
        .await
        .unwrap();
    let loud = Node::new(config(&env, "loud")).await.unwrap();
    let nodes = until(&daemon.client(), |nodes| named(nodes, "loud").is_some()).await;
    assert!(named(&nodes, "quiet").is_none());
    quiet.close().await;
    loud.close().await;
    daemon.stop().await;
}

/// A daemon that knows only the Python protocol: `ERROR` to every cortex
/// extension, as the Python daemon answers.
struct PythonDaemon {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PythonDaemon {
    fn start(address: &str) -> Self {
        let ctx = zmq::Context::new();
        let socket = ctx.socket(zmq::ROUTER).unwrap();
        socket.set_linger(0).unwrap();
        socket.set_rcvtimeo(20).unwrap();
        socket.bind(address).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let _ctx = ctx;
                while !stop.load(Ordering::Relaxed) {
                    let Ok(mut frames) = socket.recv_multipart(0) else {
                        continue;
                    };
                    let body = frames.pop().unwrap();
                    let code = Request::decode(&body).map_or(0, |r| r.command.code());
                    let response = match code {
                        5 => Response::new(Status::Ok, "pong"),
                        1..=4 => Response::new(Status::Ok, ""),
                        _ => Response::error(format!("Unknown command: {code}")),
                    };
                    frames.push(response.encode());
                    socket.send_multipart(frames, 0).unwrap();
                }
            })
        };
        Self {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for PythonDaemon {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[tokio::test]
async fn a_python_daemon_is_not_sent_reports_and_cannot_list_nodes() {
    let env = TestEnv::new();
    let _python = PythonDaemon::start(&env.discovery);
    let client = Client::with_config(ClientConfig::new(env.discovery.clone()));
    // Reporting is skipped quietly: nodes keep working with a Python daemon.
    assert!(!client.report_node(&NodeInfo::new("n", 1)).await.unwrap());
    let error = client.list_nodes().await.unwrap_err().to_string();
    for part in ["does not track nodes", "Python", "cortex discovery"] {
        assert!(error.contains(part), "{error}");
    }
}

/// Standalone publishers are reported while open: a typed one with its
/// type's fingerprint and fields (how tools learn a type's layout), a raw
/// one with its fingerprint only; each with its subscribers.
#[tokio::test]
async fn standalone_publishers_are_reported_with_their_types_while_open() {
    let env = TestEnv::new();
    let daemon = env.start_daemon().await;
    let client = daemon.client();
    let node = Node::new(config(&env, "tool")).await.unwrap();
    let typed = node.publisher::<Reading>("/typed").await.unwrap();
    let raw = node
        .raw_publisher("/raw", "Opaque", 0xfeed, &Default::default())
        .await
        .unwrap();
    let listener = Node::new(config(&env, "listener")).await.unwrap();
    let _sub = listener.subscriber::<Reading>("/typed").await.unwrap();
    typed.wait_for_subscribers(1, BOUND).await.unwrap();

    let publication = |nodes: &[NodeReport], topic: &str| {
        named(nodes, "tool").and_then(|n| n.publishes.iter().find(|p| p.topic == topic).cloned())
    };
    let nodes = until(&client, |nodes| {
        publication(nodes, "/typed").is_some_and(|p| p.subscribers == 1)
            && publication(nodes, "/raw").is_some()
    })
    .await;
    let t = publication(&nodes, "/typed").unwrap();
    assert_eq!(
        (t.message_type.as_str(), t.fingerprint),
        ("Reading", Reading::FINGERPRINT)
    );
    assert_eq!(t.fields, [("value".to_owned(), "f64".to_owned())]);
    assert_eq!(t.address, typed.address());
    let r = publication(&nodes, "/raw").unwrap();
    assert_eq!((r.message_type.as_str(), r.fingerprint), ("Opaque", 0xfeed));
    assert!(r.fields.is_empty());

    // Gone from the reports once closed or dropped.
    typed.close().await.unwrap();
    drop(raw);
    until(&client, |nodes| {
        named(nodes, "tool").is_some_and(|n| n.publishes.is_empty())
    })
    .await;
}
