//! The shared-memory path (`pubsub::shm`): what arrives borrows the
//! publisher's memory, every dtype and size from 0 B to 64 MiB, mixed
//! subscribers on one topic get identical data, the fallbacks, and kill -9
//! of a subscriber holding samples and of a publisher whose samples are
//! held (separate processes: this binary re-executed in child mode).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use cortex::prelude::*;
use cortex::{Publisher, Subscriber};
use cortex_tests::{Log, TestEnv};

const T: Duration = Duration::from_secs(20);
const CHILD: &str = "CORTEX_TEST_SHM_CHILD";

#[derive(Message, Debug, Clone, PartialEq)]
pub struct Every {
    pub u8s: NdArray<u8>,
    pub i8s: NdArray<i8>,
    pub u16s: NdArray<u16>,
    pub i16s: NdArray<i16>,
    pub u32s: NdArray<u32>,
    pub i32s: NdArray<i32>,
    pub u64s: NdArray<u64>,
    pub i64s: NdArray<i64>,
    pub f32s: NdArray<f32>,
    pub f64s: NdArray<f64>,
    pub bools: NdArray<bool>,
    pub empty: NdArray<f64>,
    pub label: String,
}

#[derive(Message, Debug, Clone, PartialEq)]
pub struct Image {
    pub data: NdArray<u8>,
    pub k: u64,
}

fn every(n: usize) -> Every {
    Every {
        u8s: NdArray::from_vec((0..n).map(|i| i as u8).collect()),
        i8s: NdArray::from_vec((0..n).map(|i| (i as i8).wrapping_neg()).collect()),
        u16s: NdArray::from_vec((0..n).map(|i| i as u16 * 3).collect()),
        i16s: NdArray::from_vec((0..n).map(|i| (i as i16).wrapping_neg()).collect()),
        u32s: NdArray::new((0..n).map(|i| i as u32 * 7).collect(), [n / 3, 3]).unwrap(),
        i32s: NdArray::from_vec((0..n).map(|i| -(i as i32)).collect()),
        u64s: NdArray::from_vec((0..n).map(|i| i as u64 * 11).collect()),
        i64s: NdArray::from_vec((0..n).map(|i| -(i as i64) * 13).collect()),
        f32s: NdArray::from_vec((0..n).map(|i| i as f32 * 0.5).collect()),
        f64s: NdArray::from_vec((0..n).map(|i| i as f64 * 0.25).collect()),
        bools: NdArray::from_vec((0..n).map(|i| i % 3 == 0).collect()),
        empty: NdArray::new(Vec::new(), [0, 4]).unwrap(),
        label: "every dtype".into(),
    }
}

fn image(len: usize, k: u64) -> Image {
    Image {
        data: NdArray::from_vec((0..len).map(|i| (i as u64 * 7 + k) as u8).collect()),
        k,
    }
}

fn aligned<T: cortex::Element>(a: &NdArray<T>) -> bool {
    (a.as_bytes().as_ptr() as usize).is_multiple_of(64)
}

async fn recv<M: Message>(s: &mut Subscriber<M>) -> M {
    tokio::time::timeout(T, s.recv())
        .await
        .expect("in time")
        .expect("message")
        .0
}

async fn shm_pair<M: Message>(env: &TestEnv, topic: &str) -> (Node, Publisher<M>, Subscriber<M>) {
    shm_pair_with(env.node_config("shm").shared_memory(true), topic).await
}

/// A node made with `config`, a publisher and a subscriber of `topic` on
/// it, connected through shared memory.
async fn shm_pair_with<M: Message>(
    config: NodeConfig,
    topic: &str,
) -> (Node, Publisher<M>, Subscriber<M>) {
    let node = Node::new(config).await.unwrap();
    let publisher = node.publisher::<M>(topic).await.unwrap();
    let subscriber = node.subscriber::<M>(topic).await.unwrap();
    publisher.wait_for_subscribers(1, T).await.unwrap();
    assert!(
        subscriber.uses_shared_memory(),
        "the subscriber took shared memory"
    );
    (node, publisher, subscriber)
}

