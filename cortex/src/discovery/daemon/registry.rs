//! The daemon's registry: topic records, parked long polls, and eviction
//! by probe results.
//!
//! Pure logic: no sockets, no spawned tasks, no clock of its own (callers
//! pass `now`). Every operation returns the replies to send, addressed by
//! an opaque token `R` (the server uses the ZeroMQ envelope, tests a
//! number), and work that needs I/O — probing a record's endpoint — comes
//! back as a request ([`Registered::CheckOwner`], [`Registry::probe_targets`])
//! whose result the caller feeds in later. So the tests below run on paused
//! tokio time, without sockets or sleeps.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::time::Duration;

use tokio::time::Instant;

use super::probe::Liveness;
use crate::discovery::protocol::{Response, Status, TopicInfo, MAX_MESSAGE_BYTES};

/// A reply to send: to whom, and what.
pub(super) type Reply<R> = (R, Response);

/// The registry's settings (from [`DaemonConfig`](super::DaemonConfig)).
#[derive(Debug, Clone)]
pub(super) struct Limits {
    /// Whether endpoints are probed. Without probes a record held by
    /// another node is never taken over.
    pub probing: bool,
    /// Consecutive `Dead` probes after which a record is evicted.
    pub evict_after: u32,
    /// How long a `WAIT_FOR_TOPIC` is parked before `NOT_FOUND`.
    pub long_poll_window: Duration,
    /// Most parked `WAIT_FOR_TOPIC`s; more get `ERROR`.
    pub max_waiters: usize,
}

/// A registered topic.
#[derive(Debug)]
struct Entry {
    info: TopicInfo,
    /// Distinguishes registrations of the same name, so a late probe result
    /// about an older registration cannot evict a newer one.
    generation: u64,
    failed_probes: u32,
}

/// A parked `WAIT_FOR_TOPIC`.
#[derive(Debug)]
struct Waiter<R> {
    token: R,
    topic: String,
    deadline: Instant,
}

/// The outcome of a `REGISTER_TOPIC`.
#[derive(Debug)]
pub(super) enum Registered<R> {
    /// Done: send these (parked waiters for the topic, then the registrant).
    Replies(Vec<Reply<R>>),
    /// Another node holds the topic: probe `address`, then call
    /// [`Registry::resolve_conflict`] with the result. No reply yet.
    CheckOwner(OwnerCheck<R>),
}

/// A registration waiting for a probe of the current owner's endpoint.
#[derive(Debug)]
pub(super) struct OwnerCheck<R> {
    /// The registrant.
    pub token: R,
    /// What it registers.
    pub info: TopicInfo,
    /// The owner's registration, as probed.
    pub generation: u64,
    /// The owner's endpoint, to probe.
    pub address: String,
}

/// One record to probe in a probe round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ProbeTarget {
    /// The topic.
    pub topic: String,
    /// Its registration.
    pub generation: u64,
    /// Its endpoint.
    pub address: String,
}

/// The topic records and parked long polls of one daemon.
#[derive(Debug)]
pub(super) struct Registry<R> {
    topics: BTreeMap<String, Entry>,
    waiters: Vec<Waiter<R>>,
    generation: u64,
    limits: Limits,
}

impl<R> Registry<R> {
    pub(super) fn new(limits: Limits) -> Self {
        Self {
            topics: BTreeMap::new(),
            waiters: Vec::new(),
            generation: 0,
            limits,
        }
    }

    /// `REGISTER_TOPIC` from `token`.
    pub(super) fn register(&mut self, token: R, info: TopicInfo) -> Registered<R> {
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
        match self.topics.get(&info.name) {
            Some(owner) if owner.info.publisher_node != info.publisher_node => {
                if !self.limits.probing {
                    return Registered::Replies(vec![(token, already_exists(&info.name))]);
                }
                Registered::CheckOwner(OwnerCheck {
                    token,
                    generation: owner.generation,
                    address: owner.info.address.clone(),
                    info,
                })
            }
            _ => Registered::Replies(self.insert(token, info)),
        }
    }

    /// Finishes a [`Registered::CheckOwner`]: the registrant takes the
    /// topic if the owner it was checked against is still the owner and
    /// is `Dead` (or the topic is free, or its own by now).
    pub(super) fn resolve_conflict(
        &mut self,
        check: OwnerCheck<R>,
        liveness: Liveness,
    ) -> Vec<Reply<R>> {
        let OwnerCheck {
            token,
            info,
            generation,
            ..
        } = check;
        let Some(owner) = self.topics.get(&info.name) else {
            return self.insert(token, info);
        };
        if owner.info.publisher_node == info.publisher_node {
            return self.insert(token, info);
        }
        if owner.generation == generation && liveness == Liveness::Dead {
            tracing::info!(
                topic = %info.name,
                address = %owner.info.address,
                node = %owner.info.publisher_node,
                new_node = %info.publisher_node,
                "evicted topic: its publisher is gone and another node registers it"
            );
            return self.insert(token, info);
        }
        vec![(token, already_exists(&info.name))]
    }

