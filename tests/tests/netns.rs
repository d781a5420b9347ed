//! Multi-host faults, played out in network namespaces this test creates:
//! two namespaces joined by a veth pair (addresses only on that pair, no
//! default route, loopback up), tcp transport, the discovery daemon in
//! namespace A. Every role (daemon, publisher, subscriber, lookup) is this
//! test binary re-executed inside a namespace with `ip netns exec`; roles
//! print JSON lines that the orchestrating test reads.
//!
//! - `link_down_for_5s_then_up`: publisher and daemon in A, subscriber in
//!   B. With the link down for 5 s, traffic resumes by itself after the
//!   link comes back, and the subscriber accounts for every sequence from
//!   its first message to its last (received + dropped).
//! - `daemon_unreachable_data_keeps_flowing_and_reregisters`: daemon in A,
//!   publisher and subscriber in B. With the link down, data keeps flowing
//!   inside B; the daemon is replaced by a fresh one (no records) meanwhile,
//!   and after the link comes back the publisher registers again by itself.
//!
//! Needs root and iproute2 (`ip`); otherwise skipped with a note, except
//! under `CI=true`, where that fails. Namespaces are deleted and role
//! processes killed (by pid) by drop guards, also when a test fails; a role
//! whose orchestrator is gone (its stdin closes) exits by itself.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use cortex::discovery::{Client, Daemon, DaemonConfig};
use cortex::prelude::*;
use cortex_tests::{TestEnv, BOUND};
use serde_json::{json, Value};

/// Which role a re-executed child plays (unset in the orchestrating test).
const ROLE: &str = "CORTEX_NETNS_ROLE";
/// The host a publisher binds and advertises.
const HOST: &str = "CORTEX_NETNS_HOST";
const TOPIC: &str = "/netns/tick";
const DAEMON_PORT: u16 = 5555;
const RATE_HZ: u64 = 100;
/// How long the link stays down (fixed by design).
const OUTAGE: Duration = Duration::from_secs(5);
/// Bound on the measured recoveries (traffic resuming, re-registration).
const RECOVERY: Duration = Duration::from_secs(15);

#[derive(Message, Debug, Clone)]
pub struct Tick {
    pub n: u64,
}

// ---- roles (run in the re-executed child) ----

/// Runs this process's role if it is a child; `false` in the orchestrator.
fn child_role() -> bool {
    let Ok(role) = std::env::var(ROLE) else {
        return false;
    };
    // The orchestrator holds our stdin open: end of input means it is
    // gone (even killed), so exit instead of lingering in the namespace.
    std::thread::spawn(|| {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        std::process::exit(0);
    });
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    rt.block_on(async {
        match role.as_str() {
            "daemon" => daemon_role().await,
            "publisher" => publisher_role().await,
            "subscriber" => subscriber_role().await,
            "lookup" => lookup_role().await,
            other => panic!("unknown {ROLE} {other:?}"),
        }
    });
    true
}

fn emit(line: Value) {
    println!("{line}");
}

fn discovery() -> String {
    std::env::var("CORTEX_DISCOVERY").expect("CORTEX_DISCOVERY set by the orchestrator")
}

fn node_config(name: &str) -> NodeConfig {
    NodeConfig::new(name)
        .discovery(discovery())
        .spawn_daemon(false)
}

/// Serves discovery until killed.
async fn daemon_role() {
    let daemon = Daemon::bind_with(DaemonConfig::new(discovery()))
        .await
        .expect("daemon binds");
    emit(json!({ "ready": daemon.address() }));
    daemon.run().await.expect("daemon runs");
}

/// Publishes `Tick { n }` at RATE_HZ until killed; stats 10 times a second.
async fn publisher_role() {
    let host = std::env::var(HOST).expect("CORTEX_NETNS_HOST");
    let node = Node::new(node_config("pub").tcp(&host, &host))
        .await
        .expect("publisher node");
    let publisher = node.publisher::<Tick>(TOPIC).await.expect("publisher");
    emit(json!({ "ready": publisher.address() }));
    let mut every = tokio::time::interval(Duration::from_millis(1000 / RATE_HZ));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for n in 0.. {
        every.tick().await;
        publisher.publish(&Tick { n }).expect("publish");
        if n % (RATE_HZ / 10) == 0 {
            let s = publisher.stats();
            emit(json!({
                "published": s.published,
                "dropped": s.dropped,
                "overflows": s.overflows,
                "subscribers": s.subscribers,
            }));
        }
    }
}

