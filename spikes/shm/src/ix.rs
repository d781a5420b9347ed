//! Candidate A: iceoryx2 publish-subscribe of `[u8]` slices plus an event
//! service for wake-ups (the "event-driven" configuration of the table).

use std::time::Duration;

use iceoryx2::port::listener::Listener;
use iceoryx2::port::notifier::Notifier;
use iceoryx2::port::publisher::Publisher;
use iceoryx2::port::subscriber::Subscriber;
use iceoryx2::prelude::*;

use crate::common::{stamp, template, word, Got, Job, Receiver, Sender};

fn e(what: &'static str) -> impl Fn(&dyn std::fmt::Debug) -> String {
    move |err| format!("iceoryx2: {what}: {err:?}")
}

macro_rules! ix {
    ($what:literal, $x:expr) => {
        $x.map_err(|err| e($what)(&err))?
    };
}

pub struct Pub {
    _node: Node<ipc::Service>,
    publisher: Publisher<ipc::Service, [u8], ()>,
    notifier: Notifier<ipc::Service>,
    template: Vec<u8>,
    loan: bool,
}

fn services(
    node: &Node<ipc::Service>,
    name: &str,
) -> Result<
    (
        iceoryx2::service::port_factory::publish_subscribe::PortFactory<ipc::Service, [u8], ()>,
        iceoryx2::service::port_factory::event::PortFactory<ipc::Service>,
    ),
    String,
> {
    let data: ServiceName = ix!("service name", name.try_into());
    let ev: ServiceName = ix!("service name", format!("{name}/ev").as_str().try_into());
    let ps = ix!(
        "pub-sub service",
        node.service_builder(&data)
            .publish_subscribe::<[u8]>()
            .max_publishers(1)
            .max_subscribers(2)
            .subscriber_max_buffer_size(4)
            .subscriber_max_borrowed_samples(2)
            .history_size(0)
            .enable_safe_overflow(true)
            .open_or_create()
    );
    let event = ix!(
        "event service",
        node.service_builder(&ev).event().open_or_create()
    );
    Ok((ps, event))
}

impl Pub {
    pub fn new(name: &str, job: &Job) -> Result<Self, String> {
        let node = ix!("node", NodeBuilder::new().create::<ipc::Service>());
        let (ps, event) = services(&node, name)?;
        let template = template(job.size);
        let publisher = ix!(
            "publisher",
            ps.publisher_builder()
                .initial_max_slice_len(template.len())
                .allocation_strategy(AllocationStrategy::Static)
                .max_loaned_samples(2)
                .create()
        );
        let notifier = ix!("notifier", event.notifier_builder().create());
        Ok(Pub {
            _node: node,
            publisher,
            notifier,
            template,
            loan: job.loan,
        })
    }
}

impl Sender for Pub {
    fn send(&mut self, seq: u64) -> Result<bool, String> {
        let sample = ix!(
            "loan",
            self.publisher.loan_slice_uninit(self.template.len())
        );
        let sample = if self.loan {
            let mut s = sample.write_from_slice(&self.template);
            stamp(s.payload_mut(), seq);
            s
        } else {
            let mut fresh = self.template.to_vec();
            stamp(&mut fresh, seq);
            sample.write_from_slice(&fresh)
        };
        ix!("send", sample.send());
        ix!("notify", self.notifier.notify());
        Ok(true)
    }
}

pub struct Sub {
    _node: Node<ipc::Service>,
    subscriber: Subscriber<ipc::Service, [u8], ()>,
    listener: Listener<ipc::Service>,
}

impl Sub {
    pub fn new(name: &str) -> Result<Self, String> {
        let node = ix!("node", NodeBuilder::new().create::<ipc::Service>());
        let (ps, event) = services(&node, name)?;
        let subscriber = ix!("subscriber", ps.subscriber_builder().create());
        let listener = ix!("listener", event.listener_builder().create());
        Ok(Sub {
            _node: node,
            subscriber,
            listener,
        })
    }
}

impl Receiver for Sub {
    fn recv(&mut self, timeout: Duration) -> Result<Option<Got>, String> {
        loop {
            if let Some(s) = ix!("receive", self.subscriber.receive()) {
                let p = s.payload();
                return Ok(Some((word(p, 0), word(p, 1), p.len())));
            }
            if ix!("wait", self.listener.timed_wait(|_| {}, timeout)) == 0 {
                if let Some(s) = ix!("receive", self.subscriber.receive()) {
                    let p = s.payload();
                    return Ok(Some((word(p, 0), word(p, 1), p.len())));
                }
                return Ok(None);
            }
        }
    }
}
