//! Issue 13 spike: how fast can an array payload go between two processes on
//! this machine, three ways, same workloads as the project's bench?
//!
//! - `zmq`: raw libzmq, the payload as a frame over ipc (cortex's path today);
//! - `memfd`: a publisher-owned memfd pool, a 32-byte descriptor over the same
//!   ZeroMQ PUB/SUB socket (`memfd.rs`);
//! - `iceoryx2`: iceoryx2 publish-subscribe of `[u8]` + event notification.
//!
//! `copy` rows: the publisher fills a fresh `Vec` per message (as an ordinary
//! `NdArray`), the transport copies it. `loan` rows: the publisher fills
//! transport memory directly. Latency: paced, wall-clock stamp in the payload.
//! Throughput: flat out for `--secs`, bytes received / time, loss counted.
//! The subscriber reads the 16-byte stamp only (no transport touches the rest
//! on the receive side except the kernel copy of the socket paths).
//!
//! ```text
//! cargo run --release --manifest-path spikes/shm/Cargo.toml -- [--rounds N] [--secs S] [--only TEXT]
//! cargo run --release --manifest-path spikes/shm/Cargo.toml -- --fault
//! ```

mod common;
mod fault;
mod ix;
mod memfd;
mod zq;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{now_ns, Job, Receiver, WARM};

const MIB: usize = 1 << 20;
const HD: usize = 1920 * 1080 * 3;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Way {
    Zmq,
    Memfd,
    MemfdLoan,
    Ix,
    IxLoan,
}

impl Way {
    fn name(self) -> &'static str {
        match self {
            Way::Zmq => "raw libzmq",
            Way::Memfd => "memfd pool + zmq descriptor (copy)",
            Way::MemfdLoan => "memfd pool + zmq descriptor (loan)",
            Way::Ix => "iceoryx2 + event (copy)",
            Way::IxLoan => "iceoryx2 + event (loan)",
        }
    }
    fn arg(self) -> &'static str {
        match self {
            Way::Zmq => "zmq",
            Way::Memfd => "memfd",
            Way::MemfdLoan => "memfd-loan",
            Way::Ix => "ix",
            Way::IxLoan => "ix-loan",
        }
    }
    fn parse(s: &str) -> Option<Way> {
        [Way::Zmq, Way::Memfd, Way::MemfdLoan, Way::Ix, Way::IxLoan]
            .into_iter()
            .find(|w| w.arg() == s)
    }
    fn loan(self) -> bool {
        matches!(self, Way::MemfdLoan | Way::IxLoan)
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opt = |k: &str| {
        args.iter()
            .position(|a| a == k)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let result = if let Some(role) = opt("--fault-role") {
        fault::role(&role, &opt("--name").unwrap_or_default())
    } else if args.iter().any(|a| a == "--fault") {
        fault::run()
    } else if let Some(way) = opt("--role-pub") {
        publisher(&way, &opt)
    } else {
        orchestrate(&opt)
    };
    if let Err(e) = result {
        eprintln!("shm-spike: error: {e}");
        std::process::exit(1);
    }
}

fn publisher(way: &str, opt: &dyn Fn(&str) -> Option<String>) -> Result<(), String> {
    let way = Way::parse(way).ok_or("unknown way")?;
    let num = |k: &str| opt(k).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    let job = Job {
        size: num("--size") as usize,
        rate: num("--rate") as u64,
        count: num("--count") as u64,
        secs: num("--secs"),
        loan: way.loan(),
    };
    let endpoint = opt("--endpoint").ok_or("--endpoint")?;
    let ctx = zmq::Context::new();
    match way {
        Way::Zmq => common::run_publisher(&job, zq::Pub::new(&ctx, &endpoint, &job)?),
        Way::Memfd | Way::MemfdLoan => {
            common::run_publisher(&job, memfd::Pub::new(&ctx, &endpoint, &job)?)
        }
        Way::Ix | Way::IxLoan => common::run_publisher(&job, ix::Pub::new(&endpoint, &job)?),
    }
}

struct Peer {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
}

impl Peer {
    fn spawn(way: Way, job: &Job, endpoint: &str) -> Result<Peer, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut child = Command::new(exe)
            .args(["--role-pub", way.arg(), "--endpoint", endpoint])
            .args([
                "--size",
                &job.size.to_string(),
                "--rate",
                &job.rate.to_string(),
            ])
            .args([
                "--count",
                &job.count.to_string(),
                "--secs",
                &job.secs.to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?;
        let stdin = child.stdin.take().ok_or("stdin")?;
        let stdout = child.stdout.take().ok_or("stdout")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Peer {
            child,
            stdin,
            lines,
        })
    }
    fn expect(&self, prefix: &str, within: Duration) -> Result<String, String> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.starts_with(prefix) => return Ok(l),
                Ok(_) => {}
                Err(_) => return Err(format!("publisher did not say {prefix:?}")),
            }
        }
    }
    fn send(&mut self, line: &str) {
        let _ = writeln!(self.stdin, "{line}");
        let _ = self.stdin.flush();
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.send("quit");
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Default, Debug, Clone)]
struct Outcome {
    lat_us: Vec<f64>,
    received: u64,
    sent: u64,
    bytes: u64,
    secs: f64,
    lost: u64,
}

