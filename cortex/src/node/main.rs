//! What `#[cortex::main]` expands to.

use std::future::Future;
use std::process::ExitCode;

use super::{Node, NodeConfig};

/// Options of `#[cortex::main(...)]`.
#[derive(Debug, Clone, Copy, Default)]
pub struct MainOptions {
    /// Node name; default: the executable's name.
    pub name: Option<&'static str>,
    /// Tokio worker threads; default: tokio's (one per core).
    pub worker_threads: Option<usize>,
    /// Discovery address; default: `CORTEX_DISCOVERY`, else the standard one.
    pub discovery: Option<&'static str>,
    /// Install a `tracing` subscriber that logs to stderr (`RUST_LOG`
    /// filters, default `info`). `#[cortex::main(logging = false)]` leaves
    /// logging to the program (e.g. its own `tracing_subscriber` setup);
    /// without the crate's `logging` feature nothing is installed.
    pub logging: bool,
}

/// Builds the runtime and the node, runs `body`, and turns the outcome into
/// an exit code (errors are printed).
pub fn run_main<F, Fut>(options: MainOptions, body: F) -> ExitCode
where
    F: FnOnce(Node) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    if options.logging {
        install_logging();
    }
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if let Some(n) = options.worker_threads {
        builder.worker_threads(n.max(1));
    }
    let runtime = match builder.build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let name = options.name.map(str::to_owned).unwrap_or_else(|| {
        std::env::current_exe()
            .ok()
            .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "cortex".into())
    });
    let result = runtime.block_on(async move {
        let mut config = NodeConfig::new(name);
        if let Some(address) = options.discovery {
            config = config.discovery(address);
        }
        let node = Node::new(config).await.map_err(|e| e.to_string())?;
        let result = body(node.clone()).await;
        node.close().await;
        result
    });
    // Don't wait for tasks that ignore shutdown (e.g. a blocked handler).
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr; `RUST_LOG` overrides the default level `info`. Leaves an
/// already installed subscriber alone.
#[cfg(feature = "logging")]
fn install_logging() {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
}

#[cfg(not(feature = "logging"))]
fn install_logging() {}
