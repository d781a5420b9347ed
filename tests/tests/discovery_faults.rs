//! Discovery under hostile or broken clients (F3, F4, F8 of the reliability
//! campaign): records no subscriber could use are refused or evicted and
//! never stop a node; any number of records can be listed; every pipelined
//! request gets its reply.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cortex::discovery::{
    Client, ClientConfig, DaemonConfig, Request, Response, Status, TopicInfo, MAX_MESSAGE_BYTES,
};
use cortex::prelude::*;
use cortex_tests::{TestDaemon, TestEnv, BOUND};

#[derive(Message, Debug, Clone)]
pub struct Beat {
    pub n: u64,
}

fn record(name: &str, address: &str, node: &str) -> TopicInfo {
    TopicInfo {
        name: name.into(),
        address: address.into(),
        message_type: "Beat".into(),
        fingerprint: Beat::FINGERPRINT,
        publisher_node: node.into(),
    }
}

#[tokio::test]
async fn records_no_subscriber_could_use_are_refused_with_the_reason() {
    let env = TestEnv::new();
    let daemon = env.start_daemon().await;
    let client = daemon.client();
    for (address, why) in [
        ("bogus://x", "not a usable"),
        ("ipc://relative.sock", "not a usable ipc"),
        ("tcp://*:5555", "not a usable"),
        ("", "1 to 1024 bytes"),
    ] {
        let err = client
            .register(&record("/bad", address, "evil"))
            .await
            .expect_err(address);
        let text = err.to_string();
        assert!(
            text.contains("cannot register") && text.contains(why),
            "{address}: {text}"
        );
    }
    let long = "x".repeat(600_000);
    let err = client
        .register(&record(&format!("/{long}"), "ipc:///tmp/a.sock", "evil"))
        .await
        .expect_err("a 600 KB name");
    assert!(err.to_string().contains("limit is 1024"), "{err}");
    assert!(client.list().await.unwrap().is_empty());
}

