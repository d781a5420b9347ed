//! `cortex topic info/list/echo/hz` on a topic with several publishers
//! (one node each), including one that joins and leaves while echo and hz
//! run.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use cortex::codec::Header;
use cortex::discovery::{Client, TopicInfo};
use cortex::messages::IntMessage;
use cortex::{Message, Publisher};
use tokio::sync::mpsc;

mod common;
use common::World;

/// Only against a hang: every wait ends on an event well before it.
const FAILSAFE: Duration = Duration::from_secs(60);

/// Starts `cortex ARGS --address <daemon>`, its stdout read line by line.
fn spawn(w: &World, args: &[&str]) -> Running {
    let mut child = w
        .addressed(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, lines) = mpsc::unbounded_channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    Running {
        child,
        lines,
        seen: Vec::new(),
    }
}

/// A running `cortex` command; killed when dropped.
struct Running {
    child: Child,
    lines: mpsc::UnboundedReceiver<String>,
    /// Every stdout line read so far, for failure messages.
    seen: Vec<String>,
}

impl Running {
    /// Reads stdout lines until `done` says so with the lines read (all of
    /// them, from the start).
    async fn until(&mut self, what: &str, mut done: impl FnMut(&[String]) -> bool) {
        let wait = async {
            while !done(&self.seen) {
                match self.lines.recv().await {
                    Some(line) => self.seen.push(line),
                    None => return false,
                }
            }
            true
        };
        let found = tokio::time::timeout(FAILSAFE, wait).await == Ok(true);
        assert!(found, "{what}; output so far:\n{}", self.seen.join("\n"));
    }

