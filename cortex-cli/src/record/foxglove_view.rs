//! `cortex record --foxglove`: next to each cortex channel, a channel of
//! the same messages in the form Foxglove shows (the bridge's
//! [`Mapping`]): standard images, point clouds, poses and transforms in
//! Foxglove's protobuf schemas, anything else as JSON with a JSON Schema.
//! Its topic is the cortex topic under [`PREFIX`] (`/sensor/a` →
//! `/foxglove/sensor/a`): MCAP topics should be unique for Foxglove, and
//! the cortex channel keeps the plain name, which `cortex play` uses.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::BufWriter;

use bytes::Bytes;
use mcap::records::MessageHeader;

use crate::foxglove::convert::Mapping;
use crate::schemas::TypeLayout;

/// What the Foxglove channels' topics start with.
pub(crate) const PREFIX: &str = "/foxglove";

/// A message's type: its name, fingerprint and, when known, its layout.
#[derive(Debug, Clone, Copy)]
pub(super) struct TypeOf<'a> {
    /// The type name.
    pub(super) name: &'a str,
    /// The fingerprint.
    pub(super) fingerprint: u64,
    /// The fields, when known.
    pub(super) layout: Option<&'a TypeLayout>,
}

/// The Foxglove channels of one file.
#[derive(Debug, Default)]
pub(super) struct FoxgloveView {
    /// By cortex topic and fingerprint: the channel and its mapping.
    channels: HashMap<(String, u64), (u16, Mapping)>,
    /// The converted message, reused.
    buffer: Vec<u8>,
    /// Messages that could not be converted, per topic (the first is told).
    skipped: BTreeMap<String, u64>,
}

impl FoxgloveView {
    /// Writes the Foxglove form of a message of `topic` (its frames, of
    /// type `ty`) with `header`'s times.
    pub(super) fn write(
        &mut self,
        writer: &mut mcap::Writer<BufWriter<File>>,
        topic: &str,
        ty: &TypeOf<'_>,
        frames: &[Bytes],
        header: &MessageHeader,
    ) -> mcap::McapResult<()> {
        let TypeOf {
            name: type_name,
            fingerprint,
            layout,
        } = *ty;
        let key = (topic.to_owned(), fingerprint);
        let (channel_id, mapping) = match self.channels.get(&key) {
            Some(known) => known,
            None => {
                let mapping = Mapping::for_type(fingerprint, type_name, layout);
                let schema = writer.add_schema(
                    mapping.schema_name(),
                    mapping.schema_encoding(),
                    mapping.schema_data(),
                )?;
                let metadata = BTreeMap::from([
                    ("cortex_topic".to_owned(), topic.to_owned()),
                    ("cortex_type".to_owned(), type_name.to_owned()),
                    (
                        "cortex_fingerprint".to_owned(),
                        format!("{fingerprint:#018x}"),
                    ),
                ]);
                let id = writer.add_channel(
                    schema,
                    &format!("{PREFIX}{topic}"),
                    mapping.message_encoding(),
                    &metadata,
                )?;
                self.channels.entry(key).or_insert((id, mapping))
            }
        };
        match mapping.encode(frames, &mut self.buffer) {
            Ok(_) => writer.write_to_known_channel(
                &MessageHeader {
                    channel_id: *channel_id,
                    ..*header
                },
                &self.buffer,
            ),
            Err(e) => {
                let count = self.skipped.entry(topic.to_owned()).or_default();
                if *count == 0 {
                    eprintln!(
                        "warning: {topic}: a message has no Foxglove form ({e}); it is recorded \
                         in cortex form only (further ones are counted)"
                    );
                }
                *count += 1;
                Ok(())
            }
        }
    }

    /// Tells how many messages had no Foxglove form, per topic.
    pub(super) fn report(&self) {
        for (topic, count) in &self.skipped {
            eprintln!("{topic}: {count} message(s) recorded without their Foxglove form");
        }
    }
}
