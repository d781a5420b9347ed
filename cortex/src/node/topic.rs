//! Typed topic names.

use std::marker::PhantomData;

use crate::Message;

/// A topic name bound to its message type, so publishing the wrong type
/// on it does not compile:
///
/// ```
/// use cortex::prelude::*;
/// # #[derive(Message)] pub struct Image { pub data: NdArray<u8> }
/// pub const CAMERA: Topic<Image> = Topic::new("/camera/image");
/// ```
///
/// A latched topic replays its last messages to each subscriber that joins
/// (a map, a calibration), then the live stream:
///
/// ```
/// use cortex::prelude::*;
/// # #[derive(Message)] pub struct Calibration { pub gain: f64 }
/// pub const CALIBRATION: Topic<Calibration> = Topic::new("/camera/calibration").latched(1);
/// ```
pub struct Topic<T> {
    name: &'static str,
    latched: usize,
    _type: PhantomData<fn(T)>,
}

impl<T: Message> Topic<T> {
    /// A topic called `name` carrying `T`.
    pub const fn new(name: &'static str) -> Self {
        Topic {
            name,
            latched: 0,
            _type: PhantomData,
        }
    }

    /// The same topic, latched: its publisher keeps the last `depth`
    /// messages and replays them to every subscriber that joins, before
    /// the live stream, without duplicates or a gap at the seam (see
    /// [`PublisherOptions::latched`](crate::pubsub::PublisherOptions::latched)).
    pub const fn latched(mut self, depth: usize) -> Self {
        self.latched = depth;
        self
    }

    /// The topic name.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// How many messages a joining subscriber is replayed (0: not latched).
    pub const fn latched_depth(&self) -> usize {
        self.latched
    }
}

impl<T> Clone for Topic<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Topic<T> {}

impl<T: Message> std::fmt::Debug for Topic<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Topic<{}>({})", T::TYPE_NAME, self.name)
    }
}
