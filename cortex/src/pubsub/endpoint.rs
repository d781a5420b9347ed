//! Where a topic's socket lives: ipc paths (the Python slug rule) or tcp.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::io::{check_socket_path, prepare_dir, restrict_socket, SocketAccess};

/// The longest ipc path libzmq accepts (`sun_path` minus the NUL).
pub const MAX_IPC_PATH: usize = 107;

/// The default root for topic sockets (shared with the Python cortex).
pub const DEFAULT_SOCKET_ROOT: &str = "/tmp/cortex/topics";

/// Environment variable overriding the socket root.
pub const SOCKET_ROOT_ENV: &str = "CORTEX_SOCKET_ROOT";

/// How publishers expose their topics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// One Unix-domain socket per topic under `root`.
    Ipc {
        /// Directory for the socket files.
        root: PathBuf,
        /// Who may connect (see [`SocketAccess`]).
        access: SocketAccess,
    },
    /// TCP on `bind_host` (an ephemeral port per topic), advertised to
    /// subscribers as `advertise_host`, which other hosts must be able to reach.
    Tcp {
        /// Interface to bind, e.g. `0.0.0.0` or `127.0.0.1`.
        bind_host: String,
        /// Host name or address put in the discovery record.
        advertise_host: String,
    },
}

impl Default for Transport {
    fn default() -> Self {
        let root = std::env::var_os(SOCKET_ROOT_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET_ROOT));
        // An invalid CORTEX_SOCKET_ACCESS is reported by `Node::new`; the
        // safe default stands in until then.
        let access = SocketAccess::from_env().unwrap_or_default();
        Transport::Ipc { root, access }
    }
}

/// The socket file name for a topic: `<node>__<topic with '/' → '_'>.sock`,
/// the Python cortex's rule (`/camera/image` on node `cam` →
/// `cam__camera_image.sock`).
pub fn socket_file_name(node: &str, topic: &str) -> String {
    format!(
        "{node}__{}.sock",
        topic.trim_start_matches('/').replace('/', "_")
    )
}

/// A bound endpoint to bind and the address to advertise.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    pub(crate) bind: String,
    pub(crate) path: Option<PathBuf>,
}

impl Transport {
    /// Where `node` publishes `topic`, checked: path length, a safe
    /// directory, and nothing but a dead socket already there (zmq's bind
    /// would silently steal a live one, or delete a file).
    pub(crate) fn endpoint(&self, node: &str, topic: &str) -> Result<Endpoint> {
        match self {
            Transport::Ipc { root, access } => {
                let path = root.join(socket_file_name(node, topic));
                let text = path.to_string_lossy().into_owned();
                if text.len() > MAX_IPC_PATH {
                    return Err(Error::PathTooLong {
                        topic: topic.into(),
                        len: text.len(),
                        path: text,
                    });
                }
                prepare_dir(root, *access).map_err(|e| Error::SocketDir {
                    topic: topic.into(),
                    cause: e,
                })?;
                check_socket_path(&path).map_err(|e| Error::SocketDir {
                    topic: topic.into(),
                    cause: e,
                })?;
                if is_live(&path) {
                    return Err(Error::EndpointInUse {
                        topic: topic.into(),
                        path: text,
                    });
                }
                Ok(Endpoint {
                    bind: format!("ipc://{text}"),
                    path: Some(path),
                })
            }
            Transport::Tcp { bind_host, .. } => Ok(Endpoint {
                bind: format!("tcp://{bind_host}:*"),
                path: None,
            }),
        }
    }

    /// The address subscribers should connect to, given zmq's last endpoint.
    /// Binds `socket` at `endpoint` (from [`endpoint`](Self::endpoint)),
    /// restricts an ipc socket file to who may connect, and returns the
    /// address to register. `name` is the topic or service, for errors;
    /// `what` says which (`"topic"`, `"service"`).
    pub(crate) fn bind(
        &self,
        socket: &zmq::Socket,
        endpoint: &Endpoint,
        what: &str,
        name: &str,
    ) -> Result<String> {
        let ctx_err = |step: &str| format!("{step} for {what} {name} ({})", endpoint.bind);
        socket
            .bind(&endpoint.bind)
            .map_err(|e| Error::zmq(ctx_err("binding"), e))?;
        let bound = socket
            .get_last_endpoint()
            .map_err(|e| Error::zmq(ctx_err("reading the bound endpoint"), e))?
            .unwrap_or_else(|_| endpoint.bind.clone());
        if let (Some(path), Transport::Ipc { access, .. }) = (&endpoint.path, self) {
            if let Err(source) = restrict_socket(path, *access) {
                let _ = std::fs::remove_file(path);
                return Err(Error::SocketDir {
                    topic: name.into(),
                    cause: source,
                });
            }
        }
        Ok(self.advertised(&bound))
    }

    pub(crate) fn advertised(&self, bound: &str) -> String {
        match self {
            Transport::Ipc { .. } => bound.to_owned(),
            Transport::Tcp { advertise_host, .. } => match bound.rsplit_once(':') {
                Some((_, port)) => format!("tcp://{advertise_host}:{port}"),
                None => bound.to_owned(),
            },
        }
    }
}

/// Whether a process is accepting connections on the ipc path.
fn is_live(path: &Path) -> bool {
    UnixStream::connect(path).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slug_matches_the_python_rule() {
        assert_eq!(
            socket_file_name("cam", "/camera/image"),
            "cam__camera_image.sock"
        );
        assert_eq!(socket_file_name("n", "/a"), "n__a.sock");
    }

    #[test]
    fn long_paths_are_refused_with_the_fix() {
        let t = Transport::Ipc {
            root: PathBuf::from("/tmp/".to_owned() + &"x".repeat(90)),
            access: SocketAccess::Owner,
        };
        let err = t.endpoint("node", "/some/long/topic").unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("/some/long/topic")
                && text.contains("107")
                && text.contains("socket root"),
            "{text}"
        );
    }

    #[test]
    fn tcp_advertises_the_reachable_host() {
        let t = Transport::Tcp {
            bind_host: "0.0.0.0".into(),
            advertise_host: "robot-1.local".into(),
        };
        assert_eq!(
            t.advertised("tcp://0.0.0.0:40123"),
            "tcp://robot-1.local:40123"
        );
    }
}
