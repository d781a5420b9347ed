//! The daemon's ipc socket file: taking an address over safely at start,
//! noticing when the file is removed or replaced while running, and
//! removing it at the end only if it is still ours.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::DaemonConfig;
use crate::discovery::client::{Client, ClientConfig};
use crate::discovery::error::{DiscoveryError, Result};
use crate::discovery::host_lock::HostLock;
use crate::io::{check_socket_path, prepare_dir};

/// Creates (or checks) the directory of an ipc path, takes the address's
/// [`HostLock`], and checks what is at the path: nothing, a stale socket
/// (taken over), or a live daemon (an error). Anything but a socket is
/// refused, never deleted.
pub(super) async fn prepare(address: &str, path: &Path, config: &DaemonConfig) -> Result<HostLock> {
    let unsafe_path = |cause| DiscoveryError::SocketDir {
        address: address.to_owned(),
        cause,
    };
    if let Some(parent) = path.parent() {
        prepare_dir(parent, config.socket_access).map_err(unsafe_path)?;
    }
    let lock = match HostLock::try_acquire(path) {
        Ok(Some(lock)) => lock,
        Ok(None) => {
            // Another cortex daemon runs (or is starting) at this address.
            return Err(if answers_ping(address, config.liveness_timeout).await {
                DiscoveryError::AlreadyRunning {
                    address: address.to_owned(),
                }
            } else {
                DiscoveryError::AddressInUse {
                    address: address.to_owned(),
                    detail: format!(
                        "another process holds {} (a daemon starting up?) but does not answer PING",
                        HostLock::path_for(path).display()
                    ),
                }
            });
        }
        Err(cause) => {
            return Err(DiscoveryError::Io {
                context: "cannot lock the daemon's lock file",
                address: address.to_owned(),
                cause,
            })
        }
    };
    check_socket_path(path).map_err(unsafe_path)?;
    if !path.exists() {
        return Ok(lock);
    }
    match tokio::net::UnixStream::connect(path).await {
        Ok(stream) => {
            drop(stream);
            // Not a cortex daemon (it would hold the lock): a Python one?
            if answers_ping(address, config.liveness_timeout).await {
                Err(DiscoveryError::AlreadyRunning {
                    address: address.to_owned(),
                })
            } else {
                Err(DiscoveryError::AddressInUse {
                    address: address.to_owned(),
                    detail: format!(
                        "a process listens on {} but does not answer PING",
                        path.display()
                    ),
                })
            }
        }
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound
            ) =>
        {
            tracing::warn!(
                path = %path.display(),
                "taking over a stale discovery socket file (its daemon is gone)"
            );
            Ok(lock)
        }
        Err(cause) => Err(DiscoveryError::Io {
            context: "cannot check the existing daemon socket file",
            address: address.to_owned(),
            cause,
        }),
    }
}

/// Whether a daemon answers `PING` at `address` within `timeout`.
pub(super) async fn answers_ping(address: &str, timeout: Duration) -> bool {
    let client = Client::with_config(
        ClientConfig::new(address)
            .request_timeout(timeout)
            .retries(0),
    );
    client.alive().await.is_ok()
}

/// The socket file a daemon bound, by identity `(dev, ino)`, so that it is
/// checked and removed only while it is still the one this daemon created.
#[derive(Debug, Clone)]
pub(super) struct SocketFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl SocketFile {
    /// The file now at `path` (just bound), if it can be read.
    pub(super) fn identify(path: PathBuf) -> Option<Self> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(&path).ok()?;
        Some(Self {
            path,
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }

    fn is_ours(&self, meta: &std::fs::Metadata) -> bool {
        use std::os::unix::fs::MetadataExt;
        meta.dev() == self.dev && meta.ino() == self.ino
    }

    /// Fails when the file was removed or replaced: clients can no longer
    /// reach this daemon (e.g. another daemon, perhaps a Python one, bound
    /// the same path and silently took it over).
    pub(super) fn check(&self, address: &str) -> Result<()> {
        let detail = match std::fs::symlink_metadata(&self.path) {
            Ok(meta) if self.is_ours(&meta) => return Ok(()),
            Ok(_) => format!(
                "another process replaced the socket file {} (a second daemon started \
                 at the same time?), so clients no longer reach this one",
                self.path.display()
            ),
            Err(_) => format!(
                "the socket file {} was removed, so clients can no longer reach this \
                 daemon; restart it (and keep tmp cleaners away from the directory)",
                self.path.display()
            ),
        };
        tracing::error!(address = %address, "{detail}");
        Err(DiscoveryError::AddressLost {
            address: address.to_owned(),
            detail,
        })
    }

    /// Removes the file if it is still the one we bound.
    pub(super) fn remove_if_ours(&self) {
        match std::fs::symlink_metadata(&self.path) {
            Ok(meta) if self.is_ours(&meta) => {
                if let Err(e) = std::fs::remove_file(&self.path) {
                    tracing::warn!(path = %self.path.display(), error = %e, "cannot remove the daemon socket file");
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replaced_or_removed_file_is_reported_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.sock");
        let _ours = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let file = SocketFile::identify(path.clone()).unwrap();
        file.check("ipc://d").unwrap();

        // Another process's socket (bound while ours exists, so it is
        // another inode) is moved over the path.
        let other = dir.path().join("other.sock");
        let _theirs = std::os::unix::net::UnixListener::bind(&other).unwrap();
        std::fs::rename(&other, &path).unwrap();
        let err = file.check("ipc://d").unwrap_err();
        assert!(err.to_string().contains("replaced"), "{err}");
        file.remove_if_ours();
        assert!(path.exists(), "someone else's socket file must stay");

        std::fs::remove_file(&path).unwrap();
        let err = file.check("ipc://d").unwrap_err();
        assert!(err.to_string().contains("was removed"), "{err}");
    }

    #[test]
    fn our_file_is_removed_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.sock");
        let _ours = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let file = SocketFile::identify(path.clone()).unwrap();
        file.remove_if_ours();
        assert!(!path.exists());
    }
}
