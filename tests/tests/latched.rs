//! Latched topics: a subscriber that joins late gets the last `depth`
//! messages of each publisher at once, then the live stream, without
//! duplicates and without a gap counted at the seam. The publisher of the
//! first test is a separate process (this test binary re-executed).

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use cortex::prelude::*;
use cortex::pubsub::{PublisherOptions, SubscriberOptions};
use cortex::Subscriber;
use cortex_tests::TestEnv;

const CHILD: &str = "CORTEX_TEST_LATCHED_CHILD";
/// Child mode 2: publish this one id on `/latched/once` and wait.
const ONCE: &str = "CORTEX_TEST_LATCHED_ONCE";
const BOUND: Duration = Duration::from_secs(60);

#[derive(Message, Debug, Clone, PartialEq)]
pub struct Reading {
    pub id: u64,
    pub data: NdArray<u8>,
}

fn reading(id: u64) -> Reading {
    Reading {
        id,
        data: NdArray::new(vec![id as u8; 16 << 10], [16 << 10]).unwrap(),
    }
}

/// Where the ids of the second publisher of a test start.
const RIGHT: u64 = 1_000_000;

const MAP: Topic<Reading> = Topic::new("/latched/map").latched(10);

/// Child mode: publish messages 0..60 on the latched topic MAP with nobody
/// listening, print "ready", wait for a subscriber, then publish on without
/// stopping (every 500 µs) until killed.
#[test]
#[ignore = "the child process of a_late_joiner_gets_the_last_ten_then_the_live_stream_across_processes"]
fn child_publisher() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let node = Node::new(NodeConfig::new("mapper").spawn_daemon(false))
            .await
            .unwrap();
        node.advertise(&MAP).await.unwrap();
        for id in 0..60 {
            node.publish(&MAP, &reading(id)).unwrap();
        }
        println!("ready");
        node.wait_for_subscribers(&MAP, 1, BOUND).await.unwrap();
        let mut tick = tokio::time::interval(Duration::from_micros(500));
        for id in 60.. {
            tick.tick().await;
            node.publish(&MAP, &reading(id)).unwrap();
        }
    });
}

/// Child mode: node "mapper2" publishes `$ONCE` once on a latched topic
/// (depth 1), prints "ready" and waits to be killed.
#[test]
#[ignore = "a child process of a_latched_publisher_restarted_on_its_endpoint_reaches_existing_subscribers"]
fn child_once() {
    let Some(id) = std::env::var_os(ONCE) else {
        return;
    };
    let id: u64 = id.to_str().unwrap().parse().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let node = Node::new(NodeConfig::new("mapper2").spawn_daemon(false))
            .await
            .unwrap();
        const ONCE_TOPIC: Topic<Reading> = Topic::new("/latched/once").latched(1);
        node.advertise(&ONCE_TOPIC).await.unwrap();
        node.publish(&ONCE_TOPIC, &reading(id)).unwrap();
        println!("ready");
        std::future::pending::<()>().await;
    });
}

