//! The discovery daemon: operations over ipc and tcp, many clients at once,
//! plain REQ clients, garbage, one daemon per address, SHUTDOWN.

use std::sync::Arc;
use std::time::Duration;

use cortex::discovery::{
    Client, ClientConfig, Daemon, DaemonConfig, DiscoveryError, Request, Response, Status,
};
use cortex::io::AsyncSocket;

/// Generous correctness bound for anything that must not hang.
use cortex_tests::{ipc, live_endpoint, topic_info as info, TestDaemon, BOUND};

async fn basic_operations(daemon: &TestDaemon, topic_address: &str) {
    let client = daemon.client();
    client.ping().await.unwrap();
    assert_eq!(client.list().await.unwrap(), vec![]);
    assert_eq!(client.lookup("/basic").await.unwrap(), None);

    let a = info("/basic", topic_address, "node-a");
    client.register(&a).await.unwrap();
    assert_eq!(client.lookup("/basic").await.unwrap(), Some(a.clone()));
    assert_eq!(client.list().await.unwrap(), vec![a.clone()]);

    // Same node again: overwrites.
    let mut a2 = a.clone();
    a2.message_type = "FloatMessage".into();
    client.register(&a2).await.unwrap();
    assert_eq!(client.lookup("/basic").await.unwrap(), Some(a2.clone()));

    // Another node of the same type: a second publisher. Lookup and list
    // still give one record per topic (the oldest); `publishers` gives both.
    let b = info("/basic", topic_address, "node-b");
    client.register(&b).await.unwrap();
    assert_eq!(client.lookup("/basic").await.unwrap(), Some(a2.clone()));
    assert_eq!(client.list().await.unwrap(), vec![a2.clone()]);
    assert_eq!(
        client.publishers("/basic").await.unwrap(),
        vec![a2.clone(), b.clone()]
    );

    // Another live node with another type: refused, and the error names
    // the topic and both types.
    let mut c = info("/basic", topic_address, "node-c");
    c.fingerprint ^= 1;
    c.message_type = "OtherMessage".into();
    let err = client.register(&c).await.unwrap_err();
    assert!(matches!(err, DiscoveryError::Rejected { .. }), "{err}");
    for part in ["/basic", "FloatMessage", "OtherMessage"] {
        assert!(err.to_string().contains(part), "{err}");
    }

    assert!(client.unregister("/basic").await.unwrap());
    assert!(!client.unregister("/basic").await.unwrap());
    assert_eq!(client.lookup("/basic").await.unwrap(), None);
}

#[tokio::test]
async fn basic_operations_over_ipc() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = zmq::Context::new();
    let topic = ipc(&dir, "t.sock");
    let _pub = live_endpoint(&ctx, &topic);
    let daemon = TestDaemon::start(DaemonConfig::new(ipc(&dir, "d.sock"))).await;
    basic_operations(&daemon, &topic).await;
    daemon.stop().await;
    assert!(
        !dir.path().join("d.sock").exists(),
        "daemon removes its socket file"
    );
}

#[tokio::test]
async fn basic_operations_over_tcp() {
    let ctx = zmq::Context::new();
    let publisher = live_endpoint(&ctx, "tcp://127.0.0.1:*");
    let topic = publisher.get_last_endpoint().unwrap().unwrap();
    let daemon = TestDaemon::start(DaemonConfig::new("tcp://127.0.0.1:*")).await;
    assert!(daemon.address.starts_with("tcp://127.0.0.1:"));
    assert!(!daemon.address.ends_with(":*"));
    basic_operations(&daemon, &topic).await;
    daemon.stop().await;
}

/// 64 clients register, look up their own and others' topics, list, and
/// unregister, all at once; every answer must be right.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_clients_get_correct_answers() {
    const N: usize = 64;
    let dir = tempfile::tempdir().unwrap();
    let ctx = zmq::Context::new();
    let topic = ipc(&dir, "t.sock");
    let _pub = live_endpoint(&ctx, &topic);
    let daemon = TestDaemon::start(DaemonConfig::new(ipc(&dir, "d.sock"))).await;
    let barrier = Arc::new(tokio::sync::Barrier::new(N));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..N {
        let client = daemon.client();
        let barrier = Arc::clone(&barrier);
        let topic = topic.clone();
        tasks.spawn(async move {
            let me = info(&format!("/load/{i}"), &topic, &format!("node{i}"));
            client.ping().await.unwrap();
            client.register(&me).await.unwrap();
            assert_eq!(client.lookup(&me.name).await.unwrap(), Some(me.clone()));
            barrier.wait().await;
            for k in 1..=5 {
                let j = (i + k * 7) % N;
                let other = client
                    .lookup(&format!("/load/{j}"))
                    .await
                    .unwrap()
                    .expect("every topic is registered after the barrier");
                assert_eq!(other.publisher_node, format!("node{j}"));
                assert_eq!(other.name, format!("/load/{j}"));
            }
            let all = client.list().await.unwrap();
            assert_eq!(all.len(), N);
            barrier.wait().await;
            assert!(client.unregister(&me.name).await.unwrap());
            assert_eq!(client.lookup(&me.name).await.unwrap(), None);
        });
    }
    tokio::time::timeout(BOUND, async {
        while let Some(done) = tasks.join_next().await {
            done.unwrap();
        }
    })
    .await
    .expect("all clients finish");
    assert_eq!(daemon.client().list().await.unwrap(), vec![]);
    daemon.stop().await;
}

