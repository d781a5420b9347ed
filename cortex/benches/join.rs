//! How long a publisher that joins a topic takes to reach a subscriber
//! that is already there: from the publisher's registration (when
//! `Node::publisher` returns) to its first message at the subscriber, which
//! learns of the publisher from the daemon's `WATCH_PUBLISHERS` answer and
//! connects. Every publisher sends a message every 100 µs from the moment
//! it is registered, so the figure includes the ≤ 100 µs until the next
//! send after the connection is up.
//!
//! Baseline, in the same run: raw libzmq, where the subscriber already
//! knows the address — from `SUB.connect` to the first message of a PUB
//! sending every 100 µs. The difference is what discovery adds.
//!
//! Run: `cargo bench -p cortex --bench join` (`JOIN_ROUNDS=N`, default 50).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cortex::discovery::Daemon;
use cortex::prelude::*;

#[derive(Message, Debug, Clone)]
struct Beat {
    n: u64,
}

const EVERY: Duration = Duration::from_micros(100);

fn main() {
    let rounds: usize = std::env::var("JOIN_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let dir = tempfile::Builder::new()
        .prefix("cxjoin")
        .tempdir_in("/tmp")
        .expect("temp dir");
    let raw = raw_joins(&dir, rounds);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let cortex = rt.block_on(cortex_joins(&dir, rounds));
    println!("join latency, {rounds} joins each (median / p90 / max):");
    report("raw libzmq (SUB.connect -> first message)", &raw);
    report("cortex (registration -> first message)", &cortex);
    println!(
        "ratio of medians cortex/raw: {:.2}",
        median(&cortex).as_secs_f64() / median(&raw).as_secs_f64()
    );
}

fn median(v: &[Duration]) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    v[v.len() / 2]
}

fn report(what: &str, v: &[Duration]) {
    let mut v = v.to_vec();
    v.sort();
    let at = |q: f64| v[((v.len() - 1) as f64 * q) as usize];
    println!(
        "  {what}: {:?} / {:?} / {:?}",
        at(0.5),
        at(0.9),
        v[v.len() - 1]
    );
}

fn raw_joins(dir: &tempfile::TempDir, rounds: usize) -> Vec<Duration> {
    let ctx = zmq::Context::new();
    let address = format!("ipc://{}/raw.sock", dir.path().display());
    let publisher = ctx.socket(zmq::PUB).expect("PUB");
    publisher.bind(&address).expect("bind");
    let stop = Arc::new(AtomicBool::new(false));
    let sending = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                publisher.send("beat", 0).expect("send");
                std::thread::sleep(EVERY);
            }
        })
    };
    let mut out = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let sub = ctx.socket(zmq::SUB).expect("SUB");
        sub.set_subscribe(b"").expect("subscribe");
        sub.set_linger(0).expect("linger");
        let start = Instant::now();
        sub.connect(&address).expect("connect");
        sub.recv_bytes(0).expect("recv");
        out.push(start.elapsed());
    }
    stop.store(true, Ordering::Relaxed);
    sending.join().expect("sender");
    out
}

async fn cortex_joins(dir: &tempfile::TempDir, rounds: usize) -> Vec<Duration> {
    let address = format!("ipc://{}/discovery.sock", dir.path().display());
    let daemon = Daemon::bind(address.clone()).await.expect("daemon");
    let stop = daemon.shutdown_handle();
    let serving = tokio::spawn(daemon.run());
    let config = |name: &str| {
        NodeConfig::new(name)
            .discovery(&address)
            .socket_root(dir.path().join("topics"))
            .spawn_daemon(false)
    };
    // The subscriber is there first, with a publisher that stays.
    let first = Node::new(config("first")).await.expect("node");
    let keeper = first.publisher::<Beat>("/join").await.expect("publisher");
    // Lets go of a publisher that left after 50 ms of quiet (default 1 s).
    let mut sink_config = config("sink");
    sink_config.subscriber.recheck_after = Duration::from_millis(50);
    let sink = Node::new(sink_config).await.expect("node");
    let mut sub = sink.subscriber::<Beat>("/join").await.expect("subscriber");
    let mut out = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let name = format!("joiner{round}");
        let node = Node::new(config(&name)).await.expect("node");
        let publisher = node.publisher::<Beat>("/join").await.expect("publisher");
        let registered = Instant::now();
        let sending = tokio::spawn(async move {
            let mut tick = tokio::time::interval(EVERY);
            for n in 0.. {
                tick.tick().await;
                if publisher.publish(&Beat { n }).is_err() {
                    break;
                }
            }
        });
        loop {
            let (_, _, from) = sub.recv_from().await.expect("recv");
            if from.node() == name {
                out.push(registered.elapsed());
                break;
            }
        }
        sending.abort();
        node.close().await;
        // Let the subscriber let go of it before the next round.
        let deadline = Instant::now() + Duration::from_secs(10);
        while sub.publishers().len() > 1 && Instant::now() < deadline {
            let _ = tokio::time::timeout(Duration::from_millis(10), sub.recv_from()).await;
        }
    }
    drop((sub, keeper));
    sink.close().await;
    first.close().await;
    stop.shutdown();
    let _ = serving.await;
    out
}
