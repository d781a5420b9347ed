//! The discovery client: long-poll `wait_for_topic` and its polling
//! fallback, recovery from lost and stale replies, re-registration after a
//! daemon restart.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cortex::discovery::{
    Client, ClientConfig, Command, DaemonConfig, DiscoveryError, Request, Response, Status,
};

/// Generous correctness bound for anything that must not hang.
use cortex_tests::{ipc, live_endpoint, topic_info as info, TestDaemon, BOUND};

/// The bound for restoring a registration after a daemon restart.
const RESTORE_BOUND: Duration = Duration::from_secs(2);

/// A scripted daemon on a ROUTER socket in its own thread. `handler` sees
/// each request in turn and returns the reply, or `None` to drop it (a lost
/// reply). Records the command codes it saw.
struct FakeDaemon {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<u8>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeDaemon {
    fn start(
        address: &str,
        mut handler: impl FnMut(&Request) -> Option<Response> + Send + 'static,
    ) -> Self {
        let ctx = zmq::Context::new();
        let socket = ctx.socket(zmq::ROUTER).unwrap();
        socket.set_linger(0).unwrap();
        socket.set_rcvtimeo(20).unwrap();
        socket.bind(address).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let stop = Arc::clone(&stop);
            let seen = Arc::clone(&seen);
            std::thread::spawn(move || {
                let _ctx = ctx;
                while !stop.load(Ordering::Relaxed) {
                    let Ok(mut frames) = socket.recv_multipart(0) else {
                        continue;
                    };
                    let body = frames.pop().unwrap();
                    let request = Request::decode(&body).unwrap();
                    seen.lock().unwrap().push(request.command.code());
                    if let Some(response) = handler(&request) {
                        frames.push(response.encode());
                        socket.send_multipart(frames, 0).unwrap();
                    }
                }
            })
        };
        Self {
            stop,
            seen,
            thread: Some(thread),
        }
    }

    fn seen(&self) -> Vec<u8> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for FakeDaemon {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The long poll answers a waiting client as soon as the topic registers.
/// The client's polling interval is set to a minute, so only the long poll
/// can explain a prompt answer. Prints the measured latency.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_topic_is_answered_when_the_topic_registers() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = zmq::Context::new();
    let topic = ipc(&dir, "t.sock");
    let _pub = live_endpoint(&ctx, &topic);
    let daemon = TestDaemon::start(DaemonConfig::new(ipc(&dir, "d.sock"))).await;
    let waiter = Client::with_config(
        ClientConfig::new(&daemon.address).poll_interval(Duration::from_secs(60)),
    );
    let publisher = Client::new(daemon.address.clone());
    publisher.ping().await.unwrap();
    let mut latencies = Vec::new();
    for i in 0..20 {
        let name = format!("/late/{i}");
        let expected = info(&name, &topic, "late-node");
        let wait = {
            let waiter = waiter.clone();
            let name = name.clone();
            tokio::spawn(async move {
                let got = waiter.wait_for_topic(&name, BOUND).await;
                (got, Instant::now())
            })
        };
        // Let the request reach the daemon and park.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let sent = Instant::now();
        publisher.register(&expected).await.unwrap();
        let (got, answered) = tokio::time::timeout(BOUND, wait).await.unwrap().unwrap();
        assert_eq!(got.unwrap(), expected);
        latencies.push(answered.saturating_duration_since(sent));
    }
    latencies.sort();
    eprintln!(
        "wait_for_topic: registration -> waiter answered: p50 {:?}, max {:?} (20 runs, \
         including the REGISTER round trip)",
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1]
    );
    // Correctness, not speed: polling would take a minute.
    assert!(latencies[latencies.len() - 1] < Duration::from_secs(5));
    daemon.stop().await;
}

#[tokio::test]
async fn wait_for_topic_spans_several_long_poll_windows() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = zmq::Context::new();
    let topic = ipc(&dir, "t.sock");
    let _pub = live_endpoint(&ctx, &topic);
    let config =
        DaemonConfig::new(ipc(&dir, "d.sock")).long_poll_window(Duration::from_millis(100));
    let daemon = TestDaemon::start(config).await;
    let waiter = Client::with_config(
        ClientConfig::new(&daemon.address).poll_interval(Duration::from_secs(60)),
    );
    let expected = info("/slow", &topic, "n");
    let wait = tokio::spawn(async move { waiter.wait_for_topic("/slow", BOUND).await });
    tokio::time::sleep(Duration::from_millis(450)).await;
    Client::new(daemon.address.clone())
        .register(&expected)
        .await
        .unwrap();
    let got = tokio::time::timeout(BOUND, wait).await.unwrap().unwrap();
    assert_eq!(got.unwrap(), expected);
    daemon.stop().await;
}

