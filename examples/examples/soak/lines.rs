//! What the role processes tell the orchestrator: one JSON object per line
//! on stdout (logs go to stderr), plus the process figures they measure on
//! themselves.

use std::io::Write;
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// Resident memory, open file descriptors and threads of a process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ProcStats {
    pub(crate) rss_kib: u64,
    pub(crate) fds: u64,
    pub(crate) threads: u64,
}

impl ProcStats {
    /// This process, from `/proc/self` (zeros where it cannot be read).
    pub(crate) fn current() -> ProcStats {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        // The listing itself holds one descriptor while it runs.
        let fds = std::fs::read_dir("/proc/self/fd")
            .map(|dir| dir.count().saturating_sub(1) as u64)
            .unwrap_or(0);
        ProcStats {
            rss_kib: field("VmRSS:"),
            fds,
            threads: field("Threads:"),
        }
    }

    pub(crate) fn rss_mib(&self) -> f64 {
        self.rss_kib as f64 / 1024.0
    }
}

/// A publisher's counters for one topic (`cortex::pubsub::PublisherStats`).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub(crate) struct PubTopic {
    pub(crate) published: u64,
    pub(crate) dropped: u64,
    pub(crate) overflows: u64,
    pub(crate) subscribers: u64,
}

/// What a subscriber saw of one topic: the first and last sequence it
/// received, cortex's counters (`SubscriberStats`), and the example's own
/// checks of the received sequence numbers and contents.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub(crate) struct SubTopic {
    pub(crate) first: Option<u64>,
    pub(crate) last: Option<u64>,
    /// cortex: messages delivered.
    pub(crate) received: u64,
    /// cortex: messages counted lost (sequence gaps and beacons).
    pub(crate) dropped: u64,
    /// cortex: messages that could not be decoded.
    pub(crate) decode_errors: u64,
    /// cortex: reconnections to a moved publisher.
    pub(crate) reconnects: u64,
    /// Own count: sequences skipped between consecutive received messages.
    pub(crate) gaps: u64,
    /// Own count: messages whose sequence was not above the previous one.
    pub(crate) backwards: u64,
    /// Own count: messages whose contents did not match their sequence.
    pub(crate) corrupt: u64,
    /// Milliseconds from the subscriber's start to its first message.
    pub(crate) first_ms: Option<u64>,
}

impl SubTopic {
    /// Takes one received message; `began` is when the subscriber started.
    pub(crate) fn observe(&mut self, sequence: u64, intact: bool, began: Instant) {
        match self.last {
            None => {
                self.first = Some(sequence);
                self.first_ms = Some(began.elapsed().as_millis() as u64);
            }
            Some(last) if sequence > last => self.gaps += sequence - last - 1,
            Some(_) => {
                self.backwards += 1;
                return;
            }
        }
        self.last = Some(sequence);
        if !intact {
            self.corrupt += 1;
        }
    }

    /// Sequences from the first received to the last received, inclusive.
    pub(crate) fn span(&self) -> u64 {
        match (self.first, self.last) {
            (Some(first), Some(last)) => last - first + 1,
            _ => 0,
        }
    }

    /// `span - received - dropped - decode_errors`: positive means sequences
    /// that were neither received nor counted (unexplained loss); negative
    /// means losses counted past the last received message (announced by
    /// the publisher's sequence beacons, so not checkable from the span).
    pub(crate) fn unexplained(&self) -> i64 {
        self.span() as i64 - (self.received + self.dropped + self.decode_errors) as i64
    }
}

/// One line from a role process.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Line {
    /// Set up: the daemon is bound, the publishers bound and registered,
    /// or the subscribers connected.
    Ready,
    /// Every second from the daemon.
    Daemon { proc: ProcStats },
    /// Every second from the publisher, and once more when it stops.
    Publisher {
        small: PubTopic,
        vga: PubTopic,
        proc: ProcStats,
        last: bool,
    },
    /// Every second from a subscriber, and once more when it stops.
    Subscriber {
        small: SubTopic,
        vga: SubTopic,
        proc: ProcStats,
        last: bool,
    },
}

/// Writes `line` to stdout. A closed stdout means the orchestrator is
/// gone: nobody listens, so the process ends.
pub(crate) fn say(line: &Line) {
    let text = match serde_json::to_string(line) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("soak: encoding a report: {e}");
            return;
        }
    };
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{text}").and_then(|()| out.flush()).is_err() {
        std::process::exit(3);
    }
}
