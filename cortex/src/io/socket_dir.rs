//! Who can reach cortex's ipc sockets: the directories that hold them and
//! the socket files themselves.
//!
//! Anyone who can connect to a socket can read its topic, and anyone who
//! can write to the directory can squat a socket path or plant a file for
//! libzmq to delete (its ipc `bind` unlinks whatever is at the path). So by
//! default ([`SocketAccess::Owner`]) directories are created `0700`, socket
//! files are made `0600` right after binding, and an existing directory is
//! refused when another user owns it or anyone else may write to it. A
//! regular file (or anything but a socket) where a socket is to be bound is
//! refused, never deleted.
//!
//! [`SocketAccess::Group`] shares the sockets with the directory's group on
//! purpose: directories `2770`, sockets `0660`, and an existing directory
//! must belong to the user or to one of the user's groups, and must not be
//! writable by others.

use std::fs::Metadata;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Environment variable selecting [`SocketAccess`]: `owner` (default) or
/// `group`.
pub const SOCKET_ACCESS_ENV: &str = "CORTEX_SOCKET_ACCESS";

/// Who may use the ipc sockets of this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SocketAccess {
    /// Only the user running the process (directories `0700`, sockets `0600`).
    #[default]
    Owner,
    /// The user and the directory's group (directories `2770`, sockets `0660`).
    Group,
}

impl SocketAccess {
    /// The setting of [`SOCKET_ACCESS_ENV`]; [`Owner`](Self::Owner) when
    /// unset. An unknown value is an error that names the valid ones.
    pub fn from_env() -> Result<Self, SocketDirError> {
        match std::env::var(SOCKET_ACCESS_ENV) {
            Err(_) => Ok(Self::Owner),
            Ok(v) => match v.trim() {
                "" | "owner" => Ok(Self::Owner),
                "group" => Ok(Self::Group),
                other => Err(SocketDirError {
                    path: PathBuf::new(),
                    problem: format!(
                        "{SOCKET_ACCESS_ENV}={other:?} is not a valid setting; use `owner` (the default) or `group`"
                    ),
                }),
            },
        }
    }

    fn dir_mode(self) -> u32 {
        match self {
            Self::Owner => 0o700,
            Self::Group => 0o2770,
        }
    }

    fn socket_mode(self) -> u32 {
        match self {
            Self::Owner => 0o600,
            Self::Group => 0o660,
        }
    }
}

/// A socket directory or path that cortex refuses to use, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{problem}")]
pub struct SocketDirError {
    /// The directory or socket path.
    pub path: PathBuf,
    /// What is wrong and what to do.
    pub problem: String,
}

impl SocketDirError {
    fn new(path: &Path, problem: String) -> Self {
        Self {
            path: path.to_owned(),
            problem,
        }
    }
}

/// Creates `dir` (and missing parents) with the mode of `access`, or checks
/// that the existing one is safe: see the module docs.
pub(crate) fn prepare_dir(dir: &Path, access: SocketAccess) -> Result<(), SocketDirError> {
    if dir.as_os_str().is_empty() {
        return Ok(());
    }
    match std::fs::symlink_metadata(dir) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            create_dirs(dir, access)?;
        }
        Err(e) => {
            return Err(SocketDirError::new(
                dir,
                format!("cannot inspect the socket directory {}: {e}", dir.display()),
            ))
        }
    }
    check_dir(dir, access)
}

/// `mkdir -p` with the mode of `access` for every directory it creates.
fn create_dirs(dir: &Path, access: SocketAccess) -> Result<(), SocketDirError> {
    let mode = access.dir_mode();
    let created: Vec<PathBuf> = dir
        .ancestors()
        .take_while(|p| !p.as_os_str().is_empty() && !p.exists())
        .map(Path::to_path_buf)
        .collect();
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(dir)
        .map_err(|e| {
            SocketDirError::new(
                dir,
                format!("cannot create the socket directory {}: {e}", dir.display()),
            )
        })?;
    // The umask may have taken bits away (setgid, group rwx); set them.
    for path in created {
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode));
    }
    Ok(())
}

fn check_dir(dir: &Path, access: SocketAccess) -> Result<(), SocketDirError> {
    let link = std::fs::symlink_metadata(dir).map_err(|e| {
        SocketDirError::new(
            dir,
            format!("cannot inspect the socket directory {}: {e}", dir.display()),
        )
    })?;
    let me = euid();
    if link.file_type().is_symlink() && link.uid() != me && link.uid() != 0 {
        return Err(SocketDirError::new(
            dir,
            format!(
                "the socket directory {} is a symbolic link owned by uid {}, not by you (uid {me}): \
                 another user could redirect your sockets; remove it or use another directory \
                 (CORTEX_SOCKET_ROOT / CORTEX_DISCOVERY)",
                dir.display(),
                link.uid()
            ),
        ));
    }
    let meta = std::fs::metadata(dir).map_err(|e| {
        SocketDirError::new(
            dir,
            format!("cannot inspect the socket directory {}: {e}", dir.display()),
        )
    })?;
    if !meta.is_dir() {
        return Err(SocketDirError::new(
            dir,
            format!(
                "{} is not a directory; cortex needs it as the directory of its sockets",
                dir.display()
            ),
        ));
    }
    dir_problem(dir, &meta, access, me)
        .map_or(Ok(()), |problem| Err(SocketDirError::new(dir, problem)))
}

