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
//!   `message_type` and `publisher_node` (the first publisher seen).
//! - **Messages**: the frames after the topic frame (header, metadata,
//!   out-of-band buffers), as `u32` LE frame count, then per frame `u32` LE
//!   length and its bytes, so a replay sends the same bytes. Log and publish
//!   time are the header's `timestamp_ns`; sequence is the header's sequence
//!   (its low 32 bits).
//!
//! Named topics are followed once they appear; with `--all`, every topic
//! registered now and later (the daemon is listed every 500 ms). Each
//! publisher of a topic is followed on its own SUB socket. Ctrl-C, SIGTERM
//! or `--duration` end the recording with an indexed file.

mod file;
mod json_schema;

use std::collections::{BTreeMap, HashSet};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::error::CliError;
use super::follow::{follow, follow_all, Incoming};
use super::topic::Target;
use file::Recording;

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
    let mut recording =
        Recording::create(&output, compression).map_err(|e| mcap_error(&output, e))?;
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
    eprintln!("recording to {}", output.display());

    let deadline = args
        .duration
        .map(|s| tokio::time::Instant::now() + Duration::from_secs_f64(s.max(0.0)));
    let mut stop = Box::pin(stopped(deadline));
    let mut progress = Progress::new();
    let mut tick = tokio::time::interval(PROGRESS_EVERY);
    let result = loop {
        tokio::select! {
            () = &mut stop => break Ok(()),
            _ = tick.tick() => progress.show(),
            incoming = rx.recv() => {
                let Some(m) = incoming else { break Ok(()) };
                match recording.write(&m.topic, &m.from, &m.frames) {
                    Ok(Some(bytes)) => progress.count(&m.topic, bytes),
                    Ok(None) => {}
                    Err(e) => break Err(mcap_error(&output, e)),
                }
            }
        }
    };
    for follower in followers {
        follower.abort();
    }
    progress.done();
    recording.finish().map_err(|e| mcap_error(&output, e))?;
    result?;
    eprintln!(
        "recorded {} messages ({} bytes) to {}",
        progress.messages,
        progress.bytes,
        output.display()
    );
    Ok(())
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

fn mcap_error(path: &std::path::Path, e: mcap::McapError) -> CliError {
    CliError::Cortex(cortex::Error::Io {
        context: format!("writing the recording {}", path.display()),
        cause: std::io::Error::other(e),
    })
}

/// Ends at `deadline`, Ctrl-C or SIGTERM.
async fn stopped(deadline: Option<tokio::time::Instant>) {
    let duration = async {
        match deadline {
            Some(deadline) => tokio::time::sleep_until(deadline).await,
            None => std::future::pending().await,
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        () = duration => {}
        () = terminate => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// The progress line: messages and bytes in total and per topic.
struct Progress {
    start: Instant,
    messages: u64,
    bytes: u64,
    topics: BTreeMap<Arc<str>, u64>,
    /// On a terminal the line is redrawn in place; otherwise one line a
    /// refresh.
    terminal: bool,
    shown: bool,
}

impl Progress {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            messages: 0,
            bytes: 0,
            topics: BTreeMap::new(),
            terminal: std::io::stderr().is_terminal(),
            shown: false,
        }
    }

    fn count(&mut self, topic: &Arc<str>, bytes: usize) {
        self.messages += 1;
        self.bytes += bytes as u64;
        *self.topics.entry(topic.clone()).or_default() += 1;
    }

    fn show(&mut self) {
        let mut line = format!(
            "{:.0} s: {} msgs, {}",
            self.start.elapsed().as_secs_f64(),
            self.messages,
            human_bytes(self.bytes)
        );
        for (topic, n) in &self.topics {
            line.push_str(&format!(" | {topic} {n}"));
        }
        let mut err = std::io::stderr().lock();
        let _ = if self.terminal {
            write!(err, "\r\x1b[2K{line}")
        } else {
            writeln!(err, "{line}")
        };
        let _ = err.flush();
        self.shown = true;
    }

    /// The last state, and the terminal line ended.
    fn done(&mut self) {
        self.show();
        if self.terminal && self.shown {
            eprintln!();
        }
    }
}

fn human_bytes(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}
