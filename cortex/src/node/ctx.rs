//! The handle handlers get: publish, spawn, shut down.

use std::borrow::Borrow;
use std::future::Future;

use super::{Node, Topic};
use crate::error::Result;
use crate::service::Service;
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

    /// Calls `service` with `request` and waits for the reply, at most the
    /// node's [`call_timeout`](super::NodeConfig::call_timeout) (finding
    /// the service and connecting included). See [`service`](mod@crate::service) for
    /// the errors a call can end in.
    pub async fn call<Req: Message, Rep: Message>(
        &self,
        service: &Service<Req, Rep>,
        request: impl Borrow<Req>,
    ) -> Result<Rep> {
        let timeout = self.node.config().call_timeout;
        self.call_timeout(service, request, timeout).await
    }

    /// [`call`](Self::call) with its own timeout.
    pub async fn call_timeout<Req: Message, Rep: Message>(
        &self,
        service: &Service<Req, Rep>,
        request: impl Borrow<Req>,
        timeout: std::time::Duration,
    ) -> Result<Rep> {
        let client = self.node.service_client(service);
        client.call(request.borrow(), timeout).await
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
