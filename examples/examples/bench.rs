//! cortex against raw libzmq, side by side, in one command:
//!
//! ```text
//! cargo run --release -p cortex-examples --example bench -- [--quick] [--rounds N] [--json out.json] [--markdown out.md]
//! ```
//!
//! Measures, in separate processes (this binary re-executes itself with
//! `--role ...` for the publisher/echo side), with raw and cortex runs
//! interleaved so machine drift hits both:
//! one-way latency (64 B, 4 KiB, 1 MiB at 1 kHz; 1920×1080×3 and 16 MiB at
//! 100 Hz), 64 B ping-pong, and
//! throughput from 64 B to 16 MiB with loss counted. Prints a markdown
//! table (and the machine) on stdout; progress goes to stderr.
//!
//! `--only TEXT` runs the scenarios whose name contains TEXT (e.g.
//! `--only "one-way 64 B"`, `--only throughput`). Environment knobs for
//! investigations: `BENCH_WORKERS=N` (tokio worker threads; default one per
//! core, as `#[cortex::main]`), `BENCH_DUMP=PREFIX` (write each latency
//! run's samples to `PREFIX.<side>.<bytes>`), `BENCH_ON_FULL=refuse` (cortex
//! publishers use `OnFullQueue::RefuseForAll` instead of the default
//! `SkipSlowSubscriber`; needed for `BENCH_BACKOFF=1`), `BENCH_PEER_CPUS=LIST`
//! (start the publisher/echo peers under `taskset -c LIST`; run the bench
//! itself under `taskset` for the other side).

#[path = "bench/common.rs"]
mod common;
#[path = "bench/cx.rs"]
mod cx;
#[path = "bench/proc.rs"]
mod proc;
#[path = "bench/raw.rs"]
mod raw;
#[path = "bench/report.rs"]
mod report;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use common::Job;
use proc::{Control, Done, Peer};
use report::{Imp, Latency, LatencyScenario, Report, Throughput, ThroughputScenario};

type Result<T> = std::result::Result<T, String>;

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match parse(&args) {
        Ok(opts) => match opts.get("role") {
            Some(role) => run_role(role, &opts),
            None => orchestrate(&opts),
        },
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: error: {e}");
            proc::kill_all();
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str =
    "usage: bench [--quick] [--rounds N] [--only SCENARIO-SUBSTRING] [--json FILE] [--markdown FILE]";

/// `--key value` pairs; `--quick` and `--help` are flags.
fn parse(args: &[String]) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let key = arg
            .strip_prefix("--")
            .ok_or_else(|| format!("unexpected argument {arg:?}\n{USAGE}"))?;
        match key {
            "quick" => {
                out.insert(key.to_owned(), "1".to_owned());
            }
            "help" | "h" => return Err(USAGE.into()),
            _ => {
                let value = it
                    .next()
                    .ok_or_else(|| format!("--{key} needs a value\n{USAGE}"))?;
                out.insert(key.to_owned(), value.clone());
            }
        }
    }
    Ok(out)
}

fn arg<'a>(opts: &'a BTreeMap<String, String>, key: &str) -> Result<&'a str> {
    opts.get(key)
        .map(String::as_str)
        .ok_or_else(|| format!("missing --{key}"))
}

/// The peer side.
fn run_role(role: &str, opts: &BTreeMap<String, String>) -> Result<()> {
    let control = Control::start();
    match role {
        "raw-pub" => raw::run_pub(Job::from_args(opts)?, arg(opts, "endpoint")?, &control),
        "raw-echo" => raw::run_echo(arg(opts, "ping")?, arg(opts, "pong")?, &control),
        "cortex-pub" => {
            let job = Job::from_args(opts)?;
            let (d, root) = (arg(opts, "discovery")?, Path::new(arg(opts, "root")?));
            if job.size <= cx::SMALL_MAX {
                cx::run_pub::<cx::Small>(job, d, root, &control)
            } else {
                cx::run_pub::<cx::Payload>(job, d, root, &control)
            }
        }
        "cortex-echo" => cx::run_echo(
            arg(opts, "discovery")?,
            Path::new(arg(opts, "root")?),
            &control,
        ),
        other => Err(format!("unknown role {other:?}")),
    }
}

/// Tokio worker threads of every runtime in the bench: one per core (as
/// `#[cortex::main]` does) unless `BENCH_WORKERS` says otherwise.
pub(crate) fn workers() -> usize {
    std::env::var("BENCH_WORKERS")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1)
}

