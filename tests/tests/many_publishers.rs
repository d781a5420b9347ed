//! Many publishers per topic: subscribers follow publishers that join and
//! leave (told by the daemon, not by polling), count loss per publisher,
//! and handlers learn which publisher sent a message. The publishers of the
//! first test are separate processes: this test binary re-executed in
//! child mode.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cortex::discovery::DiscoveryError;
use cortex::prelude::*;
use cortex::{Error, PublisherId};
use cortex_tests::TestEnv;

const CHILD: &str = "CORTEX_TEST_MANY_PUBLISHERS_CHILD";
const BOUND: Duration = Duration::from_secs(60);
/// Messages each child publishes, one per millisecond.
const PER_CHILD: u64 = 1500;

#[derive(Message, Debug, Clone, PartialEq)]
pub struct Reading {
    pub id: u64,
    /// When the child's publisher was registered (ns since the epoch).
    pub registered_ns: u64,
}

#[derive(Message, Debug, Clone, PartialEq)]
pub struct Other {
    pub text: String,
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// Child mode, run only by the test below (`--ignored --exact`): register
/// as node `$CHILD`, publish PER_CHILD readings at 1 kHz straight away (not
/// waiting for subscribers: the subscriber joins on the daemon's news),
/// then unregister and exit.
#[test]
#[ignore = "a child process of three_publishers_join_and_leave_under_traffic; it runs it"]
fn child_publisher() {
    let Some(name) = std::env::var_os(CHILD) else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let node = Node::new(NodeConfig::new(name.to_str().unwrap()).spawn_daemon(false))
            .await
            .unwrap();
        let publisher = node.publisher::<Reading>("/many/readings").await.unwrap();
        let registered_ns = now_ns();
        let mut tick = tokio::time::interval(Duration::from_millis(1));
        for id in 0..PER_CHILD {
            tick.tick().await;
            publisher.publish(&Reading { id, registered_ns }).unwrap();
        }
        // The last messages leave before the publisher unregisters.
        tokio::time::sleep(Duration::from_millis(300)).await;
        publisher.close().await.unwrap();
        node.close().await;
    });
}

/// Kills the children by pid if the test ends early.
struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn spawn_child(env: &TestEnv, name: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "child_publisher",
            "--ignored",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, name)
        .env("CORTEX_DISCOVERY", &env.discovery)
        .env("CORTEX_SOCKET_ROOT", env.socket_root())
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

