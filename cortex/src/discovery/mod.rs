//! Discovery: the control plane (daemon, protocol, client).
