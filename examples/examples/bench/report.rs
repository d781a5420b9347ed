//! Figures, aggregation over rounds, JSON and markdown.

use std::fmt::Write as _;

use serde_json::{json, Value};

/// Which side of the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Imp {
    Raw,
    Cortex,
}

impl Imp {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Imp::Raw => "raw",
            Imp::Cortex => side(),
        }
    }
}

/// Whether this run measures cortex's shared-memory path (`BENCH_SHM=1`).
pub(crate) fn shm() -> bool {
    std::env::var("BENCH_SHM").is_ok_and(|v| v == "1")
}

/// Whether the cortex publisher fills loaned arrays (`BENCH_LOAN=1`).
pub(crate) fn loan() -> bool {
    std::env::var("BENCH_LOAN").is_ok_and(|v| v == "1")
}

/// The cortex side's name in reports: `cortex` (socket path),
/// `cortex-shm` (`BENCH_SHM=1`), `cortex-shm-loan` (and `BENCH_LOAN=1`).
pub(crate) fn side() -> &'static str {
    match (shm(), loan()) {
        (true, true) => "cortex-shm-loan",
        (true, false) => "cortex-shm",
        (false, true) => "cortex-loan",
        (false, false) => "cortex",
    }
}

/// Latency percentile labels, in [`Latency::us`] order.
pub(crate) const PCTS: [&str; 5] = ["p50", "p90", "p99", "p99.9", "max"];

/// One latency run's figures (µs).
#[derive(Debug, Clone, Default)]
pub(crate) struct Latency {
    pub(crate) us: [f64; 5],
    pub(crate) samples: usize,
    pub(crate) lost: u64,
}

impl Latency {
    /// From raw samples in ns.
    pub(crate) fn from_ns(mut ns: Vec<u64>, lost: u64) -> Latency {
        ns.sort_unstable();
        let q = |q: f64| -> f64 {
            if ns.is_empty() {
                return f64::NAN;
            }
            // Nearest rank.
            let rank = ((q * ns.len() as f64).ceil() as usize).clamp(1, ns.len());
            ns[rank - 1] as f64 / 1e3
        };
        Latency {
            us: [q(0.5), q(0.9), q(0.99), q(0.999), q(1.0)],
            samples: ns.len(),
            lost,
        }
    }

    fn json(&self) -> Value {
        json!({
            "p50_us": self.us[0], "p90_us": self.us[1], "p99_us": self.us[2],
            "p999_us": self.us[3], "max_us": self.us[4],
            "samples": self.samples, "lost": self.lost,
        })
    }
}

/// One throughput run's figures.
#[derive(Debug, Clone, Default)]
pub(crate) struct Throughput {
    pub(crate) msgs_per_s: f64,
    pub(crate) gb_per_s: f64,
    pub(crate) attempted: u64,
    pub(crate) received: u64,
    /// attempted − received.
    pub(crate) lost: u64,
    /// Refused by the publisher (cortex only; raw PUB drops silently).
    pub(crate) refused: u64,
    /// Sequence gaps seen by the subscriber.
    pub(crate) gaps: u64,
}

