//! The daemon's registry: the publishers of each topic, parked long polls
//! and watches, and eviction by probe results.
//!
//! A topic has any number of publishers, one per node, all of one type (the
//! first publisher's fingerprint). `LOOKUP_TOPIC` and the listings answer
//! with one record per topic, the oldest publisher's, which is what a
//! Python client expects; `WATCH_PUBLISHERS` answers with all of them and
//! the topic's version, which changes whenever a publisher joins, leaves or
//! registers again.
//!
//! Pure logic: no sockets, no spawned tasks, no clock of its own (callers
//! pass `now`). Every operation returns the replies to send, addressed by
//! an opaque token `R` (the server uses the ZeroMQ envelope, tests a
//! number), and work that needs I/O — probing an endpoint — comes back as a
//! request ([`Registered::CheckOwners`], [`Registry::probe_targets`]) whose
//! result the caller feeds in later. So the tests below run on paused
//! tokio time, without sockets or sleeps.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::time::Duration;

use tokio::time::Instant;

use super::probe::Liveness;
use crate::discovery::protocol::{
    Response, Status, TopicInfo, MAX_MESSAGE_BYTES, TOO_MANY_WAITING,
};

/// A reply to send: to whom, and what.
pub(super) type Reply<R> = (R, Response);

/// The registry's settings (from [`DaemonConfig`](super::DaemonConfig)).
#[derive(Debug, Clone)]
pub(super) struct Limits {
    /// Whether endpoints are probed. Without probes a topic whose
    /// publishers have another type is never taken over.
    pub probing: bool,
    /// Consecutive `Dead` probes after which a record is evicted.
    pub evict_after: u32,
    /// How long a `WAIT_FOR_TOPIC` or `WATCH_PUBLISHERS` is parked.
    pub long_poll_window: Duration,
    /// Most parked requests; more get `ERROR`.
    pub max_waiters: usize,
}

/// One publisher of a topic.
#[derive(Debug)]
struct Entry {
    info: TopicInfo,
    /// How many messages the publisher replays to a joining subscriber.
    latched: u64,
    /// Distinguishes registrations, so a late probe result about an older
    /// registration cannot evict a newer one.
    generation: u64,
    failed_probes: u32,
}

/// A registered topic: its publishers, oldest first (never empty).
#[derive(Debug)]
struct Topic {
    publishers: Vec<Entry>,
    /// The registry's generation at the topic's last change.
    version: u64,
}

impl Topic {
    fn primary(&self) -> &TopicInfo {
        &self.publishers[0].info
    }
}

/// What a parked request waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Awaits {
    /// `WAIT_FOR_TOPIC`: any publisher.
    Topic,
    /// `WATCH_PUBLISHERS`: a version other than this one.
    Change(u64),
}

/// A parked request.
#[derive(Debug)]
struct Waiter<R> {
    token: R,
    topic: String,
    awaits: Awaits,
    deadline: Instant,
}

/// The outcome of a `REGISTER_TOPIC`.
#[derive(Debug)]
pub(super) enum Registered<R> {
    /// Done: send these (parked requests about the topic, then the
    /// registrant).
    Replies(Vec<Reply<R>>),
    /// The topic's publishers have another type: probe them, then call
    /// [`Registry::resolve_conflict`] with the results. No reply yet.
    CheckOwners(OwnerCheck<R>),
}

/// A registration waiting for probes of the publishers in its way.
#[derive(Debug)]
pub(super) struct OwnerCheck<R> {
    /// The registrant.
    pub token: R,
    /// What it registers.
    pub info: TopicInfo,
    /// Its replay depth.
    pub latched: u64,
    /// The publishers of the other type, to probe.
    pub owners: Vec<ProbeTarget>,
}

/// One record to probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ProbeTarget {
    /// The topic.
    pub topic: String,
    /// Its registration.
    pub generation: u64,
    /// Its endpoint.
    pub address: String,
}

/// The topics and parked requests of one daemon.
#[derive(Debug)]
pub(super) struct Registry<R> {
    topics: BTreeMap<String, Topic>,
    waiters: Vec<Waiter<R>>,
    generation: u64,
    limits: Limits,
}

impl<R> Registry<R> {
    pub(super) fn new(limits: Limits) -> Self {
        // Versions of a restarted daemon must not repeat the last run's (a
        // watcher would take a changed topic for an unchanged one): start
        // from the clock.
        let start = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        Self {
            topics: BTreeMap::new(),
            waiters: Vec::new(),
            generation: start,
            limits,
        }
    }

