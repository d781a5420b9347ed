//! Latched topics: a publisher keeps its last `depth` messages and replays
//! them to each subscriber that joins, before the live stream.
//!
//! The replay rides on the publisher's own socket, to one subscriber only:
//! a subscriber of a latched publisher also subscribes to a topic of its
//! own, [`replay_topic`] (`"\xffcortex.latch\0" + id + "\0" + topic`). When
//! the publisher's subscription reader sees that subscription, it sends —
//! holding the socket lock, so no publish interleaves — the kept messages
//! with that topic frame, then an end marker (the topic frame alone). Only
//! that subscriber matches it; the frame starts with `0xff`, which no UTF-8
//! topic does, so no other subscriber (a Python one, `topic hz`) ever
//! sees a replay.
//!
//! The seam: the subscriber's SUB socket sends its subscriptions in byte
//! order, so the publisher's XPUB applies the live subscription before it
//! hands the replay request to the reader. Live messages may therefore
//! arrive before the replay, never after a gap. The subscriber holds live
//! messages back until the end marker, delivers the replay, then the live
//! messages whose sequence is past the replay's last: no duplicate, no gap.
//!
//! A subscriber knows that a publisher is latched (and so waits for the
//! marker) from discovery: a latched publisher registers its depth, and
//! `WATCH_PUBLISHERS` answers carry it.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Sleep;

use crate::codec::Header;

/// The prefix of every replay topic.
const LATCH_PREFIX: &[u8] = b"\xffcortex.latch\0";

/// How long a subscriber holds live messages back waiting for a replay's
/// end marker before it gives up on the replay (logged).
pub(crate) const REPLAY_WAIT: Duration = Duration::from_secs(2);

/// The topic frame of replays of `topic` to the subscriber `id` (any
/// number unique among the publisher's subscribers). Subscribing to it on
/// a SUB socket connected to a latched publisher asks for the replay: the
/// kept messages arrive with this topic frame (then header, metadata,
/// buffers, as any message), followed by the end marker, this frame alone.
/// Tools that read raw frames (`cortex record`) use it; typed subscribers
/// do it themselves.
pub fn replay_topic(topic: &str, id: u64) -> Vec<u8> {
    let mut frame = Vec::with_capacity(LATCH_PREFIX.len() + 17 + topic.len());
    frame.extend_from_slice(LATCH_PREFIX);
    frame.extend_from_slice(format!("{id:016x}").as_bytes());
    frame.push(0);
    frame.extend_from_slice(topic.as_bytes());
    frame
}

/// If `msg` (an XPUB subscription message) subscribes to a replay of
/// `topic`, the replay topic it subscribes to.
pub(crate) fn replay_request<'a>(msg: &'a [u8], topic: &str) -> Option<&'a [u8]> {
    let (&kind, wanted) = msg.split_first()?;
    let rest = wanted.strip_prefix(LATCH_PREFIX)?;
    // `id` (16 hex digits), NUL, the topic.
    let ours = rest.len() == 17 + topic.len() && rest[16] == 0 && &rest[17..] == topic.as_bytes();
    (kind == 1 && ours).then_some(wanted)
}

/// One kept message: its frames after the topic.
#[derive(Debug)]
struct Kept {
    header: [u8; Header::LEN],
    metadata: Bytes,
    oob: Vec<Bytes>,
}

/// A latched publisher's last messages.
#[derive(Debug)]
pub(crate) struct History {
    depth: usize,
    kept: VecDeque<Kept>,
}

impl History {
    /// Keeps up to `depth` messages (at least one).
    pub(crate) fn new(depth: usize) -> Self {
        Self {
            depth: depth.max(1),
            kept: VecDeque::new(),
        }
    }

    /// Keeps a published message, forgetting the oldest beyond the depth.
    /// Arrays are shared, not copied.
    pub(crate) fn keep(&mut self, header: [u8; Header::LEN], metadata: &[u8], oob: Vec<Bytes>) {
        if self.kept.len() == self.depth {
            self.kept.pop_front();
        }
        self.kept.push_back(Kept {
            header,
            metadata: Bytes::copy_from_slice(metadata),
            oob,
        });
    }

