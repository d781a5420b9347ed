//! `cortex play FILE.mcap`: republishes a recording's cortex topics with
//! their recorded timing, under their recorded types, so `#[subscribe]`
//! handlers and Python subscribers receive them as from the live system.
//!
//! Each topic gets one publisher (node `cortex_play` by default), bound
//! with the recorded type name and fingerprint and registered with the
//! discovery daemon before the first message, with `--delay` for
//! subscribers to connect. A message's metadata and array frames are the
//! recorded bytes; its header is the player's: the same fingerprint, the
//! player's own sequence per topic (so subscribers count loss against the
//! replay, also across loops), and the time of sending. Messages are sent
//! at their recorded log times (the publishers' header times) relative to
//! the first one played, scaled by `--rate`.
//!
//! Channels of other encodings (the Foxglove ones of `record --foxglove`)
//! are not played. A recording without a summary (its recorder was
//! killed) is first read through to find its topics, then played as far
//! as it can be read.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use cortex::pubsub::{PublisherOptions, RawPublisher};
use cortex::{Header, Node, NodeConfig};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::error::CliError;
use super::progress::Progress;
use super::record::layout::decode_frames;
use super::record::reader::{self, Channel, Messages, Recorded};
use super::stop::stopped;
use super::topic::Target;

/// How often the progress line is refreshed.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);
/// The slowest and fastest `--rate`.
const MIN_RATE: f64 = 1e-3;
const MAX_RATE: f64 = 1e6;

/// Arguments of `cortex play`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The recording, e.g. one written by `cortex record`.
    file: PathBuf,
    /// Speed factor: 2 plays twice as fast, 0.5 at half speed.
    #[arg(long, default_value_t = 1.0)]
    rate: f64,
    /// Start again from the beginning at the end, until stopped.
    #[arg(long = "loop")]
    repeat: bool,
    /// Play only these topics (as recorded, before --remap).
    #[arg(long, num_args = 1.., value_name = "TOPIC")]
    topics: Vec<String>,
    /// Publish topic FROM as TO; may be given more than once.
    #[arg(long, value_name = "FROM:=TO")]
    remap: Vec<String>,
    /// Skip the first S seconds of the recording.
    #[arg(long, default_value_t = 0.0, value_name = "S")]
    start: f64,
    /// Seconds between registering the topics (and --wait-subscribers)
    /// and the first message, for subscribers to connect.
    #[arg(long, default_value_t = 0.5, value_name = "S")]
    delay: f64,
    /// Before the first message, wait until each topic has this many
    /// subscribers (at most --wait-timeout; then it plays anyway).
    #[arg(long, default_value_t = 0, value_name = "N")]
    wait_subscribers: u64,
    /// The longest --wait-subscribers waits, in seconds.
    #[arg(long, default_value_t = 10.0, value_name = "S")]
    wait_timeout: f64,
    /// The node name the topics are published under.
    #[arg(long, default_value = "cortex_play")]
    node: String,
    #[command(flatten)]
    target: Target,
}

/// A topic being played.
struct Played {
    /// The name it is published under.
    name: Arc<str>,
    publisher: RawPublisher,
    fingerprint: u64,
}

/// Plays the file (over and over with `--loop`) until its end or a stop.
pub(crate) async fn run(args: Args) -> Result<(), CliError> {
    let settings = Settings::check(&args)?;
    let path = args.file.clone();
    let (channels, start_time) = channels(&path)?;
    let plan = plan(&path, &channels, &args.topics, &settings.remap)?;
    if plan.is_empty() {
        return Err(CliError::Recording {
            file: path,
            problem: "it holds no cortex topics to play (channels with message encoding \
                      \"cortex\", as `cortex record` writes them)"
                .into(),
        });
    }
    // From here on Ctrl-C or SIGTERM ends the playback with everything
    // closed and unregistered, also while it is still setting up.
    let mut stop = Box::pin(stopped(None));
    let node = Node::new(NodeConfig::new(args.node.clone()).discovery(args.target.address.clone()))
        .await?;
    let mut played: HashMap<String, Arc<Played>> = HashMap::new();
    let result = async {
        advertise(&node, &plan, &mut played).await?;
        if !ready(&played, &settings, &mut stop).await {
            return Ok(None);
        }
        let reading = Reading {
            path: &path,
            repeat: args.repeat,
            start_time,
        };
        playback(&reading, &played, &settings, &mut stop)
            .await
            .map(Some)
    }
    .await;
    for p in played.into_values() {
        if let Ok(p) = Arc::try_unwrap(p) {
            let _ = p.publisher.close().await;
        }
    }
    node.close().await;
    let Some(played) = result? else {
        eprintln!("stopped before the first message");
        return Ok(());
    };
    if played.skipped > 0 {
        eprintln!(
            "skipped {} message(s) that could not be sent (see the warnings above)",
            played.skipped
        );
    }
    if let Some(damage) = played.damage {
        eprintln!("warning: {}: {damage}", path.display());
    }
    eprintln!("played {} messages", played.messages);
    Ok(())
}