#[tokio::test]
async fn every_dtype_arrives_borrowed_and_64_byte_aligned() {
    let env = TestEnv::new();
    let _daemon = env.start_daemon().await;
    let (node, publisher, mut subscriber) = shm_pair::<Every>(&env, "/every").await;
    let sent = every(999);
    publisher.publish(&sent).unwrap();
    let got = recv(&mut subscriber).await;
    assert_eq!(got, sent);
    assert!(got.u8s.is_borrowed() && got.i8s.is_borrowed() && got.u16s.is_borrowed());
    assert!(got.i16s.is_borrowed() && got.u32s.is_borrowed() && got.i32s.is_borrowed());
    assert!(got.u64s.is_borrowed() && got.i64s.is_borrowed() && got.f32s.is_borrowed());
    assert!(got.f64s.is_borrowed() && got.bools.is_borrowed());
    assert!(aligned(&got.u8s) && aligned(&got.u16s) && aligned(&got.u64s) && aligned(&got.f64s));
    assert_eq!(got.empty.shape(), &[0, 4]);
    assert_eq!(publisher.stats().shared_memory_subscribers, 1);
    assert_eq!(publisher.stats().shared_memory_failures, 0);
    node.close().await;
    no_dead_nodes_left().await;
}

#[tokio::test]
async fn arrays_from_0_bytes_to_64_mib() {
    let env = TestEnv::new();
    let _daemon = env.start_daemon().await;
    let (node, publisher, mut subscriber) = shm_pair::<Image>(&env, "/sizes").await;
    for (k, len) in [0usize, 1, 63, 64, 65, 4096, 1 << 20, 6_220_800, 64 << 20]
        .into_iter()
        .enumerate()
    {
        let sent = image(len, k as u64);
        publisher.publish(&sent).unwrap();
        let got = recv(&mut subscriber).await;
        assert_eq!(got.data.len(), len, "length of the {len}-byte array");
        assert!(got == sent, "the {len}-byte array arrived intact");
        assert!(
            got.data.is_borrowed(),
            "the {len}-byte array borrows the sample"
        );
    }
    let stats = publisher.stats();
    assert_eq!((stats.shared_memory_failures, stats.overflows), (0, 0));
    assert_eq!(subscriber.stats().dropped, 0);
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_memory_socket_and_raw_frame_subscribers_get_identical_data() {
    let env = TestEnv::new();
    let _daemon = env.start_daemon().await;
    let node = Node::new(env.node_config("mixed").shared_memory(true))
        .await
        .unwrap();
    let publisher = node.publisher::<Image>("/mixed").await.unwrap();
    let mut shm = node.subscriber::<Image>("/mixed").await.unwrap();
    let socket_node = Node::new(env.node_config("socket").shared_memory(false))
        .await
        .unwrap();
    let mut socket = socket_node.subscriber::<Image>("/mixed").await.unwrap();
    // What a Python cortex subscriber does: a SUB on the topic, raw frames.
    let ctx = zmq::Context::new();
    let raw = ctx.socket(zmq::SUB).unwrap();
    raw.set_subscribe(b"/mixed").unwrap();
    raw.set_rcvtimeo(20_000).unwrap();
    raw.connect(publisher.address()).unwrap();
    publisher.wait_for_subscribers(3, T).await.unwrap();
    assert!(shm.uses_shared_memory());
    assert!(!socket.uses_shared_memory());
    assert_eq!(publisher.stats().shared_memory_subscribers, 1);
    for k in 0..3 {
        let sent = image(640 * 480 * 3, k);
        publisher.publish(&sent).unwrap();
        let a = recv(&mut shm).await;
        let b = recv(&mut socket).await;
        let frames = tokio::task::block_in_place(|| raw.recv_multipart(0)).unwrap();
        let frames: Vec<Bytes> = frames[1..]
            .iter()
            .map(|f| Bytes::copy_from_slice(f))
            .collect();
        let (c, header) = Image::decode(&frames).unwrap();
        assert_eq!(header.sequence, k);
        assert!(
            a == sent && b == sent && c == sent,
            "message {k} identical on all three paths"
        );
        assert!(a.data.is_borrowed());
    }
    node.close().await;
    socket_node.close().await;
}

#[tokio::test]
async fn a_subscriber_asking_for_shared_memory_uses_the_socket_when_none_is_offered() {
    let env = TestEnv::new();
    let _daemon = env.start_daemon().await;
    let publisher_node = Node::new(env.node_config("plain").shared_memory(false))
        .await
        .unwrap();
    let publisher = publisher_node.publisher::<Image>("/plain").await.unwrap();
    let node = Node::new(env.node_config("wants").shared_memory(true))
        .await
        .unwrap();
    let mut subscriber = node.subscriber::<Image>("/plain").await.unwrap();
    publisher.wait_for_subscribers(1, T).await.unwrap();
    assert!(!subscriber.uses_shared_memory());
    let sent = image(100_000, 1);
    publisher.publish(&sent).unwrap();
    assert_eq!(recv(&mut subscriber).await, sent);
    node.close().await;
    publisher_node.close().await;
}

#[tokio::test]
async fn a_full_queue_is_an_overflow_at_the_publisher_and_a_gap_at_the_subscriber() {
    let env = TestEnv::new();
    let _daemon = env.start_daemon().await;
    let mut config = env.node_config("q").shared_memory(true);
    config.publisher.shared_memory_queue = 4;
    let (node, publisher, mut subscriber) = shm_pair_with::<Image>(config, "/q").await;
    // Ten large messages (over 64 KiB) while the subscriber does not
    // read: four fit.
    for k in 0..10 {
        assert!(publisher.publish(&image(100_000, k)).unwrap());
    }
    assert!(publisher.stats().overflows >= 6, "{:?}", publisher.stats());
    let mut got = Vec::new();
    for _ in 0..4 {
        got.push(recv(&mut subscriber).await.k);
    }
    assert_eq!(got, vec![0, 1, 2, 3]);
    publisher.publish(&image(100_000, 10)).unwrap();
    assert_eq!(recv(&mut subscriber).await.k, 10);
    assert_eq!(subscriber.stats().dropped, 6, "the gap is counted");
    node.close().await;
}

#[tokio::test]
async fn a_ninth_local_subscriber_uses_the_socket_and_says_why() {
    let (log, _logging) = Log::capture();
    let env = TestEnv::new();
    let _daemon = env.start_daemon().await;
    let node = Node::new(env.node_config("nine")).await.unwrap();
    let publisher = node.publisher::<Image>("/nine").await.unwrap();
    let mut subscribers = Vec::new();
    for _ in 0..9 {
        subscribers.push(node.subscriber::<Image>("/nine").await.unwrap());
    }
    publisher.wait_for_subscribers(9, T).await.unwrap();
    let on_shm = subscribers
        .iter()
        .filter(|s| s.uses_shared_memory())
        .count();
    assert_eq!(on_shm, 8, "eight slots per publisher");
    assert_eq!(publisher.stats().shared_memory_subscribers, 8);
    let sent = image(200_000, 9);
    publisher.publish(&sent).unwrap();
    for s in &mut subscribers {
        assert_eq!(recv(s).await, sent);
    }
    let text = log.text();
    assert!(
        text.contains("every shared-memory slot of this publisher is taken")
            && text.contains("/nine"),
        "the ninth says why, at info level: {text}"
    );
    node.close().await;
}

#[tokio::test]
async fn small_messages_queue_as_deep_as_on_the_socket() {
    let env = TestEnv::new();
    let _daemon = env.start_daemon().await;
    let mut config = env.node_config("deep").shared_memory(true);
    config.publisher.queue_depth = 300;
    let (node, publisher, mut subscriber) = shm_pair_with::<Image>(config, "/deep").await;
    // A burst of 400 small messages and 40 large ones interleaved, unread:
    // 300 small ones fit (queue_depth), 16 large ones (shared_memory_queue).
    for k in 0..440 {
        let len = if k % 11 == 10 { 100_000 } else { 100 };
        publisher.publish(&image(len, k)).unwrap();
    }
    assert_eq!(
        publisher.stats().overflows,
        100 + 24,
        "{:?}",
        publisher.stats()
    );
    let mut last = None;
    for _ in 0..316 {
        let got = recv(&mut subscriber).await;
        assert_eq!(got, image(got.data.len(), got.k), "intact");
        assert!(last < Some(got.k), "in order: {last:?} then {}", got.k);
        last = Some(got.k);
    }
    // The next message reveals the rest of the gap.
    publisher.publish(&image(100, 440)).unwrap();
    assert_eq!(recv(&mut subscriber).await.k, 440);
    assert_eq!(
        subscriber.stats().dropped,
        124,
        "every miss is a counted gap"
    );
    node.close().await;
}

#[tokio::test]
async fn holding_many_messages_copies_new_ones_out_instead_of_stalling() {
    let env = TestEnv::new();
    let _daemon = env.start_daemon().await;
    let (node, publisher, mut subscriber) = shm_pair::<Image>(&env, "/hold").await;
    let mut held = Vec::new();
    for k in 0..10 {
        publisher.publish(&image(10_000, k)).unwrap();
        held.push(recv(&mut subscriber).await);
    }
    for (k, img) in held.iter().enumerate() {
        assert_eq!(*img, image(10_000, k as u64), "held message {k} intact");
    }
    let copies = subscriber.stats().shared_memory_copies;
    assert!(
        copies >= 6,
        "messages beyond the borrow limit were copied out ({copies})"
    );
    assert!(
        held[0].data.is_borrowed(),
        "the first messages still borrow shared memory"
    );
    node.close().await;
}

// ---- separate processes ------------------------------------------------

/// Child mode, run only by the tests below (`--ignored --exact`).
#[test]
#[ignore = "the child process of the kill -9 tests below; they run it"]
fn child() {
    let Ok(role) = std::env::var(CHILD) else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let node = Node::new(
            NodeConfig::new(format!("child-{role}"))
                .spawn_daemon(false)
                .shared_memory(true),
        )
        .await
        .unwrap();
        match role.as_str() {
            // Receives two images, holds them, says so, and waits to be killed.
            "holding-subscriber" => {
                let mut subscriber = node.subscriber::<Image>("/kill/sub").await.unwrap();
                assert!(subscriber.uses_shared_memory());
                let a = recv(&mut subscriber).await;
                let b = recv(&mut subscriber).await;
                println!("holding {} {}", a.k, b.k);
                tokio::time::sleep(Duration::from_secs(600)).await;
            }
            // Publishes numbered images until killed.
            "publisher" => {
                let publisher = node.publisher::<Image>("/kill/pub").await.unwrap();
                publisher.wait_for_subscribers(1, T).await.unwrap();
                println!("publishing");
                for k in 0.. {
                    publisher.publish(&image(1 << 20, k)).unwrap();
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            other => panic!("unknown role {other}"),
        }
    });
}

/// The child, killed by pid when the test ends.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(env: &TestEnv, role: &str) -> (Guard, std::sync::mpsc::Receiver<String>) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "child",
            "--ignored",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, role)
        .env("CORTEX_DISCOVERY", &env.discovery)
        .env("CORTEX_SOCKET_ROOT", env.socket_root())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (Guard(child), rx)
}