fn run_one(way: Way, job: &Job, n: usize) -> Result<Outcome, String> {
    let endpoint = match way {
        Way::Ix | Way::IxLoan => format!("cortex-shm-spike/{}/{n}", std::process::id()),
        _ => format!("ipc:///tmp/shm-spike-{}-{n}.sock", std::process::id()),
    };
    let mut peer = Peer::spawn(way, job, &endpoint)?;
    peer.expect("ready", Duration::from_secs(20))?;
    let ctx = zmq::Context::new();
    let mut rx: Box<dyn Receiver> = match way {
        Way::Zmq => Box::new(zq::Sub::new(&ctx, &endpoint)?),
        Way::Memfd | Way::MemfdLoan => Box::new(memfd::Sub::new(&ctx, &endpoint)?),
        Way::Ix | Way::IxLoan => Box::new(ix::Sub::new(&endpoint)?),
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match rx.recv(Duration::from_millis(50))? {
            Some((WARM, _, _)) => break,
            _ if Instant::now() > deadline => return Err("no warm-up sample in 10 s".into()),
            _ => {}
        }
    }
    peer.send("go");
    let mut out = Outcome::default();
    let mut first = None;
    let mut last = Instant::now();
    let mut done: Option<u64> = None;
    loop {
        match rx.recv(Duration::from_millis(20))? {
            Some((WARM, _, _)) => {}
            Some((_, stamp, len)) => {
                let now = Instant::now();
                if job.rate > 0 {
                    out.lat_us.push(now_ns().saturating_sub(stamp) as f64 / 1e3);
                }
                first.get_or_insert(now);
                last = now;
                out.received += 1;
                out.bytes += len as u64;
                if job.rate > 0 && out.received >= job.count {
                    break;
                }
            }
            None => {}
        }
        if done.is_none() {
            if let Ok(l) = peer.lines.try_recv() {
                done = l.strip_prefix("done ").and_then(|v| v.parse().ok());
            }
        }
        if done.is_some() && last.elapsed() > Duration::from_millis(300) {
            break;
        }
        if last.elapsed() > Duration::from_secs(20) {
            return Err("no sample for 20 s".into());
        }
    }
    if done.is_none() {
        done = peer
            .expect("done", Duration::from_secs(20))?
            .strip_prefix("done ")
            .and_then(|v| v.parse().ok());
    }
    out.sent = done.unwrap_or(0);
    out.secs = first.map_or(0.0, |f| last.duration_since(f).as_secs_f64());
    out.lost = rx.lost();
    let _ = std::fs::remove_file(endpoint.trim_start_matches("ipc://"));
    Ok(out)
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn median(mut v: Vec<f64>) -> f64 {
    pct(&mut v, 0.5)
}

fn size_name(s: usize) -> String {
    match s {
        HD => "1920×1080×3".into(),
        s if s >= MIB => format!("{} MiB", s / MIB),
        s => format!("{s} B"),
    }
}

fn orchestrate(opt: &dyn Fn(&str) -> Option<String>) -> Result<(), String> {
    let rounds: usize = opt("--rounds").and_then(|v| v.parse().ok()).unwrap_or(3);
    let secs: f64 = opt("--secs").and_then(|v| v.parse().ok()).unwrap_or(2.0);
    let only = opt("--only").unwrap_or_default();
    let lat_ways = [Way::Zmq, Way::Memfd, Way::Ix];
    let thr_ways = [Way::Zmq, Way::Memfd, Way::MemfdLoan, Way::Ix, Way::IxLoan];
    let mut scenarios: Vec<(String, Job, &[Way])> = Vec::new();
    for (size, rate) in [(64, 1000), (MIB, 1000), (HD, 200), (16 * MIB, 200)] {
        let count = (rate as f64 * secs) as u64;
        let job = Job {
            size,
            rate,
            count,
            secs,
            loan: false,
        };
        scenarios.push((
            format!("one-way {} @ {rate} Hz", size_name(size)),
            job,
            &lat_ways,
        ));
    }
    for size in [64, MIB, HD, 16 * MIB] {
        let job = Job {
            size,
            rate: 0,
            count: u64::MAX,
            secs,
            loan: false,
        };
        scenarios.push((format!("throughput {}", size_name(size)), job, &thr_ways));
    }
    scenarios.retain(|(name, _, _)| name.contains(&only));
    // (scenario, way) -> per-round outcomes
    let mut results: BTreeMap<(usize, Way), Vec<Outcome>> = BTreeMap::new();
    let mut n = 0;
    for round in 0..rounds {
        for (si, (name, job, ways)) in scenarios.iter().enumerate() {
            for &way in ways.iter() {
                n += 1;
                eprint!("round {}/{rounds}: {name}: {} ... ", round + 1, way.name());
                let mut job = job.clone();
                job.loan = way.loan();
                let o = run_one(way, &job, n)?;
                if job.rate > 0 {
                    let mut l = o.lat_us.clone();
                    eprintln!(
                        "p50 {:.0} µs p99 {:.0} µs ({} of {})",
                        pct(&mut l, 0.5),
                        pct(&mut l, 0.99),
                        o.received,
                        o.sent
                    );
                } else {
                    eprintln!(
                        "{:.2} GB/s, {:.0} msg/s ({} of {}, {} overwritten)",
                        o.bytes as f64 / o.secs / 1e9,
                        o.received as f64 / o.secs,
                        o.received,
                        o.sent,
                        o.lost
                    );
                }
                results.entry((si, way)).or_default().push(o);
            }
        }
    }
    println!("| scenario | transport | result (median of {rounds} rounds) | per-round range | ratio vs raw libzmq (median of per-round ratios) | received / sent |");
    println!("|---|---|---:|---|---:|---|");
    for (si, (name, job, ways)) in scenarios.iter().enumerate() {
        let base = &results[&(si, Way::Zmq)];
        for &way in ways.iter() {
            let rs = &results[&(si, way)];
            let recv: u64 = rs.iter().map(|o| o.received).sum();
            let sent: u64 = rs.iter().map(|o| o.sent).sum();
            if job.rate > 0 {
                let p = |o: &Outcome, q| pct(&mut o.lat_us.clone(), q);
                let p50: Vec<f64> = rs.iter().map(|o| p(o, 0.5)).collect();
                let p99: Vec<f64> = rs.iter().map(|o| p(o, 0.99)).collect();
                let r50: Vec<f64> = rs
                    .iter()
                    .zip(base)
                    .map(|(o, b)| p(o, 0.5) / p(b, 0.5))
                    .collect();
                let r99: Vec<f64> = rs
                    .iter()
                    .zip(base)
                    .map(|(o, b)| p(o, 0.99) / p(b, 0.99))
                    .collect();
                let range = |v: &[f64]| {
                    let lo = v.iter().cloned().fold(f64::INFINITY, f64::min);
                    let hi = v.iter().cloned().fold(0.0, f64::max);
                    format!("{lo:.0}–{hi:.0}")
                };
                println!(
                    "| {name} | {} | p50 {:.0} µs / p99 {:.0} µs | p50 {} / p99 {} | {:.2}× / {:.2}× | {recv} / {sent} |",
                    way.name(),
                    median(p50.clone()),
                    median(p99.clone()),
                    range(&p50),
                    range(&p99),
                    median(r50),
                    median(r99)
                );
            } else {
                let gbs = |o: &Outcome| o.bytes as f64 / o.secs / 1e9;
                let mps = |o: &Outcome| o.received as f64 / o.secs;
                let g: Vec<f64> = rs.iter().map(gbs).collect();
                let m: Vec<f64> = rs.iter().map(mps).collect();
                let r: Vec<f64> = rs.iter().zip(base).map(|(o, b)| gbs(o) / gbs(b)).collect();
                let lo = g.iter().cloned().fold(f64::INFINITY, f64::min);
                let hi = g.iter().cloned().fold(0.0, f64::max);
                println!(
                    "| {name} | {} | {:.2} GB/s ({:.0} msg/s) | {lo:.2}–{hi:.2} GB/s | {:.2}× | {recv} / {sent} |",
                    way.name(),
                    median(g),
                    median(m),
                    median(r)
                );
            }
        }
    }
    Ok(())
}