/// What the subscriber saw from one publisher.
#[derive(Debug, Default)]
struct Seen {
    first_id: Option<u64>,
    last_id: u64,
    received: u64,
    join_latency: Option<Duration>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_publishers_join_and_leave_under_traffic() {
    let env = TestEnv::new();
    let _daemon = env.start_daemon().await;
    // The first publisher is there before the subscriber; the others join
    // while it receives, and all three leave while it receives.
    let mut children = Children(vec![spawn_child(&env, "pub-a")]);
    let node = Node::new(env.node_config("sink")).await.unwrap();
    let mut sub = node.subscriber::<Reading>("/many/readings").await.unwrap();

    let mut seen: BTreeMap<String, Seen> = BTreeMap::new();
    let mut most_at_once = 0;
    let started = Instant::now();
    let mut spawned = 1;
    tokio::time::timeout(BOUND, async {
        loop {
            // Stagger the joins: b after 400 ms, c after 800 ms.
            let elapsed = started.elapsed();
            if spawned < 3 && elapsed > Duration::from_millis(400 * spawned) {
                let name = ["pub-a", "pub-b", "pub-c"][spawned as usize];
                children.0.push(spawn_child(&env, name));
                spawned += 1;
            }
            let got = tokio::time::timeout(Duration::from_millis(50), sub.recv_from()).await;
            let Ok(got) = got else {
                // Quiet: done once all three came and went.
                if spawned == 3 && seen.len() == 3 && sub.publishers().is_empty() {
                    break;
                }
                continue;
            };
            let (msg, header, from) = got.unwrap();
            assert_eq!(header.sequence, msg.id, "one sequence per publisher");
            most_at_once = most_at_once.max(sub.publishers().len());
            let entry = seen.entry(from.node().to_owned()).or_default();
            if entry.first_id.is_none() {
                entry.first_id = Some(msg.id);
                // From the child's registration to this arrival (one
                // host, one clock).
                entry.join_latency = Some(Duration::from_nanos(
                    now_ns().saturating_sub(msg.registered_ns),
                ));
            } else {
                assert_eq!(msg.id, entry.last_id + 1, "in order from {from}");
            }
            entry.last_id = msg.id;
            entry.received += 1;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("all three publishers came and went; saw {seen:?}"));

    for (node_name, s) in &seen {
        let first = s.first_id.unwrap();
        eprintln!(
            "{node_name}: first message #{first}, {} received, registration to first message {:?}",
            s.received,
            s.join_latency.unwrap()
        );
        // Everything after the first message arrived, up to the last.
        assert_eq!(s.last_id, PER_CHILD - 1, "{node_name}: {s:?}");
        assert_eq!(s.received, PER_CHILD - first, "{node_name}: {s:?}");
    }
    assert_eq!(seen.len(), 3, "{seen:?}");
    // pub-b and pub-c joined while pub-a published (1.5 s each, 400 ms
    // apart): at some point all three were connected.
    assert_eq!(most_at_once, 3);
    let stats = sub.stats();
    assert_eq!((stats.dropped, stats.decode_errors), (0, 0), "{stats:?}");
    assert_eq!(
        stats.reconnects, 2,
        "pub-b and pub-c joined after the start"
    );
    for child in &mut children.0 {
        assert!(child.wait().unwrap().success());
    }
}

#[tokio::test]
async fn a_joining_publisher_reaches_a_waiting_subscriber_through_the_daemon() {
    let env = TestEnv::new();
    let _daemon = env.start_daemon().await;
    let first = Node::new(env.node_config("first")).await.unwrap();
    let p1 = first.publisher::<Reading>("/join").await.unwrap();
    let mut config = env.node_config("sink");
    // How long a publisher that left discovery must be quiet before the
    // subscriber lets go of it (it may only be the daemon that lost it).
    config.subscriber.recheck_after = Duration::from_millis(100);
    let node = Node::new(config).await.unwrap();
    let mut sub = node.subscriber::<Reading>("/join").await.unwrap();
    assert_eq!(sub.publishers().len(), 1);

    // Joins and leaves, one after another. The subscriber never polls
    // discovery: it connects to each joiner on the daemon's news.
    let mut latencies = Vec::new();
    for round in 0..10 {
        let joiner = Node::new(env.node_config(&format!("joiner{round}")))
            .await
            .unwrap();
        let p = joiner.publisher::<Reading>("/join").await.unwrap();
        let registered = Instant::now();
        let (from, arrived) = loop {
            p.publish(&Reading {
                id: round,
                registered_ns: 0,
            })
            .unwrap();
            match tokio::time::timeout(Duration::from_micros(500), sub.recv_from()).await {
                Ok(got) => break (got.unwrap().2, Instant::now()),
                Err(_) => assert!(registered.elapsed() < BOUND, "round {round}: nothing"),
            }
        };
        assert_eq!(from.node(), format!("joiner{round}"));
        assert_eq!(from.address(), p.address());
        latencies.push(arrived - registered);
        let names: Vec<_> = sub
            .publishers()
            .iter()
            .map(|c| c.publisher.node().to_owned())
            .collect();
        assert_eq!(names, ["first".to_owned(), format!("joiner{round}")]);
        p.close().await.unwrap();
        let deadline = Instant::now() + BOUND;
        while sub.publishers().len() > 1 {
            assert!(Instant::now() < deadline, "the joiner never left");
            let _ = tokio::time::timeout(Duration::from_millis(5), sub.recv_from()).await;
        }
        joiner.close().await;
    }
    latencies.sort();
    eprintln!(
        "registration to first message at an existing subscriber: median {:?}, max {:?} (10 joins)",
        latencies[latencies.len() / 2],
        latencies.last().unwrap()
    );
    drop(p1);
}

#[tokio::test]
async fn a_publisher_of_another_type_is_refused_with_both_types_named() {
    let env = TestEnv::new();
    let _daemon = env.start_daemon().await;
    let a = Node::new(env.node_config("a")).await.unwrap();
    let _readings = a.publisher::<Reading>("/typed").await.unwrap();
    let b = Node::new(env.node_config("b")).await.unwrap();
    let err = b.publisher::<Other>("/typed").await.unwrap_err();
    let text = err.to_string();
    for part in ["/typed", "Reading", "Other", "node a", "one type"] {
        assert!(text.contains(part), "{part:?} missing from: {text}");
    }
    assert!(
        matches!(&err, Error::Discovery(e) if matches!(**e, DiscoveryError::Rejected { .. })),
        "{err:?}"
    );
    // The same type from a third node is welcome.
    let c = Node::new(env.node_config("c")).await.unwrap();
    let _more = c.publisher::<Reading>("/typed").await.unwrap();
    let all = c.discovery().publishers("/typed").await.unwrap();
    let nodes: Vec<_> = all.iter().map(|r| r.publisher_node.as_str()).collect();
    assert_eq!(nodes, ["a", "c"]);
}

// ---- a handler learns which publisher sent a message ----

static FROM: Mutex<Vec<(String, u64)>> = Mutex::new(Vec::new());

#[subscribe("/many/handled", node = "handler")]
async fn on_reading(msg: Reading, from: PublisherId) {
    FROM.lock().unwrap().push((from.node().to_owned(), msg.id));
}

#[tokio::test]
async fn a_handler_takes_the_publisher_id() {
    let env = TestEnv::new();
    let _daemon = env.start_daemon().await;
    let mut publishers = Vec::new();
    for name in ["left", "right"] {
        let node = Node::new(env.node_config(name)).await.unwrap();
        let p = node.publisher::<Reading>("/many/handled").await.unwrap();
        publishers.push((node, p));
    }
    let handler = Node::new(env.node_config("handler")).await.unwrap();
    let running = {
        let handler = handler.clone();
        tokio::spawn(async move { handler.run().await })
    };
    for (_, p) in &publishers {
        p.wait_for_subscribers(1, BOUND).await.unwrap();
    }
    for (i, (_, p)) in publishers.iter().enumerate() {
        p.publish(&Reading {
            id: i as u64,
            registered_ns: 0,
        })
        .unwrap();
    }
    let deadline = Instant::now() + BOUND;
    while FROM.lock().unwrap().len() < 2 {
        assert!(Instant::now() < deadline, "handler not called twice");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut from = FROM.lock().unwrap().clone();
    from.sort();
    assert_eq!(from, [("left".to_owned(), 0), ("right".to_owned(), 1)]);
    handler.shutdown();
    running.await.unwrap().unwrap();
}

/// A daemon that holds as many long polls as it may (here: one) still
/// tells every subscriber of a joining publisher: the watches it cannot
/// hold ask at intervals instead.
#[tokio::test]
async fn subscribers_follow_joins_when_the_daemon_cannot_hold_their_watches() {
    let env = TestEnv::new();
    let mut config = cortex::discovery::DaemonConfig::new(env.discovery.clone());
    config.max_waiters = 1;
    let _daemon = cortex_tests::TestDaemon::start(config).await;
    let first = Node::new(env.node_config("first")).await.unwrap();
    let _p1 = first.publisher::<Reading>("/full").await.unwrap();
    let node = Node::new(env.node_config("sinks")).await.unwrap();
    // Three subscribers, each receiving (and so watching) in a task of its
    // own before the joiner comes: one watch is held, two are refused.
    let mut receiving = tokio::task::JoinSet::new();
    for _ in 0..3 {
        let mut sub = node.subscriber::<Reading>("/full").await.unwrap();
        receiving.spawn(async move {
            loop {
                let (_, _, from) = sub.recv_from().await.unwrap();
                if from.node() == "joiner" {
                    return;
                }
            }
        });
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let joiner = Node::new(env.node_config("joiner")).await.unwrap();
    let p2 = joiner.publisher::<Reading>("/full").await.unwrap();
    let started = Instant::now();
    let mut done = 0;
    while done < 3 {
        assert!(
            started.elapsed() < BOUND,
            "only {done} of 3 subscribers joined"
        );
        p2.publish(&Reading {
            id: 0,
            registered_ns: 0,
        })
        .unwrap();
        if let Ok(Some(finished)) =
            tokio::time::timeout(Duration::from_millis(20), receiving.join_next()).await
        {
            finished.unwrap();
            done += 1;
        }
    }
    eprintln!("all three followed the join within {:?}", started.elapsed());
}

/// Two publishers that leave at once are both let go (the subscriber's
/// polling order wraps around; removing them must not).
#[tokio::test]
async fn two_publishers_leaving_at_once_are_both_let_go() {
    let env = TestEnv::new();
    let _daemon = env.start_daemon().await;
    let mut nodes = Vec::new();
    let mut publishers = Vec::new();
    for name in ["a", "b"] {
        let node = Node::new(env.node_config(name)).await.unwrap();
        publishers.push(node.publisher::<Reading>("/both").await.unwrap());
        nodes.push(node);
    }
    let mut config = env.node_config("sink");
    config.subscriber.recheck_after = Duration::from_millis(100);
    let sink = Node::new(config).await.unwrap();
    let mut sub = sink.subscriber::<Reading>("/both").await.unwrap();
    assert_eq!(sub.publishers().len(), 2);
    for p in &publishers {
        p.wait_for_subscribers(1, BOUND).await.unwrap();
    }
    // The last message comes from the first publisher: the next round of
    // polling starts at the second, so it is polled first.
    for p in publishers.iter().rev() {
        p.publish(&Reading {
            id: 0,
            registered_ns: 0,
        })
        .unwrap();
        tokio::time::timeout(BOUND, sub.recv_from())
            .await
            .unwrap()
            .unwrap();
    }
    for p in publishers {
        p.close().await.unwrap();
    }
    let deadline = Instant::now() + BOUND;
    while !sub.publishers().is_empty() {
        assert!(Instant::now() < deadline, "{:?}", sub.publishers());
        let _ = tokio::time::timeout(Duration::from_millis(20), sub.recv_from()).await;
    }
}
