//! `cortex discovery`: run the discovery daemon.

use cortex::discovery::{Daemon, DaemonConfig, DiscoveryError, DEFAULT_ADDRESS};
use cortex::io::SocketAccess;

/// Arguments of `cortex discovery`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Address to bind: ipc:///path/to/discovery.sock or tcp://host:port.
    #[arg(long, env = "CORTEX_DISCOVERY", default_value = DEFAULT_ADDRESS)]
    address: String,
    /// Do not probe registered endpoints (stale records then stay until
    /// unregistered).
    #[arg(long)]
    no_eviction: bool,
    /// Who may connect to an ipc daemon socket: `owner` (the user running
    /// it, the default) or `group` (also the socket directory's group).
    #[arg(long, env = "CORTEX_SOCKET_ACCESS", default_value = "owner",
          value_parser = ["owner", "group"])]
    socket_access: String,
}

/// Runs the daemon until Ctrl-C, SIGTERM or a `SHUTDOWN` request.
pub(crate) async fn run(args: Args) -> Result<(), DiscoveryError> {
    let access = match args.socket_access.as_str() {
        "group" => SocketAccess::Group,
        _ => SocketAccess::Owner,
    };
    let mut config = DaemonConfig::new(args.address).socket_access(access);
    if args.no_eviction {
        config = config.probe_interval(None);
    }
    let daemon = Daemon::bind_with(config).await?;
    let handle = daemon.shutdown_handle();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("signal received; stopping the discovery daemon");
        handle.shutdown();
    });
    daemon.run().await
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
