//! The discovery wire protocol, byte-compatible with the Python cortex.
//!
//! A request is one msgpack map `{command, topic_name, [topic_info]}`; a
//! response is `{status, message, [topic_info], [topics]}`. The cortex
//! extensions add keys a Python daemon ignores: `version` (both ways, for
//! `WATCH_PUBLISHERS`) and `latched` (a latched publisher's `REGISTER_TOPIC`,
//! and per record in `WATCH_PUBLISHERS` answers); node reports add
//! `node_info` (requests) and `nodes`, `ages_ms` (`LIST_NODES` answers),
//! sent only with the commands that use them. `topic_info` is
//! itself msgpack: a `bin` holding the map
//! `{name, address, message_type, fingerprint, publisher_node}`.
//!
//! Encoding writes keys in that order with the smallest msgpack encodings,
//! so decoding the Python vectors and encoding them again gives the same
//! bytes. Decoding accepts any valid encoding and reads maps by key.
//!
//! Both directions go through the message codec's msgpack reader and
//! writer ([`crate::codec`]), with its limits: values nest at most
//! [`MAX_DEPTH`](crate::codec::MAX_DEPTH) levels, extension types are
//! rejected (also under keys this side skips), and a map with a repeated
//! key is rejected rather than read as one of the two.
//!
//! Extensions are new command numbers, never new `TopicInfo` keys (the
//! Python client builds its `TopicInfo` from every key it receives). A
//! Python daemon answers an unknown command with `ERROR`, so a cortex client
//! can detect the extension is missing and fall back.

use std::fmt;

use super::error::ProtocolError;
use crate::codec::{Decoder, EncodeError, Encoder, Int, ValueKind};

/// Largest request or response body the daemon and client accept.
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;

/// Longest topic name a daemon accepts, in bytes.
pub const MAX_TOPIC_NAME: usize = 1024;

/// How the `ERROR` message of a daemon that holds as many long polls as it
/// may (`WAIT_FOR_TOPIC`, `WATCH_PUBLISHERS`) begins: the client then asks
/// without being held, at intervals, until there is room again.
pub const TOO_MANY_WAITING: &str = "too many clients waiting";

/// Longest address, message type or node name a daemon accepts, in bytes.
pub const MAX_RECORD_FIELD: usize = 1024;

/// Where a topic is published: the record the daemon stores per topic.
///
/// The five fields are exactly the Python cortex's `TopicInfo`; never add
/// any (the Python client would reject the record).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TopicInfo {
    /// Topic name, e.g. `/camera/image`.
    pub name: String,
    /// ZeroMQ endpoint subscribers connect to, e.g. `ipc:///tmp/cortex/topics/x.sock`.
    pub address: String,
    /// Message type name, e.g. `ImageMessage`.
    pub message_type: String,
    /// 64-bit fingerprint of the message type.
    pub fingerprint: u64,
    /// Name of the node that publishes the topic.
    pub publisher_node: String,
}

impl TopicInfo {
    /// Encodes the record as its msgpack map (without the outer `bin`).
    pub fn encode(&self) -> Vec<u8> {
        encoded(|w| {
            w.write_map_len(5)?;
            w.write_str("name")?;
            w.write_str(&self.name)?;
            w.write_str("address")?;
            w.write_str(&self.address)?;
            w.write_str("message_type")?;
            w.write_str(&self.message_type)?;
            w.write_str("fingerprint")?;
            w.write_u64(self.fingerprint);
            w.write_str("publisher_node")?;
            w.write_str(&self.publisher_node)
        })
    }

    /// Checks what a daemon stores: a non-empty topic name of at most
    /// [`MAX_TOPIC_NAME`] bytes, the other text fields at most
    /// [`MAX_RECORD_FIELD`] bytes and non-empty, and an address a
    /// subscriber can connect to and the daemon can probe (see
    /// [`check_topic_address`](super::check_topic_address)).
    pub fn check(&self) -> Result<(), String> {
        if self.name.is_empty() || self.name.contains('\0') {
            return Err("the topic name is empty or contains NUL".into());
        }
        if self.name.len() > MAX_TOPIC_NAME {
            return Err(format!(
                "the topic name is {} bytes long; the limit is {MAX_TOPIC_NAME}",
                self.name.len()
            ));
        }
        for (what, value) in [
            ("message_type", &self.message_type),
            ("publisher_node", &self.publisher_node),
            ("address", &self.address),
        ] {
            if value.is_empty() || value.len() > MAX_RECORD_FIELD {
                return Err(format!(
                    "{what} must be 1 to {MAX_RECORD_FIELD} bytes long, not {}",
                    value.len()
                ));
            }
        }
        super::address::check_topic_address(&self.address)
    }

    /// Decodes a record from its msgpack map. Unknown keys are ignored.
    pub fn decode(bytes: &[u8]) -> Result<Self, ProtocolError> {
        whole("topic_info", bytes, |dec| {
            let (mut name, mut address, mut message_type, mut fingerprint, mut node) =
                (None, None, None, None, None);
            dec.read_map_by_key(|key, dec| {
                match key {
                    b"name" => name = Some(string(dec, "topic_info.name")?),
                    b"address" => address = Some(string(dec, "topic_info.address")?),
                    b"message_type" => message_type = Some(string(dec, "topic_info.message_type")?),
                    b"fingerprint" => fingerprint = Some(int(dec, "topic_info.fingerprint")?),
                    b"publisher_node" => node = Some(string(dec, "topic_info.publisher_node")?),
                    _ => skip(dec, "topic_info")?,
                }
                Ok::<(), ProtocolError>(())
            })?;
            let missing = |key| ProtocolError::MissingKey {
                what: "topic_info",
                key,
            };
            let fingerprint = fingerprint.ok_or_else(|| missing("fingerprint"))?;
            Ok(Self {
                name: name.ok_or_else(|| missing("name"))?,
                address: address.ok_or_else(|| missing("address"))?,
                message_type: message_type.ok_or_else(|| missing("message_type"))?,
                fingerprint: u64::try_from(fingerprint).map_err(|_| ProtocolError::OutOfRange {
                    what: "topic_info.fingerprint",
                    value: fingerprint,
                })?,
                publisher_node: node.ok_or_else(|| missing("publisher_node"))?,
            })
        })
    }