/// Binds one publisher per topic played (two recorded topics remapped
/// onto one share it), under the recorded type.
async fn advertise(
    node: &Node,
    plan: &BTreeMap<String, Planned>,
    played: &mut HashMap<String, Arc<Played>>,
) -> Result<(), CliError> {
    for (recorded, planned) in plan {
        let Planned {
            name,
            ty,
            fingerprint,
            latched,
        } = planned;
        let publisher = match played.values().find(|p| &*p.name == name) {
            Some(p) => Arc::clone(p),
            None => {
                // A latched topic is played latched: late joiners get its
                // last messages, as from the recorded publisher.
                let options = PublisherOptions {
                    latched: usize::try_from(*latched).unwrap_or(usize::MAX),
                    ..PublisherOptions::default()
                };
                Arc::new(Played {
                    name: name.as_str().into(),
                    publisher: node.raw_publisher(name, ty, *fingerprint, &options).await?,
                    fingerprint: *fingerprint,
                })
            }
        };
        eprintln!(
            "playing {recorded}{} ({ty}, {fingerprint:#018x}{})",
            if recorded == name {
                String::new()
            } else {
                format!(" as {name}")
            },
            if *latched > 0 {
                format!(", latched {latched}")
            } else {
                String::new()
            }
        );
        played.insert(recorded.clone(), publisher);
    }
    Ok(())
}

/// Waits for `--wait-subscribers` on every topic (at most
/// `--wait-timeout`), then `--delay`. False when stopped meanwhile.
async fn ready(
    played: &HashMap<String, Arc<Played>>,
    settings: &Settings,
    stop: &mut Pin<Box<impl Future<Output = ()>>>,
) -> bool {
    let wait = async {
        if settings.wait_subscribers > 0 {
            let mut topics: Vec<&Arc<Played>> = played.values().collect();
            topics.sort_by(|a, b| a.name.cmp(&b.name));
            topics.dedup_by(|a, b| Arc::ptr_eq(a, b));
            // One deadline for all: the waits overlap in time.
            let (n, timeout) = (settings.wait_subscribers, settings.wait_timeout);
            let deadline = tokio::time::Instant::now() + timeout;
            for p in topics {
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                if p.publisher.wait_for_subscribers(n, left).await.is_err() {
                    eprintln!(
                        "warning: {} has {} of {n} subscriber(s) after {timeout:?}; playing \
                         anyway",
                        p.name,
                        p.publisher.stats().subscribers,
                    );
                }
            }
        }
        tokio::time::sleep(settings.delay).await;
    };
    tokio::select! {
        () = stop.as_mut() => false,
        () = wait => true,
    }
}

/// The file to play.
struct Reading<'a> {
    path: &'a Path,
    repeat: bool,
    /// Its first log time, when its summary gives it.
    start_time: Option<u64>,
}

/// How a playback went.
struct Outcome {
    messages: u64,
    skipped: u64,
    /// How the file's last pass ended early, if it did.
    damage: Option<String>,
}

