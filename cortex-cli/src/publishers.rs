//! Every publisher of one topic, each on a SUB socket of its own (so each
//! message is known by its sender and counted against its own sequence),
//! kept in step with discovery: a publisher that joins is connected to, one
//! that leaves is read to the end of what has arrived from it and closed.
//!
//! A cortex daemon tells of joins and leaves as they happen
//! (`WATCH_PUBLISHERS`, a long poll); a Python daemon, which has one
//! publisher per topic and no watch, is asked `LOOKUP_TOPIC` every
//! poll interval instead.
//!
//! With `replays`, a latched publisher is also asked for the messages it
//! keeps (its replay, see [`replay_topic`]): they come first, as messages
//! with `replayed` set, less any that already arrived live.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use cortex::discovery::{check_topic_address, Client, TopicInfo};
use cortex::io::{frame_to_bytes, AsyncSocket};
use cortex::pubsub::{beacon_topic, replay_topic};
use cortex::{Error, Header, Result};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How long the watch waits before asking again after a failure to reach
/// the daemon (a lost reply is retried by the watch itself).
const WATCH_RETRY: Duration = Duration::from_secs(1);

/// What happened on the followed topic.
pub(crate) enum Event {
    /// A publisher is now followed (one known at the start, or one that joined).
    Joined(Arc<TopicInfo>),
    /// A publisher left discovery; what arrived from it has been read.
    Left(Arc<TopicInfo>),
    /// A message: its frames after the topic frame (header, metadata, buffers).
    Message {
        from: Arc<TopicInfo>,
        frames: Vec<Bytes>,
        /// How many messages the publisher keeps for late joiners (0: not
        /// latched).
        latched: u64,
        /// It comes from the publisher's replay: sent before we joined.
        replayed: bool,
    },
    /// A sequence beacon: the publisher's last sequence so far.
    Beacon {
        from: Arc<TopicInfo>,
        last_sent: u64,
    },
}

/// One followed publisher.
struct Source {
    socket: AsyncSocket,
    /// Shared with the events about it: callers tell publishers apart by
    /// `Arc::ptr_eq`.
    info: Arc<TopicInfo>,
    /// It left discovery: read what has arrived, then close.
    leaving: bool,
    /// Leaving, and nothing more has arrived.
    drained: bool,
    /// How many messages the publisher keeps (0: not latched).
    latched: u64,
    /// The replay asked for, until its end marker.
    replay: Option<Pending>,
}

/// Live messages remembered while a replay is on its way; past this the
/// replay is given up.
const MAX_PENDING_LIVE: usize = 4096;

/// A replay on its way: its topic frame, and the sequences that arrived
/// live meanwhile (not repeated from the replay).
struct Pending {
    topic_frame: Vec<u8>,
    live: HashSet<u64>,
}

impl Source {
    /// Whether this is the publisher of `info` (same node, same endpoint).
    fn is(&self, info: &TopicInfo) -> bool {
        self.info.publisher_node == info.publisher_node && self.info.address == info.address
    }
}

/// The publishers of one topic, as one stream of [`Event`]s.
pub(crate) struct Publishers {
    topic: String,
    /// The beacon topic frame, when beacons are wanted.
    beacon: Option<Vec<u8>>,
    /// Declared before `ctx`: the sockets close before the context ends.
    sources: Vec<Source>,
    ctx: zmq::Context,
    /// Where the next round of reading starts (fairness between publishers).
    next: usize,
    events: VecDeque<Event>,
    changes: mpsc::Receiver<Vec<(TopicInfo, u64)>>,
    /// Whether latched publishers are asked for their replays.
    replays: bool,
    watcher: JoinHandle<()>,
    /// Records already reported as unusable (node, address), so each is
    /// reported once.
    refused: HashSet<(String, String)>,
}

impl Drop for Publishers {
    fn drop(&mut self) {
        self.watcher.abort();
    }
}

impl Publishers {
    /// Waits up to `wait` for `topic` to be registered, connects to its
    /// publisher and follows its publishers from then on; `beacons`
    /// subscribes to their sequence beacons too, `replays` asks latched
    /// publishers for what they keep.
    pub(crate) async fn follow(
        client: &Client,
        topic: &str,
        wait: Duration,
        beacons: bool,
        replays: bool,
    ) -> Result<Self> {
        let first = client.wait_for_topic(topic, wait).await?;
        let (tx, changes) = mpsc::channel(4);
        let watcher = tokio::spawn(watch(client.clone(), topic.to_owned(), tx));
        let mut publishers = Self {
            topic: topic.to_owned(),
            beacon: beacons.then(|| beacon_topic(topic)),
            sources: Vec::new(),
            ctx: zmq::Context::new(),
            next: 0,
            events: VecDeque::new(),
            changes,
            replays,
            watcher,
            refused: HashSet::new(),
        };
        // The watch's first answer confirms it (or says it has left), and
        // tells whether it is latched.
        publishers.apply(vec![(first, 0)]);
        Ok(publishers)
    }