    /// Reads the `bin` (or, leniently, `str`) that carries a nested record.
    fn read_nested(dec: &mut Decoder<'_>, what: &'static str) -> Result<Self, ProtocolError> {
        let bytes = match dec
            .peek_kind()
            .map_err(|k| ProtocolError::decode(what, k))?
        {
            ValueKind::Str => dec.read_str_bytes(),
            _ => dec.read_bin(),
        }
        .map_err(|k| ProtocolError::decode(what, k))?;
        Self::decode(bytes)
    }
}

/// Most publications, subscriptions and services together in one
/// [`NodeInfo`] a daemon stores.
pub const MAX_NODE_ENTRIES: usize = 1024;

/// Most type fields, over all its publications, in one [`NodeInfo`] a
/// daemon stores.
pub const MAX_NODE_FIELDS: usize = 4096;

/// Largest [`NodeInfo`] a daemon stores, encoded, in bytes: room for a
/// few hundred topics. A larger report is refused with `ERROR`; one
/// carried in a larger `bin` is not even decoded.
pub const MAX_NODE_REPORT: usize = 64 << 10;

/// What a node does, as it reports it (`REPORT_NODE`, cortex extension).
///
/// On the wire a msgpack map with the keys `name`, `instance`, `host`,
/// `pid`, `interval_ms`, `publishes`, `subscribes`, `serves`, carried as a
/// `bin` like [`TopicInfo`]. Readers ignore unknown keys and take a missing
/// list as empty, so later versions may add keys.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeInfo {
    /// The node's name (several processes may run nodes of one name).
    pub name: String,
    /// A number the node picks at random when it starts: tells apart nodes
    /// of one name, and a restarted node from its predecessor.
    pub instance: u64,
    /// The host the node runs on (its host name).
    pub host: String,
    /// The node's process id on that host.
    pub pid: u32,
    /// How often the node reports (key `interval_ms`): the daemon forgets
    /// the node after three intervals without a report.
    pub interval: std::time::Duration,
    /// The topics it publishes, with each publisher's subscribers now.
    pub publishes: Vec<NodePublication>,
    /// The topics it subscribes to.
    pub subscribes: Vec<NodeSubscription>,
    /// The services it serves.
    pub serves: Vec<NodeService>,
}

/// One topic a node publishes, in a [`NodeInfo`]: a map with the keys
/// `topic`, `message_type`, `address`, `subscribers`,
/// `shared_memory_subscribers`, `fingerprint` and `fields` (the type's
/// fields in wire order, each a `[name, type]` pair: how tools learn the
/// layout of a type they were not built with).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodePublication {
    /// The topic.
    pub topic: String,
    /// Its message type's name.
    pub message_type: String,
    /// The publisher's endpoint, as in its discovery record (tells apart
    /// two publishers of one topic).
    pub address: String,
    /// Subscribers connected now, over either path: cortex and Python
    /// subscribers and command-line tools alike (the publisher counts the
    /// subscriptions that reach its socket).
    pub subscribers: u64,
    /// Of those, the ones that receive through shared memory.
    pub shared_memory_subscribers: u64,
    /// The message type's fingerprint (0 when not reported).
    pub fingerprint: u64,
    /// The message type's fields in wire order: name and type as tools
    /// print them ([`FieldSchema`](crate::message::FieldSchema)).
    pub fields: Vec<(String, String)>,
}

/// One topic a node subscribes to, in a [`NodeInfo`]: a map with the keys
/// `topic`, `message_type`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeSubscription {
    /// The topic.
    pub topic: String,
    /// The message type the node expects.
    pub message_type: String,
}

/// One service a node serves, in a [`NodeInfo`]: a map with the keys
/// `name`, `message_type` (`"Req -> Rep"`, as in the service's record).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeService {
    /// The service name.
    pub name: String,
    /// Its types, `"Req -> Rep"`.
    pub message_type: String,
}

impl NodeInfo {
    /// A report of the node `name` (instance `instance`) that does nothing
    /// yet, from this process and host.
    pub fn new(name: impl Into<String>, instance: u64) -> Self {
        Self {
            name: name.into(),
            instance,
            host: String::new(),
            pid: std::process::id(),
            interval: std::time::Duration::ZERO,
            publishes: Vec::new(),
            subscribes: Vec::new(),
            serves: Vec::new(),
        }
    }

    /// Encodes the report as its msgpack map (without the outer `bin`).
    pub fn encode(&self) -> Vec<u8> {
        encoded(|w| {
            w.write_map_len(8)?;
            w.write_str("name")?;
            w.write_str(&self.name)?;
            w.write_str("instance")?;
            w.write_u64(self.instance);
            w.write_str("host")?;
            w.write_str(&self.host)?;
            w.write_str("pid")?;
            w.write_u64(u64::from(self.pid));
            w.write_str("interval_ms")?;
            w.write_u64(u64::try_from(self.interval.as_millis()).unwrap_or(u64::MAX));
            w.write_str("publishes")?;
            w.write_array_len(self.publishes.len())?;
            for p in &self.publishes {
                w.write_map_len(7)?;
                w.write_str("topic")?;
                w.write_str(&p.topic)?;
                w.write_str("message_type")?;
                w.write_str(&p.message_type)?;
                w.write_str("address")?;
                w.write_str(&p.address)?;
                w.write_str("subscribers")?;
                w.write_u64(p.subscribers);
                w.write_str("shared_memory_subscribers")?;
                w.write_u64(p.shared_memory_subscribers);
                w.write_str("fingerprint")?;
                w.write_u64(p.fingerprint);
                w.write_str("fields")?;
                w.write_array_len(p.fields.len())?;
                for (name, ty) in &p.fields {
                    w.write_array_len(2)?;
                    w.write_str(name)?;
                    w.write_str(ty)?;
                }
            }
            w.write_str("subscribes")?;
            w.write_array_len(self.subscribes.len())?;
            for s in &self.subscribes {
                w.write_map_len(2)?;
                w.write_str("topic")?;
                w.write_str(&s.topic)?;
                w.write_str("message_type")?;
                w.write_str(&s.message_type)?;
            }
            w.write_str("serves")?;
            w.write_array_len(self.serves.len())?;
            for s in &self.serves {
                w.write_map_len(2)?;
                w.write_str("name")?;
                w.write_str(&s.name)?;
                w.write_str("message_type")?;
                w.write_str(&s.message_type)?;
            }
            Ok(())
        })
    }

