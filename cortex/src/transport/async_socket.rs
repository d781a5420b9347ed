//! ZeroMQ sockets on tokio (edge-triggered `ZMQ_FD`).
