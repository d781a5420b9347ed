//! Reading a recording back, for `cortex play` and `cortex info`.
//!
//! [`summary`] reads only the file's end (footer and summary section), so
//! a large recording is not loaded to learn what it holds. [`Messages`]
//! reads the data section front to back in constant memory, like
//! `mcap recover`: a file whose recorder was killed has no summary and
//! may end inside a chunk, and every message before that point is still
//! read ([`Messages::damage`] then says where reading stopped).

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use mcap::records::Record;
use mcap::sans_io::linear_reader::{LinearReadEvent, LinearReader};
use mcap::sans_io::summary_reader::{SummaryReadEvent, SummaryReader};

use super::layout::MESSAGE_ENCODING;
use crate::error::CliError;

/// A channel of a recording.
#[derive(Debug)]
pub(crate) struct Channel {
    /// The topic.
    pub(crate) topic: String,
    /// The messages' encoding (`cortex` for what `cortex record` wrote).
    pub(crate) message_encoding: String,
    /// The schema's name: the message type for cortex channels.
    pub(crate) schema_name: String,
    /// The channel's metadata (`fingerprint`, `message_type`, ...).
    pub(crate) metadata: BTreeMap<String, String>,
}

impl Channel {
    /// Whether it holds cortex messages as `cortex record` stores them.
    pub(crate) fn is_cortex(&self) -> bool {
        self.message_encoding == MESSAGE_ENCODING
    }

    /// The recorded type's fingerprint (channel metadata `fingerprint`).
    pub(crate) fn fingerprint(&self) -> Option<u64> {
        let hex = self.metadata.get("fingerprint")?;
        u64::from_str_radix(hex.trim_start_matches("0x"), 16).ok()
    }

    /// How many messages the recorded publisher kept for late joiners
    /// (metadata `latched`; 0: not latched).
    pub(crate) fn latched(&self) -> u64 {
        self.metadata
            .get("latched")
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }

    /// The recorded type's name.
    pub(crate) fn message_type(&self) -> &str {
        self.metadata
            .get("message_type")
            .map_or(&self.schema_name, String::as_str)
    }
}

/// A recorded message.
#[derive(Debug)]
pub(crate) struct Recorded {
    /// Its channel.
    pub(crate) channel: Arc<Channel>,
    /// Log time, ns since the Unix epoch (the publisher's header time).
    pub(crate) log_time: u64,
    /// The message as stored (for cortex channels: length-prefixed frames).
    pub(crate) data: Bytes,
}

/// What the end of `path` says the file holds: `None` when it has no
/// summary section (a recording that did not finish).
pub(crate) fn summary(path: &Path) -> Result<Option<mcap::Summary>, CliError> {
    let mut file = open(path)?;
    let size = file
        .metadata()
        .map_err(|cause| io(path, "read", cause))?
        .len();
    let mut reader = SummaryReader::new_with_options(
        mcap::sans_io::summary_reader::SummaryReaderOptions::default().with_file_size(size),
    );
    while let Some(event) = reader.next_event() {
        match event.map_err(|e| invalid(path, &e.to_string()))? {
            SummaryReadEvent::ReadRequest(n) => {
                let buf = reader.insert(n);
                let read = file.read(buf).map_err(|cause| io(path, "read", cause))?;
                reader.notify_read(read);
            }
            SummaryReadEvent::SeekRequest(to) => {
                let pos = file.seek(to).map_err(|cause| io(path, "seek in", cause))?;
                reader.notify_seeked(pos);
            }
        }
    }
    Ok(reader.finish())
}

/// The messages of a recording in file order, read in constant memory.
pub(crate) struct Messages {
    path: PathBuf,
    file: File,
    reader: LinearReader,
    schemas: HashMap<u16, String>,
    channels: HashMap<u16, Arc<Channel>>,
    /// Messages read so far.
    read: u64,
    /// Why reading stopped before the file's proper end, if it did.
    damage: Option<String>,
}

impl std::fmt::Debug for Messages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Messages")
            .field("path", &self.path)
            .field("read", &self.read)
            .field("damage", &self.damage)
            .finish_non_exhaustive()
    }
}

impl Messages {
    /// Opens `path` for reading from the start.
    pub(crate) fn open(path: &Path) -> Result<Self, CliError> {
        Ok(Self {
            path: path.to_owned(),
            file: open(path)?,
            reader: LinearReader::new(),
            schemas: HashMap::new(),
            channels: HashMap::new(),
            read: 0,
            damage: None,
        })
    }

    /// The next message, or `None` at the end of what can be read. A file
    /// that is not MCAP at all is an error; one that breaks off or is
    /// damaged after its start ends there, with [`damage`](Self::damage)
    /// saying why.
    pub(crate) fn next(&mut self) -> Result<Option<Recorded>, CliError> {
        if self.damage.is_some() {
            return Ok(None);
        }
        loop {
            let record = match self.reader.next_event() {
                None => return Ok(None),
                Some(Ok(LinearReadEvent::ReadRequest(n))) => {
                    let buf = self.reader.insert(n);
                    let read = self
                        .file
                        .read(buf)
                        .map_err(|cause| io(&self.path, "read", cause))?;
                    self.reader.notify_read(read);
                    continue;
                }
                Some(Ok(LinearReadEvent::Record { data, opcode })) => {
                    mcap::parse_record(opcode, data)
                }
                Some(Err(e)) => Err(e),
            };
            let record = match record {
                Ok(record) => record,
                Err(e) if self.read > 0 || !self.channels.is_empty() => {
                    self.damage = Some(match e {
                        mcap::McapError::UnexpectedEof => format!(
                            "the file ends inside a record after {} messages: the recording \
                             did not finish (was the recorder killed?)",
                            self.read
                        ),
                        other => format!("damaged after {} messages: {other}", self.read),
                    });
                    return Ok(None);
                }
                Err(e) => return Err(invalid(&self.path, &e.to_string())),
            };
            match record {
                Record::Schema { header, .. } => {
                    self.schemas.insert(header.id, header.name);
                }
                Record::Channel(channel) => {
                    let schema_name = self
                        .schemas
                        .get(&channel.schema_id)
                        .cloned()
                        .unwrap_or_default();
                    self.channels.insert(
                        channel.id,
                        Arc::new(Channel {
                            topic: channel.topic,
                            message_encoding: channel.message_encoding,
                            schema_name,
                            metadata: channel.metadata,
                        }),
                    );
                }
                Record::Message { header, data } => {
                    let Some(channel) = self.channels.get(&header.channel_id) else {
                        // A message before its channel: not from a valid
                        // writer; skipped like `mcap recover` does.
                        continue;
                    };
                    self.read += 1;
                    return Ok(Some(Recorded {
                        channel: Arc::clone(channel),
                        log_time: header.log_time,
                        data: Bytes::from(data.into_owned()),
                    }));
                }
                _ => {}
            }
        }
    }

    /// Why reading stopped before the file's proper end, if it did.
    pub(crate) fn damage(&self) -> Option<&str> {
        self.damage.as_deref()
    }
}

fn open(path: &Path) -> Result<File, CliError> {
    File::open(path).map_err(|cause| io(path, "open", cause))
}

fn io(path: &Path, doing: &str, cause: std::io::Error) -> CliError {
    CliError::Recording {
        file: path.to_owned(),
        problem: format!("cannot {doing} it: {cause}"),
    }
}

/// `path` is not a readable MCAP file.
pub(crate) fn invalid(path: &Path, problem: &str) -> CliError {
    CliError::Recording {
        file: path.to_owned(),
        problem: format!("not a readable MCAP file: {problem}"),
    }
}