    /// `REGISTER_TOPIC` from `token`: a new topic, another publisher of a
    /// topic (same type, another node), or a node's registration again.
    #[cfg(test)]
    pub(super) fn register(&mut self, token: R, info: TopicInfo) -> Registered<R> {
        self.register_latched(token, info, 0)
    }

    /// [`register`](Self::register) for a publisher that replays its last
    /// `latched` messages to a joining subscriber.
    pub(super) fn register_latched(
        &mut self,
        token: R,
        info: TopicInfo,
        latched: u64,
    ) -> Registered<R> {
        if let Err(reason) = info.check() {
            tracing::warn!(
                topic = %info.name.chars().take(200).collect::<String>(),
                node = %info.publisher_node.chars().take(200).collect::<String>(),
                %reason,
                "refused a registration"
            );
            let response = Response::error(format!("cannot register this record: {reason}"));
            return Registered::Replies(vec![(token, response)]);
        }
        if self.limits.probing {
            let owners = self.owners_in_the_way(&info);
            if !owners.is_empty() {
                return Registered::CheckOwners(OwnerCheck {
                    token,
                    info,
                    latched,
                    owners,
                });
            }
        }
        Registered::Replies(self.admit(token, info, latched))
    }

    /// The publishers of `info.name` other than `info`'s node, if the
    /// topic carries another type than `info` (none if it carries the same).
    fn owners_in_the_way(&self, info: &TopicInfo) -> Vec<ProbeTarget> {
        let Some(topic) = self.topics.get(&info.name) else {
            return Vec::new();
        };
        let others = || {
            topic
                .publishers
                .iter()
                .filter(|e| e.info.publisher_node != info.publisher_node)
        };
        if others().all(|e| e.info.fingerprint == info.fingerprint) {
            return Vec::new();
        }
        others()
            .map(|e| ProbeTarget {
                topic: info.name.clone(),
                generation: e.generation,
                address: e.info.address.clone(),
            })
            .collect()
    }

    /// Finishes a [`Registered::CheckOwners`]: publishers found `Dead` are
    /// evicted, then the registration is decided again — it succeeds if
    /// every publisher of the other type is gone by now.
    pub(super) fn resolve_conflict(
        &mut self,
        check: OwnerCheck<R>,
        results: impl IntoIterator<Item = (ProbeTarget, Liveness)>,
    ) -> Vec<Reply<R>> {
        let OwnerCheck {
            token,
            info,
            latched,
            ..
        } = check;
        let mut replies = Vec::new();
        for (target, liveness) in results {
            if liveness == Liveness::Dead {
                let reason = "its publisher is gone and another node registers another type";
                replies.extend(self.evict(&target, reason));
            }
        }
        replies.extend(self.admit(token, info, latched));
        replies
    }

    /// Stores `info` if the topic is free, carries its type, or has it from
    /// the same node; refuses it otherwise.
    fn admit(&mut self, token: R, info: TopicInfo, latched: u64) -> Vec<Reply<R>> {
        if let Some(topic) = self.topics.get(&info.name) {
            if let Some(other) = topic.publishers.iter().find(|e| {
                e.info.publisher_node != info.publisher_node
                    && e.info.fingerprint != info.fingerprint
            }) {
                return vec![(token, type_conflict(&info, &other.info))];
            }
        }
        self.generation += 1;
        let entry = Entry {
            info: info.clone(),
            latched,
            generation: self.generation,
            failed_probes: 0,
        };
        let topic = self
            .topics
            .entry(info.name.clone())
            .or_insert_with(|| Topic {
                publishers: Vec::new(),
                version: 0,
            });
        let replaced = match topic
            .publishers
            .iter_mut()
            .find(|e| e.info.publisher_node == info.publisher_node)
        {
            Some(slot) => {
                *slot = entry;
                true
            }
            None => {
                topic.publishers.push(entry);
                false
            }
        };
        tracing::info!(
            topic = %info.name,
            address = %info.address,
            node = %info.publisher_node,
            message_type = %info.message_type,
            latched,
            publishers = topic.publishers.len(),
            replaced,
            "registered publisher"
        );
        let mut replies = self.changed(&info.name);
        replies.push((
            token,
            Response::new(Status::Ok, format!("Registered topic: {}", info.name)),
        ));
        replies
    }