/// What is unsafe about an existing directory, if anything.
fn dir_problem(dir: &Path, meta: &Metadata, access: SocketAccess, me: u32) -> Option<String> {
    let mode = meta.mode() & 0o7777;
    let shown = dir.display();
    if mode & 0o002 != 0 {
        return Some(format!(
            "the socket directory {shown} is writable by every user (mode {mode:04o}): anyone could \
             replace or squat its sockets; run `chmod o-w {shown}` (or `chmod 700 {shown}`) or use \
             another directory (CORTEX_SOCKET_ROOT / CORTEX_DISCOVERY)"
        ));
    }
    let owned = meta.uid() == me;
    match access {
        SocketAccess::Owner if !owned => Some(format!(
            "the socket directory {shown} belongs to uid {}, not to you (uid {me}): its owner \
             controls your sockets; use a directory of your own (CORTEX_SOCKET_ROOT / \
             CORTEX_DISCOVERY), or share one on purpose with {SOCKET_ACCESS_ENV}=group \
             (see the book's Reliability chapter)",
            meta.uid()
        )),
        SocketAccess::Owner if mode & 0o020 != 0 => Some(format!(
            "the socket directory {shown} is writable by its group (mode {mode:04o}); run \
             `chmod 700 {shown}`, or share it on purpose with {SOCKET_ACCESS_ENV}=group"
        )),
        SocketAccess::Group if !owned && !in_group(meta.gid()) => Some(format!(
            "the socket directory {shown} belongs to uid {} and group {}, and you (uid {me}) \
             are not in that group; add yourself to it or use another directory",
            meta.uid(),
            meta.gid()
        )),
        _ => None,
    }
}

/// Checks the path where a socket is about to be bound: nothing there, or
/// a socket (whose liveness the caller checks). Anything else is refused:
/// libzmq's bind would delete it.
pub(crate) fn check_socket_path(path: &Path) -> Result<(), SocketDirError> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(SocketDirError::new(
            path,
            format!("cannot inspect {}: {e}", path.display()),
        )),
        Ok(meta) if meta.file_type().is_socket() => Ok(()),
        Ok(meta) => Err(SocketDirError::new(
            path,
            format!(
                "{} exists and is a {}, not a socket: cortex will not delete it to bind a \
                 socket there; remove or move it yourself if it is not needed",
                path.display(),
                kind(&meta)
            ),
        )),
    }
}

/// Sets a freshly bound socket file to the mode of `access`.
pub(crate) fn restrict_socket(path: &Path, access: SocketAccess) -> Result<(), SocketDirError> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(access.socket_mode())).map_err(
        |e| {
            SocketDirError::new(
                path,
                format!("cannot restrict the permissions of {}: {e}", path.display()),
            )
        },
    )
}

fn kind(meta: &Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_file() {
        "regular file"
    } else if t.is_dir() {
        "directory"
    } else if t.is_symlink() {
        "symbolic link"
    } else if t.is_fifo() {
        "named pipe"
    } else if t.is_block_device() || t.is_char_device() {
        "device"
    } else {
        "special file"
    }
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

fn in_group(gid: u32) -> bool {
    // SAFETY: getegid has no preconditions and cannot fail.
    if unsafe { libc::getegid() } == gid {
        return true;
    }
    let mut groups = vec![0 as libc::gid_t; 256];
    // SAFETY: the buffer holds `groups.len()` gid_t values; getgroups writes
    // at most that many and returns how many it wrote (or -1).
    let n = unsafe { libc::getgroups(groups.len() as libc::c_int, groups.as_mut_ptr()) };
    usize::try_from(n).is_ok_and(|n| groups[..n.min(groups.len())].contains(&gid))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().mode() & 0o7777
    }

    #[test]
    fn creates_private_directories_whatever_the_umask() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        prepare_dir(&dir, SocketAccess::Owner).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&tmp.path().join("a")), 0o700);
        prepare_dir(&dir, SocketAccess::Owner).unwrap();
    }

    #[test]
    fn refuses_directories_others_may_write() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("open");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = prepare_dir(&dir, SocketAccess::Owner).unwrap_err();
        assert!(err.problem.contains("writable by every user"), "{err}");
        assert!(prepare_dir(&dir, SocketAccess::Group).is_err());
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o770)).unwrap();
        let err = prepare_dir(&dir, SocketAccess::Owner).unwrap_err();
        assert!(err.problem.contains("writable by its group"), "{err}");
        prepare_dir(&dir, SocketAccess::Group).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        prepare_dir(&dir, SocketAccess::Owner).unwrap();
    }

    #[test]
    fn refuses_a_directory_of_another_user() {
        let tmp = tempfile::tempdir().unwrap();
        let meta = std::fs::metadata(tmp.path()).unwrap();
        let problem = dir_problem(tmp.path(), &meta, SocketAccess::Owner, meta.uid() + 1);
        assert!(problem.unwrap().contains("not to you"));
    }

    #[test]
    fn a_file_where_a_socket_goes_is_refused_not_deleted() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("x.sock");
        check_socket_path(&path).unwrap();
        std::fs::write(&path, b"precious").unwrap();
        let err = check_socket_path(&path).unwrap_err();
        assert!(err.problem.contains("regular file"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"precious");
        std::fs::remove_file(&path).unwrap();
        let _listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        check_socket_path(&path).unwrap();
        restrict_socket(&path, SocketAccess::Owner).unwrap();
        assert_eq!(mode(&path), 0o600);
    }
}
