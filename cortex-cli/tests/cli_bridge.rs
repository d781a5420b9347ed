//! `cortex bridge foxglove`: a real WebSocket client speaking the Foxglove
//! protocol subscribes to an image topic and an integer topic while they
//! are published, and gets the publisher's values back (protobuf
//! `foxglove.RawImage`, JSON); an independent Python client decodes the
//! camera with the schema the bridge advertises; a port in use is a clear
//! error.

use std::io::BufRead;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use cortex::messages::{ImageMessage, IntMessage};
use cortex::NdArray;
use foxglove::messages::RawImage;
use foxglove::Decode;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message as WsMessage;

mod common;

/// Only against a hang: every wait ends on an event well before it.
const FAILSAFE: Duration = Duration::from_secs(60);
/// The WebSocket subprotocol the foxglove 0.30 server speaks (the older
/// name `foxglove.websocket.v1` is refused by it).
const SUBPROTOCOL: &str = "foxglove.sdk.v1";

/// A spawned command; killed when dropped.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A task; aborted when dropped.
struct Aborted(tokio::task::JoinHandle<()>);

impl Drop for Aborted {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The lines a child writes to stderr, read on a thread of their own.
struct Lines {
    rx: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Lines {
    fn of(child: &mut std::process::Child) -> Lines {
        let stderr = child.stderr.take().expect("stderr piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Lines {
            rx,
            seen: Vec::new(),
        }
    }

    /// The first (further) line `pick` returns something for.
    fn find<T>(&mut self, pick: impl Fn(&str) -> Option<T>) -> T {
        loop {
            match self.rx.recv_timeout(FAILSAFE) {
                Ok(line) => {
                    let found = pick(&line);
                    self.seen.push(line);
                    if let Some(found) = found {
                        return found;
                    }
                }
                Err(e) => panic!("{e}; stderr so far:\n{}", self.seen.join("\n")),
            }
        }
    }

    /// Every line up to the end of the stream.
    fn rest(mut self) -> String {
        while let Ok(line) = self.rx.recv_timeout(FAILSAFE) {
            self.seen.push(line);
        }
        self.seen.join("\n")
    }
}

/// An `h × w` rgb8 image whose every byte is `i`.
fn image(i: u8) -> ImageMessage {
    ImageMessage {
        data: NdArray::new(vec![i; 2 * 3 * 3], [2, 3, 3]).unwrap().into(),
        encoding: "rgb8".into(),
        width: 3,
        height: 2,
    }
}

/// The next text message of `ws`, parsed, skipping binary ones.
async fn next_json<S>(ws: &mut S) -> Value
where
    S: futures_util::Stream<Item = Result<WsMessage, tokio_tungstenite::tungstenite::Error>>
        + Unpin,
{
    loop {
        let message = tokio::time::timeout(FAILSAFE, ws.next())
            .await
            .expect("no message from the bridge")
            .expect("the connection ended")
            .expect("a WebSocket error");
        if let WsMessage::Text(text) = message {
            return serde_json::from_str(text.as_str()).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foxglove_client_gets_images_as_raw_image_and_ints_as_json() {
    let w = common::world("cxbridge").await;
    let node = w.node("camera").await;
    let images = node.publisher::<ImageMessage>("/cam").await.unwrap();
    let ints = node.publisher::<IntMessage>("/count").await.unwrap();
    // Published until the test ends: the bridge advertises a topic on its
    // first message and forwards only what comes after a subscription.
    let sent = Arc::new(AtomicU64::new(0));
    let publishing = Aborted(tokio::spawn({
        let sent = sent.clone();
        async move {
            for i in 0u64.. {
                images.publish(&image((i % 200) as u8)).unwrap();
                ints.publish(&IntMessage { data: i as i64 * 7 }).unwrap();
                sent.store(i + 1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }));

    let mut bridge = Killed(
        w.addressed(&["bridge", "foxglove", "--port", "0"])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = Lines::of(&mut bridge.0);
    let port: u16 = lines.find(|line| {
        let rest = line.strip_prefix("serving ws://127.0.0.1:")?;
        rest.split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    });

    let mut request = format!("ws://127.0.0.1:{port}")
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static(SUBPROTOCOL),
    );
    let (mut ws, response) =
        tokio::time::timeout(FAILSAFE, tokio_tungstenite::connect_async(request))
            .await
            .expect("the bridge does not accept the connection")
            .expect("WebSocket handshake");
    assert_eq!(
        response.headers()["sec-websocket-protocol"],
        SUBPROTOCOL,
        "negotiated subprotocol"
    );

    let info = next_json(&mut ws).await;
    assert_eq!(info["op"], "serverInfo", "{info}");
    assert_eq!(info["name"], "cortex", "{info}");
    // Channels by topic, from however many advertise messages.
    let mut channels = std::collections::BTreeMap::new();
    while channels.len() < 2 {
        let message = next_json(&mut ws).await;
        if message["op"] != "advertise" {
            continue;
        }
        for channel in message["channels"].as_array().unwrap() {
            let topic = channel["topic"].as_str().unwrap().to_owned();
            channels.insert(topic, channel.clone());
        }
    }
    let cam = &channels["/cam"];
    assert_eq!(
        (&cam["schemaName"], &cam["encoding"], &cam["schemaEncoding"]),
        (
            &json!("foxglove.RawImage"),
            &json!("protobuf"),
            &json!("protobuf")
        ),
        "{cam}"
    );
    let count = &channels["/count"];
    assert_eq!(
        (
            &count["schemaName"],
            &count["encoding"],
            &count["schemaEncoding"]
        ),
        (&json!("IntMessage"), &json!("json"), &json!("jsonschema")),
        "{count}"
    );
    let schema: Value = serde_json::from_str(count["schema"].as_str().unwrap()).unwrap();
    assert_eq!(schema["properties"]["data"]["type"], "integer", "{schema}");

    let subscribe = json!({
        "op": "subscribe",
        "subscriptions": [
            { "id": 1, "channelId": cam["id"] },
            { "id": 2, "channelId": count["id"] },
        ],
    });
    ws.send(WsMessage::text(subscribe.to_string()))
        .await
        .unwrap();

    let (mut got_image, mut got_int) = (false, false);
    while !(got_image && got_int) {
        let message = tokio::time::timeout(FAILSAFE, ws.next())
            .await
            .expect("no message data from the bridge")
            .expect("the connection ended")
            .expect("a WebSocket error");
        let WsMessage::Binary(data) = message else {
            continue;
        };
        assert_eq!(data[0], 0x01, "opcode of MessageData");
        let subscription = u32::from_le_bytes(data[1..5].try_into().unwrap());
        let log_time = u64::from_le_bytes(data[5..13].try_into().unwrap());
        let payload = &data[13..];
        let published = sent.load(Ordering::SeqCst);
        match subscription {
            1 => {
                let raw = RawImage::decode(payload).expect("a foxglove.RawImage");
                assert_eq!((raw.width, raw.height, raw.step), (3, 2, 9));
                assert_eq!(raw.encoding, "rgb8");
                let value = raw.data[0];
                assert_eq!(raw.data.as_ref(), image(value).data.as_bytes());
                assert!(u64::from(value) < published.min(200), "{value}");
                let stamp = raw.timestamp.expect("a timestamp");
                assert_eq!(stamp.total_nanos(), log_time, "log time = header time");
                got_image = true;
            }
            2 => {
                let json: Value = serde_json::from_slice(payload).unwrap();
                let data = json["data"].as_i64().expect("an integer field `data`");
                assert!(data % 7 == 0 && (data / 7) < published as i64, "{json}");
                assert!(log_time > 0);
                got_int = true;
            }
            other => panic!("message data for unknown subscription {other}"),
        }
    }
    ws.close(None).await.unwrap();
    drop(publishing);

    // SIGTERM ends the bridge cleanly, with its counts.
    // SAFETY: `kill` with the id of a child this test spawned and still owns.
    unsafe { libc::kill(bridge.0.id() as libc::pid_t, libc::SIGTERM) };
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = bridge.0.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < FAILSAFE, "the bridge does not end");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let stderr = lines.rest();
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains("advertised /cam (ImageMessage) as foxglove.RawImage (protobuf)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("advertised /count (IntMessage) as IntMessage (json)"),
        "{stderr}"
    );
    assert!(stderr.contains("bridged "), "{stderr}");
    assert!(!stderr.contains("skipped"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_in_use_is_a_clear_error() {
    let w = common::world("cxbridge").await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let (ok, _, stderr) = w.run(&["bridge", "foxglove", "--port", &port]).await;
    assert!(!ok, "{stderr}");
    assert!(
        stderr.contains(&format!("port {port} on 127.0.0.1 is in use")),
        "{stderr}"
    );
    assert!(stderr.contains("--port 0"), "{stderr}");
}

/// Whether python3 has `websockets` and `protobuf`; under `CI=true` they
/// must be there (`.ci/run` installs them).
fn python_client_ready() -> bool {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import websockets.sync.client, google.protobuf"])
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        let missing = "python3 with websockets and protobuf is not available \
                       (python3 -m pip install websockets protobuf)";
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{missing}: under CI=true the independent Foxglove client must run"
        );
        eprintln!("skipped: {missing}");
    }
    ok
}

/// A client written apart from the bridge and from the `foxglove` crate
/// (Python `websockets` and `protobuf`, `tests/python/foxglove_client.py`)
/// decodes a camera image with the schema the bridge advertises.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_independent_python_client_decodes_the_camera_with_the_advertised_schema() {
    if !python_client_ready() {
        return;
    }
    let w = common::world("cxbridge").await;
    let node = w.node("camera").await;
    let images = node.publisher::<ImageMessage>("/camera").await.unwrap();
    let publishing = Aborted(tokio::spawn(async move {
        loop {
            images.publish(&image(42)).unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }));
    let mut bridge = Killed(
        w.addressed(&["bridge", "foxglove", "--port", "0", "/camera"])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = Lines::of(&mut bridge.0);
    let port: u16 = lines.find(|line| {
        let rest = line.strip_prefix("serving ws://127.0.0.1:")?;
        rest.split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    });
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/foxglove_client.py");
    let client = Killed(
        std::process::Command::new("python3")
            .arg(&script)
            .args([&port.to_string(), "/camera"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let output = tokio::task::spawn_blocking(move || {
        let mut client = client;
        let mut out = String::new();
        let mut err = String::new();
        std::io::Read::read_to_string(&mut client.0.stdout.take().unwrap(), &mut out).unwrap();
        std::io::Read::read_to_string(&mut client.0.stderr.take().unwrap(), &mut err).unwrap();
        (client.0.wait().unwrap().success(), out, err)
    });
    let (ok, out, err) = tokio::time::timeout(FAILSAFE, output)
        .await
        .expect("the Python client does not finish")
        .unwrap();
    drop(publishing);
    assert!(ok, "{err}");
    let got: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(got["server"], "cortex");
    assert_eq!(got["schema"], "foxglove.RawImage");
    assert_eq!(got["subscription"], 7);
    assert_eq!(
        (got["width"].as_u64(), got["height"].as_u64()),
        (Some(3), Some(2))
    );
    assert_eq!(got["encoding"], "rgb8");
    assert_eq!(got["step"], 9);
    assert_eq!(got["data"], json!(image(42).data.as_bytes()));
    assert_eq!(got["stamp_ns"], got["log_time"]);
}