    /// The next event. Cancel-safe: nothing is lost if the future is
    /// dropped (e.g. at the end of a `timeout`).
    pub(crate) async fn next(&mut self) -> Result<Event> {
        std::future::poll_fn(|cx| self.poll_next(cx)).await
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Result<Event>> {
        loop {
            if let Some(event) = self.events.pop_front() {
                return Poll::Ready(Ok(event));
            }
            match self.changes.poll_recv(cx) {
                Poll::Ready(Some(publishers)) => self.apply(publishers),
                // The watch ended (it only does when dropped), or no change.
                Poll::Ready(None) | Poll::Pending => break,
            }
        }
        let n = self.sources.len();
        for k in 0..n {
            let i = (self.next + k) % n;
            if let Some(event) = self.poll_source(i, cx)? {
                self.next = (i + 1) % n;
                return Poll::Ready(Ok(event));
            }
        }
        self.close_drained();
        match self.events.pop_front() {
            Some(event) => Poll::Ready(Ok(event)),
            None => Poll::Pending,
        }
    }

    /// The next message or beacon from source `i`, if one has arrived. A
    /// leaving source with nothing more is marked drained, for
    /// [`close_drained`](Self::close_drained).
    fn poll_source(&mut self, i: usize, cx: &mut Context<'_>) -> Result<Option<Event>> {
        let source = &mut self.sources[i];
        loop {
            match source.socket.poll_recv_multipart(cx) {
                Poll::Ready(Ok(frames)) => {
                    let event = classify(&self.topic, self.beacon.as_deref(), source, frames);
                    if event.is_some() {
                        return Ok(event);
                    }
                }
                Poll::Ready(Err(cause)) => {
                    return Err(Error::Io {
                        context: format!(
                            "receiving on {} from node {} at {}",
                            self.topic, source.info.publisher_node, source.info.address
                        ),
                        cause,
                    })
                }
                Poll::Pending => {
                    if source.leaving {
                        if has_input(&source.socket) {
                            // Reading `ZMQ_EVENTS` may have taken the edge
                            // the reactor would wake us with: come back.
                            cx.waker().wake_by_ref();
                        } else {
                            source.drained = true;
                        }
                    }
                    return Ok(None);
                }
            }
        }
    }

    /// Closes the drained sources, with an [`Event::Left`] for each.
    fn close_drained(&mut self) {
        let mut i = 0;
        while i < self.sources.len() {
            if self.sources[i].drained {
                let source = self.sources.remove(i);
                self.events.push_back(Event::Left(source.info));
            } else {
                i += 1;
            }
        }
        if self.next >= self.sources.len() {
            self.next = 0;
        }
    }

    /// Takes the publishers discovery knows now: connects to the new ones,
    /// marks the ones no longer there as leaving.
    fn apply(&mut self, publishers: Vec<(TopicInfo, u64)>) {
        for source in &mut self.sources {
            source.leaving = !publishers.iter().any(|(p, _)| source.is(p));
            source.drained &= source.leaving;
        }
        for (info, latched) in publishers {
            if info.name != self.topic {
                continue;
            }
            if let Some(source) = self.sources.iter_mut().find(|s| s.is(&info)) {
                // Learnt from the watch after the first record: ask now.
                if latched > source.latched && self.replays && source.replay.is_none() {
                    source.latched = latched;
                    source.replay = ask_replay(&source.socket, &self.topic);
                }
                continue;
            }
            match self.open(&info, latched) {
                Ok(source) => {
                    self.events.push_back(Event::Joined(source.info.clone()));
                    self.sources.push(source);
                }
                Err(problem) => {
                    if self
                        .refused
                        .insert((info.publisher_node.clone(), info.address.clone()))
                    {
                        eprintln!(
                            "warning: skipping the publisher of {} on node {} at {}: {problem}; \
                             that node must register an address subscribers can connect to",
                            self.topic, info.publisher_node, info.address
                        );
                    }
                }
            }
        }
    }

    /// A SUB socket connected to the publisher of `info` (keeping
    /// `latched` messages); the error says why it cannot be.
    fn open(&self, info: &TopicInfo, latched: u64) -> std::result::Result<Source, String> {
        check_topic_address(&info.address)?;
        let socket = self
            .ctx
            .socket(zmq::SUB)
            .and_then(|s| {
                s.set_linger(0)?;
                s.set_subscribe(self.topic.as_bytes())?;
                if let Some(beacon) = &self.beacon {
                    s.set_subscribe(beacon)?;
                }
                s.connect(&info.address)?;
                Ok(s)
            })
            .map_err(|e| format!("connecting failed: {e}"))?;
        let socket = AsyncSocket::new(socket)
            .map_err(|e| format!("registering its socket with tokio failed: {e}"))?;
        let replay = if self.replays && latched > 0 {
            ask_replay(&socket, &self.topic)
        } else {
            None
        };
        Ok(Source {
            socket,
            info: Arc::new(info.clone()),
            leaving: false,
            drained: false,
            latched,
            replay,
        })
    }
}

/// Subscribes `socket` to a replay of `topic` for a new id: what it will
/// wait for. `None` (no replay) if the subscription fails.
fn ask_replay(socket: &AsyncSocket, topic: &str) -> Option<Pending> {
    let topic_frame = replay_topic(topic, unique_id());
    match socket.get_ref().set_subscribe(&topic_frame) {
        Ok(()) => Some(Pending {
            topic_frame,
            live: HashSet::new(),
        }),
        Err(error) => {
            tracing::debug!(topic, %error, "could not ask for the latched replay");
            None
        }
    }
}

/// A number for a replay, unlike any other subscriber's.
fn unique_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    if let Ok(now) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(now.as_nanos());
    }
    h.finish()
}

