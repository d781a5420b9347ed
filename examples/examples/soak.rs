//! A soak: cortex under a steady load for minutes while its processes are
//! restarted underneath it, in one command:
//!
//! ```text
//! cargo run --release -p cortex-examples --example soak -- [--minutes 10] [--quick] [--json FILE]
//! ```
//!
//! Three processes (this binary re-executed with `--role ...`): a discovery
//! daemon, a publisher sending `/soak/small` (~60 B) at 1 kHz and
//! `/soak/vga` (640×480 RGB) at 30 Hz, and a subscriber to both. The
//! orchestrator (this process, without `--role`) restarts the subscriber
//! every 30 s (SIGTERM) and the daemon every 2 minutes (alternately SIGTERM
//! and SIGKILL, a crash), prints a progress line every 10 s on stderr and a
//! summary on stdout. `--quick`: 1 minute, subscriber every 6 s, daemon
//! every 24 s.
//!
//! What it checks, and exits 1 if not so:
//! - no unexplained loss: for every subscriber run and topic, every
//!   sequence between the first and the last message it received was either
//!   received or counted lost by cortex (`SubscriberStats::dropped`).
//!   Messages sent while no subscriber was connected are not loss. Counted
//!   losses are listed with the restart they followed;
//! - every message intact (decodes, contents match its sequence, in order);
//! - the publisher's RSS at the end at most 16 MiB (or 20 %, if more)
//!   above its RSS after warm-up (the first minute), and its fds at most 8
//!   above the start;
//! - every process stopped with SIGTERM exits cleanly, and every
//!   subscriber run receives both topics.
//!
//! Everything runs in a private directory under /tmp (discovery socket and
//! topic sockets), removed at the end. Children are killed if the
//! orchestrator fails or is interrupted, and exit if it dies.

#[path = "soak/children.rs"]
mod children;
#[path = "soak/ledger.rs"]
mod ledger;
#[path = "soak/lines.rs"]
mod lines;
#[path = "soak/msgs.rs"]
mod msgs;
#[path = "soak/roles.rs"]
mod roles;
#[path = "soak/summary.rs"]
mod summary;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use children::{Child, Event, Id, Role};
use ledger::{Ledger, PubSample, Stop};
use lines::Line;
use roles::World;
use summary::{RunInfo, Summary};

type Result<T> = std::result::Result<T, String>;

const USAGE: &str = "usage: soak [--minutes N] [--quick] [--json FILE]";