/// Sends the file's messages at their times until its end (with `--loop`
/// again and again) or `stop`.
async fn playback(
    file: &Reading<'_>,
    played: &HashMap<String, Arc<Played>>,
    settings: &Settings,
    stop: &mut Pin<Box<impl Future<Output = ()>>>,
) -> Result<Outcome, CliError> {
    let (tx, mut rx) = mpsc::channel::<Item>(256);
    let reading = {
        let path = file.path.to_owned();
        let repeat = file.repeat;
        std::thread::spawn(move || read(&path, repeat, &tx))
    };
    let mut progress = Progress::new();
    let mut tick = tokio::time::interval(PROGRESS_EVERY);
    let mut clock = Clock::new(settings.rate, settings.start, file.start_time);
    let mut skipped = 0u64;
    let mut failed = None;
    loop {
        let item = tokio::select! {
            () = stop.as_mut() => break,
            _ = tick.tick() => {
                progress.show(&format!("{:.1} s played: ", clock.played()));
                continue;
            }
            item = rx.recv() => item,
        };
        let m = match item {
            None => break,
            Some(Item::Again) => {
                clock.again();
                continue;
            }
            Some(Item::Failed(e)) => {
                failed = Some(e);
                break;
            }
            Some(Item::Message(m)) => m,
        };
        // Only cortex channels: a Foxglove view may share a played name.
        let Some(topic) = played
            .get(&m.channel.topic)
            .filter(|_| m.channel.is_cortex())
        else {
            continue;
        };
        let Some(at) = clock.when(m.log_time) else {
            continue;
        };
        tokio::select! {
            () = stop.as_mut() => break,
            () = tokio::time::sleep_until(at) => {}
        }
        match send(topic, &m) {
            Ok(()) => progress.count(&topic.name, m.data.len()),
            Err(problem) => {
                skipped += 1;
                if skipped <= 3 {
                    eprintln!(
                        "warning: skipped a message of {}: {problem}",
                        m.channel.topic
                    );
                }
            }
        }
    }
    // The reading thread ends at its next send once this is gone.
    drop(rx);
    progress.done(&format!("{:.1} s played: ", clock.played()));
    let damage = tokio::task::spawn_blocking(move || reading.join().ok().flatten())
        .await
        .ok()
        .flatten();
    if let Some(error) = failed {
        return Err(error);
    }
    Ok(Outcome {
        messages: progress.messages,
        skipped,
        damage,
    })
}

/// The checked flags.
struct Settings {
    rate: f64,
    start: u64,
    delay: Duration,
    wait_subscribers: u64,
    wait_timeout: Duration,
    remap: HashMap<String, String>,
}

impl Settings {
    fn check(args: &Args) -> Result<Self, CliError> {
        let invalid = |setting: &str, problem: String| {
            CliError::from(cortex::Error::InvalidSetting {
                setting: setting.into(),
                problem,
            })
        };
        if !(MIN_RATE..=MAX_RATE).contains(&args.rate) {
            return Err(invalid(
                "--rate",
                format!(
                    "must be a factor from {MIN_RATE} to {MAX_RATE} (1 = recorded speed), not {}",
                    args.rate
                ),
            ));
        }
        let start = crate::flags::seconds("--start", args.start, false)?;
        let delay = crate::flags::seconds("--delay", args.delay, false)?;
        let mut remap = HashMap::new();
        for rule in &args.remap {
            let Some((from, to)) = rule.split_once(":=") else {
                return Err(invalid(
                    "--remap",
                    format!("{rule:?} is not FROM:=TO (e.g. /camera/image:=/replay/image)"),
                ));
            };
            if from.is_empty() || to.is_empty() {
                return Err(invalid(
                    "--remap",
                    format!("{rule:?} needs a topic on both sides of :="),
                ));
            }
            remap.insert(from.to_owned(), to.to_owned());
        }
        Ok(Self {
            rate: args.rate,
            start: u64::try_from(start.as_nanos()).unwrap_or(u64::MAX),
            delay,
            wait_subscribers: args.wait_subscribers,
            wait_timeout: crate::flags::seconds("--wait-timeout", args.wait_timeout, true)?,
            remap,
        })
    }
}

/// How one recorded topic is played.
struct Planned {
    /// The name it is published under.
    name: String,
    /// The recorded type name.
    ty: String,
    fingerprint: u64,
    /// How many messages its publisher keeps for late joiners (0: not
    /// latched), as recorded.
    latched: u64,
}

