//! Hosting the discovery daemon in a node's process: at start, when no
//! daemon answers, and later, when the process that hosted it exits.
//!
//! Every node that may start a daemon ([`NodeConfig::spawn_daemon`]) runs a
//! watchdog. For an ipc address it checks the address's host lock (see
//! `discovery::host_lock`) every [`LOCK_CHECK`]: the lock is free only when
//! the hosting process has exited (cleanly or killed), and then the first
//! node to take it binds a new daemon. Publishers re-register with it on
//! their own within their keepalive interval, so every live record is back
//! within a second or so. For a tcp address the watchdog pings every
//! [`TCP_CHECK`] and binds when nobody answers (a daemon on another host
//! cannot be replaced from here; the bind then fails quietly).

use std::sync::Weak;
use std::time::Duration;

use tokio::task::JoinHandle;

use super::{lock, Inner, NodeConfig};
use crate::discovery::{
    Client, ClientConfig, Daemon, DaemonConfig, DiscoveryError, HostLock, ShutdownHandle,
};
use crate::error::Result;
use crate::io::SocketAccess;

/// How often a watchdog checks the host lock of an ipc address.
const LOCK_CHECK: Duration = Duration::from_millis(250);

/// How often a watchdog pings a tcp address.
const TCP_CHECK: Duration = Duration::from_secs(1);

/// How long a watchdog waits after finding a daemon that holds no lock (a
/// Python daemon) before it looks again.
const FOREIGN_HOST_BACKOFF: Duration = Duration::from_secs(2);

/// A daemon running in this process.
pub(super) struct Hosting {
    shutdown: ShutdownHandle,
    task: JoinHandle<()>,
}

impl Hosting {
    /// Stops the daemon and waits until its socket file and lock are gone.
    pub(super) async fn stop(self) {
        self.shutdown.shutdown();
        let _ = self.task.await;
    }

    /// Stops the daemon without waiting.
    pub(super) fn signal_stop(&self) {
        self.shutdown.shutdown();
    }

    fn is_running(&self) -> bool {
        !self.task.is_finished()
    }
}

/// Starts a daemon at `address` in this process. `Ok(None)`: another
/// process serves the address.
pub(super) async fn host(
    address: &str,
    access: SocketAccess,
    node: &str,
    why: &str,
) -> Result<Option<Hosting>> {
    let config = DaemonConfig::new(address).socket_access(access);
    match Daemon::bind_with(config).await {
        Ok(daemon) => {
            tracing::info!(node, %address, "{why}; this node hosts the discovery daemon now (set {}=0 to disable)", super::SPAWN_DAEMON_ENV);
            let shutdown = daemon.shutdown_handle();
            let task = tokio::spawn(async move {
                if let Err(e) = daemon.run().await {
                    tracing::error!(error = %e, "in-process discovery daemon stopped");
                }
            });
            Ok(Some(Hosting { shutdown, task }))
        }
        Err(DiscoveryError::AlreadyRunning { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Starts the watchdog of a node; it ends when the node is gone.
pub(super) fn watch(inner: Weak<Inner>, config: &NodeConfig, address: String) -> JoinHandle<()> {
    let node = config.name.clone();
    let access = config.socket_access;
    tokio::spawn(async move {
        let ipc_path = address
            .strip_prefix("ipc://")
            .filter(|p| !p.starts_with('@'))
            .map(std::path::PathBuf::from);
        let pinger = Client::with_config(
            ClientConfig::new(address.clone())
                .request_timeout(Duration::from_millis(300))
                .retries(0),
        );
        loop {
            let vacant = match &ipc_path {
                Some(path) => {
                    tokio::time::sleep(LOCK_CHECK).await;
                    HostLock::is_free(path)
                }
                None => {
                    tokio::time::sleep(TCP_CHECK).await;
                    pinger.alive().await.is_err()
                }
            };
            let Some(inner) = inner.upgrade() else {
                return;
            };
            if !vacant
                || lock(&inner.hosting)
                    .as_ref()
                    .is_some_and(Hosting::is_running)
            {
                continue;
            }
            match host(&address, access, &node, "the discovery daemon went away").await {
                Ok(Some(hosting)) => {
                    if let Some(old) = lock(&inner.hosting).replace(hosting) {
                        old.signal_stop();
                    }
                }
                // A daemon that holds no lock (a Python daemon) serves it.
                Ok(None) => tokio::time::sleep(FOREIGN_HOST_BACKOFF).await,
                Err(e) => {
                    tracing::debug!(%node, %address, error = %e, "could not host the discovery daemon");
                }
            }
        }
    })
}
