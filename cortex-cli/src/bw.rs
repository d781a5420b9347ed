//! `cortex topic bw`: the bandwidth a topic takes, from all its publishers,
//! once per window: bytes per second, message count, and the mean,
//! smallest and largest message size. A message's size is that of every
//! frame after the topic frame (header, metadata, array buffers): what
//! crosses the wire for it, give or take ZeroMQ's framing.

use std::time::{Duration, Instant};

use cortex::Result;

use super::output::outln;
use super::progress::human_bytes;
use super::publishers::{Event, Publishers};
use super::topic::Watch;

/// The sizes seen in one window.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Sizes {
    messages: u64,
    bytes: u64,
    min: u64,
    max: u64,
}

impl Sizes {
    /// One message of `bytes`.
    fn add(&mut self, bytes: u64) {
        if self.messages == 0 {
            (self.min, self.max) = (bytes, bytes);
        }
        self.messages += 1;
        self.bytes += bytes;
        self.min = self.min.min(bytes);
        self.max = self.max.max(bytes);
    }

    /// The report line for a window of `secs` on `topic` with
    /// `publishers` followed.
    fn line(&self, topic: &str, secs: f64, publishers: usize) -> String {
        let rate = if secs > 0.0 {
            self.bytes as f64 / secs
        } else {
            0.0
        };
        let plural = if publishers == 1 { "" } else { "s" };
        let mut line = format!(
            "{topic}: {}/s, {} msgs in {secs:.2} s",
            human_bytes(rate.round() as u64),
            self.messages
        );
        if self.messages > 0 {
            let mean = (self.bytes as f64 / self.messages as f64).round() as u64;
            line.push_str(&format!(
                ", size mean {} min {} max {}",
                human_bytes(mean),
                human_bytes(self.min),
                human_bytes(self.max)
            ));
        }
        line.push_str(&format!(", {publishers} publisher{plural}"));
        line
    }
}

/// Prints the bandwidth of `watch`'s topic once per `window` (`-n` times;
/// 0 = until interrupted).
pub(crate) async fn run(window: Duration, args: &Watch) -> Result<()> {
    let topic = args.name.as_str();
    let wait = Duration::from_secs(args.wait_s);
    let mut publishers =
        Publishers::follow(&args.target.client(), topic, wait, false, false).await?;
    let mut followed = 0usize;
    let mut sizes = Sizes::default();
    let mut done = 0u64;
    let mut start = Instant::now();
    loop {
        let deadline = start + window;
        if let Ok(event) = tokio::time::timeout_at(deadline.into(), publishers.next()).await {
            match event? {
                Event::Joined(from) => {
                    followed += 1;
                    eprintln!(
                        "measuring {topic} ({}) from node {} at {}",
                        from.message_type, from.publisher_node, from.address
                    );
                }
                Event::Left(from) => {
                    followed = followed.saturating_sub(1);
                    eprintln!(
                        "node {} no longer publishes {topic} (was at {})",
                        from.publisher_node, from.address
                    );
                }
                Event::Message { frames, .. } => {
                    sizes.add(frames.iter().map(|f| f.len() as u64).sum());
                }
                Event::Beacon { .. } => {}
            }
            continue;
        }
        outln!(
            "{}",
            sizes.line(topic, start.elapsed().as_secs_f64(), followed)
        )?;
        done += 1;
        if args.count != 0 && done >= args.count {
            return Ok(());
        }
        sizes = Sizes::default();
        start = Instant::now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_reports_rate_count_and_sizes() {
        let mut sizes = Sizes::default();
        for bytes in [100, 300, 200] {
            sizes.add(bytes);
        }
        assert_eq!(
            sizes.line("/x", 2.0, 1),
            "/x: 300 B/s, 3 msgs in 2.00 s, size mean 200 B min 100 B max 300 B, 1 publisher"
        );
        let mut big = Sizes::default();
        big.add(3 << 20);
        assert_eq!(
            big.line("/img", 0.5, 2),
            "/img: 6.0 MiB/s, 1 msgs in 0.50 s, size mean 3.0 MiB min 3.0 MiB max 3.0 MiB, \
             2 publishers"
        );
        assert_eq!(
            Sizes::default().line("/x", 1.0, 0),
            "/x: 0 B/s, 0 msgs in 1.00 s, 0 publishers"
        );
    }
}
