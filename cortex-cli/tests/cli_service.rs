//! `cortex service list` and `cortex service call` against a service
//! served in the test process, and against daemons without it.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cortex::discovery::protocol::{Command as DiscoveryCommand, Request, Response};
use cortex::prelude::*;
use cortex::service::ServiceServer;

mod common;

#[derive(Message, Debug, Clone)]
pub struct SetGain {
    pub gain: f64,
    pub label: String,
    pub channels: Vec<i32>,
    pub limits: BTreeMap<String, f64>,
    pub enabled: bool,
    pub note: Option<String>,
}

#[derive(Message, Debug, Clone)]
pub struct GainSet {
    pub previous: f64,
    pub applied: f64,
    pub summary: String,
    pub channels: Vec<i32>,
}

const SET_GAIN: Service<SetGain, GainSet> = Service::new("/amp/set_gain");

/// The handler: label "fail" is refused with a message.
async fn set_gain(req: SetGain) -> Result<GainSet, String> {
    if req.label == "fail" {
        return Err(format!(
            "gain {} is out of range for this amplifier",
            req.gain
        ));
    }
    Ok(GainSet {
        previous: 1.0,
        applied: req.gain * req.channels.len() as f64,
        summary: format!(
            "{} enabled={} limits={:?} note={:?}",
            req.label, req.enabled, req.limits, req.note
        ),
        channels: req.channels,
    })
}

/// A daemon and a node serving SET_GAIN, in a temporary directory.
struct World {
    world: common::World,
    _node: Node,
    server: ServiceServer<SetGain, GainSet>,
}

impl std::ops::Deref for World {
    type Target = common::World;

    fn deref(&self) -> &common::World {
        &self.world
    }
}

async fn world() -> World {
    let world = common::world("cxsrv").await;
    let node = world.node("amp").await;
    let server = node.serve(&SET_GAIN, set_gain).await.unwrap();
    World {
        world,
        _node: node,
        server,
    }
}

struct Output {
    ok: bool,
    out: String,
    err: String,
}