/// How long a process may take to say it is ready.
const READY_WITHIN: Duration = Duration::from_secs(20);
/// How long a process may take to exit after SIGTERM before SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(10);
/// How long a process may take to go after SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(5);
/// How often a progress line is printed.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = parse(&args).and_then(|opts| match opts.get("role") {
        Some(role) => roles::run(role, world_from(&opts)?).map(|()| true),
        None => orchestrate(&opts),
    });
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("soak: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `--key value` pairs; `--quick` is a flag.
fn parse(args: &[String]) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let key = arg
            .strip_prefix("--")
            .ok_or_else(|| format!("unexpected argument {arg:?}\n{USAGE}"))?;
        match key {
            "quick" => {
                out.insert(key.to_owned(), String::new());
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

fn world_from(opts: &BTreeMap<String, String>) -> Result<World> {
    let get = |k: &str| opts.get(k).ok_or_else(|| format!("missing --{k}"));
    Ok(World {
        discovery: get("discovery")?.clone(),
        root: PathBuf::from(get("root")?),
    })
}

/// Durations of one soak.
#[derive(Debug, Clone)]
struct Plan {
    mode: String,
    duration: Duration,
    subscriber_every: Duration,
    daemon_every: Duration,
    /// The publisher's RSS after this long is the baseline for growth.
    warmup: Duration,
}

impl Plan {
    fn from(opts: &BTreeMap<String, String>) -> Result<Plan> {
        if opts.contains_key("quick") {
            return Ok(Plan {
                mode: "quick".into(),
                duration: Duration::from_secs(60),
                subscriber_every: Duration::from_secs(6),
                daemon_every: Duration::from_secs(24),
                warmup: Duration::from_secs(6),
            });
        }
        let minutes = match opts.get("minutes") {
            Some(m) => m
                .parse::<f64>()
                .ok()
                .filter(|m| *m > 0.0 && *m < 24.0 * 60.0)
                .ok_or_else(|| format!("--minutes {m}: want a positive number of minutes"))?,
            None => 10.0,
        };
        let duration = Duration::from_secs_f64(minutes * 60.0);
        Ok(Plan {
            mode: format!("{minutes} min"),
            duration,
            subscriber_every: Duration::from_secs(30),
            daemon_every: Duration::from_secs(120),
            // The first minute, or the first tenth of a shorter soak.
            warmup: (duration / 10).min(Duration::from_secs(60)),
        })
    }
}

fn orchestrate(opts: &BTreeMap<String, String>) -> Result<bool> {
    let plan = Plan::from(opts)?;
    let json = opts.get("json").map(PathBuf::from);
    eprintln!(
        "soak: {} — 1 kHz {} + 30 Hz {}; subscriber restarted every {:?}, daemon every {:?} (SIGTERM and SIGKILL in turn)",
        plan.mode,
        msgs::SMALL,
        msgs::VGA,
        plan.subscriber_every,
        plan.daemon_every
    );
    let mut soak = Soak::new(plan)?;
    let summary = soak.run()?;
    drop(soak);
    print!("{}", summary.render());
    if let Some(path) = json {
        write_json(&path, &summary)?;
    }
    Ok(summary.passed)
}

fn write_json(path: &Path, summary: &Summary) -> Result<()> {
    let text =
        serde_json::to_string_pretty(summary).map_err(|e| format!("encoding the summary: {e}"))?;
    std::fs::write(path, text + "\n").map_err(|e| format!("writing {}: {e}", path.display()))?;
    eprintln!("soak: wrote {}", path.display());
    Ok(())
}

/// The orchestrator's state. Dropping it kills the children (fields drop
/// in order: the children before their directory).
struct Soak {
    daemon: Option<Child>,
    publisher: Option<Child>,
    subscriber: Option<Child>,
    _dir: tempfile::TempDir,
    world: World,
    plan: Plan,
    events: Receiver<Event>,
    sender: Sender<Event>,
    clock: Instant,
    started: BTreeMap<Role, u32>,
    ready: BTreeSet<Id>,
    closed: BTreeSet<Id>,
    /// Children being stopped on purpose: their exit is no error.
    stopping: BTreeSet<Id>,
    ledger: Ledger,
}

impl Soak {
    fn new(plan: Plan) -> Result<Soak> {
        let dir = tempfile::Builder::new()
            .prefix("cortex-soak-")
            .tempdir_in("/tmp")
            .map_err(|e| format!("creating a temp dir under /tmp: {e}"))?;
        let (sender, events) = mpsc::channel();
        children::watch_signals(sender.clone())?;
        Ok(Soak {
            daemon: None,
            publisher: None,
            subscriber: None,
            world: World::in_dir(dir.path()),
            _dir: dir,
            plan,
            events,
            sender,
            clock: Instant::now(),
            started: BTreeMap::new(),
            ready: BTreeSet::new(),
            closed: BTreeSet::new(),
            stopping: BTreeSet::new(),
            ledger: Ledger::default(),
        })
    }

    fn now(&self) -> f64 {
        self.clock.elapsed().as_secs_f64()
    }

    /// Sets up, soaks, shuts down; the summary.
    fn run(&mut self) -> Result<Summary> {
        let load_start = load_average();
        self.start(Role::Daemon)?;
        self.start(Role::Publisher)?;
        self.start(Role::Subscriber)?;
        let t0 = Instant::now();
        let start_at = self.now();
        let at = |every: Duration| t0 + every;
        let (mut next_sub, mut next_daemon, mut next_progress) = (
            at(self.plan.subscriber_every),
            at(self.plan.daemon_every),
            at(PROGRESS_EVERY),
        );
        let end = t0 + self.plan.duration;
        let mut daemon_kill = false;
        while Instant::now() < end {
            self.pump_until(next_sub.min(next_daemon).min(next_progress).min(end))?;
            if Instant::now() >= next_daemon && next_daemon < end {
                let how = if daemon_kill { Stop::Kill } else { Stop::Term };
                daemon_kill = !daemon_kill;
                self.restart(Role::Daemon, how)?;
                next_daemon += self.plan.daemon_every;
            }
            if Instant::now() >= next_sub && next_sub < end {
                self.restart(Role::Subscriber, Stop::Term)?;
                next_sub += self.plan.subscriber_every;
            }
            if Instant::now() >= next_progress {
                self.progress(t0);
                next_progress += PROGRESS_EVERY;
            }
        }
        let end_at = self.now();
        eprintln!("soak: {:.0} s done; stopping", end_at - start_at);
        for role in [Role::Subscriber, Role::Publisher, Role::Daemon] {
            self.stop(role, Stop::Term)?;
        }
        let run = RunInfo {
            mode: self.plan.mode.clone(),
            planned_s: self.plan.duration.as_secs_f64(),
            start_at,
            end_at,
            warmup_s: self.plan.warmup.as_secs_f64(),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            load_start,
            load_end: load_average(),
        };
        Ok(Summary::new(&self.ledger, run))
    }

    fn slot(&mut self, role: Role) -> &mut Option<Child> {
        match role {
            Role::Daemon => &mut self.daemon,
            Role::Publisher => &mut self.publisher,
            Role::Subscriber => &mut self.subscriber,
        }
    }

    /// Starts the next run of `role` and waits until it is ready.
    fn start(&mut self, role: Role) -> Result<()> {
        let n = self.started.entry(role).or_insert(0);
        *n += 1;
        let id = (role, *n);
        let child = Child::spawn(id, &self.world, self.sender.clone())?;
        let at = self.now();
        match role {
            Role::Daemon => self.ledger.daemon_started(id.1, at),
            Role::Subscriber => self.ledger.subscriber_started(id.1, at),
            Role::Publisher => {}
        }
        *self.slot(role) = Some(child);
        self.wait(&format!("{role} #{} ready", id.1), READY_WITHIN, |s| {
            s.ready.contains(&id)
        })
    }

    /// Stops the current run of `role` (bounded: SIGKILL after the grace
    /// period) and records how it went.
    fn stop(&mut self, role: Role, how: Stop) -> Result<()> {
        let Some(mut child) = self.slot(role).take() else {
            return Ok(());
        };
        let id = child.id;
        self.stopping.insert(id);
        let mut stop = how;
        if how == Stop::Kill {
            child.kill();
        } else {
            child.terminate()?;
        }
        let closed = |s: &Soak| s.closed.contains(&id);
        if how == Stop::Kill {
            let what = format!("{role} #{} to go after SIGKILL", id.1);
            self.wait(&what, KILL_GRACE, closed)?;
        } else if self.wait("exit", TERM_GRACE, closed).is_err() {
            eprintln!(
                "soak: {role} #{} (pid {}) did not exit within {TERM_GRACE:?} of SIGTERM; killing it",
                id.1,
                child.pid()
            );
            stop = Stop::TermThenKill;
            child.kill();
            self.wait(
                &format!("{role} #{} to go after SIGKILL", id.1),
                KILL_GRACE,
                closed,
            )?;
        }
        let exit = self.reap(&mut child)?;
        let at = self.now();
        match role {
            Role::Daemon => self.ledger.daemon_stopped(id.1, at, stop, exit),
            Role::Subscriber => self.ledger.subscriber_stopped(id.1, at, stop, exit),
            Role::Publisher => {}
        }
        Ok(())
    }

    /// Waits (bounded) for a child whose stdout closed to exit.
    fn reap(&mut self, child: &mut Child) -> Result<String> {
        let deadline = Instant::now() + KILL_GRACE;
        loop {
            if let Some(status) = child.exited() {
                return Ok(status.to_string());
            }
            if Instant::now() >= deadline {
                child.kill();
                return Err(format!(
                    "{} #{} (pid {}) closed its stdout but did not exit",
                    child.id.0,
                    child.id.1,
                    child.pid()
                ));
            }
            self.pump_until(Instant::now() + Duration::from_millis(10))?;
        }
    }

    fn restart(&mut self, role: Role, how: Stop) -> Result<()> {
        self.stop(role, how)?;
        self.start(role)
    }

    /// Handles events until `pred` holds; an error after `timeout`.
    fn wait(&mut self, what: &str, timeout: Duration, pred: impl Fn(&Soak) -> bool) -> Result<()> {
        let deadline = Instant::now() + timeout;
        while !pred(self) {
            if Instant::now() >= deadline {
                return Err(format!("no {what} within {timeout:?}"));
            }
            self.next_event(deadline)?;
        }
        Ok(())
    }

    /// Handles events until `deadline`.
    fn pump_until(&mut self, deadline: Instant) -> Result<()> {
        while Instant::now() < deadline {
            self.next_event(deadline)?;
        }
        Ok(())
    }

    /// Handles the next event, if one comes before `deadline`.
    fn next_event(&mut self, deadline: Instant) -> Result<()> {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.events.recv_timeout(left) {
            Ok(event) => self.handle(event),
            Err(RecvTimeoutError::Timeout) => Ok(()),
            Err(RecvTimeoutError::Disconnected) => Err("event channel closed".into()),
        }
    }

    fn handle(&mut self, event: Event) -> Result<()> {
        match event {
            Event::Line(id, text) => {
                self.line(id, &text);
                Ok(())
            }
            Event::Closed(id) => {
                self.closed.insert(id);
                if self.stopping.contains(&id) {
                    Ok(())
                } else {
                    Err(format!(
                        "{} #{} exited unexpectedly (its errors are above)",
                        id.0, id.1
                    ))
                }
            }
            Event::Interrupted => Err("interrupted; stopping the children".into()),
        }
    }

    fn line(&mut self, (role, n): Id, text: &str) {
        let at = self.now();
        match serde_json::from_str::<Line>(text) {
            Ok(Line::Ready) => {
                self.ready.insert((role, n));
            }
            Ok(Line::Daemon { proc }) => self.ledger.daemon_report(n, proc),
            Ok(Line::Publisher {
                small,
                vga,
                proc,
                last,
            }) => {
                let sample = PubSample {
                    at,
                    small,
                    vga,
                    proc,
                };
                self.ledger.publisher_report(sample, last);
            }
            Ok(Line::Subscriber {
                small,
                vga,
                proc,
                last,
            }) => self
                .ledger
                .subscriber_report(n, at, (small, vga), proc, last),
            Err(_) => eprintln!("soak: {role} #{n}: {text}"),
        }
    }

    /// One line on stderr: where the soak is.
    fn progress(&self, t0: Instant) {
        let (small, vga) = self.ledger.current_rates().unwrap_or((0.0, 0.0));
        let (lost_s, lost_v) = self.ledger.counted_lost();
        let (unx_s, unx_v) = self.ledger.unexplained();
        let p = self
            .ledger
            .publisher
            .last()
            .map(|p| p.proc)
            .unwrap_or_default();
        eprintln!(
            "[{:>5.0} s] rx {small:>6.1}/s small, {vga:>4.1}/s vga | counted lost {lost_s}+{lost_v}, unexplained {unx_s}+{unx_v} | publisher RSS {:.1} MiB, {} fds | subscriber #{}, daemon #{}",
            t0.elapsed().as_secs_f64(),
            p.rss_mib(),
            p.fds,
            self.started.get(&Role::Subscriber).copied().unwrap_or(0),
            self.started.get(&Role::Daemon).copied().unwrap_or(0),
        );
    }
}

/// `/proc/loadavg`'s three averages.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}
