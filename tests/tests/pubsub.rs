//! Publisher and Subscriber over real sockets, in one process.

use std::time::Duration;

use cortex::discovery::{Client, TopicInfo};
use cortex::io::OutFrame;
use cortex::prelude::*;
use cortex::{Error, Publisher, Subscriber};
use cortex_tests::TestEnv;

#[derive(Message, Debug, Clone, PartialEq)]
pub struct Reading {
    pub id: u64,
    pub value: f64,
    pub label: String,
}

#[derive(Message, Debug, Clone, PartialEq)]
pub struct Image {
    pub data: NdArray<u8>,
    pub width: u32,
    pub height: u32,
}

const T: Duration = Duration::from_secs(10);

async fn pair<M: Message>(env: &TestEnv, topic: &str) -> (Node, Publisher<M>, Subscriber<M>) {
    let node = Node::new(env.node_config("n")).await.unwrap();
    let publisher = node.publisher::<M>(topic).await.unwrap();
    let subscriber = node.subscriber::<M>(topic).await.unwrap();
    publisher.wait_for_subscribers(1, T).await.unwrap();
    (node, publisher, subscriber)
}

#[tokio::test]
async fn typed_round_trip_and_clean_close() {
    let env = TestEnv::new();
    let _daemon = env.start_daemon().await;
    let (node, publisher, mut subscriber) = pair::<Reading>(&env, "/r").await;
    let msg = Reading {
        id: 1,
        value: 2.5,
        label: "x".into(),
    };
    assert!(publisher.publish(&msg).unwrap());
    let (got, header) = tokio::time::timeout(T, subscriber.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, msg);
    assert_eq!(header.sequence, 0);
    assert_eq!(header.fingerprint, Reading::FINGERPRINT);
    assert_eq!(subscriber.stats().received, 1);
    assert_eq!(publisher.stats().published, 1);
    assert_eq!(publisher.stats().subscribers, 1);

    assert_eq!(env.socket_files().len(), 1);
    publisher.close().await.unwrap();
    assert!(env.socket_files().is_empty(), "socket file removed");
    assert!(
        node.discovery().lookup("/r").await.unwrap().is_none(),
        "unregistered"
    );
}

/// A raw publisher, bound with a type given at run time, sends encoded
/// bodies (arrays included, over shared memory or the socket) that a typed
/// subscriber of that type receives as from a typed publisher, with the
/// raw publisher's own sequence and header.
#[tokio::test]
async fn a_raw_publisher_sends_encoded_bodies_to_typed_subscribers() {
    let env = TestEnv::new();
    let _daemon = env.start_daemon().await;
    let node = Node::new(env.node_config("n")).await.unwrap();
    let raw = node
        .raw_publisher(
            "/raw",
            Image::TYPE_NAME,
            Image::FINGERPRINT,
            &Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        (raw.message_type(), raw.fingerprint()),
        (Image::TYPE_NAME, Image::FINGERPRINT)
    );
    let mut subscriber = node.subscriber::<Image>("/raw").await.unwrap();
    raw.wait_for_subscribers(1, T).await.unwrap();
    for i in 0..3u8 {
        let image = Image {
            data: NdArray::new(vec![i; 64 * 1024], [256, 256]).unwrap(),
            width: 256,
            height: 256,
        };
        // Encoded elsewhere (as a recording holds it), sent as it is.
        let frames = image.encode(99).unwrap().to_frames();
        assert!(raw
            .publish_encoded(&frames[1], frames[2..].to_vec())
            .unwrap());
        let (got, header) = tokio::time::timeout(T, subscriber.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, image);
        assert_eq!(
            header.sequence,
            u64::from(i),
            "the raw publisher's sequence"
        );
        assert_eq!(header.fingerprint, Image::FINGERPRINT);
    }
    assert_eq!(raw.stats().published, 3);
    assert_eq!(
        (subscriber.stats().dropped, subscriber.stats().decode_errors),
        (0, 0)
    );
    raw.close().await.unwrap();
}