    /// Marks a change of `name` (its version moves on) and answers the
    /// parked requests it satisfies.
    fn changed(&mut self, name: &str) -> Vec<Reply<R>> {
        self.generation += 1;
        if let Some(topic) = self.topics.get_mut(name) {
            topic.version = self.generation;
        }
        let version = self.version(name);
        let exists = self.topics.contains_key(name);
        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waiters)
            .into_iter()
            .partition(|w| {
                w.topic == name
                    && match w.awaits {
                        Awaits::Topic => exists,
                        Awaits::Change(known) => known != version,
                    }
            });
        self.waiters = waiting;
        ready
            .into_iter()
            .map(|w| (w.token, self.answer(&w.topic, w.awaits)))
            .collect()
    }

    /// The topic's version: 0 when it has no publisher.
    fn version(&self, name: &str) -> u64 {
        self.topics.get(name).map_or(0, |t| t.version)
    }

    /// The answer to a parked (or immediate) request.
    fn answer(&self, name: &str, awaits: Awaits) -> Response {
        match awaits {
            Awaits::Topic => self.lookup(name),
            Awaits::Change(_) => self.publishers(name),
        }
    }

    /// `UNREGISTER_TOPIC` from `token`: removes every publisher of `name`.
    pub(super) fn unregister(&mut self, token: R, name: &str) -> Vec<Reply<R>> {
        let Some(topic) = self.topics.remove(name) else {
            return vec![(token, not_found(name))];
        };
        tracing::info!(topic = %name, publishers = topic.publishers.len(), node = %topic.primary().publisher_node, "unregistered topic");
        let mut replies = self.changed(name);
        replies.push((
            token,
            Response::new(Status::Ok, format!("Unregistered topic: {name}")),
        ));
        replies
    }

    /// `UNREGISTER_PUBLISHER` from `token`: removes the record of `info`'s
    /// node if it still has `info`'s address (else it is a newer
    /// registration of the node, which stays).
    pub(super) fn unregister_publisher(&mut self, token: R, info: &TopicInfo) -> Vec<Reply<R>> {
        let target = self.topics.get(&info.name).and_then(|topic| {
            topic
                .publishers
                .iter()
                .find(|e| {
                    e.info.publisher_node == info.publisher_node && e.info.address == info.address
                })
                .map(|e| ProbeTarget {
                    topic: info.name.clone(),
                    generation: e.generation,
                    address: e.info.address.clone(),
                })
        });
        let Some(target) = target else {
            let response = Response::new(
                Status::NotFound,
                format!(
                    "Topic {} has no publisher {} at {}",
                    info.name, info.publisher_node, info.address
                ),
            );
            return vec![(token, response)];
        };
        let mut replies = self.remove(&target, |entry| {
            tracing::info!(topic = %info.name, node = %entry.publisher_node, "unregistered publisher");
        });
        replies.push((
            token,
            Response::new(
                Status::Ok,
                format!("Unregistered publisher of {}", info.name),
            ),
        ));
        replies
    }

    /// Removes the registration `target` (if it is still there), then
    /// `log`s it and answers the parked requests the change satisfies.
    fn remove(&mut self, target: &ProbeTarget, log: impl FnOnce(&TopicInfo)) -> Vec<Reply<R>> {
        let Some(topic) = self.topics.get_mut(&target.topic) else {
            return Vec::new();
        };
        let Some(i) = topic
            .publishers
            .iter()
            .position(|e| e.generation == target.generation)
        else {
            return Vec::new();
        };
        let entry = topic.publishers.remove(i);
        if topic.publishers.is_empty() {
            self.topics.remove(&target.topic);
        }
        log(&entry.info);
        self.changed(&target.topic)
    }

    fn evict(&mut self, target: &ProbeTarget, reason: &str) -> Vec<Reply<R>> {
        self.remove(target, |entry| {
            tracing::info!(
                topic = %entry.name,
                address = %entry.address,
                node = %entry.publisher_node,
                reason,
                "evicted publisher"
            );
        })
    }

    /// `LOOKUP_TOPIC`: the topic's oldest publisher.
    pub(super) fn lookup(&self, name: &str) -> Response {
        match self.topics.get(name) {
            Some(topic) => found(topic.primary()),
            None => not_found(name),
        }
    }

    /// `WATCH_PUBLISHERS` without a version: every publisher of `name`
    /// (none if the topic is not registered), their replay depths and the
    /// topic's version.
    pub(super) fn publishers(&self, name: &str) -> Response {
        let entries = self.topics.get(name).map_or(&[][..], |t| &t.publishers);
        let mut response = Response::new(Status::Ok, "");
        response.topics = Some(entries.iter().map(|e| e.info.clone()).collect());
        response.latched = Some(entries.iter().map(|e| e.latched).collect());
        response.registered = Some(entries.iter().map(|e| e.generation).collect());
        response.version = Some(self.version(name));
        response
    }

    /// `LIST_TOPICS` (`after` = `None`) or `LIST_TOPICS_FROM`: one record
    /// per topic (its oldest publisher's) after `after`, as many as fit in
    /// one reply of at most [`MAX_MESSAGE_BYTES`].
    pub(super) fn list(&self, after: Option<&str>) -> Response {
        let start = match after {
            Some(name) if !name.is_empty() => Bound::Excluded(name),
            _ => Bound::Unbounded,
        };
        // Room for the map, status and message around the records.
        let mut room = MAX_MESSAGE_BYTES - 1024;
        let mut topics = Vec::new();
        for (_, topic) in self.topics.range::<str, _>((start, Bound::Unbounded)) {
            let info = topic.primary();
            // A record's bin header is at most 5 bytes.
            let size = info.encode().len() + 5;
            if size > room {
                break;
            }
            room -= size;
            topics.push(info.clone());
        }
        let message = if after.is_none() && topics.len() < self.topics.len() {
            format!(
                "listed {} of {} topics (one reply holds at most {} bytes); list the rest with LIST_TOPICS_FROM",
                topics.len(),
                self.topics.len(),
                MAX_MESSAGE_BYTES
            )
        } else {
            String::new()
        };
        let mut response = Response::new(Status::Ok, message);
        response.topics = Some(topics);
        response
    }

    /// `WAIT_FOR_TOPIC`: the answer now if the topic is registered, else
    /// `None` (parked until it is, or until [`Self::expire_waiters`]).
    pub(super) fn wait_for(&mut self, token: R, name: String, now: Instant) -> Option<Reply<R>> {
        if self.topics.contains_key(&name) {
            return Some((token, self.lookup(&name)));
        }
        self.park(token, name, Awaits::Topic, now)
    }

    /// `WATCH_PUBLISHERS`: the publishers now if `known` is `None` or not
    /// the topic's version, else `None` (parked until the version changes,
    /// or until [`Self::expire_waiters`]).
    pub(super) fn watch(
        &mut self,
        token: R,
        name: String,
        known: Option<u64>,
        now: Instant,
    ) -> Option<Reply<R>> {
        match known {
            Some(known) if known == self.version(&name) => {
                self.park(token, name, Awaits::Change(known), now)
            }
            _ => Some((token, self.publishers(&name))),
        }
    }

    fn park(&mut self, token: R, name: String, awaits: Awaits, now: Instant) -> Option<Reply<R>> {
        if self.waiters.len() >= self.limits.max_waiters {
            let response = Response::error(format!(
                "{TOO_MANY_WAITING} for topics; poll LOOKUP_TOPIC for {name} instead"
            ));
            return Some((token, response));
        }
        self.waiters.push(Waiter {
            token,
            topic: name,
            awaits,
            deadline: now + self.limits.long_poll_window,
        });
        None
    }

    /// When the next parked request expires.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.waiters.iter().map(|w| w.deadline).min()
    }

    /// Answers the parked requests whose window has ended: `NOT_FOUND` to
    /// a `WAIT_FOR_TOPIC`, the unchanged publishers to a watch.
    pub(super) fn expire_waiters(&mut self, now: Instant) -> Vec<Reply<R>> {
        let (expired, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waiters)
            .into_iter()
            .partition(|w| w.deadline <= now);
        self.waiters = waiting;
        expired
            .into_iter()
            .map(|w| {
                let response = match w.awaits {
                    Awaits::Topic => not_found(&w.topic),
                    Awaits::Change(_) => self.publishers(&w.topic),
                };
                (w.token, response)
            })
            .collect()
    }

    /// Every registered endpoint, for a probe round.
    pub(super) fn probe_targets(&self) -> Vec<ProbeTarget> {
        self.topics
            .iter()
            .flat_map(|(name, topic)| {
                topic.publishers.iter().map(move |e| ProbeTarget {
                    topic: name.clone(),
                    generation: e.generation,
                    address: e.info.address.clone(),
                })
            })
            .collect()
    }

    /// Applies a probe round: a record is evicted after
    /// [`Limits::evict_after`] consecutive `Dead` results. Returns the
    /// answers to parked requests the evictions satisfy.
    pub(super) fn apply_probes(
        &mut self,
        results: impl IntoIterator<Item = (ProbeTarget, Liveness)>,
    ) -> Vec<Reply<R>> {
        let mut replies = Vec::new();
        for (target, liveness) in results {
            let Some(entry) = self.topics.get_mut(&target.topic).and_then(|t| {
                t.publishers
                    .iter_mut()
                    .find(|e| e.generation == target.generation)
            }) else {
                continue;
            };
            match liveness {
                Liveness::Alive => entry.failed_probes = 0,
                Liveness::Unknown => {}
                Liveness::Dead => {
                    entry.failed_probes += 1;
                    if entry.failed_probes >= self.limits.evict_after {
                        let reason = "nothing listens at its endpoint any more";
                        replies.extend(self.evict(&target, reason));
                    }
                }
            }
        }
        replies
    }

    /// Whether no topic is registered.
    pub(super) fn is_empty(&self) -> bool {
        self.topics.is_empty()
    }
}