async fn line(rx: &std::sync::mpsc::Receiver<String>, prefix: &str) -> String {
    let deadline = tokio::time::Instant::now() + T;
    loop {
        if let Ok(l) = rx.try_recv() {
            // The harness prints "test child ... " before the child's lines.
            if l.contains(prefix) {
                return l;
            }
            continue;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the child never said {prefix:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn kill9(child: &mut Guard) {
    let pid = child.0.id() as i32;
    // SAFETY: plain syscall on our own child's pid.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    let _ = child.0.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_killed_while_holding_samples_costs_the_publisher_nothing() {
    let env = TestEnv::new();
    let _daemon = env.start_daemon().await;
    let node = Node::new(env.node_config("pub").shared_memory(true))
        .await
        .unwrap();
    let publisher = node.publisher::<Image>("/kill/sub").await.unwrap();
    let (mut child, lines) = spawn(&env, "holding-subscriber");
    publisher.wait_for_subscribers(1, T).await.unwrap();
    assert_eq!(publisher.stats().shared_memory_subscribers, 1);
    let mut k = 0;
    let holding = async {
        loop {
            publisher.publish(&image(1 << 20, k)).unwrap();
            k += 1;
            tokio::time::sleep(Duration::from_millis(5)).await;
            if let Ok(l) = lines.try_recv() {
                if l.contains("holding") {
                    return;
                }
            }
        }
    };
    tokio::time::timeout(T, holding)
        .await
        .expect("the child holds two samples");
    kill9(&mut child);
    // The socket connection drops with the process: no subscriber left.
    let deadline = tokio::time::Instant::now() + T;
    while publisher.stats().subscribers > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the dead subscriber is still counted"
        );
        publisher.publish(&image(1 << 20, k)).unwrap();
        k += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Keep publishing: never an error, never a shared-memory failure.
    for _ in 0..200 {
        assert!(publisher.publish(&image(1 << 20, k)).unwrap());
        k += 1;
    }
    // A new subscriber gets shared memory and the stream.
    let mut fresh = node.subscriber::<Image>("/kill/sub").await.unwrap();
    publisher.wait_for_subscribers(1, T).await.unwrap();
    assert!(fresh.uses_shared_memory());
    publisher.publish(&image(1 << 20, k)).unwrap();
    let got = recv(&mut fresh).await;
    assert_eq!(got, image(1 << 20, k));
    assert_eq!(publisher.stats().shared_memory_failures, 0);
    node.close().await;
    no_dead_nodes_left().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn samples_held_when_their_publisher_is_killed_stay_intact() {
    let env = TestEnv::new();
    let _daemon = env.start_daemon().await;
    let (mut child, lines) = spawn(&env, "publisher");
    let node = Node::new(env.node_config("sub").shared_memory(true))
        .await
        .unwrap();
    let mut subscriber = node.subscriber::<Image>("/kill/pub").await.unwrap();
    assert!(subscriber.uses_shared_memory());
    line(&lines, "publishing").await;
    let a = recv(&mut subscriber).await;
    let b = recv(&mut subscriber).await;
    assert!(a.data.is_borrowed() && b.data.is_borrowed());
    kill9(&mut child);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        a,
        image(1 << 20, a.k),
        "held sample {} intact after kill -9",
        a.k
    );
    assert_eq!(
        b,
        image(1 << 20, b.k),
        "held sample {} intact after kill -9",
        b.k
    );
    drop((a, b));
    node.close().await;
    // Leave nothing of the killed child behind (cortex would otherwise do
    // this when the next process starts to use shared memory).
    no_dead_nodes_left().await;
}

/// Removes what killed children left and checks it is gone (a child killed
/// by the other kill -9 test meanwhile is cleaned too).
async fn no_dead_nodes_left() {
    let mut dead = usize::MAX;
    for _ in 0..50 {
        cortex::pubsub::remove_dead_shared_memory();
        dead = dead_nodes();
        if dead == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(dead, 0, "no dead node's resources left behind");
}

/// cortex's iceoryx2 settings for this user (`pubsub::shm::realm`): its
/// own directory and file prefix.
fn realm_config() -> iceoryx2::prelude::Config {
    use iceoryx2::prelude::{Config, FileName, Path, SemanticString};
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    let mut config = Config::global_config().clone();
    let root = format!("/tmp/cortex-shm-{uid}");
    config
        .global
        .set_root_path(&Path::new(root.as_bytes()).unwrap());
    config.global.prefix = FileName::new(format!("cx{uid}_").as_bytes()).unwrap();
    config
}

/// The service name cortex gives the publisher at `address`: keyed with
/// this user's secret, so another user cannot compute it.
fn service_name(address: &str) -> String {
    use sha2::{Digest, Sha256};
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    let key = std::fs::read(format!("/tmp/cortex-shm-{uid}/key")).expect("the user's key");
    assert_eq!(key.len(), 32);
    let digest = Sha256::new()
        .chain_update(&key)
        .chain_update(address.as_bytes())
        .finalize();
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("cortex/shm/{hex}")
}

#[tokio::test]
async fn service_names_are_keyed_and_the_key_and_directory_are_private() {
    use iceoryx2::prelude::{NodeBuilder, ServiceName};
    use iceoryx2::service::ipc_threadsafe::Service;
    use std::os::unix::fs::MetadataExt;
    let env = TestEnv::new();
    let _daemon = env.start_daemon().await;
    let (node, publisher, _subscriber) = shm_pair::<Image>(&env, "/keyed").await;
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    let dir = std::fs::symlink_metadata(format!("/tmp/cortex-shm-{uid}")).unwrap();
    assert_eq!((dir.uid(), dir.mode() & 0o777), (uid, 0o700));
    let key = std::fs::metadata(format!("/tmp/cortex-shm-{uid}/key")).unwrap();
    assert_eq!((key.uid(), key.mode() & 0o777, key.len()), (uid, 0o600, 32));
    let probe = NodeBuilder::new()
        .config(&realm_config())
        .create::<Service>()
        .unwrap();
    let exists = |name: String| {
        let name: ServiceName = name.as_str().try_into().unwrap();
        <Service as iceoryx2::service::Service>::does_exist(
            &name,
            &realm_config(),
            iceoryx2::prelude::MessagingPattern::PublishSubscribe,
        )
        .unwrap()
    };
    assert!(exists(service_name(publisher.address())), "the keyed name");
    assert!(
        !exists(format!("cortex/shm/{}", publisher.address())),
        "not a name derived from the address alone"
    );
    // No file of cortex's in /dev/shm names the address or the topic.
    for entry in std::fs::read_dir("/dev/shm").unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(!name.contains("keyed"), "{name}");
    }
    drop(probe);
    node.close().await;
}

/// Processes that died without removing their shared-memory resources.
fn dead_nodes() -> usize {
    use iceoryx2::prelude::{CallbackProgression, Node, NodeState};
    use iceoryx2::service::ipc_threadsafe::Service;
    let mut dead = 0;
    Node::<Service>::list(&realm_config(), |state| {
        if matches!(state, NodeState::Dead(_)) {
            dead += 1;
        }
        CallbackProgression::Continue
    })
    .expect("listing iceoryx2 nodes");
    dead
}

#[tokio::test]
async fn where_shared_memory_cannot_be_set_up_the_publisher_says_why_and_everyone_uses_the_socket()
{
    use iceoryx2::prelude::{NodeBuilder, ServiceName};
    use iceoryx2::service::ipc_threadsafe::Service;
    let (log, _logging) = Log::capture();
    let env = TestEnv::new();
    let _daemon = env.start_daemon().await;
    // Something else already holds the service name this publisher would
    // use, with another payload type (a squatter, or a stale incompatible
    // version): the publisher cannot create its shared-memory side.
    let address = format!(
        "ipc://{}",
        env.socket_root()
            .join(cortex::pubsub::socket_file_name("fb", "/fallback"))
            .display()
    );
    let squatter = NodeBuilder::new()
        .config(&realm_config())
        .create::<Service>()
        .unwrap();
    // (Only a process of the same user can compute the name: it is keyed
    // with the user's secret, see `service_names_are_keyed_…`.)
    let _first = Node::new(env.node_config("key")).await.unwrap(); // makes the key
    let name: ServiceName = service_name(&address).as_str().try_into().unwrap();
    let _taken = squatter
        .service_builder(&name)
        .publish_subscribe::<u64>()
        .create()
        .unwrap();
    let node = Node::new(env.node_config("fb").shared_memory(true))
        .await
        .unwrap();
    let publisher = node.publisher::<Image>("/fallback").await.unwrap();
    assert_eq!(publisher.address(), address);
    let mut subscriber = node.subscriber::<Image>("/fallback").await.unwrap();
    publisher.wait_for_subscribers(1, T).await.unwrap();
    assert!(!subscriber.uses_shared_memory());
    let sent = image(100_000, 3);
    publisher.publish(&sent).unwrap();
    assert_eq!(recv(&mut subscriber).await, sent);
    let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("shared memory unavailable"))
        .unwrap_or_else(|| panic!("no fallback line in the log:\n{text}"));
    assert!(
        line.contains("/fallback") && line.contains("creating the shared-memory service"),
        "the line names the topic and the reason: {line}"
    );
    node.close().await;
}

// ---- loans ---------------------------------------------------------------

#[tokio::test]
async fn a_loaned_array_reaches_shared_memory_subscribers_without_a_copy() {
    let env = TestEnv::new();
    let _daemon = env.start_daemon().await;
    let (node, publisher, mut subscriber) = shm_pair::<Image>(&env, "/loan").await;
    for k in 0..5u64 {
        let mut data = publisher.loan_array::<u8>([1 << 20]).unwrap();
        assert!(
            data.is_shared_memory(),
            "a shared-memory subscriber is there"
        );
        assert_eq!(data.shape(), &[1 << 20]);
        for (i, b) in data.iter_mut().enumerate() {
            *b = (i as u64 * 7 + k) as u8;
        }
        assert!(publisher
            .publish_loan(data, |data| Image { data, k })
            .unwrap());
        let got = recv(&mut subscriber).await;
        assert!(got == image(1 << 20, k), "loaned message {k} intact");
        assert!(got.data.is_borrowed() && aligned(&got.data));
    }
    let stats = publisher.stats();
    assert_eq!((stats.published, stats.shared_memory_failures), (5, 0));
    node.close().await;
}

#[tokio::test]
async fn a_loan_whose_array_is_kept_is_sent_by_copy_and_the_copy_stays_valid() {
    let env = TestEnv::new();
    let _daemon = env.start_daemon().await;
    let (node, publisher, mut subscriber) = shm_pair::<Image>(&env, "/kept").await;
    let mut kept = Vec::new();
    let mut data = publisher.loan_array::<u8>([4096]).unwrap();
    data.fill(9);
    publisher
        .publish_loan(data, |data| {
            kept.push(data.clone());
            Image { data, k: 1 }
        })
        .unwrap();
    let got = recv(&mut subscriber).await;
    assert_eq!(got.data.as_slice(), &[9u8; 4096][..]);
    assert_eq!(
        kept[0].as_slice(),
        &[9u8; 4096][..],
        "the kept array is still valid"
    );
    node.close().await;
}

#[derive(Message, Debug, Clone, PartialEq)]
pub struct Points {
    pub xyz: NdArray<f32>,
}

#[tokio::test]
async fn without_shared_memory_subscribers_a_loan_is_on_the_heap_and_publishes_normally() {
    let env = TestEnv::new();
    let _daemon = env.start_daemon().await;
    let node = Node::new(env.node_config("heap").shared_memory(true))
        .await
        .unwrap();
    let publisher = node.publisher::<Points>("/points").await.unwrap();
    let socket_node = Node::new(env.node_config("sock").shared_memory(false))
        .await
        .unwrap();
    let mut subscriber = socket_node.subscriber::<Points>("/points").await.unwrap();
    publisher.wait_for_subscribers(1, T).await.unwrap();
    let mut xyz = publisher.loan_array::<f32>([10, 3]).unwrap();
    assert!(
        !xyz.is_shared_memory(),
        "no shared-memory subscriber: the heap"
    );
    assert!(xyz.iter().all(|v| *v == 0.0), "a heap loan starts zeroed");
    xyz[4] = 2.5;
    publisher.publish_loan(xyz, |xyz| Points { xyz }).unwrap();
    let got = recv(&mut subscriber).await;
    assert_eq!(got.xyz.shape(), &[10, 3]);
    assert_eq!(got.xyz.as_slice()[4], 2.5);
    let err = publisher.loan_array::<u64>([usize::MAX, 2]).unwrap_err();
    assert!(
        matches!(&err, cortex::Error::LoanShape { topic, .. } if topic == "/points"),
        "{err}"
    );
    node.close().await;
    socket_node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loaned_message_reaches_shared_memory_and_socket_subscribers_alike() {
    let env = TestEnv::new();
    let _daemon = env.start_daemon().await;
    let node = Node::new(env.node_config("both").shared_memory(true))
        .await
        .unwrap();
    let publisher = node.publisher::<Image>("/both").await.unwrap();
    let mut shm = node.subscriber::<Image>("/both").await.unwrap();
    let socket_node = Node::new(env.node_config("both-sock").shared_memory(false))
        .await
        .unwrap();
    let mut socket = socket_node.subscriber::<Image>("/both").await.unwrap();
    publisher.wait_for_subscribers(2, T).await.unwrap();
    let mut data = publisher.loan_array::<u8>([100_000]).unwrap();
    assert!(data.is_shared_memory());
    for (i, b) in data.iter_mut().enumerate() {
        *b = (i as u64 * 7 + 4) as u8;
    }
    publisher
        .publish_loan(data, |data| Image { data, k: 4 })
        .unwrap();
    let a = recv(&mut shm).await;
    let b = recv(&mut socket).await;
    assert!(a == image(100_000, 4) && b == a);
    node.close().await;
    socket_node.close().await;
}

#[derive(Message, Debug, Clone, PartialEq)]
pub struct Tagged {
    pub data: NdArray<u8>,
    pub tag: String,
}

#[tokio::test]
async fn loans_beyond_the_limit_and_metadata_over_4_kib_still_publish() {
    let env = TestEnv::new();
    let _daemon = env.start_daemon().await;
    let (node, publisher, mut subscriber) = shm_pair::<Tagged>(&env, "/tagged").await;
    // Four loans out at once are in shared memory; the fifth is on the heap.
    let mut loans: Vec<_> = (0..5)
        .map(|_| publisher.loan_array::<u8>([1000]).unwrap())
        .collect();
    let shared: Vec<bool> = loans.iter().map(|l| l.is_shared_memory()).collect();
    assert_eq!(shared, [true, true, true, true, false]);
    for (k, loan) in loans.iter_mut().enumerate() {
        loan.fill(k as u8);
    }
    // The last message's metadata (a 5000-byte tag) does not fit in front
    // of its array: it goes by copy.
    for (k, loan) in loans.into_iter().enumerate() {
        let tag = if k == 4 {
            "x".repeat(5000)
        } else {
            format!("#{k}")
        };
        publisher
            .publish_loan(loan, |data| Tagged { data, tag })
            .unwrap();
    }
    let mut big = publisher.loan_array::<u8>([1000]).unwrap();
    assert!(big.is_shared_memory(), "loans are back once published");
    big.fill(5);
    publisher
        .publish_loan(big, |data| Tagged {
            data,
            tag: "y".repeat(5000),
        })
        .unwrap();
    for k in 0..6u8 {
        let got = recv(&mut subscriber).await;
        assert_eq!(got.data.as_slice(), &[k; 1000][..], "message {k}");
        assert_eq!(got.tag.len(), if k >= 4 { 5000 } else { 2 });
    }
    assert_eq!(publisher.stats().shared_memory_failures, 0);
    node.close().await;
}
