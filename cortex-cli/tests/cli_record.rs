//! `cortex record` and `cortex info`: two topics of standard types
//! recorded while they are published, the file read back with the `mcap`
//! crate (channels, schemas, counts, frames byte-equal to the publisher's).

use std::collections::{BTreeMap, HashMap};
use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use cortex::messages::{ImageMessage, IntMessage};
use cortex::{Header, Message, NdArray};

mod common;

use common::Killed;

/// Only against a hang: every wait ends on an event well before it.
const FAILSAFE: Duration = Duration::from_secs(60);

fn image(i: u8) -> ImageMessage {
    ImageMessage {
        data: NdArray::new(vec![i; 12], [2, 2, 3]).unwrap().into(),
        encoding: "rgb8".into(),
        width: 2,
        height: 2,
    }
}

/// The frames of a recorded message: `u32` LE count, then per frame
/// `u32` LE length and bytes.
fn frames(data: &[u8]) -> Vec<Bytes> {
    let u32_at = |at: usize| u32::from_le_bytes(data[at..at + 4].try_into().unwrap()) as usize;
    let mut frames = Vec::new();
    let mut at = 4;
    for _ in 0..u32_at(0) {
        let len = u32_at(at);
        frames.push(Bytes::copy_from_slice(&data[at + 4..at + 4 + len]));
        at += 4 + len;
    }
    assert_eq!(at, data.len(), "trailing bytes after the frames");
    frames
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_writes_every_frame_and_info_shows_the_topics() {
    let w = common::world("cxrecord").await;
    let node = w.node("camera").await;
    let images = node.publisher::<ImageMessage>("/a").await.unwrap();
    let ints = node.publisher::<IntMessage>("/b").await.unwrap();
    let file = w.dir.path().join("rec.mcap");
    let file_arg = file.to_str().unwrap().to_owned();

    let mut recorder = Killed(
        w.command(&[
            "record",
            "-o",
            &file_arg,
            "--duration",
            "3",
            "--compression",
            "lz4",
            "/a",
            "/b",
            "--address",
            &w.discovery,
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap(),
    );
    // Published messages by sequence, per topic; published until the
    // recorder ends by itself.
    let (mut sent_a, mut sent_b) = (Vec::new(), Vec::new());
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = recorder.0.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < FAILSAFE, "the recorder does not end");
        let i = sent_a.len();
        let (a, b) = (image(i as u8), IntMessage { data: i as i64 * 7 });
        images.publish(&a).unwrap();
        ints.publish(&b).unwrap();
        sent_a.push(a);
        sent_b.push(b);
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut recorder.0.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("recorded "), "{stderr}");

    let data = std::fs::read(&file).unwrap();
    let summary = mcap::Summary::read(&data)
        .unwrap()
        .expect("an indexed file");
    let stats = summary.stats.clone().unwrap();
    let mut channels: BTreeMap<String, (u16, String, String)> = BTreeMap::new();
    for channel in summary.channels.values() {
        let schema = channel.schema.as_ref().expect("a schema");
        assert_eq!(schema.encoding, "jsonschema");
        let json: serde_json::Value = serde_json::from_slice(&schema.data).unwrap();
        assert_eq!(json["title"], schema.name.as_str());
        assert!(json["properties"].is_object(), "{json}");
        assert_eq!(channel.metadata["publisher_node"], "camera");
        channels.insert(
            channel.topic.clone(),
            (
                channel.id,
                schema.name.clone(),
                channel.message_encoding.clone(),
            ),
        );
    }
    let names: Vec<(&str, &str, &str)> = channels
        .iter()
        .map(|(t, (_, s, e))| (t.as_str(), s.as_str(), e.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("/a", "ImageMessage", "cortex"),
            ("/b", "IntMessage", "cortex")
        ]
    );

    // Every message is the publisher's, byte for byte, in order, none lost
    // once the recording has started.
    let mut sequences: HashMap<String, Vec<u64>> = HashMap::new();
    for message in mcap::MessageStream::new(&data).unwrap() {
        let message = message.unwrap();
        let frames = frames(&message.data);
        let header = Header::from_bytes(&frames[0]).unwrap();
        assert_eq!(message.log_time, header.timestamp_ns);
        assert_eq!(message.publish_time, header.timestamp_ns);
        assert_eq!(u64::from(message.sequence), header.sequence);
        let seq = header.sequence as usize;
        let expected = match message.channel.topic.as_str() {
            "/a" => sent_a[seq].encode_with_header(header).unwrap().to_frames(),
            "/b" => sent_b[seq].encode_with_header(header).unwrap().to_frames(),
            other => panic!("unexpected topic {other}"),
        };
        assert_eq!(frames, expected, "{} seq {seq}", message.channel.topic);
        sequences
            .entry(message.channel.topic.clone())
            .or_default()
            .push(header.sequence);
    }
    for (topic, (id, _, _)) in &channels {
        let seen = &sequences[topic];
        assert!(seen.len() >= 10, "{topic}: only {} messages", seen.len());
        assert!(
            seen.windows(2).all(|p| p[1] == p[0] + 1),
            "{topic}: {seen:?}"
        );
        assert_eq!(stats.channel_message_counts[id], seen.len() as u64);
    }

    let out = w.command(&["info", &file_arg]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("compression: lz4"), "{stdout}");
    assert!(
        stdout.contains(&format!("messages:    {}", stats.message_count)),
        "{stdout}"
    );
    for (topic, ty) in [("/a", "ImageMessage"), ("/b", "IntMessage")] {
        let count = sequences[topic].len();
        assert!(
            stdout.contains(&format!("  {topic}  {ty}  {count} msgs")),
            "{stdout}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_all_follows_a_topic_registered_later_and_sigint_finishes_the_file() {
    let w = common::world("cxrecord").await;
    let file = w.dir.path().join("all.mcap");
    let file_arg = file.to_str().unwrap().to_owned();
    let recorder = Killed(
        w.command(&[
            "record",
            "--all",
            "-o",
            &file_arg,
            "--address",
            &w.discovery,
        ])
        .spawn()
        .unwrap(),
    );
    // Registered after the recorder started.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let node = w.node("late").await;
    let ints = node.publisher::<IntMessage>("/late").await.unwrap();
    let started = std::time::Instant::now();
    for i in 0..100 {
        ints.publish(&IntMessage { data: i }).unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(started.elapsed() < FAILSAFE);
    recorder.signal(libc::SIGINT);
    let mut recorder = recorder;
    let status = tokio::task::spawn_blocking(move || {
        let status = recorder.0.wait().unwrap();
        (status, recorder)
    })
    .await
    .unwrap()
    .0;
    assert!(status.success(), "{status:?}");

    let data = std::fs::read(&file).unwrap();
    let summary = mcap::Summary::read(&data)
        .unwrap()
        .expect("an indexed file");
    let channel = summary
        .channels
        .values()
        .find(|c| c.topic == "/late")
        .expect("a channel for /late");
    let count = summary.stats.unwrap().channel_message_counts[&channel.id];
    assert!(count >= 10, "{count}");
}

/// A type of this test's own (not a standard message).
#[derive(cortex::Message, Debug, Clone)]
struct Wheel {
    speed: f64,
    ticks: [i32; 2],
}

/// A recorder started before the publisher of a type it cannot know
/// still records that type's fields: a node reports a new publisher
/// before it can send, so the first message finds the fields at the
/// daemon. The Foxglove view names them too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_type_published_after_the_recorder_started_is_recorded_with_its_fields() {
    let w = common::world("cxrecord").await;
    let file = w.dir.path().join("wheel.mcap");
    let file_arg = file.to_str().unwrap().to_owned();
    let mut recorder = Killed(
        w.addressed(&["record", "-o", &file_arg, "--foxglove", "/wheel"])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let node = w.node("base").await;
    let wheels = node.publisher::<Wheel>("/wheel").await.unwrap();
    // Sent at once: the recorder's first message may be this one.
    wheels
        .wait_for_subscribers(1, FAILSAFE)
        .await
        .expect("the recorder subscribes");
    for i in 0..5 {
        wheels
            .publish(&Wheel {
                speed: f64::from(i),
                ticks: [i, -i],
            })
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    recorder.signal(libc::SIGINT);
    let status = recorder.0.wait().unwrap();
    assert!(status.success());

    let data = std::fs::read(&file).unwrap();
    let summary = mcap::Summary::read(&data)
        .unwrap()
        .expect("an indexed file");
    let schema_of = |topic: &str| {
        let channel = summary
            .channels
            .values()
            .find(|c| c.topic == topic)
            .unwrap_or_else(|| panic!("no channel {topic}"));
        let schema = channel.schema.as_ref().unwrap();
        serde_json::from_slice::<serde_json::Value>(&schema.data).unwrap()
    };
    let schema = schema_of("/wheel");
    assert_eq!(
        schema["required"],
        serde_json::json!(["speed", "ticks"]),
        "{schema}"
    );
    assert_eq!(schema_of("/foxglove/wheel"), schema);
    let first = mcap::MessageStream::new(&data)
        .unwrap()
        .map(Result::unwrap)
        .find(|m| m.channel.topic == "/foxglove/wheel")
        .expect("a Foxglove message");
    let json: serde_json::Value = serde_json::from_slice(&first.data).unwrap();
    assert_eq!(json, serde_json::json!({ "speed": 0.0, "ticks": [0, 0] }));
}

/// A latched publisher's message from before the recording is recorded
/// (the recorder asks for it as a late subscriber does), logged when it
/// was received, with the depth in the channel metadata; `cortex play`
/// publishes it latched again, so a subscriber that joins after it was
/// played still gets it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_latched_message_from_before_the_recording_is_recorded_and_played_latched() {
    let w = common::world("cxrecord").await;
    let node = w.node("sensor").await;
    let options = cortex::pubsub::PublisherOptions {
        latched: 1,
        ..Default::default()
    };
    let calibration = node
        .publisher_with::<IntMessage>("/calibration", &options)
        .await
        .unwrap();
    calibration.publish(&IntMessage { data: 42 }).unwrap();
    let ticks = node.publisher::<IntMessage>("/tick").await.unwrap();

    // `topic echo` started after it was published still shows it, marked.
    let (ok, out, err) = w.run(&["topic", "echo", "/calibration", "-n", "1"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("from sensor (latched)"), "{out}");
    assert!(out.contains("data: 42"), "{out}");

    let file = w.dir.path().join("latched.mcap");
    let file_arg = file.to_str().unwrap().to_owned();
    let mut recorder = Killed(
        w.addressed(&["record", "-o", &file_arg, "/calibration", "/tick"])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    ticks
        .wait_for_subscribers(1, FAILSAFE)
        .await
        .expect("the recorder subscribes");
    // Ticks for a second: the player is still playing when the test's
    // late subscriber joins.
    for i in 0..20 {
        ticks.publish(&IntMessage { data: i }).unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    recorder.signal(libc::SIGINT);
    assert!(recorder.0.wait().unwrap().success());
    drop((calibration, ticks));

    let data = std::fs::read(&file).unwrap();
    let summary = mcap::Summary::read(&data)
        .unwrap()
        .expect("an indexed file");
    let channel = summary
        .channels
        .values()
        .find(|c| c.topic == "/calibration")
        .expect("the latched topic is recorded");
    assert_eq!(channel.metadata["latched"], "1");
    let stats = summary.stats.clone().unwrap();
    assert_eq!(stats.channel_message_counts[&channel.id], 1);
    let message = mcap::MessageStream::new(&data)
        .unwrap()
        .map(Result::unwrap)
        .find(|m| m.channel.topic == "/calibration")
        .unwrap();
    let header = Header::from_bytes(&frames(&message.data)[0]).unwrap();
    assert_eq!(message.publish_time, header.timestamp_ns);
    assert!(
        message.log_time > header.timestamp_ns,
        "logged when received"
    );
    // Logged no earlier than the file's other messages start (within the
    // recorder's start-up), so a replay sends it first, at once.
    assert!(message.log_time <= stats.message_end_time);

    // Played: a subscriber that joins once it has gone out still gets it.
    let mut player = Killed(
        w.addressed(&["play", &file_arg, "--delay", "0"])
            .env("CORTEX_SOCKET_ROOT", w.dir.path().join("topics"))
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let listener = w.node("late").await;
    let mut ticks = listener.subscriber::<IntMessage>("/tick").await.unwrap();
    // A tick arrives: playback is under way, the calibration was sent.
    tokio::time::timeout(FAILSAFE, ticks.recv())
        .await
        .expect("a played tick")
        .unwrap();
    let mut late = listener
        .subscriber::<IntMessage>("/calibration")
        .await
        .unwrap();
    let (got, _) = tokio::time::timeout(FAILSAFE, late.recv())
        .await
        .expect("the latched calibration")
        .unwrap();
    assert_eq!(got.data, 42);
    assert!(player.0.wait().unwrap().success());
}
