//! `cortex topic echo` and `cortex topic hz`: subscribe to a topic of any
//! type and print its messages or its rate.

use std::time::{Duration, Instant};

use bytes::Bytes;
use cortex::discovery::{Client, TopicInfo};
use cortex::io::frame_to_bytes;
use cortex::io::AsyncSocket;
use cortex::message::DynamicMessage;
use cortex::messages::*;
use cortex::pubsub::{beacon_topic, SequenceTracker};
use cortex::{Error, Message, Result, Schema};

use super::output::outln;

/// Field names for the types this tool knows (the standard messages).
fn known_schema(fingerprint: u64) -> Option<&'static Schema> {
    let all: [fn() -> &'static Schema; 14] = [
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
    all.into_iter()
        .map(|s| s())
        .find(|s| s.accepts(fingerprint))
}

/// A SUB socket on `topic` (and on its sequence beacons, with
/// `beacons`), found through `client`.
async fn connect(
    client: &Client,
    topic: &str,
    wait: Duration,
    beacons: bool,
) -> Result<(TopicInfo, AsyncSocket)> {
    let info = client.wait_for_topic(topic, wait).await?;
    let socket = zmq::Context::new()
        .socket(zmq::SUB)
        .and_then(|s| {
            s.set_linger(0)?;
            s.set_subscribe(topic.as_bytes())?;
            if beacons {
                s.set_subscribe(&beacon_topic(topic))?;
            }
            s.connect(&info.address)?;
            Ok(s)
        })
        .map_err(|e| Error::Zmq {
            context: format!("connecting to {topic} at {}", info.address),
            cause: e,
        })?;
    let socket = AsyncSocket::new(socket).map_err(|e| Error::Io {
        context: format!("registering the socket of {topic}"),
        cause: e,
    })?;
    Ok((info, socket))
}

/// The frames after the topic frame, if the topic frame matches exactly.
async fn next(socket: &mut AsyncSocket, topic: &str) -> Result<Option<Vec<Bytes>>> {
    let frames = socket.recv_multipart().await.map_err(|e| Error::Io {
        context: format!("receiving on {topic}"),
        cause: e,
    })?;
    let mut frames = frames.into_iter();
    match frames.next() {
        Some(t) if *t == *topic.as_bytes() => Ok(Some(frames.map(frame_to_bytes).collect())),
        _ => Ok(None),
    }
}

/// Prints up to `count` messages (0 = until interrupted).
pub(crate) async fn echo(client: &Client, topic: &str, count: u64, wait: Duration) -> Result<()> {
    let (info, mut socket) = connect(client, topic, wait, false).await?;
    let schema = known_schema(info.fingerprint);
    eprintln!(
        "echoing {topic} ({}, {:#018x}) from {}",
        info.message_type, info.fingerprint, info.address
    );
    let mut printed = 0;
    while count == 0 || printed < count {
        let Some(frames) = next(&mut socket, topic).await? else {
            continue;
        };
        match DynamicMessage::decode(&frames) {
            Ok(msg) => {
                outln!(
                    "--- seq {} stamp {} ns",
                    msg.header.sequence,
                    msg.header.timestamp_ns
                )?;
                for (i, value) in msg.fields.iter().enumerate() {
                    match schema.and_then(|s| s.fields.get(i)) {
                        Some(field) => outln!("{}: {value}", field.name)?,
                        None => outln!("[{i}]: {value}")?,
                    }
                }
            }
            Err(e) => outln!("--- undecodable message: {e}")?,
        }
        printed += 1;
    }
    Ok(())
}

/// Prints the message rate once per `window` (`reports` times; 0 = until interrupted).
pub(crate) async fn hz(
    client: &Client,
    topic: &str,
    window: Duration,
    reports: u64,
    wait: Duration,
) -> Result<()> {
    let (info, mut socket) = connect(client, topic, wait, true).await?;
    eprintln!(
        "measuring {topic} ({}) from {}",
        info.message_type, info.address
    );
    let beacon = beacon_topic(topic);
    let mut sequence = SequenceTracker::new();
    let (mut n, mut gaps, mut done) = (0u64, 0u64, 0u64);
    let mut start = Instant::now();
    loop {
        let deadline = start + window;
        let remaining = deadline.saturating_duration_since(Instant::now());
        if let Ok(frames) = tokio::time::timeout(remaining, socket.recv_multipart()).await {
            let frames = frames.map_err(|e| Error::Io {
                context: format!("receiving on {topic}"),
                cause: e,
            })?;
            let header = frames
                .get(1)
                .and_then(|h| cortex::Header::from_bytes(h).ok());
            match (frames.first(), header) {
                // The publisher's last sequence: loss at the end of a burst.
                (Some(t), Some(h)) if **t == *beacon => {
                    gaps += sequence.observe_last_sent(h.sequence);
                }
                (Some(t), header) if **t == *topic.as_bytes() => {
                    n += 1;
                    if let Some(h) = header {
                        gaps += SequenceTracker::lost(sequence.observe(h.sequence));
                    }
                }
                _ => {}
            }
            continue;
        }
        let secs = start.elapsed().as_secs_f64();
        outln!(
            "{topic}: {:.2} msg/s ({n} in {secs:.2} s), lost {gaps}",
            n as f64 / secs
        )?;
        done += 1;
        if reports != 0 && done >= reports {
            return Ok(());
        }
        (n, gaps, start) = (0, 0, Instant::now());
    }
}
