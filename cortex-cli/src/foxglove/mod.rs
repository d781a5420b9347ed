//! Showing cortex topics in Foxglove: how each message type is converted
//! ([`convert`], also used for recordings), and the live WebSocket bridge
//! (`cortex bridge foxglove`).

mod bridge;
pub(crate) mod convert;
mod json_view;
mod rotation;

use crate::error::CliError;

/// Subcommands of `cortex bridge`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum BridgeCommand {
    /// Serve live topics to the Foxglove app over its WebSocket protocol
    /// (in Foxglove: Open connection → Foxglove WebSocket).
    Foxglove(bridge::Args),
}

/// Runs a `cortex bridge` subcommand.
pub(crate) async fn run(command: BridgeCommand) -> Result<(), CliError> {
    match command {
        BridgeCommand::Foxglove(args) => bridge::run(args).await,
    }
}