    /// Decodes a report from its msgpack map. Unknown keys are ignored; a
    /// missing `host` is empty, a missing `pid` or `interval_ms` 0, a
    /// missing list empty.
    pub fn decode(bytes: &[u8]) -> Result<Self, ProtocolError> {
        whole("node_info", bytes, |dec| {
            let (mut name, mut instance) = (None, None);
            let mut info = NodeInfo::default();
            dec.read_map_by_key(|key, dec| {
                match key {
                    b"name" => name = Some(string(dec, "node_info.name")?),
                    b"instance" => instance = Some(unsigned(dec, "node_info.instance")?),
                    b"host" => info.host = string(dec, "node_info.host")?,
                    b"pid" => {
                        let pid = unsigned(dec, "node_info.pid")?;
                        info.pid = u32::try_from(pid).map_err(|_| ProtocolError::OutOfRange {
                            what: "node_info.pid",
                            value: i128::from(pid),
                        })?;
                    }
                    b"interval_ms" => {
                        let ms = unsigned(dec, "node_info.interval_ms")?;
                        info.interval = std::time::Duration::from_millis(ms);
                    }
                    b"publishes" => {
                        info.publishes = maps(dec, "node_info.publishes", NodePublication::read)?
                    }
                    b"subscribes" => {
                        info.subscribes = maps(dec, "node_info.subscribes", NodeSubscription::read)?
                    }
                    b"serves" => info.serves = maps(dec, "node_info.serves", NodeService::read)?,
                    _ => skip(dec, "node_info")?,
                }
                Ok::<(), ProtocolError>(())
            })?;
            let missing = |key| ProtocolError::MissingKey {
                what: "node_info",
                key,
            };
            info.name = name.ok_or_else(|| missing("name"))?;
            info.instance = instance.ok_or_else(|| missing("instance"))?;
            Ok(info)
        })
    }

    /// Checks what a daemon stores: a node name of 1 to
    /// [`MAX_RECORD_FIELD`] bytes without NUL, and every other text at
    /// most [`MAX_RECORD_FIELD`] bytes (topic names [`MAX_TOPIC_NAME`]).
    /// The size of the whole is checked against [`MAX_NODE_REPORT`]
    /// separately.
    pub fn check(&self) -> Result<(), String> {
        if self.name.is_empty() || self.name.contains('\0') {
            return Err("the node name is empty or contains NUL".into());
        }
        let texts = std::iter::once(("name", &self.name))
            .chain(std::iter::once(("host", &self.host)))
            .chain(self.publishes.iter().flat_map(|p| {
                [
                    ("publishes.topic", &p.topic),
                    ("publishes.message_type", &p.message_type),
                    ("publishes.address", &p.address),
                ]
                .into_iter()
                .chain(p.fields.iter().flat_map(|(name, ty)| {
                    [
                        ("publishes.fields.name", name),
                        ("publishes.fields.type", ty),
                    ]
                }))
            }))
            .chain(self.subscribes.iter().flat_map(|s| {
                [
                    ("subscribes.topic", &s.topic),
                    ("subscribes.message_type", &s.message_type),
                ]
            }))
            .chain(self.serves.iter().flat_map(|s| {
                [
                    ("serves.name", &s.name),
                    ("serves.message_type", &s.message_type),
                ]
            }));
        let (entries, fields) = self.items();
        if entries > MAX_NODE_ENTRIES || fields > MAX_NODE_FIELDS {
            return Err(format!(
                "it lists {entries} publications, subscriptions and services and {fields} \
                 fields; the limits are {MAX_NODE_ENTRIES} and {MAX_NODE_FIELDS}"
            ));
        }
        for (what, value) in texts {
            let limit = MAX_RECORD_FIELD.max(MAX_TOPIC_NAME);
            if value.len() > limit {
                return Err(format!(
                    "{what} is {} bytes long; the limit is {limit}",
                    value.len()
                ));
            }
        }
        Ok(())
    }

    /// Reads the `bin` (or, leniently, `str`) that carries a nested report.
    fn read_nested(dec: &mut Decoder<'_>, what: &'static str) -> Result<Self, ProtocolError> {
        let bytes = match dec
            .peek_kind()
            .map_err(|k| ProtocolError::decode(what, k))?
        {
            ValueKind::Str => dec.read_str_bytes(),
            _ => dec.read_bin(),
        }
        .map_err(|k| ProtocolError::decode(what, k))?;
        // Refused before decoding: what a report decodes to can be many
        // times its size (an empty map is one byte).
        if bytes.len() > MAX_NODE_REPORT {
            return Err(ProtocolError::TooLarge {
                len: bytes.len(),
                max: MAX_NODE_REPORT,
            });
        }
        Self::decode(bytes)
    }

    /// Its entries (publications, subscriptions, services) and fields: what
    /// its decoded form holds besides text.
    pub fn items(&self) -> (usize, usize) {
        let entries = self.publishes.len() + self.subscribes.len() + self.serves.len();
        let fields = self.publishes.iter().map(|p| p.fields.len()).sum();
        (entries, fields)
    }
}

impl NodePublication {
    fn read(dec: &mut Decoder<'_>) -> Result<Self, ProtocolError> {
        let mut p = NodePublication::default();
        dec.read_map_by_key(|key, dec| {
            match key {
                b"topic" => p.topic = string(dec, "node_info.publishes[].topic")?,
                b"message_type" => {
                    p.message_type = string(dec, "node_info.publishes[].message_type")?
                }
                b"address" => p.address = string(dec, "node_info.publishes[].address")?,
                b"subscribers" => {
                    p.subscribers = unsigned(dec, "node_info.publishes[].subscribers")?
                }
                b"shared_memory_subscribers" => {
                    p.shared_memory_subscribers =
                        unsigned(dec, "node_info.publishes[].shared_memory_subscribers")?
                }
                b"fingerprint" => {
                    p.fingerprint = unsigned(dec, "node_info.publishes[].fingerprint")?
                }
                b"fields" => p.fields = fields(dec)?,
                _ => skip(dec, "node_info.publishes[]")?,
            }
            Ok::<(), ProtocolError>(())
        })?;
        Ok(p)
    }
}

