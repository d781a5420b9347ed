//! The daemon's serve loop: one task owns the ROUTER socket and the
//! [`Registry`]; probes run as spawned tasks that report back over a
//! channel, so no request ever waits on one.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::nodes::{Nodes, MAX_NODES};
use super::outbox::{Outbox, Sent};
use super::probe::{probe, Liveness};
use super::registry::{OwnerCheck, ProbeTarget, Registered, Registry, Reply};
use super::socket_file::SocketFile;
use super::DaemonConfig;
use crate::discovery::error::Result;
use crate::discovery::protocol::{Command, Request, Response, Status};
use crate::io::AsyncSocket;

/// How often the daemon checks that its ipc socket file is still its own.
const SOCKET_FILE_CHECK: Duration = Duration::from_millis(500);

/// How soon replies waiting in the [`Outbox`] are retried.
const OUTBOX_RETRY: Duration = Duration::from_millis(10);

/// How many probes run at once in one probe round.
const PROBE_CONCURRENCY: usize = 128;

/// A client's ZeroMQ envelope (routing id, up to the empty delimiter):
/// the address of a reply.
type Envelope = Vec<zmq::Message>;

/// Results of work spawned off the request path.
enum Event {
    /// A probe round finished: topics, then services.
    Probed(Vec<(ProbeTarget, Liveness)>, Vec<(ProbeTarget, Liveness)>),
    /// A REGISTER conflicting with other nodes' type waited for probes of
    /// their endpoints (`true`: in the service registry).
    OwnerChecked(bool, OwnerCheck<Envelope>, Vec<(ProbeTarget, Liveness)>),
}

/// What woke the serve loop.
enum Wake {
    Shutdown,
    Request(std::io::Result<Vec<zmq::Message>>),
    Event(Event),
    ProbeTick,
    WaiterDeadline,
    FileCheck,
    FlushOutbox,
}

pub(super) struct Server {
    socket: AsyncSocket,
    registry: Registry<Envelope>,
    /// Services, apart from topics (requests with `service` set).
    services: Registry<Envelope>,
    /// What each node last reported doing.
    nodes: Nodes,
    events_tx: mpsc::UnboundedSender<Event>,
    events_rx: mpsc::UnboundedReceiver<Event>,
    config: DaemonConfig,
    address: String,
    socket_file: Option<SocketFile>,
    outbox: Outbox,
    /// `outbox.overflowed` when it was last logged.
    overflow_logged: u64,
}

impl Server {
    pub(super) fn new(
        socket: AsyncSocket,
        config: DaemonConfig,
        address: String,
        socket_file: Option<SocketFile>,
    ) -> Self {
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let limits = super::registry::Limits {
            probing: config.probe_interval.is_some(),
            evict_after: config.evict_after,
            long_poll_window: config.long_poll_window,
            max_waiters: config.max_waiters,
        };
        Self {
            socket,
            registry: Registry::new(limits.clone()),
            services: Registry::new(limits),
            nodes: Nodes::new(MAX_NODES),
            events_tx,
            events_rx,
            config,
            address,
            socket_file,
            outbox: Outbox::default(),
            overflow_logged: 0,
        }
    }

    /// Serves until `shutdown`, the `SHUTDOWN` command or the loss of the
    /// socket file; then hands out the last replies and returns the socket.
    pub(super) async fn run(
        mut self,
        shutdown: &mut watch::Receiver<bool>,
    ) -> (Result<()>, AsyncSocket) {
        let outcome = self.serve(shutdown).await;
        self.outbox.flush(self.socket.get_ref());
        (outcome, self.socket)
    }

