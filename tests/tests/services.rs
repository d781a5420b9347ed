//! Services across processes: the server is this test binary re-executed
//! in child mode, running the `#[service]` handlers of node "arm"; callers
//! are in the test process.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cortex::prelude::*;
use cortex::{Error, ServiceClient};
use cortex_tests::TestEnv;

const CHILD: &str = "CORTEX_TEST_SERVICES_CHILD";
const BOUND: Duration = Duration::from_secs(30);

#[derive(Message, Debug, Clone, PartialEq)]
pub struct SetMode {
    pub mode: String,
    /// How long the handler takes, in ms.
    pub work_ms: u64,
}

#[derive(Message, Debug, Clone, PartialEq)]
pub struct ModeSet {
    pub mode: String,
    pub echo: u64,
}

#[derive(Message, Debug, Clone, PartialEq)]
pub struct Other {
    pub x: f64,
}

const SET_MODE: Service<SetMode, ModeSet> = Service::new("/arm/set_mode");

/// The server: echoes the mode; "fail" is an error, "panic" panics; waits
/// `work_ms` first.
#[service("/arm/set_mode", node = "arm")]
async fn set_mode(req: SetMode, _ctx: Ctx) -> Result<ModeSet, String> {
    tokio::time::sleep(Duration::from_millis(req.work_ms)).await;
    match req.mode.as_str() {
        "fail" => Err("mode \"fail\" is not allowed in this state".to_owned()),
        "panic" => panic!("the arm fell over"),
        _ => Ok(ModeSet {
            echo: req.mode.len() as u64,
            mode: req.mode,
        }),
    }
}

