//! Where one user's shared memory lives, and what keeps other users out.
//!
//! Every process of a user uses the directory `/tmp/cortex-shm-<uid>`
//! (created `0700`; refused, with the fix, when another user owns it or it
//! is open to others) for iceoryx2's bookkeeping instead of the shared
//! `/tmp/iceoryx2`, and names its files in `/dev/shm` with the prefix
//! `cx<uid>_`. A random 32-byte key, kept in that directory, goes into
//! every service name: `cortex/shm/` + the first 16 bytes of
//! SHA-256(key ‖ socket address), in hex. Processes of the same user
//! (which can read the key) find each other's services from the socket
//! address in the discovery record; another user cannot compute the
//! names, so cannot squat on them or find the segments (which iceoryx2
//! creates owner-only besides).

use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path as StdPath, PathBuf};
use std::sync::OnceLock;

use iceoryx2::prelude::*;
use sha2::{Digest, Sha256};

use super::Unavailable;

/// This user's shared-memory settings (see the module docs).
pub(super) struct Realm {
    /// iceoryx2's configuration: root path and file prefix of this user.
    pub(super) config: Config,
    key: [u8; 32],
}

/// The realm of this process's user, set up on first use.
pub(super) fn realm() -> Result<&'static Realm, Unavailable> {
    static REALM: OnceLock<Result<Realm, Unavailable>> = OnceLock::new();
    REALM
        .get_or_init(Realm::open)
        .as_ref()
        .map_err(Clone::clone)
}

impl Realm {
    fn open() -> Result<Realm, Unavailable> {
        // SAFETY: geteuid has no preconditions and cannot fail.
        let uid = unsafe { libc::geteuid() };
        let dir = PathBuf::from(format!("/tmp/cortex-shm-{uid}"));
        private_dir(&dir, uid)?;
        let key = key(&dir)?;
        let mut config = Config::global_config().clone();
        let root = dir
            .to_str()
            .ok_or_else(|| failed("naming the directory", "not UTF-8"))?;
        let root = Path::new(root.as_bytes()).map_err(|e| failed("naming the directory", e))?;
        config.global.set_root_path(&root);
        config.global.prefix = FileName::new(format!("cx{uid}_").as_bytes())
            .map_err(|e| failed("naming the files", e))?;
        Ok(Realm { config, key })
    }

    /// The service name for the publisher at `address` (its lanes and
    /// wake-up service append to it).
    pub(super) fn service_base(&self, address: &str) -> String {
        let digest = Sha256::new()
            .chain_update(self.key)
            .chain_update(address.as_bytes())
            .finalize();
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        format!("cortex/shm/{hex}")
    }
}

fn failed(what: &'static str, detail: impl std::fmt::Debug) -> Unavailable {
    Unavailable {
        what,
        detail: format!("{detail:?}"),
    }
}

/// Creates `dir` owner-only, or checks that the existing one is a
/// directory of `uid` closed to everyone else.
fn private_dir(dir: &StdPath, uid: u32) -> Result<(), Unavailable> {
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(failed("creating the shared-memory directory", e)),
    }
    let meta = std::fs::symlink_metadata(dir)
        .map_err(|e| failed("checking the shared-memory directory", e))?;
    if !meta.is_dir() || meta.uid() != uid || meta.mode() & 0o077 != 0 {
        return Err(Unavailable {
            what: "checking the shared-memory directory",
            detail: format!(
                "{} must be a directory owned by this user (uid {uid}) with mode 0700, and is not \
                 (owner uid {}, mode {:o}); remove it and cortex recreates it",
                dir.display(),
                meta.uid(),
                meta.mode() & 0o7777
            ),
        });
    }
    Ok(())
}

/// The user's key: read from `dir/key`, or made (from /dev/urandom) and
/// linked into place so that concurrent first users agree on one.
fn key(dir: &StdPath) -> Result<[u8; 32], Unavailable> {
    let path = dir.join("key");
    loop {
        match std::fs::read(&path) {
            Ok(bytes) => {
                return bytes.try_into().map_err(|bytes: Vec<u8>| Unavailable {
                    what: "reading the shared-memory key",
                    detail: format!(
                        "{} holds {} bytes, not 32; remove it (with no cortex process running)",
                        path.display(),
                        bytes.len()
                    ),
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(failed("reading the shared-memory key", e)),
        }
        // 32 bytes of key, 8 more for a draft name no other process or
        // thread uses.
        let mut random = [0u8; 40];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut urandom| urandom.read_exact(&mut random))
            .map_err(|e| failed("making the shared-memory key", e))?;
        let (key, suffix) = random.split_at(32);
        let key: [u8; 32] = key.try_into().expect("32 bytes");
        let suffix: String = suffix.iter().map(|b| format!("{b:02x}")).collect();
        let draft = dir.join(format!("key.{}.{suffix}", std::process::id()));
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&draft)
            .and_then(|mut file| file.write_all(&key));
        let linked = written.and_then(|()| std::fs::hard_link(&draft, &path));
        let _ = std::fs::remove_file(&draft);
        match linked {
            Ok(()) => return Ok(key),
            // Another process was first: use its key.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(failed("making the shared-memory key", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn uid() -> u32 {
        // SAFETY: geteuid has no preconditions.
        unsafe { libc::geteuid() }
    }

    #[test]
    fn a_directory_open_to_others_or_a_symlink_is_refused_with_the_fix() {
        let tmp = tempfile::tempdir().unwrap();
        let open = tmp.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
        let error = private_dir(&open, uid()).unwrap_err().to_string();
        assert!(
            error.contains("mode 755") && error.contains("remove it"),
            "{error}"
        );
        let link = tmp.path().join("link");
        let fresh = tmp.path().join("fresh");
        private_dir(&fresh, uid()).unwrap();
        std::os::unix::fs::symlink(&fresh, &link).unwrap();
        assert!(
            private_dir(&link, uid()).is_err(),
            "a symlink is not trusted"
        );
        assert!(private_dir(&fresh, uid() + 1).is_err(), "another owner");
        let mode = std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }

    #[test]
    fn concurrent_first_users_agree_on_one_key() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_owned();
        let keys: Vec<[u8; 32]> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8).map(|_| s.spawn(|| key(&dir).unwrap())).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(keys.iter().all(|k| *k == keys[0]));
        assert_ne!(keys[0], [0; 32]);
        let file = std::fs::metadata(dir.join("key")).unwrap();
        assert_eq!((file.len(), file.permissions().mode() & 0o777), (32, 0o600));
        let leftovers = std::fs::read_dir(&dir).unwrap().count();
        assert_eq!(leftovers, 1, "only the key is left");
    }

    #[test]
    fn a_truncated_key_is_an_error_that_says_what_to_do() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("key"), [1, 2, 3]).unwrap();
        let error = key(tmp.path()).unwrap_err().to_string();
        assert!(error.contains("3 bytes, not 32; remove it"), "{error}");
    }
}
