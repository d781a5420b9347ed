//! The crate-wide error type.

use crate::codec::{DecodeError, EncodeError};
use crate::discovery::DiscoveryError;

/// Result alias for cortex operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Anything that can go wrong in cortex. Each variant says what happened,
/// where (topic, type, address), and what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Talking to the discovery daemon failed.
    #[error(transparent)]
    Discovery(Box<DiscoveryError>),
    /// A message could not be encoded.
    #[error("encoding {ty} for topic {topic}: {cause}")]
    Encode {
        /// The topic.
        topic: String,
        /// The message type.
        ty: &'static str,
        /// What went wrong (in the message above, not also a `source()`).
        cause: EncodeError,
    },
    /// A received message could not be decoded.
    #[error("decoding {ty} from topic {topic}: {cause}")]
    Decode {
        /// The topic.
        topic: String,
        /// The message type.
        ty: &'static str,
        /// What went wrong (in the message above, not also a `source()`).
        cause: Box<DecodeError>,
    },
    /// A received multipart message is not a cortex message.
    #[error("malformed message on topic {topic}: {reason}")]
    Malformed {
        /// The topic.
        topic: String,
        /// What was wrong.
        reason: String,
    },
    /// The topic is published with another message type.
    #[error(
        "topic {topic} carries {found_type} (fingerprint 0x{found:016x}) but this subscriber expects \
         {expected_type} (0x{expected:016x}); subscribe with the publisher's type, or rebuild both \
         sides from the same message definition"
    )]
    TypeMismatch {
        /// The topic.
        topic: String,
        /// The subscriber's type.
        expected_type: &'static str,
        /// Its fingerprint.
        expected: u64,
        /// The publisher's advertised type.
        found_type: String,
        /// Its fingerprint.
        found: u64,
    },
    /// An ipc socket path is longer than the OS allows.
    #[error(
        "socket path for topic {topic} is {len} bytes, over the 107-byte limit of ipc paths: {path}; \
         use a shorter socket root (NodeConfig::socket_root or CORTEX_SOCKET_ROOT) or topic name"
    )]
    PathTooLong {
        /// The topic.
        topic: String,
        /// The path.
        path: String,
        /// Its length in bytes.
        len: usize,
    },
    /// Another live process already serves this socket path.
    #[error(
        "topic {topic} is already published by a live process at {path}; \
         stop the other publisher or give this node another name"
    )]
    EndpointInUse {
        /// The topic.
        topic: String,
        /// The socket path.
        path: String,
    },
    /// A topic's socket directory or path is not safe to use.
    #[error("topic {topic}: {cause}")]
    SocketDir {
        /// The topic.
        topic: String,
        /// What is wrong with the directory or path, and what to do.
        cause: crate::io::SocketDirError,
    },
    /// The topic's discovery record names an address no subscriber can use
    /// (for as long as the subscriber waited).
    #[error(
        "topic {topic} is registered by node {node} at {address:?}, which cannot be connected to: \
         {problem}; the publisher (or whatever wrote that record) must register a usable address"
    )]
    UnusableRecord {
        /// The topic.
        topic: String,
        /// The address in the record.
        address: String,
        /// The node named in the record.
        node: String,
        /// Why it cannot be used.
        problem: String,
    },
    /// A ZeroMQ call failed.
    #[error("{context}: {cause}")]
    Zmq {
        /// What was being done (names the topic or address).
        context: String,
        /// What went wrong (in the message above, not also a `source()`).
        cause: zmq::Error,
    },
    /// An I/O call failed.
    #[error("{context}: {cause}")]
    Io {
        /// What was being done.
        context: String,
        /// What went wrong (in the message above, not also a `source()`).
        cause: std::io::Error,
    },
    /// A topic the caller asked about has no record at the discovery daemon.
    #[error(
        "topic {topic} is not registered at {address}: check the name (`cortex topic list`) and that its publisher is running"
    )]
    TopicNotRegistered {
        /// The topic.
        topic: String,
        /// The discovery address asked.
        address: String,
    },
    /// Waiting for something timed out.
    #[error("{0}")]
    Timeout(String),
    /// The node or publisher was shut down.
    #[error("{0} was shut down")]
    Closed(String),
    /// A node name that cannot be used.
    #[error(
        "node name {name:?} must be non-empty, without `/` or whitespace (it is part of socket file names)"
    )]
    InvalidNodeName {
        /// The name given.
        name: String,
    },
    /// An array lent for a topic (`Publisher::loan_array`) was asked for
    /// with a shape that cannot be counted.
    #[error("an array lent for topic {topic} has an unusable shape")]
    LoanShape {
        /// The topic.
        topic: String,
        /// What is wrong with the shape.
        #[source]
        cause: crate::message::ShapeError,
    },
    /// A setting (an environment variable, an option) has an invalid value.
    #[error("{setting}: {problem}")]
    InvalidSetting {
        /// The setting, e.g. `CORTEX_SOCKET_ACCESS` or `--window`.
        setting: String,
        /// What is wrong and what the valid values are.
        problem: String,
    },
    /// A topic a node advertises with one type is used with another.
    #[error(
        "node {node} advertises topic {topic} as {advertised}; it cannot also publish {requested} there: use one type per topic"
    )]
    TopicTypeConflict {
        /// The node.
        node: String,
        /// The topic.
        topic: String,
        /// The type the topic is advertised with.
        advertised: &'static str,
        /// The type asked for.
        requested: &'static str,
    },
    /// A node publishes on a topic it does not advertise.
    #[error(
        "node {node} does not advertise topic {topic}: add it to the handler's `publishes(...)` or call Node::advertise first"
    )]
    NotAdvertised {
        /// The node.
        node: String,
        /// The topic.
        topic: String,
    },
    /// `Node::run` was called a second time.
    #[error("node {node} is already running (or has run): call run() once per node")]
    NodeAlreadyRunning {
        /// The node.
        node: String,
    },
    /// No server of the service was found within the caller's timeout.
    #[error(
        "service {service} was not found at the discovery daemon {address} within {timeout:?}; \
         is its server running and using the same daemon address? (`cortex service list` \
         shows the services there)"
    )]
    ServiceNotFound {
        /// The service.
        service: String,
        /// The daemon address.
        address: String,
        /// How long the caller waited.
        timeout: std::time::Duration,
    },
    /// The service's server has other request or reply types.
    #[error(
        "service {service} (node {node}) is {found}, but this caller uses {expected}; call it with \
         the server's types, or rebuild both sides from the same message definitions"
    )]
    ServiceTypeMismatch {
        /// The service.
        service: String,
        /// What the caller uses, `"Req -> Rep"`.
        expected: String,
        /// What the server has.
        found: String,
        /// The server's node.
        node: String,
    },
    /// The server's handler failed (returned an error or panicked), or the
    /// server refused the call; the message is the server's.
    #[error("service {service} (node {node}) failed: {message}")]
    ServiceFailed {
        /// The service.
        service: String,
        /// The server's node.
        node: String,
        /// What the server said.
        message: String,
    },
    /// The server went away (exited, crashed, was killed) during the call.
    #[error(
        "the server of service {service} (node {node}, {address}) went away during the call; \
         the call may or may not have taken effect. Call again once a server is back"
    )]
    ServiceUnavailable {
        /// The service.
        service: String,
        /// The server's node.
        node: String,
        /// Its endpoint.
        address: String,
    },
    /// No reply within the caller's timeout.
    #[error(
        "service {service} (node {node}) did not answer within {timeout:?}; the call may still \
         take effect. Allow a longer timeout if its handler is slow"
    )]
    ServiceTimeout {
        /// The service.
        service: String,
        /// The server's node.
        node: String,
        /// The caller's timeout.
        timeout: std::time::Duration,
    },
    /// A handler's task panicked outside a handler call (where panics are
    /// caught and counted), e.g. in a custom `Field` implementation.
    #[error("handler {handler} panicked outside a handler call (e.g. in a custom Field impl)")]
    HandlerPanicked {
        /// The handler function.
        handler: &'static str,
    },
}

impl From<DiscoveryError> for Error {
    fn from(e: DiscoveryError) -> Self {
        Error::Discovery(Box::new(e))
    }
}

impl Error {
    pub(crate) fn zmq(context: impl Into<String>, cause: zmq::Error) -> Self {
        Error::Zmq {
            context: context.into(),
            cause,
        }
    }

    pub(crate) fn io(context: impl Into<String>, cause: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            cause,
        }
    }
}
