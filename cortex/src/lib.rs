//! cortex: typed, zero-copy pub/sub over ZeroMQ for robotics and ML systems.
#![warn(missing_docs)]

pub mod discovery;
pub mod transport;