#[tokio::test]
async fn ten_thousand_in_order_without_loss() {
    let env = TestEnv::new();
    let _daemon = env.start_daemon().await;
    // Queues deep enough for the whole run, so no publish is refused (a
    // refused publish takes a sequence number: a gap at the subscriber).
    let mut config = env.node_config("n").queue_depth(20_000);
    // Bursts of 100: the shared-memory queue must hold them too.
    config.publisher.shared_memory_queue = 128;
    let node = Node::new(config).await.unwrap();
    let publisher = node.publisher::<Reading>("/seq").await.unwrap();
    let mut subscriber = node.subscriber::<Reading>("/seq").await.unwrap();
    publisher.wait_for_subscribers(1, T).await.unwrap();
    let n = 10_000u64;
    let producer = async {
        for id in 0..n {
            let msg = Reading {
                id,
                value: id as f64,
                label: String::new(),
            };
            // A moderate rate: a short pause every 100 messages.
            assert!(publisher.publish(&msg).unwrap());
            if id % 100 == 99 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    };
    let consumer = async {
        for expect in 0..n {
            let (msg, header) = subscriber.recv().await.unwrap();
            assert_eq!(msg.id, expect);
            assert_eq!(header.sequence, expect);
        }
    };
    tokio::time::timeout(Duration::from_secs(60), async {
        tokio::join!(producer, consumer)
    })
    .await
    .unwrap();
    let stats = subscriber.stats();
    assert_eq!(
        (stats.received, stats.dropped, stats.decode_errors),
        (n, 0, 0)
    );
}

#[tokio::test]
async fn full_hd_images_arrive_intact_and_zero_copy() {
    let env = TestEnv::new();
    let _daemon = env.start_daemon().await;
    let (_node, publisher, mut subscriber) = pair::<Image>(&env, "/cam").await;
    for k in 0..5u8 {
        let data: Vec<u8> = (0..1920 * 1080 * 3)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(k))
            .collect();
        let img = Image {
            data: NdArray::new(data, [1080, 1920, 3]).unwrap(),
            width: 1920,
            height: 1080,
        };
        assert!(publisher.publish(&img).unwrap());
        let (got, _) = tokio::time::timeout(T, subscriber.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, img);
        assert!(
            got.data.is_borrowed(),
            "large frames arrive aligned: no copy"
        );
    }
}

