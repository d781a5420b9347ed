//! The node runtime: handler errors and panics, isolation between topics,
//! ordering, timer overruns, start-up checks, graceful shutdown, zero set-up.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cortex::prelude::*;
use cortex::{Error, Publisher};
use cortex_tests::TestEnv;

#[derive(Message, Debug, Clone)]
pub struct Num {
    pub n: u64,
}

#[derive(Message, Debug, Clone)]
pub struct Text {
    pub s: String,
}

const T: Duration = Duration::from_secs(10);

/// Runs `node` in the background; returns its join handle.
fn start(node: &Node) -> tokio::task::JoinHandle<cortex::Result<()>> {
    let node = node.clone();
    tokio::spawn(async move { node.run().await })
}

/// A publisher on `topic` (from another node) that waits for `subs` subscribers.
async fn feeder(env: &TestEnv, name: &str, topic: &str, subs: u64) -> (Node, Publisher<Num>) {
    let node = Node::new(env.node_config(name)).await.unwrap();
    let p = node.publisher::<Num>(topic).await.unwrap();
    p.wait_for_subscribers(subs, T).await.unwrap();
    (node, p)
}

async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + T;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

// ---- errors and panics are counted; the node keeps running ----

static T1_OK: AtomicU64 = AtomicU64::new(0);

#[subscribe("/t1/in", node = "t1")]
async fn t1_handler(msg: Num) -> Result<(), String> {
    match msg.n {
        n if n % 2 == 0 => Err(format!("even number {n}")),
        3 => panic!("three is right out"),
        _ => {
            T1_OK.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }
}

#[tokio::test]
async fn handler_errors_and_panics_are_counted_and_survived() {
    let env = TestEnv::new();
    let _d = env.start_daemon().await;
    let node = Node::new(env.node_config("t1")).await.unwrap();
    let running = start(&node);
    let (_f, feed) = feeder(&env, "t1feed", "/t1/in", 1).await;
    for n in 0..10 {
        feed.publish(&Num { n }).unwrap();
    }
    until("10 handler calls", || {
        let s = node.stats();
        s.handled + s.handler_errors + s.handler_panics == 10
    })
    .await;
    let s = node.stats();
    assert_eq!((s.handled, s.handler_errors, s.handler_panics), (4, 5, 1));
    // Still alive.
    feed.publish(&Num { n: 11 }).unwrap();
    until("one more", || T1_OK.load(Ordering::SeqCst) == 5).await;
    node.shutdown();
    tokio::time::timeout(T, running)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

// ---- a slow handler does not stall other topics; order is kept ----

static T2_FAST: Mutex<Vec<u64>> = Mutex::new(Vec::new());
static T2_SLOW_DONE: AtomicBool = AtomicBool::new(false);

#[subscribe("/t2/slow", node = "t2")]
async fn t2_slow(_msg: Num) {
    tokio::time::sleep(Duration::from_secs(2)).await;
    T2_SLOW_DONE.store(true, Ordering::SeqCst);
}

#[subscribe("/t2/fast", node = "t2")]
async fn t2_fast(msg: Num, header: Header) {
    assert_eq!(msg.n, header.sequence);
    T2_FAST.lock().unwrap().push(msg.n);
}

#[tokio::test]
async fn slow_handler_does_not_stall_other_topics() {
    let env = TestEnv::new();
    let _d = env.start_daemon().await;
    let node = Node::new(env.node_config("t2")).await.unwrap();
    let running = start(&node);
    let (_s, slow) = feeder(&env, "t2slowfeed", "/t2/slow", 1).await;
    let (_f, fast) = feeder(&env, "t2fastfeed", "/t2/fast", 1).await;
    slow.publish(&Num { n: 0 }).unwrap();
    for n in 0..200 {
        fast.publish(&Num { n }).unwrap();
    }
    until("200 fast messages", || T2_FAST.lock().unwrap().len() == 200).await;
    assert!(
        !T2_SLOW_DONE.load(Ordering::SeqCst),
        "fast messages were handled while the slow handler slept"
    );
    assert_eq!(
        *T2_FAST.lock().unwrap(),
        (0..200).collect::<Vec<_>>(),
        "order kept"
    );
    node.shutdown();
    // Shutdown lets the in-flight slow handler finish.
    tokio::time::timeout(T, running)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        T2_SLOW_DONE.load(Ordering::SeqCst),
        "in-flight handler finished before run() returned"
    );
}

// ---- timers: fixed grid, overruns skipped and counted ----

static T3_CALLS: Mutex<Vec<Instant>> = Mutex::new(Vec::new());

#[timer(hz = 100, node = "t3")]
async fn t3_overrun() {
    T3_CALLS.lock().unwrap().push(Instant::now());
    tokio::time::sleep(Duration::from_millis(25)).await;
}

#[tokio::test]
async fn timer_overruns_skip_ticks_instead_of_bursting() {
    let env = TestEnv::new();
    let _d = env.start_daemon().await;
    let node = Node::new(env.node_config("t3")).await.unwrap();
    let running = start(&node);
    until("20 ticks", || T3_CALLS.lock().unwrap().len() >= 20).await;
    node.shutdown();
    tokio::time::timeout(T, running)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let calls = T3_CALLS.lock().unwrap().clone();
    let min_gap = calls.windows(2).map(|w| w[1] - w[0]).min().unwrap();
    // A back-to-back burst would be ~0 ms apart; skipping keeps ≥ the handler time.
    assert!(
        min_gap >= Duration::from_millis(20),
        "ticks fired back to back: {min_gap:?}"
    );
    assert!(
        node.stats().missed_ticks >= 20,
        "skipped ticks are counted: {:?}",
        node.stats()
    );
}

// ---- start-up checks ----

const T4_A: Topic<Num> = Topic::new("/t4/out");
const T4_B: Topic<Text> = Topic::new("/t4/out");

#[timer(period_ms = 1000, node = "t4", publishes(T4_A))]
async fn t4_first() {}

#[timer(period_ms = 1000, node = "t4", publishes(T4_B))]
async fn t4_second() {}

#[tokio::test]
async fn one_topic_two_types_is_a_startup_error() {
    let env = TestEnv::new();
    let _d = env.start_daemon().await;
    let node = Node::new(env.node_config("t4")).await.unwrap();
    let err = tokio::time::timeout(T, node.run())
        .await
        .unwrap()
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::TopicTypeConflict { .. }), "{text}");
    assert!(
        text.contains("/t4/out") && text.contains("Num") && text.contains("Text"),
        "{text}"
    );
}