/// Starts `child_once` with `id` and waits for its "ready" (blocking).
fn spawn_once(discovery: &str, socket_root: &std::path::Path, id: u64) -> Guard {
    let mut child = Guard(
        Command::new(std::env::current_exe().unwrap())
            .args(["child_once", "--ignored", "--exact", "--nocapture"])
            .args(["--test-threads=1"])
            .env(ONCE, id.to_string())
            .env("CORTEX_DISCOVERY", discovery)
            .env("CORTEX_SOCKET_ROOT", socket_root)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    use std::io::BufRead;
    let mut lines = std::io::BufReader::new(stdout).lines();
    assert!(
        lines.any(|l| l.unwrap().ends_with("ready")),
        "child {id} never ready"
    );
    child
}

/// A latched publisher killed and started again on the same endpoint (same
/// node, same topic) publishes once at start; a subscriber that was there
/// all along gets the new message, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_latched_publisher_restarted_on_its_endpoint_reaches_existing_subscribers() {
    let env = TestEnv::new();
    let _daemon = env.start_daemon().await;
    let spawn = |id| {
        let (discovery, root) = (env.discovery.clone(), env.socket_root());
        tokio::task::spawn_blocking(move || spawn_once(&discovery, &root, id))
    };
    // Ids the receive helper accepts for a first message (sequence 0).
    let (one, two) = (RIGHT, 2 * RIGHT);
    let first = spawn(one).await.unwrap();
    let node = Node::new(env.node_config("late")).await.unwrap();
    let mut sub = node.subscriber::<Reading>("/latched/once").await.unwrap();
    assert_eq!(receive(&mut sub, 1).await, [one]);
    drop(first); // kill -9 and wait
    let _second = spawn(two).await.unwrap();
    let (msg, _) = tokio::time::timeout(BOUND, sub.recv())
        .await
        .expect("the restarted publisher's message")
        .unwrap();
    assert_eq!(msg.id, two);
    // Nothing else: not the old message again, not the new one twice.
    assert!(
        tokio::time::timeout(Duration::from_millis(1500), sub.recv())
            .await
            .is_err()
    );
}

/// A daemon that restarts forgets every record until the publishers
/// register again; a subscriber of a latched topic asks for the replay
/// again then, and gets nothing it already had.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_restart_does_not_replay_what_a_subscriber_already_has() {
    let env = TestEnv::new();
    let daemon = env.start_daemon().await;
    let node = Node::new(env.node_config("mapper3")).await.unwrap();
    const MAP3: Topic<Reading> = Topic::new("/latched/restart").latched(3);
    node.advertise(&MAP3).await.unwrap();
    for id in 0..3 {
        node.publish(&MAP3, &reading(id)).unwrap();
    }
    let sink = Node::new(env.node_config("sink")).await.unwrap();
    let mut sub = sink
        .subscriber::<Reading>("/latched/restart")
        .await
        .unwrap();
    assert_eq!(receive(&mut sub, 3).await, [0, 1, 2]);
    daemon.stop().await;
    let _daemon = env.start_daemon().await;
    // The publisher registers again (keep-alive, 500 ms); the subscriber
    // sees it come back.
    let deadline = std::time::Instant::now() + BOUND;
    while sink
        .discovery()
        .publishers("/latched/restart")
        .await
        .map_or(true, |p| p.is_empty())
    {
        assert!(
            std::time::Instant::now() < deadline,
            "never registered again"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        tokio::time::timeout(Duration::from_secs(3), sub.recv())
            .await
            .is_err(),
        "a message was delivered again"
    );
    node.publish(&MAP3, &reading(3)).unwrap();
    assert_eq!(receive(&mut sub, 1).await, [3]);
    assert_eq!(sub.stats().dropped, 0);
}

struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Receives `n` messages; checks each is intact, the stream contiguous.
async fn receive(sub: &mut Subscriber<Reading>, n: usize) -> Vec<u64> {
    let mut ids = Vec::new();
    for _ in 0..n {
        let (msg, header) = tokio::time::timeout(BOUND, sub.recv())
            .await
            .expect("a message within the bound")
            .unwrap();
        assert_eq!(msg, reading(msg.id), "intact");
        assert_eq!(header.sequence, msg.id % RIGHT, "ids run 0.. and RIGHT..");
        ids.push(msg.id);
    }
    ids
}