/// What `frames` from `source` are: a message of the topic (live or from
/// its replay), a beacon (if wanted), or nothing of ours (`None`: another
/// topic sharing the prefix, a replay's end marker, a replayed message
/// that already arrived live).
fn classify(
    topic: &str,
    beacon: Option<&[u8]>,
    source: &mut Source,
    frames: Vec<zmq::Message>,
) -> Option<Event> {
    let mut frames = frames.into_iter();
    let first = frames.next()?;
    if *first == *topic.as_bytes() {
        let frames: Vec<Bytes> = frames.map(frame_to_bytes).collect();
        if let Some(pending) = &mut source.replay {
            if let Some(header) = frames.first().and_then(|h| Header::from_bytes(h).ok()) {
                pending.live.insert(header.sequence);
            }
            // No end marker after this many live messages (the replay was
            // lost): stop waiting for it rather than remember more.
            if pending.live.len() > MAX_PENDING_LIVE {
                source.replay = None;
            }
        }
        return Some(Event::Message {
            from: source.info.clone(),
            frames,
            latched: source.latched,
            replayed: false,
        });
    }
    if let Some(pending) = source.replay.as_mut().filter(|p| *first == *p.topic_frame) {
        let frames: Vec<Bytes> = frames.map(frame_to_bytes).collect();
        if frames.is_empty() {
            source.replay = None; // The end marker.
            return None;
        }
        let header = Header::from_bytes(&frames[0]).ok()?;
        if pending.live.contains(&header.sequence) {
            return None;
        }
        return Some(Event::Message {
            from: source.info.clone(),
            frames,
            latched: source.latched,
            replayed: true,
        });
    }
    if beacon.is_some_and(|b| *first == *b) {
        let header = Header::from_bytes(&frames.next()?).ok()?;
        return Some(Event::Beacon {
            from: source.info.clone(),
            last_sent: header.sequence,
        });
    }
    None
}

/// Whether a message waits on `socket` (its `ZMQ_EVENTS` has `POLLIN`).
fn has_input(socket: &AsyncSocket) -> bool {
    socket
        .get_ref()
        .get_events()
        .is_ok_and(|events| events.contains(zmq::POLLIN))
}

/// Feeds `changes` with the publishers of `topic` at the start and after
/// every change, until the receiver is gone.
async fn watch(client: Client, topic: String, changes: mpsc::Sender<Vec<(TopicInfo, u64)>>) {
    let mut watch = client.watch_publishers(&topic);
    loop {
        match watch.next().await {
            Ok(Some(publishers)) => {
                let publishers = publishers
                    .into_iter()
                    .map(|p| {
                        let latched = watch.latched(&p);
                        (p, latched)
                    })
                    .collect();
                if changes.send(publishers).await.is_err() {
                    return;
                }
            }
            Ok(None) => return poll_lookup(&client, &topic, &changes).await,
            Err(error) => {
                tracing::warn!(%topic, %error, "cannot watch the publishers of the topic; retrying");
                tokio::time::sleep(WATCH_RETRY).await;
            }
        }
    }
}

/// The fallback for a daemon that cannot watch (a Python daemon: one
/// publisher per topic): `LOOKUP_TOPIC` every poll interval, and the
/// record (or none) whenever it changes.
async fn poll_lookup(client: &Client, topic: &str, changes: &mpsc::Sender<Vec<(TopicInfo, u64)>>) {
    tracing::debug!(
        topic,
        daemon = client.address(),
        "the daemon cannot watch publishers; polling LOOKUP_TOPIC"
    );
    let mut last: Option<Option<TopicInfo>> = None;
    loop {
        if let Ok(current) = client.lookup(topic).await {
            if last.as_ref() != Some(&current) {
                if changes
                    .send(current.iter().map(|p| (p.clone(), 0)).collect())
                    .await
                    .is_err()
                {
                    return;
                }
                last = Some(current);
            }
        }
        tokio::time::sleep(client.config().poll_interval).await;
    }
}