/// A publication's `fields`: `[name, type]` pairs.
fn fields(dec: &mut Decoder<'_>) -> Result<Vec<(String, String)>, ProtocolError> {
    const WHAT: &str = "node_info.publishes[].fields";
    let n = dec
        .read_array_len()
        .map_err(|k| ProtocolError::decode(WHAT, k))?;
    let mut fields = Vec::with_capacity(n.min(256));
    for _ in 0..n {
        let pair = dec
            .read_array_len()
            .map_err(|k| ProtocolError::decode(WHAT, k))?;
        if pair != 2 {
            return Err(ProtocolError::decode(
                WHAT,
                crate::codec::DecodeErrorKind::WrongType {
                    expected: "a [name, type] pair",
                    found: "an array of another length",
                },
            ));
        }
        fields.push((string(dec, WHAT)?, string(dec, WHAT)?));
    }
    Ok(fields)
}

impl NodeSubscription {
    fn read(dec: &mut Decoder<'_>) -> Result<Self, ProtocolError> {
        let mut s = NodeSubscription::default();
        dec.read_map_by_key(|key, dec| {
            match key {
                b"topic" => s.topic = string(dec, "node_info.subscribes[].topic")?,
                b"message_type" => {
                    s.message_type = string(dec, "node_info.subscribes[].message_type")?
                }
                _ => skip(dec, "node_info.subscribes[]")?,
            }
            Ok::<(), ProtocolError>(())
        })?;
        Ok(s)
    }
}

impl NodeService {
    fn read(dec: &mut Decoder<'_>) -> Result<Self, ProtocolError> {
        let mut s = NodeService::default();
        dec.read_map_by_key(|key, dec| {
            match key {
                b"name" => s.name = string(dec, "node_info.serves[].name")?,
                b"message_type" => s.message_type = string(dec, "node_info.serves[].message_type")?,
                _ => skip(dec, "node_info.serves[]")?,
            }
            Ok::<(), ProtocolError>(())
        })?;
        Ok(s)
    }
}

/// A discovery command number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Command {
    /// `REGISTER_TOPIC` (1): store `topic_info`.
    RegisterTopic,
    /// `UNREGISTER_TOPIC` (2): remove `topic_name`.
    UnregisterTopic,
    /// `LOOKUP_TOPIC` (3): fetch the record of `topic_name`.
    LookupTopic,
    /// `LIST_TOPICS` (4): fetch every record.
    ListTopics,
    /// `PING` (5): liveness check.
    Ping,
    /// `WAIT_FOR_TOPIC` (20, cortex extension): like `LOOKUP_TOPIC`, but when
    /// the topic is absent the daemon holds the request and answers as soon
    /// as the topic is registered, or `NOT_FOUND` after its long-poll window.
    /// A Python daemon answers `ERROR`.
    WaitForTopic,
    /// `LIST_TOPICS_FROM` (21, cortex extension): the records whose names
    /// sort after `topic_name` (nil: from the first), as many as fit in one
    /// reply. A client pages through every record by asking again after
    /// the last name it got, until a page comes back empty; `LIST_TOPICS`
    /// returns only the first page when the records do not fit. A Python
    /// daemon answers `ERROR`.
    ListTopicsFrom,
    /// `WATCH_PUBLISHERS` (22, cortex extension): every publisher of
    /// `topic_name` (their records in `topics`, the oldest first) and the
    /// topic's `version`. With a `version` in the request that still is the
    /// topic's, the daemon holds the request and answers as soon as a
    /// publisher joins or leaves, or with the same version after its
    /// long-poll window: a subscriber follows the publishers of its topic
    /// without polling. A Python daemon answers `ERROR`.
    WatchPublishers,
    /// `UNREGISTER_PUBLISHER` (23, cortex extension): remove one
    /// publisher's record (`topic_info`: matched by topic, node and
    /// address), leaving the topic's other publishers registered.
    /// `UNREGISTER_TOPIC` removes every publisher of the topic. A Python
    /// daemon answers `ERROR`.
    UnregisterPublisher,
    /// `LIST_SERVICES` (24, cortex extension): the service records whose
    /// names sort after `topic_name` (nil: from the first), paged like
    /// `LIST_TOPICS_FROM`. A Python daemon answers `ERROR`.
    ListServices,
    /// `REPORT_NODE` (25, cortex extension): `node_info` is what a node
    /// does now (see [`NodeInfo`]); the daemon keeps the latest report per
    /// node and forgets it after three report intervals without one. A
    /// Python daemon answers `ERROR`; a cortex client never sends it there.
    ReportNode,
    /// `LIST_NODES` (26, cortex extension): the latest report of every
    /// node in `nodes`, with each one's age in `ages_ms`, ordered by node
    /// name and instance, paged: the request's `topic_name` and `version`
    /// are the name and instance of the last node of the previous page
    /// (nil: from the first).
    ListNodes,
    /// `UNREGISTER_NODE` (27, cortex extension): forget the node of
    /// `node_info` (matched by name and instance), as a closing node does.
    UnregisterNode,
    /// `SHUTDOWN` (99): stop the daemon.
    Shutdown,
}

impl Command {
    /// Every command, in code order.
    pub const ALL: [Command; 14] = [
        Command::RegisterTopic,
        Command::UnregisterTopic,
        Command::LookupTopic,
        Command::ListTopics,
        Command::Ping,
        Command::WaitForTopic,
        Command::ListTopicsFrom,
        Command::WatchPublishers,
        Command::UnregisterPublisher,
        Command::ListServices,
        Command::ReportNode,
        Command::ListNodes,
        Command::UnregisterNode,
        Command::Shutdown,
    ];

    /// The number on the wire.
    pub const fn code(self) -> u8 {
        match self {
            Command::RegisterTopic => 1,
            Command::UnregisterTopic => 2,
            Command::LookupTopic => 3,
            Command::ListTopics => 4,
            Command::Ping => 5,
            Command::WaitForTopic => 20,
            Command::ListTopicsFrom => 21,
            Command::WatchPublishers => 22,
            Command::UnregisterPublisher => 23,
            Command::ListServices => 24,
            Command::ReportNode => 25,
            Command::ListNodes => 26,
            Command::UnregisterNode => 27,
            Command::Shutdown => 99,
        }
    }

    /// The command with wire number `code`, if known.
    pub fn from_code(code: i128) -> Option<Self> {
        Self::ALL.into_iter().find(|c| i128::from(c.code()) == code)
    }