#[tokio::test]
async fn fingerprint_mismatch_is_refused_with_both_types() {
    let env = TestEnv::new();
    let _daemon = env.start_daemon().await;
    let node = Node::new(env.node_config("n")).await.unwrap();
    let _publisher = node.publisher::<Reading>("/typed").await.unwrap();
    let err = node.subscriber::<Image>("/typed").await.unwrap_err();
    match &err {
        Error::TypeMismatch {
            topic,
            expected_type,
            found_type,
            expected,
            found,
        } => {
            assert_eq!(topic, "/typed");
            assert_eq!(*expected_type, "Image");
            assert_eq!(found_type, "Reading");
            assert_eq!(*expected, Image::FINGERPRINT);
            assert_eq!(*found, Reading::FINGERPRINT);
        }
        other => panic!("{other}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("/typed") && text.contains("Image") && text.contains("Reading"),
        "{text}"
    );
}

#[tokio::test]
async fn publisher_restart_same_and_new_endpoint() {
    let env = TestEnv::new();
    let _daemon = env.start_daemon().await;
    let node = Node::new(env.node_config("a")).await.unwrap();
    let publisher = node.publisher::<Reading>("/restart").await.unwrap();
    let mut subscriber = node.subscriber::<Reading>("/restart").await.unwrap();
    publisher.wait_for_subscribers(1, T).await.unwrap();
    let msg = |id| Reading {
        id,
        value: 0.0,
        label: String::new(),
    };
    publisher.publish(&msg(1)).unwrap();
    assert_eq!(subscriber.recv().await.unwrap().0.id, 1);

    // Same node name: same ipc path; ZeroMQ reconnects by itself.
    drop(publisher);
    let publisher = node.publisher::<Reading>("/restart").await.unwrap();
    let recv = tokio::spawn(async move {
        let got = subscriber.recv().await.unwrap().0.id;
        (got, subscriber)
    });
    publisher.wait_for_subscribers(1, T).await.unwrap();
    publisher.publish(&msg(2)).unwrap();
    let (got, mut subscriber) = tokio::time::timeout(T, recv).await.unwrap().unwrap();
    assert_eq!(got, 2);

    // Another node takes the topic over: a new endpoint, found by re-lookup.
    publisher.close().await.unwrap();
    let other = Node::new(env.node_config("b")).await.unwrap();
    let publisher = other.publisher::<Reading>("/restart").await.unwrap();
    let recv = tokio::spawn(async move {
        let got = subscriber.recv().await.unwrap().0.id;
        (got, subscriber)
    });
    publisher.wait_for_subscribers(1, T).await.unwrap();
    publisher.publish(&msg(3)).unwrap();
    let (got, subscriber) = tokio::time::timeout(T, recv).await.unwrap().unwrap();
    assert_eq!(got, 3);
    assert_eq!(subscriber.stats().reconnects, 1);
    assert_eq!(subscriber.stats().dropped, 0, "a restart is not a loss");
}

/// A node whose publishers send sequence beacons every 50 ms.
fn quick_beacons(mut config: NodeConfig) -> NodeConfig {
    config.publisher.beacon_interval = Duration::from_millis(50);
    config
}

/// Reads until the subscriber has accounted for `total` messages (received
/// or counted lost), or the bound passes.
async fn account_for(subscriber: &mut Subscriber<Reading>, total: u64) {
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let s = subscriber.stats();
        if s.received + s.dropped >= total || tokio::time::Instant::now() > deadline {
            return;
        }
        // Beacons are consumed inside `recv`; it returns only for messages.
        let _ = tokio::time::timeout(Duration::from_millis(100), subscriber.recv()).await;
    }
}

#[tokio::test]
async fn refused_messages_are_counted_on_both_sides() {
    let env = TestEnv::new();
    let _daemon = env.start_daemon().await;
    let config = quick_beacons(env.node_config("n").queue_depth(10))
        .on_full_queue(cortex::pubsub::OnFullQueue::RefuseForAll);
    let node = Node::new(config).await.unwrap();
    let publisher = node.publisher::<Reading>("/hwm").await.unwrap();
    let mut subscriber = node.subscriber::<Reading>("/hwm").await.unwrap();
    publisher.wait_for_subscribers(1, T).await.unwrap();
    let total = 5_000u64;
    let mut accepted = 0;
    for id in 0..total {
        let queued = publisher
            .publish(&Reading {
                id,
                value: 0.0,
                label: "y".repeat(100),
            })
            .unwrap();
        accepted += u64::from(queued);
    }
    let pub_stats = publisher.stats();
    assert!(
        pub_stats.dropped > 0,
        "the subscriber was not reading: {pub_stats:?}"
    );
    assert_eq!(pub_stats.published + pub_stats.dropped, total);
    assert_eq!(pub_stats.published, accepted);
    assert_eq!(pub_stats.overflows, 0);
    account_for(&mut subscriber, total).await;
    let sub_stats = subscriber.stats();
    // Every message was either delivered or counted as lost, including
    // those refused after the last one delivered (the beacon tells).
    assert_eq!(sub_stats.received, accepted, "{sub_stats:?}");
    assert_eq!(
        sub_stats.received + sub_stats.dropped,
        total,
        "{sub_stats:?}"
    );
}

