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
use std::path::{Path, PathBuf};
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
    /// Seconds between registering the topics and the first message, for
    /// subscribers to connect.
    #[arg(long, default_value_t = 0.5, value_name = "S")]
    delay: f64,
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
    let node = Node::new(NodeConfig::new(args.node.clone()).discovery(args.target.address.clone()))
        .await?;
    let mut played: HashMap<String, Arc<Played>> = HashMap::new();
    let options = PublisherOptions::default();
    for (recorded, (name, ty, fingerprint)) in &plan {
        let publisher = match played.values().find(|p| &*p.name == name) {
            // Two recorded topics remapped onto one: one publisher.
            Some(p) => Arc::clone(p),
            None => Arc::new(Played {
                name: name.as_str().into(),
                publisher: node.raw_publisher(name, ty, *fingerprint, &options).await?,
                fingerprint: *fingerprint,
            }),
        };
        eprintln!(
            "playing {recorded}{} ({ty}, {fingerprint:#018x})",
            if recorded == name {
                String::new()
            } else {
                format!(" as {name}")
            }
        );
        played.insert(recorded.clone(), publisher);
    }
    tokio::time::sleep(settings.delay).await;

    let (tx, mut rx) = mpsc::channel::<Item>(256);
    let reading = {
        let path = path.clone();
        let repeat = args.repeat;
        std::thread::spawn(move || read(&path, repeat, &tx))
    };
    let mut stop = Box::pin(stopped(None));
    let mut progress = Progress::new();
    let mut tick = tokio::time::interval(PROGRESS_EVERY);
    let mut clock = Clock::new(settings.rate, settings.start, start_time);
    let mut skipped = 0u64;
    let mut failed = None;
    loop {
        let item = tokio::select! {
            () = &mut stop => break,
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
        let Some(topic) = played.get(&m.channel.topic) else {
            continue;
        };
        let Some(at) = clock.when(m.log_time) else {
            continue;
        };
        tokio::select! {
            () = &mut stop => break,
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
    drop(rx);
    progress.done(&format!("{:.1} s played: ", clock.played()));
    let damage = reading.join().ok().flatten();
    for p in played.into_values() {
        if let Ok(p) = Arc::try_unwrap(p) {
            let _ = p.publisher.close().await;
        }
    }
    node.close().await;
    if let Some(error) = failed {
        return Err(error);
    }
    if skipped > 0 {
        eprintln!("skipped {skipped} message(s) that could not be sent (see the warnings above)");
    }
    if let Some(damage) = damage {
        eprintln!("warning: {}: {damage}", path.display());
    }
    eprintln!("played {} messages", progress.messages);
    Ok(())
}

/// The checked flags.
struct Settings {
    rate: f64,
    start: u64,
    delay: Duration,
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
        if !(args.rate > 0.0 && args.rate.is_finite()) {
            return Err(invalid(
                "--rate",
                format!(
                    "must be a positive factor (1 = recorded speed), not {}",
                    args.rate
                ),
            ));
        }
        for (flag, s) in [("--start", args.start), ("--delay", args.delay)] {
            if !(s >= 0.0 && s.is_finite()) {
                return Err(invalid(
                    flag,
                    format!("must be seconds, 0 or more, not {s}"),
                ));
            }
        }
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
            start: (args.start * 1e9) as u64,
            delay: Duration::from_secs_f64(args.delay),
            remap,
        })
    }
}

/// Per recorded topic to play: the name to publish it under, its type
/// name and fingerprint.
fn plan(
    path: &Path,
    channels: &[Arc<Channel>],
    only: &[String],
    remap: &HashMap<String, String>,
) -> Result<BTreeMap<String, (String, String, u64)>, CliError> {
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
    let mut plan: BTreeMap<String, (String, String, u64)> = BTreeMap::new();
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
        plan.insert(c.topic.clone(), (name, ty, fingerprint));
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
        // A message logged before the first one read (another publisher's
        // clock) is not before the start.
        if self.skip > 0 && log_time < first.saturating_add(self.skip) {
            return None;
        }
        let (wall, at) = *self.anchor.get_or_insert((Instant::now(), log_time));
        let offset = log_time.saturating_sub(at);
        self.latest = self.latest.max(offset);
        Some(wall + Duration::from_secs_f64(offset as f64 / 1e9 / self.rate))
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