#[tokio::test]
async fn publishing_on_an_unadvertised_topic_says_how_to_fix_it() {
    let env = TestEnv::new();
    let _d = env.start_daemon().await;
    let node = Node::new(env.node_config("t5")).await.unwrap();
    const NOT_ADVERTISED: Topic<Num> = Topic::new("/t5/nope");
    let err = node
        .ctx()
        .publish(&NOT_ADVERTISED, Num { n: 1 })
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("/t5/nope") && text.contains("publishes("),
        "{text}"
    );
    node.advertise(&NOT_ADVERTISED).await.unwrap();
    assert!(node.ctx().publish(&NOT_ADVERTISED, Num { n: 1 }).unwrap());
}

// ---- zero set-up ----

#[tokio::test]
async fn a_node_starts_a_daemon_when_none_answers() {
    let env = TestEnv::new();
    let first = Node::new(env.node_config("z1").spawn_daemon(true))
        .await
        .unwrap();
    first.advertise(&Topic::<Num>::new("/z/a")).await.unwrap();
    // A second node (no spawning allowed) finds the first one's daemon.
    let second = Node::new(env.node_config("z2")).await.unwrap();
    let info = second
        .discovery()
        .lookup("/z/a")
        .await
        .unwrap()
        .expect("registered");
    assert_eq!(info.publisher_node, "z1");
    drop(second);
    drop(first);
}

#[tokio::test]
async fn without_a_daemon_and_spawning_off_the_error_names_the_address() {
    let env = TestEnv::new();
    let err = Node::new(env.node_config("z3")).await.unwrap_err();
    assert!(err.to_string().contains(&env.discovery), "{err}");
}

// ---- a subscription whose topic carries another type stops the node ----

#[subscribe("/t6/typed", node = "t6")]
async fn t6_expects_num(_msg: Num) {}

#[tokio::test]
async fn a_type_mismatch_stops_the_node_with_the_reason() {
    let env = TestEnv::new();
    let _d = env.start_daemon().await;
    let other = Node::new(env.node_config("t6other")).await.unwrap();
    let _text = other.publisher::<Text>("/t6/typed").await.unwrap();
    let node = Node::new(env.node_config("t6")).await.unwrap();
    let err = tokio::time::timeout(T, node.run())
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, Error::TypeMismatch { .. }), "{err}");
    assert!(err.to_string().contains("/t6/typed"), "{err}");
    // run() is once per node.
    let again = node.run().await.unwrap_err();
    assert!(again.to_string().contains("once"), "{again}");
}

#[tokio::test]
async fn node_names_are_checked_and_publications_reported() {
    let env = TestEnv::new();
    let _d = env.start_daemon().await;
    for bad in ["", "a/b", "two words"] {
        let err = Node::new(env.node_config(bad)).await.unwrap_err();
        assert!(err.to_string().contains("node name"), "{err}");
    }
    let node = Node::new(env.node_config("t7")).await.unwrap();
    const OUT: Topic<Num> = Topic::new("/t7/out");
    node.advertise(&OUT).await.unwrap();
    let mut sub = node.subscriber::<Num>("/t7/out").await.unwrap();
    node.wait_for_subscribers(&OUT, 1, T).await.unwrap();
    assert!(node.ctx().publish(&OUT, Num { n: 3 }).unwrap());
    assert_eq!(sub.recv().await.unwrap().0.n, 3);
    let stats = node.stats();
    assert_eq!(stats.publications.len(), 1);
    let (topic, ty, p) = &stats.publications[0];
    assert_eq!(
        (topic.as_str(), *ty, p.published, p.subscribers),
        ("/t7/out", "Num", 1, 1)
    );
}