/// Per recorded topic to play, how.
fn plan(
    path: &Path,
    channels: &[Arc<Channel>],
    only: &[String],
    remap: &HashMap<String, String>,
) -> Result<BTreeMap<String, Planned>, CliError> {
    let cortex: Vec<&Arc<Channel>> = channels.iter().filter(|c| c.is_cortex()).collect();
    let recorded = || {
        let mut names: Vec<&str> = cortex.iter().map(|c| c.topic.as_str()).collect();
        names.dedup();
        names.join(", ")
    };
    for topic in only {
        if !cortex.iter().any(|c| &c.topic == topic) {
            return Err(CliError::Recording {
                file: path.to_owned(),
                problem: format!(
                    "it has no cortex topic {topic} (--topics); it has: {}",
                    recorded()
                ),
            });
        }
    }
    for from in remap.keys() {
        if !cortex.iter().any(|c| &c.topic == from) {
            return Err(CliError::Recording {
                file: path.to_owned(),
                problem: format!(
                    "--remap names {from}, which it does not hold; it has: {}",
                    recorded()
                ),
            });
        }
    }
    let mut plan: BTreeMap<String, Planned> = BTreeMap::new();
    let mut types: HashMap<String, (String, u64, String)> = HashMap::new();
    for c in cortex {
        if !only.is_empty() && !only.contains(&c.topic) {
            continue;
        }
        let Some(fingerprint) = c.fingerprint() else {
            return Err(CliError::Recording {
                file: path.to_owned(),
                problem: format!(
                    "the channel of {} has no \"fingerprint\" metadata, so its type cannot be \
                     published; was it written by `cortex record`?",
                    c.topic
                ),
            });
        };
        let name = remap
            .get(&c.topic)
            .cloned()
            .unwrap_or_else(|| c.topic.clone());
        let ty = c.message_type().to_owned();
        // One type per published topic, as discovery requires.
        if let Some((other, other_fp, from)) = types.get(&name) {
            if *other_fp != fingerprint {
                return Err(CliError::Recording {
                    file: path.to_owned(),
                    problem: format!(
                        "{name} would carry two types: {other} ({other_fp:#018x}, from {from}) \
                         and {ty} ({fingerprint:#018x}, from {}); play them apart with \
                         --topics or --remap",
                        c.topic
                    ),
                });
            }
        }
        types.insert(name.clone(), (ty.clone(), fingerprint, c.topic.clone()));
        plan.insert(
            c.topic.clone(),
            Planned {
                name,
                ty,
                fingerprint,
                latched: c.latched(),
            },
        );
    }
    Ok(plan)
}

/// The channels of the file and its first log time: from its summary, or
/// by reading it through when it has none.
fn channels(path: &Path) -> Result<(Vec<Arc<Channel>>, Option<u64>), CliError> {
    // A file that cannot be opened is told as such.
    Messages::open(path)?;
    // A file without a summary, or with an end that cannot be read, is
    // read through instead.
    if let Ok(Some(summary)) = reader::summary(path) {
        let mut channels: Vec<_> = summary
            .channels
            .values()
            .map(|c| {
                Arc::new(Channel {
                    topic: c.topic.clone(),
                    message_encoding: c.message_encoding.clone(),
                    schema_name: c.schema.as_ref().map_or(String::new(), |s| s.name.clone()),
                    metadata: c.metadata.clone(),
                })
            })
            .collect();
        channels.sort_by(|a, b| a.topic.cmp(&b.topic));
        let start = summary
            .stats
            .as_ref()
            .filter(|s| s.message_count > 0)
            .map(|s| s.message_start_time);
        return Ok((channels, start));
    }
    eprintln!(
        "{} has no summary (its recording did not finish): reading it through for its topics",
        path.display()
    );
    let mut messages = Messages::open(path)?;
    let mut seen: Vec<Arc<Channel>> = Vec::new();
    let mut start: Option<u64> = None;
    while let Some(m) = messages.next()? {
        start = Some(start.map_or(m.log_time, |s| s.min(m.log_time)));
        if !seen.iter().any(|c| Arc::ptr_eq(c, &m.channel)) {
            seen.push(m.channel);
        }
    }
    seen.sort_by(|a, b| a.topic.cmp(&b.topic));
    Ok((seen, start))
}

/// From the reading thread.
enum Item {
    Message(Recorded),
    /// The file starts again (`--loop`).
    Again,
    /// It could not be read.
    Failed(CliError),
}

