//! `cortex topic pub TOPIC TYPE JSON`: publishes a message written as JSON,
//! at a rate until Ctrl-C, or a number of times.
//!
//! The message is built from the JSON object by the field types of TYPE's
//! layout, encoded once, and sent under the type's name and fingerprint by
//! a publisher registered like any other (node `cortex_topic_pub`), so
//! typed and Python subscribers receive it.
//!
//! Where a layout comes from (how schemas are shared): the standard
//! messages (`IntMessage`, `ImageMessage`, ...) are built in; any other
//! type is learnt from the live cortex nodes that publish it, which report
//! each managed publisher's type name, fingerprint and fields to the daemon
//! (`REPORT_NODE`, `cortex node list`). Topic records hold only type names
//! and fingerprints, so a type no running cortex node reports (published by
//! a Python node, by a raw publisher such as `cortex play`, or by nobody now)
//! cannot be built here: the error says so and names the types that can.
//!
//! ZeroMQ drops what is published before a subscription has reached the
//! publisher (the slow-joiner window), so with `--count`/`--once` the first
//! message waits, up to `--wait-timeout`, for `--wait-subscribers`
//! subscribers (default 1); when the wait times out it is sent anyway.

use std::time::Duration;

use bytes::Bytes;
use cortex::codec::Encoder;
use cortex::discovery::Client;
use cortex::pubsub::{PublisherOptions, RawPublisher};
use cortex::{Error, Field, Node, NodeConfig, Result, Schema, Value};
use tokio::time::{Instant, MissedTickBehavior};

use super::json;
use super::output::outln;
use super::schemas::{TypeLayout, STANDARD};
use super::stop::stopped;
use super::topic::Target;

/// How long the per-message line's message text may be.
const SHOWN_CHARS: usize = 200;

/// How long unsent messages may hold up closing: the last one of a
/// `--count` gets this long to leave.
const LINGER: Duration = Duration::from_secs(2);

/// Arguments of `cortex topic pub`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
TYPES: the standard messages (IntMessage, FloatMessage, StringMessage, ImageMessage, ...), \
or a type a live cortex node publishes and reports; --help tells more, with the JSON format \
and examples.")]
#[command(after_long_help = "\
TYPES: the standard messages ArrayMessage, BytesMessage, DictMessage, FloatMessage, \
HeaderMessage, ImageMessage, IntMessage, ListMessage, MultiArrayMessage, PointCloudMessage, \
PoseMessage, StringMessage, TimestampMessage, TransformMessage; and any type a live cortex \
node publishes: nodes report their types' fields to the discovery daemon (`cortex node list`). \
Types only Python nodes or raw publishers (cortex play, Node::raw_publisher) use have no \
reported fields: they are unknown here, publish them from code.

