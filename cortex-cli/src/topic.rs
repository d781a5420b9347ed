//! `cortex topic ...`: inspect registered topics.

use std::time::Duration;

use super::output::outln;

use cortex::discovery::{Client, ClientConfig, NodePublication, DEFAULT_ADDRESS};

/// Subcommands of `cortex topic`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// List every registered topic, with its number of publishers.
    List {
        /// Print one JSON array instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Show every publisher of one topic (node, type, fingerprint,
    /// subscribers, address) and the nodes that subscribe to it.
    Info {
        /// Topic name, e.g. /camera/image.
        name: String,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Print the messages of a topic from all its publishers (any type;
    /// fields named for standard messages and for types a running node
    /// reports, by position otherwise).
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
    /// Publish a message written as JSON (a standard type, or one a live
    /// node reports): at a rate until Ctrl-C, or --count/--once times.
    Pub(super::topic_pub::Args),
    /// Print the bandwidth of a topic once per window: bytes per second,
    /// message count, mean/min/max message size.
    Bw {
        /// Window length in seconds.
        #[arg(long, default_value_t = 1.0)]
        window: f64,
        #[command(flatten)]
        watch: Watch,
    },
}

/// What `echo`, `hz` and `bw` watch, and for how long.
#[derive(Debug, clap::Args)]
pub(crate) struct Watch {
    /// Topic name, e.g. /camera/image.
    pub(crate) name: String,
    /// Stop after this many messages (echo) or reports (hz, bw); 0: until
    /// Ctrl-C.
    #[arg(long, short = 'n', default_value_t = 0)]
    pub(crate) count: u64,
    /// How long to wait for the topic to appear, in seconds.
    #[arg(long, default_value_t = 10)]
    pub(crate) wait_s: u64,
    #[command(flatten)]
    pub(crate) target: Target,
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
            let window = crate::flags::seconds("--window", window, true)?;
            super::watch::hz(
                &w.target.client(),
                &w.name,
                window,
                w.count,
                Duration::from_secs(w.wait_s),
            )
            .await
        }
        Command::Pub(args) => super::topic_pub::run(args).await,
        Command::Bw { window, watch } => {
            let window = crate::flags::seconds("--window", window, true)?;
            super::bw::run(window, &watch).await
        }
        Command::List { json, target } => list(json, &target).await,
        Command::Info { name, json, target } => info(&name, json, &target).await,
    }
}

/// `cortex topic list`: every topic, its type, how many publishers it has
/// and the oldest one's node and address.
async fn list(json: bool, target: &Target) -> Result<(), cortex::Error> {
    let client = target.client();
    let topics = client.list().await?;
    if json {
        let mut out = Vec::with_capacity(topics.len());
        for t in &topics {
            let publishers = client.publishers(&t.name).await?.len();
            out.push(serde_json::json!({
                "name": t.name,
                "type": t.message_type,
                "fingerprint": t.fingerprint,
                "publishers": publishers,
                "node": t.publisher_node,
                "address": t.address,
            }));
        }
        outln!("{}", serde_json::Value::Array(out))?;
        return Ok(());
    }
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

/// `cortex topic info NAME`: the topic's every publisher, oldest first,
/// with its subscribers (as its node reports them), and the nodes that
/// report subscribing to it.
async fn info(name: &str, json: bool, target: &Target) -> Result<(), cortex::Error> {
    let client = target.client();
    let publishers = client.publishers(name).await?;
    if publishers.is_empty() {
        return Err(cortex::Error::TopicNotRegistered {
            topic: name.to_owned(),
            address: target.address.clone(),
        });
    }
    // Without node reports (a Python daemon) the rest is still shown.
    let nodes = match client.list_nodes().await {
        Ok(nodes) => Some(nodes),
        Err(error) => {
            tracing::debug!(%error, "no node reports");
            None
        }
    };
    // A publisher's subscribers, from its node's report (none for a
    // Python publisher, or one its node does not manage).
    let counts: Vec<Option<&NodePublication>> = publishers
        .iter()
        .map(|p| {
            nodes.iter().flatten().find_map(|n| {
                (n.info.name == p.publisher_node)
                    .then(|| {
                        n.info
                            .publishes
                            .iter()
                            .find(|x| x.topic == p.name && x.address == p.address)
                    })
                    .flatten()
            })
        })
        .collect();
    let subscribing: Option<Vec<&str>> = nodes.as_ref().map(|nodes| {
        let mut names: Vec<&str> = nodes
            .iter()
            .filter(|n| n.info.subscribes.iter().any(|s| s.topic == name))
            .map(|n| n.info.name.as_str())
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    });
    if json {
        let publishers: Vec<serde_json::Value> = publishers
            .iter()
            .zip(&counts)
            .map(|(p, count)| {
                serde_json::json!({
                    "node": p.publisher_node,
                    "type": p.message_type,
                    "fingerprint": p.fingerprint,
                    "address": p.address,
                    "subscribers": count.map(|c| c.subscribers),
                    "shared_memory_subscribers": count.map(|c| c.shared_memory_subscribers),
                })
            })
            .collect();
        let out = serde_json::json!({
            "name": name,
            "publishers": publishers,
            "subscribing_nodes": subscribing,
        });
        outln!("{out}")?;
        return Ok(());
    }
    outln!("name:        {name}")?;
    outln!("publishers:  {} (oldest first)", publishers.len())?;
    let node_width = column(publishers.iter().map(|p| p.publisher_node.as_str()), "NODE");
    let type_width = column(publishers.iter().map(|p| p.message_type.as_str()), "TYPE");
    // SUBS only when some publisher's node reports it: a column of "-"
    // says nothing.
    let subs: Option<Vec<String>> = counts.iter().any(Option::is_some).then(|| {
        counts
            .iter()
            .map(|c| c.map_or_else(|| "-".to_owned(), |c| c.subscribers.to_string()))
            .collect()
    });
    let subs_header = if subs.is_some() { "SUBS  " } else { "" };
    outln!(
        "{:node_width$}  {:type_width$}  {:18}  {subs_header}ADDRESS",
        "NODE",
        "TYPE",
        "FINGERPRINT"
    )?;
    for (i, p) in publishers.iter().enumerate() {
        let subs = subs
            .as_ref()
            .map_or_else(String::new, |s| format!("{:>4}  ", s[i]));
        outln!(
            "{:node_width$}  {:type_width$}  {:#018x}  {subs}{}",
            p.publisher_node,
            p.message_type,
            p.fingerprint,
            p.address
        )?;
    }
    match subscribing {
        Some(names) if names.is_empty() => outln!("subscribing nodes: none reported")?,
        Some(names) => outln!("subscribing nodes: {}", names.join(", "))?,
        None => outln!(
            "subscribing nodes: unknown (this daemon does not track nodes; the cortex daemon, \
             `cortex discovery`, does)"
        )?,
    }
    Ok(())
}

/// The width of a column holding `values` under `header`.
pub(crate) fn column<'a>(values: impl Iterator<Item = &'a str>, header: &str) -> usize {
    values.map(str::len).max().unwrap_or(0).max(header.len())
}
