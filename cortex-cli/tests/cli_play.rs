//! `cortex play`: recordings (written here in `cortex record`'s layout, or
//! by `cortex record` itself) republished into live typed subscribers and
//! a Python subscriber; `--rate`, `--topics`, `--remap`, `--start`,
//! `--loop`; a recording whose recorder was killed; `--split-size`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use cortex::messages::{ImageMessage, IntMessage};
use cortex::{Header, Message, NdArray, Subscriber};

mod common;

use common::Killed;

/// Only against a hang: every wait ends on an event well before it.
const FAILSAFE: Duration = Duration::from_secs(60);

fn image(i: u8) -> ImageMessage {
    ImageMessage {
        data: NdArray::new(vec![i; 48], [4, 4, 3]).unwrap().into(),
        encoding: "rgb8".into(),
        width: 4,
        height: 4,
    }
}

/// The frames in the recorded layout: `u32` LE count, then per frame
/// `u32` LE length and bytes.
fn layout(frames: &[Bytes]) -> Vec<u8> {
    let mut out = (frames.len() as u32).to_le_bytes().to_vec();
    for frame in frames {
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(frame);
    }
    out
}

/// A recording as `cortex record` writes it: per topic a channel of
/// encoding `cortex` with fingerprint and type metadata; messages given as
/// (topic, type name, frames), logged at their header times.
fn write_recording(path: &Path, messages: &[(&str, &str, Vec<Bytes>)]) {
    let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut writer = mcap::WriteOptions::new().create(file).unwrap();
    let mut channels: BTreeMap<String, u16> = BTreeMap::new();
    for (topic, ty, frames) in messages {
        let header = Header::from_bytes(&frames[0]).unwrap();
        let channel = match channels.get(*topic) {
            Some(&id) => id,
            None => {
                let schema = writer.add_schema(ty, "jsonschema", b"{}").unwrap();
                let metadata = BTreeMap::from([
                    (
                        "fingerprint".to_owned(),
                        format!("{:#018x}", header.fingerprint),
                    ),
                    ("message_type".to_owned(), ty.to_string()),
                    ("publisher_node".to_owned(), "recorded".to_owned()),
                ]);
                let id = writer
                    .add_channel(schema, topic, "cortex", &metadata)
                    .unwrap();
                channels.insert(topic.to_string(), id);
                id
            }
        };
        writer
            .write_to_known_channel(
                &mcap::records::MessageHeader {
                    channel_id: channel,
                    sequence: header.sequence as u32,
                    log_time: header.timestamp_ns,
                    publish_time: header.timestamp_ns,
                },
                &layout(frames),
            )
            .unwrap();
    }
    writer.finish().unwrap();
}

/// Frames of `msg` with sequence `seq`, logged `ms` milliseconds after a
/// fixed start.
fn frames<M: Message>(msg: &M, seq: u64, ms: u64) -> Vec<Bytes> {
    let header = Header {
        fingerprint: M::FINGERPRINT,
        timestamp_ns: 1_700_000_000_000_000_000 + ms * 1_000_000,
        sequence: seq,
    };
    msg.encode_with_header(header).unwrap().to_frames()
}

/// 30 images on /a and 30 ints on /b, 10 ms apart. Each int is logged
/// 3 ms before the image written ahead of it (two publishers' clocks): the
/// file's first message is not its earliest.
fn two_topics(path: &Path) -> (Vec<ImageMessage>, Vec<IntMessage>) {
    let images: Vec<_> = (0..30).map(image).collect();
    let ints: Vec<_> = (0..30).map(|i| IntMessage { data: i * 3 }).collect();
    let mut messages = Vec::new();
    for i in 0..30 {
        let ms = i as u64 * 10 + 10;
        messages.push(("/a", "ImageMessage", frames(&images[i], i as u64, ms)));
        messages.push(("/b", "IntMessage", frames(&ints[i], i as u64, ms - 3)));
    }
    write_recording(path, &messages);
    (images, ints)
}

/// `cortex play ARGS` on the world's daemon and socket directory. The
/// first message waits for a subscriber on every topic played
/// (`--wait-subscribers 1`): the test makes them once the topics are
/// registered.
fn play(w: &common::World, args: &[&str]) -> Killed {
    Killed(
        w.addressed(&[&["play", "--wait-subscribers", "1"], args].concat())
            .env("CORTEX_SOCKET_ROOT", w.dir.path().join("topics"))
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    )
}

fn arg(path: &Path) -> String {
    path.to_str().unwrap().to_owned()
}