/// One request/reply on a blocking REQ socket, as the Python client does.
fn req_roundtrip(socket: &zmq::Socket, request: &[u8]) -> Response {
    socket.send(request, 0).unwrap();
    let reply = socket.recv_bytes(0).expect("reply within RCVTIMEO");
    Response::decode(&reply).unwrap()
}

fn req_socket(ctx: &zmq::Context, address: &str) -> zmq::Socket {
    let s = ctx.socket(zmq::REQ).unwrap();
    s.set_linger(0).unwrap();
    s.set_rcvtimeo(10_000).unwrap();
    s.connect(address).unwrap();
    s
}

/// A plain REQ client (the Python cortex client) is served like a DEALER.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_req_client_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = TestDaemon::start(DaemonConfig::new(ipc(&dir, "d.sock"))).await;
    let address = daemon.address.clone();
    let topic = ipc(&dir, "t.sock");
    tokio::task::spawn_blocking(move || {
        let ctx = zmq::Context::new();
        let _pub = live_endpoint(&ctx, &topic);
        let a = req_socket(&ctx, &address);
        let b = req_socket(&ctx, &address);
        let cam = info("/camera/image", &topic, "cam");

        let r = req_roundtrip(&a, &Request::ping().encode());
        assert_eq!(r.status, Status::Ok);
        let r = req_roundtrip(&a, &Request::register(cam.clone()).encode());
        assert_eq!(r.status, Status::Ok);
        assert_eq!(r.message, "Registered topic: /camera/image");
        let r = req_roundtrip(&b, &Request::lookup("/camera/image").encode());
        assert_eq!(r.topic_info, Some(cam.clone()));
        let r = req_roundtrip(&b, &Request::list().encode());
        assert_eq!(r.topics, Some(vec![cam.clone()]));
        let mut other = info("/camera/image", &topic, "other");
        other.fingerprint ^= 1;
        let r = req_roundtrip(&b, &Request::register(other).encode());
        assert_eq!(r.status, Status::Error);
        let r = req_roundtrip(&b, &Request::lookup("/x").encode());
        assert_eq!(r.status, Status::NotFound);
        assert_eq!(r.message, "Topic not found: /x");
        // Garbage from a REQ client: ERROR, and the REQ can go on.
        let r = req_roundtrip(&b, b"\x00\x01garbage");
        assert_eq!(r.status, Status::Error);
        let r = req_roundtrip(&b, &Request::unregister("/camera/image").encode());
        assert_eq!(r.status, Status::Ok);
    })
    .await
    .unwrap();
    daemon.stop().await;
}

struct Lcg(u64);

impl Lcg {
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n)
            .map(|_| {
                self.0 = self
                    .0
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (self.0 >> 56) as u8
            })
            .collect()
    }
}

/// Sends `frames` on a raw DEALER and returns the reply frames.
async fn raw(dealer: &mut AsyncSocket, frames: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    let frames = frames.into_iter().map(zmq::Message::from).collect();
    dealer.send_multipart(frames).await.unwrap();
    let reply = tokio::time::timeout(BOUND, dealer.recv_multipart())
        .await
        .expect("every request gets a reply")
        .unwrap();
    reply.iter().map(|m| m.to_vec()).collect()
}

fn status_of(reply: &[Vec<u8>]) -> Status {
    Response::decode(reply.last().unwrap()).unwrap().status
}