#[tokio::test]
async fn malformed_frames_from_a_raw_pub_are_counted_not_fatal() {
    let env = TestEnv::new();
    let _daemon = env.start_daemon().await;
    let ctx = zmq::Context::new();
    let mut raw = ctx.socket(zmq::PUB).unwrap();
    let path = env.dir.path().join("raw.sock");
    let address = format!("ipc://{}", path.display());
    raw.bind(&address).unwrap();
    let client = Client::new(env.discovery.clone());
    client
        .register(&TopicInfo {
            name: "/raw".into(),
            address,
            message_type: "Reading".into(),
            fingerprint: Reading::FINGERPRINT,
            publisher_node: "raw".into(),
        })
        .await
        .unwrap();
    let node = Node::new(env.node_config("n")).await.unwrap();
    let mut subscriber = node.subscriber::<Reading>("/raw").await.unwrap();
    let good = Reading {
        id: 9,
        value: 1.0,
        label: "ok".into(),
    }
    .encode(0)
    .unwrap();
    let header = good.header.to_bytes();
    let mut wrong_fp = header;
    wrong_fp[0] ^= 0xff;
    let garbage: Vec<Vec<&[u8]>> = vec![
        vec![b"/raw"],
        vec![b"/raw", b"short"],
        vec![b"/raw", &header, b"\xc1\xc1"],
        vec![b"/raw", &header, b"\x93\x01"],
        vec![b"/raw", &wrong_fp, &good.metadata],
        vec![b"/rawx", &header, &good.metadata],
        vec![b"/raw", &header, &good.metadata, b"extra"],
    ];
    // Keep sending until the subscription has propagated, then the batch.
    let deadline = tokio::time::Instant::now() + T;
    loop {
        for msg in &garbage {
            send_raw(&mut raw, msg);
        }
        send_raw(&mut raw, &[b"/raw", &header, &good.metadata]);
        if let Ok(Ok((msg, _))) =
            tokio::time::timeout(Duration::from_millis(200), subscriber.recv()).await
        {
            assert_eq!(msg.id, 9);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "nothing arrived");
    }
    // One more full round, now that the subscription is up for sure.
    let before = subscriber.stats().decode_errors;
    for msg in &garbage {
        send_raw(&mut raw, msg);
    }
    send_raw(&mut raw, &[b"/raw", &header, &good.metadata]);
    let (msg, _) = tokio::time::timeout(T, subscriber.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(msg.id, 9);
    let stats = subscriber.stats();
    // "/rawx" is filtered by prefix match too and must be counted, not delivered.
    assert_eq!(
        stats.decode_errors - before,
        garbage.len() as u64,
        "{stats:?}"
    );
}

fn send_raw(socket: &mut zmq::Socket, frames: &[&[u8]]) {
    let last = frames.len() - 1;
    for (i, f) in frames.iter().enumerate() {
        let flags = if i < last { zmq::SNDMORE } else { 0 };
        if let Err((e, _)) = OutFrame::copy_from_slice(f).send(socket, flags) {
            panic!("raw send: {e}");
        }
    }
}

#[tokio::test]
async fn tcp_transport_advertises_a_reachable_address() {
    let env = TestEnv::new();
    let daemon = cortex::discovery::Daemon::bind("tcp://127.0.0.1:*")
        .await
        .unwrap();
    let discovery = daemon.address().to_owned();
    let stop = daemon.shutdown_handle();
    tokio::spawn(daemon.run());
    let config = |name: &str| {
        NodeConfig::new(name)
            .discovery(&discovery)
            .tcp("127.0.0.1", "127.0.0.1")
            .spawn_daemon(false)
    };
    let a = Node::new(config("a")).await.unwrap();
    let b = Node::new(config("b")).await.unwrap();
    let publisher = a.publisher::<Reading>("/tcp").await.unwrap();
    assert!(
        publisher.address().starts_with("tcp://127.0.0.1:"),
        "{}",
        publisher.address()
    );
    let mut subscriber = b.subscriber::<Reading>("/tcp").await.unwrap();
    publisher.wait_for_subscribers(1, T).await.unwrap();
    let msg = Reading {
        id: 5,
        value: 1.0,
        label: "tcp".into(),
    };
    publisher.publish(&msg).unwrap();
    assert_eq!(
        tokio::time::timeout(T, subscriber.recv())
            .await
            .unwrap()
            .unwrap()
            .0,
        msg
    );
    assert!(env.socket_files().is_empty());
    stop.shutdown();
}

/// The default policy: a subscriber that does not read misses messages;
/// the one that reads gets every message, in order; the publisher counts
/// what the slow one missed; and the slow one, once it reads again, counts
/// its losses up to the last message sent, though no later message came.
#[tokio::test]
async fn a_slow_subscriber_does_not_cost_the_others_anything() {
    let env = TestEnv::new();
    let _daemon = env.start_daemon().await;
    let node = Node::new(quick_beacons(env.node_config("n").queue_depth(10)))
        .await
        .unwrap();
    let publisher = node.publisher::<Reading>("/iso").await.unwrap();
    let mut fast = node.subscriber::<Reading>("/iso").await.unwrap();
    let mut slow = node.subscriber::<Reading>("/iso").await.unwrap();
    publisher.wait_for_subscribers(2, T).await.unwrap();
    let total = 2_000u64;
    let fast_counters = fast.counters();
    let reader = tokio::spawn(async move {
        for expect in 0..total {
            let (msg, _) = tokio::time::timeout(T, fast.recv()).await.unwrap().unwrap();
            assert_eq!(
                msg.id, expect,
                "the fast subscriber gets everything, in order"
            );
        }
        fast.stats()
    });
    for id in 0..total {
        let queued = publisher
            .publish(&Reading {
                id,
                value: 0.0,
                label: "z".repeat(100),
            })
            .unwrap();
        assert!(queued, "skipping a slow subscriber is not a refusal");
        if id % 5 == 4 {
            // Let the fast reader catch up (its queue holds 10); the slow
            // one never reads.
            while fast_counters.snapshot().received < id + 1 {
                tokio::time::sleep(Duration::from_micros(100)).await;
            }
        }
    }
    let fast_stats = reader.await.unwrap();
    assert_eq!((fast_stats.received, fast_stats.dropped), (total, 0));
    let p = publisher.stats();
    assert_eq!((p.published, p.dropped), (total, 0), "{p:?}");
    assert!(p.overflows > 0, "{p:?}");
    account_for(&mut slow, total).await;
    let s = slow.stats();
    assert!(s.dropped > 0, "{s:?}");
    assert_eq!(s.received + s.dropped, total, "{s:?}");
}

#[tokio::test]
async fn a_bad_body_is_one_decode_error_not_also_a_gap() {
    let env = TestEnv::new();
    let _daemon = env.start_daemon().await;
    let ctx = zmq::Context::new();
    let mut raw = ctx.socket(zmq::PUB).unwrap();
    let address = format!("ipc://{}", env.dir.path().join("raw2.sock").display());
    raw.bind(&address).unwrap();
    Client::new(env.discovery.clone())
        .register(&TopicInfo {
            name: "/raw2".into(),
            address,
            message_type: "Reading".into(),
            fingerprint: Reading::FINGERPRINT,
            publisher_node: "raw".into(),
        })
        .await
        .unwrap();
    let node = Node::new(env.node_config("n")).await.unwrap();
    let mut sub = node.subscriber::<Reading>("/raw2").await.unwrap();
    let msg = |seq| {
        Reading {
            id: seq,
            value: 0.0,
            label: String::new(),
        }
        .encode(seq)
        .unwrap()
    };
    // Wait until the subscription is up (sequence 0 arrives).
    let first = msg(0);
    loop {
        send_raw(
            &mut raw,
            &[b"/raw2", &first.header.to_bytes(), &first.metadata],
        );
        if let Ok(r) = tokio::time::timeout(Duration::from_millis(200), sub.recv()).await {
            assert_eq!(r.unwrap().0.id, 0);
            break;
        }
    }
    // Drain duplicates of 0, then: 1 with a bad body, 2 good.
    while tokio::time::timeout(Duration::from_millis(200), sub.recv())
        .await
        .is_ok()
    {}
    let bad = msg(1);
    send_raw(&mut raw, &[b"/raw2", &bad.header.to_bytes(), b"\x93\x01"]);
    let good = msg(2);
    send_raw(
        &mut raw,
        &[b"/raw2", &good.header.to_bytes(), &good.metadata],
    );
    let (got, _) = tokio::time::timeout(T, sub.recv()).await.unwrap().unwrap();
    assert_eq!(got.id, 2);
    let s = sub.stats();
    assert_eq!((s.decode_errors, s.dropped), (1, 0), "{s:?}");
}

/// `publish` does not re-read `ZMQ_EVENTS` after sending, although a send
/// can process the command that announces a subscription: the subscription
/// reader must still see every (un)subscription, whether or not the
/// publisher is busy sending when it arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_are_counted_while_publishing_flat_out() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let env = TestEnv::new();
    let _daemon = env.start_daemon().await;
    // Earlier subscribers stop reading; with RefuseForAll their full
    // queues would stop the messages to newcomers too.
    let config = env
        .node_config("n")
        .queue_depth(50)
        .on_full_queue(cortex::pubsub::OnFullQueue::SkipSlowSubscriber);
    let node = Node::new(config).await.unwrap();
    let publisher = Arc::new(node.publisher::<Reading>("/busy").await.unwrap());
    /// Stops the sending thread however the test ends (the runtime waits
    /// for blocking tasks when it shuts down).
    struct StopOnDrop(Arc<AtomicBool>);
    impl Drop for StopOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    let _stop_guard = StopOnDrop(Arc::clone(&stop));
    let sender = {
        let (publisher, stop) = (Arc::clone(&publisher), Arc::clone(&stop));
        tokio::task::spawn_blocking(move || {
            let mut id = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let msg = Reading {
                    id,
                    value: 0.0,
                    label: String::new(),
                };
                publisher.publish(&msg).unwrap();
                id += 1;
            }
            id
        })
    };
    let wait_count = |want: u64| {
        let publisher = Arc::clone(&publisher);
        async move {
            tokio::time::timeout(T, async {
                while publisher.stats().subscribers != want {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            })
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "subscriber count stuck at {} (want {want})",
                    publisher.stats().subscribers
                )
            })
        }
    };
    let mut subscribers = Vec::new();
    for k in 1..=6u64 {
        let mut sub = node.subscriber::<Reading>("/busy").await.unwrap();
        publisher.wait_for_subscribers(k, T).await.unwrap();
        tokio::time::timeout(T, sub.recv()).await.unwrap().unwrap();
        subscribers.push(sub);
    }
    subscribers.truncate(3);
    wait_count(3).await;
    stop.store(true, Ordering::Relaxed);
    let sent = sender.await.unwrap();
    assert!(sent > 0);
    // Idle publisher: nothing is sending, only the reader can notice.
    subscribers.push(node.subscriber::<Reading>("/busy").await.unwrap());
    publisher.wait_for_subscribers(4, T).await.unwrap();
    subscribers.clear();
    wait_count(0).await;
}

/// A sequence beacon that is the first to meet a full queue counts the
/// overflow like a message would (it used to make ZeroMQ skip the slow
/// subscriber silently, so the publisher never knew).
#[tokio::test]
async fn an_overflow_met_by_a_beacon_is_counted_too() {
    let env = TestEnv::new();
    let _daemon = env.start_daemon().await;
    let mut config = env.node_config("n").queue_depth(4);
    config.publisher.beacon_interval = Duration::from_millis(1);
    let node = Node::new(config).await.unwrap();
    let publisher = node.publisher::<Reading>("/beacons").await.unwrap();
    let mut stalled = node.subscriber::<Reading>("/beacons").await.unwrap();
    publisher.wait_for_subscribers(1, T).await.unwrap();
    for id in 0..200 {
        publisher
            .publish(&Reading {
                id,
                value: 0.0,
                label: String::new(),
            })
            .unwrap();
        // Beacons (every 1 ms) interleave with the messages.
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    account_for(&mut stalled, 200).await;
    let (p, s) = (publisher.stats(), stalled.stats());
    assert!(s.dropped > 0, "{s:?}");
    assert_eq!(s.received + s.dropped, 200, "{s:?}");
    assert!(p.overflows > 0, "the publisher was told: {p:?}");
}