impl Throughput {
    fn json(&self) -> Value {
        json!({
            "msgs_per_s": self.msgs_per_s, "gb_per_s": self.gb_per_s,
            "attempted": self.attempted, "received": self.received, "lost": self.lost,
            "publisher_refused": self.refused, "sequence_gaps": self.gaps,
        })
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn median_u(v: impl Iterator<Item = u64>) -> u64 {
    median(v.map(|x| x as f64).collect()).round() as u64
}

/// A latency scenario: runs of both sides.
#[derive(Debug, Clone, Default)]
pub(crate) struct LatencyScenario {
    pub(crate) name: String,
    pub(crate) payload: String,
    /// One-way figures are RTT/2 (ping-pong).
    pub(crate) halved_rtt: bool,
    pub(crate) raw: Vec<Latency>,
    pub(crate) cortex: Vec<Latency>,
}

impl LatencyScenario {
    /// Median over rounds of each figure.
    pub(crate) fn summary(runs: &[Latency]) -> Latency {
        let mut us = [0.0; 5];
        for (i, u) in us.iter_mut().enumerate() {
            *u = median(runs.iter().map(|r| r.us[i]).collect());
        }
        Latency {
            us,
            samples: median_u(runs.iter().map(|r| r.samples as u64)) as usize,
            lost: runs.iter().map(|r| r.lost).sum(),
        }
    }

    fn halve(l: &Latency) -> Latency {
        let mut h = l.clone();
        h.us.iter_mut().for_each(|u| *u /= 2.0);
        h
    }
}

/// A throughput scenario.
#[derive(Debug, Clone, Default)]
pub(crate) struct ThroughputScenario {
    pub(crate) payload: String,
    pub(crate) size: usize,
    pub(crate) raw: Vec<Throughput>,
    pub(crate) cortex: Vec<Throughput>,
}

impl ThroughputScenario {
    /// Medians over rounds (loss: summed).
    pub(crate) fn summary(runs: &[Throughput]) -> Throughput {
        Throughput {
            msgs_per_s: median(runs.iter().map(|r| r.msgs_per_s).collect()),
            gb_per_s: median(runs.iter().map(|r| r.gb_per_s).collect()),
            attempted: runs.iter().map(|r| r.attempted).sum(),
            received: runs.iter().map(|r| r.received).sum(),
            lost: runs.iter().map(|r| r.lost).sum(),
            refused: runs.iter().map(|r| r.refused).sum(),
            gaps: runs.iter().map(|r| r.gaps).sum(),
        }
    }
}

/// The machine and build, for the record.
#[derive(Debug, Clone, Default)]
pub(crate) struct Machine {
    pub(crate) nproc: usize,
    pub(crate) cpu: String,
    pub(crate) kernel: String,
    pub(crate) rustc: String,
    pub(crate) libzmq: String,
    pub(crate) date: String,
}

impl Machine {
    pub(crate) fn detect() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| {
                l.strip_prefix("model name")
                    .map(|r| r.trim_start_matches([' ', '\t', ':']))
            })
            .unwrap_or("unknown")
            .trim()
            .to_owned();
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|_| "unknown".into());
        let run = |cmd: &str, args: &[&str]| {
            std::process::Command::new(cmd)
                .args(args)
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
                .unwrap_or_else(|| "unknown".into())
        };
        let (a, b, c) = zmq::version();
        Machine {
            nproc: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu,
            kernel: format!("Linux {kernel}"),
            rustc: run("rustc", &["--version"]),
            libzmq: format!("{a}.{b}.{c} (vendored by zmq-sys)"),
            date: run("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        }
    }
}

/// Everything one bench invocation measured.
#[derive(Debug, Clone, Default)]
pub(crate) struct Report {
    pub(crate) machine: Machine,
    pub(crate) mode: String,
    pub(crate) rounds: usize,
    pub(crate) latency: Vec<LatencyScenario>,
    pub(crate) throughput: Vec<ThroughputScenario>,
    pub(crate) seconds: f64,
}

fn ratio(c: f64, r: f64) -> f64 {
    if r > 0.0 && r.is_finite() && c.is_finite() {
        c / r
    } else {
        f64::NAN
    }
}

/// A target and how it fared.
#[derive(Debug, Clone)]
pub(crate) struct Verdict {
    pub(crate) what: String,
    pub(crate) ratio: f64,
    pub(crate) limit: f64,
    /// Whether lower ratios are better.
    pub(crate) lower_is_better: bool,
    /// Lowest and highest per-round ratio (round i of cortex over round i
    /// of raw): how much the machine moved the figure.
    pub(crate) spread: (f64, f64),
}

/// Lowest and highest of `c[i] / r[i]` over rounds.
fn spread(c: &[f64], r: &[f64]) -> (f64, f64) {
    let ratios: Vec<f64> = c
        .iter()
        .zip(r)
        .map(|(c, r)| ratio(*c, *r))
        .filter(|x| x.is_finite())
        .collect();
    if ratios.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let lo = ratios.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (lo, hi)
}

impl Verdict {
    pub(crate) fn met(&self) -> bool {
        if self.lower_is_better {
            self.ratio <= self.limit
        } else {
            self.ratio >= self.limit
        }
    }
}

impl Report {
    /// Issue 6's targets, checked against the medians.
    pub(crate) fn verdicts(&self) -> Vec<Verdict> {
        let mut out = Vec::new();
        // Ping-pong counts too: its ratios are the same halved or not.
        for s in &self.latency {
            let (r, c) = (
                LatencyScenario::summary(&s.raw),
                LatencyScenario::summary(&s.cortex),
            );
            for (i, limit) in [(0, 1.25), (2, 1.5)] {
                let per_round = |runs: &[Latency]| runs.iter().map(|l| l.us[i]).collect::<Vec<_>>();
                out.push(Verdict {
                    what: format!("{} {}", s.name, PCTS[i]),
                    ratio: ratio(c.us[i], r.us[i]),
                    limit,
                    lower_is_better: true,
                    spread: spread(&per_round(&s.cortex), &per_round(&s.raw)),
                });
            }
        }
        for s in &self.throughput {
            let (r, c) = (
                ThroughputScenario::summary(&s.raw),
                ThroughputScenario::summary(&s.cortex),
            );
            let limit = if s.size == 64 {
                0.6
            } else if s.size >= 1 << 20 {
                0.9
            } else {
                continue;
            };
            let per_round =
                |runs: &[Throughput]| runs.iter().map(|t| t.gb_per_s).collect::<Vec<_>>();
            out.push(Verdict {
                what: format!("throughput {}", s.payload),
                ratio: ratio(c.gb_per_s, r.gb_per_s),
                limit,
                lower_is_better: false,
                spread: spread(&per_round(&s.cortex), &per_round(&s.raw)),
            });
        }
        out
    }

