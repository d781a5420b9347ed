//! Peer processes: the bench binary re-executes itself with `--role ...`
//! for the publisher/echo side, and talks to it over stdin/stdout lines.
//!
//! Parent → child (stdin): `go` (start sending), `quit` (clean up, exit);
//! EOF means the parent is gone, and the child exits at once.
//! Child → parent (stdout): `ready`, `done <attempted> <refused>`.
//!
//! Every child is registered by pid; dropping its [`Peer`] (normal exit,
//! error, panic) or a Ctrl-C/SIGTERM of the parent kills it by that pid.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

type Result<T> = std::result::Result<T, String>;

static CHILDREN: Mutex<BTreeMap<u32, Child>> = Mutex::new(BTreeMap::new());
static TEMP_DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Remembers a temp dir so that a signal exit removes it too.
pub(crate) fn register_temp_dir(path: PathBuf) {
    lock(&TEMP_DIRS).push(path);
}

/// Forgets a temp dir (its `TempDir` removes it normally).
pub(crate) fn unregister_temp_dir(path: &std::path::Path) {
    lock(&TEMP_DIRS).retain(|p| p != path);
}

/// Kills every registered child by pid and removes registered temp dirs
/// (used on Ctrl-C / SIGTERM, where destructors do not run).
pub(crate) fn kill_all() {
    for (pid, mut child) in std::mem::take(&mut *lock(&CHILDREN)) {
        eprintln!("bench: killing peer process {pid}");
        let _ = child.kill();
        let _ = child.wait();
    }
    for dir in std::mem::take(&mut *lock(&TEMP_DIRS)) {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// What a peer reported when it finished sending.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Done {
    /// Messages the peer tried to send.
    pub(crate) attempted: u64,
    /// Messages refused by the publisher (cortex `XPUB_NODROP` drops).
    pub(crate) refused: u64,
}

/// A running peer process.
pub(crate) struct Peer {
    pid: u32,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    done: Option<Done>,
}

impl Peer {
    /// Starts `current_exe --role <role> <args>`.
    pub(crate) fn spawn(role: &str, args: &[(String, String)]) -> Result<Peer> {
        let exe = std::env::current_exe().map_err(|e| format!("finding the bench binary: {e}"))?;
        let mut cmd = match std::env::var("BENCH_PEER_CPUS") {
            Ok(cpus) => {
                let mut cmd = Command::new("taskset");
                cmd.arg("-c").arg(cpus).arg(exe);
                cmd
            }
            Err(_) => Command::new(exe),
        };
        cmd.arg("--role").arg(role);
        for (k, v) in args {
            cmd.arg(format!("--{k}")).arg(v);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("starting the {role} peer: {e}"))?;
        let pid = child.id();
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        lock(&CHILDREN).insert(pid, child);
        let (tx, lines) = mpsc::channel();
        if let Some(stdout) = stdout {
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        Ok(Peer {
            pid,
            stdin,
            lines,
            done: None,
        })
    }

    /// Sends one control line.
    pub(crate) fn send(&mut self, line: &str) -> Result<()> {
        let stdin = self.stdin.as_mut().ok_or("peer stdin closed")?;
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("writing to peer {}: {e}", self.pid))
    }

    fn handle(&mut self, line: &str) {
        if let Some(rest) = line.strip_prefix("done ") {
            let mut it = rest
                .split_whitespace()
                .map(|w| w.parse::<u64>().unwrap_or(0));
            self.done = Some(Done {
                attempted: it.next().unwrap_or(0),
                refused: it.next().unwrap_or(0),
            });
        }
    }

    /// Waits (blocking) for a line equal to `want` (or starting with it).
    pub(crate) fn expect(&mut self, want: &str, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.handle(&line);
                    if line.starts_with(want) {
                        return Ok(line);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!(
                        "peer {} did not say {want:?} within {timeout:?}",
                        self.pid
                    ))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(format!(
                        "peer {} exited before saying {want:?} (see its errors above)",
                        self.pid
                    ))
                }
            }
        }
    }

    /// The peer's `done` report, if it has arrived (non-blocking).
    pub(crate) fn poll_done(&mut self) -> Option<Done> {
        while let Ok(line) = self.lines.try_recv() {
            self.handle(&line);
        }
        self.done
    }

    /// Waits for the `done` report.
    pub(crate) fn wait_done(&mut self, timeout: Duration) -> Result<Done> {
        if let Some(done) = self.poll_done() {
            return Ok(done);
        }
        self.expect("done", timeout)?;
        self.done.ok_or_else(|| "malformed done line".into())
    }

    /// Asks the peer to quit and waits (bounded) for it; kills it otherwise.
    pub(crate) fn finish(mut self) {
        let _ = self.send("quit");
        self.reap(Duration::from_secs(3));
    }

    fn reap(&mut self, grace: Duration) {
        self.stdin = None; // EOF: the child exits even if it missed `quit`.
        let Some(mut child) = lock(&CHILDREN).remove(&self.pid) else {
            return;
        };
        let deadline = Instant::now() + grace;
        loop {
            match child.try_wait() {
                Ok(Some(_)) => return,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                _ => break,
            }
        }
        eprintln!("bench: peer {} did not exit; killing it", self.pid);
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        // `finish` already reaped it; otherwise (error path) kill now.
        self.reap(Duration::from_millis(200));
    }
}

/// The child side of the control channel.
#[derive(Clone)]
pub(crate) struct Control {
    go: Arc<AtomicBool>,
    quit: Arc<AtomicBool>,
    quit_notify: Arc<tokio::sync::Notify>,
}

impl Control {
    /// Starts the stdin reader thread. EOF on stdin exits the process.
    pub(crate) fn start() -> Control {
        let control = Control {
            go: Arc::default(),
            quit: Arc::default(),
            quit_notify: Arc::default(),
        };
        let c = control.clone();
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines() {
                match line.as_deref().map(str::trim) {
                    Ok("go") => c.go.store(true, Ordering::SeqCst),
                    Ok("quit") => {
                        c.quit.store(true, Ordering::SeqCst);
                        c.quit_notify.notify_one();
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            // The parent is gone (or closed our stdin): nobody is listening.
            std::process::exit(0);
        });
        control
    }

    /// Whether `go` has arrived.
    pub(crate) fn go(&self) -> bool {
        self.go.load(Ordering::SeqCst)
    }

    /// Blocks until `go`.
    pub(crate) fn wait_go(&self) {
        while !self.go() {
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    /// Whether `quit` has arrived.
    pub(crate) fn quit(&self) -> bool {
        self.quit.load(Ordering::SeqCst)
    }

    /// Blocks until `quit`.
    pub(crate) fn wait_quit(&self) {
        while !self.quit() {
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Resolves on `quit`.
    pub(crate) async fn quit_notified(&self) {
        let n = self.quit_notify.notified();
        tokio::pin!(n);
        n.as_mut().enable();
        if self.quit() {
            return;
        }
        n.await;
    }
}

/// Tells the parent something (one line on stdout).
pub(crate) fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}
