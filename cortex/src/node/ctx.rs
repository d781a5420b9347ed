//! The handle handlers get: publish, spawn, shut down.

use std::borrow::Borrow;
use std::future::Future;

use super::{Node, Topic};
use crate::error::Result;
use crate::Message;

/// What a handler can do besides receiving: publish on advertised topics,
/// spawn tasks, stop the node. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Ctx {
    pub(crate) node: Node,
}

impl Ctx {
    /// Publishes `msg` on `topic`, which this node advertises (list it in
    /// the handler's `publishes(...)`, or call [`Node::advertise`]).
    /// Returns `Ok(false)` if a subscriber's queue was full (counted).
    pub fn publish<T: Message>(&self, topic: &Topic<T>, msg: impl Borrow<T>) -> Result<bool> {
        self.node.publish(topic, msg.borrow())
    }

    /// The node this handler runs on.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// Spawns a task that is aborted when the node shuts down.
    pub fn spawn<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.node.spawn(fut);
    }

    /// Asks the node to shut down gracefully.
    pub fn shutdown(&self) {
        self.node.shutdown();
    }
}
