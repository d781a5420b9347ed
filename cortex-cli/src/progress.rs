//! The one-line progress display of the long-running commands (`record`,
//! `play`): messages and bytes in total, and each topic's count and rate
//! over the last refresh. Redrawn in place on a terminal; one plain line
//! per refresh otherwise (logs, pipes).

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Instant;

/// Counts since the start and since the last refresh.
#[derive(Debug)]
pub(crate) struct Progress {
    start: Instant,
    last: Instant,
    /// Messages in total.
    pub(crate) messages: u64,
    /// Bytes in total.
    pub(crate) bytes: u64,
    /// Per topic: messages in total, and since the last refresh.
    topics: BTreeMap<Arc<str>, (u64, u64)>,
    terminal: bool,
    shown: bool,
    /// The message count the last line showed.
    shown_messages: u64,
}

impl Progress {
    /// Counting from now.
    pub(crate) fn new() -> Self {
        let now = Instant::now();
        Self {
            start: now,
            last: now,
            messages: 0,
            bytes: 0,
            topics: BTreeMap::new(),
            terminal: std::io::stderr().is_terminal(),
            shown: false,
            shown_messages: 0,
        }
    }

    /// One message of `bytes` on `topic`.
    pub(crate) fn count(&mut self, topic: &Arc<str>, bytes: usize) {
        self.messages += 1;
        self.bytes += bytes as u64;
        let (total, recent) = self.topics.entry(topic.clone()).or_default();
        *total += 1;
        *recent += 1;
    }

    /// Shows the line, starting with `prefix` (e.g. the time played), and
    /// starts a new rate window.
    pub(crate) fn show(&mut self, prefix: &str) {
        let window = self.last.elapsed().as_secs_f64();
        self.last = Instant::now();
        let mut line = format!(
            "{prefix}{} msgs, {}",
            self.messages,
            human_bytes(self.bytes)
        );
        for (topic, (total, recent)) in &mut self.topics {
            let rate = if window > 0.0 {
                *recent as f64 / window
            } else {
                0.0
            };
            line.push_str(&format!(" | {topic} {total} ({rate:.1}/s)"));
            *recent = 0;
        }
        let mut err = std::io::stderr().lock();
        let _ = if self.terminal {
            write!(err, "\r\x1b[2K{line}")
        } else {
            writeln!(err, "{line}")
        };
        let _ = err.flush();
        self.shown = true;
        self.shown_messages = self.messages;
    }

    /// Seconds since counting started.
    pub(crate) fn elapsed(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// Shows the last state (unless the last line already did, off a
    /// terminal) and ends the terminal line.
    pub(crate) fn done(&mut self, prefix: &str) {
        if self.terminal || !self.shown || self.shown_messages != self.messages {
            self.show(prefix);
        }
        if self.terminal && self.shown {
            eprintln!();
        }
    }
}

/// `bytes` in B, KiB, MiB or GiB.
pub(crate) fn human_bytes(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_humans_say_them() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 << 20), "3.0 MiB");
        assert_eq!(human_bytes(5 << 30), "5.0 GiB");
    }
}
