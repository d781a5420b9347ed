//! The verdict: figures per topic, where losses were counted, the
//! publisher's memory and descriptors, and the checks that pass or fail.

use std::fmt::Write as _;

use serde::Serialize;

use super::ledger::{DaemonRun, Ledger, PubSample, Stop, SubRun};
use super::lines::{PubTopic, SubTopic};
use super::msgs::{SMALL, VGA};

/// Publisher RSS may end at most this far above its RSS after warm-up:
/// the larger of [`RSS_TOLERANCE_MIB`] and [`RSS_TOLERANCE_SHARE`] of the
/// warm-up RSS.
///
/// 16 MiB is ~17 VGA frames, half a second of the VGA stream: room for
/// frames legitimately queued for a subscriber that is briefly descheduled
/// at the moment of the sample (the queue may hold up to 64 MiB), and for
/// what the allocator keeps after such a backlog. A leak the soak must
/// catch exceeds it within 10 minutes: 28 bytes per small message (600,000
/// of them), 1 KiB per VGA frame (18,000), 0.8 MiB per subscriber restart
/// (20) or 4 MiB per daemon restart (4). The summary also prints the RSS
/// trend after warm-up (a least-squares slope), which shows slower growth
/// well below the limit.
pub(crate) const RSS_TOLERANCE_MIB: f64 = 16.0;
/// For a publisher configured with much larger queues.
pub(crate) const RSS_TOLERANCE_SHARE: f64 = 0.2;

/// Publisher fds may end at most this many above the start (a connection
/// being set up or torn down at the moment of the sample).
pub(crate) const FD_SLACK: u64 = 8;

/// Losses within this many seconds after a daemon restart are put down to it.
const DAEMON_WINDOW: f64 = 10.0;
/// Losses within this many seconds after a subscriber started are put down
/// to its start.
const START_WINDOW: f64 = 3.0;

/// What the orchestrator knows besides the ledger.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RunInfo {
    pub(crate) mode: String,
    pub(crate) planned_s: f64,
    /// Soak time: from all three processes running to the start of shutdown.
    pub(crate) start_at: f64,
    pub(crate) end_at: f64,
    pub(crate) warmup_s: f64,
    pub(crate) cores: usize,
    pub(crate) load_start: String,
    pub(crate) load_end: String,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct TopicSummary {
    pub(crate) topic: &'static str,
    pub(crate) published: u64,
    pub(crate) per_second: f64,
    pub(crate) publisher_dropped: u64,
    pub(crate) publisher_overflows: u64,
    pub(crate) received: u64,
    /// Counted lost by the subscribers (cortex's `dropped`).
    pub(crate) counted_lost: u64,
    /// Missing within a subscriber's span and not counted: must be 0.
    pub(crate) unexplained: u64,
    /// Counted lost past a subscriber's last received message (beacons).
    pub(crate) counted_past_last: u64,
    /// Published while no subscriber was connected (before a subscriber's
    /// first message or after its last): not loss.
    pub(crate) not_subscribed: i64,
    pub(crate) decode_errors: u64,
    pub(crate) corrupt: u64,
    pub(crate) backwards: u64,
    pub(crate) reconnects: u64,
}