async fn late_joiner_across_processes(shared_memory: bool) {
    let env = TestEnv::new();
    let _daemon = env.start_daemon().await;
    let mut child = Guard(
        Command::new(std::env::current_exe().unwrap())
            .args(["child_publisher", "--ignored", "--exact", "--nocapture"])
            .args(["--test-threads=1"])
            .env(CHILD, "1")
            .env("CORTEX_DISCOVERY", &env.discovery)
            .env("CORTEX_SOCKET_ROOT", env.socket_root())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        let mut lines = std::io::BufReader::new(stdout).lines();
        // libtest prints "test child_publisher ... " before the output.
        let ready = lines.any(|l| l.unwrap().ends_with("ready"));
        assert!(ready, "the child never got to message 60");
    })
    .await
    .unwrap();

    // Joins after message 59; the publisher goes on (every 500 µs) as soon
    // as it sees the subscription, so live messages race the replay.
    let node = Node::new(env.node_config("late")).await.unwrap();
    let options = SubscriberOptions {
        shared_memory,
        ..SubscriberOptions::default()
    };
    let mut sub = node
        .subscriber_with::<Reading>(MAP.name(), &options)
        .await
        .unwrap();
    assert_eq!(sub.uses_shared_memory(), shared_memory);
    let ids = receive(&mut sub, 200).await;
    // The first ten are the replay of 50..=59; every later id follows
    // without a gap or repeat.
    assert_eq!(ids[..10], (50..60).collect::<Vec<_>>(), "the replay");
    for pair in ids.windows(2) {
        assert_eq!(pair[1], pair[0] + 1, "contiguous: {ids:?}");
    }
    let stats = sub.stats();
    assert_eq!((stats.dropped, stats.decode_errors), (0, 0), "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_joiner_gets_the_last_ten_then_the_live_stream_across_processes() {
    late_joiner_across_processes(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_joiner_on_the_socket_path_gets_the_same() {
    late_joiner_across_processes(false).await;
}

#[tokio::test]
async fn depth_one_replays_the_last_message_of_each_publisher() {
    let env = TestEnv::new();
    let _daemon = env.start_daemon().await;
    let options = PublisherOptions {
        latched: 1,
        ..PublisherOptions::default()
    };
    let mut publishers = Vec::new();
    for (name, first) in [("left", 0), ("right", RIGHT)] {
        let node = Node::new(env.node_config(name)).await.unwrap();
        let p = node
            .publisher_with::<Reading>("/latched/pose", &options)
            .await
            .unwrap();
        // Nobody listens yet: five messages each, the last kept.
        for id in first..first + 5 {
            p.publish(&reading(id)).unwrap();
        }
        publishers.push((node, p));
    }
    let node = Node::new(env.node_config("late")).await.unwrap();
    let mut sub = node.subscriber::<Reading>("/latched/pose").await.unwrap();
    let mut got: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for _ in 0..2 {
        let (msg, _, from) = tokio::time::timeout(BOUND, sub.recv_from())
            .await
            .unwrap()
            .unwrap();
        got.entry(from.node().to_owned()).or_default().push(msg.id);
    }
    assert_eq!(
        got,
        BTreeMap::from([
            ("left".to_owned(), vec![4]),
            ("right".to_owned(), vec![RIGHT + 4])
        ])
    );
    // Then live, from each, with no gap counted at the seam.
    publishers[0].1.publish(&reading(5)).unwrap();
    publishers[1].1.publish(&reading(RIGHT + 5)).unwrap();
    let mut live: Vec<u64> = receive(&mut sub, 2).await;
    live.sort();
    assert_eq!(live, [5, RIGHT + 5]);
    let stats = sub.stats();
    assert_eq!((stats.received, stats.dropped), (4, 0), "{stats:?}");
    // An ordinary subscriber of an ordinary topic is not held back: a
    // topic that is not latched replays nothing.
    let plain = publishers[0]
        .0
        .publisher::<Reading>("/latched/plain")
        .await
        .unwrap();
    plain.publish(&reading(0)).unwrap();
    let mut sub = node.subscriber::<Reading>("/latched/plain").await.unwrap();
    plain.wait_for_subscribers(1, BOUND).await.unwrap();
    plain.publish(&reading(1)).unwrap();
    assert_eq!(receive(&mut sub, 1).await, [1]);
}
