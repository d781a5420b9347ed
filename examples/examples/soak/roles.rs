//! The three role processes: the discovery daemon, the publisher and the
//! subscriber. Each reports on stdout as JSON lines ([`Line`]), stops
//! cleanly on SIGTERM, and exits when its stdin closes (the orchestrator is
//! gone).

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cortex::discovery::{Daemon, DaemonConfig};
use cortex::prelude::*;
use cortex::pubsub::{Publisher, PublisherStats, Subscriber, SubscriberStats};
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::time::{interval, MissedTickBehavior};

use super::lines::{say, Line, ProcStats, PubTopic, SubTopic};
use super::msgs::{Frame, Small, SMALL, SMALL_HZ, VGA, VGA_HZ};
use super::Result;

/// How often the roles report.
const REPORT_EVERY: Duration = Duration::from_secs(1);

/// Bound on the clean-up after SIGTERM (closing publishers, stopping the
/// daemon): past it the process exits anyway.
const STOP_WITHIN: Duration = Duration::from_secs(5);

/// Where the roles find each other.
#[derive(Debug, Clone)]
pub(crate) struct World {
    /// The discovery daemon's address (`ipc://...`).
    pub(crate) discovery: String,
    /// Where publishers bind their ipc sockets.
    pub(crate) root: PathBuf,
}

impl World {
    /// Inside the run's private directory.
    pub(crate) fn in_dir(dir: &Path) -> World {
        World {
            discovery: format!("ipc://{}/discovery.sock", dir.display()),
            root: dir.join("topics"),
        }
    }

    fn node(&self, name: &str) -> NodeConfig {
        NodeConfig::new(name)
            .discovery(self.discovery.clone())
            .socket_root(self.root.clone())
            .spawn_daemon(false)
    }
}

/// Runs `role` to completion.
pub(crate) fn run(role: &str, world: World) -> Result<()> {
    init_logs();
    exit_when_orphaned();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    // In a spawned task, not on the thread that blocks on the runtime.
    let task = match role {
        "daemon" => rt.spawn(daemon(world)),
        "publisher" => rt.spawn(publisher(world)),
        "subscriber" => rt.spawn(subscriber(world)),
        other => return Err(format!("unknown role {other:?}")),
    };
    let outcome = rt.block_on(task).map_err(|e| format!("{role} task: {e}"))?;
    rt.shutdown_timeout(Duration::from_secs(1));
    outcome.map_err(|e| format!("{role}: {e}"))
}

/// Logs to stderr (stdout carries the reports); `RUST_LOG`, default `warn`.
fn init_logs() {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// Exits the process when stdin closes: the orchestrator holds the other
/// end, so EOF means it is gone and nobody would stop this process.
fn exit_when_orphaned() {
    std::thread::spawn(|| {
        let mut sink = [0u8; 64];
        let mut stdin = std::io::stdin().lock();
        while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
        std::process::exit(4);
    });
}

fn sigterm() -> Result<Signal> {
    signal(SignalKind::terminate()).map_err(|e| format!("installing the SIGTERM handler: {e}"))
}

fn ticker(every: Duration, missed: MissedTickBehavior) -> tokio::time::Interval {
    let mut ticker = interval(every);
    ticker.set_missed_tick_behavior(missed);
    ticker
}

fn cx(what: &'static str) -> impl Fn(cortex::Error) -> String {
    move |e| format!("{what}: {e}")
}

/// Role `daemon`: a discovery daemon at the world's address until SIGTERM.
async fn daemon(world: World) -> Result<()> {
    let mut term = sigterm()?;
    let daemon = Daemon::bind_with(DaemonConfig::new(world.discovery.clone()))
        .await
        .map_err(|e| format!("binding the daemon at {}: {e}", world.discovery))?;
    let stop = daemon.shutdown_handle();
    let mut running = tokio::spawn(daemon.run());
    say(&Line::Ready);
    let mut report = ticker(REPORT_EVERY, MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = report.tick() => say(&Line::Daemon { proc: ProcStats::current() }),
            _ = term.recv() => break,
            ended = &mut running => {
                return Err(match ended {
                    Ok(Ok(())) => "the daemon stopped by itself".into(),
                    Ok(Err(e)) => format!("the daemon failed: {e}"),
                    Err(e) => format!("the daemon task: {e}"),
                });
            }
        }
    }
    stop.shutdown();
    match tokio::time::timeout(STOP_WITHIN, running).await {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(e))) => Err(format!("stopping the daemon: {e}")),
        Ok(Err(e)) => Err(format!("the daemon task: {e}")),
        Err(_) => Err(format!("the daemon did not stop within {STOP_WITHIN:?}")),
    }
}

fn pub_topic(stats: PublisherStats) -> PubTopic {
    PubTopic {
        published: stats.published,
        dropped: stats.dropped,
        overflows: stats.overflows,
        subscribers: stats.subscribers,
    }
}