    /// The protocol name, e.g. `REGISTER_TOPIC`.
    pub const fn name(self) -> &'static str {
        match self {
            Command::RegisterTopic => "REGISTER_TOPIC",
            Command::UnregisterTopic => "UNREGISTER_TOPIC",
            Command::LookupTopic => "LOOKUP_TOPIC",
            Command::ListTopics => "LIST_TOPICS",
            Command::Ping => "PING",
            Command::WaitForTopic => "WAIT_FOR_TOPIC",
            Command::ListTopicsFrom => "LIST_TOPICS_FROM",
            Command::WatchPublishers => "WATCH_PUBLISHERS",
            Command::UnregisterPublisher => "UNREGISTER_PUBLISHER",
            Command::ListServices => "LIST_SERVICES",
            Command::ReportNode => "REPORT_NODE",
            Command::ListNodes => "LIST_NODES",
            Command::UnregisterNode => "UNREGISTER_NODE",
            Command::Shutdown => "SHUTDOWN",
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A response status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// `OK` (0).
    Ok,
    /// `NOT_FOUND` (1).
    NotFound,
    /// `ALREADY_EXISTS` (2).
    AlreadyExists,
    /// `ERROR` (3).
    Error,
}

impl Status {
    /// The number on the wire.
    pub const fn code(self) -> u8 {
        match self {
            Status::Ok => 0,
            Status::NotFound => 1,
            Status::AlreadyExists => 2,
            Status::Error => 3,
        }
    }

    /// The status with wire number `code`, if known.
    pub fn from_code(code: i128) -> Option<Self> {
        [
            Status::Ok,
            Status::NotFound,
            Status::AlreadyExists,
            Status::Error,
        ]
        .into_iter()
        .find(|s| i128::from(s.code()) == code)
    }
}

/// A request to the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// What to do.
    pub command: Command,
    /// The topic, for commands that name one (nil on the wire otherwise).
    pub topic_name: Option<String>,
    /// The record, for `REGISTER_TOPIC` and `UNREGISTER_PUBLISHER` (absent
    /// on the wire otherwise).
    pub topic_info: Option<TopicInfo>,
    /// The topic version the client knows, for `WATCH_PUBLISHERS` (absent
    /// on the wire otherwise: the commands of the Python protocol are
    /// encoded exactly as before).
    pub version: Option<u64>,
    /// For `REGISTER_TOPIC` from a cortex publisher of a latched topic:
    /// how many of its last messages it replays to a subscriber that joins
    /// (absent when 0; a Python daemon ignores the key). Returned in
    /// `WATCH_PUBLISHERS` answers.
    pub latched: Option<u64>,
    /// Whether the request is about a service, not a topic (key `service`,
    /// written only when true): a cortex daemon keeps services apart from
    /// topics, so they never show in a Python client's topic list. A Python
    /// daemon ignores the key and treats the service as a topic.
    pub service: bool,
    /// The node's report, for `REPORT_NODE` and `UNREGISTER_NODE` (key
    /// `node_info`: a [`NodeInfo`] map, itself msgpack-encoded, carried as
    /// a `bin`, like `topic_info`; absent otherwise).
    pub node_info: Option<NodeInfo>,
}

impl Request {
    fn new(command: Command, topic_name: Option<&str>) -> Self {
        Self {
            command,
            topic_name: topic_name.map(str::to_owned),
            topic_info: None,
            version: None,
            latched: None,
            service: false,
            node_info: None,
        }
    }

    /// `REGISTER_TOPIC` (like the Python client, `topic_name` is nil).
    pub fn register(info: TopicInfo) -> Self {
        Self {
            command: Command::RegisterTopic,
            topic_name: None,
            topic_info: Some(info),
            version: None,
            latched: None,
            service: false,
            node_info: None,
        }
    }

    /// The same request about a service (see [`service`](Self::service)).
    pub fn for_service(mut self) -> Self {
        self.service = true;
        self
    }

    /// `LIST_SERVICES` (cortex extension): service records after `cursor`.
    pub fn list_services(cursor: Option<&str>) -> Self {
        Self::new(Command::ListServices, cursor)
    }

    /// `REGISTER_TOPIC` for a publisher that replays its last `latched`
    /// messages to subscribers that join (0: an ordinary publisher, and
    /// the request of the Python protocol, byte for byte).
    pub fn register_latched(info: TopicInfo, latched: u64) -> Self {
        Self {
            latched: (latched > 0).then_some(latched),
            ..Self::register(info)
        }
    }

    /// `UNREGISTER_PUBLISHER` (cortex extension): remove this one record.
    pub fn unregister_publisher(info: TopicInfo) -> Self {
        Self {
            command: Command::UnregisterPublisher,
            topic_name: Some(info.name.clone()),
            topic_info: Some(info),
            version: None,
            latched: None,
            service: false,
            node_info: None,
        }
    }

    /// `WATCH_PUBLISHERS` (cortex extension): the publishers of `name` now
    /// (`known` = `None`), or once the topic's version differs from `known`.
    pub fn watch_publishers(name: &str, known: Option<u64>) -> Self {
        Self {
            version: known,
            ..Self::new(Command::WatchPublishers, Some(name))
        }
    }

    /// `UNREGISTER_TOPIC` by name.
    pub fn unregister(name: &str) -> Self {
        Self::new(Command::UnregisterTopic, Some(name))
    }

    /// `LOOKUP_TOPIC`.
    pub fn lookup(name: &str) -> Self {
        Self::new(Command::LookupTopic, Some(name))
    }

    /// `LIST_TOPICS`.
    pub fn list() -> Self {
        Self::new(Command::ListTopics, None)
    }

    /// `PING`.
    pub fn ping() -> Self {
        Self::new(Command::Ping, None)
    }

    /// `WAIT_FOR_TOPIC` (cortex extension).
    pub fn wait_for_topic(name: &str) -> Self {
        Self::new(Command::WaitForTopic, Some(name))
    }

    /// `LIST_TOPICS_FROM` (cortex extension): records after `cursor`
    /// (`None`: from the first).
    pub fn list_from(cursor: Option<&str>) -> Self {
        Self::new(Command::ListTopicsFrom, cursor)
    }