fn found(info: &TopicInfo) -> Response {
    let mut response = Response::new(Status::Ok, "");
    response.topic_info = Some(info.clone());
    response
}

fn not_found(name: &str) -> Response {
    Response::new(Status::NotFound, format!("Topic not found: {name}"))
}

/// The refusal of a publisher whose type differs from the topic's.
fn type_conflict(info: &TopicInfo, other: &TopicInfo) -> Response {
    Response::error(format!(
        "topic {} carries {} (fingerprint {:#018x}) from node {}; node {} cannot also publish {} \
         (fingerprint {:#018x}) on it: every publisher of a topic sends one type. Publish on \
         another topic, or stop the other publisher",
        info.name,
        other.message_type,
        other.fingerprint,
        other.publisher_node,
        info.publisher_node,
        info.message_type,
        info.fingerprint,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_secs(1);

    fn limits() -> Limits {
        Limits {
            probing: true,
            evict_after: 2,
            long_poll_window: WINDOW,
            max_waiters: 3,
        }
    }

    fn info(name: &str, node: &str) -> TopicInfo {
        TopicInfo {
            name: name.into(),
            address: format!("ipc:///tmp/test/{node}{}.sock", name.replace('/', "_")),
            message_type: "T".into(),
            fingerprint: 7,
            publisher_node: node.into(),
        }
    }

    /// The replies of a registration that needed no probe.
    fn typed(name: &str, node: &str, fingerprint: u64) -> TopicInfo {
        TopicInfo {
            fingerprint,
            message_type: format!("T{fingerprint}"),
            ..info(name, node)
        }
    }

    fn replies(outcome: Registered<u32>) -> Vec<(u32, Status)> {
        match outcome {
            Registered::Replies(r) => r.into_iter().map(|(t, r)| (t, r.status)).collect(),
            Registered::CheckOwners(c) => panic!("unexpected owner check for {}", c.info.name),
        }
    }

    fn check(outcome: Registered<u32>) -> OwnerCheck<u32> {
        match outcome {
            Registered::CheckOwners(c) => c,
            Registered::Replies(r) => panic!("expected an owner check, got {r:?}"),
        }
    }

    /// Every owner of `check` found `liveness`.
    fn probed(check: &OwnerCheck<u32>, liveness: Liveness) -> Vec<(ProbeTarget, Liveness)> {
        check.owners.iter().map(|t| (t.clone(), liveness)).collect()
    }

    fn nodes(reg: &Registry<u32>, name: &str) -> Vec<String> {
        let response = reg.publishers(name);
        response
            .topics
            .unwrap()
            .into_iter()
            .map(|t| t.publisher_node)
            .collect()
    }

    #[test]
    fn a_record_is_registered_looked_up_listed_and_unregistered() {
        let mut reg = Registry::new(limits());
        assert_eq!(replies(reg.register(1, info("/a", "n"))), [(1, Status::Ok)]);
        let found = reg.lookup("/a");
        assert_eq!(found.status, Status::Ok);
        assert_eq!(found.topic_info.unwrap().publisher_node, "n");
        assert_eq!(reg.list(None).topics.unwrap().len(), 1);
        assert_eq!(reg.unregister(2, "/a")[0].1.status, Status::Ok);
        assert_eq!(reg.lookup("/a").status, Status::NotFound);
        assert_eq!(reg.unregister(3, "/a")[0].1.status, Status::NotFound);
    }

    #[test]
    fn an_invalid_record_is_refused_with_the_reason() {
        let mut reg = Registry::<u32>::new(limits());
        let mut bad = info("/a", "n");
        bad.address = "ipc://".into();
        let Registered::Replies(r) = reg.register(1, bad) else {
            panic!("refused records need no probe");
        };
        assert_eq!(r[0].1.status, Status::Error);
        assert!(
            r[0].1.message.contains("cannot register"),
            "{}",
            r[0].1.message
        );
        assert!(reg.is_empty());
    }

    #[test]
    fn the_same_node_registers_again_over_its_own_record() {
        let mut reg = Registry::new(limits());
        replies(reg.register(1, info("/a", "n")));
        let mut moved = info("/a", "n");
        moved.address = "ipc:///tmp/test/moved.sock".into();
        assert_eq!(replies(reg.register(2, moved)), [(2, Status::Ok)]);
        assert_eq!(
            reg.lookup("/a").topic_info.unwrap().address,
            "ipc:///tmp/test/moved.sock"
        );
        assert_eq!(nodes(&reg, "/a"), ["n"]);
    }

    #[test]
    fn nodes_of_one_type_all_publish_a_topic_and_lookup_names_the_oldest() {
        let mut reg = Registry::new(limits());
        for (token, node) in [(1, "a"), (2, "b"), (3, "c")] {
            assert_eq!(
                replies(reg.register(token, info("/t", node))),
                [(token, Status::Ok)]
            );
        }
        assert_eq!(nodes(&reg, "/t"), ["a", "b", "c"]);
        // What a Python client sees: one valid record per topic.
        assert_eq!(reg.lookup("/t").topic_info.unwrap().publisher_node, "a");
        let listed = reg.list(None).topics.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].publisher_node, "a");

        // One publisher leaves; the others stay. The next oldest is the
        // record a lookup returns once the oldest has gone.
        let r = reg.unregister_publisher(4, &info("/t", "a"));
        assert_eq!(r.last().unwrap().1.status, Status::Ok);
        assert_eq!(nodes(&reg, "/t"), ["b", "c"]);
        assert_eq!(reg.lookup("/t").topic_info.unwrap().publisher_node, "b");
        // A stale unregistration (another address) removes nothing.
        let mut old = info("/t", "b");
        old.address = "ipc:///tmp/test/old.sock".into();
        let r = reg.unregister_publisher(5, &old);
        assert_eq!(r[0].1.status, Status::NotFound);
        assert_eq!(nodes(&reg, "/t"), ["b", "c"]);
        // UNREGISTER_TOPIC (the Python command) removes them all.
        reg.unregister(6, "/t");
        assert!(nodes(&reg, "/t").is_empty());
        assert!(reg.is_empty());
    }

    #[test]
    fn another_type_is_refused_while_a_publisher_of_the_topic_lives() {
        let mut reg = Registry::new(limits());
        replies(reg.register(1, typed("/a", "owner", 7)));
        replies(reg.register(2, typed("/a", "second", 7)));

        let c = check(reg.register(3, typed("/a", "new", 9)));
        assert_eq!(c.owners.len(), 2);
        // One answers: refused, with both types and both nodes named; the
        // dead one is evicted on the way.
        let mut results = probed(&c, Liveness::Dead);
        results[0].1 = Liveness::Alive;
        let r = reg.resolve_conflict(c, results);
        let (token, refusal) = r.last().unwrap();
        assert_eq!((*token, refusal.status), (3, Status::Error));
        for part in ["/a", "T7", "T9", "owner", "new", "one type"] {
            assert!(refusal.message.contains(part), "{}", refusal.message);
        }
        assert_eq!(nodes(&reg, "/a"), ["owner"]);
        // An ambiguous probe is not enough either.
        let c = check(reg.register(4, typed("/a", "new", 9)));
        let r = reg.resolve_conflict(c, vec![]);
        assert_eq!(r.last().unwrap().1.status, Status::Error);

        // All gone: the newcomer takes the topic.
        let c = check(reg.register(5, typed("/a", "new", 9)));
        let results = probed(&c, Liveness::Dead);
        let r = reg.resolve_conflict(c, results);
        assert_eq!(r.last().map(|(t, r)| (*t, r.status)), Some((5, Status::Ok)));
        assert_eq!(nodes(&reg, "/a"), ["new"]);
    }

    #[test]
    fn each_publisher_s_replay_depth_is_listed_with_it() {
        let mut reg = Registry::new(limits());
        replies(reg.register_latched(1, info("/map", "a"), 10));
        replies(reg.register(2, info("/map", "b")));
        let r = reg.publishers("/map");
        assert_eq!(r.latched, Some(vec![10, 0]));
        // Registering again may change it.
        replies(reg.register_latched(3, info("/map", "b"), 1));
        assert_eq!(reg.publishers("/map").latched, Some(vec![10, 1]));
        assert_eq!(reg.publishers("/none").latched, Some(vec![]));
    }

    #[test]
    fn a_node_may_change_the_type_of_its_own_topic() {
        let mut reg = Registry::new(limits());
        replies(reg.register(1, typed("/a", "n", 7)));
        assert_eq!(
            replies(reg.register(2, typed("/a", "n", 9))),
            [(2, Status::Ok)]
        );
        assert_eq!(reg.lookup("/a").topic_info.unwrap().fingerprint, 9);
    }

    #[test]
    fn a_probe_of_a_replaced_owner_cannot_evict_its_successor() {
        let mut reg = Registry::new(limits());
        replies(reg.register(1, typed("/a", "owner", 7)));
        let c = check(reg.register(2, typed("/a", "new", 9)));
        // While the probe runs, the owner registers again (a restart).
        replies(reg.register(3, typed("/a", "owner", 7)));
        let results = probed(&c, Liveness::Dead);
        let r = reg.resolve_conflict(c, results);
        assert_eq!(r.last().unwrap().1.status, Status::Error);
        assert_eq!(reg.lookup("/a").topic_info.unwrap().publisher_node, "owner");
    }

    #[test]
    fn a_conflict_resolves_to_the_registrant_when_the_topic_was_freed_meanwhile() {
        let mut reg = Registry::new(limits());
        replies(reg.register(1, typed("/a", "owner", 7)));
        let c = check(reg.register(2, typed("/a", "new", 9)));
        reg.unregister(3, "/a");
        let results = probed(&c, Liveness::Alive);
        let r = reg.resolve_conflict(c, results);
        assert_eq!(r.last().unwrap().1.status, Status::Ok);
        assert_eq!(reg.lookup("/a").topic_info.unwrap().publisher_node, "new");
    }

    #[test]
    fn without_probing_another_type_is_refused_at_once() {
        let mut reg = Registry::new(Limits {
            probing: false,
            ..limits()
        });
        replies(reg.register(1, typed("/a", "owner", 7)));
        assert_eq!(
            replies(reg.register(2, typed("/a", "new", 9))),
            [(2, Status::Error)]
        );
        assert_eq!(
            replies(reg.register(3, typed("/a", "new", 7))),
            [(3, Status::Ok)]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_watch_is_answered_when_a_publisher_joins_or_leaves() {
        let mut reg = Registry::new(limits());
        let now = Instant::now();
        // Not registered: version 0, no publishers; a watch on 0 parks.
        let (_, first) = reg.watch(10, "/a".into(), None, now).unwrap();
        assert_eq!((first.version, first.topics), (Some(0), Some(vec![])));
        assert!(reg.watch(10, "/a".into(), Some(0), now).is_none());
        assert!(reg.watch(11, "/b".into(), Some(0), now).is_none());

        // A join answers the watcher before the registrant.
        let r = reg.register(1, info("/a", "x"));
        let Registered::Replies(r) = r else { panic!() };
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].0, 10);
        let v1 = r[0].1.version.unwrap();
        assert_ne!(v1, 0);
        assert_eq!(r[0].1.topics.as_ref().unwrap().len(), 1);

        // A second publisher joins while nobody watches; a watch with the
        // old version is answered at once.
        replies(reg.register(2, info("/a", "y")));
        let (_, now_two) = reg.watch(12, "/a".into(), Some(v1), now).unwrap();
        assert_eq!(now_two.topics.unwrap().len(), 2);
        let v2 = now_two.version.unwrap();

        // A leave (eviction after two dead probes) answers a parked watch.
        assert!(reg.watch(13, "/a".into(), Some(v2), now).is_none());
        let x = reg
            .probe_targets()
            .into_iter()
            .find(|t| t.address.contains("/x"))
            .unwrap();
        assert!(reg.apply_probes([(x.clone(), Liveness::Dead)]).is_empty());
        let r = reg.apply_probes([(x, Liveness::Dead)]);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].0, 13);
        let left = r[0].1.topics.as_ref().unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].publisher_node, "y");

        // The window ends: the watcher gets the same version back.
        assert!(reg
            .watch(14, "/a".into(), r[0].1.version, Instant::now())
            .is_none());
        tokio::time::advance(WINDOW).await;
        let expired = reg.expire_waiters(Instant::now());
        let versions: Vec<_> = expired.iter().map(|(t, r)| (*t, r.version)).collect();
        assert_eq!(versions, [(11, Some(0)), (14, r[0].1.version)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_parked_wait_is_answered_when_the_topic_is_registered() {
        let mut reg = Registry::new(limits());
        assert!(reg.wait_for(10, "/a".into(), Instant::now()).is_none());
        assert!(reg.wait_for(11, "/b".into(), Instant::now()).is_none());
        tokio::time::advance(WINDOW / 2).await;
        let r = replies(reg.register(1, info("/a", "n")));
        // The waiter first, then the registrant; the other waiter stays.
        assert_eq!(r, [(10, Status::Ok), (1, Status::Ok)]);
        assert!(reg.expire_waiters(Instant::now()).is_empty());
        assert!(reg.next_deadline().is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn a_parked_wait_gets_not_found_when_its_window_ends() {
        let mut reg = Registry::<u32>::new(limits());
        let start = Instant::now();
        assert!(reg.wait_for(10, "/a".into(), start).is_none());
        tokio::time::advance(WINDOW / 2).await;
        assert!(reg.wait_for(11, "/a".into(), Instant::now()).is_none());
        assert_eq!(reg.next_deadline(), Some(start + WINDOW));

        tokio::time::advance(WINDOW / 2 - Duration::from_millis(1)).await;
        assert!(reg.expire_waiters(Instant::now()).is_empty());
        tokio::time::advance(Duration::from_millis(1)).await;
        let expired = reg.expire_waiters(Instant::now());
        assert_eq!(expired.len(), 1);
        assert_eq!((expired[0].0, expired[0].1.status), (10, Status::NotFound));

        tokio::time::advance(WINDOW / 2).await;
        let expired = reg.expire_waiters(Instant::now());
        assert_eq!(expired[0].0, 11);
        assert_eq!(reg.next_deadline(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_for_a_registered_topic_is_answered_at_once() {
        let mut reg = Registry::new(limits());
        replies(reg.register(1, info("/a", "n")));
        let (token, response) = reg.wait_for(2, "/a".into(), Instant::now()).unwrap();
        assert_eq!((token, response.status), (2, Status::Ok));
        assert_eq!(reg.next_deadline(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn waits_beyond_the_limit_get_an_error_not_a_parking_place() {
        let mut reg = Registry::<u32>::new(limits());
        for token in 0..3 {
            assert!(reg.wait_for(token, "/a".into(), Instant::now()).is_none());
        }
        let (token, response) = reg.wait_for(3, "/a".into(), Instant::now()).unwrap();
        assert_eq!((token, response.status), (3, Status::Error));
        assert!(
            response.message.contains("LOOKUP_TOPIC"),
            "{}",
            response.message
        );
    }

    fn round(reg: &Registry<u32>, liveness: Liveness) -> Vec<(ProbeTarget, Liveness)> {
        reg.probe_targets()
            .into_iter()
            .map(|t| (t, liveness))
            .collect()
    }

    #[test]
    fn a_record_is_evicted_after_consecutive_dead_probes_only() {
        let mut reg = Registry::new(limits());
        replies(reg.register(1, info("/a", "n")));
        let dead = round(&reg, Liveness::Dead);
        reg.apply_probes(dead.clone());
        // Alive in between resets the count; Unknown neither counts nor resets.
        reg.apply_probes(round(&reg, Liveness::Alive));
        reg.apply_probes(dead.clone());
        reg.apply_probes(round(&reg, Liveness::Unknown));
        assert_eq!(reg.lookup("/a").status, Status::Ok);
        reg.apply_probes(dead);
        assert_eq!(reg.lookup("/a").status, Status::NotFound);
    }

    #[test]
    fn a_late_probe_result_about_an_old_registration_is_ignored() {
        let mut reg = Registry::new(limits());
        replies(reg.register(1, info("/a", "n")));
        let stale = round(&reg, Liveness::Dead);
        reg.apply_probes(stale.clone());
        // The node restarts and registers again before the next result.
        replies(reg.register(2, info("/a", "n")));
        reg.apply_probes(stale);
        assert_eq!(reg.lookup("/a").status, Status::Ok);
    }

    #[test]
    fn a_long_list_is_paged_within_the_reply_limit() {
        let mut reg = Registry::new(limits());
        // Records of ~1 KiB each: about 1000 fit in one 1 MiB reply.
        let long = "x".repeat(900);
        for i in 0..2500 {
            let mut record = info(&format!("/t/{i:05}"), "n");
            record.message_type = long.clone();
            replies(reg.register(i, record));
        }
        let first = reg.list(None);
        assert!(
            first.message.contains("LIST_TOPICS_FROM"),
            "{}",
            first.message
        );
        let mut seen = first.topics.unwrap();
        assert!(seen.len() < 2500);
        loop {
            let after = seen.last().unwrap().name.clone();
            let page = reg.list(Some(&after)).topics.unwrap();
            if page.is_empty() {
                break;
            }
            seen.extend(page);
        }
        let names: Vec<_> = seen.iter().map(|t| t.name.clone()).collect();
        let expected: Vec<_> = (0..2500).map(|i| format!("/t/{i:05}")).collect();
        assert_eq!(names, expected);
    }
}