fn publisher_line(small: &Publisher<Small>, vga: &Publisher<Frame>, last: bool) -> Line {
    Line::Publisher {
        small: pub_topic(small.stats()),
        vga: pub_topic(vga.stats()),
        proc: ProcStats::current(),
        last,
    }
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Role `publisher`: `/soak/small` at 1 kHz and `/soak/vga` at 30 Hz until
/// SIGTERM. Message `n` of a topic carries `counter = n`, which is also its
/// header sequence. A publish error ends the role (and so the soak).
async fn publisher(world: World) -> Result<()> {
    let mut term = sigterm()?;
    let node = Node::new(world.node("soak-pub"))
        .await
        .map_err(cx("starting the publisher node"))?;
    let small = node
        .publisher::<Small>(SMALL)
        .await
        .map_err(cx("publishing /soak/small"))?;
    let vga = node
        .publisher::<Frame>(VGA)
        .await
        .map_err(cx("publishing /soak/vga"))?;
    say(&Line::Ready);
    // `Burst`: a late tick is made up at once, so the long-run rate stays
    // exactly 1 kHz / 30 Hz even when the process is briefly descheduled.
    let mut small_tick = ticker(
        Duration::from_secs(1) / SMALL_HZ as u32,
        MissedTickBehavior::Burst,
    );
    let mut vga_tick = ticker(
        Duration::from_secs(1) / VGA_HZ as u32,
        MissedTickBehavior::Burst,
    );
    let mut report = ticker(REPORT_EVERY, MissedTickBehavior::Delay);
    let (mut n_small, mut n_vga) = (0u64, 0u64);
    loop {
        tokio::select! {
            _ = small_tick.tick() => {
                small.publish(&Small::new(n_small, now_ns())).map_err(cx("publish on /soak/small"))?;
                n_small += 1;
            }
            _ = vga_tick.tick() => {
                vga.publish(&Frame::new(n_vga)).map_err(cx("publish on /soak/vga"))?;
                n_vga += 1;
            }
            _ = report.tick() => say(&publisher_line(&small, &vga, false)),
            _ = term.recv() => break,
        }
    }
    say(&publisher_line(&small, &vga, true));
    let close = async {
        small.close().await.map_err(cx("closing /soak/small"))?;
        vga.close().await.map_err(cx("closing /soak/vga"))?;
        node.close().await;
        Ok(())
    };
    tokio::time::timeout(STOP_WITHIN, close)
        .await
        .map_err(|_| format!("closing did not finish within {STOP_WITHIN:?}"))?
}

fn with_stats(mut seen: SubTopic, stats: SubscriberStats) -> SubTopic {
    seen.received = stats.received;
    seen.dropped = stats.dropped;
    seen.decode_errors = stats.decode_errors;
    seen.reconnects = stats.reconnects;
    seen
}

fn subscriber_line(
    small: (&Subscriber<Small>, SubTopic),
    vga: (&Subscriber<Frame>, SubTopic),
    last: bool,
) -> Line {
    Line::Subscriber {
        small: with_stats(small.1, small.0.stats()),
        vga: with_stats(vga.1, vga.0.stats()),
        proc: ProcStats::current(),
        last,
    }
}

/// Role `subscriber`: receives both topics until SIGTERM, checking every
/// message's sequence and contents; reports every second and once more,
/// with `last: true`, when it stops.
async fn subscriber(world: World) -> Result<()> {
    let mut term = sigterm()?;
    let began = Instant::now();
    let node = Node::new(world.node("soak-sub"))
        .await
        .map_err(cx("starting the subscriber node"))?;
    let mut small = node
        .subscriber::<Small>(SMALL)
        .await
        .map_err(cx("subscribing to /soak/small"))?;
    let mut vga = node
        .subscriber::<Frame>(VGA)
        .await
        .map_err(cx("subscribing to /soak/vga"))?;
    say(&Line::Ready);
    let (mut seen_small, mut seen_vga) = (SubTopic::default(), SubTopic::default());
    let mut report = ticker(REPORT_EVERY, MissedTickBehavior::Delay);
    // The counters are read in this task, between messages, so the
    // sequences seen and cortex's counts always describe the same moment.
    loop {
        tokio::select! {
            got = small.recv() => {
                let (msg, header) = got.map_err(cx("receiving /soak/small"))?;
                seen_small.observe(header.sequence, msg.counter == header.sequence, began);
            }
            got = vga.recv() => {
                let (msg, header) = got.map_err(cx("receiving /soak/vga"))?;
                seen_vga.observe(header.sequence, msg.counter == header.sequence && msg.intact(), began);
            }
            _ = report.tick() => say(&subscriber_line((&small, seen_small), (&vga, seen_vga), false)),
            _ = term.recv() => break,
        }
    }
    say(&subscriber_line(
        (&small, seen_small),
        (&vga, seen_vga),
        true,
    ));
    drop((small, vga));
    tokio::time::timeout(STOP_WITHIN, node.close())
        .await
        .map_err(|_| format!("closing did not finish within {STOP_WITHIN:?}"))
}
