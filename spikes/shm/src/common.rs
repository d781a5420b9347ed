//! Shared pieces: timestamps, the payload template, pacing, the sample record.

use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// `seq` value of warm-up samples.
pub const WARM: u64 = u64::MAX;

/// Wall-clock nanoseconds (both processes read the same clock).
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// A payload template of `size` bytes (at least 16: seq and stamp).
pub fn template(size: usize) -> Vec<u8> {
    (0..size.max(16)).map(|i| (i % 251) as u8).collect()
}

/// Word `i` (little-endian u64) of a payload.
pub fn word(p: &[u8], i: usize) -> u64 {
    p.get(i * 8..i * 8 + 8)
        .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
}

/// Write seq and the current time into the first 16 bytes.
pub fn stamp(p: &mut [u8], seq: u64) {
    p[..8].copy_from_slice(&seq.to_le_bytes());
    p[8..16].copy_from_slice(&now_ns().to_le_bytes());
}

/// What a publisher child is asked to do.
#[derive(Debug, Clone)]
pub struct Job {
    pub size: usize,
    /// Messages per second; 0 = flat out.
    pub rate: u64,
    pub count: u64,
    /// Flat-out runs stop after this long.
    pub secs: f64,
    /// Fill directly in transport memory (loan) instead of a fresh Vec.
    pub loan: bool,
}

/// Run `send(seq)` paced at `job.rate` (or flat out for `job.secs`); returns sent count.
pub fn pace(job: &Job, mut send: impl FnMut(u64) -> bool) -> u64 {
    let start = Instant::now();
    let mut sent = 0;
    for seq in 0..job.count {
        if job.rate > 0 {
            let due = start + Duration::from_nanos(seq * 1_000_000_000 / job.rate);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        } else if start.elapsed().as_secs_f64() > job.secs {
            break;
        }
        if send(seq) {
            sent += 1;
        }
    }
    sent
}

/// The publisher child's control: "go" and "quit" lines on stdin.
pub struct Control {
    go: Arc<AtomicBool>,
    quit: Arc<AtomicBool>,
}

impl Control {
    pub fn from_stdin() -> Self {
        let go = Arc::new(AtomicBool::new(false));
        let quit = Arc::new(AtomicBool::new(false));
        let (g, q) = (go.clone(), quit.clone());
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines() {
                match line.as_deref() {
                    Ok("go") => g.store(true, Ordering::SeqCst),
                    Ok("quit") | Err(_) => break,
                    _ => {}
                }
            }
            q.store(true, Ordering::SeqCst);
        });
        Control { go, quit }
    }
    pub fn go(&self) -> bool {
        self.go.load(Ordering::SeqCst)
    }
    pub fn quit(&self) -> bool {
        self.quit.load(Ordering::SeqCst)
    }
    pub fn wait_quit(&self) {
        while !self.quit() {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// A line to the parent.
pub fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// One received sample: seq, publisher stamp, payload length.
pub type Got = (u64, u64, usize);

/// The receive side of a transport.
pub trait Receiver {
    /// The next sample, or `None` after about `timeout`.
    fn recv(&mut self, timeout: Duration) -> Result<Option<Got>, String>;
    /// Samples seen but unreadable (overwritten before they were read).
    fn lost(&self) -> u64 {
        0
    }
}

/// The publishing side of a transport.
pub trait Sender {
    /// Publish one sample numbered `seq`; false when the transport refused it.
    fn send(&mut self, seq: u64) -> Result<bool, String>;
}

/// Publisher child main loop: warm up until "go", run the job, report, wait for "quit".
pub fn run_publisher(job: &Job, mut tx: impl Sender) -> Result<(), String> {
    let control = Control::from_stdin();
    say("ready");
    while !control.go() {
        if control.quit() {
            return Ok(());
        }
        tx.send(WARM)?;
        std::thread::sleep(Duration::from_millis(2));
    }
    let mut err = None;
    let sent = pace(job, |seq| match tx.send(seq) {
        Ok(ok) => ok,
        Err(e) => {
            err.get_or_insert(e);
            false
        }
    });
    if let Some(e) = err {
        return Err(e);
    }
    say(&format!("done {sent}"));
    control.wait_quit();
    Ok(())
}
