//! `cortex topic echo` and `cortex topic hz`: follow every publisher of a
//! topic of any type and print its messages, or its rates and losses.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cortex::discovery::{Client, TopicInfo};
use cortex::message::DynamicMessage;
use cortex::pubsub::SequenceTracker;
use cortex::{Header, Result};

use super::output::outln;
use super::publishers::{Event, Publishers};
use super::schemas::{find_layout, TypeLayout};

/// Prints up to `count` messages (0 = until interrupted), from every
/// publisher of `topic`, each with the node it came from; a latched
/// publisher's kept messages first, marked `(latched)`.
pub(crate) async fn echo(client: &Client, topic: &str, count: u64, wait: Duration) -> Result<()> {
    let mut publishers = Publishers::follow(client, topic, wait, false, true).await?;
    let mut printed = 0;
    // Field names by fingerprint, learnt at each type's first message.
    let mut layouts: HashMap<u64, Option<TypeLayout>> = HashMap::new();
    while count == 0 || printed < count {
        let (from, frames, replayed) = match publishers.next().await? {
            Event::Message {
                from,
                frames,
                replayed,
                ..
            } => (from, frames, replayed),
            Event::Joined(info) => {
                eprintln!(
                    "echoing {topic} ({}, {:#018x}) from node {} at {}",
                    info.message_type, info.fingerprint, info.publisher_node, info.address
                );
                continue;
            }
            Event::Left(info) => {
                eprintln!("{}", left(topic, &info));
                continue;
            }
            Event::Beacon { .. } => continue,
        };
        match DynamicMessage::decode(&frames) {
            Ok(msg) => {
                outln!(
                    "--- seq {} stamp {} ns from {}{}",
                    msg.header.sequence,
                    msg.header.timestamp_ns,
                    from.publisher_node,
                    // Kept by a latched publisher, sent before we joined.
                    if replayed { " (latched)" } else { "" }
                )?;
                let fingerprint = msg.header.fingerprint;
                if let Entry::Vacant(entry) = layouts.entry(fingerprint) {
                    entry.insert(find_layout(client, fingerprint).await);
                }
                let layout = layouts.get(&fingerprint).and_then(Option::as_ref);
                for (i, value) in msg.fields.iter().enumerate() {
                    match layout.and_then(|l| l.field_name(i)) {
                        Some(name) => outln!("{name}: {value}")?,
                        None => outln!("[{i}]: {value}")?,
                    }
                }
            }
            Err(e) => outln!("--- undecodable message from {}: {e}", from.publisher_node)?,
        }
        printed += 1;
    }
    Ok(())
}

/// The line that tells a publisher has left.
fn left(topic: &str, info: &TopicInfo) -> String {
    format!(
        "node {} no longer publishes {topic} (was at {})",
        info.publisher_node, info.address
    )
}

/// One publisher's counts in the current window.
struct Rate {
    from: Arc<TopicInfo>,
    sequence: SequenceTracker,
    received: u64,
    lost: u64,
    /// It left during the window: reported once more, then forgotten.
    left: bool,
}

/// Prints the message rate once per `window` (`reports` times; 0 = until
/// interrupted): the total, then each publisher's rate and lost messages
/// (from its own sequence and sequence beacons).
pub(crate) async fn hz(
    client: &Client,
    topic: &str,
    window: Duration,
    reports: u64,
    wait: Duration,
) -> Result<()> {
    let mut publishers = Publishers::follow(client, topic, wait, true, false).await?;
    let mut rates: Vec<Rate> = Vec::new();
    let mut done = 0u64;
    let mut start = Instant::now();
    loop {
        let deadline = start + window;
        if let Ok(event) = tokio::time::timeout_at(deadline.into(), publishers.next()).await {
            count(topic, &mut rates, event?);
            continue;
        }
        report(topic, &rates, start.elapsed())?;
        done += 1;
        if reports != 0 && done >= reports {
            return Ok(());
        }
        rates.retain(|r| !r.left);
        for rate in &mut rates {
            (rate.received, rate.lost) = (0, 0);
        }
        start = Instant::now();
    }
}

/// Counts `event` against its publisher.
fn count(topic: &str, rates: &mut Vec<Rate>, event: Event) {
    match event {
        Event::Joined(from) => {
            eprintln!(
                "measuring {topic} ({}) from node {} at {}",
                from.message_type, from.publisher_node, from.address
            );
            rates.push(Rate {
                from,
                sequence: SequenceTracker::new(),
                received: 0,
                lost: 0,
                left: false,
            });
        }
        Event::Left(from) => {
            eprintln!("{}", left(topic, &from));
            if let Some(rate) = rate_of(rates, &from) {
                rate.left = true;
            }
        }
        Event::Message { from, frames, .. } => {
            if let Some(rate) = rate_of(rates, &from) {
                rate.received += 1;
                if let Some(h) = frames.first().and_then(|h| Header::from_bytes(h).ok()) {
                    rate.lost += SequenceTracker::lost(rate.sequence.observe(h.sequence));
                }
            }
        }
        // The publisher's last sequence: loss at the end of a burst.
        Event::Beacon { from, last_sent } => {
            if let Some(rate) = rate_of(rates, &from) {
                rate.lost += rate.sequence.observe_last_sent(last_sent);
            }
        }
    }
}

/// The counts of the publisher `from`.
fn rate_of<'a>(rates: &'a mut [Rate], from: &Arc<TopicInfo>) -> Option<&'a mut Rate> {
    rates.iter_mut().find(|r| Arc::ptr_eq(&r.from, from))
}

/// One window's report: the total line, then a line per publisher.
fn report(topic: &str, rates: &[Rate], elapsed: Duration) -> Result<()> {
    let secs = elapsed.as_secs_f64();
    let received: u64 = rates.iter().map(|r| r.received).sum();
    let lost: u64 = rates.iter().map(|r| r.lost).sum();
    let plural = if rates.len() == 1 { "" } else { "s" };
    outln!(
        "{topic}: {:.2} msg/s ({received} in {secs:.2} s), lost {lost}, {} publisher{plural}",
        received as f64 / secs,
        rates.len()
    )?;
    for r in rates {
        outln!(
            "  {} ({}): {:.2} msg/s ({}), lost {}{}",
            r.from.publisher_node,
            r.from.address,
            r.received as f64 / secs,
            r.received,
            r.lost,
            if r.left { ", left" } else { "" }
        )?;
    }
    Ok(())
}