JSON: an object with the type's fields, e.g. '{\"data\": 5}'. Arrays are nested lists or \
{\"dtype\": \"<u1\", \"shape\": [2, 3], \"data\": [1, 2, 3, 4, 5, 6]} (numpy dtype strings); \
bytes are a string or a list of 0..=255; fields of an Option type may be left out; a \
nested message is a list of its fields in order.

EXAMPLES:
  cortex topic pub /count IntMessage '{\"data\": 5}'              # 1 Hz until Ctrl-C
  cortex topic pub /count IntMessage '{\"data\": 5}' --once       # one message, then exit
  cortex topic pub /img ImageMessage '{\"data\": {\"dtype\": \"<u1\", \"shape\": [2, 2], \
\"data\": [0, 1, 2, 3]}, \"encoding\": \"mono8\", \"width\": 2, \"height\": 2}' -r 10 --count 50")]
pub(crate) struct Args {
    /// Topic name, e.g. /count.
    topic: String,
    /// Message type: a standard message, e.g. IntMessage, or one a live
    /// cortex node publishes (see TYPES below).
    #[arg(value_name = "TYPE")]
    message_type: String,
    /// The message: a JSON object of the type's fields, e.g. '{"data": 5}'.
    #[arg(value_name = "JSON", default_value = "{}")]
    message: String,
    /// Messages per second.
    #[arg(long, short = 'r', default_value_t = 1.0, value_name = "HZ")]
    rate: f64,
    /// Publish this many messages, then exit (default: until Ctrl-C).
    #[arg(long, short = 'n', value_name = "N", conflicts_with = "once",
          value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
    /// Publish one message, then exit (`--count 1`).
    #[arg(long, short = '1')]
    once: bool,
    /// Before the first message, wait for this many subscribers (default:
    /// 1 with --count or --once, else 0), so it is not lost while they
    /// connect.
    #[arg(long, value_name = "N")]
    wait_subscribers: Option<u64>,
    /// The longest wait for --wait-subscribers, in seconds; then the
    /// first message is sent anyway.
    #[arg(long, default_value_t = 1.0, value_name = "S")]
    wait_timeout: f64,
    /// The node name the topic is published under.
    #[arg(long, default_value = "cortex_topic_pub")]
    node: String,
    #[command(flatten)]
    target: Target,
}

/// A message ready to send: its encoded body.
struct Built {
    metadata: Vec<u8>,
    oob: Vec<Bytes>,
    /// `IntMessage(data=5)`, for the per-message lines.
    shown: String,
}

/// Publishes until `--count` is reached, Ctrl-C or SIGTERM.
pub(crate) async fn run(args: Args) -> Result<()> {
    let period = positive("--rate", args.rate, "messages per second")
        .and_then(|hz| duration("--rate", 1.0 / hz))?
        // Faster than the clock can tell: as fast as it goes.
        .max(Duration::from_nanos(1));
    let wait = crate::flags::seconds("--wait-timeout", args.wait_timeout, true)?;
    let count = if args.once { Some(1) } else { args.count };
    // A typo fails before anything is registered.
    let given = json::parse_object(&args.message, r#"{"data": 5}"#)
        .map_err(|problem| args.refused(format!("the message {problem}")))?;
    let schema = standard(&args.message_type);
    let layout = match schema {
        Some(schema) => TypeLayout::of(schema),
        None => match reported(&args.target.client(), &args.message_type).await {
            Ok(Some(layout)) => layout,
            Ok(None) => return Err(args.unknown_type().await),
            Err(problem) => return Err(args.refused(problem)),
        },
    };
    let built = build(&layout, &given).map_err(|problem| args.refused(problem))?;

    let node = Node::new(NodeConfig::new(args.node.clone()).discovery(args.target.address.clone()))
        .await?;
    // A standard message's alternate fingerprint (Python's) is the same type.
    let same = |fingerprint| {
        schema.map_or(fingerprint == layout.fingerprint, |s| {
            s.accepts(fingerprint)
        })
    };
    let publishers = node.discovery().publishers(&args.topic).await?;
    if let Some(other) = publishers.iter().find(|p| !same(p.fingerprint)) {
        node.close().await;
        return Err(args.refused(format!(
            "it is published as {} ({:#018x}) by node {} at {}; its subscribers would drop \
             {} messages. Publish {} (if this tool can build it), or use another topic",
            other.message_type,
            other.fingerprint,
            other.publisher_node,
            other.address,
            layout.type_name,
            other.message_type
        )));
    }
    let options = PublisherOptions {
        linger: LINGER,
        ..PublisherOptions::default()
    };
    let publisher = node
        .raw_publisher(&args.topic, &layout.type_name, layout.fingerprint, &options)
        .await?;
    eprintln!(
        "publishing {} ({}, {:#018x}) as node {} at {}",
        args.topic,
        layout.type_name,
        layout.fingerprint,
        args.node,
        publisher.address()
    );
    let result = publish(&args, count, period, wait, &publisher, &built).await;
    let closed = publisher.close().await;
    node.close().await;
    result.and(closed)
}

/// The loop: waits for subscribers, then sends `built` every `period`.
async fn publish(
    args: &Args,
    count: Option<u64>,
    period: Duration,
    wait: Duration,
    publisher: &RawPublisher,
    built: &Built,
) -> Result<()> {
    let mut stop = Box::pin(stopped(None));
    let wanted = args
        .wait_subscribers
        .unwrap_or(if count.is_some() { 1 } else { 0 });
    if wanted > 0 {
        tokio::select! {
            () = &mut stop => return Ok(()),
            waited = publisher.wait_for_subscribers(wanted, wait) => {
                if waited.is_err() {
                    eprintln!(
                        "warning: {} of {wanted} subscriber(s) of {} after {wait:?}; publishing \
                         anyway (allow longer with --wait-timeout)",
                        publisher.stats().subscribers,
                        args.topic
                    );
                }
            }
        }
    }
    let mut tick = tokio::time::interval_at(Instant::now(), period);
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut sent = 0u64;
    while count.is_none_or(|n| sent < n) {
        tokio::select! {
            () = &mut stop => break,
            _ = tick.tick() => {}
        }
        publisher.publish_encoded(&built.metadata, built.oob.clone())?;
        sent += 1;
        outln!("publishing #{sent} to {}: {}", args.topic, built.shown)?;
    }
    Ok(())
}

impl Args {
    /// "cannot publish TYPE to TOPIC: `problem`".
    fn refused(&self, problem: String) -> Error {
        Error::InvalidSetting {
            setting: format!("cannot publish {} to {}", self.message_type, self.topic),
            problem,
        }
    }

    /// Why TYPE cannot be published: the standard messages it may have
    /// meant, or, when a live publisher of the topic uses that type, that
    /// its node has not reported its fields.
    async fn unknown_type(&self) -> Error {
        let names: Vec<&str> = STANDARD.iter().map(|s| s().type_name).collect();
        let supported = format!(
            "this tool builds the standard messages {}",
            names.join(", ")
        );
        let wanted = self.message_type.to_ascii_lowercase();
        if let Some(near) = names.iter().find(|n| {
            let n = n.to_ascii_lowercase();
            n == wanted || n == format!("{wanted}message")
        }) {
            return self.refused(format!("no such type; did you mean {near}? ({supported})"));
        }
        // Best effort: a daemon that does not answer changes only the wording.
        let live = self
            .target
            .client()
            .publishers(&self.topic)
            .await
            .unwrap_or_default()
            .into_iter()
            .find(|p| p.message_type == self.message_type);
        match live {
            Some(p) => self.refused(format!(
                "{} is not a standard message, and node {} publishes it ({:#018x}) without \
                 reporting its fields (a Python node, a raw publisher, or a daemon \
                 without node reports): topic records keep only a type's name and \
                 fingerprint, so this tool cannot build one. Publish it from code with its \
                 Rust or Python type ({supported}, and the types live cortex nodes report: \
                 `cortex node list`)",
                self.message_type, p.publisher_node, p.fingerprint
            )),
            None => self.refused(format!(
                "unknown message type; {supported}, and any type a live cortex node publishes \
                 and reports (`cortex node list`); no running node reports {}",
                self.message_type
            )),
        }
    }
}

/// The standard message called `name`, by its name (`IntMessage`) or its
/// Python class (`cortex.messages.standard.IntMessage`).
fn standard(name: &str) -> Option<&'static Schema> {
    STANDARD
        .iter()
        .map(|schema| schema())
        .find(|s| s.type_name == name || s.python_path == Some(name))
}

/// The layout of the type called `name` as the live cortex nodes that
/// publish it report it; `None` when none does (or the daemon keeps no
/// reports), an error when they report different definitions.
async fn reported(client: &Client, name: &str) -> std::result::Result<Option<TypeLayout>, String> {
    let nodes = match client.list_nodes().await {
        Ok(nodes) => nodes,
        Err(error) => {
            tracing::debug!(%error, "no node reports to learn {name}'s fields from");
            return Ok(None);
        }
    };
    let mut found: Vec<(String, TypeLayout)> = Vec::new();
    for node in nodes {
        for p in node.info.publishes {
            if p.message_type == name
                && !p.fields.is_empty()
                && !found.iter().any(|(_, l)| l.fingerprint == p.fingerprint)
            {
                let layout = TypeLayout {
                    type_name: p.message_type,
                    fingerprint: p.fingerprint,
                    fields: p.fields,
                };
                found.push((node.info.name.clone(), layout));
            }
        }
    }
    if found.len() > 1 {
        let versions: Vec<String> = found
            .iter()
            .map(|(node, l)| format!("node {node} has {:#018x}", l.fingerprint))
            .collect();
        return Err(format!(
            "live nodes publish different definitions of {name} ({}); rebuild them from one \
             definition, or publish from code",
            versions.join(", ")
        ));
    }
    Ok(found.pop().map(|(_, layout)| layout))
}

/// The message of type `layout` from the JSON object `given`, encoded.
fn build(
    layout: &TypeLayout,
    given: &serde_json::Map<String, serde_json::Value>,
) -> std::result::Result<Built, String> {
    let fields = &layout.fields;
    let values = json::to_fields(&layout.type_name, fields, given)?;
    let mut shown = format!("{}(", layout.type_name);
    for (i, ((name, _), value)) in fields.iter().zip(&values).enumerate() {
        let sep = if i > 0 { ", " } else { "" };
        shown.push_str(&format!("{sep}{name}={value}"));
    }
    shown.push(')');
    if let Some((cut, _)) = shown.char_indices().nth(SHOWN_CHARS) {
        shown.truncate(cut);
        shown.push('…');
    }
    // A message body is the list of its fields.
    let mut enc = Encoder::new();
    Value::List(values)
        .write(&mut enc)
        .map_err(|e| format!("the message cannot be encoded: {e}"))?;
    let (metadata, oob) = enc.finish();
    Ok(Built {
        metadata,
        oob,
        shown,
    })
}

/// `value` of the flag `setting`, checked to be a positive number of `unit`.
fn positive(setting: &str, value: f64, unit: &str) -> Result<f64> {
    if value > 0.0 && value.is_finite() {
        return Ok(value);
    }
    Err(Error::InvalidSetting {
        setting: setting.into(),
        problem: format!("must be a positive number of {unit}, not {value}"),
    })
}

/// `secs` seconds, for the flag `setting`: an error if too long to count.
fn duration(setting: &str, secs: f64) -> Result<Duration> {
    Duration::try_from_secs_f64(secs).map_err(|_| Error::InvalidSetting {
        setting: setting.into(),
        problem: format!("{secs:?} s is longer than this tool can wait"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cortex::messages::{ImageMessage, IntMessage};
    use cortex::Message;

    fn given(text: &str) -> serde_json::Map<String, serde_json::Value> {
        json::parse_object(text, "{}").unwrap()
    }

    #[test]
    fn a_standard_message_is_found_by_name_or_python_class() {
        assert_eq!(standard("IntMessage").unwrap().type_name, "IntMessage");
        assert_eq!(
            standard("cortex.messages.standard.ImageMessage")
                .unwrap()
                .type_name,
            "ImageMessage"
        );
        assert!(standard("intmessage").is_none());
        for schema in STANDARD {
            assert!(standard(schema().type_name).is_some());
        }
    }

    #[test]
    fn the_body_decodes_as_the_typed_message() {
        let built = build(
            &TypeLayout::of(IntMessage::schema()),
            &given(r#"{"data": 5}"#),
        )
        .unwrap();
        assert_eq!(built.shown, "IntMessage(data=5)");
        let header = cortex::Header::now(IntMessage::schema().fingerprint, 0).to_bytes();
        let mut frames = vec![Bytes::copy_from_slice(&header), Bytes::from(built.metadata)];
        frames.extend(built.oob);
        let msg = cortex::message::DynamicMessage::decode(&frames).unwrap();
        assert_eq!(msg.fields, vec![Value::Int(5)]);
    }

    #[test]
    fn every_problem_is_named_at_once() {
        let err = build(
            &TypeLayout::of(ImageMessage::schema()),
            &given(r#"{"data": [[1]], "encodng": "mono8", "width": -1}"#),
        )
        .err()
        .unwrap();
        for part in [
            "ImageMessage has no field \"encodng\"",
            "field \"encoding\" (String) is missing",
            "width is u32: -1 is out of its range",
            "field \"height\" (u32) is missing",
            "the fields of ImageMessage, in order: data",
        ] {
            assert!(err.contains(part), "{part} in {err}");
        }
    }
}
