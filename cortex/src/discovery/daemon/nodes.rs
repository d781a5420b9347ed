//! The daemon's node reports: what each node publishes, subscribes to and
//! serves, as it last said (`REPORT_NODE`), listed by `LIST_NODES`.
//!
//! A report is kept until the node reports again, unregisters
//! (`UNREGISTER_NODE`), or stays silent for [`MISSED_REPORTS`] of its
//! report intervals (a crashed node). Expired reports are dropped lazily,
//! whenever reports are read or written: nothing needs a timer of its own.
//!
//! Memory is bounded: at most `max_nodes` reports, each of at most
//! [`MAX_NODE_REPORT`] bytes, [`MAX_NODE_ENTRIES`] entries and
//! [`MAX_NODE_FIELDS`] fields, and all together at most [`MAX_WEIGHT`] by
//! [`weight`] (what their decoded form takes, roughly); more is refused
//! with `ERROR`.
//!
//! Pure logic like the registry: callers pass `now`, so the tests run on
//! paused tokio time.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::time::Duration;

use tokio::time::Instant;

use crate::discovery::protocol::{NodeInfo, Response, Status, MAX_MESSAGE_BYTES, MAX_NODE_REPORT};
#[cfg(doc)]
use crate::discovery::protocol::{MAX_NODE_ENTRIES, MAX_NODE_FIELDS};

/// The most all reports together may [`weigh`](weight).
pub(super) const MAX_WEIGHT: usize = 32 << 20;

/// Most nodes a daemon keeps reports of.
pub(super) const MAX_NODES: usize = 1024;

/// Silent report intervals after which a node is forgotten.
const MISSED_REPORTS: u32 = 3;

/// The interval assumed for a report that gives none.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(2);

/// The longest interval honoured: a report claiming a longer one is kept
/// as if it said this (so a claimed eternity still expires).
const MAX_INTERVAL: Duration = Duration::from_secs(600);

/// The shortest time a report is kept, whatever interval it claims (a
/// node reporting every few milliseconds would otherwise flicker in and
/// out of listings whenever a report is late).
const MIN_KEEP: Duration = Duration::from_secs(1);

/// One node's latest report.
#[derive(Debug)]
struct Tracked {
    info: NodeInfo,
    /// Its encoded size, for paging.
    size: usize,
    /// Its [`weight`].
    weight: usize,
    received: Instant,
    expires: Instant,
}

/// The latest report of every node, by name and instance.
#[derive(Debug)]
pub(super) struct Nodes {
    reports: BTreeMap<(String, u64), Tracked>,
    max_nodes: usize,
    /// The reports' weights together.
    weight: usize,
}

impl Nodes {
    pub(super) fn new(max_nodes: usize) -> Self {
        Self {
            reports: BTreeMap::new(),
            max_nodes,
            weight: 0,
        }
    }

