//! When a long-running command (`record`, `play`, `bridge`) stops: at its
//! deadline, Ctrl-C or SIGTERM.

use std::future::Future;

use tokio::signal::unix::{signal, SignalKind};

/// Ends at `deadline` (never when `None`), Ctrl-C (SIGINT) or SIGTERM.
/// The signals are caught from this call on, not only once the future is
/// polled: a signal that comes while the command is still setting up ends
/// it cleanly too, when it next looks.
pub(crate) fn stopped(deadline: Option<tokio::time::Instant>) -> impl Future<Output = ()> {
    // Without a handler (no signal support) a signal ends the process as
    // by default; the command is still stopped by the other causes.
    let mut terminate = signal(SignalKind::terminate()).ok();
    let mut interrupt = signal(SignalKind::interrupt()).ok();
    async move {
        let duration = async {
            match deadline {
                Some(deadline) => tokio::time::sleep_until(deadline).await,
                None => std::future::pending().await,
            }
        };
        let terminate = async {
            match terminate.as_mut() {
                Some(signal) => drop(signal.recv().await),
                None => std::future::pending().await,
            }
        };
        let interrupt = async {
            match interrupt.as_mut() {
                Some(signal) => drop(signal.recv().await),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = duration => {}
            () = terminate => {}
            () = interrupt => {}
        }
    }
}