    /// `REPORT_NODE` (cortex extension): what the node `info` does now.
    pub fn report_node(info: NodeInfo) -> Self {
        Self {
            node_info: Some(info),
            ..Self::new(Command::ReportNode, None)
        }
    }

    /// `UNREGISTER_NODE` (cortex extension): forget the node `info` (its
    /// name and instance; the lists may be empty).
    pub fn unregister_node(info: NodeInfo) -> Self {
        Self {
            node_info: Some(info),
            ..Self::new(Command::UnregisterNode, None)
        }
    }

    /// `LIST_NODES` (cortex extension): the reports of the nodes after
    /// `cursor`, the name and instance of the last node of the previous
    /// page (`None`: from the first).
    pub fn list_nodes(cursor: Option<(&str, u64)>) -> Self {
        Self {
            version: cursor.map(|(_, instance)| instance),
            ..Self::new(Command::ListNodes, cursor.map(|(name, _)| name))
        }
    }

    /// `SHUTDOWN`.
    pub fn shutdown() -> Self {
        Self::new(Command::Shutdown, None)
    }

    /// The topic the request is about: `topic_name`, else the record's name.
    pub fn topic(&self) -> Option<&str> {
        self.topic_name
            .as_deref()
            .or(self.topic_info.as_ref().map(|i| i.name.as_str()))
    }

    /// Encodes the request map.
    pub fn encode(&self) -> Vec<u8> {
        encoded(|w| {
            let len = 2
                + usize::from(self.topic_info.is_some())
                + usize::from(self.version.is_some())
                + usize::from(self.latched.is_some())
                + usize::from(self.service)
                + usize::from(self.node_info.is_some());
            w.write_map_len(len)?;
            w.write_str("command")?;
            w.write_u64(u64::from(self.command.code()));
            w.write_str("topic_name")?;
            match &self.topic_name {
                Some(name) => w.write_str(name)?,
                None => w.write_nil(),
            }
            if let Some(info) = &self.topic_info {
                w.write_str("topic_info")?;
                w.write_bin(&info.encode())?;
            }
            if let Some(version) = self.version {
                w.write_str("version")?;
                w.write_u64(version);
            }
            if let Some(latched) = self.latched {
                w.write_str("latched")?;
                w.write_u64(latched);
            }
            if self.service {
                w.write_str("service")?;
                w.write_bool(true);
            }
            if let Some(node) = &self.node_info {
                w.write_str("node_info")?;
                w.write_bin(&node.encode())?;
            }
            Ok(())
        })
    }

    /// Decodes a request map.
    pub fn decode(bytes: &[u8]) -> Result<Self, ProtocolError> {
        check_size(bytes)?;
        whole("request", bytes, |dec| {
            let (mut code, mut topic_name, mut topic_info, mut version, mut latched) =
                (None, None, None, None, None);
            let mut service = false;
            let mut node_info = None;
            dec.read_map_by_key(|key, dec| {
                match key {
                    b"command" => code = Some(int(dec, "request.command")?),
                    b"version" => version = optional(dec, "request.version", unsigned)?,
                    b"latched" => latched = optional(dec, "request.latched", unsigned)?,
                    b"service" => {
                        service = optional(dec, "request.service", boolean)?.unwrap_or(false)
                    }
                    b"topic_name" => topic_name = optional(dec, "request.topic_name", string)?,
                    b"topic_info" => {
                        topic_info = optional(dec, "request.topic_info", TopicInfo::read_nested)?
                    }
                    b"node_info" => {
                        node_info = optional(dec, "request.node_info", NodeInfo::read_nested)?
                    }
                    _ => skip(dec, "request")?,
                }
                Ok::<(), ProtocolError>(())
            })?;
            let code = code.ok_or(ProtocolError::MissingKey {
                what: "request",
                key: "command",
            })?;
            Ok(Self {
                command: Command::from_code(code).ok_or(ProtocolError::UnknownCommand(code))?,
                topic_name,
                topic_info,
                version,
                latched,
                service,
                node_info,
            })
        })
    }
}

/// A response from the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Outcome.
    pub status: Status,
    /// Human-readable detail (may be empty).
    pub message: String,
    /// The record, for a successful lookup.
    pub topic_info: Option<TopicInfo>,
    /// Every record, for a successful list (and every publisher of the
    /// topic, for `WATCH_PUBLISHERS`).
    pub topics: Option<Vec<TopicInfo>>,
    /// The topic's version, for `WATCH_PUBLISHERS`: it changes whenever a
    /// publisher of the topic joins, leaves or registers again (0: the
    /// topic has no publisher).
    pub version: Option<u64>,
    /// For `WATCH_PUBLISHERS`: per record of `topics`, how many messages
    /// that publisher replays to a subscriber that joins (0: not latched).
    pub latched: Option<Vec<u64>>,
    /// For `WATCH_PUBLISHERS`: per record of `topics`, a number that
    /// changes each time that publisher registers (again): a subscriber
    /// tells a re-registration (a restart on the same endpoint, or a
    /// restarted daemon) from the same registration.
    pub registered: Option<Vec<u64>>,
    /// For `LIST_NODES`: the latest report of each node of the page (key
    /// `nodes`: an array of msgpack-encoded [`NodeInfo`] maps, each a `bin`).
    pub nodes: Option<Vec<NodeInfo>>,
    /// For `LIST_NODES`: per report of `nodes`, how many milliseconds ago
    /// the daemon received it.
    pub ages_ms: Option<Vec<u64>>,
}

