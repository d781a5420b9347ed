//! `cortex bridge foxglove`: live topics served to the Foxglove app over
//! its WebSocket protocol.
//!
//! Each cortex topic becomes one Foxglove channel when its first message
//! arrives, shown as [`Mapping`] chooses. Messages are converted only
//! while a client subscribes to their channel; each is logged with its
//! header's `timestamp_ns` as log time. A message that cannot be converted
//! is skipped and counted: the first of each topic is told on stderr, the
//! counts at the end.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use ::foxglove::{ChannelBuilder, Context, FoxgloveError, PartialMetadata, RawChannel, Schema};
use cortex::discovery::Client;
use cortex::Header;
use tokio::sync::mpsc;

use super::convert::Mapping;
use crate::error::CliError;
use crate::follow::{follow, follow_all, Incoming};
use crate::schemas::{find_layout, TypeLayout};
use crate::topic::Target;

/// How long a stopping server may take to close its connections.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(2);

/// Arguments of `cortex bridge foxglove`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Topics to serve, e.g. /camera/image (default: every topic,
    /// including ones registered later).
    topics: Vec<String>,
    /// The address to listen on; 0.0.0.0 also serves other machines.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// The port to listen on; 0 picks a free one (printed at start).
    #[arg(long, default_value_t = 8765)]
    port: u16,
    #[command(flatten)]
    target: Target,
}

/// Serves until Ctrl-C or SIGTERM.
pub(crate) async fn run(args: Args) -> Result<(), CliError> {
    let context = Context::new();
    let server = ::foxglove::WebSocketServer::new()
        .name("cortex")
        .context(&context)
        .bind(args.host.as_str(), args.port)
        .start()
        .await
        .map_err(|e| start_error(&args.host, args.port, e))?;
    let what = if args.topics.is_empty() {
        "every topic".to_owned()
    } else {
        args.topics.join(", ")
    };
    // Tests read the port from this line: keep its start as it is.
    eprintln!(
        "serving ws://{}:{} ({what}); open it in Foxglove: Open connection → Foxglove WebSocket",
        url_host(&args.host),
        server.port()
    );

    let client = args.target.client();
    let (tx, mut rx) = mpsc::channel::<Incoming>(1024);
    let mut followers = Vec::new();
    if args.topics.is_empty() {
        followers.push(tokio::spawn(follow_all(client.clone(), tx, "bridging")));
    } else {
        let mut seen = HashSet::new();
        for topic in args.topics.iter().filter(|t| seen.insert(*t)) {
            followers.push(tokio::spawn(follow(
                client.clone(),
                topic.clone(),
                tx.clone(),
                "bridging",
            )));
        }
        drop(tx);
    }

    let mut bridge = Bridge::new(context);
    let mut stop = Box::pin(crate::stop::stopped(None));
    loop {
        tokio::select! {
            () = &mut stop => break,
            incoming = rx.recv() => match incoming {
                Some(m) => {
                    bridge.learn_layout(&client, &m).await;
                    bridge.forward(&m);
                }
                None => break,
            },
        }
    }
    for follower in followers {
        follower.abort();
    }
    // Closes the connections; a client that does not answer is dropped.
    let _ = tokio::time::timeout(SHUTDOWN_WAIT, server.stop().wait()).await;
    bridge.report();
    Ok(())
}

