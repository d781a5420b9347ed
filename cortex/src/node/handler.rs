//! Running subscriptions and timers: ordering, errors, panics, overruns.

use std::fmt::Display;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::time::{Instant, MissedTickBehavior};

use super::registry::{HandlerKind, Run};
use super::Ctx;
use crate::codec::Header;
use crate::discovery::DiscoveryError;
use crate::error::{Error, Result};
use crate::pubsub::{PublisherId, Subscriber, SubscriberOptions};
use crate::Message;

/// What a handler may return: `()` or `Result<(), E>` with `E: Display`.
#[diagnostic::on_unimplemented(
    message = "a cortex handler must return `()` or `Result<(), E>` where `E: Display`, not `{Self}`",
    label = "unsupported return type"
)]
pub trait HandlerOutput {
    /// `Err` carries the error's text, for the log.
    fn into_handler_result(self) -> Result<(), String>;
}

impl HandlerOutput for () {
    fn into_handler_result(self) -> Result<(), String> {
        Ok(())
    }
}

impl<E: Display> HandlerOutput for Result<(), E> {
    fn into_handler_result(self) -> Result<(), String> {
        self.map_err(|e| e.to_string())
    }
}

/// Runs one handler invocation, catching panics; counts and logs failures
/// with the topic (or timer), the message type and the handler.
async fn invoke<F>(ctx: &Ctx, what: &str, ty: &str, handler: &str, fut: F)
where
    F: Future<Output = Result<(), String>>,
{
    let stats = &ctx.node.inner.stats;
    match AssertUnwindSafe(fut).catch_unwind().await {
        Ok(Ok(())) => {
            stats.handled.fetch_add(1, Ordering::Relaxed);
        }
        Ok(Err(error)) => {
            stats.handler_errors.fetch_add(1, Ordering::Relaxed);
            tracing::error!(node = %ctx.node.name(), %what, r#type = ty, handler, %error, "handler returned an error");
        }
        Err(panic) => {
            stats.handler_panics.fetch_add(1, Ordering::Relaxed);
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(non-string panic)".into());
            tracing::error!(node = %ctx.node.name(), %what, r#type = ty, handler, panic = %message, "handler panicked; the node keeps running");
        }
    }
}

/// Subscribes to the handler's topic and calls `f` for each message, one at
/// a time (order is kept), until the node stops.
pub async fn run_subscriber<T, F, Fut>(ctx: Ctx, mut run: Run, f: F) -> Result<()>
where
    T: Message,
    F: Fn(T, Header, PublisherId, Ctx) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let HandlerKind::Subscribe {
        topic, queue_depth, ..
    } = run.handler.kind
    else {
        // `#[subscribe]` registers `run_subscriber` with a `Subscribe` kind
        // only; nothing else can call it (it is `__private`).
        unreachable!(
            "{} is registered as a subscription but is not one",
            run.handler.name
        );
    };
    let node = ctx.node.clone();
    // Reported as a subscription from now on, while it waits for a
    // publisher too.
    let _listed = node.list_subscription(topic, T::TYPE_NAME);
    let mut options: SubscriberOptions = node.inner.config.subscriber.clone();
    if let Some(depth) = queue_depth {
        options.queue_depth = depth;
    }
    let mut subscriber = loop {
        tokio::select! {
            biased;
            _ = run.stop.wait_for(|stop| *stop) => return Ok(()),
            result = Subscriber::<T>::connect(&node.inner.zmq, &node.inner.discovery, topic, &options) => match result {
                Ok(s) => break s,
                Err(Error::Discovery(e)) if matches!(*e, DiscoveryError::WaitTimeout { .. }) => {
                    tracing::warn!(node = %node.name(), topic, r#type = T::TYPE_NAME, handler = run.handler.name,
                        "no publisher for this topic yet; still waiting");
                }
                // Someone else's bad record must not stop this node.
                Err(e @ Error::UnusableRecord { .. }) => {
                    tracing::warn!(node = %node.name(), topic, r#type = T::TYPE_NAME, handler = run.handler.name,
                        error = %e, "still waiting for a usable record");
                }
                Err(e) => return Err(e),
            },
        }
    };
    node.track_subscriber(topic, T::TYPE_NAME, subscriber.counters());
    loop {
        let (msg, header, publisher) = tokio::select! {
            biased;
            _ = run.stop.wait_for(|stop| *stop) => return Ok(()),
            received = subscriber.recv_from() => received?,
        };
        invoke(
            &ctx,
            topic,
            T::TYPE_NAME,
            run.handler.name,
            f(msg, header, publisher, ctx.clone()),
        )
        .await;
    }
}

/// Serves the `#[service]` of `run` with `f` until the node stops: binds,
/// registers, answers calls (concurrently), then unregisters.
pub async fn run_service<Req, Rep, F, Fut, E>(ctx: Ctx, mut run: Run, f: F) -> Result<()>
where
    Req: Message,
    Rep: Message,
    F: Fn(Req, Ctx) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = std::result::Result<Rep, E>> + Send + 'static,
    E: Display + 'static,
{
    let HandlerKind::Service { name, .. } = run.handler.kind else {
        // `#[service]` pairs `run_service` with a `Service` kind only.
        unreachable!(
            "{} is registered as a service but is not one",
            run.handler.name
        );
    };
    let node = ctx.node.clone();
    let handler_ctx = ctx.clone();
    let service = crate::service::Service::<Req, Rep>::new(name);
    let server = node
        .serve(&service, move |request| f(request, handler_ctx.clone()))
        .await?;
    let _listed = node.list_service(name, crate::service::type_name::<Req, Rep>());
    let _ = run.stop.wait_for(|stop| *stop).await;
    if let Err(error) = server.close().await {
        tracing::debug!(node = %node.name(), service = name, %error, "could not unregister the service");
    }
    Ok(())
}

/// Calls `f` on a fixed grid of `period` until the node stops.
///
/// Overrun policy: ticks are never fired back to back. If a handler runs
/// past one or more ticks, those ticks are skipped and counted
/// ([`NodeStats::missed_ticks`](super::NodeStats)), and the timer resumes on
/// its original grid.
pub async fn run_timer<F, Fut>(ctx: Ctx, mut run: Run, f: F) -> Result<()>
where
    F: Fn(Ctx) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let HandlerKind::Timer { period, .. } = run.handler.kind else {
        // As above: `#[timer]` pairs `run_timer` with a `Timer` kind only.
        unreachable!(
            "{} is registered as a timer but is not one",
            run.handler.name
        );
    };
    let period = period.max(Duration::from_nanos(1));
    let start = Instant::now();
    let mut interval = tokio::time::interval_at(start, period);
    interval.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut next_index: u128 = 0;
    let label = format!("timer {:?}", period);
    loop {
        let tick = tokio::select! {
            biased;
            _ = run.stop.wait_for(|stop| *stop) => return Ok(()),
            tick = interval.tick() => tick,
        };
        // A tick that comes due only after its slot has passed (the previous
        // handler overran) is skipped, not fired late: the next call is on
        // the grid again, and the gap is counted below.
        if Instant::now() >= tick + period {
            continue;
        }
        let index = (tick - start).as_nanos() / period.as_nanos();
        if index > next_index {
            let missed = u64::try_from(index - next_index).unwrap_or(u64::MAX);
            ctx.node
                .inner
                .stats
                .missed_ticks
                .fetch_add(missed, Ordering::Relaxed);
            tracing::debug!(node = %ctx.node.name(), handler = run.handler.name, missed, "timer overran; skipped ticks");
        }
        next_index = index + 1;
        invoke(&ctx, &label, "-", run.handler.name, f(ctx.clone())).await;
    }
}