    /// `REPORT_NODE`: keeps `info` as the node's latest report.
    pub(super) fn report(&mut self, info: NodeInfo, now: Instant) -> Response {
        self.expire(now);
        if let Err(reason) = info.check() {
            tracing::warn!(node = %shortened(&info.name), %reason, "refused a node report");
            return Response::error(format!("cannot keep this node report: {reason}"));
        }
        let size = info.encode().len();
        if size > MAX_NODE_REPORT {
            tracing::warn!(node = %shortened(&info.name), size, "refused an oversized node report");
            return Response::error(format!(
                "cannot keep this node report: it is {size} bytes long and a daemon keeps at \
                 most {MAX_NODE_REPORT} bytes per node (a few hundred topics); split the node"
            ));
        }
        let key = (info.name.clone(), info.instance);
        let known = self.reports.contains_key(&key);
        let weight = weight(&info, size);
        let replaced = self.reports.get(&key).map_or(0, |t| t.weight);
        if self.weight - replaced + weight > MAX_WEIGHT {
            tracing::warn!(node = %shortened(&info.name), "refused a node report: the daemon's reports are too large together");
            return Response::error(format!(
                "cannot keep this node report: the reports this daemon keeps already take \
                 about {} MiB, its limit; it forgets a node when it closes or {MISSED_REPORTS} \
                 report intervals after its last report",
                MAX_WEIGHT >> 20
            ));
        }
        if !known && self.reports.len() >= self.max_nodes {
            tracing::warn!(node = %shortened(&info.name), nodes = self.reports.len(), "refused a node report: too many nodes");
            return Response::error(format!(
                "cannot keep this node report: this daemon already keeps the reports of {} \
                 nodes, its limit; it forgets a node when it closes or {MISSED_REPORTS} report \
                 intervals after its last report",
                self.max_nodes
            ));
        }
        if !known {
            tracing::info!(node = %info.name, host = %info.host, pid = info.pid, "node reported");
        }
        let expires = now + keep_for(info.interval);
        self.weight = self.weight - replaced + weight;
        self.reports.insert(
            key,
            Tracked {
                info,
                size,
                weight,
                received: now,
                expires,
            },
        );
        Response::new(Status::Ok, "")
    }

    /// `UNREGISTER_NODE`: forgets the node of `info` (name and instance).
    pub(super) fn unregister(&mut self, info: &NodeInfo) -> Response {
        match self.reports.remove(&(info.name.clone(), info.instance)) {
            Some(tracked) => {
                self.weight -= tracked.weight;
                tracing::info!(node = %info.name, "node unregistered");
                Response::new(Status::Ok, format!("Unregistered node: {}", info.name))
            }
            None => Response::new(
                Status::NotFound,
                format!("Node not found: {}", shortened(&info.name)),
            ),
        }
    }

    /// `LIST_NODES`: the reports after `after` (name, instance), in that
    /// order, as many as fit in one reply, with their ages.
    pub(super) fn list(&mut self, after: Option<(&str, u64)>, now: Instant) -> Response {
        self.expire(now);
        let start = match after {
            Some((name, instance)) => Bound::Excluded((name.to_owned(), instance)),
            None => Bound::Unbounded,
        };
        // Room for the map, status and message around the reports; each
        // costs its bytes, a bin header (5) and its age (9).
        let mut room = MAX_MESSAGE_BYTES - 1024;
        let (mut nodes, mut ages) = (Vec::new(), Vec::new());
        for tracked in self
            .reports
            .range((start, Bound::Unbounded))
            .map(|(_, t)| t)
        {
            let cost = tracked.size + 5 + 9;
            if cost > room {
                break;
            }
            room -= cost;
            nodes.push(tracked.info.clone());
            let age = now.saturating_duration_since(tracked.received).as_millis();
            ages.push(u64::try_from(age).unwrap_or(u64::MAX));
        }
        let mut response = Response::new(Status::Ok, "");
        response.nodes = Some(nodes);
        response.ages_ms = Some(ages);
        response
    }

    /// Drops the reports whose node has been silent too long.
    fn expire(&mut self, now: Instant) {
        let mut freed = 0;
        self.reports.retain(|(name, _), tracked| {
            let keep = tracked.expires > now;
            if !keep {
                freed += tracked.weight;
                tracing::info!(node = %name, "forgot a node that stopped reporting");
            }
            keep
        });
        self.weight -= freed;
    }

    #[cfg(test)]
    fn names(&mut self, now: Instant) -> Vec<String> {
        self.list(None, now)
            .nodes
            .unwrap_or_default()
            .into_iter()
            .map(|n| n.name)
            .collect()
    }
}

/// Roughly the bytes a report of `size` encoded bytes takes decoded: its
/// text, and a fixed cost per entry and per field (their `String`s and
/// `Vec`s), which an encoding of one or two bytes each would hide.
fn weight(info: &NodeInfo, size: usize) -> usize {
    let (entries, fields) = info.items();
    size + 128 * entries + 64 * fields
}