/// `n` messages from `subscriber`, with their headers.
async fn take<M: Message>(subscriber: &mut Subscriber<M>, n: usize) -> Vec<(M, Header)> {
    let mut got = Vec::new();
    while got.len() < n {
        let next = tokio::time::timeout(FAILSAFE, subscriber.recv())
            .await
            .expect("a played message in time")
            .unwrap();
        got.push(next);
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn play_republishes_every_message_under_its_type_at_the_recorded_pace() {
    let w = common::world("cxplay").await;
    let file = w.dir.path().join("two.mcap");
    let (images, ints) = two_topics(&file);
    let player = play(&w, &[&arg(&file), "--rate", "2"]);
    let node = w.node("listener").await;
    let mut a = node.subscriber::<ImageMessage>("/a").await.unwrap();
    let mut b = node.subscriber::<IntMessage>("/b").await.unwrap();
    let got_a = take(&mut a, 30).await;
    let got_b = take(&mut b, 30).await;
    let (ok, stderr) = player.finish().await;
    assert!(ok, "{stderr}");
    assert!(stderr.contains("played 60 messages"), "{stderr}");
    assert!(stderr.contains("playing /a (ImageMessage, "), "{stderr}");
    for (i, (msg, header)) in got_a.iter().enumerate() {
        assert_eq!(msg, &images[i]);
        // The player's own sequence, the type's fingerprint.
        assert_eq!(header.sequence, i as u64);
        assert_eq!(header.fingerprint, ImageMessage::FINGERPRINT);
    }
    let values: Vec<_> = got_b.iter().map(|(m, _)| m.clone()).collect();
    assert_eq!(values, ints);
    // Never sent ahead of the recorded timing: 290 ms recorded, at rate 2
    // the last image goes at least 145 ms after the first.
    let span = got_a[29].1.timestamp_ns - got_a[0].1.timestamp_ns;
    assert!(span >= 144_000_000, "{span} ns");
    assert_eq!((a.stats().dropped, b.stats().dropped), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_remap_and_start_choose_what_is_played_and_where() {
    let w = common::world("cxplay").await;
    let file = w.dir.path().join("two.mcap");
    let (images, _) = two_topics(&file);
    let player = play(
        &w,
        &[
            &arg(&file),
            "--topics",
            "/a",
            "--remap",
            "/a:=/replay/a",
            "--start",
            "0.1",
        ],
    );
    let node = w.node("listener").await;
    let mut replay = node.subscriber::<ImageMessage>("/replay/a").await.unwrap();
    // Images 10..29: those logged at least 100 ms after the file's first
    // message (the int logged at 7 ms).
    let got = take(&mut replay, 20).await;
    let (ok, stderr) = player.finish().await;
    assert!(ok, "{stderr}");
    assert!(stderr.contains("playing /a as /replay/a"), "{stderr}");
    assert!(stderr.contains("played 20 messages"), "{stderr}");
    let values: Vec<_> = got.into_iter().map(|(m, _)| m).collect();
    assert_eq!(values, images[10..]);
    // /b was not played: never registered.
    let client = node.discovery();
    assert!(client.publishers("/b").await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loop_plays_again_with_one_unbroken_sequence_until_stopped() {
    let w = common::world("cxplay").await;
    let file = w.dir.path().join("two.mcap");
    let (_, ints) = two_topics(&file);
    let player = play(
        &w,
        &[&arg(&file), "--loop", "--rate", "5", "--topics", "/b"],
    );
    let node = w.node("listener").await;
    let mut b = node.subscriber::<IntMessage>("/b").await.unwrap();
    let got = take(&mut b, 75).await;
    player.signal(libc::SIGINT);
    let (ok, stderr) = player.finish().await;
    assert!(ok, "{stderr}");
    for (i, (msg, header)) in got.iter().enumerate() {
        assert_eq!(msg, &ints[i % 30], "message {i}");
        assert_eq!(header.sequence, i as u64);
    }
    assert_eq!(b.stats().dropped, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn play_errors_say_what_the_file_holds() {
    let w = common::world("cxplay").await;
    let file = w.dir.path().join("two.mcap");
    two_topics(&file);
    let (ok, _, stderr) = w.run(&["play", &arg(&file), "--topics", "/c"]).await;
    assert!(!ok);
    assert!(stderr.contains("no cortex topic /c"), "{stderr}");
    assert!(stderr.contains("it has: /a, /b"), "{stderr}");
    let (ok, _, stderr) = w.run(&["play", &arg(&file), "--remap", "/a=/x"]).await;
    assert!(!ok);
    assert!(stderr.contains("is not FROM:=TO"), "{stderr}");
    let (ok, _, stderr) = w.run(&["play", &arg(&file), "--rate", "0"]).await;
    assert!(!ok);
    assert!(stderr.contains("--rate"), "{stderr}");
    let junk = w.dir.path().join("junk.mcap");
    std::fs::write(&junk, b"not an mcap file at all").unwrap();
    let (ok, _, stderr) = w.run(&["play", &arg(&junk)]).await;
    assert!(!ok);
    assert!(stderr.contains("not a readable MCAP file"), "{stderr}");
}

/// The stderr lines of a running command, on a thread.
fn stderr_lines(child: &mut Child) -> std::sync::mpsc::Receiver<String> {
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// A progress line's message count (`2 s: 87 msgs, ...`).
fn progress_count(line: &str) -> Option<u64> {
    let (_, rest) = line.split_once(" s: ")?;
    rest.split_once(" msgs")?.0.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_whose_recorder_was_killed_is_read_and_played() {
    let w = common::world("cxplay").await;
    let file = w.dir.path().join("killed.mcap");
    let mut recorder = Killed(
        w.addressed(&["record", "-o", &arg(&file), "/b"])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let lines = stderr_lines(&mut recorder.0);
    let node = w.node("source").await;
    let ints = node.publisher::<IntMessage>("/b").await.unwrap();
    // Publish until a progress line shows messages: the file was flushed
    // (a finished chunk) just before that line.
    let started = std::time::Instant::now();
    let mut i = 0;
    let flushed = loop {
        assert!(started.elapsed() < FAILSAFE, "no progress line");
        ints.publish(&IntMessage { data: i }).unwrap();
        i += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
        if let Some(n) = lines.try_iter().filter_map(|l| progress_count(&l)).max() {
            if n >= 20 {
                break n;
            }
        }
    };
    recorder.signal(libc::SIGKILL);
    let _ = recorder.finish().await;
    assert!(
        mcap::Summary::read(&std::fs::read(&file).unwrap()).is_err()
            || mcap::Summary::read(&std::fs::read(&file).unwrap())
                .unwrap()
                .is_none(),
        "a killed recorder leaves no summary"
    );

    let mut info = w.command(&["info", &arg(&file)]);
    let out = tokio::task::spawn_blocking(move || info.output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("state:       unfinished"), "{stdout}");
    let count: u64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("messages:    "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(count >= flushed, "{count} read, {flushed} flushed");

    // Played to a subscriber: every readable message, in order.
    drop(ints);
    let player = play(
        &w,
        &[&arg(&file), "--rate", "20", "--remap", "/b:=/b/again"],
    );
    let mut b = node.subscriber::<IntMessage>("/b/again").await.unwrap();
    let got = take(&mut b, count as usize).await;
    let (ok, stderr) = player.finish().await;
    assert!(ok, "{stderr}");
    assert!(stderr.contains("has no summary"), "{stderr}");
    let first = got[0].0.data;
    for (k, (msg, _)) in got.iter().enumerate() {
        assert_eq!(msg.data, first + k as i64);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_size_starts_a_new_file_each_time_one_is_full() {
    let w = common::world("cxplay").await;
    let base = w.dir.path().join("parts.mcap");
    let recorder = Killed(
        w.addressed(&[
            "record",
            "-o",
            &arg(&base),
            "--split-size",
            "0.05",
            "--compression",
            "none",
            "/big",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap(),
    );
    let node = w.node("source").await;
    let images = node.publisher::<ImageMessage>("/big").await.unwrap();
    // Wait for the recorder to follow the topic before counting.
    tokio::time::timeout(FAILSAFE, images.wait_for_subscribers(1, FAILSAFE))
        .await
        .unwrap()
        .unwrap();
    let big = ImageMessage {
        data: NdArray::new(vec![9u8; 8192], [64, 128]).unwrap().into(),
        encoding: "mono8".into(),
        width: 128,
        height: 64,
    };
    for _ in 0..40 {
        images.publish(&big).unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    recorder.signal(libc::SIGINT);
    let (ok, stderr) = recorder.finish().await;
    assert!(ok, "{stderr}");
    let parts: Vec<PathBuf> = (0..)
        .map(|i| w.dir.path().join(format!("parts_{i}.mcap")))
        .take_while(|p| p.exists())
        .collect();
    assert!(parts.len() >= 3, "{} parts; {stderr}", parts.len());
    let mut sequences = Vec::new();
    for part in &parts {
        let data = std::fs::read(part).unwrap();
        // Each part is a finished, indexed file of its own.
        let summary = mcap::Summary::read(&data).unwrap().expect("a summary");
        assert_eq!(summary.channels.len(), 1);
        for message in mcap::MessageStream::new(&data).unwrap() {
            sequences.push(message.unwrap().sequence);
        }
    }
    assert_eq!(sequences, (0..40).collect::<Vec<u32>>());
}

/// The Python peer of the `cortex-tests` crate (it behaves on the wire as
/// the Python cortex, with its strict fingerprint check) and its vectors.
fn peer() -> (PathBuf, PathBuf) {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests");
    (tests.join("python/peer.py"), tests.join("data/interop"))
}

/// A Python subscriber receives a played message exactly as the Python
/// cortex published it: the interop vectors' first sample, recorded in
/// `cortex record`'s layout and played with `--loop` until it has one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_subscriber_receives_played_messages() {
    if !common::python_has("zmq, msgpack", "pyzmq msgpack") {
        return;
    }
    let w = common::world("cxplay").await;
    let (script, vectors) = peer();
    let samples_path = w.dir.path().join("samples.json");
    let status = Command::new("python3")
        .arg(&script)
        .args(["samples", &arg(&vectors), &arg(&samples_path)])
        .status()
        .unwrap();
    assert!(status.success());
    let samples: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&samples_path).unwrap()).unwrap();
    let sample = &samples["samples"][0];
    let class = sample["class"].as_str().unwrap();
    let sample_frames: Vec<Bytes> = sample["frames_hex"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| Bytes::from(hex_bytes(h.as_str().unwrap())))
        .collect();
    let file = w.dir.path().join("py.mcap");
    let header = Header::from_bytes(&sample_frames[0]).unwrap();
    let messages: Vec<_> = (0..20)
        .map(|i| {
            let mut frames = sample_frames.clone();
            frames[0] = Bytes::copy_from_slice(
                &Header {
                    fingerprint: header.fingerprint,
                    timestamp_ns: 1_700_000_000_000_000_000 + i * 10_000_000,
                    sequence: i,
                }
                .to_bytes(),
            );
            ("/py", class, frames)
        })
        .collect();
    write_recording(&file, &messages);
    let player = play(&w, &[&arg(&file), "--loop"]);
    let python = Killed(
        Command::new("python3")
            .arg(&script)
            .args([
                "sub",
                &w.discovery,
                &arg(&vectors),
                &arg(&samples_path),
                "/py=0",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let output = tokio::task::spawn_blocking(move || {
        let mut python = python;
        let out = python.0.stdout.take().unwrap();
        let lines: Vec<String> = BufReader::new(out).lines().map_while(Result::ok).collect();
        let status = python.0.wait().unwrap();
        (status.success(), lines)
    });
    let (ok, lines) = tokio::time::timeout(FAILSAFE, output)
        .await
        .unwrap()
        .unwrap();
    player.signal(libc::SIGINT);
    let (played, stderr) = player.finish().await;
    assert!(played, "{stderr}");
    assert!(ok, "{lines:?}");
    assert_eq!(lines.len(), 2, "{lines:?}");
    let got: serde_json::Value = serde_json::from_str(&lines[1]).unwrap();
    assert_eq!(got["message_type"], class, "{got}");
    assert_eq!(got["fingerprint_ok"], true, "{got}");
    assert_eq!(got["equal"], true, "{got}");
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

/// Ctrl-C while the player still waits for subscribers ends it cleanly:
/// exit 0, its topics unregistered at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_before_the_first_message_unregisters_the_topics() {
    let w = common::world("cxplay").await;
    let file = w.dir.path().join("two.mcap");
    two_topics(&file);
    let player = Killed(
        w.addressed(&[
            "play",
            &arg(&file),
            "--wait-subscribers",
            "1",
            "--wait-timeout",
            "300",
        ])
        .env("CORTEX_SOCKET_ROOT", w.dir.path().join("topics"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap(),
    );
    let node = w.node("observer").await;
    let client = node.discovery();
    tokio::time::timeout(FAILSAFE, async {
        while client.publishers("/b").await.unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the player registers /b");
    player.signal(libc::SIGINT);
    let (ok, stderr) = player.finish().await;
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("stopped before the first message"),
        "{stderr}"
    );
    for topic in ["/a", "/b"] {
        assert!(
            client.publishers(topic).await.unwrap().is_empty(),
            "{topic}"
        );
    }
}
