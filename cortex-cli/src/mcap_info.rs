//! `cortex info FILE.mcap`: what a recording holds: topics, types,
//! message counts and rates, start, end, duration, size and compression.
//! A finished file is described from its summary section (only the end
//! of the file is read); one without (its recorder was killed) is read
//! through, as far as it can be, and said to be unfinished.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use super::error::CliError;
use super::output::outln;
use super::record::reader::{self, Messages};

/// Arguments of `cortex info`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The MCAP file, e.g. one written by `cortex record`.
    file: PathBuf,
}

/// One channel's line.
struct Topic {
    topic: String,
    ty: String,
    encoding: String,
    count: u64,
}

/// What is shown.
struct Contents {
    compression: String,
    messages: u64,
    start: u64,
    end: u64,
    topics: Vec<Topic>,
    /// Set for a file without a summary: how far it could be read.
    unfinished: Option<String>,
}

/// Prints what the file holds.
pub(crate) fn run(args: Args) -> Result<(), CliError> {
    let path = &args.file;
    let size = std::fs::metadata(path)
        .map_err(|cause| CliError::Recording {
            file: path.clone(),
            problem: format!("cannot read it: {cause}"),
        })?
        .len();
    let contents = match reader::summary(path) {
        Ok(Some(summary)) => from_summary(&summary),
        // No summary, or an end that cannot be read: read it through.
        Ok(None) | Err(_) => read_through(path)?,
    };
    let duration = contents.end.saturating_sub(contents.start) as f64 / 1e9;
    outln!("file:        {}", path.display())?;
    outln!("size:        {size} bytes")?;
    if let Some(unfinished) = &contents.unfinished {
        outln!("state:       unfinished ({unfinished})")?;
    }
    outln!("compression: {}", contents.compression)?;
    outln!("messages:    {}", contents.messages)?;
    outln!("start:       {}", time(contents.start))?;
    outln!("end:         {}", time(contents.end))?;
    outln!("duration:    {duration:.3} s")?;
    outln!("topics:      {}", contents.topics.len())?;
    for t in &contents.topics {
        let rate = if duration > 0.0 {
            format!("{:.2} msg/s", t.count as f64 / duration)
        } else {
            "-".to_owned()
        };
        outln!(
            "  {}  {}  {} msgs  {rate}  ({})",
            t.topic,
            t.ty,
            t.count,
            t.encoding
        )?;
    }
    Ok(())
}

fn from_summary(summary: &mcap::Summary) -> Contents {
    let stats = summary.stats.clone().unwrap_or_default();
    let compression: BTreeSet<&str> = summary
        .chunk_indexes
        .iter()
        .map(|c| match c.compression.as_str() {
            "" => "none",
            other => other,
        })
        .collect();
    let compression = if compression.is_empty() {
        "none (no chunks)".to_owned()
    } else {
        compression.into_iter().collect::<Vec<_>>().join(", ")
    };
    let mut channels: Vec<_> = summary.channels.values().collect();
    channels.sort_by(|a, b| (&a.topic, a.id).cmp(&(&b.topic, b.id)));
    Contents {
        compression,
        messages: stats.message_count,
        start: stats.message_start_time,
        end: stats.message_end_time,
        topics: channels
            .into_iter()
            .map(|c| Topic {
                topic: c.topic.clone(),
                ty: c.schema.as_ref().map_or("-".into(), |s| s.name.clone()),
                encoding: c.message_encoding.clone(),
                count: stats
                    .channel_message_counts
                    .get(&c.id)
                    .copied()
                    .unwrap_or(0),
            })
            .collect(),
        unfinished: None,
    }
}

/// Counts every message that can be read, for a file without a summary.
fn read_through(path: &std::path::Path) -> Result<Contents, CliError> {
    let mut messages = Messages::open(path)?;
    let mut topics: BTreeMap<(String, String, String), u64> = BTreeMap::new();
    let (mut count, mut start, mut end) = (0u64, u64::MAX, 0u64);
    while let Some(m) = messages.next()? {
        count += 1;
        start = start.min(m.log_time);
        end = end.max(m.log_time);
        let c = &m.channel;
        *topics
            .entry((
                c.topic.clone(),
                c.schema_name.clone(),
                c.message_encoding.clone(),
            ))
            .or_default() += 1;
    }
    let unfinished = match messages.damage() {
        Some(damage) => format!("no summary; {damage}; the counts are what could be read"),
        None => "no summary; every message could be read".to_owned(),
    };
    Ok(Contents {
        compression: "-".to_owned(),
        messages: count,
        start: if count == 0 { 0 } else { start },
        end,
        topics: topics
            .into_iter()
            .map(|((topic, ty, encoding), count)| Topic {
                topic,
                ty,
                encoding,
                count,
            })
            .collect(),
        unfinished: Some(unfinished),
    })
}

/// Nanoseconds since the Unix epoch, as seconds.
fn time(ns: u64) -> String {
    format!("{}.{:09} (Unix s)", ns / 1_000_000_000, ns % 1_000_000_000)
}