/// Runs `cortex ARGS --address ADDRESS` to the end, off the runtime's
/// threads (the server answers on them).
async fn cortex(args: &[&str], address: &str) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cortex"));
    command
        .args(args)
        .args(["--address", address])
        .env_remove("CORTEX_DISCOVERY")
        .stdin(Stdio::null());
    tokio::task::spawn_blocking(move || {
        let out = command.output().unwrap();
        Output {
            ok: out.status.success(),
            out: String::from_utf8_lossy(&out.stdout).into_owned(),
            err: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
    .await
    .unwrap()
}

const REQUEST: &str = r#"{"gain": 2.5, "label": "left", "channels": [1, 2],
    "limits": {"max": 3.0}, "enabled": true}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_list_shows_the_service_as_a_table_and_as_json() {
    let w = world().await;
    let r = cortex(&["service", "list"], &w.discovery).await;
    assert!(r.ok, "{}", r.err);
    let lines: Vec<&str> = r.out.lines().collect();
    assert_eq!(lines.len(), 2, "{}", r.out);
    for column in ["SERVICE", "TYPES", "NODE", "ADDRESS"] {
        assert!(lines[0].contains(column), "{}", r.out);
    }
    for part in [
        "/amp/set_gain",
        "SetGain -> GainSet",
        "amp",
        w.server.address(),
    ] {
        assert!(lines[1].contains(part), "{part} in {}", r.out);
    }

    let r = cortex(&["service", "list", "--json"], &w.discovery).await;
    assert!(r.ok, "{}", r.err);
    let listed: serde_json::Value = serde_json::from_str(&r.out).unwrap();
    assert_eq!(
        listed,
        serde_json::json!([{
            "name": "/amp/set_gain",
            "types": "SetGain -> GainSet",
            "node": "amp",
            "address": w.server.address(),
            "fingerprint": cortex::service::service_fingerprint(
                <SetGain as Message>::FINGERPRINT,
                <GainSet as Message>::FINGERPRINT,
            ),
        }])
    );

    // Services are not topics.
    let r = cortex(&["topic", "list"], &w.discovery).await;
    assert!(r.ok, "{}", r.err);
    assert!(r.out.contains("no topics registered"), "{}", r.out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_call_prints_the_reply_fields() {
    let w = world().await;
    let r = cortex(
        &[
            "service",
            "call",
            "/amp/set_gain",
            REQUEST,
            "--timeout",
            "20",
        ],
        &w.discovery,
    )
    .await;
    assert!(r.ok, "{}", r.err);
    assert_eq!(
        r.out.lines().collect::<Vec<_>>(),
        [
            "previous: 1",
            "applied: 5",
            r#"summary: "left enabled=true limits={\"max\": 3.0} note=None""#,
            "channels: [1, 2]",
        ],
        "{}",
        r.out
    );
    assert!(
        r.err
            .contains("calling /amp/set_gain (SetGain -> GainSet) on node amp"),
        "{}",
        r.err
    );

    let r = cortex(
        &[
            "service",
            "call",
            "/amp/set_gain",
            r#"{"gain": 1, "label": "right", "channels": [7], "limits": {},
                "enabled": false, "note": "from the CLI"}"#,
            "--json",
            "--timeout",
            "20",
        ],
        &w.discovery,
    )
    .await;
    assert!(r.ok, "{}", r.err);
    assert_eq!(r.out.lines().count(), 1, "{}", r.out);
    // The fields in the reply type's order.
    assert!(
        r.out.starts_with(r#"{"previous": 1.0, "applied": 1.0, "#),
        "{}",
        r.out
    );
    let reply: serde_json::Value = serde_json::from_str(&r.out).unwrap();
    assert_eq!(
        reply,
        serde_json::json!({
            "previous": 1.0,
            "applied": 1.0,
            "summary": "right enabled=false limits={} note=Some(\"from the CLI\")",
            "channels": [7],
        })
    );
    assert_eq!(w.server.counts(), (2, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_error_fails_the_call_with_its_message() {
    let w = world().await;
    let request = REQUEST.replace("left", "fail");
    let r = cortex(
        &[
            "service",
            "call",
            "/amp/set_gain",
            &request,
            "--timeout",
            "20",
        ],
        &w.discovery,
    )
    .await;
    assert!(!r.ok, "{}", r.out);
    assert!(r.out.is_empty(), "{}", r.out);
    assert!(
        r.err.contains(
            "error: service /amp/set_gain (node amp) failed: \
             gain 2.5 is out of range for this amplifier"
        ),
        "{}",
        r.err
    );
    assert_eq!(w.server.counts(), (0, 1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_does_not_fit_names_the_fields() {
    let w = world().await;
    let fields = "the fields of SetGain, in order: gain (f64), label (String), \
                  channels (Vec<i32>), limits (BTreeMap<String, f64>), enabled (bool), \
                  note (Option<String>)";

    let unknown = REQUEST.replace("\"gain\"", "\"gian\"");
    let r = cortex(
        &[
            "service",
            "call",
            "/amp/set_gain",
            &unknown,
            "--timeout",
            "20",
        ],
        &w.discovery,
    )
    .await;
    assert!(!r.ok, "{}", r.out);
    assert!(
        r.err.contains(
            "error: cannot call service /amp/set_gain: SetGain has no field \"gian\"; \
             field \"gain\" (f64) is missing; "
        ),
        "{}",
        r.err
    );
    assert!(r.err.contains(fields), "{}", r.err);

    let wrong = REQUEST.replace("[1, 2]", "[1, \"two\"]");
    let r = cortex(
        &[
            "service",
            "call",
            "/amp/set_gain",
            &wrong,
            "--timeout",
            "20",
        ],
        &w.discovery,
    )
    .await;
    assert!(!r.ok, "{}", r.out);
    assert!(
        r.err
            .contains("channels[1] is i32: expected an integer, got \"two\""),
        "{}",
        r.err
    );
    assert!(r.err.contains(fields), "{}", r.err);

    let r = cortex(
        &[
            "service",
            "call",
            "/amp/set_gain",
            "{gain: 1}",
            "--timeout",
            "20",
        ],
        &w.discovery,
    )
    .await;
    assert!(!r.ok, "{}", r.out);
    assert!(r.err.contains("the request is not valid JSON"), "{}", r.err);
    // Nothing reached the handler.
    assert_eq!(w.server.counts(), (0, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_service_is_not_found_after_the_timeout() {
    let w = world().await;
    let start = Instant::now();
    let r = cortex(
        &["service", "call", "/amp/nope", "{}", "--timeout", "1"],
        &w.discovery,
    )
    .await;
    assert!(!r.ok, "{}", r.out);
    assert!(start.elapsed() >= Duration::from_secs(1));
    assert!(
        r.err.contains(&format!(
            "service /amp/nope was not found at the discovery daemon {} within 1s",
            w.discovery
        )),
        "{}",
        r.err
    );
    assert!(r.err.contains("cortex service list"), "{}", r.err);

    // No daemon at all says that instead.
    let nobody = w.discovery.replace("d.sock", "nobody.sock");
    let r = cortex(&["service", "call", "/amp/nope", "--timeout", "1"], &nobody).await;
    assert!(!r.ok, "{}", r.out);
    assert!(
        r.err.contains("no reply from the discovery daemon"),
        "{}",
        r.err
    );
}

/// A daemon that knows no services: answers `ERROR` to `LIST_SERVICES` as
/// the Python daemon does (and to everything else).
struct PythonLikeDaemon {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PythonLikeDaemon {
    fn bind(address: &str) -> Self {
        let ctx = zmq::Context::new();
        let socket = ctx.socket(zmq::REP).unwrap();
        socket.set_linger(0).unwrap();
        socket.set_rcvtimeo(50).unwrap();
        socket.bind(address).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                let Ok(bytes) = socket.recv_bytes(0) else {
                    continue;
                };
                let reply = match Request::decode(&bytes) {
                    Ok(r) if r.command == DiscoveryCommand::ListServices => {
                        Response::error("24 is not a valid DiscoveryCommand")
                    }
                    _ => Response::error("not in this test"),
                };
                socket.send(reply.encode(), 0).unwrap();
            }
            drop(socket);
            drop(ctx);
        });
        PythonLikeDaemon {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for PythonLikeDaemon {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_list_against_a_python_daemon_says_it_has_no_services() {
    let dir = tempfile::Builder::new()
        .prefix("cxsrvpy")
        .tempdir_in("/tmp")
        .unwrap();
    let address = format!("ipc://{}/py.sock", dir.path().display());
    let _daemon = PythonLikeDaemon::bind(&address);
    let r = cortex(&["service", "list"], &address).await;
    assert!(!r.ok, "{}", r.out);
    assert!(
        r.err.contains(&format!(
            "the discovery daemon at {address} does not list services \
             (24 is not a valid DiscoveryCommand); a Python cortex daemon"
        )),
        "{}",
        r.err
    );
    assert!(r.err.contains("`cortex discovery`"), "{}", r.err);
}