/// Sizes and counts of one invocation.
struct Plan {
    rounds: usize,
    latency_samples: u64,
    pingpong: usize,
    throughput_secs: f64,
    throughput: Vec<(String, usize)>,
    /// Only scenarios whose name contains this.
    only: Option<String>,
}

impl Plan {
    fn new(quick: bool, rounds: Option<usize>, only: Option<String>) -> Plan {
        let tput = [
            ("64 B", 64),
            ("1 KiB", KIB),
            ("64 KiB", 64 * KIB),
            ("1 MiB", MIB),
            ("1920×1080×3 u8", 1920 * 1080 * 3),
            ("16 MiB", 16 * MIB),
        ];
        Plan {
            rounds: rounds.unwrap_or(if quick { 1 } else { 5 }),
            latency_samples: if quick { 1_000 } else { 5_000 },
            pingpong: if quick { 3_000 } else { 20_000 },
            throughput_secs: if quick { 0.6 } else { 2.0 },
            throughput: tput.iter().map(|(n, s)| (n.to_string(), *s)).collect(),
            only,
        }
    }

    fn wants(&self, name: &str) -> bool {
        self.only.as_ref().is_none_or(|o| name.contains(o.as_str()))
    }
}

/// The same queue depth on both sides: ZeroMQ's default 1000, lowered for
/// large payloads so at most ~256 MiB wait per queue.
fn hwm(size: usize) -> i32 {
    ((256 * MIB) / size).clamp(4, 1000) as i32
}

fn size_name(size: usize) -> String {
    match size {
        s if s >= MIB && s % MIB == 0 => format!("{} MiB", s / MIB),
        s if s >= KIB && s % KIB == 0 => format!("{} KiB", s / KIB),
        s => format!("{s} B"),
    }
}