/// Counted losses put down to one cause.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct LossSite {
    pub(crate) topic: &'static str,
    pub(crate) count: u64,
    pub(crate) at: f64,
    pub(crate) subscriber: u32,
    pub(crate) near: String,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Memory {
    pub(crate) start: PubSample,
    pub(crate) warm: PubSample,
    pub(crate) end: PubSample,
    pub(crate) max_rss_mib: f64,
    pub(crate) max_fds: u64,
    pub(crate) rss_limit_mib: f64,
    pub(crate) fd_limit: u64,
    /// Least-squares RSS slope after warm-up, MiB per minute.
    pub(crate) rss_slope_mib_per_min: f64,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Summary {
    pub(crate) passed: bool,
    pub(crate) failures: Vec<String>,
    pub(crate) notes: Vec<String>,
    pub(crate) run: RunInfo,
    pub(crate) duration_s: f64,
    pub(crate) topics: Vec<TopicSummary>,
    pub(crate) subscriber_restarts: usize,
    pub(crate) daemon_restarts: Vec<(u32, f64, Stop)>,
    pub(crate) losses: Vec<LossSite>,
    pub(crate) memory: Option<Memory>,
    pub(crate) subscribers: Vec<SubRun>,
    pub(crate) daemons: Vec<DaemonRun>,
}

impl Summary {
    pub(crate) fn new(ledger: &Ledger, run: RunInfo) -> Summary {
        let duration_s = run.end_at - run.start_at;
        let daemon_restarts: Vec<_> = ledger
            .daemon_restarts()
            .into_iter()
            .filter(|&(_, at, _)| at < run.end_at)
            .collect();
        let mut s = Summary {
            passed: false,
            failures: Vec::new(),
            notes: Vec::new(),
            duration_s,
            topics: Vec::new(),
            subscriber_restarts: ledger.subscribers.len().saturating_sub(1),
            losses: loss_sites(ledger, &daemon_restarts),
            daemon_restarts,
            memory: memory(ledger, &run),
            subscribers: ledger.subscribers.clone(),
            daemons: ledger.daemons.clone(),
            run,
        };
        let last = ledger
            .publisher_final
            .or_else(|| ledger.publisher.last().copied());
        for topic in [SMALL, VGA] {
            let published = last.map(|p| if topic == SMALL { p.small } else { p.vga });
            s.topics.push(topic_summary(
                ledger,
                topic,
                published.unwrap_or_default(),
                duration_s,
            ));
        }
        if last.is_none() {
            s.failures.push("the publisher never reported".into());
        }
        s.judge();
        s
    }

    /// Fills `failures` and `notes`, and `passed`.
    fn judge(&mut self) {
        for t in &self.topics {
            let name = t.topic;
            if t.unexplained > 0 {
                self.failures.push(format!(
                    "{name}: {} message(s) missing between a subscriber's first and last message were not counted lost",
                    t.unexplained
                ));
            }
            let integrity = t.decode_errors + t.corrupt + t.backwards;
            if integrity > 0 {
                self.failures.push(format!(
                    "{name}: {} decode error(s), {} message(s) with contents not matching their sequence, {} out of order or repeated",
                    t.decode_errors, t.corrupt, t.backwards
                ));
            }
            if t.counted_lost > 0 && t.publisher_overflows == 0 && t.publisher_dropped == 0 {
                self.notes.push(format!(
                    "{name}: subscribers counted {} lost, but the publisher counted no overflow \
                     (with SkipSlowSubscriber, messages are dropped only at a full publisher queue)",
                    t.counted_lost
                ));
            }
            if t.counted_past_last > 0 {
                self.notes.push(format!(
                    "{name}: {} loss(es) counted after a subscriber's last message (from the publisher's sequence beacons)",
                    t.counted_past_last
                ));
            }
        }
        for run in &self.subscribers {
            let silent: Vec<&str> = [(SMALL, run.small), (VGA, run.vga)]
                .iter()
                .filter(|(_, t)| t.is_none_or(|t| t.received == 0))
                .map(|(name, _)| *name)
                .collect();
            if !silent.is_empty() {
                self.failures.push(format!(
                    "subscriber #{} received nothing on {}",
                    run.n,
                    silent.join(", ")
                ));
            }
            if run.stop == Some(Stop::Term) && !run.final_report {
                self.notes.push(format!(
                    "subscriber #{} sent no final report; its last one-second report was used",
                    run.n
                ));
            }
        }
        self.judge_exits();
        match self.memory {
            Some(m) => self.judge_memory(m),
            None => self
                .failures
                .push("too few publisher reports to judge RSS and fds".into()),
        }
        self.passed = self.failures.is_empty();
    }

    /// Processes stopped with SIGTERM must exit by themselves, cleanly.
    fn judge_exits(&mut self) {
        let subs = self
            .subscribers
            .iter()
            .map(|r| ("subscriber", r.n, r.stop, &r.exit));
        let daemons = self
            .daemons
            .iter()
            .map(|r| ("daemon", r.n, r.stop, &r.exit));
        let unclean: Vec<String> = subs
            .chain(daemons)
            .filter_map(|(role, n, stop, exit)| match (stop, exit.as_deref()) {
                (Some(Stop::Kill), _) | (None, _) => None,
                (Some(Stop::Term), Some("exit status: 0")) => None,
                (Some(stop), exit) => Some(format!(
                    "{role} #{n} ({}: {})",
                    stop.describe(),
                    exit.unwrap_or("?")
                )),
            })
            .collect();
        if !unclean.is_empty() {
            self.failures.push(format!(
                "not stopped cleanly by SIGTERM: {}",
                unclean.join("; ")
            ));
        }
    }

    fn judge_memory(&mut self, m: Memory) {
        if m.end.proc.rss_mib() > m.rss_limit_mib {
            self.failures.push(format!(
                "publisher RSS grew from {:.1} MiB after warm-up to {:.1} MiB at the end (limit {:.1} MiB)",
                m.warm.proc.rss_mib(),
                m.end.proc.rss_mib(),
                m.rss_limit_mib
            ));
        }
        if m.end.proc.fds > m.fd_limit {
            self.failures.push(format!(
                "publisher fds grew from {} to {} (limit {})",
                m.start.proc.fds, m.end.proc.fds, m.fd_limit
            ));
        }
    }

    /// The report, for stdout.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        let _ = self.write(&mut out);
        out
    }

    fn write(&self, o: &mut String) -> std::fmt::Result {
        let r = &self.run;
        writeln!(
            o,
            "\n== cortex soak: {} ==",
            if self.passed { "PASS" } else { "FAIL" }
        )?;
        writeln!(
            o,
            "mode {}, {:.1} s soaked (planned {:.0} s); {} cores; load average at start {} / at end {}",
            r.mode, self.duration_s, r.planned_s, r.cores, r.load_start, r.load_end
        )?;
        self.write_topics(o)?;
        self.write_restarts(o)?;
        self.write_losses(o)?;
        self.write_memory(o)?;
        self.write_subscribers(o)?;
        for note in &self.notes {
            writeln!(o, "note: {note}")?;
        }
        for failure in &self.failures {
            writeln!(o, "FAILED: {failure}")?;
        }
        if self.passed {
            writeln!(o, "PASS: no unexplained loss, publisher RSS and fds flat")?;
        }
        Ok(())
    }

    fn write_topics(&self, o: &mut String) -> std::fmt::Result {
        writeln!(
            o,
            "\n{:<12} {:>10} {:>8} {:>10} {:>8} {:>12} {:>12} {:>10} {:>13}",
            "topic",
            "published",
            "per s",
            "received",
            "counted",
            "unexplained",
            "pub dropped",
            "overflows",
            "unsubscribed"
        )?;
        writeln!(
            o,
            "{:<12} {:>10} {:>8} {:>10} {:>8} {:>12} {:>12} {:>10} {:>13}",
            "", "", "", "", "lost", "", "", "", "(not loss)"
        )?;
        for t in &self.topics {
            writeln!(
                o,
                "{:<12} {:>10} {:>8.1} {:>10} {:>8} {:>12} {:>12} {:>10} {:>13}",
                t.topic,
                t.published,
                t.per_second,
                t.received,
                t.counted_lost,
                t.unexplained,
                t.publisher_dropped,
                t.publisher_overflows,
                t.not_subscribed
            )?;
        }
        let (dec, bad, back, rec) = self.topics.iter().fold((0, 0, 0, 0), |a, t| {
            (
                a.0 + t.decode_errors,
                a.1 + t.corrupt,
                a.2 + t.backwards,
                a.3 + t.reconnects,
            )
        });
        writeln!(
            o,
            "integrity: {dec} decode errors, {bad} corrupt, {back} out of order/repeated; {rec} subscriber reconnects"
        )
    }

    fn write_restarts(&self, o: &mut String) -> std::fmt::Result {
        let killed = self
            .subscribers
            .iter()
            .filter(|r| r.stop == Some(Stop::TermThenKill))
            .count();
        writeln!(
            o,
            "\nrestarts: subscriber {} (SIGTERM; {killed} needed SIGKILL), daemon {}:",
            self.subscriber_restarts,
            self.daemon_restarts.len()
        )?;
        for (n, at, stop) in &self.daemon_restarts {
            writeln!(
                o,
                "  daemon #{n} stopped at {:>6.1} s by {}",
                at - self.run.start_at,
                stop.describe()
            )?;
        }
        Ok(())
    }

    fn write_losses(&self, o: &mut String) -> std::fmt::Result {
        if self.losses.is_empty() {
            return writeln!(o, "counted losses: none");
        }
        writeln!(o, "counted losses (by the report that showed them):")?;
        for l in &self.losses {
            writeln!(
                o,
                "  {:>6.1} s  {:<12} {:>6} lost at subscriber #{}  ({})",
                l.at - self.run.start_at,
                l.topic,
                l.count,
                l.subscriber,
                l.near
            )?;
        }
        Ok(())
    }

    fn write_memory(&self, o: &mut String) -> std::fmt::Result {
        let Some(m) = self.memory else {
            return Ok(());
        };
        let t = |p: &PubSample| p.at - self.run.start_at;
        writeln!(
            o,
            "\npublisher RSS: start {:.1} MiB ({:.0} s), after warm-up {:.1} MiB ({:.0} s), end {:.1} MiB ({:.0} s), max {:.1} MiB; limit {:.1} MiB; trend after warm-up {:+.3} MiB/min",
            m.start.proc.rss_mib(),
            t(&m.start),
            m.warm.proc.rss_mib(),
            t(&m.warm),
            m.end.proc.rss_mib(),
            t(&m.end),
            m.max_rss_mib,
            m.rss_limit_mib,
            m.rss_slope_mib_per_min
        )?;
        writeln!(
            o,
            "publisher fds: start {}, end {}, max {}; limit {}. threads: start {}, end {}",
            m.start.proc.fds,
            m.end.proc.fds,
            m.max_fds,
            m.fd_limit,
            m.start.proc.threads,
            m.end.proc.threads
        )?;
        for d in &self.daemons {
            let (first, last) = (d.first.unwrap_or_default(), d.last.unwrap_or_default());
            writeln!(
                o,
                "daemon #{}: RSS {:.1} → {:.1} MiB, fds {} → {} (max {})",
                d.n,
                first.rss_mib(),
                last.rss_mib(),
                first.fds,
                last.fds,
                d.max_fds
            )?;
        }
        Ok(())
    }

    fn write_subscribers(&self, o: &mut String) -> std::fmt::Result {
        writeln!(
            o,
            "\n{:>4} {:>7} {:>7} {:>10} {:>9} {:>6} {:>6} {:>7} {:>6} {:>6}  stop",
            "sub",
            "from s",
            "to s",
            "1st ms",
            "small rx",
            "lost",
            "unexp",
            "vga rx",
            "lost",
            "unexp"
        )?;
        for run in &self.subscribers {
            let (s, v) = (run.small.unwrap_or_default(), run.vga.unwrap_or_default());
            let rel = |at: Option<f64>| {
                at.map_or("-".to_owned(), |a| {
                    format!("{:.1}", (a - self.run.start_at).max(0.0))
                })
            };
            writeln!(
                o,
                "{:>4} {:>7} {:>7} {:>10} {:>9} {:>6} {:>6} {:>7} {:>6} {:>6}  {}{}",
                format!("#{}", run.n),
                rel(Some(run.started)),
                rel(run.stopped),
                first_ms(s, v),
                s.received,
                s.dropped,
                s.unexplained(),
                v.received,
                v.dropped,
                v.unexplained(),
                run.stop.map_or("-", Stop::describe),
                if run.final_report {
                    ""
                } else {
                    " (no final report)"
                }
            )?;
        }
        Ok(())
    }
}

