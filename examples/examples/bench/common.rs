//! What both sides share: a job description, pacing, and the receive-side
//! recorder.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Publisher-side topic of the one-way scenarios.
pub(crate) const TOPIC: &str = "/bench";
/// Ping-pong topics.
pub(crate) const PING: &str = "/ping";
pub(crate) const PONG: &str = "/pong";
/// Messages at the start of a latency run that are not counted (both sides).
pub(crate) const WARMUP: u64 = 200;
/// Sequence / id value marking a warm-up message (raw handshake).
pub(crate) const WARM: u64 = u64::MAX;

/// A one-way job: what the publisher sends and the subscriber expects.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Job {
    /// Payload bytes per message.
    pub(crate) size: usize,
    /// Messages to send (at most).
    pub(crate) count: u64,
    /// Stop sending after this many seconds (0: no limit).
    pub(crate) secs: f64,
    /// Messages per second (`None`: as fast as possible).
    pub(crate) rate: Option<f64>,
    /// Queue depth (send and receive high-water marks), the same for both.
    pub(crate) hwm: i32,
}

impl Job {
    /// As `--key value` arguments for a peer.
    pub(crate) fn to_args(self) -> Vec<(String, String)> {
        vec![
            ("size".into(), self.size.to_string()),
            ("count".into(), self.count.to_string()),
            ("secs".into(), self.secs.to_string()),
            (
                "rate".into(),
                self.rate.map_or("0".into(), |r| r.to_string()),
            ),
            ("hwm".into(), self.hwm.to_string()),
        ]
    }

    /// From a peer's arguments.
    pub(crate) fn from_args(args: &BTreeMap<String, String>) -> Result<Job, String> {
        let get = |k: &str| {
            args.get(k)
                .ok_or_else(|| format!("missing --{k}"))
                .and_then(|v| v.parse::<f64>().map_err(|e| format!("--{k} {v}: {e}")))
        };
        let rate = get("rate")?;
        Ok(Job {
            size: get("size")? as usize,
            count: get("count")? as u64,
            secs: get("secs")?,
            rate: (rate > 0.0).then_some(rate),
            hwm: get("hwm")? as i32,
        })
    }
}

/// Wall-clock ns since the Unix epoch (CLOCK_REALTIME, shared by processes).
pub(crate) fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Calls `send(i)` for `i in 0..job.count`, at `job.rate` per second on a
/// fixed grid (a late tick is sent at once, not skipped), or flat out, for
/// at most `job.secs`. Returns how many were attempted and how many `send`
/// reported as refused.
pub(crate) fn pace(job: &Job, mut send: impl FnMut(u64) -> bool) -> (u64, u64) {
    let start = Instant::now();
    let limit = (job.secs > 0.0).then(|| Duration::from_secs_f64(job.secs));
    let mut refused = 0;
    for i in 0..job.count {
        if limit.is_some_and(|l| start.elapsed() >= l) {
            return (i, refused);
        }
        if let Some(rate) = job.rate {
            let due = start + Duration::from_secs_f64(i as f64 / rate);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
        if !send(i) {
            refused += 1;
        }
    }
    (job.count, refused)
}

/// A payload template of `size` bytes (the publisher copies it per message,
/// as a producer would fill a fresh buffer).
pub(crate) fn template(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i * 31 + 7) as u8).collect()
}

/// What the receiving side saw.
#[derive(Debug, Clone, Default)]
pub(crate) struct Recorder {
    /// One-way latencies (ns) after the warm-up.
    pub(crate) latencies_ns: Vec<u64>,
    /// Messages received.
    pub(crate) received: u64,
    /// Gaps in the sequence numbers.
    pub(crate) gaps: u64,
    /// Bytes of payload received.
    pub(crate) bytes: u64,
    keep_latency: bool,
    first: Option<Instant>,
    last: Option<Instant>,
    next_seq: u64,
}

impl Recorder {
    /// A recorder; `keep_latency` reads the clock per message.
    pub(crate) fn new(keep_latency: bool) -> Recorder {
        Recorder {
            keep_latency,
            ..Recorder::default()
        }
    }

    /// Records message `seq` sent at wall-clock `sent_ns`.
    pub(crate) fn record(&mut self, seq: u64, sent_ns: u64, len: usize) {
        if self.keep_latency && seq >= WARMUP {
            self.latencies_ns.push(now_ns().saturating_sub(sent_ns));
        }
        let now = Instant::now();
        if seq > self.next_seq {
            self.gaps += seq - self.next_seq;
        }
        self.next_seq = seq + 1;
        self.received += 1;
        self.bytes += len as u64;
        self.first.get_or_insert(now);
        self.last = Some(now);
    }

    /// Messages per second between the first and the last arrival.
    pub(crate) fn rate(&self) -> f64 {
        match (self.first, self.last) {
            (Some(a), Some(b)) if self.received > 1 && b > a => {
                (self.received - 1) as f64 / (b - a).as_secs_f64()
            }
            _ => 0.0,
        }
    }
}