    pub(crate) fn json(&self) -> Value {
        let m = &self.machine;
        let lat: Vec<Value> = self
            .latency
            .iter()
            .map(|s| {
                let (mut r, mut c) = (
                    LatencyScenario::summary(&s.raw),
                    LatencyScenario::summary(&s.cortex),
                );
                if s.halved_rtt {
                    r = LatencyScenario::halve(&r);
                    c = LatencyScenario::halve(&c);
                }
                let ratios: serde_json::Map<String, Value> = PCTS
                    .iter()
                    .enumerate()
                    .map(|(i, p)| (p.to_string(), json!(ratio(c.us[i], r.us[i]))))
                    .collect();
                json!({
                    "scenario": s.name,
                    "payload": s.payload,
                    "figures_are": if s.halved_rtt { "one-way = RTT/2" } else { "one-way, publish to receive" },
                    "raw": r.json(), "cortex": c.json(), "ratio_cortex_over_raw": ratios,
                    "runs": {
                        "raw": s.raw.iter().map(Latency::json).collect::<Vec<_>>(),
                        "cortex": s.cortex.iter().map(Latency::json).collect::<Vec<_>>(),
                    },
                })
            })
            .collect();
        let tput: Vec<Value> = self
            .throughput
            .iter()
            .map(|s| {
                let (r, c) = (
                    ThroughputScenario::summary(&s.raw),
                    ThroughputScenario::summary(&s.cortex),
                );
                json!({
                    "payload": s.payload, "bytes": s.size,
                    "raw": r.json(), "cortex": c.json(),
                    "ratio_cortex_over_raw": {
                        "msgs_per_s": ratio(c.msgs_per_s, r.msgs_per_s),
                        "gb_per_s": ratio(c.gb_per_s, r.gb_per_s),
                    },
                    "runs": {
                        "raw": s.raw.iter().map(Throughput::json).collect::<Vec<_>>(),
                        "cortex": s.cortex.iter().map(Throughput::json).collect::<Vec<_>>(),
                    },
                })
            })
            .collect();
        let targets: Vec<Value> = self
            .verdicts()
            .iter()
            .map(|v| {
                json!({
                    "target": v.what, "ratio": v.ratio,
                    "limit": format!("{} {}", if v.lower_is_better { "<=" } else { ">=" }, v.limit),
                    "met": v.met(),
                    "per_round_ratio_min": v.spread.0, "per_round_ratio_max": v.spread.1,
                })
            })
            .collect();
        json!({
            "machine": {
                "nproc": m.nproc, "cpu": m.cpu, "kernel": m.kernel, "rustc": m.rustc,
                "libzmq": m.libzmq, "date": m.date,
            },
            "mode": self.mode,
            "rounds": self.rounds,
            "aggregation": "each figure is the median over rounds of the per-run figure; loss counts are summed over rounds",
            "latency": lat,
            "throughput": tput,
            "targets": targets,
            "seconds": self.seconds,
        })
    }

