//! The MCAP file being recorded: a schema record per message type, a
//! channel per topic and type, and each message's frames in the layout
//! described in [the module above](super).

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use cortex::discovery::TopicInfo;
use cortex::Header;
use mcap::records::MessageHeader;

use super::foxglove_view::{FoxgloveView, TypeOf};
use super::json_schema::json_schema;
use crate::follow::Incoming;
use crate::schemas::TypeLayout;

/// The layouts of the types seen, by fingerprint (`None`: not known).
pub(super) type Layouts = HashMap<u64, Option<TypeLayout>>;
use super::layout::{encode_frames, MESSAGE_ENCODING, SCHEMA_ENCODING};

/// An MCAP file being written; [`finish`](Self::finish) leaves it indexed.
pub(super) struct Recording {
    path: PathBuf,
    writer: mcap::Writer<BufWriter<File>>,
    /// By type name and fingerprint.
    schemas: HashMap<(String, u64), u16>,
    /// By topic and schema id.
    channels: HashMap<(String, u16), u16>,
    /// The encoded message, reused.
    buffer: Vec<u8>,
    /// With `--foxglove`: the Foxglove channels.
    foxglove: Option<FoxgloveView>,
}

impl Recording {
    /// Creates `path` (replacing it) for writing with `compression`; with
    /// `foxglove`, each message is also written in its Foxglove form.
    pub(super) fn create(
        path: &Path,
        compression: Option<mcap::Compression>,
        foxglove: bool,
    ) -> mcap::McapResult<Self> {
        let file = File::create(path)?;
        let writer = mcap::WriteOptions::new()
            .compression(compression)
            .profile("")
            .library(concat!("cortex-cli ", env!("CARGO_PKG_VERSION")))
            .create(BufWriter::new(file))?;
        Ok(Self {
            path: path.to_owned(),
            writer,
            schemas: HashMap::new(),
            channels: HashMap::new(),
            buffer: Vec::new(),
            foxglove: foxglove.then(FoxgloveView::default),
        })
    }

    /// Writes the message `m`: its frames as they came off the wire after
    /// the topic frame; `layouts` gives the fields of the types known (for
    /// the schema records). Returns the bytes it took, or `None` when the
    /// frames have no readable header (skipped).
    ///
    /// Publish time is the header's time. So is log time, except for a
    /// message a latched publisher kept from before the recording started
    /// (`m.replayed`): it is logged when it was received, so a replay of
    /// the file sends it at its start, not minutes before.
    pub(super) fn write(
        &mut self,
        m: &Incoming,
        layouts: &Layouts,
    ) -> mcap::McapResult<Option<usize>> {
        let (topic, from, frames) = (&*m.topic, &*m.from, &m.frames[..]);
        let Some(header) = frames.first().and_then(|h| Header::from_bytes(h).ok()) else {
            return Ok(None);
        };
        let type_name = type_name(from, header.fingerprint);
        let layout = layouts.get(&header.fingerprint).and_then(Option::as_ref);
        let channel_id = self.channel(
            topic,
            from,
            &type_name,
            header.fingerprint,
            layout,
            m.latched,
        )?;
        encode_frames(frames, &mut self.buffer);
        let record = MessageHeader {
            channel_id,
            // MCAP's sequence is 32 bits; cortex's wraps into it.
            sequence: header.sequence as u32,
            log_time: if m.replayed {
                now_ns().max(header.timestamp_ns)
            } else {
                header.timestamp_ns
            },
            publish_time: header.timestamp_ns,
        };
        self.writer.write_to_known_channel(&record, &self.buffer)?;
        if let Some(view) = &mut self.foxglove {
            let ty = TypeOf {
                name: &type_name,
                fingerprint: header.fingerprint,
                layout,
            };
            view.write(&mut self.writer, topic, &ty, frames, &record)?;
        }
        Ok(Some(self.buffer.len()))
    }

    /// The channel of `topic` for messages with `fingerprint`, added
    /// (with its schema) on first use.
    fn channel(
        &mut self,
        topic: &str,
        from: &TopicInfo,
        type_name: &str,
        fingerprint: u64,
        layout: Option<&TypeLayout>,
        latched: u64,
    ) -> mcap::McapResult<u16> {
        let type_name = type_name.to_owned();
        let schema_id = match self.schemas.get(&(type_name.clone(), fingerprint)) {
            Some(&id) => id,
            None => {
                let data = json_schema(&type_name, fingerprint, layout);
                let id = self.writer.add_schema(&type_name, SCHEMA_ENCODING, &data)?;
                self.schemas.insert((type_name.clone(), fingerprint), id);
                id
            }
        };
        let key = (topic.to_owned(), schema_id);
        if let Some(&id) = self.channels.get(&key) {
            return Ok(id);
        }
        let mut metadata = BTreeMap::from([
            ("fingerprint".to_owned(), format!("{fingerprint:#018x}")),
            ("publisher_node".to_owned(), from.publisher_node.clone()),
            ("message_type".to_owned(), type_name),
        ]);
        if latched > 0 {
            // `cortex play` keeps as many for its late joiners.
            metadata.insert("latched".to_owned(), latched.to_string());
        }
        let id = self
            .writer
            .add_channel(schema_id, topic, MESSAGE_ENCODING, &metadata)?;
        self.channels.insert(key, id);
        Ok(id)
    }

    /// Ends the current chunk and hands everything to the file system, so
    /// a recorder killed after this leaves it readable up to here.
    /// Returns the file's size.
    pub(super) fn flush(&mut self) -> mcap::McapResult<u64> {
        self.writer.flush()?;
        Ok(std::fs::metadata(&self.path)?.len())
    }

    /// Writes the summary and footer: the file is complete and indexed.
    pub(super) fn finish(&mut self) -> mcap::McapResult<()> {
        self.writer.finish()?;
        if let Some(view) = &self.foxglove {
            view.report();
        }
        Ok(())
    }
}

/// The name of the type with `fingerprint`, sent by the publisher `from`:
/// a standard message's, the publisher's type name when the fingerprints
/// agree, otherwise only the fingerprint.
fn type_name(from: &TopicInfo, fingerprint: u64) -> String {
    match crate::schemas::known_schema(fingerprint) {
        Some(known) => known.type_name.to_owned(),
        None if from.fingerprint == fingerprint => from.message_type.clone(),
        None => format!("{fingerprint:#018x}"),
    }
}

/// Now, in ns since the Unix epoch.
fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}
