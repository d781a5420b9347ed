//! `cortex record`: live topics of any type into an MCAP file, each
//! message exactly as it came off the wire.
//!
//! # File layout
//!
//! - **Schemas**: one per message type; name = the type name (e.g.
//!   `ImageMessage`), encoding `jsonschema`, data = a JSON Schema of the
//!   type's fields for the standard messages, otherwise one giving only the
//!   name and fingerprint (`x-cortex-fingerprint`).
//! - **Channels**: one per topic and type; topic = the cortex topic,
//!   message encoding `cortex`, metadata `fingerprint` (hex),
//!   `message_type`, `publisher_node` (the first publisher seen) and, for
//!   a latched topic, `latched` (how many messages its publisher keeps).
//! - **Messages**: the frames after the topic frame (header, metadata,
//!   out-of-band buffers), as `u32` LE frame count, then per frame `u32` LE
//!   length and its bytes, so a replay sends the same bytes. Publish time
//!   is the header's `timestamp_ns`, and so is log time, except for a
//!   latched publisher's message from before the recording (below);
//!   sequence is the header's sequence (its low 32 bits).
//! - **With `--foxglove`**: per cortex channel also one on
//!   `/foxglove<topic>` holding the same messages as Foxglove shows them
//!   (see [`foxglove_view`]), with metadata `cortex_topic`, `cortex_type`
//!   and `cortex_fingerprint`.
//!
//! A latched publisher is asked for the messages it keeps, so what it
//! published before the recording started is in the file too, logged
//! when it was received (its publish time is still the header's): a
//! replay sends it at the start.
//!
//! Named topics are followed once they appear; with `--all`, every topic
//! registered now and later (the daemon is listed every 500 ms). Each
//! publisher of a topic is followed on its own SUB socket. Ctrl-C, SIGTERM
//! or `--duration` end the recording with an indexed file.

mod file;
pub(crate) mod foxglove_view;
pub(crate) mod json_schema;
pub(crate) mod layout;
pub(crate) mod reader;

use std::collections::hash_map::Entry;
use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::mpsc;

use super::error::CliError;
use super::follow::{follow, follow_all, Incoming};
use super::progress::{human_bytes, Progress};
use super::schemas::find_layout;
use super::stop::stopped;
use super::topic::Target;
use cortex::discovery::Client;
use file::{Layouts, Recording};

/// How often the progress line is refreshed.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// Arguments of `cortex record`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Topics to record, e.g. /camera/image.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    topics: Vec<String>,
    /// Record every topic, including ones registered later.
    #[arg(long)]
    all: bool,
    /// The file to write (default: cortex-<unix seconds>.mcap).
    #[arg(long, short = 'o')]
    output: Option<PathBuf>,
    /// Stop after this many seconds (default: at Ctrl-C or SIGTERM).
    #[arg(long)]
    duration: Option<f64>,
    /// Start a new file once one reaches this many megabytes (10^6
    /// bytes); the files are then <name>_0.mcap, <name>_1.mcap, ...
    #[arg(long, value_name = "MB")]
    split_size: Option<f64>,
    /// Also write each message in the form Foxglove shows (images, point
    /// clouds, poses, transforms; others as JSON), on /foxglove<topic>.
    #[arg(long)]
    foxglove: bool,
    /// Chunk compression.
    #[arg(long, value_enum, default_value_t = Compression::Zstd)]
    compression: Compression,
    #[command(flatten)]
    target: Target,
}

/// Chunk compression of the file.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Compression {
    Zstd,
    Lz4,
    None,
}