/// Receives until killed; one line per message, the counters taken right
/// after that message, so every line is a consistent snapshot.
async fn subscriber_role() {
    let node = Node::new(node_config("sub").wait_timeout(BOUND))
        .await
        .expect("subscriber node");
    let mut sub = node.subscriber::<Tick>(TOPIC).await.expect("subscriber");
    let mut first = None;
    loop {
        let (tick, header) = sub.recv().await.expect("recv");
        let first_seq = *first.get_or_insert(header.sequence);
        let s = sub.stats();
        emit(json!({
            "received": s.received,
            "dropped": s.dropped,
            "decode_errors": s.decode_errors,
            "reconnects": s.reconnects,
            "first_seq": first_seq,
            "last_seq": header.sequence,
            "n": tick.n,
        }));
    }
}

/// Waits (long poll) until the topic is registered, prints the record, ends.
async fn lookup_role() {
    let info = Client::new(discovery())
        .wait_for_topic(TOPIC, BOUND + BOUND)
        .await
        .expect("topic registered");
    emit(json!({
        "registered": true,
        "address": info.address,
        "node": info.publisher_node,
    }));
}

// ---- orchestration ----

/// A subscriber line.
#[derive(Debug, Clone, Copy, serde::Deserialize)]
struct SubLine {
    received: u64,
    dropped: u64,
    decode_errors: u64,
    reconnects: u64,
    first_seq: u64,
    last_seq: u64,
    n: u64,
}

fn sub_line(v: &Value) -> Option<SubLine> {
    serde_json::from_value(v.clone()).ok()
}

impl SubLine {
    /// Every sequence from the first to the last is received or counted lost.
    fn assert_accounted(&self) {
        assert_eq!(self.n, self.last_seq, "payload and header agree");
        assert_eq!(self.decode_errors, 0, "{self:?}");
        assert_eq!(
            self.received + self.dropped,
            self.last_seq - self.first_seq + 1,
            "received + dropped must cover sequences {}..={}: {self:?}",
            self.first_seq,
            self.last_seq
        );
    }
}

/// The `ip` binary (iproute2).
fn ip_binary() -> String {
    ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or("ip")
        .to_owned()
}