/// How long a report with `interval` is kept without a newer one.
fn keep_for(interval: Duration) -> Duration {
    let interval = if interval.is_zero() {
        DEFAULT_INTERVAL
    } else {
        interval.min(MAX_INTERVAL)
    };
    (interval * MISSED_REPORTS).max(MIN_KEEP)
}

/// A name cut for a log line (a hostile one may be long).
fn shortened(name: &str) -> String {
    name.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::protocol::{NodePublication, MAX_NODE_ENTRIES, MAX_NODE_FIELDS};

    fn report(name: &str, instance: u64, interval_ms: u64) -> NodeInfo {
        NodeInfo {
            interval: Duration::from_millis(interval_ms),
            ..NodeInfo::new(name, instance)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_report_is_kept_until_three_intervals_pass_without_another() {
        let mut nodes = Nodes::new(MAX_NODES);
        assert_eq!(
            nodes.report(report("a", 1, 1000), Instant::now()).status,
            Status::Ok
        );
        tokio::time::advance(Duration::from_millis(2900)).await;
        assert_eq!(nodes.names(Instant::now()), ["a"]);
        // A new report restarts the count.
        nodes.report(report("a", 1, 1000), Instant::now());
        tokio::time::advance(Duration::from_millis(2900)).await;
        let listed = nodes.list(None, Instant::now());
        assert_eq!(listed.ages_ms, Some(vec![2900]));
        tokio::time::advance(Duration::from_millis(100)).await;
        assert!(nodes.names(Instant::now()).is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn intervals_are_bounded_both_ways() {
        let mut nodes = Nodes::new(MAX_NODES);
        // A tiny interval still keeps the report a second; a missing one
        // is taken as the default; a huge one as the maximum.
        nodes.report(report("tiny", 1, 1), Instant::now());
        nodes.report(report("unsaid", 1, 0), Instant::now());
        nodes.report(report("huge", 1, u64::MAX), Instant::now());
        tokio::time::advance(MIN_KEEP - Duration::from_millis(1)).await;
        assert_eq!(nodes.names(Instant::now()), ["huge", "tiny", "unsaid"]);
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(nodes.names(Instant::now()), ["huge", "unsaid"]);
        tokio::time::advance(DEFAULT_INTERVAL * MISSED_REPORTS).await;
        assert_eq!(nodes.names(Instant::now()), ["huge"]);
        tokio::time::advance(MAX_INTERVAL * MISSED_REPORTS).await;
        assert!(nodes.names(Instant::now()).is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_node_that_unregisters_is_gone_and_others_of_its_name_stay() {
        let mut nodes = Nodes::new(MAX_NODES);
        nodes.report(report("cam", 1, 1000), Instant::now());
        nodes.report(report("cam", 2, 1000), Instant::now());
        assert_eq!(
            nodes.unregister(&NodeInfo::new("cam", 1)).status,
            Status::Ok
        );
        let left = nodes.list(None, Instant::now()).nodes.unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].instance, 2);
        assert_eq!(
            nodes.unregister(&NodeInfo::new("cam", 1)).status,
            Status::NotFound
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_number_of_nodes_is_bounded_and_expired_ones_make_room() {
        let mut nodes = Nodes::new(2);
        nodes.report(report("a", 1, 1000), Instant::now());
        tokio::time::advance(Duration::from_secs(2)).await;
        nodes.report(report("b", 1, 1000), Instant::now());
        let refused = nodes.report(report("c", 1, 1000), Instant::now());
        assert_eq!(refused.status, Status::Error);
        assert!(refused.message.contains("limit"), "{}", refused.message);
        // A known node may always report again.
        assert_eq!(
            nodes.report(report("b", 1, 1000), Instant::now()).status,
            Status::Ok
        );
        // Once "a" is silent for three intervals, "c" fits.
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(
            nodes.report(report("c", 1, 1000), Instant::now()).status,
            Status::Ok
        );
        assert_eq!(nodes.names(Instant::now()), ["b", "c"]);
    }

    #[tokio::test(start_paused = true)]
    async fn oversized_and_invalid_reports_are_refused_with_the_reason() {
        let mut nodes = Nodes::new(MAX_NODES);
        let mut big = report("big", 1, 1000);
        big.publishes = (0..1000)
            .map(|i| NodePublication {
                topic: format!("/topic/{i:04}/{}", "x".repeat(100)),
                ..Default::default()
            })
            .collect();
        let refused = nodes.report(big, Instant::now());
        assert_eq!(refused.status, Status::Error);
        assert!(refused.message.contains("bytes"), "{}", refused.message);
        let refused = nodes.report(report("", 1, 1000), Instant::now());
        assert_eq!(refused.status, Status::Error);
        assert!(nodes.names(Instant::now()).is_empty());
    }

    /// Entries and fields are bounded per report, and all reports
    /// together by weight: many cheap-to-send items cannot make the daemon
    /// hold many times what it was sent.
    #[tokio::test(start_paused = true)]
    async fn entries_fields_and_the_total_weight_are_bounded() {
        let now = Instant::now();
        let mut nodes = Nodes::new(MAX_NODES);
        let mut many = report("many", 1, 1000);
        many.publishes = vec![NodePublication::default(); MAX_NODE_ENTRIES + 1];
        let refused = nodes.report(many, now);
        assert_eq!(refused.status, Status::Error);
        assert!(
            refused.message.contains("the limits are"),
            "{}",
            refused.message
        );
        let mut fields = report("fields", 1, 1000);
        fields.publishes = vec![NodePublication {
            fields: vec![(String::new(), String::new()); MAX_NODE_FIELDS + 1],
            ..Default::default()
        }];
        assert_eq!(nodes.report(fields, now).status, Status::Error);

        // Heavy reports until the total weight refuses one.
        let heavy = |i: u64| {
            let mut r = report(&format!("heavy{i:04}"), i, 1000);
            r.publishes = vec![
                NodePublication {
                    fields: vec![(String::new(), String::new()); 3],
                    ..Default::default()
                };
                500
            ];
            r
        };
        let mut kept = 0;
        let refused = loop {
            let response = nodes.report(heavy(kept), now);
            if response.status != Status::Ok {
                break response;
            }
            kept += 1;
            assert!(kept < MAX_NODES as u64, "never refused");
        };
        assert!(refused.message.contains("MiB"), "{}", refused.message);
        assert!(nodes.weight <= MAX_WEIGHT);
        // One leaves: another fits again; a report replacing its own
        // earlier one is not counted twice.
        assert_eq!(nodes.unregister(&heavy(0)).status, Status::Ok);
        assert_eq!(nodes.report(heavy(kept), now).status, Status::Ok);
        assert_eq!(nodes.report(heavy(kept), now).status, Status::Ok);
    }

    #[tokio::test(start_paused = true)]
    async fn a_long_listing_is_paged_within_the_reply_limit() {
        let mut nodes = Nodes::new(MAX_NODES);
        for i in 0..100 {
            let mut r = report(&format!("n{i:03}"), i, 1000);
            r.publishes = (0..20)
                .map(|j| NodePublication {
                    topic: format!("/{j:02}/{}", "t".repeat(1000)),
                    ..Default::default()
                })
                .collect();
            assert_eq!(nodes.report(r, Instant::now()).status, Status::Ok);
        }
        let mut seen: Vec<NodeInfo> = Vec::new();
        loop {
            let cursor = seen.last().map(|n| (n.name.as_str(), n.instance));
            let page = nodes.list(cursor, Instant::now()).nodes.unwrap();
            assert!(page.len() < 100);
            if page.is_empty() {
                break;
            }
            seen.extend(page);
        }
        assert_eq!(seen.len(), 100);
        assert!(seen.windows(2).all(|w| w[0].name < w[1].name));
    }
}