/// Random bytes, wrong types, huge frames, extra frames: each gets an
/// ERROR reply with the sender's envelope, and the daemon keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_gets_error_and_never_wedges_the_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = TestDaemon::start(DaemonConfig::new(ipc(&dir, "d.sock"))).await;
    let ctx = zmq::Context::new();
    let s = ctx.socket(zmq::DEALER).unwrap();
    s.set_linger(0).unwrap();
    s.connect(&daemon.address).unwrap();
    let mut dealer = AsyncSocket::new(s).unwrap();
    let mut rng = Lcg(42);
    let empty = Vec::new;

    let mut bodies: Vec<Vec<u8>> = Vec::new();
    for n in [1, 2, 7, 33, 100, 1000, 65_536] {
        for _ in 0..5 {
            bodies.push(rng.bytes(n));
        }
    }
    // Valid msgpack, wrong shapes and types.
    bodies.extend([
        vec![0xc0],                                               // nil
        vec![0x93, 0x01, 0x02, 0x03],                             // [1, 2, 3]
        vec![0x80],                                               // {}
        b"\x81\xa7command\xa1x".to_vec(),                         // command: "x"
        b"\x81\xa7command\x2a".to_vec(),                          // command: 42
        b"\x81\xa7command\xcb\x3f\xf0\0\0\0\0\0\0".to_vec(),      // command: 1.0
        b"\x82\xa7command\x03\xaatopic_name\x05".to_vec(),        // topic_name: 5
        b"\x81\xa7command\x01".to_vec(),                          // REGISTER without info
        b"\x82\xa7command\x01\xaatopic_info\xc4\x03abc".to_vec(), // bad info
        b"\x81\xa7command\x03".to_vec(),                          // LOOKUP without name
        vec![0x91; 100_000],                                      // nested 100k deep
        vec![0xdd, 0xff, 0xff, 0xff, 0xff],                       // array of 4G
    ]);
    // Huge frame: 8 MiB.
    bodies.push(rng.bytes(8 << 20));
    for body in bodies {
        let reply = raw(&mut dealer, vec![empty(), body]).await;
        assert_eq!(reply.len(), 2, "envelope + body");
        assert!(reply[0].is_empty(), "envelope preserved");
        assert_eq!(status_of(&reply), Status::Error);
    }

    // Extra frames after the body.
    let ping = Request::ping().encode();
    let reply = raw(&mut dealer, vec![empty(), ping.clone(), b"extra".to_vec()]).await;
    assert_eq!(status_of(&reply), Status::Error);
    // Empty request.
    let reply = raw(&mut dealer, vec![empty()]).await;
    assert_eq!(status_of(&reply), Status::Error);
    // A bare DEALER without a delimiter is served too.
    let reply = raw(&mut dealer, vec![ping.clone()]).await;
    assert_eq!(reply.len(), 1);
    assert_eq!(status_of(&reply), Status::Ok);
    // A multi-hop envelope comes back whole.
    let reply = raw(
        &mut dealer,
        vec![b"hop1".to_vec(), b"hop2".to_vec(), empty(), ping.clone()],
    )
    .await;
    assert_eq!(&reply[..3], &[b"hop1".to_vec(), b"hop2".to_vec(), empty()]);
    assert_eq!(status_of(&reply), Status::Ok);

    // Still alive and serving normal clients.
    assert!(daemon.is_running());
    let client = daemon.client();
    client.ping().await.unwrap();
    let topic = ipc(&dir, "t.sock");
    let _pub = live_endpoint(&ctx, &topic);
    client.register(&info("/after", &topic, "n")).await.unwrap();
    assert!(client.lookup("/after").await.unwrap().is_some());
    daemon.stop().await;
}

/// When the publishers of a topic are dead, a node registering another type
/// takes the topic at once (the daemon probes them before refusing).
#[tokio::test]
async fn registration_of_another_type_over_a_dead_owner_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    // Periodic probes far apart, so only the conflict probe can act.
    let config =
        DaemonConfig::new(ipc(&dir, "d.sock")).probe_interval(Some(Duration::from_secs(3600)));
    let daemon = TestDaemon::start(config).await;
    let client = daemon.client();
    let dead = info("/owned", &ipc(&dir, "nobody.sock"), "old");
    client.register(&dead).await.unwrap();
    let ctx = zmq::Context::new();
    let topic = ipc(&dir, "t.sock");
    let _pub = live_endpoint(&ctx, &topic);
    let mut new = info("/owned", &topic, "new");
    new.fingerprint ^= 1;
    client.register(&new).await.unwrap();
    assert_eq!(client.publishers("/owned").await.unwrap(), [new]);
    // And with a live publisher, the old type is refused.
    let third = info("/owned", &topic, "third");
    assert!(matches!(
        client.register(&third).await,
        Err(DiscoveryError::Rejected { .. })
    ));
    daemon.stop().await;
}

#[tokio::test]
async fn second_daemon_on_a_live_ipc_address_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let address = ipc(&dir, "d.sock");
    let first = TestDaemon::start(DaemonConfig::new(&address)).await;
    let err = Daemon::bind(&address).await.unwrap_err();
    assert!(
        matches!(err, DiscoveryError::AlreadyRunning { .. }),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains(&address) && text.contains("already running"),
        "{text}"
    );
    // The first daemon was not disturbed.
    first.client().ping().await.unwrap();
    first.stop().await;
}