fn orchestrate(opts: &BTreeMap<String, String>) -> Result<()> {
    let quick = opts.contains_key("quick");
    let rounds = opts
        .get("rounds")
        .map(|r| r.parse::<usize>().map_err(|e| format!("--rounds {r}: {e}")))
        .transpose()?
        .map(|r| r.max(1));
    let plan = Plan::new(quick, rounds, opts.get("only").cloned());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .worker_threads(crate::workers())
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    rt.spawn(async {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut term) = signal(SignalKind::terminate()) else {
            return;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        eprintln!("bench: interrupted; stopping peers");
        proc::kill_all();
        std::process::exit(130);
    });
    let started = Instant::now();
    let mut report = Report {
        machine: report::Machine::detect(),
        mode: if quick { "quick" } else { "default" }.into(),
        rounds: plan.rounds,
        ..Report::default()
    };
    // Large frames at 100 Hz: a 16 MiB stream at 1 kHz would be 16 GB/s.
    let latency_runs: [(usize, f64); 5] = [
        (64, 1000.0),
        (4 * KIB, 1000.0),
        (MIB, 1000.0),
        (1920 * 1080 * 3, 100.0),
        (16 * MIB, 100.0),
    ];
    let lat_names: Vec<String> = latency_runs
        .iter()
        .map(|&(s, rate)| {
            let payload = if s == 1920 * 1080 * 3 {
                "1920×1080×3 u8".to_owned()
            } else {
                size_name(s)
            };
            let rate = if rate >= 1000.0 { "1 kHz" } else { "100 Hz" };
            format!("one-way {payload} @ {rate}")
        })
        .collect();
    let pp_name = "ping-pong 64 B, one-way = RTT/2";
    let scenarios = lat_names.iter().filter(|n| plan.wants(n)).count()
        + usize::from(plan.wants(pp_name))
        + plan
            .throughput
            .iter()
            .filter(|(n, _)| plan.wants(&format!("throughput {n}")))
            .count();
    let total = plan.rounds * 2 * scenarios;
    let mut step = 0;
    let mut progress = |what: &str| {
        step += 1;
        eprintln!(
            "[{:>3}/{total}] {:>5.0} s  {what}",
            step,
            started.elapsed().as_secs_f64()
        );
    };

    for ((size, rate), name) in latency_runs.into_iter().zip(lat_names) {
        if !plan.wants(&name) {
            continue;
        }
        // As many seconds of samples at 100 Hz as at 1 kHz.
        let samples = (plan.latency_samples as f64 * rate / 1000.0) as u64;
        let job = Job {
            size,
            count: samples + common::WARMUP,
            secs: 0.0,
            rate: Some(rate),
            hwm: hwm(size),
        };
        let mut sc = LatencyScenario {
            name,
            payload: size_name(size),
            ..LatencyScenario::default()
        };
        for round in 0..plan.rounds {
            for imp in [Imp::Raw, Imp::Cortex] {
                let run = one_way(&rt, imp, job, true)?;
                let lost = run.lost();
                if let Ok(path) = std::env::var("BENCH_DUMP") {
                    let text: Vec<String> =
                        run.rec.latencies_ns.iter().map(|l| l.to_string()).collect();
                    let _ =
                        std::fs::write(format!("{path}.{}.{}", imp.name(), size), text.join("\n"));
                }
                let lat = Latency::from_ns(run.rec.latencies_ns, lost);
                progress(&format!(
                    "{} {:<6} round {}: p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs, lost {}",
                    sc.name,
                    imp.name(),
                    round + 1,
                    lat.us[0],
                    lat.us[2],
                    lat.us[4],
                    lat.lost
                ));
                match imp {
                    Imp::Raw => sc.raw.push(lat),
                    Imp::Cortex => sc.cortex.push(lat),
                }
            }
        }
        report.latency.push(sc);
    }

    let mut sc = LatencyScenario {
        name: pp_name.into(),
        payload: "64 B".into(),
        halved_rtt: true,
        ..LatencyScenario::default()
    };
    for round in 0..plan.rounds {
        if !plan.wants(pp_name) {
            break;
        }
        for imp in [Imp::Raw, Imp::Cortex] {
            let rtts = ping_pong(&rt, imp, plan.pingpong)?;
            let lat = Latency::from_ns(rtts, 0);
            progress(&format!(
                "ping-pong 64 B {:<6} round {}: RTT p50 {:.1} µs, p99 {:.1} µs",
                imp.name(),
                round + 1,
                lat.us[0],
                lat.us[2]
            ));
            match imp {
                Imp::Raw => sc.raw.push(lat),
                Imp::Cortex => sc.cortex.push(lat),
            }
        }
    }
    if plan.wants(pp_name) {
        report.latency.push(sc);
    }

    for (name, size) in &plan.throughput {
        if !plan.wants(&format!("throughput {name}")) {
            continue;
        }
        let job = Job {
            size: *size,
            count: 1_000_000_000_000,
            secs: plan.throughput_secs,
            rate: None,
            hwm: hwm(*size),
        };
        let mut sc = ThroughputScenario {
            payload: name.clone(),
            size: *size,
            ..ThroughputScenario::default()
        };
        for round in 0..plan.rounds {
            for imp in [Imp::Raw, Imp::Cortex] {
                let run = one_way(&rt, imp, job, false)?;
                let rate = run.rec.rate();
                let t = Throughput {
                    msgs_per_s: rate,
                    gb_per_s: rate * *size as f64 / 1e9,
                    attempted: run.done.attempted,
                    received: run.rec.received,
                    lost: run.lost(),
                    refused: run.done.refused,
                    gaps: run.gaps,
                };
                progress(&format!(
                    "throughput {name} {:<6} round {}: {:.0} msg/s, {:.3} GB/s, lost {} of {}",
                    imp.name(),
                    round + 1,
                    t.msgs_per_s,
                    t.gb_per_s,
                    t.lost,
                    t.attempted
                ));
                match imp {
                    Imp::Raw => sc.raw.push(t),
                    Imp::Cortex => sc.cortex.push(t),
                }
            }
        }
        report.throughput.push(sc);
    }
    report.seconds = started.elapsed().as_secs_f64();

    let markdown = report.markdown();
    println!("{markdown}");
    if let Some(path) = opts.get("markdown") {
        std::fs::write(path, &markdown).map_err(|e| format!("writing {path}: {e}"))?;
        eprintln!("bench: wrote {path}");
    }
    if let Some(path) = opts.get("json") {
        let text = serde_json::to_string_pretty(&report.json())
            .map_err(|e| format!("encoding JSON: {e}"))?;
        std::fs::write(path, text + "\n").map_err(|e| format!("writing {path}: {e}"))?;
        eprintln!("bench: wrote {path}");
    }
    Ok(())
}

/// A temp dir for one run, removed on drop (and on Ctrl-C).
struct RunDir(tempfile::TempDir);

