//! `cortex topic ...`: inspect registered topics.

use std::time::Duration;

use super::output::outln;

use cortex::discovery::{Client, ClientConfig, DEFAULT_ADDRESS};

/// Subcommands of `cortex topic`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// List every registered topic.
    List(Target),
    /// Show the record of one topic.
    Info {
        /// Topic name, e.g. /camera/image.
        name: String,
        #[command(flatten)]
        target: Target,
    },
    /// Print the messages of a topic (any type; standard messages with field names).
    Echo(Watch),
    /// Print the message rate of a topic once per window, with lost messages.
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
    address: String,
    /// Per-request timeout in milliseconds.
    #[arg(long, default_value_t = 1000)]
    timeout_ms: u64,
}

impl Target {
    fn client(&self) -> Client {
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
        Command::List(target) => {
            let topics = target.client().list().await?;
            if topics.is_empty() {
                outln!("no topics registered at {}", target.address)?;
                return Ok(());
            }
            let width = topics
                .iter()
                .map(|t| t.name.len())
                .max()
                .unwrap_or(0)
                .max(5);
            let type_width = topics
                .iter()
                .map(|t| t.message_type.len())
                .max()
                .unwrap_or(0)
                .max(4);
            outln!("{:width$}  {:type_width$}  NODE / ADDRESS", "TOPIC", "TYPE")?;
            for t in topics {
                outln!(
                    "{:width$}  {:type_width$}  {} {}",
                    t.name,
                    t.message_type,
                    t.publisher_node,
                    t.address
                )?;
            }
            Ok(())
        }
        Command::Info { name, target } => {
            match target.client().lookup(&name).await? {
                Some(t) => {
                    outln!("name:           {}", t.name)?;
                    outln!("address:        {}", t.address)?;
                    outln!("message_type:   {}", t.message_type)?;
                    outln!("fingerprint:    {:#018x}", t.fingerprint)?;
                    outln!("publisher_node: {}", t.publisher_node)?;
                }
                None => {
                    return Err(cortex::Error::TopicNotRegistered {
                        topic: name,
                        address: target.address,
                    })
                }
            }
            Ok(())
        }
    }
}