/// Reads the file into `tx` (again and again with `repeat`) until the
/// player hangs up. Returns how the last pass ended early, if it did.
fn read(path: &Path, repeat: bool, tx: &mpsc::Sender<Item>) -> Option<String> {
    loop {
        let mut messages = match Messages::open(path) {
            Ok(messages) => messages,
            Err(e) => {
                let _ = tx.blocking_send(Item::Failed(e));
                return None;
            }
        };
        let mut any = false;
        loop {
            match messages.next() {
                Ok(Some(m)) => {
                    any = true;
                    if tx.blocking_send(Item::Message(m)).is_err() {
                        return None;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let _ = tx.blocking_send(Item::Failed(e));
                    return None;
                }
            }
        }
        let damage = messages.damage().map(str::to_owned);
        if !repeat || !any || tx.blocking_send(Item::Again).is_err() {
            return damage;
        }
    }
}

/// When each message is due: its log time's offset from the first one
/// played, divided by the rate, after the wall-clock start of the pass.
struct Clock {
    rate: f64,
    /// Recorded nanoseconds to skip at the start of each pass.
    skip: u64,
    /// Where `--start` counts from: the file's first log time (from its
    /// summary, else the first message read).
    first: Option<u64>,
    /// The file's first log time, when its summary gives it.
    start_time: Option<u64>,
    /// Wall clock and log time the pass is anchored at.
    anchor: Option<(Instant, u64)>,
    /// Recorded nanoseconds played in earlier passes, and in this one.
    before: u64,
    latest: u64,
}

impl Clock {
    fn new(rate: f64, skip: u64, start_time: Option<u64>) -> Self {
        Self {
            rate,
            skip,
            first: start_time,
            start_time,
            anchor: None,
            before: 0,
            latest: 0,
        }
    }

    /// When to send the message logged at `log_time`; `None` to skip it
    /// (before `--start`). A message logged before one already sent (two
    /// publishers' clocks) goes at once.
    fn when(&mut self, log_time: u64) -> Option<Instant> {
        let first = *self.first.get_or_insert(log_time);
        // `--start` counts from the file's first log time; without a
        // summary, from the first message read, and a message logged
        // earlier than that one (another publisher's clock) counts as
        // before the start. Without `--start`, nothing is skipped.
        if self.skip > 0 && log_time < first.saturating_add(self.skip) {
            return None;
        }
        let (wall, at) = *self.anchor.get_or_insert((Instant::now(), log_time));
        let offset = log_time.saturating_sub(at);
        self.latest = self.latest.max(offset);
        // At most 2^64 ns / MIN_RATE: about 585 000 years, which the clock
        // holds; should it not, as late as it can.
        let wait = Duration::try_from_secs_f64(offset as f64 / 1e9 / self.rate)
            .unwrap_or(Duration::from_secs(u64::from(u32::MAX)));
        Some(
            wall.checked_add(wait)
                .unwrap_or_else(|| wall + Duration::from_secs(u64::from(u32::MAX))),
        )
    }

    /// A new pass: anchored afresh at its first message.
    fn again(&mut self) {
        self.before += self.latest;
        self.latest = 0;
        self.first = self.start_time;
        self.anchor = None;
    }

    /// Recorded seconds played so far.
    fn played(&self) -> f64 {
        (self.before + self.latest) as f64 / 1e9
    }
}

/// Sends one recorded message on its topic's publisher.
fn send(topic: &Played, m: &Recorded) -> Result<(), String> {
    let frames = decode_frames(&m.data)?;
    let [header, metadata, oob @ ..] = frames.as_slice() else {
        return Err(format!(
            "{} frame(s) where a message has at least a header and metadata",
            frames.len()
        ));
    };
    let header = Header::from_bytes(header).map_err(|e| format!("its header: {e}"))?;
    if header.fingerprint != topic.fingerprint {
        return Err(format!(
            "its header's fingerprint {:#018x} is not the channel's {:#018x}",
            header.fingerprint, topic.fingerprint
        ));
    }
    topic
        .publisher
        .publish_encoded(metadata, oob.to_vec())
        .map_err(|e| e.to_string())?;
    Ok(())
}