impl Response {
    /// A response with only a status and message.
    pub fn new(status: Status, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            topic_info: None,
            topics: None,
            version: None,
            latched: None,
            registered: None,
            nodes: None,
            ages_ms: None,
        }
    }

    /// An `ERROR` response.
    pub fn error(message: impl Into<String>) -> Self {
        Self::new(Status::Error, message)
    }

    /// Encodes the response map.
    pub fn encode(&self) -> Vec<u8> {
        encoded(|w| {
            let len = 2
                + usize::from(self.topic_info.is_some())
                + usize::from(self.topics.is_some())
                + usize::from(self.version.is_some())
                + usize::from(self.latched.is_some())
                + usize::from(self.registered.is_some())
                + usize::from(self.nodes.is_some())
                + usize::from(self.ages_ms.is_some());
            w.write_map_len(len)?;
            w.write_str("status")?;
            w.write_u64(u64::from(self.status.code()));
            w.write_str("message")?;
            w.write_str(&self.message)?;
            if let Some(info) = &self.topic_info {
                w.write_str("topic_info")?;
                w.write_bin(&info.encode())?;
            }
            if let Some(topics) = &self.topics {
                w.write_str("topics")?;
                w.write_array_len(topics.len())?;
                for info in topics {
                    w.write_bin(&info.encode())?;
                }
            }
            if let Some(version) = self.version {
                w.write_str("version")?;
                w.write_u64(version);
            }
            for (key, values) in [("latched", &self.latched), ("registered", &self.registered)] {
                if let Some(values) = values {
                    w.write_str(key)?;
                    w.write_array_len(values.len())?;
                    for value in values {
                        w.write_u64(*value);
                    }
                }
            }
            if let Some(nodes) = &self.nodes {
                w.write_str("nodes")?;
                w.write_array_len(nodes.len())?;
                for node in nodes {
                    w.write_bin(&node.encode())?;
                }
            }
            if let Some(ages) = &self.ages_ms {
                w.write_str("ages_ms")?;
                w.write_array_len(ages.len())?;
                for age in ages {
                    w.write_u64(*age);
                }
            }
            Ok(())
        })
    }

    /// Decodes a response map.
    pub fn decode(bytes: &[u8]) -> Result<Self, ProtocolError> {
        check_size(bytes)?;
        whole("response", bytes, |dec| {
            let (mut code, mut message, mut topic_info, mut topics, mut version, mut latched) =
                (None, None, None, None, None, None);
            let (mut registered, mut nodes, mut ages_ms) = (None, None, None);
            dec.read_map_by_key(|key, dec| {
                match key {
                    b"status" => code = Some(int(dec, "response.status")?),
                    b"message" => message = optional(dec, "response.message", string)?,
                    b"topic_info" => {
                        topic_info = optional(dec, "response.topic_info", TopicInfo::read_nested)?
                    }
                    b"topics" => topics = optional(dec, "response.topics", records)?,
                    b"version" => version = optional(dec, "response.version", unsigned)?,
                    b"latched" => latched = optional(dec, "response.latched", depths)?,
                    b"registered" => registered = optional(dec, "response.registered", depths)?,
                    b"nodes" => nodes = optional(dec, "response.nodes", node_reports)?,
                    b"ages_ms" => ages_ms = optional(dec, "response.ages_ms", depths)?,
                    _ => skip(dec, "response")?,
                }
                Ok::<(), ProtocolError>(())
            })?;
            let code = code.ok_or(ProtocolError::MissingKey {
                what: "response",
                key: "status",
            })?;
            Ok(Self {
                status: Status::from_code(code).ok_or(ProtocolError::UnknownStatus(code))?,
                message: message.unwrap_or_default(),
                topic_info,
                topics,
                version,
                latched,
                registered,
                nodes,
                ages_ms,
            })
        })
    }
}

/// Encodes with the codec's writer. Discovery values are far below
/// msgpack's 4 GiB limits (a reply is at most [`MAX_MESSAGE_BYTES`]).
fn encoded(write: impl FnOnce(&mut Encoder) -> Result<(), EncodeError>) -> Vec<u8> {
    let mut w = Encoder::new();
    if let Err(e) = write(&mut w) {
        // Only a string or list longer than 4 GiB gets here: an invariant
        // of the caller's data, not something the network can cause.
        panic!("cannot encode a discovery message: {e}");
    }
    w.finish().0
}

