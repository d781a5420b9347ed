//! What the orchestrator learns during the soak: every report of every
//! process, when each one started and stopped, and where losses were
//! counted. Times are seconds since the orchestrator started.

use std::collections::VecDeque;

use serde::Serialize;

use super::lines::{ProcStats, PubTopic, SubTopic};
use super::msgs::{SMALL, VGA};

/// How a process was stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Stop {
    /// SIGTERM, and it exited by itself within the grace period.
    Term,
    /// SIGTERM, ignored past the grace period, then SIGKILL.
    TermThenKill,
    /// SIGKILL (a simulated crash).
    Kill,
}

impl Stop {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Stop::Term => "SIGTERM",
            Stop::TermThenKill => "SIGTERM, then SIGKILL after the grace period",
            Stop::Kill => "SIGKILL",
        }
    }
}

/// One publisher report.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct PubSample {
    pub(crate) at: f64,
    pub(crate) small: PubTopic,
    pub(crate) vga: PubTopic,
    pub(crate) proc: ProcStats,
}

/// One run of a subscriber process.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SubRun {
    pub(crate) n: u32,
    pub(crate) started: f64,
    pub(crate) stopped: Option<f64>,
    pub(crate) stop: Option<Stop>,
    /// How the process ended (`exit status: 0`, `signal: 9`, ...).
    pub(crate) exit: Option<String>,
    /// The latest report; `None` until the first.
    pub(crate) small: Option<SubTopic>,
    pub(crate) vga: Option<SubTopic>,
    /// Whether the latest report is its final one (sent on SIGTERM).
    pub(crate) final_report: bool,
    pub(crate) proc: ProcStats,
    /// (time, small received, vga received) of recent reports, for rates.
    #[serde(skip)]
    recent: VecDeque<(f64, u64, u64)>,
}

/// One run of the daemon process.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct DaemonRun {
    pub(crate) n: u32,
    pub(crate) started: f64,
    pub(crate) stopped: Option<f64>,
    pub(crate) stop: Option<Stop>,
    pub(crate) exit: Option<String>,
    pub(crate) first: Option<ProcStats>,
    pub(crate) last: Option<ProcStats>,
    pub(crate) max_rss_kib: u64,
    pub(crate) max_fds: u64,
}

/// Losses a subscriber counted between two of its reports.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Loss {
    /// When the report that showed them arrived.
    pub(crate) at: f64,
    pub(crate) topic: &'static str,
    pub(crate) count: u64,
    pub(crate) subscriber: u32,
}

/// Everything recorded.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    pub(crate) publisher: Vec<PubSample>,
    /// The publisher's report sent when it stopped (its final totals).
    pub(crate) publisher_final: Option<PubSample>,
    pub(crate) subscribers: Vec<SubRun>,
    pub(crate) daemons: Vec<DaemonRun>,
    pub(crate) losses: Vec<Loss>,
}

/// How far back progress rates look.
const RATE_WINDOW: usize = 10;

impl Ledger {
    pub(crate) fn publisher_report(&mut self, sample: PubSample, last: bool) {
        if last {
            self.publisher_final = Some(sample);
        } else {
            self.publisher.push(sample);
        }
    }

    pub(crate) fn subscriber_started(&mut self, n: u32, at: f64) {
        self.subscribers.push(SubRun {
            n,
            started: at,
            stopped: None,
            stop: None,
            exit: None,
            small: None,
            vga: None,
            final_report: false,
            proc: ProcStats::default(),
            recent: VecDeque::new(),
        });
    }

    pub(crate) fn subscriber_report(
        &mut self,
        n: u32,
        at: f64,
        (small, vga): (SubTopic, SubTopic),
        proc: ProcStats,
        last: bool,
    ) {
        let Some(run) = self.subscribers.iter_mut().find(|r| r.n == n) else {
            return;
        };
        for (topic, before, now) in [(SMALL, run.small, small), (VGA, run.vga, vga)] {
            let count = now.dropped - before.map_or(0, |b| b.dropped);
            if count > 0 {
                self.losses.push(Loss {
                    at,
                    topic,
                    count,
                    subscriber: n,
                });
            }
        }
        run.small = Some(small);
        run.vga = Some(vga);
        run.final_report = last;
        run.proc = proc;
        run.recent.push_back((at, small.received, vga.received));
        if run.recent.len() > RATE_WINDOW + 1 {
            run.recent.pop_front();
        }
    }

    pub(crate) fn subscriber_stopped(&mut self, n: u32, at: f64, stop: Stop, exit: String) {
        if let Some(run) = self.subscribers.iter_mut().find(|r| r.n == n) {
            run.stopped = Some(at);
            run.stop = Some(stop);
            run.exit = Some(exit);
        }
    }

    pub(crate) fn daemon_started(&mut self, n: u32, at: f64) {
        self.daemons.push(DaemonRun {
            n,
            started: at,
            stopped: None,
            stop: None,
            exit: None,
            first: None,
            last: None,
            max_rss_kib: 0,
            max_fds: 0,
        });
    }

    pub(crate) fn daemon_report(&mut self, n: u32, proc: ProcStats) {
        if let Some(run) = self.daemons.iter_mut().find(|r| r.n == n) {
            run.first.get_or_insert(proc);
            run.last = Some(proc);
            run.max_rss_kib = run.max_rss_kib.max(proc.rss_kib);
            run.max_fds = run.max_fds.max(proc.fds);
        }
    }

    pub(crate) fn daemon_stopped(&mut self, n: u32, at: f64, stop: Stop, exit: String) {
        if let Some(run) = self.daemons.iter_mut().find(|r| r.n == n) {
            run.stopped = Some(at);
            run.stop = Some(stop);
            run.exit = Some(exit);
        }
    }

    /// Messages per second (small, vga) over the last reports of the newest
    /// subscriber run that has two or more (a run just started has none).
    pub(crate) fn current_rates(&self) -> Option<(f64, f64)> {
        self.subscribers.iter().rev().find_map(|run| {
            let (&(t0, s0, v0), &(t1, s1, v1)) = (run.recent.front()?, run.recent.back()?);
            let dt = t1 - t0;
            (dt > 0.0).then(|| ((s1 - s0) as f64 / dt, (v1 - v0) as f64 / dt))
        })
    }

    /// Losses counted so far, per topic (small, vga).
    pub(crate) fn counted_lost(&self) -> (u64, u64) {
        self.sum(|t| t.dropped)
    }

    /// Unexplained loss so far, per topic: sum over subscriber runs of the
    /// positive part of [`SubTopic::unexplained`].
    pub(crate) fn unexplained(&self) -> (u64, u64) {
        self.sum(|t| t.unexplained().max(0) as u64)
    }

    /// `f` summed over every subscriber run's latest report, per topic.
    pub(crate) fn sum(&self, f: impl Fn(&SubTopic) -> u64) -> (u64, u64) {
        self.subscribers.iter().fold((0, 0), |(s, v), run| {
            (
                s + run.small.as_ref().map_or(0, &f),
                v + run.vga.as_ref().map_or(0, &f),
            )
        })
    }

    /// Times the daemon was stopped (and restarted), with how.
    pub(crate) fn daemon_restarts(&self) -> Vec<(u32, f64, Stop)> {
        self.daemons
            .iter()
            .filter_map(|d| Some((d.n, d.stopped?, d.stop?)))
            .collect()
    }
}
