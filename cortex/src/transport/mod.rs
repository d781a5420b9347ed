//! Transport: ZeroMQ sockets driven by tokio.

pub mod async_socket;
