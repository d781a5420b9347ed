//! `cortex info FILE.mcap`: what a recording holds, from its summary
//! section: topics, types, message counts and rates, start, end,
//! duration, size and compression.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::error::CliError;
use super::output::outln;

/// Arguments of `cortex info`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The MCAP file, e.g. one written by `cortex record`.
    file: PathBuf,
}

/// Prints the summary of the file.
pub(crate) fn run(args: Args) -> Result<(), CliError> {
    let path = &args.file;
    let data = std::fs::read(path).map_err(|cause| cortex::Error::Io {
        context: format!("reading {}", path.display()),
        cause,
    })?;
    let summary = mcap::Summary::read(&data)
        .map_err(|e| invalid(path, &e.to_string()))?
        .ok_or_else(|| {
            invalid(
                path,
                "it has no summary section (a recording that did not finish); its messages are \
                 still in the data section",
            )
        })?;
    let stats = summary.stats.clone().unwrap_or_default();
    let (start, end) = (stats.message_start_time, stats.message_end_time);
    let duration = end.saturating_sub(start) as f64 / 1e9;
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

    outln!("file:        {}", path.display())?;
    outln!("size:        {} bytes", data.len())?;
    outln!("compression: {compression}")?;
    outln!("messages:    {}", stats.message_count)?;
    outln!("start:       {}", time(start))?;
    outln!("end:         {}", time(end))?;
    outln!("duration:    {duration:.3} s")?;
    outln!("topics:      {}", summary.channels.len())?;
    let mut channels: Vec<_> = summary.channels.values().collect();
    channels.sort_by(|a, b| (&a.topic, a.id).cmp(&(&b.topic, b.id)));
    for channel in channels {
        let count = stats
            .channel_message_counts
            .get(&channel.id)
            .copied()
            .unwrap_or(0);
        let ty = channel.schema.as_ref().map_or("-", |s| s.name.as_str());
        let rate = if duration > 0.0 {
            format!("{:.2} msg/s", count as f64 / duration)
        } else {
            "-".to_owned()
        };
        outln!(
            "  {}  {ty}  {count} msgs  {rate}  ({})",
            channel.topic,
            channel.message_encoding
        )?;
    }
    Ok(())
}

/// Nanoseconds since the Unix epoch, as seconds.
fn time(ns: u64) -> String {
    format!("{}.{:09} (Unix s)", ns / 1_000_000_000, ns % 1_000_000_000)
}

fn invalid(path: &Path, problem: &str) -> CliError {
    CliError::Cortex(cortex::Error::Io {
        context: format!("reading the MCAP file {}", path.display()),
        cause: std::io::Error::new(std::io::ErrorKind::InvalidData, problem.to_owned()),
    })
}
