//! Discovery and topic endpoint addresses.

use std::path::PathBuf;

use super::error::DiscoveryError;

/// Default daemon address, shared with the Python cortex.
pub const DEFAULT_ADDRESS: &str = "ipc:///tmp/cortex/discovery.sock";

/// Environment variable that overrides [`DEFAULT_ADDRESS`].
pub const ADDRESS_ENV: &str = "CORTEX_DISCOVERY";

/// The daemon address to use when none is given explicitly: the value of
/// `CORTEX_DISCOVERY` if set and non-empty, else [`DEFAULT_ADDRESS`].
pub fn default_address() -> String {
    match std::env::var(ADDRESS_ENV) {
        Ok(value) if !value.trim().is_empty() => value.trim().to_owned(),
        _ => DEFAULT_ADDRESS.to_owned(),
    }
}

/// Longest ipc path libzmq accepts (`sun_path` minus the terminating NUL).
const MAX_IPC_PATH: usize = 107;

/// A parsed ZeroMQ endpoint, as far as discovery cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// `ipc://path` backed by a file.
    IpcPath(PathBuf),
    /// `ipc://@name` (Linux abstract namespace): no file; the name.
    IpcAbstract(String),
    /// `tcp://host:port` (host without IPv6 brackets).
    Tcp { host: String, port: u16 },
    /// Anything else (inproc, pgm, wildcard tcp, ...): cannot be probed.
    Other,
}

impl Endpoint {
    /// Parses `address` leniently (for probing registered topics).
    pub(crate) fn parse(address: &str) -> Self {
        if let Some(path) = address.strip_prefix("ipc://") {
            if let Some(name) = path.strip_prefix('@') {
                return Endpoint::IpcAbstract(name.to_owned());
            }
            if path.is_empty() || path == "*" {
                return Endpoint::Other;
            }
            return Endpoint::IpcPath(PathBuf::from(path));
        }
        if let Some(rest) = address.strip_prefix("tcp://") {
            // `tcp://source;host:port` names a source interface first.
            let target = rest.rsplit(';').next().unwrap_or(rest);
            let Some((host, port)) = target.rsplit_once(':') else {
                return Endpoint::Other;
            };
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let Ok(port) = port.parse::<u16>() else {
                return Endpoint::Other;
            };
            if host.is_empty() || host == "*" || port == 0 {
                return Endpoint::Other;
            }
            return Endpoint::Tcp {
                host: host.to_owned(),
                port,
            };
        }
        Endpoint::Other
    }
}

/// Checks the address in a topic record: `ipc:///absolute/path` (at most
/// 107 bytes), `ipc://@name` (Linux abstract) or `tcp://host:port` with a
/// real host and port. Anything else could neither be connected to by a
/// subscriber nor probed by the daemon, so such a record would never be
/// evicted; the daemon refuses it.
pub fn check_topic_address(address: &str) -> Result<(), String> {
    let usable = "use ipc:///absolute/path.sock, ipc://@name or tcp://host:port";
    if let Some(path) = address.strip_prefix("ipc://") {
        if path.len() > MAX_IPC_PATH {
            return Err(format!(
                "the ipc path of {address:?} is {} bytes long; the limit is {MAX_IPC_PATH}",
                path.len()
            ));
        }
        let ok = match path.strip_prefix('@') {
            Some(name) => !name.is_empty(),
            None => path.starts_with('/') && path.len() > 1,
        };
        if !ok || path.contains('\0') {
            return Err(format!("{address:?} is not a usable ipc address; {usable}"));
        }
        return Ok(());
    }
    match Endpoint::parse(address) {
        Endpoint::Tcp { .. } if !address.contains(';') => Ok(()),
        _ => Err(format!(
            "{address:?} is not a usable topic address; {usable}"
        )),
    }
}

/// Checks that `address` is something a daemon can bind and returns the ipc
/// path, if it has one.
pub(crate) fn validate_bind_address(address: &str) -> Result<Option<PathBuf>, DiscoveryError> {
    let invalid = |reason: String| DiscoveryError::InvalidAddress {
        address: address.to_owned(),
        reason,
    };
    if let Some(path) = address.strip_prefix("ipc://") {
        if path.is_empty() {
            return Err(invalid("the ipc path is empty".into()));
        }
        if path.len() > MAX_IPC_PATH {
            return Err(invalid(format!(
                "the ipc path is {} bytes long; the limit is {MAX_IPC_PATH}",
                path.len()
            )));
        }
        if path.starts_with('@') {
            return Ok(None);
        }
        return Ok(Some(PathBuf::from(path)));
    }
    if let Some(rest) = address.strip_prefix("tcp://") {
        if !rest.contains(':') {
            return Err(invalid("a tcp address needs a port".into()));
        }
        return Ok(None);
    }
    Err(invalid("only ipc:// and tcp:// are supported".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_endpoints() {
        assert_eq!(
            Endpoint::parse("ipc:///tmp/a.sock"),
            Endpoint::IpcPath("/tmp/a.sock".into())
        );
        assert_eq!(
            Endpoint::parse("tcp://127.0.0.1:5555"),
            Endpoint::Tcp {
                host: "127.0.0.1".into(),
                port: 5555
            }
        );
        assert_eq!(
            Endpoint::parse("tcp://eth0;[::1]:80"),
            Endpoint::Tcp {
                host: "::1".into(),
                port: 80
            }
        );
        assert_eq!(Endpoint::parse("tcp://*:5555"), Endpoint::Other);
        assert_eq!(Endpoint::parse("inproc://x"), Endpoint::Other);
        assert_eq!(
            Endpoint::parse("ipc://@x"),
            Endpoint::IpcAbstract("x".into())
        );
    }

    #[test]
    fn checks_topic_addresses() {
        for good in [
            "ipc:///tmp/cortex/topics/n__a.sock",
            "ipc://@cortex-a",
            "tcp://10.0.0.2:5555",
            "tcp://[::1]:80",
            "tcp://robot.local:1",
        ] {
            assert_eq!(check_topic_address(good), Ok(()), "{good}");
        }
        for bad in [
            "bogus://x",
            "ipc://",
            "ipc://@",
            "ipc://relative.sock",
            "tcp://*:5555",
            "tcp://host:0",
            "tcp://host",
            "tcp://eth0;host:1",
            "inproc://x",
            "",
        ] {
            assert!(check_topic_address(bad).is_err(), "{bad}");
        }
        assert!(check_topic_address(&format!("ipc:///{}", "a".repeat(120))).is_err());
    }

    #[test]
    fn validates_bind_addresses() {
        assert!(validate_bind_address("udp://x").is_err());
        assert!(validate_bind_address("tcp://host").is_err());
        assert!(validate_bind_address(&format!("ipc:///{}", "a".repeat(200))).is_err());
        assert_eq!(
            validate_bind_address("ipc:///tmp/x/d.sock").unwrap(),
            Some(PathBuf::from("/tmp/x/d.sock"))
        );
        assert_eq!(validate_bind_address("tcp://127.0.0.1:*").unwrap(), None);
    }
}