/// Records until the duration ends or the process is told to stop.
pub(crate) async fn run(args: Args) -> Result<(), CliError> {
    let output = args.output.clone().unwrap_or_else(default_output);
    let compression = match args.compression {
        Compression::Zstd => Some(mcap::Compression::Zstd),
        Compression::Lz4 => Some(mcap::Compression::Lz4),
        Compression::None => None,
    };
    let split = match args.split_size {
        None => None,
        Some(mb) if mb > 0.0 && mb.is_finite() => Some((mb * 1e6) as u64),
        Some(mb) => {
            return Err(cortex::Error::InvalidSetting {
                setting: "--split-size".into(),
                problem: format!("must be a positive number of megabytes, not {mb}"),
            }
            .into())
        }
    };
    let mut files = Files {
        output,
        split,
        compression,
        foxglove: args.foxglove,
        part: 0,
    };
    let mut recording = files.create()?;
    let client = args.target.client();
    let (tx, mut rx) = mpsc::channel::<Incoming>(1024);
    let mut followers = Vec::new();
    if args.all {
        followers.push(tokio::spawn(follow_all(
            client.clone(),
            tx.clone(),
            "recording",
        )));
    } else {
        for topic in unique(&args.topics) {
            followers.push(tokio::spawn(follow(
                client.clone(),
                topic,
                tx.clone(),
                "recording",
            )));
        }
    }
    drop(tx);

    let deadline = match args.duration {
        Some(s) => {
            Some(tokio::time::Instant::now() + crate::flags::seconds("--duration", s, false)?)
        }
        None => None,
    };
    let mut stop = Box::pin(stopped(deadline));
    let mut progress = Progress::new();
    let mut tick = tokio::time::interval(PROGRESS_EVERY);
    // Bytes written since the file's size was last looked at.
    let mut unflushed = 0u64;
    let mut size = 0u64;
    let mut layouts = Layouts::new();
    let result: Result<(), CliError> = async {
        loop {
            tokio::select! {
                () = &mut stop => break,
                _ = tick.tick() => {
                    // A finished chunk every second: a killed recorder
                    // loses at most the last second.
                    size = recording.flush().map_err(|e| files.error(e))?;
                    unflushed = 0;
                    progress.show(&format!("{:.0} s: ", progress.elapsed()));
                }
                incoming = rx.recv() => {
                    let Some(m) = incoming else { break };
                    learn_layout(&client, &m, &mut layouts).await;
                    let bytes = recording.write(&m, &layouts).map_err(|e| files.error(e))?;
                    if let Some(bytes) = bytes {
                        progress.count(&m.topic, bytes);
                        unflushed += bytes as u64;
                    }
                    if files.split.is_some_and(|limit| size + unflushed >= limit) {
                        size = recording.flush().map_err(|e| files.error(e))?;
                        unflushed = 0;
                        if files.split.is_some_and(|limit| size >= limit) {
                            recording.finish().map_err(|e| files.error(e))?;
                            recording = files.next()?;
                            size = 0;
                        }
                    }
                }
            }
        }
        for follower in &followers {
            follower.abort();
        }
        // What the followers had queued when told to stop is kept.
        while let Ok(m) = rx.try_recv() {
            learn_layout(&client, &m, &mut layouts).await;
            if let Some(bytes) = recording.write(&m, &layouts).map_err(|e| files.error(e))? {
                progress.count(&m.topic, bytes);
            }
        }
        Ok(())
    }
    .await;
    for follower in followers {
        follower.abort();
    }
    progress.done(&format!("{:.0} s: ", progress.elapsed()));
    let finished = recording.finish().map_err(|e| files.error(e));
    result?;
    finished?;
    eprintln!(
        "recorded {} messages ({}) to {}",
        progress.messages,
        human_bytes(progress.bytes),
        files.described()
    );
    Ok(())
}

/// The file(s) of a recording: one, or with `--split-size` numbered parts.
struct Files {
    output: PathBuf,
    /// Start a new part once a file reaches this many bytes.
    split: Option<u64>,
    compression: Option<mcap::Compression>,
    /// With the Foxglove channels.
    foxglove: bool,
    /// The part being written.
    part: u32,
}

impl Files {
    /// The path of the part being written: the output itself, or with
    /// `--split-size` `<stem>_<part>.mcap` beside it.
    fn path(&self) -> PathBuf {
        match self.split {
            None => self.output.clone(),
            Some(_) => {
                let stem = self
                    .output
                    .file_stem()
                    .map_or_else(|| "cortex".into(), |s| s.to_string_lossy().into_owned());
                let ext = self
                    .output
                    .extension()
                    .map_or_else(|| "mcap".into(), |e| e.to_string_lossy().into_owned());
                self.output
                    .with_file_name(format!("{stem}_{}.{ext}", self.part))
            }
        }
    }

    fn create(&self) -> Result<Recording, CliError> {
        let path = self.path();
        let recording =
            Recording::create(&path, self.compression, self.foxglove).map_err(|e| self.error(e))?;
        eprintln!("recording to {}", path.display());
        Ok(recording)
    }

    /// The next part.
    fn next(&mut self) -> Result<Recording, CliError> {
        self.part += 1;
        self.create()
    }

    /// What was written, for the last line.
    fn described(&self) -> String {
        match self.split {
            None => self.output.display().to_string(),
            Some(_) => format!(
                "{} part(s), the last {}",
                self.part + 1,
                self.path().display()
            ),
        }
    }

    fn error(&self, e: mcap::McapError) -> CliError {
        CliError::Recording {
            file: self.path(),
            problem: format!("cannot write it: {e}"),
        }
    }
}

/// Before the first message of a type: asks who knows its fields (see
/// [`find_layout`]), for its schema record.
async fn learn_layout(client: &Client, m: &Incoming, layouts: &mut Layouts) {
    let Some(Ok(header)) = m.frames.first().map(|h| cortex::Header::from_bytes(h)) else {
        return;
    };
    if let Entry::Vacant(entry) = layouts.entry(header.fingerprint) {
        entry.insert(find_layout(client, header.fingerprint).await);
    }
}

/// `cortex-<unix seconds>.mcap` in the working directory.
fn default_output() -> PathBuf {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    PathBuf::from(format!("cortex-{secs}.mcap"))
}

/// The topics in order, each once.
fn unique(topics: &[String]) -> Vec<String> {
    let mut seen = HashSet::new();
    topics.iter().filter(|t| seen.insert(*t)).cloned().collect()
}
