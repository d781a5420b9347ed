//! Socket files and directories (F5, F9 of the reliability campaign): a
//! file at a socket path is refused, never deleted; directories are private
//! and sockets owner-only whatever the umask; a directory others may write
//! to, or that belongs to another user, is refused with a clear error.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cortex::discovery::{Client, ClientConfig, Daemon};
use cortex::messages::IntMessage;
use cortex::{Node, NodeConfig};

const BOUND: Duration = Duration::from_secs(30);

fn temp() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("cxs")
        .tempdir_in("/tmp")
        .unwrap()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().mode() & 0o7777
}

/// Runs `cortex discovery` through bash (for `umask`); returns its status
/// and stderr if it exits by itself within `wait`, else kills it.
fn discovery(pre: &str, address: &str, wait: Duration) -> (Option<i32>, String) {
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut child = Command::new("bash")
        .args([
            "-c",
            &format!(
                "{pre}; exec {} discovery --address {address}",
                env!("CARGO_BIN_EXE_cortex")
            ),
        ])
        .env_remove("CORTEX_DISCOVERY")
        .env_remove("CORTEX_SOCKET_ACCESS")
        .stdout(Stdio::null())
        .stderr(log.reopen().unwrap())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if start.elapsed() > wait {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (status, std::fs::read_to_string(log.path()).unwrap())
}

async fn serving(address: &str) -> bool {
    let client = Client::with_config(
        ClientConfig::new(address)
            .request_timeout(Duration::from_millis(200))
            .retries(0),
    );
    let start = Instant::now();
    while start.elapsed() < BOUND {
        if client.ping().await.is_ok() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[test]
fn the_daemon_refuses_to_delete_a_regular_file_at_its_address() {
    let dir = temp();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, "keep me").unwrap();
    let (status, err) = discovery("true", &format!("ipc://{}", path.display()), BOUND);
    assert_eq!(status, Some(1), "{err}");
    assert!(
        err.contains("regular file") && err.contains("notes.txt"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "keep me");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_umask_000_the_daemon_directory_and_socket_are_still_private() {
    let dir = temp();
    let sock_dir = dir.path().join("run/cortex");
    let address = format!("ipc://{}/d.sock", sock_dir.display());
    let addr = address.clone();
    let daemon = std::thread::spawn(move || discovery("umask 000", &addr, Duration::from_secs(5)));
    assert!(serving(&address).await, "the daemon never answered");
    assert_eq!(mode(&sock_dir), 0o700);
    assert_eq!(mode(&dir.path().join("run")), 0o700);
    assert_eq!(mode(&sock_dir.join("d.sock")), 0o600);
    let (status, _) = daemon.join().unwrap();
    assert_eq!(status, None, "still serving until killed");
}

#[test]
fn the_daemon_refuses_a_world_writable_directory() {
    let dir = temp();
    let open = dir.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let (status, err) = discovery("true", &format!("ipc://{}/d.sock", open.display()), BOUND);
    assert_eq!(status, Some(1), "{err}");
    assert!(
        err.contains("writable by every user") && err.contains("chmod"),
        "{err}"
    );
    assert!(!open.join("d.sock").exists());
}

/// Root can make a directory another user's; elsewhere this is shown by
/// the unit tests of the check itself.
#[test]
fn the_daemon_refuses_a_directory_of_another_user() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: only root can give a directory to another user here");
        return;
    }
    let dir = temp();
    let theirs = dir.path().join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
    let (status, err) = discovery("true", &format!("ipc://{}/d.sock", theirs.display()), BOUND);
    assert_eq!(status, Some(1), "{err}");
    assert!(
        err.contains("uid 65534") && err.contains("not to you"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_refuses_a_file_at_its_socket_path_and_keeps_its_socket_private() {
    let dir = temp();
    let discovery = format!("ipc://{}/d.sock", dir.path().display());
    let daemon = Daemon::bind(discovery.clone()).await.unwrap();
    let stop = daemon.shutdown_handle();
    tokio::spawn(daemon.run());
    let root = dir.path().join("topics");
    let node = Node::new(
        NodeConfig::new("n")
            .discovery(&discovery)
            .socket_root(&root)
            .spawn_daemon(false),
    )
    .await
    .unwrap();
    std::fs::create_dir_all(&root).unwrap();
    let squatted = root.join("n__taken.sock");
    std::fs::write(&squatted, "data").unwrap();
    let err = node
        .publisher::<IntMessage>("/taken")
        .await
        .expect_err("a regular file is in the way");
    let text = err.to_string();
    assert!(
        text.contains("/taken") && text.contains("regular file"),
        "{text}"
    );
    assert_eq!(std::fs::read_to_string(&squatted).unwrap(), "data");

    let _publisher = node.publisher::<IntMessage>("/fine").await.unwrap();
    assert_eq!(mode(&root.join("n__fine.sock")), 0o600);
    stop.shutdown();
}
