//! Counting lost messages from the publisher's sequence numbers.
//!
//! Every publisher numbers its messages 0, 1, 2, ... (the header's
//! `sequence`), so a receiver that sees 7 after 4 lost 5 and 6. A sequence
//! that goes back means the publisher restarted; a forward jump too large
//! to be loss (more than [`SequenceTracker::MAX_GAP`]) means a new or a
//! broken stream, and is reported, not counted: one bad header must not
//! turn into 1.8 × 10¹⁹ "lost" messages.

/// What one sequence number tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceEvent {
    /// The first message seen.
    First,
    /// The next one in order.
    InOrder,
    /// `lost` messages are missing before this one.
    Gap {
        /// How many.
        lost: u64,
    },
    /// The same sequence again (a duplicate, or a restarted publisher that
    /// is exactly where the old one was).
    Repeated,
    /// The sequence went back: the publisher restarted. Counting starts
    /// over from here.
    Restarted {
        /// The last sequence before.
        last: u64,
    },
    /// A forward jump of more than [`SequenceTracker::MAX_GAP`]: not
    /// counted as loss; counting starts over from here.
    Jumped {
        /// The last sequence before.
        last: u64,
    },
}

/// Tracks one publisher's sequence at one receiver. See the module docs.
#[derive(Debug, Clone, Copy, Default)]
pub struct SequenceTracker {
    last: Option<u64>,
}

impl SequenceTracker {
    /// The largest forward jump still counted as lost messages (2³²: at a
    /// million messages a second, over an hour of loss).
    pub const MAX_GAP: u64 = 1 << 32;

    /// A tracker that has seen nothing yet.
    pub const fn new() -> Self {
        Self { last: None }
    }

    /// The last sequence seen (or announced), if any.
    pub fn last(&self) -> Option<u64> {
        self.last
    }

    /// Forgets the stream (e.g. after following a publisher to a new
    /// endpoint): the next sequence counts as the first.
    pub fn reset(&mut self) {
        self.last = None;
    }

    /// Takes the sequence of a received message.
    pub fn observe(&mut self, sequence: u64) -> SequenceEvent {
        let event = match self.last {
            None => SequenceEvent::First,
            Some(last) if sequence == last => SequenceEvent::Repeated,
            Some(last) if sequence < last => SequenceEvent::Restarted { last },
            // `sequence > last`, so neither subtraction can overflow.
            Some(last) => match sequence - last - 1 {
                0 => SequenceEvent::InOrder,
                lost if lost <= Self::MAX_GAP => SequenceEvent::Gap { lost },
                _ => SequenceEvent::Jumped { last },
            },
        };
        if event != SequenceEvent::Repeated {
            self.last = Some(sequence);
        }
        event
    }

    /// Takes the publisher's word that `last_sent` is the last sequence it
    /// sent (a sequence beacon): messages up to it that never arrived are
    /// lost, even though no later message revealed the gap. Returns how
    /// many; an announcement behind what was seen, or absurdly far ahead,
    /// counts nothing.
    pub fn observe_last_sent(&mut self, last_sent: u64) -> u64 {
        match self.last {
            Some(last) if last_sent > last && last_sent - last <= Self::MAX_GAP => {
                self.last = Some(last_sent);
                last_sent - last
            }
            _ => 0,
        }
    }

    /// Lost messages in an event (0 for everything but [`SequenceEvent::Gap`]).
    pub fn lost(event: SequenceEvent) -> u64 {
        match event {
            SequenceEvent::Gap { lost } => lost,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_are_counted() {
        let mut t = SequenceTracker::new();
        assert_eq!(t.observe(4), SequenceEvent::First);
        assert_eq!(t.observe(5), SequenceEvent::InOrder);
        assert_eq!(t.observe(8), SequenceEvent::Gap { lost: 2 });
        assert_eq!(t.observe(8), SequenceEvent::Repeated);
        assert_eq!(t.observe(2), SequenceEvent::Restarted { last: 8 });
        assert_eq!(t.observe(3), SequenceEvent::InOrder);
    }

    #[test]
    fn extreme_sequences_do_not_overflow_or_count_absurd_loss() {
        let mut t = SequenceTracker::new();
        t.observe(0);
        assert_eq!(t.observe(u64::MAX), SequenceEvent::Jumped { last: 0 });
        assert_eq!(t.observe(u64::MAX), SequenceEvent::Repeated);
        assert_eq!(t.observe(0), SequenceEvent::Restarted { last: u64::MAX });
        assert_eq!(
            t.observe(SequenceTracker::MAX_GAP + 1),
            SequenceEvent::Gap {
                lost: SequenceTracker::MAX_GAP
            }
        );
        let mut t = SequenceTracker::new();
        t.observe(u64::MAX - 1);
        assert_eq!(t.observe(u64::MAX), SequenceEvent::InOrder);
    }

    #[test]
    fn a_beacon_reveals_loss_at_the_end_of_a_stream() {
        let mut t = SequenceTracker::new();
        assert_eq!(t.observe_last_sent(9), 0, "nothing seen yet: nothing known");
        t.observe(3);
        assert_eq!(t.observe_last_sent(3), 0);
        assert_eq!(t.observe_last_sent(9), 6);
        assert_eq!(t.observe(10), SequenceEvent::InOrder);
        assert_eq!(t.observe_last_sent(u64::MAX), 0);
        assert_eq!(t.observe_last_sent(5), 0);
    }
}