/// The host as a URL spells it (IPv6 in brackets).
fn url_host(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// The error of a server that did not start, saying what to do.
fn start_error(host: &str, port: u16, error: FoxgloveError) -> CliError {
    let problem = match &error {
        FoxgloveError::Bind(e) if e.kind() == std::io::ErrorKind::AddrInUse => format!(
            "port {port} on {host} is in use (another bridge or Foxglove server?); pick another \
             with --port, e.g. --port 8766, or --port 0 for any free one"
        ),
        FoxgloveError::Bind(e) => format!(
            "cannot listen on {host}:{port} ({e}); check --host (an address of this machine, \
             e.g. 127.0.0.1 or 0.0.0.0) and --port"
        ),
        other => format!("cannot start the Foxglove WebSocket server on {host}:{port}: {other}"),
    };
    CliError::Cortex(cortex::Error::InvalidSetting {
        setting: "--port".into(),
        problem,
    })
}

/// The Foxglove channels of the topics seen so far, and the counts.
struct Bridge {
    context: Arc<Context>,
    channels: HashMap<Arc<str>, Served>,
    /// Reused for each converted message.
    buffer: Vec<u8>,
    /// The layouts of the types seen, by fingerprint (`None`: not known).
    layouts: HashMap<u64, Option<TypeLayout>>,
    forwarded: u64,
    /// Skipped messages per topic: how many, and why the first was.
    skipped: BTreeMap<Arc<str>, (u64, String)>,
}

/// A topic's channel.
struct Served {
    channel: Arc<RawChannel>,
    mapping: Mapping,
    type_name: String,
}

impl Bridge {
    fn new(context: Arc<Context>) -> Self {
        Self {
            context,
            channels: HashMap::new(),
            buffer: Vec::new(),
            layouts: HashMap::new(),
            forwarded: 0,
            skipped: BTreeMap::new(),
        }
    }

    /// Before the first message of a type: asks who knows its fields (see
    /// [`find_layout`]), so its JSON has field names.
    async fn learn_layout(&mut self, client: &Client, m: &Incoming) {
        if self.channels.contains_key(&m.topic) {
            return;
        }
        let Some(Ok(header)) = m.frames.first().map(|h| Header::from_bytes(h)) else {
            return;
        };
        if let Entry::Vacant(entry) = self.layouts.entry(header.fingerprint) {
            entry.insert(find_layout(client, header.fingerprint).await);
        }
    }

    /// Logs `m` on its topic's channel, advertising the channel first if
    /// this is the topic's first message.
    fn forward(&mut self, m: &Incoming) {
        let header = match m.frames.first().map(|h| Header::from_bytes(h)) {
            Some(Ok(header)) => header,
            Some(Err(e)) => return self.skip(&m.topic, e.to_string()),
            None => return self.skip(&m.topic, "it has no frames".into()),
        };
        if !self.channels.contains_key(&m.topic) {
            match self.advertise(m, header.fingerprint) {
                Ok(served) => self.channels.insert(m.topic.clone(), served),
                Err(e) => return self.skip(&m.topic, e),
            };
        }
        let Some(served) = self.channels.get(&m.topic) else {
            return;
        };
        if !served.mapping.accepts(header.fingerprint) {
            let problem = format!(
                "it is a {} (0x{:016x}) from node {}, but the topic is shown as {}; publish one \
                 type per topic",
                m.from.message_type, header.fingerprint, m.from.publisher_node, served.type_name
            );
            return self.skip(&m.topic, problem);
        }
        if !served.channel.has_sinks() {
            return; // Nobody watches this topic: no need to convert.
        }
        match served.mapping.encode(&m.frames, &mut self.buffer) {
            Ok(header) => {
                served.channel.log_with_meta(
                    &self.buffer,
                    PartialMetadata::with_log_time(header.timestamp_ns),
                );
                self.forwarded += 1;
            }
            Err(e) => self.skip(&m.topic, e.to_string()),
        }
    }

    /// A channel for the topic of `m`, of the type with `fingerprint`.
    fn advertise(&self, m: &Incoming, fingerprint: u64) -> Result<Served, String> {
        let type_name = m.from.message_type.clone();
        let layout = self.layouts.get(&fingerprint).and_then(Option::as_ref);
        let mapping = Mapping::for_type(fingerprint, &type_name, layout);
        let channel = ChannelBuilder::new(m.topic.as_ref())
            .context(&self.context)
            .message_encoding(mapping.message_encoding())
            .schema(Schema::new(
                mapping.schema_name(),
                mapping.schema_encoding(),
                mapping.schema_data().to_vec(),
            ))
            .add_metadata("cortex_type", &type_name)
            .add_metadata("cortex_fingerprint", &format!("{fingerprint:#018x}"))
            .build_raw()
            .map_err(|e| format!("cannot create its Foxglove channel: {e}"))?;
        eprintln!(
            "advertised {} ({type_name}) as {} ({})",
            m.topic,
            mapping.schema_name(),
            mapping.message_encoding()
        );
        Ok(Served {
            channel,
            mapping,
            type_name,
        })
    }

    /// Counts a skipped message of `topic`; the first one is told.
    fn skip(&mut self, topic: &Arc<str>, problem: String) {
        let entry = self.skipped.entry(topic.clone()).or_insert_with(|| {
            eprintln!(
                "warning: skipping a message of {topic}: {problem} (further ones are counted)"
            );
            (0, problem)
        });
        entry.0 += 1;
    }

    /// What was served, and what was skipped.
    fn report(&self) {
        eprintln!(
            "bridged {} messages on {} topics",
            self.forwarded,
            self.channels.len()
        );
        if self.skipped.is_empty() {
            return;
        }
        let total: u64 = self.skipped.values().map(|(n, _)| n).sum();
        eprintln!("skipped {total} messages that could not be shown:");
        for (topic, (n, first)) in &self.skipped {
            eprintln!("  {topic}: {n} (the first: {first})");
        }
    }
}