/// Decodes exactly one value spanning all of `bytes`.
fn whole<T>(
    what: &'static str,
    bytes: &[u8],
    read: impl FnOnce(&mut Decoder<'_>) -> Result<T, ProtocolError>,
) -> Result<T, ProtocolError> {
    let mut dec = Decoder::new(bytes, &[]);
    let value = read(&mut dec)?;
    dec.finish().map_err(|k| ProtocolError::decode(what, k))?;
    Ok(value)
}

fn string(dec: &mut Decoder<'_>, what: &'static str) -> Result<String, ProtocolError> {
    dec.read_str()
        .map(str::to_owned)
        .map_err(|k| ProtocolError::decode(what, k))
}

fn int(dec: &mut Decoder<'_>, what: &'static str) -> Result<i128, ProtocolError> {
    match dec.read_int().map_err(|k| ProtocolError::decode(what, k))? {
        Int::U(v) => Ok(i128::from(v)),
        Int::I(v) => Ok(i128::from(v)),
    }
}

fn boolean(dec: &mut Decoder<'_>, what: &'static str) -> Result<bool, ProtocolError> {
    dec.read_bool().map_err(|k| ProtocolError::decode(what, k))
}

fn unsigned(dec: &mut Decoder<'_>, what: &'static str) -> Result<u64, ProtocolError> {
    let value = int(dec, what)?;
    u64::try_from(value).map_err(|_| ProtocolError::OutOfRange { what, value })
}

/// `read`, or `None` for nil.
fn optional<T>(
    dec: &mut Decoder<'_>,
    what: &'static str,
    read: impl FnOnce(&mut Decoder<'_>, &'static str) -> Result<T, ProtocolError>,
) -> Result<Option<T>, ProtocolError> {
    if dec.read_nil().map_err(|k| ProtocolError::decode(what, k))? {
        Ok(None)
    } else {
        read(dec, what).map(Some)
    }
}

/// An array of nested records.
fn records(dec: &mut Decoder<'_>, what: &'static str) -> Result<Vec<TopicInfo>, ProtocolError> {
    let n = dec
        .read_array_len()
        .map_err(|k| ProtocolError::decode(what, k))?;
    let mut out = Vec::with_capacity(n.min(crate::codec::MAX_PREALLOC));
    for _ in 0..n {
        out.push(TopicInfo::read_nested(dec, "response.topics[]")?);
    }
    Ok(out)
}

/// An array of nested node reports.
fn node_reports(dec: &mut Decoder<'_>, what: &'static str) -> Result<Vec<NodeInfo>, ProtocolError> {
    let n = dec
        .read_array_len()
        .map_err(|k| ProtocolError::decode(what, k))?;
    let mut out = Vec::with_capacity(n.min(crate::codec::MAX_PREALLOC));
    for _ in 0..n {
        out.push(NodeInfo::read_nested(dec, "response.nodes[]")?);
    }
    Ok(out)
}

/// An array of maps, each read by `read`.
fn maps<T>(
    dec: &mut Decoder<'_>,
    what: &'static str,
    read: impl Fn(&mut Decoder<'_>) -> Result<T, ProtocolError>,
) -> Result<Vec<T>, ProtocolError> {
    let n = dec
        .read_array_len()
        .map_err(|k| ProtocolError::decode(what, k))?;
    dec.enter().map_err(|k| ProtocolError::decode(what, k))?;
    let mut out = Vec::with_capacity(n.min(crate::codec::MAX_PREALLOC));
    for _ in 0..n {
        out.push(read(dec)?);
    }
    dec.leave();
    Ok(out)
}

/// An array of unsigned integers.
fn depths(dec: &mut Decoder<'_>, what: &'static str) -> Result<Vec<u64>, ProtocolError> {
    let n = dec
        .read_array_len()
        .map_err(|k| ProtocolError::decode(what, k))?;
    let mut out = Vec::with_capacity(n.min(crate::codec::MAX_PREALLOC));
    for _ in 0..n {
        out.push(unsigned(dec, what)?);
    }
    Ok(out)
}

/// Skips the value of a key this side does not know.
fn skip(dec: &mut Decoder<'_>, what: &'static str) -> Result<(), ProtocolError> {
    dec.skip_value().map_err(|k| ProtocolError::decode(what, k))
}

fn check_size(bytes: &[u8]) -> Result<(), ProtocolError> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(ProtocolError::TooLarge {
            len: bytes.len(),
            max: MAX_MESSAGE_BYTES,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> TopicInfo {
        TopicInfo {
            name: "/a".into(),
            address: "ipc:///tmp/x.sock".into(),
            message_type: "IntMessage".into(),
            fingerprint: 7,
            publisher_node: "n".into(),
        }
    }

    #[test]
    fn request_round_trips() {
        for req in [
            Request::register(info()),
            Request::unregister("/a"),
            Request::lookup("/a"),
            Request::list(),
            Request::ping(),
            Request::wait_for_topic("/a"),
            Request::watch_publishers("/a", None),
            Request::watch_publishers("/a", Some(u64::MAX)),
            Request::unregister_publisher(info()),
            Request::register_latched(info(), 10),
            Request::register(info()).for_service(),
            Request::list_services(Some("/a")),
            Request::report_node(node()),
            Request::unregister_node(NodeInfo::new("n", 1)),
            Request::list_nodes(None),
            Request::list_nodes(Some(("n", u64::MAX))),
            Request::shutdown(),
        ] {
            assert_eq!(Request::decode(&req.encode()).unwrap(), req);
        }
    }

    fn node() -> NodeInfo {
        NodeInfo {
            host: "robot".into(),
            pid: 4242,
            interval: std::time::Duration::from_millis(2000),
            publishes: vec![NodePublication {
                topic: "/a".into(),
                message_type: "IntMessage".into(),
                address: "ipc:///tmp/x.sock".into(),
                subscribers: 3,
                shared_memory_subscribers: 1,
                fingerprint: 0x1234,
                fields: vec![("data".into(), "i64".into())],
            }],
            subscribes: vec![NodeSubscription {
                topic: "/b".into(),
                message_type: "Reading".into(),
            }],
            serves: vec![NodeService {
                name: "/s".into(),
                message_type: "Req -> Rep".into(),
            }],
            ..NodeInfo::new("n", 0x0123_4567_89ab_cdef)
        }
    }

    /// A report in a `bin` larger than a daemon keeps is refused before it
    /// is decoded (what it decodes to can be far larger than its bytes).
    #[test]
    fn an_oversized_node_report_is_refused_before_decoding() {
        let mut big = node();
        big.host = "h".repeat(MAX_NODE_REPORT);
        let bytes = Request::report_node(big).encode();
        assert!(matches!(
            Request::decode(&bytes),
            Err(ProtocolError::TooLarge {
                max: MAX_NODE_REPORT,
                ..
            })
        ));
    }

    #[test]
    fn a_node_report_round_trips_and_takes_missing_lists_as_empty() {
        assert_eq!(NodeInfo::decode(&node().encode()).unwrap(), node());
        let mut resp = Response::new(Status::Ok, "");
        resp.nodes = Some(vec![node(), NodeInfo::new("m", 2)]);
        resp.ages_ms = Some(vec![0, 1500]);
        assert_eq!(Response::decode(&resp.encode()).unwrap(), resp);

        // {"name": "n", "instance": 7, "extra": [1]}: the lists are empty.
        let mut bytes = vec![0x83, 0xa4];
        bytes.extend_from_slice(b"name\xa1n\xa8instance\x07\xa5extra\x91\x01");
        let minimal = NodeInfo::decode(&bytes).unwrap();
        assert_eq!((minimal.name.as_str(), minimal.instance), ("n", 7));
        assert!(minimal.publishes.is_empty() && minimal.host.is_empty());
        // Without an instance it is refused.
        assert!(NodeInfo::decode(b"\x81\xa4name\xa1n").is_err());
    }

    #[test]
    fn a_node_report_with_an_oversized_field_fails_its_check() {
        assert_eq!(node().check(), Ok(()));
        let mut bad = node();
        bad.subscribes[0].topic = "x".repeat(MAX_TOPIC_NAME + 1);
        assert!(bad.check().unwrap_err().contains("subscribes.topic"));
        assert!(NodeInfo::new("", 1).check().is_err());
    }

    #[test]
    fn response_round_trips() {
        let mut resp = Response::new(Status::Ok, "");
        resp.topics = Some(vec![info(), info()]);
        resp.topic_info = Some(info());
        resp.version = Some(42);
        resp.latched = Some(vec![0, 10]);
        resp.registered = Some(vec![3, u64::MAX]);
        assert_eq!(Response::decode(&resp.encode()).unwrap(), resp);
    }

    #[test]
    fn garbage_is_an_error() {
        for bytes in [
            &b""[..],
            b"\x80",
            b"\x81\xa7command\xa1x",
            b"\x81\xa7command\x2a",
            b"\x82\xa7command\x01\xaatopic_info\x05",
            b"\x93\x01\x02\x03",
        ] {
            assert!(Request::decode(bytes).is_err(), "{bytes:x?}");
        }
    }
}
