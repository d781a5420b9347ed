//! What this tool knows of a message type's layout (its fields' names and
//! types, in wire order), by fingerprint.
//!
//! The standard messages are built in. Any other type is learnt from the
//! nodes that publish it: a cortex node reports, with each topic it
//! publishes, its type's fingerprint and fields (`REPORT_NODE`; see
//! `cortex node list`). The daemon stores only type names and
//! fingerprints in topic records, so a type published by a Python node, or
//! by no running node, has no known layout: tools then name its fields by
//! position (`field0`, `field1`, ...).

use std::time::Duration;

use cortex::discovery::Client;
use cortex::messages::*;
use cortex::{Message, Schema};

/// A message type's name, fingerprint and fields (name, type) in wire
/// order, types as cortex prints them (`u32`, `Vec<String>`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TypeLayout {
    /// The type name.
    pub(crate) type_name: String,
    /// The fingerprint.
    pub(crate) fingerprint: u64,
    /// The fields: name and type.
    pub(crate) fields: Vec<(String, String)>,
}

impl TypeLayout {
    /// The layout `schema` describes.
    pub(crate) fn of(schema: &Schema) -> Self {
        Self {
            type_name: schema.type_name.to_owned(),
            fingerprint: schema.fingerprint,
            fields: schema.field_pairs(),
        }
    }

    /// The layout of the standard message with `fingerprint`, if it is one.
    pub(crate) fn standard(fingerprint: u64) -> Option<Self> {
        known_schema(fingerprint).map(Self::of)
    }

    /// The name of field `i`, if the layout has that many fields.
    pub(crate) fn field_name(&self, i: usize) -> Option<&str> {
        self.fields.get(i).map(|(name, _)| name.as_str())
    }
}

/// How long [`find_layout`] keeps asking for a type no node reports yet.
const LAYOUT_PATIENCE: Duration = Duration::from_millis(500);
/// How often it asks meanwhile.
const LAYOUT_RETRY: Duration = Duration::from_millis(50);

/// The layout of the type with `fingerprint`: a standard message's, or the
/// one a live node reports for a topic it publishes. `None` when neither
/// tells (a Python publisher, a daemon without node reports).
///
/// A node reports a new publisher at once but in the background, so a tool
/// may get the publisher's first message before its report: a type no
/// report has yet is asked for again for up to half a second (once per
/// type: callers keep the answer).
pub(crate) async fn find_layout(client: &Client, fingerprint: u64) -> Option<TypeLayout> {
    if let Some(layout) = TypeLayout::standard(fingerprint) {
        return Some(layout);
    }
    let give_up = tokio::time::Instant::now() + LAYOUT_PATIENCE;
    loop {
        let nodes = match client.list_nodes().await {
            Ok(nodes) => nodes,
            Err(error) => {
                tracing::debug!(%error, "no node reports to learn a type's fields from");
                return None;
            }
        };
        let reported = nodes
            .into_iter()
            .flat_map(|n| n.info.publishes)
            .find(|p| p.fingerprint == fingerprint && !p.fields.is_empty());
        if let Some(p) = reported {
            return Some(TypeLayout {
                type_name: p.message_type,
                fingerprint,
                fields: p.fields,
            });
        }
        if tokio::time::Instant::now() >= give_up {
            return None;
        }
        tokio::time::sleep(LAYOUT_RETRY).await;
    }
}

/// The standard messages' schemas.
pub(crate) const STANDARD: [fn() -> &'static Schema; 14] = [
    ArrayMessage::schema,
    BytesMessage::schema,
    DictMessage::schema,
    FloatMessage::schema,
    HeaderMessage::schema,
    ImageMessage::schema,
    IntMessage::schema,
    ListMessage::schema,
    MultiArrayMessage::schema,
    PointCloudMessage::schema,
    PoseMessage::schema,
    StringMessage::schema,
    TimestampMessage::schema,
    TransformMessage::schema,
];

/// The schema of the standard message with `fingerprint`, if it is one.
pub(crate) fn known_schema(fingerprint: u64) -> Option<&'static Schema> {
    STANDARD
        .into_iter()
        .map(|s| s())
        .find(|s| s.accepts(fingerprint))
}