/// An abstract ipc address is probed like a path: when nothing listens,
/// the record is evicted and the real publisher gets the name.
#[tokio::test]
async fn an_abstract_ipc_record_nobody_listens_on_is_evicted() {
    let env = TestEnv::new();
    let daemon = env.start_daemon().await;
    let squat = format!("ipc://@cortex-squat-{}", std::process::id());
    daemon
        .client()
        .register(&record("/f3/squat", &squat, "evil"))
        .await
        .unwrap();
    let node = Node::new(env.node_config("real")).await.unwrap();
    // Same type: the real publisher joins the topic at once...
    let publisher = node.publisher::<Beat>("/f3/squat").await.unwrap();
    // ...and the squatter's record is evicted by the probes.
    tokio::time::timeout(BOUND, async {
        loop {
            let all = daemon.client().publishers("/f3/squat").await.unwrap();
            if all.len() == 1 && all[0].address == publisher.address() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the squatted record is evicted within the bound");
    assert_eq!(
        daemon
            .client()
            .lookup("/f3/squat")
            .await
            .unwrap()
            .unwrap()
            .address,
        publisher.address()
    );
}

static F3_RECEIVED: AtomicU64 = AtomicU64::new(0);

#[subscribe("/f3/in", node = "f3")]
async fn f3_counts(_beat: Beat) {
    F3_RECEIVED.fetch_add(1, Ordering::SeqCst);
}

/// A daemon that does not check addresses (the Python one) may hand out a
/// record nobody can connect to. The subscribing node waits it out instead
/// of stopping, and receives once the real record is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_outlives_an_unusable_record_from_a_lax_daemon() {
    let env = TestEnv::new();
    let real = env.start_daemon().await;
    let feeder = Node::new(env.node_config("feeder")).await.unwrap();
    let publisher = feeder.publisher::<Beat>("/f3/in").await.unwrap();
    let good = real.client().lookup("/f3/in").await.unwrap().unwrap();

    // A REP daemon that answers LOOKUP with a bogus record for 1.5 s, then
    // with the real one, and everything else with ERROR, as the Python
    // daemon answers commands it does not know.
    let lax = format!("ipc://{}/lax.sock", env.dir.path().display());
    let ctx = zmq::Context::new();
    let rep = ctx.socket(zmq::REP).unwrap();
    rep.bind(&lax).unwrap();
    rep.set_rcvtimeo(100).unwrap();
    let stop_lax = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop = std::sync::Arc::clone(&stop_lax);
    let lax_thread = std::thread::spawn(move || {
        let start = Instant::now();
        while !stop.load(Ordering::SeqCst) {
            let Ok(bytes) = rep.recv_bytes(0) else {
                continue;
            };
            let request = Request::decode(&bytes).unwrap();
            let mut response = Response::error("unknown command");
            if request.command == cortex::discovery::Command::LookupTopic {
                response = Response::new(Status::Ok, "");
                response.topic_info = Some(if start.elapsed() < Duration::from_millis(1500) {
                    record("/f3/in", "bogus://x", "evil")
                } else {
                    good.clone()
                });
            }
            rep.send(response.encode(), 0).unwrap();
        }
    });

    let subscriber = Node::new(
        env.node_config("f3")
            .discovery(&lax)
            .wait_timeout(Duration::from_millis(500)),
    )
    .await
    .unwrap();
    let running = {
        let node = subscriber.clone();
        tokio::spawn(async move { node.run().await })
    };
    let deadline = Instant::now() + BOUND;
    let mut n = 0;
    while F3_RECEIVED.load(Ordering::SeqCst) < 5 {
        assert!(Instant::now() < deadline, "nothing received");
        assert!(
            !running.is_finished(),
            "the node stopped: {:?}",
            running.await
        );
        publisher.publish(&Beat { n }).unwrap();
        n += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    subscriber.shutdown();
    running.await.unwrap().unwrap();
    stop_lax.store(true, Ordering::SeqCst);
    lax_thread.join().unwrap();
}

/// 10 000 records, more than one reply holds: `Client::list` pages through
/// all of them, and a Python client's `LIST_TOPICS` gets the first page
/// (under the 1 MiB limit) with a message that says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_number_of_records_can_be_listed() {
    let env = TestEnv::new();
    let daemon = TestDaemon::start(
        DaemonConfig::new(env.discovery.clone()).probe_interval(None), // the endpoints are fake
    )
    .await;
    let client = daemon.client();
    let path = "/tmp/cortex-listing-test/a-fairly-long-directory-name/for/the/socket/files";
    for i in 0..10_000 {
        client
            .register(&record(
                &format!("/robot/sensors/camera_{i:05}/image_raw/compressed"),
                &format!("ipc://{path}/n__{i}.sock"),
                "lister",
            ))
            .await
            .unwrap();
    }
    let all = client.list().await.unwrap();
    assert_eq!(all.len(), 10_000);
    assert!(all.windows(2).all(|w| w[0].name < w[1].name), "name order");

    let response = client.request(&Request::list()).await.unwrap();
    assert_eq!(response.status, Status::Ok);
    assert!(response.encode().len() <= MAX_MESSAGE_BYTES);
    let first = response.topics.unwrap().len();
    assert!(first > 0 && first < 10_000);
    assert!(
        response
            .message
            .contains(&format!("listed {first} of 10000")),
        "{}",
        response.message
    );

    // `cortex topic list` uses `Client::list`: see cortex-cli/tests/cli_faults.rs.
}

/// A client that sends 10 000 requests before reading any reply gets all
/// 10 000 replies (the daemon keeps what the client's queue cannot take).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_pipelined_request_gets_its_reply() {
    let env = TestEnv::new();
    let daemon = env.start_daemon().await;
    let address = daemon.address.clone();
    let replies = tokio::task::spawn_blocking(move || {
        let ctx = zmq::Context::new();
        let dealer = ctx.socket(zmq::DEALER).unwrap();
        dealer.set_linger(0).unwrap();
        dealer.set_rcvtimeo(10_000).unwrap();
        dealer.connect(&address).unwrap();
        let body = Request::ping().encode();
        for i in 0u32..10_000 {
            dealer
                .send_multipart([&i.to_be_bytes()[..], b"", &body], 0)
                .unwrap();
        }
        let mut ids = Vec::with_capacity(10_000);
        while let Ok(frames) = dealer.recv_multipart(0) {
            let id = u32::from_be_bytes(frames[0][..4].try_into().unwrap());
            assert_eq!(Response::decode(&frames[2]).unwrap().status, Status::Ok);
            ids.push(id);
            if ids.len() == 10_000 {
                break;
            }
        }
        ids
    })
    .await
    .unwrap();
    assert_eq!(replies.len(), 10_000);
    assert!(
        replies.iter().enumerate().all(|(i, id)| *id == i as u32),
        "in order"
    );
    // And the daemon still serves everyone else.
    let other = Client::with_config(ClientConfig::new(daemon.address.clone()));
    other.ping().await.unwrap();
}