#[tokio::test]
async fn wait_for_a_registered_topic_returns_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = zmq::Context::new();
    let topic = ipc(&dir, "t.sock");
    let _pub = live_endpoint(&ctx, &topic);
    let daemon = TestDaemon::start(DaemonConfig::new(ipc(&dir, "d.sock"))).await;
    let client = Client::new(daemon.address.clone());
    let expected = info("/here", &topic, "n");
    client.register(&expected).await.unwrap();
    let got = client
        .wait_for_topic("/here", Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(got, expected);
    daemon.stop().await;
}

#[tokio::test]
async fn wait_for_topic_times_out_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = TestDaemon::start(DaemonConfig::new(ipc(&dir, "d.sock"))).await;
    let client = Client::new(daemon.address.clone());
    let started = Instant::now();
    let err = client
        .wait_for_topic("/never", Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(matches!(err, DiscoveryError::WaitTimeout { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("/never") && text.contains(&daemon.address),
        "{text}"
    );
    daemon.stop().await;
}

/// A daemon without `WAIT_FOR_TOPIC` (the Python one answers unknown
/// commands with ERROR): the client falls back to polling LOOKUP_TOPIC.
#[tokio::test]
async fn wait_for_topic_falls_back_to_polling_on_a_python_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let address = ipc(&dir, "py.sock");
    let expected = info("/py", "ipc:///py/topic.sock", "py-node");
    let mut lookups = 0;
    let fake = {
        let expected = expected.clone();
        FakeDaemon::start(&address, move |request| {
            Some(match request.command {
                Command::LookupTopic => {
                    lookups += 1;
                    if lookups <= 3 {
                        Response::new(Status::NotFound, "Topic not found: /py")
                    } else {
                        let mut r = Response::new(Status::Ok, "");
                        r.topic_info = Some(expected.clone());
                        r
                    }
                }
                other => Response::error(format!("Unknown command: {}", other.code())),
            })
        })
    };
    let client =
        Client::with_config(ClientConfig::new(&address).poll_interval(Duration::from_millis(20)));
    let got = client.wait_for_topic("/py", BOUND).await.unwrap();
    assert_eq!(got, expected);
    let seen = fake.seen();
    assert_eq!(seen[0], Command::WaitForTopic.code());
    assert_eq!(
        seen.iter()
            .filter(|&&c| c == Command::LookupTopic.code())
            .count(),
        4
    );
}

/// The daemon swallows the first two requests; the client retries on fresh
/// sockets and succeeds instead of staying stuck like a REQ socket.
#[tokio::test]
async fn client_recovers_from_lost_replies() {
    let dir = tempfile::tempdir().unwrap();
    let address = ipc(&dir, "lossy.sock");
    let mut count = 0;
    let fake = FakeDaemon::start(&address, move |_| {
        count += 1;
        (count > 2).then(|| Response::new(Status::Ok, "pong"))
    });
    let client = Client::with_config(
        ClientConfig::new(&address)
            .request_timeout(Duration::from_millis(200))
            .retries(3),
    );
    client.ping().await.unwrap();
    assert_eq!(fake.seen().len(), 3);
    // And the connection keeps working afterwards.
    client.ping().await.unwrap();
}

/// A request abandoned mid-flight leaves a late reply on the connection;
/// the next request must skip it, not take it as its own answer.
#[tokio::test]
async fn late_reply_to_an_abandoned_request_is_not_mistaken() {
    let dir = tempfile::tempdir().unwrap();
    let address = ipc(&dir, "slow.sock");
    let _fake = FakeDaemon::start(&address, |request| {
        Some(match request.command {
            Command::LookupTopic => {
                std::thread::sleep(Duration::from_millis(150));
                Response::new(Status::NotFound, "Topic not found: /slow")
            }
            _ => Response::new(Status::Ok, "pong"),
        })
    });
    let client = Client::new(address.clone());
    let abandoned = tokio::time::timeout(Duration::from_millis(30), client.lookup("/slow")).await;
    assert!(abandoned.is_err(), "the lookup was cut short");
    // A mix-up would hand NOT_FOUND to the ping, which then fails.
    client.ping().await.unwrap();
    assert_eq!(client.lookup("/slow").await.unwrap(), None);
}

async fn restart_restores_registration(dir: &tempfile::TempDir, first_address: &str) {
    let ctx = zmq::Context::new();
    let topic = ipc(dir, "t.sock");
    let _pub = live_endpoint(&ctx, &topic);
    let first = TestDaemon::start(DaemonConfig::new(first_address)).await;
    let address = first.address.clone();
    let publisher = Client::new(address.clone());
    let expected = info("/kept", &topic, "keeper");
    let registration = publisher.keep_registered(expected.clone()).await.unwrap();
    assert_eq!(registration.info(), &expected);

    first.stop().await;
    let second = TestDaemon::start(DaemonConfig::new(&address)).await;
    let restarted = Instant::now();
    let observer = Client::new(address.clone());
    loop {
        if observer.lookup("/kept").await.unwrap() == Some(expected.clone()) {
            break;
        }
        assert!(restarted.elapsed() < BOUND, "registration never restored");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let took = restarted.elapsed();
    eprintln!("re-registration after daemon restart ({address}): {took:?}");
    assert!(
        took < RESTORE_BOUND,
        "restored after {took:?}, the bound is {RESTORE_BOUND:?}"
    );
    assert!(registration.restored_count() >= 1);

    // Unregistering stops the keeper for good.
    assert!(registration.unregister().await.unwrap());
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(observer.lookup("/kept").await.unwrap(), None);
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_is_restored_after_daemon_restart_ipc() {
    let dir = tempfile::tempdir().unwrap();
    let address = ipc(&dir, "d.sock");
    restart_restores_registration(&dir, &address).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_is_restored_after_daemon_restart_tcp() {
    let dir = tempfile::tempdir().unwrap();
    restart_restores_registration(&dir, "tcp://127.0.0.1:*").await;
}

/// A failed first registration (another type on a live topic) is
/// reported, not retried in the background.
#[tokio::test]
async fn keep_registered_reports_a_topic_of_another_type() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = zmq::Context::new();
    let topic = ipc(&dir, "t.sock");
    let _pub = live_endpoint(&ctx, &topic);
    let daemon = TestDaemon::start(DaemonConfig::new(ipc(&dir, "d.sock"))).await;
    let client = Client::new(daemon.address.clone());
    client.register(&info("/x", &topic, "a")).await.unwrap();
    let mut other = info("/x", &topic, "b");
    other.fingerprint ^= 1;
    other.message_type = "OtherMessage".into();
    let err = client.keep_registered(other).await.unwrap_err();
    assert!(matches!(err, DiscoveryError::Rejected { .. }), "{err}");
    assert!(err.to_string().contains("OtherMessage"), "{err}");
    daemon.stop().await;
}

#[tokio::test]
async fn unregistering_leaves_another_nodes_record_alone() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = TestDaemon::start(DaemonConfig::new(ipc(&dir, "d.sock"))).await;
    let ctx = zmq::Context::new();
    let a_addr = ipc(&dir, "a.sock");
    let b_addr = ipc(&dir, "b.sock");
    let a_socket = live_endpoint(&ctx, &a_addr);
    let _b_socket = live_endpoint(&ctx, &b_addr);
    let client = daemon.client();
    let mine = client
        .keep_registered(info("/shared", &a_addr, "a"))
        .await
        .unwrap();
    // Node b publishes the topic too; then node a dies.
    client
        .register(&info("/shared", &b_addr, "b"))
        .await
        .unwrap();
    drop(a_socket);
    // a's late clean-up removes a's record (if not evicted already), never
    // b's.
    mine.unregister().await.unwrap();
    let current = client
        .lookup("/shared")
        .await
        .unwrap()
        .expect("b's record stays");
    assert_eq!(current.publisher_node, "b");
    let all = client.publishers("/shared").await.unwrap();
    assert_eq!(all, [info("/shared", &b_addr, "b")]);
    daemon.stop().await;
}
