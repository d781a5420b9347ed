//! What a command can fail with: the library's errors, and the ones only
//! the command line has (a request typed on it, a daemon without services).

use cortex::discovery::DiscoveryError;

/// An error of a `cortex` command; printed as `error: <message>`.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// From the library.
    #[error(transparent)]
    Cortex(#[from] cortex::Error),
    /// The daemon has no service registry (a Python cortex daemon).
    #[error(
        "the discovery daemon at {address} does not list services ({message}); a Python cortex \
         daemon keeps none apart from topics: services registered there show up in `cortex topic \
         list` with types \"Req -> Rep\". Run the cortex daemon (`cortex discovery`) to list them"
    )]
    NoServiceRegistry {
        /// The daemon address.
        address: String,
        /// What the daemon said.
        message: String,
    },
    /// The name is registered, but as a topic.
    #[error(
        "{name} at the discovery daemon {address} is a topic of type {ty}, not a service; \
         `cortex service list` shows the services (a topic's messages: `cortex topic echo {name}`)"
    )]
    NotAService {
        /// The name.
        name: String,
        /// The daemon address.
        address: String,
        /// The topic's type.
        ty: String,
    },
    /// The request given on the command line does not fit the service.
    #[error("cannot call service {service}: {problem}")]
    Request {
        /// The service.
        service: String,
        /// What is wrong with the request, and what it should be.
        problem: String,
    },
    /// A recording cannot be written or read.
    #[error("recording {}: {problem}", file.display())]
    Recording {
        /// The file.
        file: std::path::PathBuf,
        /// What went wrong, and what to do.
        problem: String,
    },
    /// The server answered with something this tool cannot read.
    #[error("service {service} (node {node}) {problem}")]
    Answer {
        /// The service.
        service: String,
        /// The server's node.
        node: String,
        /// What was wrong with the answer.
        problem: String,
    },
}

impl From<DiscoveryError> for CliError {
    fn from(e: DiscoveryError) -> Self {
        CliError::Cortex(e.into())
    }
}

impl CliError {
    /// Whether this is stdout's reader having gone away.
    pub(crate) fn is_broken_pipe(&self) -> bool {
        matches!(self, CliError::Cortex(e) if super::output::is_broken_pipe(e))
    }
}
