//! Endpoint probing: is the process that registered a topic still there?
//!
//! Python publishers send no heartbeats, so the daemon checks the registered
//! endpoint itself. When a process dies, the kernel refuses connections to
//! its listening sockets at once: an ipc path gives `ECONNREFUSED` (or
//! `ENOENT` once the file is gone), a tcp port an RST. A successful connect
//! is closed immediately; libzmq on the other side drops the half-open peer.

use std::time::Duration;

use crate::discovery::address::Endpoint;

/// What a probe found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Liveness {
    /// Something accepts connections at the endpoint.
    Alive,
    /// Nothing listens there any more.
    Dead,
    /// The endpoint cannot be probed, or the answer was ambiguous.
    Unknown,
}

/// Probes `address` with a bound of `timeout`. Never blocks a runtime thread.
pub(super) async fn probe(address: &str, timeout: Duration) -> Liveness {
    match Endpoint::parse(address) {
        Endpoint::IpcPath(path) => {
            match tokio::time::timeout(timeout, tokio::net::UnixStream::connect(&path)).await {
                Ok(Ok(_stream)) => Liveness::Alive,
                Ok(Err(e)) => match e.kind() {
                    std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound => {
                        Liveness::Dead
                    }
                    _ => Liveness::Unknown,
                },
                Err(_elapsed) => Liveness::Unknown,
            }
        }
        Endpoint::Tcp { host, port } => {
            let connect = tokio::net::TcpStream::connect((host.as_str(), port));
            match tokio::time::timeout(timeout, connect).await {
                Ok(Ok(_stream)) => Liveness::Alive,
                Ok(Err(e)) => match e.kind() {
                    std::io::ErrorKind::ConnectionRefused => Liveness::Dead,
                    _ => Liveness::Unknown,
                },
                // No answer at all: the host is gone or filtered. Count it
                // as dead; eviction needs several consecutive failures.
                Err(_elapsed) => Liveness::Dead,
            }
        }
        Endpoint::IpcAbstract(name) => {
            // A connect to a unix socket completes at once or fails at once;
            // std has the abstract-address API, so it runs off the runtime.
            let connect = tokio::task::spawn_blocking(move || {
                use std::os::linux::net::SocketAddrExt;
                let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
                std::os::unix::net::UnixStream::connect_addr(&addr)
            });
            match tokio::time::timeout(timeout, connect).await {
                Ok(Ok(Ok(_stream))) => Liveness::Alive,
                Ok(Ok(Err(e))) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    Liveness::Dead
                }
                _ => Liveness::Unknown,
            }
        }
        Endpoint::Other => Liveness::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ipc_probe_tells_live_from_dead() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.sock");
        let address = format!("ipc://{}", path.display());
        let t = Duration::from_millis(500);
        assert_eq!(probe(&address, t).await, Liveness::Dead);
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        assert_eq!(probe(&address, t).await, Liveness::Alive);
        drop(listener); // the file stays, like after kill -9
        assert!(path.exists());
        assert_eq!(probe(&address, t).await, Liveness::Dead);
    }

    #[tokio::test]
    async fn tcp_probe_tells_live_from_dead() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let address = format!("tcp://127.0.0.1:{port}");
        let t = Duration::from_millis(500);
        assert_eq!(probe(&address, t).await, Liveness::Alive);
        drop(listener);
        assert_eq!(probe(&address, t).await, Liveness::Dead);
        assert_eq!(probe("inproc://x", t).await, Liveness::Unknown);
    }

    #[tokio::test]
    async fn abstract_ipc_probe_tells_live_from_dead() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("cortex-probe-test-{}", std::process::id());
        let address = format!("ipc://@{name}");
        let t = Duration::from_millis(500);
        assert_eq!(probe(&address, t).await, Liveness::Dead);
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let listener = std::os::unix::net::UnixListener::bind_addr(&addr).unwrap();
        assert_eq!(probe(&address, t).await, Liveness::Alive);
        drop(listener);
        assert_eq!(probe(&address, t).await, Liveness::Dead);
    }
}