    /// Waits for the command to end by itself; its success, stdout and stderr.
    async fn finish(mut self) -> (bool, String, String) {
        while let Some(line) = tokio::time::timeout(FAILSAFE, self.lines.recv())
            .await
            .expect("the command ends")
        {
            self.seen.push(line);
        }
        let mut child = std::mem::replace(
            &mut self.child,
            Command::new("true").spawn().unwrap(), // reaped by Drop
        );
        let (status, stderr) = tokio::task::spawn_blocking(move || {
            let mut stderr = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
            (child.wait().unwrap(), stderr)
        })
        .await
        .unwrap();
        (status.success(), self.seen.join("\n"), stderr)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Publishes `IntMessage`s every 10 ms until aborted.
fn feed(publisher: Arc<Publisher<IntMessage>>, data: i64) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            publisher.publish(&IntMessage { data }).unwrap();
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
}

/// One publisher's line of an hz report: node, messages, lost, left.
#[derive(Debug, PartialEq)]
struct PublisherLine {
    node: String,
    received: u64,
    lost: u64,
    left: bool,
}

/// `  NODE (ADDRESS): R msg/s (N), lost L[, left]`
fn publisher_line(line: &str) -> Option<PublisherLine> {
    let rest = line.strip_prefix("  ")?;
    let (node, rest) = rest.split_once(" (")?;
    let (_, rest) = rest.split_once("): ")?;
    let (_, rest) = rest.split_once(" msg/s (")?;
    let (received, rest) = rest.split_once("), lost ")?;
    let (lost, left) = match rest.strip_suffix(", left") {
        Some(lost) => (lost, true),
        None => (rest, false),
    };
    Some(PublisherLine {
        node: node.to_owned(),
        received: received.parse().ok()?,
        lost: lost.parse().ok()?,
        left,
    })
}

/// The hz reports in `lines` whose total line is complete: each as its
/// total line and its publisher lines.
fn reports(lines: &[String]) -> Vec<(String, Vec<PublisherLine>)> {
    let mut reports: Vec<(String, Vec<PublisherLine>)> = Vec::new();
    let mut expected = 0;
    for line in lines {
        if let Some(publisher) = publisher_line(line) {
            if let Some((_, publishers)) = reports.last_mut() {
                publishers.push(publisher);
            }
            continue;
        }
        let count = line
            .rsplit_once(", ")
            .and_then(|(_, n)| n.split_whitespace().next())
            .and_then(|n| n.parse().ok());
        if let Some(count) = count {
            expected = count;
            reports.push((line.clone(), Vec::new()));
        }
    }
    // The last report may still be arriving.
    if reports.last().is_some_and(|(_, p)| p.len() < expected) {
        reports.pop();
    }
    reports
}

/// Whether some hz report shows `node` with messages (and not leaving).
fn reported(lines: &[String], node: &str) -> bool {
    reports(lines).iter().any(|(_, publishers)| {
        publishers
            .iter()
            .any(|p| p.node == node && p.received > 0 && !p.left)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_and_list_show_every_publisher_of_a_topic() {
    let w = common::world("cxpubs").await;
    let (alpha, beta) = (w.node("alpha").await, w.node("beta").await);
    let a = alpha.publisher::<IntMessage>("/multi").await.unwrap();
    let b = beta.publisher::<IntMessage>("/multi").await.unwrap();

    // Asked until both nodes' reports (sent in the background as each
    // publisher starts) have reached the daemon.
    let started = std::time::Instant::now();
    let out = loop {
        let (ok, out, err) = w.run(&["topic", "info", "/multi"]).await;
        assert!(ok, "{err}");
        if out.lines().filter(|l| l.contains("     0  ipc://")).count() == 2 {
            break out;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{out}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(out.contains("publishers:  2"), "{out}");
    let fingerprint = format!("{:#018x}", IntMessage::FINGERPRINT);
    for (node, address) in [("alpha", a.address()), ("beta", b.address())] {
        let line = out
            .lines()
            .find(|l| l.starts_with(node))
            .unwrap_or_else(|| panic!("no line for {node}: {out}"));
        let columns: Vec<&str> = line.split_whitespace().collect();
        // SUBS: the publishers' nodes report them (no subscriber yet).
        assert_eq!(
            columns,
            [node, "IntMessage", &fingerprint, "0", address],
            "{out}"
        );
    }

    let (ok, out, err) = w.run(&["topic", "list"]).await;
    assert!(ok, "{err}");
    let line = out.lines().find(|l| l.starts_with("/multi ")).unwrap();
    let columns: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(columns[..3], ["/multi", "IntMessage", "2"], "{out}");
    assert!(out.starts_with("TOPIC "), "{out}");

    // A topic nobody publishes any more is not registered.
    a.close().await.unwrap();
    b.close().await.unwrap();
    let (ok, _, err) = w.run(&["topic", "info", "/multi"]).await;
    assert!(!ok);
    assert!(err.contains("/multi is not registered"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_receives_from_every_publisher_and_names_each() {
    let w = common::world("cxpubs").await;
    let (alpha, beta) = (w.node("alpha").await, w.node("beta").await);
    let a = alpha.publisher::<IntMessage>("/multi").await.unwrap();
    let b = beta.publisher::<IntMessage>("/multi").await.unwrap();

    let echo = spawn(&w, &["topic", "echo", "/multi", "--count", "2"]);
    // Once echo's subscription has reached both, each message reaches it.
    a.wait_for_subscribers(1, FAILSAFE).await.unwrap();
    b.wait_for_subscribers(1, FAILSAFE).await.unwrap();
    a.publish(&IntMessage { data: 1 }).unwrap();
    b.publish(&IntMessage { data: 2 }).unwrap();
    let (ok, out, err) = echo.finish().await;
    assert!(ok, "{err}");
    let mut senders: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("--- seq 0 stamp "))
        .filter_map(|l| l.rsplit_once(" ns from ").map(|(_, node)| node))
        .collect();
    senders.sort_unstable();
    assert_eq!(senders, ["alpha", "beta"], "{out}");
    // Each message is followed by its own field.
    let messages: Vec<(&str, &str)> = out
        .lines()
        .collect::<Vec<_>>()
        .chunks(2)
        .map(|m| (m[0].rsplit_once(' ').unwrap().1, m[1]))
        .collect();
    assert!(messages.contains(&("alpha", "data: 1")), "{out}");
    assert!(messages.contains(&("beta", "data: 2")), "{out}");
    for (node, address) in [("alpha", a.address()), ("beta", b.address())] {
        assert!(
            err.contains(&format!("from node {node} at {address}")),
            "{err}"
        );
    }
}

/// hz counts loss per publisher, from each one's own sequence: a raw
/// publisher that skips every other number loses one per message, the
/// real one beside it none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hz_reports_each_publisher_with_its_own_loss() {
    let w = common::world("cxpubs").await;
    let alpha = w.node("alpha").await;
    let a = Arc::new(alpha.publisher::<IntMessage>("/multi").await.unwrap());
    let feeding = feed(a, 1);

    let ctx = zmq::Context::new();
    let raw = ctx.socket(zmq::PUB).unwrap();
    raw.set_linger(0).unwrap();
    let address = format!("ipc://{}/gamma.sock", w.dir.path().display());
    raw.bind(&address).unwrap();
    Client::new(w.discovery.clone())
        .register(&TopicInfo {
            name: "/multi".into(),
            address,
            message_type: "IntMessage".into(),
            fingerprint: IntMessage::FINGERPRINT,
            publisher_node: "gamma".into(),
        })
        .await
        .unwrap();
    let metadata = IntMessage { data: 3 }.encode(0).unwrap().metadata;
    let skipping = tokio::spawn(async move {
        for seq in (0..).step_by(2) {
            let header = Header::now(IntMessage::FINGERPRINT, seq).to_bytes();
            raw.send_multipart([&b"/multi"[..], &header, &metadata], 0)
                .unwrap();
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });

    let mut hz = spawn(&w, &["topic", "hz", "/multi", "--window", "0.3"]);
    // A report in which gamma had messages after its first one.
    hz.until("a report with messages from both", |lines| {
        reports(lines).iter().any(|(_, p)| {
            p.iter().any(|p| p.node == "alpha" && p.received > 0)
                && p.iter().any(|p| p.node == "gamma" && p.received > 1)
        })
    })
    .await;
    let all = reports(&hz.seen);
    let (total, publishers) = all
        .iter()
        .find(|(_, p)| p.iter().any(|p| p.node == "gamma" && p.received > 1))
        .unwrap();
    assert!(total.ends_with(", 2 publishers"), "{total}");
    let gamma = publishers.iter().find(|p| p.node == "gamma").unwrap();
    let alpha = publishers.iter().find(|p| p.node == "alpha").unwrap();
    // One lost per message, but for the very first one gamma sent hz.
    assert!(
        gamma.lost == gamma.received || gamma.lost + 1 == gamma.received,
        "{gamma:?}"
    );
    assert_eq!(alpha.lost, 0, "{alpha:?}");
    let received = alpha.received + gamma.received;
    let lost = alpha.lost + gamma.lost;
    assert!(
        total.contains(&format!(" msg/s ({received} in "))
            && total.contains(&format!("lost {lost},")),
        "the total sums the publishers: {total}"
    );
    feeding.abort();
    skipping.abort();
}

/// echo and hz follow the topic's publishers live: one that joins after
/// they started is received from, one that leaves is reported gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_and_hz_follow_publishers_that_join_and_leave() {
    let w = common::world("cxpubs").await;
    let alpha = w.node("alpha").await;
    let a = Arc::new(alpha.publisher::<IntMessage>("/multi").await.unwrap());
    let feeding_a = feed(a, 1);

    let mut echo = spawn(&w, &["topic", "echo", "/multi"]);
    let mut hz = spawn(&w, &["topic", "hz", "/multi", "--window", "0.2"]);
    echo.until("alpha's messages", |lines| {
        lines.iter().any(|l| l.ends_with(" ns from alpha"))
    })
    .await;
    hz.until("alpha in a report", |lines| reported(lines, "alpha"))
        .await;

    let beta = w.node("beta").await;
    let b = Arc::new(beta.publisher::<IntMessage>("/multi").await.unwrap());
    // Both echo and hz connect to the newcomer by themselves.
    b.wait_for_subscribers(2, FAILSAFE).await.unwrap();
    let feeding_b = feed(b.clone(), 2);
    echo.until("beta's messages", |lines| {
        lines.iter().any(|l| l.ends_with(" ns from beta"))
    })
    .await;
    hz.until("beta in a report", |lines| reported(lines, "beta"))
        .await;

    // beta leaves: hz says so once, then reports alpha alone.
    feeding_b.abort();
    let _ = feeding_b.await;
    let Ok(b) = Arc::try_unwrap(b) else {
        panic!("the feeding task let go of beta's publisher")
    };
    b.close().await.unwrap();
    let mut left_at = None;
    hz.until("beta reported as left, then a report without it", |lines| {
        let all = reports(lines);
        left_at = left_at.or_else(|| {
            all.iter()
                .position(|(_, p)| p.iter().any(|p| p.node == "beta" && p.left))
        });
        left_at.is_some_and(|i| all.len() > i + 1)
    })
    .await;
    let all = reports(&hz.seen);
    let after = &all[left_at.unwrap() + 1];
    assert!(after.0.ends_with(", 1 publisher"), "{}", after.0);
    assert_eq!(after.1.len(), 1, "{:?}", after.1);
    assert_eq!(after.1[0].node, "alpha");
    feeding_a.abort();
}