    async fn serve(&mut self, shutdown: &mut watch::Receiver<bool>) -> Result<()> {
        let mut probe_tick = self.config.probe_interval.map(|every| {
            let mut t = tokio::time::interval(every);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            t
        });
        let mut probing = false;
        let mut file_check = self.socket_file.as_ref().map(|_| {
            let mut t = tokio::time::interval(SOCKET_FILE_CHECK);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            t
        });
        loop {
            // Under a steady stream of requests the retry timer below never
            // fires; waiting replies go out between requests instead.
            if !self.outbox.is_empty() {
                self.outbox.flush(self.socket.get_ref());
            }
            let next_deadline = [self.registry.next_deadline(), self.services.next_deadline()]
                .into_iter()
                .flatten()
                .min();
            let wake = tokio::select! {
                biased;
                // An error is unreachable while we hold a sender; stop too.
                _ = shutdown.wait_for(|stop| *stop) => Wake::Shutdown,
                Some(event) = self.events_rx.recv() => Wake::Event(event),
                frames = self.socket.recv_multipart() => Wake::Request(frames),
                _ = tick(&mut probe_tick), if !probing && probe_tick.is_some() => Wake::ProbeTick,
                _ = sleep_until(next_deadline), if next_deadline.is_some() => Wake::WaiterDeadline,
                _ = tick(&mut file_check), if file_check.is_some() => Wake::FileCheck,
                () = tokio::time::sleep(OUTBOX_RETRY), if !self.outbox.is_empty() => Wake::FlushOutbox,
            };
            match wake {
                Wake::Shutdown => return Ok(()),
                Wake::Request(Ok(frames)) => {
                    if self.handle_request(frames) {
                        return Ok(());
                    }
                }
                Wake::Request(Err(e)) => {
                    tracing::warn!(error = %e, "discovery daemon receive failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Wake::Event(Event::Probed(topics, services)) => {
                    probing = false;
                    let mut replies = self.registry.apply_probes(topics);
                    replies.extend(self.services.apply_probes(services));
                    self.reply_all(replies);
                }
                Wake::Event(Event::OwnerChecked(service, check, results)) => {
                    let replies = self.registry_for(service).resolve_conflict(check, results);
                    self.reply_all(replies);
                }
                Wake::ProbeTick => probing = self.start_probe_round(),
                Wake::WaiterDeadline => {
                    let mut replies = self.registry.expire_waiters(Instant::now());
                    replies.extend(self.services.expire_waiters(Instant::now()));
                    self.reply_all(replies);
                }
                Wake::FileCheck => {
                    if let Some(file) = &self.socket_file {
                        file.check(&self.address)?;
                    }
                }
                // Flushed at the top of the loop.
                Wake::FlushOutbox => {}
            }
        }
    }

    /// Handles one request; returns `true` when the daemon should stop.
    fn handle_request(&mut self, mut frames: Vec<zmq::Message>) -> bool {
        // Envelope: everything up to and including the first empty frame
        // after the routing id; without one (a bare DEALER), the routing id.
        let split = frames
            .iter()
            .skip(1)
            .position(|f| f.is_empty())
            .map_or(1, |i| i + 2)
            .min(frames.len());
        let body = frames.split_off(split);
        let envelope = frames;
        let request = match body.as_slice() {
            [body] => Request::decode(body),
            [] => {
                let response = Response::error("empty request: send one msgpack map");
                self.reply(envelope, &response);
                return false;
            }
            more => {
                let response = Response::error(format!(
                    "request has {} body frames; send exactly one msgpack map",
                    more.len()
                ));
                self.reply(envelope, &response);
                return false;
            }
        };
        let request = match request {
            Ok(request) => request,
            Err(e) => {
                tracing::debug!(error = %e, "bad discovery request");
                let response = Response::error(format!("bad request: {e}"));
                self.reply(envelope, &response);
                return false;
            }
        };
        let mut stop = false;
        let service = request.service;
        let registry = if service {
            &mut self.services
        } else {
            &mut self.registry
        };
        let replies: Vec<Reply<Envelope>> = match request.command {
            Command::RegisterTopic => match request.topic_info {
                Some(info) => {
                    match registry.register_latched(envelope, info, request.latched.unwrap_or(0)) {
                        Registered::Replies(replies) => replies,
                        Registered::CheckOwners(check) => {
                            self.check_owner(service, check);
                            Vec::new()
                        }
                    }
                }
                None => vec![(envelope, Response::error("REGISTER_TOPIC needs topic_info"))],
            },
            Command::UnregisterTopic => match request.topic() {
                Some(name) => {
                    let name = name.to_owned();
                    registry.unregister(envelope, &name)
                }
                None => vec![(
                    envelope,
                    Response::error("UNREGISTER_TOPIC needs topic_name"),
                )],
            },
            Command::UnregisterPublisher => match &request.topic_info {
                Some(info) => registry.unregister_publisher(envelope, info),
                None => vec![(
                    envelope,
                    Response::error("UNREGISTER_PUBLISHER needs topic_info"),
                )],
            },
            Command::WatchPublishers => match request.topic() {
                Some(name) => {
                    let name = name.to_owned();
                    registry
                        .watch(envelope, name, request.version, Instant::now())
                        .into_iter()
                        .collect()
                }
                None => vec![(
                    envelope,
                    Response::error("WATCH_PUBLISHERS needs topic_name"),
                )],
            },
            Command::LookupTopic => {
                let response = match request.topic() {
                    Some(name) => registry.lookup(name),
                    None => Response::error("LOOKUP_TOPIC needs topic_name"),
                };
                vec![(envelope, response)]
            }
            Command::ListTopics => vec![(envelope, registry.list(None))],
            Command::ListTopicsFrom => {
                let after = request.topic_name.as_deref().unwrap_or("");
                vec![(envelope, registry.list(Some(after)))]
            }
            Command::ListServices => {
                let after = request.topic_name.as_deref().unwrap_or("");
                vec![(envelope, self.services.list(Some(after)))]
            }
            Command::ReportNode => {
                let response = match request.node_info {
                    Some(info) => self.nodes.report(info, Instant::now()),
                    None => Response::error("REPORT_NODE needs node_info"),
                };
                vec![(envelope, response)]
            }
            Command::UnregisterNode => {
                let response = match &request.node_info {
                    Some(info) => self.nodes.unregister(info),
                    None => Response::error("UNREGISTER_NODE needs node_info"),
                };
                vec![(envelope, response)]
            }
            Command::ListNodes => {
                let cursor = request
                    .topic_name
                    .as_deref()
                    .map(|name| (name, request.version.unwrap_or(0)));
                vec![(envelope, self.nodes.list(cursor, Instant::now()))]
            }
            Command::Ping => vec![(envelope, Response::new(Status::Ok, "pong"))],
            Command::WaitForTopic => match request.topic() {
                Some(name) => {
                    let name = name.to_owned();
                    registry
                        .wait_for(envelope, name, Instant::now())
                        .into_iter()
                        .collect()
                }
                None => vec![(envelope, Response::error("WAIT_FOR_TOPIC needs topic_name"))],
            },
            Command::Shutdown => {
                let response = if self.config.allow_shutdown_command {
                    tracing::info!("SHUTDOWN requested by a client");
                    stop = true;
                    Response::new(Status::Ok, "Shutting down")
                } else {
                    Response::error("this daemon does not accept SHUTDOWN; stop its process")
                };
                vec![(envelope, response)]
            }
        };
        self.reply_all(replies);
        stop
    }

    /// Probes the owner of a contested topic off the request path; the
    /// registrant is answered when the result arrives.
    fn registry_for(&mut self, service: bool) -> &mut Registry<Envelope> {
        if service {
            &mut self.services
        } else {
            &mut self.registry
        }
    }

    fn check_owner(&self, service: bool, check: OwnerCheck<Envelope>) {
        let timeout = self.config.probe_timeout;
        let events = self.events_tx.clone();
        tokio::spawn(async move {
            let results = probe_all(check.owners.clone(), timeout).await;
            let _ = events.send(Event::OwnerChecked(service, check, results));
        });
    }

    /// Spawns a probe of every record; returns whether one was started.
    fn start_probe_round(&mut self) -> bool {
        if self.registry.is_empty() && self.services.is_empty() {
            return false;
        }
        let topics = self.registry.probe_targets();
        let services = self.services.probe_targets();
        let timeout = self.config.probe_timeout;
        let events = self.events_tx.clone();
        tokio::spawn(async move {
            let (topics, services) =
                tokio::join!(probe_all(topics, timeout), probe_all(services, timeout));
            let _ = events.send(Event::Probed(topics, services));
        });
        true
    }

    fn reply_all(&mut self, replies: Vec<Reply<Envelope>>) {
        for (envelope, response) in replies {
            self.reply(envelope, &response);
        }
    }

    /// Sends a reply now, or queues it behind the client's earlier ones
    /// (see [`Outbox`]); never waits.
    fn reply(&mut self, envelope: Envelope, response: &Response) {
        let mut frames: Vec<Vec<u8>> = envelope.iter().map(|f| f.to_vec()).collect();
        frames.push(response.encode());
        if self.outbox.send(self.socket.get_ref(), frames) == Sent::Dropped
            && self.outbox.overflowed > self.overflow_logged
        {
            self.overflow_logged = self.outbox.overflowed;
            tracing::warn!(
                address = %self.address,
                dropped = self.outbox.overflowed,
                "a discovery client does not read its replies; dropping replies beyond its 8 MiB backlog"
            );
        }
    }
}

/// Probes every target at once, bounded by a semaphore, so one slow (timing
/// out) endpoint delays the round by one timeout at most per
/// [`PROBE_CONCURRENCY`] slow endpoints.
async fn probe_all(targets: Vec<ProbeTarget>, timeout: Duration) -> Vec<(ProbeTarget, Liveness)> {
    let permits = Arc::new(tokio::sync::Semaphore::new(PROBE_CONCURRENCY));
    let mut set = JoinSet::new();
    for target in targets {
        let permits = Arc::clone(&permits);
        set.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let liveness = probe(&target.address, timeout).await;
            (target, liveness)
        });
    }
    let mut results = Vec::with_capacity(set.len());
    while let Some(done) = set.join_next().await {
        if let Ok(result) = done {
            results.push(result);
        }
    }
    results
}

async fn tick(interval: &mut Option<tokio::time::Interval>) {
    match interval {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