    pub(crate) fn markdown(&self) -> String {
        let m = &self.machine;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "## cortex vs raw libzmq ({} run, {} round(s) per side, interleaved)\n",
            self.mode, self.rounds
        );
        let _ = writeln!(
            s,
            "Machine: {} vCPU (`nproc`), {}, {}; {}; libzmq {}; {}.\n",
            m.nproc, m.cpu, m.kernel, m.rustc, m.libzmq, m.date
        );
        let _ = writeln!(s, "### Latency (µs)\n");
        let _ = writeln!(
            s,
            "| scenario | side | p50 | p90 | p99 | p99.9 | max | samples | lost |"
        );
        let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|---:|---:|");
        for sc in &self.latency {
            let (mut r, mut c) = (
                LatencyScenario::summary(&sc.raw),
                LatencyScenario::summary(&sc.cortex),
            );
            if sc.halved_rtt {
                r = LatencyScenario::halve(&r);
                c = LatencyScenario::halve(&c);
            }
            for (side, l) in [("raw", &r), (side(), &c)] {
                let _ = writeln!(
                    s,
                    "| {} | {side} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {} | {} |",
                    sc.name, l.us[0], l.us[1], l.us[2], l.us[3], l.us[4], l.samples, l.lost
                );
            }
            let rs: Vec<String> = (0..5)
                .map(|i| format!("{:.2}×", ratio(c.us[i], r.us[i])))
                .collect();
            let _ = writeln!(
                s,
                "| {} | **{}/raw** | {} | | |",
                sc.name,
                side(),
                rs.join(" | ")
            );
        }
        let _ = writeln!(s, "\n### Throughput (publisher flat out, one subscriber)\n");
        let _ = writeln!(
            s,
            "| payload | side | msg/s | GB/s | sent | received | lost | refused by publisher |"
        );
        let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|---:|");
        for sc in &self.throughput {
            let (r, c) = (
                ThroughputScenario::summary(&sc.raw),
                ThroughputScenario::summary(&sc.cortex),
            );
            for (side, t) in [("raw", &r), (side(), &c)] {
                let pct = if t.attempted > 0 {
                    100.0 * t.lost as f64 / t.attempted as f64
                } else {
                    0.0
                };
                let refused = if side == "raw" {
                    "n/a".to_owned()
                } else {
                    t.refused.to_string()
                };
                let _ = writeln!(
                    s,
                    "| {} | {side} | {} | {:.3} | {} | {} | {} ({pct:.1} %) | {refused} |",
                    sc.payload,
                    fmt_rate(t.msgs_per_s),
                    t.gb_per_s,
                    t.attempted,
                    t.received,
                    t.lost
                );
            }
            let _ = writeln!(
                s,
                "| {} | **{}/raw** | {:.2}× | {:.2}× | | | | |",
                sc.payload,
                side(),
                ratio(c.msgs_per_s, r.msgs_per_s),
                ratio(c.gb_per_s, r.gb_per_s)
            );
        }
        let _ = writeln!(s, "\n### Targets\n");
        let _ = writeln!(
            s,
            "| target | {}/raw (medians) | per-round range | limit | |",
            side()
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---|");
        for v in self.verdicts() {
            let _ = writeln!(
                s,
                "| {} | {:.2}× | {:.2}–{:.2}× | {} {}× | {} |",
                v.what,
                v.ratio,
                v.spread.0,
                v.spread.1,
                if v.lower_is_better { "≤" } else { "≥" },
                v.limit,
                if v.met() { "met" } else { "**missed**" }
            );
        }
        let _ = writeln!(s, "\n### Method\n");
        for line in METHOD {
            let _ = writeln!(s, "- {line}");
        }
        let _ = writeln!(s, "\nTotal bench time: {:.0} s.", self.seconds);
        s
    }
}

const METHOD: &[&str] = &[
    "Publisher (or echo) and subscriber run in separate processes on this host, over ipc in a fresh temp dir. Runs alternate raw, cortex, raw, cortex, …; each figure is the median over rounds of that run's figure; loss is summed over rounds.",
    "raw: plain libzmq PUB/SUB via the `zmq` crate in its natural form — a topic frame plus one payload frame (`zmq::Message::from(Vec<u8>)` / blocking `recv_msg`); the payload's first 16 bytes carry a sequence number and the wall-clock send time. The start is a warm-up handshake (the publisher sends warm-up messages until the subscriber has seen one).",
    "cortex: `#[derive(Message)]` types through `Node::publisher` / `Node::subscriber` (tokio, private discovery daemon): 64 B as `struct Small { data: Vec<u8> }` (3 frames: topic, 24 B header, metadata), larger as `struct Payload { data: NdArray<u8> }` (4 frames; the array is sent and received without copying). The start waits for `wait_for_subscribers(1)`. cortex sends its own header (timestamp, sequence) and metadata in addition to the payload, so it moves more bytes per message than raw.",
    "Both publishers copy a template into a fresh buffer per message (as a producer fills a new frame), and both use the same queue depth (high-water marks): 1000, lowered for large payloads to keep at most ~256 MiB queued per side (cortex's per-queue byte budget is set to 256 MiB for the bench, so it allows the same depth). cortex publishers use the default policy, `SkipSlowSubscriber` (like raw PUB, a full queue skips that subscriber).",
    "One-way latency: wall clock (CLOCK_REALTIME) at publish vs at receive, paced on a fixed 1 kHz grid, first 200 messages discarded. Ping-pong: monotonic RTT measured in one process, back to back; one-way = RTT/2.",
    "Throughput: the publisher sends as fast as it can for 2 s (0.6 s with --quick); msg/s = (received − 1) / (last − first arrival); GB/s counts payload bytes only. Loss = sent − received (raw PUB and cortex's default policy drop at a full queue; with BENCH_ON_FULL=refuse cortex publishers also count the messages they refused).",
];

fn fmt_rate(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2} M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1} k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}