/// Runs `ip ARGS`; the error says what failed and why.
fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new(ip_binary())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `ip` (iproute2): {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`ip {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Two namespaces joined by a veth pair; deleted on drop.
#[derive(Debug)]
struct Netns {
    a: String,
    b: String,
    veth_a: String,
    /// `10.X.Y`: A is `.1`, B is `.2`.
    net: String,
}

impl Netns {
    /// Creates the pair for test number `test`, or `None` (after a note)
    /// when namespaces are unavailable here. Under `CI=true` that fails.
    fn create(test: u8, tag: char) -> Option<Netns> {
        let pid = std::process::id();
        let net = Netns {
            a: format!("cx{pid}{tag}a"),
            b: format!("cx{pid}{tag}b"),
            veth_a: format!("v{pid}{tag}a"),
            net: format!("10.{}.{}", 200 + u32::from(test), pid % 250),
        };
        // Created directly inside the namespaces: the root namespace never
        // sees the veth names.
        let veth_b = format!("v{pid}{tag}b");
        let (a, b, va, vb) = (&net.a, &net.b, &net.veth_a, &veth_b);
        let (addr_a, addr_b) = (net.addr_a() + "/24", net.addr_b() + "/24");
        // Leftovers of a killed earlier run with our pid (no live process
        // can own names with our pid).
        for ns in [a, b] {
            let _ = ip(&["netns", "del", ns]);
        }
        let steps: [&[&str]; 9] = [
            &["netns", "add", a],
            &["netns", "add", b],
            &[
                "link", "add", va, "netns", a, "type", "veth", "peer", "name", vb, "netns", b,
            ],
            &["-n", a, "addr", "add", &addr_a, "dev", va],
            &["-n", b, "addr", "add", &addr_b, "dev", vb],
            &["-n", a, "link", "set", "lo", "up"],
            &["-n", b, "link", "set", "lo", "up"],
            &["-n", a, "link", "set", va, "up"],
            &["-n", b, "link", "set", vb, "up"],
        ];
        let failed = steps.into_iter().find_map(|step| ip(step).err());
        if let Some(why) = failed {
            drop(net); // deletes whatever was created
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("network namespaces are needed under CI=true (root and iproute2): {why}");
            }
            eprintln!(
                "skipping: cannot set up network namespaces (needs root and iproute2): {why}"
            );
            return None;
        }
        Some(net)
    }

    fn addr_a(&self) -> String {
        format!("{}.1", self.net)
    }

    fn addr_b(&self) -> String {
        format!("{}.2", self.net)
    }

    /// The daemon's address, in A.
    fn discovery(&self) -> String {
        format!("tcp://{}:{DAEMON_PORT}", self.addr_a())
    }

    /// Takes A's end of the pair down or up.
    fn set_link(&self, up: bool) {
        let state = if up { "up" } else { "down" };
        ip(&["-n", &self.a, "link", "set", &self.veth_a, state]).expect("link state");
    }

    /// Starts `role` of test `test` inside namespace `ns`.
    fn spawn(&self, env: &TestEnv, ns: &str, test: &str, role: &'static str, host: &str) -> Proc {
        let exe = std::env::current_exe().expect("test binary");
        let mut child = Command::new(ip_binary())
            .args(["netns", "exec", ns])
            .arg(exe)
            .args([test, "--exact", "--nocapture", "--test-threads=1"])
            .env(ROLE, role)
            .env(HOST, host)
            .env("CORTEX_DISCOVERY", self.discovery())
            .env("CORTEX_SOCKET_ROOT", env.socket_root())
            .env("CORTEX_SPAWN_DAEMON", "0")
            // The namespaces stand for separate hosts, which share no
            // memory; here they share /dev/shm, and a subscriber would
            // take the shared-memory path around the link under test.
            .env("CORTEX_SHM", "0")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn a role");
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // The harness's `test NAME ... ` has no newline, so the
                // first line starts with it; its other lines are not JSON.
                let json = line.find('{').map_or("", |i| &line[i..]);
                if let Ok(v @ Value::Object(_)) = serde_json::from_str(json) {
                    if tx.send((Instant::now(), v)).is_err() {
                        break;
                    }
                }
            }
        });
        Proc {
            role,
            child,
            _stdin: stdin,
            lines,
            last: None,
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting a namespace destroys the veth pair with it.
        for ns in [&self.a, &self.b] {
            let _ = ip(&["netns", "del", ns]);
        }
    }
}

/// A role process; killed by pid on drop.
struct Proc {
    role: &'static str,
    child: Child,
    /// Kept open while the role should live (see `child_role`).
    _stdin: ChildStdin,
    lines: Receiver<(Instant, Value)>,
    last: Option<Value>,
}

impl Proc {
    /// Waits (bounded) for a line that satisfies `pred`; returns when it
    /// arrived. Fails on timeout or when the process ends first.
    fn wait_for(
        &mut self,
        what: &str,
        within: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> (Instant, Value) {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((at, v)) => {
                    self.last = Some(v.clone());
                    if pred(&v) {
                        return (at, v);
                    }
                }
                Err(RecvTimeoutError::Timeout) => panic!(
                    "{}: no {what} within {within:?} (last line: {:?})",
                    self.role, self.last
                ),
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "{} ended before {what}: {:?} (last line: {:?})",
                    self.role,
                    self.child.try_wait(),
                    self.last
                ),
            }
        }
    }

    /// The newest line so far.
    fn latest(&mut self) -> Option<Value> {
        while let Ok((_, v)) = self.lines.try_recv() {
            self.last = Some(v);
        }
        self.last.clone()
    }

    /// The newest subscriber line so far.
    fn latest_sub(&mut self) -> SubLine {
        self.latest()
            .as_ref()
            .and_then(sub_line)
            .expect("a subscriber line")
    }

    /// Waits for a subscriber line that satisfies `pred`.
    fn wait_sub(
        &mut self,
        what: &str,
        within: Duration,
        pred: impl Fn(&SubLine) -> bool,
    ) -> (Instant, SubLine) {
        let (at, v) = self.wait_for(what, within, |v| sub_line(v).is_some_and(|s| pred(&s)));
        (at, sub_line(&v).expect("a subscriber line"))
    }

    /// Waits for the role's `{"ready": address}` line.
    fn ready(&mut self) -> String {
        let (_, v) = self.wait_for("ready line", BOUND, |v| v.get("ready").is_some());
        v["ready"].as_str().expect("address").to_owned()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

// ---- the tests ----

#[test]
fn link_down_for_5s_then_up() {
    if child_role() {
        return;
    }
    let Some(net) = Netns::create(0, 'l') else {
        return;
    };
    let env = TestEnv::new();
    let test = "link_down_for_5s_then_up";
    let (a, b) = (net.a.clone(), net.b.clone());
    let mut daemon = net.spawn(&env, &a, test, "daemon", "");
    daemon.ready();
    let mut publisher = net.spawn(&env, &a, test, "publisher", &net.addr_a());
    let address = publisher.ready();
    assert!(
        address.starts_with(&format!("tcp://{}:", net.addr_a())),
        "{address}"
    );
    let mut sub = net.spawn(&env, &b, test, "subscriber", "");
    sub.wait_sub("20 messages", BOUND, |s| s.received >= 20);

    net.set_link(false);
    let before = sub.latest_sub();
    std::thread::sleep(OUTAGE);
    let during = sub.latest_sub();
    net.set_link(true);
    let up = Instant::now();

    let (resumed_at, first) = sub.wait_sub("a message after link up", RECOVERY, |s| {
        s.received > during.received
    });
    let resumed = resumed_at - up;
    // What was queued during the outage may arrive in one burst: wait for
    // 2 s of traffic published after link up (no wedge after the burst).
    let published = publisher.latest().unwrap_or_default();
    let target = published["published"].as_u64().expect("publisher stats") + 2 * RATE_HZ;
    let (_, end) = sub.wait_sub("2 s of traffic published after link up", BOUND, |s| {
        s.last_seq >= target
    });
    end.assert_accounted();
    let published = publisher.latest().unwrap_or_default();
    let leaked = during.received - before.received;
    eprintln!(
        "netns link down {}: traffic resumed {} after link up (first message after: seq {}, \
         received during the outage: {}); subscriber received {} dropped {} over seq {}..={}, \
         reconnects {}; publisher {published}",
        secs(OUTAGE),
        secs(resumed),
        first.last_seq,
        leaked,
        end.received,
        end.dropped,
        end.first_seq,
        end.last_seq,
        end.reconnects,
    );
    assert!(
        leaked <= RATE_HZ / 2,
        "{leaked} messages arrived while the link was down"
    );
    assert!(
        resumed < RECOVERY,
        "resumed only {} after link up",
        secs(resumed)
    );
}

#[test]
fn daemon_unreachable_data_keeps_flowing_and_reregisters() {
    if child_role() {
        return;
    }
    let Some(net) = Netns::create(1, 'd') else {
        return;
    };
    let env = TestEnv::new();
    let test = "daemon_unreachable_data_keeps_flowing_and_reregisters";
    let (a, b) = (net.a.clone(), net.b.clone());
    let mut daemon = net.spawn(&env, &a, test, "daemon", "");
    daemon.ready();
    let mut publisher = net.spawn(&env, &b, test, "publisher", &net.addr_b());
    let address = publisher.ready();
    assert!(
        address.starts_with(&format!("tcp://{}:", net.addr_b())),
        "{address}"
    );
    let mut sub = net.spawn(&env, &b, test, "subscriber", "");
    sub.wait_sub("20 messages", BOUND, |s| s.received >= 20);

    net.set_link(false);
    let down = Instant::now();
    let before = sub.latest_sub();
    // The daemon dies while unreachable; a fresh one (no records) takes
    // its address, still unreachable from B.
    std::thread::sleep(Duration::from_secs(1));
    daemon.kill();
    let mut daemon = net.spawn(&env, &a, test, "daemon", "");
    daemon.ready();
    let mut lookup = net.spawn(&env, &a, test, "lookup", "");
    std::thread::sleep(OUTAGE.saturating_sub(down.elapsed()));
    let during = sub.latest_sub();
    let outage = down.elapsed();
    assert!(
        lookup.latest().is_none(),
        "the fresh daemon cannot have the topic while the link is down"
    );
    net.set_link(true);
    let up = Instant::now();

    // Data kept flowing inside B: at least half the rate over the outage.
    let flowed = during.received - before.received;
    let expected = (outage.as_secs_f64() * RATE_HZ as f64 / 2.0) as u64;
    assert!(
        flowed >= expected,
        "only {flowed} messages in {} of outage (at least {expected} expected)",
        secs(outage)
    );
    during.assert_accounted();

    let (at, record) = lookup.wait_for("re-registration", RECOVERY, |v| {
        v.get("registered").is_some()
    });
    let reregistered = at - up;
    assert_eq!(record["address"], address.as_str(), "{record}");
    assert_eq!(record["node"], "pub", "{record}");

    let target = sub.latest_sub().last_seq + RATE_HZ;
    let (_, end) = sub.wait_sub("1 s of traffic after link up", BOUND, |s| {
        s.last_seq >= target
    });
    end.assert_accounted();
    eprintln!(
        "netns daemon unreachable {}: {flowed} messages flowed inside B during the outage; \
         publisher re-registered with the fresh daemon {} after link up; subscriber received {} \
         dropped {} over seq {}..={}",
        secs(outage),
        secs(reregistered),
        end.received,
        end.dropped,
        end.first_seq,
        end.last_seq,
    );
}