    /// Stores `info` (new, or over the same node's record) and answers
    /// the waiters for it, then the registrant.
    fn insert(&mut self, token: R, info: TopicInfo) -> Vec<Reply<R>> {
        self.generation += 1;
        let name = info.name.clone();
        let previous = self.topics.insert(
            name.clone(),
            Entry {
                info: info.clone(),
                generation: self.generation,
                failed_probes: 0,
            },
        );
        tracing::info!(
            topic = %info.name,
            address = %info.address,
            node = %info.publisher_node,
            message_type = %info.message_type,
            replaced = previous.is_some(),
            "registered topic"
        );
        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waiters)
            .into_iter()
            .partition(|w| w.topic == name);
        self.waiters = waiting;
        let mut replies: Vec<Reply<R>> = ready
            .into_iter()
            .map(|waiter| (waiter.token, found(&info)))
            .collect();
        replies.push((
            token,
            Response::new(Status::Ok, format!("Registered topic: {name}")),
        ));
        replies
    }

    /// `UNREGISTER_TOPIC`.
    pub(super) fn unregister(&mut self, name: &str) -> Response {
        match self.topics.remove(name) {
            Some(entry) => {
                tracing::info!(topic = %name, node = %entry.info.publisher_node, "unregistered topic");
                Response::new(Status::Ok, format!("Unregistered topic: {name}"))
            }
            None => not_found(name),
        }
    }

    /// `LOOKUP_TOPIC`.
    pub(super) fn lookup(&self, name: &str) -> Response {
        match self.topics.get(name) {
            Some(entry) => found(&entry.info),
            None => not_found(name),
        }
    }

    /// `LIST_TOPICS` (`after` = `None`) or `LIST_TOPICS_FROM`: the records
    /// after `after`, as many as fit in one reply of at most
    /// [`MAX_MESSAGE_BYTES`].
    pub(super) fn list(&self, after: Option<&str>) -> Response {
        let start = match after {
            Some(name) if !name.is_empty() => Bound::Excluded(name),
            _ => Bound::Unbounded,
        };
        // Room for the map, status and message around the records.
        let mut room = MAX_MESSAGE_BYTES - 1024;
        let mut topics = Vec::new();
        for (_, entry) in self.topics.range::<str, _>((start, Bound::Unbounded)) {
            // A record's bin header is at most 5 bytes.
            let size = entry.info.encode().len() + 5;
            if size > room {
                break;
            }
            room -= size;
            topics.push(entry.info.clone());
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

    /// `WAIT_FOR_TOPIC` at `now`: the reply if there is one now, else the
    /// request is parked until the topic is registered or its window ends
    /// (see [`expire_waiters`](Self::expire_waiters)).
    pub(super) fn wait_for(&mut self, token: R, name: String, now: Instant) -> Option<Reply<R>> {
        if self.topics.contains_key(&name) {
            return Some((token, self.lookup(&name)));
        }
        if self.waiters.len() >= self.limits.max_waiters {
            let response = Response::error(format!(
                "too many clients waiting for topics; poll LOOKUP_TOPIC for {name} instead"
            ));
            return Some((token, response));
        }
        self.waiters.push(Waiter {
            token,
            topic: name,
            deadline: now + self.limits.long_poll_window,
        });
        None
    }

    /// When the next parked request expires.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.waiters.iter().map(|w| w.deadline).min()
    }

    /// `NOT_FOUND` for every parked request whose window ended by `now`.
    pub(super) fn expire_waiters(&mut self, now: Instant) -> Vec<Reply<R>> {
        let (expired, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waiters)
            .into_iter()
            .partition(|w| w.deadline <= now);
        self.waiters = waiting;
        expired
            .into_iter()
            .map(|w| {
                let response = not_found(&w.topic);
                (w.token, response)
            })
            .collect()
    }

    /// Every record, for a probe round.
    pub(super) fn probe_targets(&self) -> Vec<ProbeTarget> {
        self.topics
            .iter()
            .map(|(topic, e)| ProbeTarget {
                topic: topic.clone(),
                generation: e.generation,
                address: e.info.address.clone(),
            })
            .collect()
    }

    /// Applies a probe round: `Dead` counts against a record (evicted
    /// after [`Limits::evict_after`] in a row), `Alive` clears the count,
    /// `Unknown` changes nothing. Results about a registration that has
    /// since been replaced are ignored. Returns the evicted topics.
    pub(super) fn apply_probes(
        &mut self,
        results: impl IntoIterator<Item = (ProbeTarget, Liveness)>,
    ) -> Vec<String> {
        let mut evicted = Vec::new();
        for (target, liveness) in results {
            let Some(entry) = self.topics.get_mut(&target.topic) else {
                continue;
            };
            if entry.generation != target.generation {
                continue;
            }
            match liveness {
                Liveness::Alive => entry.failed_probes = 0,
                Liveness::Unknown => {}
                Liveness::Dead => {
                    entry.failed_probes += 1;
                    if entry.failed_probes >= self.limits.evict_after {
                        if let Some(entry) = self.topics.remove(&target.topic) {
                            tracing::info!(
                                topic = %target.topic,
                                address = %entry.info.address,
                                node = %entry.info.publisher_node,
                                "evicted topic: nothing listens at its endpoint any more"
                            );
                            evicted.push(target.topic);
                        }
                    }
                }
            }
        }
        evicted
    }

    /// Whether there is nothing to probe.
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

fn already_exists(name: &str) -> Response {
    Response::new(
        Status::AlreadyExists,
        format!("Topic {name} already registered by another node"),
    )
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
    fn replies(outcome: Registered<u32>) -> Vec<(u32, Status)> {
        match outcome {
            Registered::Replies(r) => r.into_iter().map(|(t, r)| (t, r.status)).collect(),
            Registered::CheckOwner(c) => panic!("unexpected owner check for {}", c.info.name),
        }
    }

    fn check(outcome: Registered<u32>) -> OwnerCheck<u32> {
        match outcome {
            Registered::CheckOwner(c) => c,
            Registered::Replies(r) => panic!("expected an owner check, got {r:?}"),
        }
    }

    #[test]
    fn a_record_is_registered_looked_up_listed_and_unregistered() {
        let mut reg = Registry::new(limits());
        assert_eq!(replies(reg.register(1, info("/a", "n"))), [(1, Status::Ok)]);
        let found = reg.lookup("/a");
        assert_eq!(found.status, Status::Ok);
        assert_eq!(found.topic_info.unwrap().publisher_node, "n");
        assert_eq!(reg.list(None).topics.unwrap().len(), 1);
        assert_eq!(reg.unregister("/a").status, Status::Ok);
        assert_eq!(reg.lookup("/a").status, Status::NotFound);
        assert_eq!(reg.unregister("/a").status, Status::NotFound);
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
    }

    #[test]
    fn another_node_takes_a_topic_only_from_a_dead_owner() {
        let mut reg = Registry::new(limits());
        replies(reg.register(1, info("/a", "owner")));

        // The owner answers: the newcomer is refused.
        let c = check(reg.register(2, info("/a", "new")));
        assert_eq!(c.address, info("/a", "owner").address);
        let r = reg.resolve_conflict(c, Liveness::Alive);
        assert_eq!(r[0].1.status, Status::AlreadyExists);
        // An ambiguous probe is not enough either.
        let c = check(reg.register(3, info("/a", "new")));
        let r = reg.resolve_conflict(c, Liveness::Unknown);
        assert_eq!(r[0].1.status, Status::AlreadyExists);
        assert_eq!(reg.lookup("/a").topic_info.unwrap().publisher_node, "owner");

        // The owner is gone: the newcomer takes over.
        let c = check(reg.register(4, info("/a", "new")));
        let r = reg.resolve_conflict(c, Liveness::Dead);
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].0, r[0].1.status), (4, Status::Ok));
        assert_eq!(reg.lookup("/a").topic_info.unwrap().publisher_node, "new");
    }

    #[test]
    fn a_probe_of_a_replaced_owner_cannot_evict_its_successor() {
        let mut reg = Registry::new(limits());
        replies(reg.register(1, info("/a", "owner")));
        let c = check(reg.register(2, info("/a", "new")));
        // While the probe runs, the owner registers again (a restart).
        replies(reg.register(3, info("/a", "owner")));
        let r = reg.resolve_conflict(c, Liveness::Dead);
        assert_eq!(r[0].1.status, Status::AlreadyExists);
        assert_eq!(reg.lookup("/a").topic_info.unwrap().publisher_node, "owner");
    }

    #[test]
    fn a_conflict_resolves_to_the_registrant_when_the_topic_was_freed_meanwhile() {
        let mut reg = Registry::new(limits());
        replies(reg.register(1, info("/a", "owner")));
        let c = check(reg.register(2, info("/a", "new")));
        reg.unregister("/a");
        let r = reg.resolve_conflict(c, Liveness::Alive);
        assert_eq!(r[0].1.status, Status::Ok);
        assert_eq!(reg.lookup("/a").topic_info.unwrap().publisher_node, "new");
    }

    #[test]
    fn without_probing_a_held_topic_is_refused_at_once() {
        let mut reg = Registry::new(Limits {
            probing: false,
            ..limits()
        });
        replies(reg.register(1, info("/a", "owner")));
        assert_eq!(
            replies(reg.register(2, info("/a", "new"))),
            [(2, Status::AlreadyExists)]
        );
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
        assert!(reg.apply_probes(dead.clone()).is_empty());
        // Alive in between resets the count; Unknown neither counts nor resets.
        assert!(reg.apply_probes(round(&reg, Liveness::Alive)).is_empty());
        assert!(reg.apply_probes(dead.clone()).is_empty());
        assert!(reg.apply_probes(round(&reg, Liveness::Unknown)).is_empty());
        assert_eq!(reg.apply_probes(dead), ["/a"]);
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
        assert!(reg.apply_probes(stale).is_empty());
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
