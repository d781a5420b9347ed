//! The cortex side: derived message types, real `Publisher`/`Subscriber`
//! made through `Node`, a private discovery daemon and socket root per run.

use std::path::Path;
use std::time::{Duration, Instant};

use cortex::discovery::{Daemon, ShutdownHandle};
use cortex::prelude::*;
use cortex::pubsub::SubscriberStats;

use super::common::{pace, template, Job, Recorder, PING, PONG, TOPIC};
use super::proc::{say, Control, Peer};

type Result<T> = std::result::Result<T, String>;

const T: Duration = Duration::from_secs(10);

/// Small messages: the bytes ride inside the metadata (msgpack bin), so a
/// message is 3 frames: topic, header, metadata.
#[derive(Message, Debug, Clone)]
pub(crate) struct Small {
    pub(crate) data: Vec<u8>,
}

/// Arrays: the data rides as its own frame (zero-copy send and receive),
/// so a message is 4 frames: topic, header, metadata, data.
#[derive(Message, Debug, Clone)]
pub(crate) struct Payload {
    pub(crate) data: NdArray<u8>,
}

/// What the bench needs of a message type.
pub(crate) trait BenchMsg: Message + Sync {
    /// A fresh message holding a copy of `bytes`.
    fn make(bytes: &[u8]) -> Self;
    /// The payload.
    fn bytes(&self) -> &[u8];
    /// Publishes a copy of `bytes` the way a producer filling a loaned
    /// array would (BENCH_LOAN=1); types without an array publish as usual.
    fn publish_loaned(publisher: &cortex::Publisher<Self>, bytes: &[u8]) -> cortex::Result<bool> {
        publisher.publish(&Self::make(bytes))
    }
}

impl BenchMsg for Small {
    fn make(bytes: &[u8]) -> Self {
        Small {
            data: bytes.to_vec(),
        }
    }
    fn bytes(&self) -> &[u8] {
        &self.data
    }
}

impl BenchMsg for Payload {
    fn make(bytes: &[u8]) -> Self {
        Payload {
            data: NdArray::from_vec(bytes.to_vec()),
        }
    }
    fn bytes(&self) -> &[u8] {
        self.data.as_slice()
    }
    fn publish_loaned(publisher: &cortex::Publisher<Self>, bytes: &[u8]) -> cortex::Result<bool> {
        let mut data = publisher.loan_array::<u8>([bytes.len()])?;
        data.copy_from_slice(bytes);
        publisher.publish_loan(data, |data| Payload { data })
    }
}

/// Payloads up to this size use [`Small`], larger ones [`Payload`].
pub(crate) const SMALL_MAX: usize = 64;

fn e(what: &'static str) -> impl Fn(cortex::Error) -> String {
    move |err| format!("cortex: {what}: {err}")
}

fn config(name: &str, discovery: &str, root: &Path, hwm: i32) -> NodeConfig {
    // BENCH_ON_FULL=refuse measures OnFullQueue::RefuseForAll instead of the
    // default SkipSlowSubscriber (plain PUB behaviour, like the raw baseline).
    let on_full = match std::env::var("BENCH_ON_FULL").as_deref() {
        Ok("refuse") => cortex::pubsub::OnFullQueue::RefuseForAll,
        _ => cortex::pubsub::OnFullQueue::SkipSlowSubscriber,
    };
    NodeConfig::new(name)
        .discovery(discovery)
        .socket_root(root)
        .spawn_daemon(false)
        .queue_depth(hwm)
        // The raw side queues `hwm` messages whatever their size; a budget
        // as large as the bench's (256 MiB) lets cortex queue as many.
        .queue_bytes(256 << 20)
        .on_full_queue(on_full)
        // The `cortex` side is the socket path; BENCH_SHM=1 measures the
        // shared-memory path instead (reported as `cortex-shm`).
        .shared_memory(super::report::shm())
}

/// A private discovery daemon for one run (in this process).
pub(crate) struct World {
    /// `ipc://<dir>/discovery.sock`.
    pub(crate) discovery: String,
    /// Where publishers bind.
    pub(crate) root: std::path::PathBuf,
    daemon: ShutdownHandle,
}

