//! The pipeline recorded and replayed, as a user would: `cortex record
//! --foxglove` while the sensor and processor run (the latched calibration,
//! published before, included); the file read back with
//! the `mcap` crate (channels, schemas, counts, byte-exact frames) and with
//! the official Python MCAP libraries (the Foxglove images decoded with the
//! schema in the file); then, with the sensor stopped, `cortex info` and
//! `cortex play` into the running processor and a live subscriber, which
//! receive exactly the recorded camera frames.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use cortex::bytes::Bytes;
use cortex::messages::ImageMessage;
use cortex::prelude::*;

/// The pipeline's own message types, topics and service.
#[allow(dead_code)]
#[path = "../examples/pipeline/msgs.rs"]
mod msgs;

mod common;

use common::{sigterm, spawn, wait_exit, Spawned};
use msgs::{Summary, CALIBRATION, CAMERA, IMU, PROCESSED};

/// Only against a hang: every wait ends on an event well before it.
const FAILSAFE: Duration = Duration::from_secs(60);

/// The `cortex` command, built with the workspace (`target/<profile>/cortex`).
fn cortex_command() -> PathBuf {
    let exe = std::env::current_exe().expect("test path");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let path = dir.join("cortex");
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build -p cortex-cli` (`cargo test --workspace` does)",
        path.display()
    );
    path
}

/// `cortex ARGS` on the test's daemon and socket root.
fn cortex(args: &[&str], discovery: &str, root: &Path) -> Command {
    let mut command = Command::new(cortex_command());
    command
        .args(args)
        .env("CORTEX_DISCOVERY", discovery)
        .env("CORTEX_SOCKET_ROOT", root)
        .env("CORTEX_SPAWN_DAEMON", "0")
        .stdin(Stdio::null());
    command
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

/// Whether python3 has the official MCAP readers; under `CI=true` they
/// must be there (`.ci/run` installs them).
fn python_mcap_ready() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import mcap, mcap_protobuf"])
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        let missing = "python3 with the mcap and mcap-protobuf-support packages is not \
                       available (python3 -m pip install mcap mcap-protobuf-support)";
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{missing}: under CI=true the independent MCAP check must run"
        );
        eprintln!("skipped the Python MCAP check: {missing}");
    }
    ok
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pipeline_is_recorded_inspected_and_replayed_into_the_processor() {
    let common::World {
        dir,
        discovery,
        root,
        node,
        daemon: daemon_stop,
    } = common::world("cxrr").await;

    let mut sensor = spawn("sensor", &discovery, &root);
    let mut processor = spawn("processor", &discovery, &root);
    let mut camera = node
        .subscriber::<ImageMessage>(CAMERA.name())
        .await
        .unwrap();
    tokio::time::timeout(FAILSAFE, camera.recv())
        .await
        .expect("a camera frame")
        .unwrap();
    let mut processed = node.subscriber::<Summary>(PROCESSED.name()).await.unwrap();

    // Record 3 s; what the test's own subscriber receives meanwhile is
    // what the file must hold, byte for byte.
    let file = dir.path().join("pipeline.mcap");
    let file_arg = file.to_str().unwrap().to_owned();
    let mut recorder = Spawned(
        cortex(
            &[
                "record",
                "-o",
                &file_arg,
                "--foxglove",
                "--duration",
                "3",
                CAMERA.name(),
                IMU.name(),
                PROCESSED.name(),
                CALIBRATION.name(),
            ],
            &discovery,
            &root,
        )
        .stderr(Stdio::piped())
        .spawn()
        .unwrap(),
    );
    let mut received: BTreeMap<u64, (ImageMessage, Header)> = BTreeMap::new();
    let recorded = loop {
        tokio::select! {
            got = camera.recv() => {
                let (image, header) = got.unwrap();
                received.insert(header.sequence, (image, header));
            }
            () = tokio::time::sleep(Duration::from_millis(10)) => {
                if let Some(status) = recorder.0.try_wait().unwrap() {
                    break status;
                }
            }
        }
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut recorder.0.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(recorded.success(), "{stderr}");

    // The file, read with the mcap crate.
    let data = std::fs::read(&file).unwrap();
    let summary = mcap::Summary::read(&data)
        .unwrap()
        .expect("an indexed file");
    let stats = summary.stats.clone().unwrap();
    let mut channels: BTreeMap<&str, (String, String, String, u64)> = BTreeMap::new();
    for c in summary.channels.values() {
        let schema = c.schema.as_ref().expect("a schema");
        channels.insert(
            c.topic.as_str(),
            (
                c.message_encoding.clone(),
                schema.name.clone(),
                schema.encoding.clone(),
                stats.channel_message_counts[&c.id],
            ),
        );
    }
    let shape: Vec<(&str, &str, &str, &str)> = channels
        .iter()
        .map(|(t, (e, s, se, _))| (*t, e.as_str(), s.as_str(), se.as_str()))
        .collect();
    assert_eq!(
        shape,
        [
            ("/foxglove/processed", "json", "Summary", "jsonschema"),
            (
                "/foxglove/sensor/a",
                "protobuf",
                "foxglove.RawImage",
                "protobuf"
            ),
            ("/foxglove/sensor/b", "json", "Imu", "jsonschema"),
            (
                "/foxglove/sensor/calibration",
                "json",
                "Calibration",
                "jsonschema"
            ),
            ("/processed", "cortex", "Summary", "jsonschema"),
            ("/sensor/a", "cortex", "ImageMessage", "jsonschema"),
            ("/sensor/b", "cortex", "Imu", "jsonschema"),
            ("/sensor/calibration", "cortex", "Calibration", "jsonschema"),
        ]
    );
    // The calibration was published once, before the recorder started;
    // the recorder asked the latched sensor for it.
    assert_eq!(channels["/sensor/calibration"].3, 1);
    let calibration = summary
        .channels
        .values()
        .find(|c| c.topic == CALIBRATION.name())
        .unwrap();
    assert_eq!(calibration.metadata["latched"], "1");
    // Imu is the pipeline's own type: its fields come from the sensor's
    // node report, so its JSON Schema lists them.
    let imu = summary
        .channels
        .values()
        .find(|c| c.topic == IMU.name())
        .and_then(|c| c.schema.clone())
        .unwrap();
    let imu: serde_json::Value = serde_json::from_slice(&imu.data).unwrap();
    assert_eq!(
        imu["properties"]["accel"]["x-cortex-type"], "[f64; 3]",
        "{imu}"
    );
    assert_eq!(imu["required"], serde_json::json!(["accel", "gyro"]));
    let camera_count = channels["/sensor/a"].3;
    // 3 s at 30 Hz; a debug build under test load is slower.
    assert!(camera_count >= 30, "{camera_count} camera frames");
    for topic in ["/sensor/a", "/sensor/b", "/processed"] {
        assert_eq!(
            channels[topic].3,
            channels[format!("/foxglove{topic}").as_str()].3,
            "{topic}: every message also in its Foxglove form"
        );
    }
    // Byte-exact: each recorded camera frame is what the live subscriber
    // got with the same sequence, encoded again with its header.
    let mut recorded_frames = Vec::new();
    for message in mcap::MessageStream::new(&data).unwrap() {
        let message = message.unwrap();
        if message.channel.topic != CAMERA.name() {
            continue;
        }
        let frames = frames(&message.data);
        let header = Header::from_bytes(&frames[0]).unwrap();
        assert_eq!(message.log_time, header.timestamp_ns);
        if let Some((image, live)) = received.get(&header.sequence) {
            assert_eq!(live, &header);
            assert_eq!(
                image.encode_with_header(header).unwrap().to_frames(),
                frames,
                "frame {}",
                header.sequence
            );
        }
        recorded_frames.push(ImageMessage::decode(&frames).unwrap().0);
    }
    let compared = recorded_frames.len();
    assert_eq!(compared as u64, camera_count);
    assert!(
        received.len() * 10 >= compared * 9,
        "the live subscriber saw {} of {compared} recorded frames",
        received.len()
    );

    // The same file through the official Python MCAP libraries: the
    // Foxglove images decode with the schema stored in the file.
    if python_mcap_ready() {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/check_recording.py");
        let out = Command::new("python3")
            .arg(&script)
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let check: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            check["channels"]["/sensor/a"]["count"], camera_count,
            "{check}"
        );
        assert_eq!(
            check["channels"]["/foxglove/sensor/a"]["metadata"]["cortex_topic"],
            "/sensor/a"
        );
        let images = check["images"]["/foxglove/sensor/a"].as_array().unwrap();
        assert!(!images.is_empty(), "{check}");
        for (image, recorded) in images.iter().zip(&recorded_frames) {
            assert_eq!(image["width"], 640);
            assert_eq!(image["height"], 480);
            assert_eq!(image["encoding"], "rgb8");
            assert_eq!(image["step"], 640 * 3);
            assert_eq!(image["bytes"], 640 * 480 * 3);
            assert_eq!(image["first_byte"], recorded.data.as_bytes()[0]);
            assert_eq!(image["stamp_ns"], image["log_time"]);
        }
        assert!(
            check["json"]["/foxglove/sensor/b"]["accel"].is_array(),
            "{check}"
        );
    }

    // cortex info: the topics and counts.
    let out = cortex(&["info", &file_arg], &discovery, &root)
        .output()
        .unwrap();
    let info = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        info.contains(&format!("  /sensor/a  ImageMessage  {camera_count} msgs")),
        "{info}"
    );

    // The sensor stops; the processor keeps running. Played back, its
    // camera frames reach the processor, which summarises each one, and a
    // live subscriber, which gets exactly the recorded frames.
    sigterm(&sensor);
    assert!(wait_exit(&mut sensor, FAILSAFE).await.success());
    drop(camera);
    // What the processor made of the live frames, until it goes quiet.
    while let Ok(got) = tokio::time::timeout(Duration::from_millis(300), processed.recv()).await {
        got.unwrap();
    }
    let player = Spawned(
        cortex(
            // The processor and this test's subscriber.
            &[
                "play",
                &file_arg,
                "--topics",
                CAMERA.name(),
                "--wait-subscribers",
                "2",
            ],
            &discovery,
            &root,
        )
        .stderr(Stdio::piped())
        .spawn()
        .unwrap(),
    );
    let mut replayed = node
        .subscriber::<ImageMessage>(CAMERA.name())
        .await
        .unwrap();
    let mut played = Vec::new();
    while played.len() < compared {
        let (image, _) = tokio::time::timeout(FAILSAFE, replayed.recv())
            .await
            .expect("a replayed frame")
            .unwrap();
        played.push(image);
    }
    assert_eq!(played, recorded_frames);
    let mut summaries = Vec::new();
    while summaries.len() < compared {
        let (summary, _) = tokio::time::timeout(FAILSAFE, processed.recv())
            .await
            .expect("the processor's summary of a replayed frame")
            .unwrap();
        if summary.source == CAMERA.name() {
            summaries.push(summary.value);
        }
    }
    // Each frame is one shade: the processor's mean is that shade (gain 1).
    let shades: Vec<f64> = recorded_frames
        .iter()
        .map(|f| f64::from(f.data.as_bytes()[0]))
        .collect();
    assert_eq!(summaries, shades);
    let mut player = player;
    assert!(wait_exit(&mut player, FAILSAFE).await.success());

    sigterm(&processor);
    assert!(wait_exit(&mut processor, FAILSAFE).await.success());
    daemon_stop.shutdown();
}
