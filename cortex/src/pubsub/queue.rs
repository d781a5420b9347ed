//! What happens when a subscriber cannot keep up: the policy, and queues
//! bounded in bytes.
//!
//! ZeroMQ bounds each subscriber's queue by a number of messages (the
//! high-water mark), which bounds nothing for memory: 1000 queued VGA
//! frames are 0.9 GB. [`QueueBudget`] turns a byte budget into a
//! high-water mark from the size of recent messages, so a queue holds about
//! `budget` bytes whatever the message size (and never more than the
//! configured number of messages).

/// What happens when a subscriber's queue is full.
///
/// Either way every subscriber counts what it missed (sequence gaps, and
/// the publisher's sequence beacons for the messages at the end of a
/// stream), and the publisher counts the messages it could not deliver to
/// everyone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnFullQueue {
    /// Only the slow subscriber misses messages, until its queue has
    /// drained to half; the others are unaffected (the default: one stalled
    /// tool or recorder must not stop a camera topic). The publisher counts
    /// each such overflow in
    /// [`PublisherStats::overflows`](super::PublisherStats::overflows) and
    /// logs a rate-limited warning naming the topic; `publish` returns
    /// `Ok(true)`.
    #[default]
    SkipSlowSubscriber,
    /// Nobody gets the message: `publish` returns `Ok(false)` and counts it
    /// in [`PublisherStats::dropped`](super::PublisherStats::dropped). Every
    /// subscriber sees the same stream, at the price of one slow subscriber
    /// costing all of them those messages.
    RefuseForAll,
}

/// The message size a receiving queue assumes before it has seen one.
const ASSUMED_SIZE: usize = 4 << 20;

/// Bounds a ZeroMQ queue by bytes through its high-water mark.
#[derive(Debug, Clone)]
pub(crate) struct QueueBudget {
    bytes: usize,
    max_messages: i32,
    /// Recent message size: the largest, decaying by 1/16 per message.
    estimate: usize,
    hwm: i32,
}

impl QueueBudget {
    /// A budget of `bytes`, with at most `max_messages` queued (`<= 0`: no
    /// cap on messages).
    pub(crate) fn new(bytes: usize, max_messages: i32) -> Self {
        let max_messages = if max_messages <= 0 {
            i32::MAX
        } else {
            max_messages
        };
        Self {
            bytes: bytes.max(1),
            max_messages,
            estimate: 0,
            hwm: max_messages,
        }
    }

    /// A budget for a receiving queue, which fills before its owner sees
    /// any message size: until then it assumes messages of
    /// [`ASSUMED_SIZE`] (4 MiB), so a subscriber that never reads holds
    /// about `bytes` of camera frames rather than `max_messages` of them.
    pub(crate) fn receiving(bytes: usize, max_messages: i32) -> Self {
        let mut budget = Self::new(bytes, max_messages);
        budget.hwm = (budget.bytes / ASSUMED_SIZE).clamp(1, budget.max_messages as usize) as i32;
        budget
    }

    /// The high-water mark to configure before the first message.
    pub(crate) fn hwm(&self) -> i32 {
        self.hwm
    }

    /// Takes the size of a message; returns the new high-water mark when
    /// it should change: at once when it must shrink (memory), lazily when
    /// it may grow (at least doubling, or reaching the cap).
    pub(crate) fn observe(&mut self, size: usize) -> Option<i32> {
        self.estimate = size.max(self.estimate - self.estimate / 16);
        let target = (self.bytes / self.estimate.max(1)).clamp(1, self.max_messages as usize);
        let target = i32::try_from(target).unwrap_or(i32::MAX);
        let change = target < self.hwm
            || (target > self.hwm && (target / 2 >= self.hwm || target == self.max_messages));
        if change {
            self.hwm = target;
            Some(target)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_messages_shrink_the_queue_at_once() {
        let mut b = QueueBudget::new(64 << 20, 1000);
        assert_eq!(b.hwm(), 1000);
        assert_eq!(
            b.observe(100),
            None,
            "small messages: the message cap rules"
        );
        assert_eq!(
            b.observe(921_600),
            Some(72),
            "VGA RGB frames: 64 MiB / 0.9 MB"
        );
        assert_eq!(b.observe(921_600), None);
        assert_eq!(b.observe(6_220_800), Some(10), "1080p");
        assert_eq!(b.observe(16 << 20), Some(4));
        assert_eq!(b.observe(100 << 20), Some(1), "never below one");
    }

    #[test]
    fn the_queue_grows_back_lazily_when_messages_get_small() {
        let mut b = QueueBudget::new(64 << 20, 1000);
        b.observe(16 << 20);
        assert_eq!(b.hwm(), 4);
        let mut grew = Vec::new();
        for _ in 0..200 {
            if let Some(hwm) = b.observe(1000) {
                grew.push(hwm);
            }
        }
        assert_eq!(grew.last(), Some(&1000), "{grew:?}");
        assert!(
            grew.len() < 12,
            "a few steps, not one per message: {grew:?}"
        );
        assert!(grew.windows(2).all(|w| w[1] >= 2 * w[0] || w[1] == 1000));
    }

    #[test]
    fn a_receiving_queue_assumes_big_messages_until_it_sees_some() {
        let mut b = QueueBudget::receiving(64 << 20, 1000);
        assert_eq!(b.hwm(), 16);
        assert_eq!(
            b.observe(100),
            Some(1000),
            "small messages: grow to the cap"
        );
        let b = QueueBudget::receiving(1 << 20, 1000);
        assert_eq!(b.hwm(), 1);
    }

    #[test]
    fn no_message_cap_means_the_bytes_alone_bound_the_queue() {
        let mut b = QueueBudget::new(1 << 20, 0);
        assert_eq!(b.hwm(), i32::MAX);
        assert_eq!(b.observe(1), Some(1 << 20));
        assert_eq!(b.observe(1024), Some(1024));
    }
}