impl World {
    /// Starts the daemon; `dir` is the run's temp dir.
    pub(crate) async fn start(dir: &Path) -> Result<World> {
        let discovery = format!("ipc://{}/discovery.sock", dir.display());
        let daemon = Daemon::bind(discovery.clone())
            .await
            .map_err(|err| format!("cortex: starting the discovery daemon: {err}"))?;
        let handle = daemon.shutdown_handle();
        tokio::spawn(daemon.run());
        Ok(World {
            discovery,
            root: dir.join("topics"),
            daemon: handle,
        })
    }

    /// Arguments telling a peer where this world is.
    pub(crate) fn args(&self) -> Vec<(String, String)> {
        vec![
            ("discovery".into(), self.discovery.clone()),
            ("root".into(), self.root.display().to_string()),
        ]
    }
}

impl Drop for World {
    fn drop(&mut self) {
        self.daemon.shutdown();
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .worker_threads(crate::workers())
        .build()
        .map_err(|err| format!("tokio runtime: {err}"))
}

/// Peer role `cortex-pub`: publishes the job once the subscriber is there
/// and `go` has arrived. Sends from this thread (`publish` never blocks);
/// the runtime's workers run the publisher's subscription reader.
pub(crate) fn run_pub<M: BenchMsg>(
    job: Job,
    discovery: &str,
    root: &Path,
    control: &Control,
) -> Result<()> {
    let rt = runtime()?;
    let node = rt
        .block_on(Node::new(config("bench-pub", discovery, root, job.hwm)))
        .map_err(e("node"))?;
    let publisher = rt
        .block_on(node.publisher::<M>(TOPIC))
        .map_err(e("publisher"))?;
    rt.block_on(publisher.wait_for_subscribers(1, T))
        .map_err(e("waiting for the subscriber"))?;
    say("ready");
    control.wait_go();
    let template = template(job.size);
    // BENCH_BACKOFF=1 (with BENCH_ON_FULL=refuse, where a full queue makes
    // `publish` return `Ok(false)`): a producer that honours `Ok(false)` by
    // yielding its core before the next attempt. Off by default: both sides
    // then run the same blind flat-out loop.
    let backoff = std::env::var("BENCH_BACKOFF").is_ok_and(|v| v == "1");
    // BENCH_LOAN=1: fill a loaned array (in shared memory when the
    // subscriber takes it) instead of a fresh Vec.
    let loan = super::report::loan();
    let publish = |bytes: &[u8]| {
        if loan {
            M::publish_loaned(&publisher, bytes)
        } else {
            publisher.publish(&M::make(bytes))
        }
    };
    let mut error = None;
    let (attempted, _) = pace(&job, |_| match publish(&template) {
        Ok(sent) => {
            if !sent && backoff {
                std::thread::yield_now();
            }
            sent
        }
        Err(err) => {
            error.get_or_insert(err);
            true
        }
    });
    if let Some(err) = error {
        return Err(format!("cortex: publish: {err}"));
    }
    let stats = publisher.stats();
    say(&format!("done {attempted} {}", stats.dropped));
    control.wait_quit();
    rt.block_on(publisher.close()).map_err(e("close"))?;
    Ok(())
}

/// The measuring side of a one-way run against a `cortex-pub` peer.
pub(crate) async fn measure<M: BenchMsg>(
    job: Job,
    world: (&str, &Path),
    peer: &mut Peer,
    latency: bool,
) -> Result<(Recorder, SubscriberStats)> {
    let node = Node::new(config("bench-sub", world.0, world.1, job.hwm))
        .await
        .map_err(e("node"))?;
    let mut sub = node.subscriber::<M>(TOPIC).await.map_err(e("subscriber"))?;
    tokio::task::block_in_place(|| peer.expect("ready", T))?;
    peer.send("go")?;
    let mut rec = Recorder::new(latency);
    let mut check = tokio::time::interval(Duration::from_millis(100));
    let mut idle_since = Instant::now();
    loop {
        tokio::select! {
            biased;
            got = sub.recv() => {
                let (msg, header) = got.map_err(e("recv"))?;
                rec.record(header.sequence, header.timestamp_ns, msg.bytes().len());
                if rec.received >= job.count {
                    break;
                }
                idle_since = Instant::now();
            }
            _ = check.tick() => {
                if peer.poll_done().is_some() && idle_since.elapsed() > Duration::from_millis(300) {
                    break;
                }
                if idle_since.elapsed() > Duration::from_secs(20) {
                    return Err("cortex: no message for 20 s".into());
                }
            }
        }
    }
    Ok((rec, sub.stats()))
}

/// Peer role `cortex-echo`: every `/ping` message goes back on `/pong`.
pub(crate) fn run_echo(discovery: &str, root: &Path, control: &Control) -> Result<()> {
    let rt = runtime()?;
    let (discovery, root, control) = (discovery.to_owned(), root.to_owned(), control.clone());
    // In a spawned task, as a `#[subscribe]` handler runs (not on the
    // thread that blocks on the runtime).
    rt.block_on(async move {
        tokio::spawn(async move {
            let node = Node::new(config("bench-echo", &discovery, &root, 1000))
                .await
                .map_err(e("node"))?;
            let pong = node
                .publisher::<Small>(PONG)
                .await
                .map_err(e("publisher"))?;
            let mut ping = node
                .subscriber::<Small>(PING)
                .await
                .map_err(e("subscriber"))?;
            pong.wait_for_subscribers(1, T)
                .await
                .map_err(e("waiting for the subscriber"))?;
            say("ready");
            loop {
                tokio::select! {
                    got = ping.recv() => {
                        let (msg, _) = got.map_err(e("recv"))?;
                        pong.publish(&msg).map_err(e("publish"))?;
                    }
                    _ = control.quit_notified() => break,
                }
            }
            pong.close().await.map_err(e("close"))
        })
        .await
        .map_err(|err| format!("echo task: {err}"))?
    })
}

/// The pinging side against a `cortex-echo` peer: `n` round trips (after
/// `warmup` more), returns RTTs in ns.
pub(crate) async fn ping_pong(
    world: (&str, &Path),
    peer: &mut Peer,
    n: usize,
    warmup: usize,
) -> Result<Vec<u64>> {
    let node = Node::new(config("bench-ping", world.0, world.1, 1000))
        .await
        .map_err(e("node"))?;
    let ping = node
        .publisher::<Small>(PING)
        .await
        .map_err(e("publisher"))?;
    let mut pong = node
        .subscriber::<Small>(PONG)
        .await
        .map_err(e("subscriber"))?;
    ping.wait_for_subscribers(1, T)
        .await
        .map_err(e("waiting for the echo"))?;
    tokio::task::block_in_place(|| peer.expect("ready", T))?;
    let mut bytes = template(64);
    let mut rtts = Vec::with_capacity(n);
    // One deadline for the whole run (a timer per round trip would add
    // its own cost to every measurement).
    let deadline = tokio::time::sleep(Duration::from_secs(120));
    tokio::pin!(deadline);
    for i in 0..(warmup + n) as u64 {
        bytes[..8].copy_from_slice(&i.to_le_bytes());
        let msg = Small::make(&bytes);
        let t0 = Instant::now();
        if !ping.publish(&msg).map_err(e("publish"))? {
            return Err("cortex ping-pong: ping refused (queue full)".into());
        }
        loop {
            let (back, _) = tokio::select! {
                biased;
                got = pong.recv() => got.map_err(e("recv"))?,
                _ = &mut deadline => return Err(format!("cortex ping-pong: still waiting for pong {i} after 120 s")),
            };
            if back.data.get(..8) == Some(&i.to_le_bytes()[..]) {
                break;
            }
        }
        let rtt = t0.elapsed().as_nanos() as u64;
        if i >= warmup as u64 {
            rtts.push(rtt);
        }
    }
    ping.close().await.map_err(e("close"))?;
    Ok(rtts)
}
