//! `cortex topic ...`: inspect registered topics.

use std::time::Duration;

use super::output::outln;

use cortex::discovery::{Client, ClientConfig, DEFAULT_ADDRESS};

/// Subcommands of `cortex topic`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// List every registered topic, with its number of publishers.
    List(Target),
    /// Show every publisher of one topic (node, type, fingerprint, address).
    Info {
        /// Topic name, e.g. /camera/image.
        name: String,
        #[command(flatten)]
        target: Target,
    },
    /// Print the messages of a topic from all its publishers (any type;
    /// standard messages with field names).
    Echo(Watch),
    /// Print the message rate of a topic once per window, in total and per
    /// publisher, with lost messages.
    Hz {
        /// Window length in seconds.
        #[arg(long, default_value_t = 1.0)]
        window: f64,
        #[command(flatten)]
        watch: Watch,
    },
}

/// What `echo` and `hz` watch, and for how long.
#[derive(Debug, clap::Args)]
pub(crate) struct Watch {
    /// Topic name, e.g. /camera/image.
    name: String,
    /// Stop after this many messages (echo) or reports (hz); 0: until Ctrl-C.
    #[arg(long, short = 'n', default_value_t = 0)]
    count: u64,
    /// How long to wait for the topic to appear, in seconds.
    #[arg(long, default_value_t = 10)]
    wait_s: u64,
    #[command(flatten)]
    target: Target,
}

/// Which daemon to ask.
#[derive(Debug, clap::Args)]
pub(crate) struct Target {
    /// Discovery daemon address.
    #[arg(long, env = "CORTEX_DISCOVERY", default_value = DEFAULT_ADDRESS)]
    pub(crate) address: String,
    /// Per-request timeout in milliseconds.
    #[arg(long, default_value_t = 1000)]
    timeout_ms: u64,
}

impl Target {
    /// A client of the daemon, with the request timeout and one retry.
    pub(crate) fn client(&self) -> Client {
        Client::with_config(
            ClientConfig::new(self.address.clone())
                .request_timeout(Duration::from_millis(self.timeout_ms))
                .retries(1),
        )
    }
}

/// Runs a `cortex topic` subcommand.
pub(crate) async fn run(command: Command) -> Result<(), cortex::Error> {
    match command {
        Command::Echo(w) => {
            super::watch::echo(
                &w.target.client(),
                &w.name,
                w.count,
                Duration::from_secs(w.wait_s),
            )
            .await
        }
        Command::Hz { window, watch: w } => {
            if !(window > 0.0 && window.is_finite()) {
                return Err(cortex::Error::InvalidSetting {
                    setting: "--window".into(),
                    problem: format!("must be a positive number of seconds, not {window}"),
                });
            }
            let window = Duration::from_secs_f64(window);
            super::watch::hz(
                &w.target.client(),
                &w.name,
                window,
                w.count,
                Duration::from_secs(w.wait_s),
            )
            .await
        }
        Command::List(target) => list(&target).await,
        Command::Info { name, target } => info(&name, &target).await,
    }
}

/// `cortex topic list`: every topic, its type, how many publishers it has
/// and the oldest one's node and address.
async fn list(target: &Target) -> Result<(), cortex::Error> {
    let client = target.client();
    let topics = client.list().await?;
    if topics.is_empty() {
        outln!("no topics registered at {}", target.address)?;
        return Ok(());
    }
    let width = column(topics.iter().map(|t| t.name.as_str()), "TOPIC");
    let type_width = column(topics.iter().map(|t| t.message_type.as_str()), "TYPE");
    outln!(
        "{:width$}  {:type_width$}  PUBS  NODE / ADDRESS",
        "TOPIC",
        "TYPE"
    )?;
    for t in topics {
        // One request per topic: cheap next to printing the line.
        let publishers = client.publishers(&t.name).await?.len();
        outln!(
            "{:width$}  {:type_width$}  {publishers:>4}  {} {}",
            t.name,
            t.message_type,
            t.publisher_node,
            t.address
        )?;
    }
    Ok(())
}

/// `cortex topic info NAME`: the topic's every publisher, oldest first.
async fn info(name: &str, target: &Target) -> Result<(), cortex::Error> {
    let publishers = target.client().publishers(name).await?;
    if publishers.is_empty() {
        return Err(cortex::Error::TopicNotRegistered {
            topic: name.to_owned(),
            address: target.address.clone(),
        });
    }
    outln!("name:        {name}")?;
    outln!("publishers:  {} (oldest first)", publishers.len())?;
    let node_width = column(publishers.iter().map(|p| p.publisher_node.as_str()), "NODE");
    let type_width = column(publishers.iter().map(|p| p.message_type.as_str()), "TYPE");
    outln!(
        "{:node_width$}  {:type_width$}  {:18}  ADDRESS",
        "NODE",
        "TYPE",
        "FINGERPRINT"
    )?;
    for p in &publishers {
        outln!(
            "{:node_width$}  {:type_width$}  {:#018x}  {}",
            p.publisher_node,
            p.message_type,
            p.fingerprint,
            p.address
        )?;
    }
    Ok(())
}

/// The width of a column holding `values` under `header`.
pub(crate) fn column<'a>(values: impl Iterator<Item = &'a str>, header: &str) -> usize {
    values.map(str::len).max().unwrap_or(0).max(header.len())
}