impl RunDir {
    fn new() -> Result<RunDir> {
        let dir = tempfile::Builder::new()
            .prefix("cxbench")
            .tempdir_in("/tmp")
            .map_err(|e| format!("creating a temp dir: {e}"))?;
        proc::register_temp_dir(dir.path().to_owned());
        Ok(RunDir(dir))
    }

    fn path(&self) -> PathBuf {
        self.0.path().to_owned()
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        proc::unregister_temp_dir(self.0.path());
    }
}

/// What one one-way run produced.
struct OneWay {
    rec: common::Recorder,
    done: Done,
    /// Sequence gaps as counted by the subscriber (cortex's own counter;
    /// for raw, the bench's count from the payload's sequence numbers).
    gaps: u64,
}

impl OneWay {
    fn lost(&self) -> u64 {
        self.done.attempted.saturating_sub(self.rec.received)
    }
}

fn with_args(mut a: Vec<(String, String)>, b: Vec<(String, String)>) -> Vec<(String, String)> {
    a.extend(b);
    a
}

/// One one-way run (latency or throughput) of `imp`.
fn one_way(rt: &tokio::runtime::Runtime, imp: Imp, job: Job, latency: bool) -> Result<OneWay> {
    let dir = RunDir::new()?;
    let done_timeout = Duration::from_secs(60);
    match imp {
        Imp::Raw => {
            let endpoint = format!("ipc://{}/raw.sock", dir.path().display());
            let mut peer = Peer::spawn(
                "raw-pub",
                &with_args(job.to_args(), vec![("endpoint".into(), endpoint.clone())]),
            )?;
            let rec = raw::measure(job, &endpoint, &mut peer, latency)?;
            let done = peer.wait_done(done_timeout)?;
            peer.finish();
            let gaps = rec.gaps;
            Ok(OneWay { rec, done, gaps })
        }
        Imp::Cortex => rt.block_on(async {
            let world = cx::World::start(&dir.path()).await?;
            let mut peer = Peer::spawn("cortex-pub", &with_args(job.to_args(), world.args()))?;
            let (discovery, root) = (world.discovery.clone(), world.root.clone());
            // The subscriber runs in a spawned task, as a `#[subscribe]`
            // handler does (not on the thread blocking on the runtime).
            let task = tokio::spawn(async move {
                let w = (discovery.as_str(), root.as_path());
                let got = if job.size <= cx::SMALL_MAX {
                    cx::measure::<cx::Small>(job, w, &mut peer, latency).await
                } else {
                    cx::measure::<cx::Payload>(job, w, &mut peer, latency).await
                };
                (got, peer)
            });
            let (got, mut peer) = task.await.map_err(|e| format!("subscriber task: {e}"))?;
            let (rec, stats) = got?;
            let done = tokio::task::block_in_place(|| {
                let done = peer.wait_done(done_timeout);
                peer.finish();
                done
            })?;
            drop(world);
            Ok(OneWay {
                rec,
                done,
                gaps: stats.dropped,
            })
        }),
    }
}

/// One ping-pong run of `imp`: RTTs in ns.
fn ping_pong(rt: &tokio::runtime::Runtime, imp: Imp, n: usize) -> Result<Vec<u64>> {
    let dir = RunDir::new()?;
    let warmup = 500;
    match imp {
        Imp::Raw => {
            let ping = format!("ipc://{}/ping.sock", dir.path().display());
            let pong = format!("ipc://{}/pong.sock", dir.path().display());
            let mut peer = Peer::spawn(
                "raw-echo",
                &[("ping".into(), ping.clone()), ("pong".into(), pong.clone())],
            )?;
            let rtts = raw::ping_pong(&ping, &pong, &mut peer, n, warmup)?;
            peer.finish();
            Ok(rtts)
        }
        Imp::Cortex => rt.block_on(async {
            let world = cx::World::start(&dir.path()).await?;
            let mut peer = Peer::spawn("cortex-echo", &world.args())?;
            let (discovery, root) = (world.discovery.clone(), world.root.clone());
            let task = tokio::spawn(async move {
                let w = (discovery.as_str(), root.as_path());
                let got = cx::ping_pong(w, &mut peer, n, warmup).await;
                (got, peer)
            });
            let (got, peer) = task.await.map_err(|e| format!("ping task: {e}"))?;
            let rtts = got?;
            tokio::task::block_in_place(|| peer.finish());
            drop(world);
            Ok(rtts)
        }),
    }
}
