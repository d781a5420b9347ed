//! Who hosts the discovery daemon of an ipc address.
//!
//! libzmq's ipc `bind` silently takes over an existing socket file, so two
//! processes that both find no daemon and both bind would steal the path
//! from each other. A daemon for `ipc:///dir/discovery.sock` therefore holds
//! an exclusive `flock` on `/dir/discovery.sock.lock` for as long as it runs:
//! whoever gets the lock may bind, everyone else may not. The kernel
//! releases the lock when its holder exits, however it exits, so a free lock
//! also tells the other nodes that the host is gone and one of them should
//! take over (see the node's discovery watchdog).
//!
//! The lock file is never removed (removing it would let two processes lock
//! two different files of the same name).

use std::fs::File;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

/// An exclusive lock on the lock file of an ipc daemon socket.
#[derive(Debug)]
pub(crate) struct HostLock {
    _file: File,
}

impl HostLock {
    /// The lock file of the daemon socket at `socket`.
    pub(crate) fn path_for(socket: &Path) -> PathBuf {
        let mut name = socket.as_os_str().to_owned();
        name.push(".lock");
        PathBuf::from(name)
    }

    /// Takes the lock of `socket`'s daemon, or `None` when another process
    /// holds it. The lock file is created (mode 0600) if missing; a
    /// symbolic link in its place is an error.
    pub(crate) fn try_acquire(socket: &Path) -> io::Result<Option<Self>> {
        let path = Self::path_for(socket);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)?;
        // SAFETY: flock on a descriptor we own; it only takes a lock.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            return Ok(Some(Self { _file: file }));
        }
        let error = io::Error::last_os_error();
        if error.kind() == io::ErrorKind::WouldBlock {
            Ok(None)
        } else {
            Err(error)
        }
    }

    /// Whether nobody holds the lock of `socket`'s daemon right now (the
    /// host is gone, or there never was a cortex host). Errors count as
    /// "held": the caller then does nothing.
    pub(crate) fn is_free(socket: &Path) -> bool {
        matches!(Self::try_acquire(socket), Ok(Some(_)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("d.sock");
        let held = HostLock::try_acquire(&socket).unwrap().expect("free");
        assert!(dir.path().join("d.sock.lock").is_file());
        assert!(!HostLock::is_free(&socket));
        assert!(HostLock::try_acquire(&socket).unwrap().is_none());
        drop(held);
        assert!(HostLock::is_free(&socket));
        assert!(HostLock::try_acquire(&socket).unwrap().is_some());
    }

    #[test]
    fn a_symlink_in_place_of_the_lock_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("d.sock");
        std::os::unix::fs::symlink("/etc/passwd", HostLock::path_for(&socket)).unwrap();
        assert!(HostLock::try_acquire(&socket).is_err());
    }
}
