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
pub struct Topic<T> {
    name: &'static str,
    _type: PhantomData<fn(T)>,
}

impl<T: Message> Topic<T> {
    /// A topic called `name` carrying `T`.
    pub const fn new(name: &'static str) -> Self {
        Topic {
            name,
            _type: PhantomData,
        }
    }

    /// The topic name.
    pub const fn name(&self) -> &'static str {
        self.name
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