    /// Sends the kept messages and the end marker on `replay` (a replay
    /// topic, so only the subscriber that asked gets them), at most
    /// `room - 1` of them (the last ones) so the marker fits the
    /// subscriber's queue. Returns how many were replayed; an error means
    /// the subscriber's queue took neither them all nor the marker.
    pub(crate) fn replay(
        &self,
        socket: &zmq::Socket,
        replay: &[u8],
        room: usize,
    ) -> Result<usize, zmq::Error> {
        let skip = self.kept.len().saturating_sub(room.saturating_sub(1));
        let more = zmq::DONTWAIT | zmq::SNDMORE;
        let mut sent = 0;
        for kept in self.kept.iter().skip(skip) {
            socket.send(replay, more)?;
            socket.send(&kept.header[..], more)?;
            let last = kept.oob.len();
            socket.send(
                &kept.metadata[..],
                if last == 0 { zmq::DONTWAIT } else { more },
            )?;
            for (i, frame) in kept.oob.iter().enumerate() {
                let flags = if i + 1 < last { more } else { zmq::DONTWAIT };
                socket.send(&frame[..], flags)?;
            }
            sent += 1;
        }
        socket.send(replay, zmq::DONTWAIT)?;
        Ok(sent)
    }

    /// Forgets the message kept last (it was refused for everyone).
    pub(crate) fn forget_last(&mut self) {
        self.kept.pop_back();
    }

    /// How many messages are kept.
    pub(crate) fn len(&self) -> usize {
        self.kept.len()
    }
}

/// A message's sequence and timestamp (`None` for a beacon, a marker or
/// anything without a readable header).
pub(crate) type Stamp = Option<(u64, u64)>;

/// A subscriber's side of one latched publisher's replay: holds live
/// messages back until the replay has arrived (or [`REPLAY_WAIT`] passed,
/// or `max_held` live messages are waiting), then hands out the replay and
/// the live messages past it, in order.
///
/// Replayed messages stamped at or before `floor` (the newest timestamp
/// already delivered from this publisher) are dropped: a replay asked for
/// again — the publisher registered again, after a daemon restart or its
/// own restart on the same endpoint — repeats only what is new.
pub(crate) struct Replay<M> {
    topic_frame: Vec<u8>,
    floor: u64,
    max_held: usize,
    state: State<M>,
}

enum State<M> {
    Waiting {
        replayed: Vec<M>,
        live: Vec<M>,
        deadline: Pin<Box<Sleep>>,
    },
    Draining(VecDeque<M>),
    Done,
}

/// What the replay made of one incoming message.
pub(crate) enum Taken<M> {
    /// Deliver it now.
    Deliver(M),
    /// Held back (or consumed): ask for the next.
    Held,
}

impl<M> Replay<M> {
    /// Waits for the replay whose topic frame is `topic_frame`.
    pub(crate) fn new(topic_frame: Vec<u8>, floor: u64, max_held: usize) -> Self {
        Self {
            topic_frame,
            floor,
            max_held: max_held.max(1),
            state: State::Waiting {
                replayed: Vec::new(),
                live: Vec::new(),
                deadline: Box::pin(tokio::time::sleep(REPLAY_WAIT)),
            },
        }
    }

    /// The replay topic this waits for.
    pub(crate) fn topic_frame(&self) -> &[u8] {
        &self.topic_frame
    }

    /// Whether the replay is over and everything held was handed out.
    pub(crate) fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// A message held back and now due, if any.
    pub(crate) fn next_due(&mut self) -> Option<M> {
        match &mut self.state {
            State::Draining(due) => {
                let next = due.pop_front();
                if due.is_empty() {
                    self.state = State::Done;
                }
                next
            }
            _ => None,
        }
    }

    /// Takes a message: `replayed` says whether it came on the replay
    /// topic, `marker` whether it is the end marker; `stamp` reads a
    /// message's sequence and timestamp. Returns `Err` with the number of
    /// live messages held when it gave up because `max_held` were waiting.
    pub(crate) fn take(
        &mut self,
        msg: M,
        replayed: bool,
        marker: bool,
        stamp: impl Fn(&M) -> Stamp,
    ) -> Result<Taken<M>, usize> {
        let State::Waiting {
            replayed: kept,
            live,
            ..
        } = &mut self.state
        else {
            // A late replay after giving up: its messages are older than
            // what was delivered; dropped.
            return Ok(if replayed {
                Taken::Held
            } else {
                Taken::Deliver(msg)
            });
        };
        match (replayed, marker) {
            (true, true) => self.finish(&stamp),
            (true, false) => kept.push(msg),
            (false, _) => {
                live.push(msg);
                if live.len() >= self.max_held {
                    let held = live.len();
                    self.finish(&stamp);
                    return Err(held);
                }
            }
        }
        Ok(Taken::Held)
    }

    /// Gives up waiting once [`REPLAY_WAIT`] has passed; `true` if it did
    /// (the held live messages are then due).
    pub(crate) fn poll_expired(
        &mut self,
        cx: &mut Context<'_>,
        stamp: impl Fn(&M) -> Stamp,
    ) -> bool {
        let State::Waiting { deadline, .. } = &mut self.state else {
            return false;
        };
        if deadline.as_mut().poll(cx) == Poll::Pending {
            return false;
        }
        self.finish(&stamp);
        true
    }