/// Child mode: run node "arm" (its `#[service]`) until killed.
#[test]
#[ignore = "the server process of the service tests; they run it"]
fn child_server() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let node = Node::new(NodeConfig::new("arm").spawn_daemon(false))
            .await
            .unwrap();
        node.run().await.unwrap();
    });
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_server(env: &TestEnv) -> Server {
    Server(
        Command::new(std::env::current_exe().unwrap())
            .args(["child_server", "--ignored", "--exact", "--test-threads=1"])
            .env(CHILD, "1")
            .env("CORTEX_DISCOVERY", &env.discovery)
            .env("CORTEX_SOCKET_ROOT", env.socket_root())
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

fn set(mode: &str, work_ms: u64) -> SetMode {
    SetMode {
        mode: mode.into(),
        work_ms,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_concurrent_callers_each_get_their_own_replies() {
    let env = TestEnv::new();
    let _daemon = env.start_daemon().await;
    let _server = spawn_server(&env);
    // Callers outside any node: a discovery client and a ZeroMQ context.
    let discovery = cortex::discovery::Client::new(env.discovery.clone());
    let zmq = cortex::zmq::Context::new();
    let mut calls = tokio::task::JoinSet::new();
    for c in 0..8 {
        // A client of its own each: eight connections, twenty calls in
        // flight at once on each (the handler waits 5 ms per call).
        let client: ServiceClient<SetMode, ModeSet> =
            ServiceClient::new(&zmq, &discovery, SET_MODE.name());
        for i in 0..20 {
            let client = client.clone();
            calls.spawn(async move {
                let mode = format!("c{c}-{}", "x".repeat(i));
                let reply = client.call(&set(&mode, 5), BOUND).await.unwrap();
                assert_eq!(reply.mode, mode);
                assert_eq!(reply.echo, mode.len() as u64);
            });
        }
    }
    let mut answered = 0;
    while let Some(done) = calls.join_next().await {
        done.unwrap();
        answered += 1;
    }
    assert_eq!(answered, 160);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_error_and_a_panic_come_back_as_typed_errors() {
    let env = TestEnv::new();
    let _daemon = env.start_daemon().await;
    let _server = spawn_server(&env);
    let node = Node::new(env.node_config("caller")).await.unwrap();
    let ctx = node.ctx();
    let err = ctx.call(&SET_MODE, set("fail", 0)).await.unwrap_err();
    match &err {
        Error::ServiceFailed {
            service,
            node,
            message,
        } => {
            assert_eq!((service.as_str(), node.as_str()), ("/arm/set_mode", "arm"));
            assert!(message.contains("not allowed in this state"), "{message}");
        }
        other => panic!("expected ServiceFailed, got {other:?}"),
    }
    let err = ctx.call(&SET_MODE, set("panic", 0)).await.unwrap_err();
    assert!(
        matches!(&err, Error::ServiceFailed { message, .. } if message.contains("the arm fell over")),
        "{err}"
    );
    // The server is still there.
    let ok = ctx.call(&SET_MODE, set("ready", 0)).await.unwrap();
    assert_eq!(ok.mode, "ready");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_call_fails_the_call_at_once() {
    let env = TestEnv::new();
    let _daemon = env.start_daemon().await;
    let mut server = spawn_server(&env);
    let node = Node::new(env.node_config("caller")).await.unwrap();
    let ctx = node.ctx();
    // Connected and answering.
    ctx.call(&SET_MODE, set("warm", 0)).await.unwrap();
    // A call the handler takes 20 s over; kill -9 the server during it.
    let slow = {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            ctx.call_timeout(&SET_MODE, set("slow", 20_000), Duration::from_secs(25))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = server.0.id().to_string();
    let killed = Instant::now();
    assert!(Command::new("kill")
        .args(["-KILL", &pid])
        .status()
        .unwrap()
        .success());
    let err = slow.await.unwrap().unwrap_err();
    let after = killed.elapsed();
    eprintln!("the call failed {after:?} after kill -9");
    assert!(
        matches!(&err, Error::ServiceUnavailable { node, .. } if node == "arm"),
        "{err}"
    );
    // Far from the 25 s timeout: the disconnection ended it.
    assert!(after < Duration::from_secs(10), "{after:?}");
    let _ = server.0.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_with_other_types_is_refused_at_connect() {
    let env = TestEnv::new();
    let _daemon = env.start_daemon().await;
    let _server = spawn_server(&env);
    let node = Node::new(env.node_config("caller")).await.unwrap();
    const WRONG: Service<Other, ModeSet> = Service::new("/arm/set_mode");
    let err = node.ctx().call(&WRONG, Other { x: 1.0 }).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::ServiceTypeMismatch { .. }), "{err}");
    for part in ["/arm/set_mode", "SetMode -> ModeSet", "Other -> ModeSet"] {
        assert!(text.contains(part), "{part:?} missing from: {text}");
    }
}

#[tokio::test]
async fn a_missing_service_is_an_error_after_the_callers_timeout() {
    let env = TestEnv::new();
    let _daemon = env.start_daemon().await;
    let node = Node::new(env.node_config("caller")).await.unwrap();
    let start = Instant::now();
    let err = node
        .ctx()
        .call_timeout(&SET_MODE, set("x", 0), Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(start.elapsed() >= Duration::from_millis(300));
    assert!(matches!(err, Error::ServiceNotFound { .. }), "{err}");
    assert!(err.to_string().contains("/arm/set_mode"), "{err}");
    // Services are not topics: the Python-visible list has nothing.
    assert!(node.discovery().list().await.unwrap().is_empty());
}

// ---- in one process: a handler calls a service; list; describe ----

#[derive(Message, Debug, Clone, PartialEq)]
pub struct Gain {
    pub value: f64,
}

const SET_GAIN: Service<Gain, Gain> = Service::new("/local/set_gain");

#[service("/local/set_gain", node = "local")]
async fn set_gain(req: Gain) -> cortex::Result<Gain> {
    Ok(Gain {
        value: req.value * 2.0,
    })
}

#[tokio::test]
async fn a_service_is_listed_apart_from_topics_and_called_from_a_node() {
    let env = TestEnv::new();
    let _daemon = env.start_daemon().await;
    let server = Node::new(env.node_config("local")).await.unwrap();
    let running = {
        let server = server.clone();
        tokio::spawn(async move { server.run().await })
    };
    let caller = Node::new(env.node_config("caller")).await.unwrap();
    let reply = caller
        .ctx()
        .call_timeout(&SET_GAIN, Gain { value: 1.5 }, BOUND)
        .await
        .unwrap();
    assert_eq!(reply.value, 3.0);
    let services = caller.discovery().list_services().await.unwrap();
    assert_eq!(services.len(), 1);
    assert_eq!(services[0].name, "/local/set_gain");
    assert_eq!(services[0].message_type, "Gain -> Gain");
    assert_eq!(services[0].publisher_node, "local");
    assert!(caller.discovery().list().await.unwrap().is_empty());
    server.shutdown();
    running.await.unwrap().unwrap();
    // Unregistered on the way out.
    assert!(caller.discovery().list_services().await.unwrap().is_empty());
}

/// A caller's timeout holds while another caller of the same client waits
/// longer for the same missing service (they share one connection).
#[tokio::test]
async fn each_caller_keeps_its_own_timeout() {
    let env = TestEnv::new();
    let _daemon = env.start_daemon().await;
    let node = Node::new(env.node_config("caller")).await.unwrap();
    let patient = {
        let ctx = node.ctx();
        tokio::spawn(async move {
            ctx.call_timeout(&SET_MODE, set("x", 0), Duration::from_secs(20))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let start = Instant::now();
    let err = node
        .ctx()
        .call_timeout(&SET_MODE, set("y", 0), Duration::from_millis(300))
        .await
        .unwrap_err();
    let took = start.elapsed();
    assert!(matches!(err, Error::ServiceNotFound { .. }), "{err}");
    // Not the patient caller's 20 s.
    assert!(took < Duration::from_secs(10), "{took:?}");
    patient.abort();
}
