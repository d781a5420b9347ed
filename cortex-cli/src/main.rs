//! The `cortex` command-line tool: runs a discovery daemon, shows what it
//! knows, watches topics and calls services. Argument parsing and dispatch
//! are here; each command lives in its own module.

mod bw;
mod discovery;
mod error;
mod flags;
mod follow;
mod foxglove;
mod json;
mod mcap_info;
mod node;
mod output;
mod play;
mod progress;
mod publishers;
mod record;
mod schemas;
mod service;
mod stop;
mod topic;
mod topic_pub;
mod watch;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use error::CliError;

/// cortex: typed, zero-copy pub/sub over ZeroMQ.
#[derive(Debug, Parser)]
#[command(name = "cortex", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the discovery daemon (the control plane every node talks to).
    Discovery(discovery::Args),
    /// Inspect the topics registered at the discovery daemon.
    Topic {
        #[command(subcommand)]
        command: topic::Command,
    },
    /// List the nodes that report to the discovery daemon.
    Node {
        #[command(subcommand)]
        command: node::Command,
    },
    /// List and call the services registered at the discovery daemon.
    Service {
        #[command(subcommand)]
        command: service::Command,
    },
    /// Record live topics into an MCAP file.
    Record(record::Args),
    /// Republish a recording's topics with their recorded timing and types.
    Play(play::Args),
    /// Show what an MCAP recording holds.
    Info(mcap_info::Args),
    /// Serve live topics to a visualiser.
    Bridge {
        #[command(subcommand)]
        command: foxglove::BridgeCommand,
    },
}

/// Parses the command line, runs the command, and maps errors to exit code 1.
fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Discovery(args) => discovery::run(args).await.map_err(CliError::from),
            Command::Topic { command } => topic::run(command).await.map_err(CliError::from),
            Command::Node { command } => node::run(command).await.map_err(CliError::from),
            Command::Service { command } => service::run(command).await,
            Command::Record(args) => record::run(args).await,
            Command::Play(args) => play::run(args).await,
            Command::Info(args) => mcap_info::run(args),
            Command::Bridge { command } => foxglove::run(command).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of our output went away (`... | head -2`): done.
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr; `RUST_LOG` overrides the default level `info`.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