#[tokio::test]
async fn second_daemon_on_a_live_tcp_address_is_refused() {
    let first = TestDaemon::start(DaemonConfig::new("tcp://127.0.0.1:*")).await;
    let err = Daemon::bind(&first.address).await.unwrap_err();
    assert!(
        matches!(err, DiscoveryError::AlreadyRunning { .. }),
        "{err}"
    );
    assert!(err.to_string().contains(&first.address));
    first.client().ping().await.unwrap();
    first.stop().await;
}

#[tokio::test]
async fn tcp_port_taken_by_another_program_is_refused() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("tcp://{}", listener.local_addr().unwrap());
    let err = Daemon::bind_with(DaemonConfig::new(&address))
        .await
        .unwrap_err();
    assert!(matches!(err, DiscoveryError::AddressInUse { .. }), "{err}");
    assert!(err.to_string().contains(&address));
}

/// A socket file left by a crashed daemon (nobody listens) is taken over.
#[tokio::test]
async fn stale_socket_file_is_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.sock");
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let daemon = TestDaemon::start(DaemonConfig::new(ipc(&dir, "d.sock"))).await;
    daemon.client().ping().await.unwrap();
    daemon.stop().await;
}

/// A live listener that is not a daemon is not stolen either.
#[tokio::test]
async fn live_non_daemon_listener_is_not_stolen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let err = Daemon::bind(ipc(&dir, "d.sock")).await.unwrap_err();
    assert!(matches!(err, DiscoveryError::AddressInUse { .. }), "{err}");
    assert!(err.to_string().contains("does not answer PING"), "{err}");
}

#[tokio::test]
async fn missing_parent_directory_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let address = format!("ipc://{}/a/b/d.sock", dir.path().display());
    let daemon = TestDaemon::start(DaemonConfig::new(&address)).await;
    daemon.client().ping().await.unwrap();
    daemon.stop().await;
}

#[tokio::test]
async fn invalid_addresses_are_explained() {
    for address in ["udp://x:1", "tcp://nohost", "ipc://"] {
        let err = Daemon::bind(address).await.unwrap_err();
        assert!(
            matches!(err, DiscoveryError::InvalidAddress { .. }),
            "{address}: {err}"
        );
        assert!(err.to_string().contains("ipc://"), "{err}");
    }
}

#[tokio::test]
async fn shutdown_command_stops_the_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = TestDaemon::start(DaemonConfig::new(ipc(&dir, "d.sock"))).await;
    let response = daemon.client().request(&Request::shutdown()).await.unwrap();
    assert_eq!(response.status, Status::Ok);
    daemon
        .stopped()
        .await
        .expect("SHUTDOWN stops the daemon cleanly");
    assert!(!dir.path().join("d.sock").exists());
}

#[tokio::test]
async fn shutdown_command_can_be_disabled() {
    let dir = tempfile::tempdir().unwrap();
    let config = DaemonConfig::new(ipc(&dir, "d.sock")).allow_shutdown_command(false);
    let daemon = TestDaemon::start(config).await;
    let response = daemon.client().request(&Request::shutdown()).await.unwrap();
    assert_eq!(response.status, Status::Error);
    daemon.client().ping().await.unwrap();
    daemon.stop().await;
}

/// A client with no daemon behind the address gives up after its retries
/// with an error that names the address.
#[tokio::test]
async fn client_without_daemon_times_out_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let address = ipc(&dir, "none.sock");
    let client = Client::with_config(
        ClientConfig::new(&address)
            .request_timeout(Duration::from_millis(100))
            .retries(2),
    );
    let err = client.ping().await.unwrap_err();
    match &err {
        DiscoveryError::Timeout { attempts, .. } => assert_eq!(*attempts, 3),
        other => panic!("expected a timeout, got {other}"),
    }
    assert!(err.to_string().contains(&address), "{err}");
}

/// If another process takes the socket path over (two daemons started at
/// the same instant, or a Python daemon started later), the orphaned daemon
/// notices and stops with an error instead of running unreachable.
#[tokio::test]
async fn daemon_whose_socket_file_is_taken_over_stops_with_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = TestDaemon::start(DaemonConfig::new(ipc(&dir, "d.sock"))).await;
    let path = dir.path().join("d.sock");
    std::fs::remove_file(&path).unwrap();
    let _thief = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let result = daemon.stopped().await;
    let err = result.unwrap_err();
    assert!(matches!(err, DiscoveryError::AddressLost { .. }), "{err}");
    assert!(err.to_string().contains("replaced"), "{err}");
    // It did not remove the file that is not its own.
    assert!(path.exists());
}
