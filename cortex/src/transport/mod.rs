//! Transport: ZeroMQ sockets driven by tokio, and zero-copy frames.

pub mod async_socket;
pub mod frame;