/// When the subscriber's first messages came, small/vga, in ms after it
/// started.
fn first_ms(small: SubTopic, vga: SubTopic) -> String {
    let ms = |t: SubTopic| t.first_ms.map_or("-".to_owned(), |ms| ms.to_string());
    format!("{}/{}", ms(small), ms(vga))
}

fn topic_summary(
    ledger: &Ledger,
    topic: &'static str,
    p: PubTopic,
    duration_s: f64,
) -> TopicSummary {
    let pick = |run: &SubRun| if topic == SMALL { run.small } else { run.vga };
    let runs: Vec<SubTopic> = ledger.subscribers.iter().filter_map(pick).collect();
    let sum = |f: &dyn Fn(&SubTopic) -> u64| runs.iter().map(f).sum::<u64>();
    let received = sum(&|t| t.received);
    let counted_lost = sum(&|t| t.dropped);
    TopicSummary {
        topic,
        published: p.published,
        per_second: if duration_s > 0.0 {
            p.published as f64 / duration_s
        } else {
            0.0
        },
        publisher_dropped: p.dropped,
        publisher_overflows: p.overflows,
        received,
        counted_lost,
        unexplained: sum(&|t| t.unexplained().max(0) as u64),
        counted_past_last: sum(&|t| (-t.unexplained()).max(0) as u64),
        not_subscribed: p.published as i64 - received as i64 - counted_lost as i64,
        decode_errors: sum(&|t| t.decode_errors),
        corrupt: sum(&|t| t.corrupt),
        backwards: sum(&|t| t.backwards),
        reconnects: sum(&|t| t.reconnects),
    }
}