    /// The replay is complete (or given up): the replayed messages newer
    /// than the floor are due, then the live ones past the last replayed
    /// sequence.
    fn finish(&mut self, stamp: &impl Fn(&M) -> Stamp) {
        let State::Waiting { replayed, live, .. } = std::mem::replace(&mut self.state, State::Done)
        else {
            return;
        };
        let last = replayed.iter().filter_map(stamp).map(|(seq, _)| seq).max();
        let floor = self.floor;
        let mut due: VecDeque<M> = replayed
            .into_iter()
            .filter(|m| stamp(m).is_none_or(|(_, ts)| ts > floor))
            .collect();
        due.extend(live.into_iter().filter(|m| match (stamp(m), last) {
            (Some((s, _)), Some(last)) => s > last,
            _ => true,
        }));
        self.state = if due.is_empty() {
            State::Done
        } else {
            State::Draining(due)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Test messages: (sequence, has a header); the timestamp is 100 × the
    /// sequence.
    fn seq(m: &(u64, bool)) -> Stamp {
        m.1.then_some((m.0, m.0 * 100))
    }

    fn held(t: Result<Taken<(u64, bool)>, usize>) -> bool {
        matches!(t, Ok(Taken::Held))
    }

    fn drain(replay: &mut Replay<(u64, bool)>) -> Vec<u64> {
        std::iter::from_fn(|| replay.next_due())
            .map(|m| m.0)
            .collect()
    }

    #[test]
    fn replay_topics_match_only_their_topic_and_never_a_utf8_prefix() {
        let t = replay_topic("/map", 0xab);
        let mut sub = vec![1];
        sub.extend_from_slice(&t);
        assert_eq!(replay_request(&sub, "/map"), Some(&t[..]));
        assert_eq!(replay_request(&sub, "/ma"), None);
        sub[0] = 0;
        assert_eq!(replay_request(&sub, "/map"), None, "an unsubscription");
        assert!(std::str::from_utf8(&t[..1]).is_err());
    }

    #[tokio::test]
    async fn live_messages_wait_for_the_replay_and_overlaps_are_dropped() {
        let mut r = Replay::new(b"t".to_vec(), 0, 1000);
        // Live 7 and 8 raced ahead of the replay of 5..=8.
        for live in [7, 8] {
            assert!(held(r.take((live, true), false, false, seq)));
        }
        for old in [5, 6, 7, 8] {
            assert!(held(r.take((old, true), true, false, seq)));
        }
        assert!(held(r.take((0, false), true, true, seq)));
        assert_eq!(drain(&mut r), [5, 6, 7, 8]);
        assert!(r.is_done());
        // Live from here on.
        assert!(matches!(
            r.take((9, true), false, false, seq),
            Ok(Taken::Deliver((9, true)))
        ));
    }

    #[tokio::test]
    async fn an_empty_replay_releases_the_live_messages() {
        let mut r = Replay::new(b"t".to_vec(), 0, 1000);
        assert!(held(r.take((3, true), false, false, seq)));
        assert!(held(r.take((99, false), false, false, seq))); // a beacon: kept
        assert!(held(r.take((0, false), true, true, seq)));
        assert_eq!(drain(&mut r), [3, 99]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_replay_that_never_ends_is_given_up() {
        let mut r = Replay::new(b"t".to_vec(), 0, 1000);
        assert!(held(r.take((4, true), false, false, seq)));
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert!(!r.poll_expired(&mut cx, seq));
        tokio::time::advance(REPLAY_WAIT).await;
        assert!(r.poll_expired(&mut cx, seq));
        assert_eq!(drain(&mut r), [4]);
        // Its late messages are dropped; live ones flow.
        assert!(held(r.take((1, true), true, false, seq)));
        assert!(matches!(
            r.take((5, true), false, false, seq),
            Ok(Taken::Deliver(_))
        ));
    }

    #[tokio::test]
    async fn a_replay_asked_again_repeats_only_what_is_new() {
        // Messages up to timestamp 600 (sequence 6) were delivered before.
        let mut r = Replay::new(b"t".to_vec(), 600, 1000);
        for old in [5, 6, 7] {
            assert!(held(r.take((old, true), true, false, seq)));
        }
        assert!(held(r.take((0, false), true, true, seq)));
        assert_eq!(drain(&mut r), [7]);
    }

    #[tokio::test]
    async fn too_many_held_live_messages_end_the_wait() {
        let mut r = Replay::new(b"t".to_vec(), 0, 3);
        assert!(held(r.take((1, true), false, false, seq)));
        assert!(held(r.take((2, true), false, false, seq)));
        assert_eq!(r.take((3, true), false, false, seq).err(), Some(3));
        assert_eq!(drain(&mut r), [1, 2, 3]);
    }
}
