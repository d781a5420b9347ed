//! The orchestrator's child processes: this binary re-executed with
//! `--role ...`. Each child's stdout lines arrive as [`Event`]s on one
//! channel; a child is killed (by its pid) when its [`Child`] guard drops,
//! so no error path leaves one behind.

use std::fmt;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::Sender;

use super::roles::World;
use super::Result;

/// What a child process is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Role {
    Daemon,
    Publisher,
    Subscriber,
}

impl Role {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Role::Daemon => "daemon",
            Role::Publisher => "publisher",
            Role::Subscriber => "subscriber",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One run of a role: the role and its count (1 for the first).
pub(crate) type Id = (Role, u32);

/// What the reader threads and the signal watcher send the orchestrator.
#[derive(Debug)]
pub(crate) enum Event {
    /// One line of a child's stdout.
    Line(Id, String),
    /// A child's stdout closed: it has exited (or is about to).
    Closed(Id),
    /// The orchestrator got SIGINT or SIGTERM.
    Interrupted,
}

/// A running child; killed and reaped when dropped.
#[derive(Debug)]
pub(crate) struct Child {
    pub(crate) id: Id,
    child: Option<std::process::Child>,
    /// Held open: the child exits when it closes.
    _stdin: Option<ChildStdin>,
}

impl Child {
    /// Starts `current_exe --role <role>` in `world`, its stdout lines going
    /// to `events`. The child gets its own process group, so a Ctrl-C at the
    /// terminal reaches only the orchestrator, which stops the children.
    pub(crate) fn spawn(id: Id, world: &World, events: Sender<Event>) -> Result<Child> {
        let exe = std::env::current_exe().map_err(|e| format!("finding this binary: {e}"))?;
        let mut cmd = Command::new(exe);
        cmd.arg("--role")
            .arg(id.0.name())
            .arg("--discovery")
            .arg(&world.discovery)
            .arg("--root")
            .arg(&world.root)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .process_group(0);
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "warn");
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("starting {} #{}: {e}", id.0, id.1))?;
        let stdin = child.stdin.take();
        if let Some(stdout) = child.stdout.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if events.send(Event::Line(id, line)).is_err() {
                        return;
                    }
                }
                let _ = events.send(Event::Closed(id));
            });
        }
        Ok(Child {
            id,
            child: Some(child),
            _stdin: stdin,
        })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, std::process::Child::id)
    }

    /// Sends SIGTERM (std has no portable call for it: `kill -TERM <pid>`).
    pub(crate) fn terminate(&self) -> Result<()> {
        let pid = self.pid().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("running kill -TERM {pid}: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("kill -TERM {pid} failed ({status})"))
        }
    }

    /// Sends SIGKILL.
    pub(crate) fn kill(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
        }
    }

    /// The exit status, if the child has exited (reaps it).
    pub(crate) fn exited(&mut self) -> Option<ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}

/// Sends [`Event::Interrupted`] on SIGINT or SIGTERM of the orchestrator.
pub(crate) fn watch_signals(events: Sender<Event>) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let (mut int, mut term) = {
        use tokio::signal::unix::{signal, SignalKind};
        let _context = rt.enter();
        let install = |kind| signal(kind).map_err(|e| format!("installing a signal handler: {e}"));
        (
            install(SignalKind::interrupt())?,
            install(SignalKind::terminate())?,
        )
    };
    std::thread::spawn(move || {
        rt.block_on(async {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        });
        let _ = events.send(Event::Interrupted);
    });
    Ok(())
}