/// Each counted loss with what happened just before it.
fn loss_sites(ledger: &Ledger, restarts: &[(u32, f64, Stop)]) -> Vec<LossSite> {
    ledger
        .losses
        .iter()
        .map(|l| {
            let daemon = restarts
                .iter()
                .find(|&&(_, at, _)| l.at >= at - 1.0 && l.at <= at + DAEMON_WINDOW);
            let started = ledger
                .subscribers
                .iter()
                .find(|r| r.n == l.subscriber)
                .map_or(f64::NEG_INFINITY, |r| r.started);
            let near = match daemon {
                Some((n, at, stop)) => format!(
                    "{:.1} s after daemon #{n} was stopped by {}",
                    l.at - at,
                    stop.describe()
                ),
                None if l.at - started <= START_WINDOW => "the subscriber's first seconds".into(),
                None => "no restart nearby".into(),
            };
            LossSite {
                topic: l.topic,
                count: l.count,
                at: l.at,
                subscriber: l.subscriber,
                near,
            }
        })
        .collect()
}

/// The publisher's baselines: start is its first report with a subscriber
/// on both topics, warm-up the first report `warmup_s` into the soak, end
/// the last report before shutdown began.
fn memory(ledger: &Ledger, run: &RunInfo) -> Option<Memory> {
    let samples: Vec<PubSample> = ledger
        .publisher
        .iter()
        .copied()
        .filter(|p| p.at <= run.end_at)
        .collect();
    let start = samples
        .iter()
        .find(|p| p.small.subscribers > 0 && p.vga.subscribers > 0)
        .or(samples.first())
        .copied()?;
    let warm = samples
        .iter()
        .find(|p| p.at >= run.start_at + run.warmup_s)
        .copied()?;
    let end = samples.last().copied()?;
    let after: Vec<(f64, f64)> = samples
        .iter()
        .filter(|p| p.at >= warm.at)
        .map(|p| (p.at / 60.0, p.proc.rss_mib()))
        .collect();
    Some(Memory {
        start,
        warm,
        end,
        max_rss_mib: samples.iter().map(|p| p.proc.rss_mib()).fold(0.0, f64::max),
        max_fds: samples.iter().map(|p| p.proc.fds).max().unwrap_or(0),
        rss_limit_mib: warm.proc.rss_mib()
            + RSS_TOLERANCE_MIB.max(RSS_TOLERANCE_SHARE * warm.proc.rss_mib()),
        fd_limit: start.proc.fds + FD_SLACK,
        rss_slope_mib_per_min: slope(&after),
    })
}

/// Least-squares slope of `y` over `x` (0 with fewer than two points).
fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if points.len() < 2 {
        return 0.0;
    }
    let (mx, my) = points
        .iter()
        .fold((0.0, 0.0), |(x, y), p| (x + p.0 / n, y + p.1 / n));
    let (num, den) = points.iter().fold((0.0, 0.0), |(num, den), p| {
        (num + (p.0 - mx) * (p.1 - my), den + (p.0 - mx) * (p.0 - mx))
    });
    if den > 0.0 {
        num / den
    } else {
        0.0
    }
}
