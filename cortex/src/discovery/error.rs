//! Errors of the discovery control plane.

use std::io;
use std::time::Duration;

/// A discovery message that could not be decoded.
///
/// Returned when bytes from the network are not a valid discovery request,
/// response or `TopicInfo`. Decoding never panics; it reports what it found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The bytes are not a valid msgpack value of the expected shape
    /// (truncated, wrong type, nested too deep, an extension type, a
    /// repeated key, ...).
    #[error("{what}: {kind}")]
    Decode {
        /// Which value (e.g. `request`, `topic_info.fingerprint`).
        what: &'static str,
        /// What was wrong, as the codec reports it.
        kind: crate::codec::DecodeErrorKind,
    },
    /// A required key is absent from a map.
    #[error("{what} has no key `{key}`")]
    MissingKey {
        /// Which map.
        what: &'static str,
        /// The missing key.
        key: &'static str,
    },
    /// A request names a command this side does not know.
    #[error("unknown command {0}")]
    UnknownCommand(i128),
    /// A response carries a status this side does not know.
    #[error("unknown status {0}")]
    UnknownStatus(i128),
    /// An integer is out of range for its field.
    #[error("{what}: {value} is out of range")]
    OutOfRange {
        /// Which field.
        what: &'static str,
        /// The value found.
        value: i128,
    },
    /// The message is larger than this side accepts.
    #[error("message of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Size of the message.
        len: usize,
        /// The limit.
        max: usize,
    },
}

impl ProtocolError {
    pub(crate) fn decode(what: &'static str, kind: crate::codec::DecodeErrorKind) -> Self {
        ProtocolError::Decode { what, kind }
    }
}

impl From<crate::codec::DecodeErrorKind> for ProtocolError {
    fn from(kind: crate::codec::DecodeErrorKind) -> Self {
        ProtocolError::Decode {
            what: "message",
            kind,
        }
    }
}

/// Everything that can go wrong talking to, or running, a discovery daemon.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// A live daemon already serves this address.
    #[error(
        "a discovery daemon is already running at {address}; use it, stop it, \
         or start this one on another address (--address or CORTEX_DISCOVERY)"
    )]
    AlreadyRunning {
        /// The contested address.
        address: String,
    },
    /// The address is taken by something that is not (or not only) a daemon.
    #[error(
        "cannot start the discovery daemon at {address}: {detail}; \
         free the address or choose another one (--address or CORTEX_DISCOVERY)"
    )]
    AddressInUse {
        /// The contested address.
        address: String,
        /// Why the address is considered taken.
        detail: String,
    },
    /// A running daemon lost its ipc socket file and stopped.
    #[error("the discovery daemon at {address} stopped: {detail}")]
    AddressLost {
        /// The daemon address.
        address: String,
        /// What happened to the socket file.
        detail: String,
    },
    /// The address is not a usable ZeroMQ endpoint.
    #[error(
        "invalid discovery address {address:?}: {reason}; \
         use ipc:///path/to/discovery.sock or tcp://host:port"
    )]
    InvalidAddress {
        /// The address as given.
        address: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The daemon's socket directory or path is not safe to use.
    #[error("discovery daemon at {address}: {cause}")]
    SocketDir {
        /// The daemon address.
        address: String,
        /// What is wrong and what to do.
        cause: crate::io::SocketDirError,
    },
    /// A socket or file operation failed.
    #[error("{context} ({address}): {cause}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The daemon address involved.
        address: String,
        /// What went wrong (in the message above, not also a `source()`).
        cause: io::Error,
    },
    /// The daemon did not answer.
    #[error(
        "no reply from the discovery daemon at {address} to {command} after {attempts} \
         attempt(s) of {timeout:?}; is `cortex discovery` running there? \
         (start it, or point CORTEX_DISCOVERY at the right address)"
    )]
    Timeout {
        /// The daemon address.
        address: String,
        /// The command that got no reply.
        command: &'static str,
        /// How many times it was sent.
        attempts: u32,
        /// The per-attempt timeout.
        timeout: Duration,
    },
    /// Another live node publishes the topic, and the daemon allows one
    /// publisher per topic (a Python cortex daemon; a cortex daemon takes
    /// any number of publishers of one type).
    #[error(
        "topic {topic} is already registered at the discovery daemon {address} by another \
         live node ({message}), and that daemon allows one publisher per topic (a Python \
         cortex daemon does); to publish from several nodes run the cortex daemon \
         (`cortex discovery`), else stop that publisher or use a different topic name"
    )]
    TopicTaken {
        /// The topic.
        topic: String,
        /// The daemon address.
        address: String,
        /// The daemon's explanation.
        message: String,
    },
    /// The daemon answered ERROR.
    #[error(
        "the discovery daemon at {address} rejected {command}{topic_part}: {message}",
        topic_part = topic.as_deref().map(|t| format!(" for topic {t}")).unwrap_or_default()
    )]
    Rejected {
        /// The daemon address.
        address: String,
        /// The rejected command.
        command: &'static str,
        /// The topic, if the command names one.
        topic: Option<String>,
        /// The daemon's explanation.
        message: String,
    },
    /// The daemon's reply could not be decoded.
    #[error(
        "malformed reply from the discovery daemon at {address}: {cause}; \
         is a cortex (or Python cortex) discovery daemon really listening there?"
    )]
    Protocol {
        /// The daemon address.
        address: String,
        /// What was wrong with the reply.
        cause: ProtocolError,
    },
    /// `wait_for_topic` ran out of time.
    #[error(
        "topic {topic} was not registered at the discovery daemon {address} within \
         {timeout:?}; is its publisher running and using the same daemon address?"
    )]
    WaitTimeout {
        /// The awaited topic.
        topic: String,
        /// The daemon address.
        address: String,
        /// How long was waited.
        timeout: Duration,
    },
}

/// Result type of the discovery module.
pub type Result<T, E = DiscoveryError> = std::result::Result<T, E>;
