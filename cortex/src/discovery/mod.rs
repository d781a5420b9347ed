//! Discovery: the control plane (daemon, protocol, client).
//!
//! Publishers register where their topic is published; subscribers look it
//! up. The daemon ([`Daemon`], or `cortex discovery` on the command line)
//! speaks the Python cortex's protocol byte for byte ([`protocol`]), so
//! Python and Rust nodes share one daemon, and adds what the original
//! lacked:
//!
//! - a DEALER-based [`Client`] with timeouts and retries that never gets
//!   stuck after a lost reply;
//! - [`Client::wait_for_topic`], a long poll (command `WAIT_FOR_TOPIC` = 20)
//!   answered the moment the topic is registered, with a polling fallback
//!   for a Python daemon;
//! - eviction of records whose publisher died (the registered endpoint is
//!   probed, so it also works for Python publishers);
//! - [`Client::keep_registered`], which registers again after a daemon
//!   restart;
//! - any number of publishers per topic (one per node, all of one type),
//!   and [`Client::watch_publishers`], a long poll (`WATCH_PUBLISHERS` =
//!   22) answered whenever a publisher joins or leaves, so subscribers
//!   follow every publisher without polling. `LOOKUP_TOPIC` and the
//!   listings still return one record per topic (the oldest publisher's),
//!   as a Python client expects;
//! - node reports ([`Client::report_node`], `REPORT_NODE` = 25): each node
//!   tells the daemon every few seconds what it publishes (with each
//!   publisher's subscriber count), subscribes to and serves;
//!   [`Client::list_nodes`] (`LIST_NODES` = 26) lists them;
//! - refusal to start a second daemon on a live address.
//!
//! The daemon address comes from an explicit option, else the
//! `CORTEX_DISCOVERY` environment variable, else [`DEFAULT_ADDRESS`].
//!
//! ```no_run
//! use std::time::Duration;
//! use cortex::discovery::{Client, Daemon, TopicInfo};
//!
//! # async fn demo() -> cortex::discovery::Result<()> {
//! // A daemon inside this process (or run `cortex discovery`).
//! let daemon = Daemon::bind("ipc:///tmp/cortex-demo/discovery.sock").await?;
//! let stop = daemon.shutdown_handle();
//! let server = tokio::spawn(daemon.run());
//!
//! let client = Client::new("ipc:///tmp/cortex-demo/discovery.sock");
//! let registration = client
//!     .keep_registered(TopicInfo {
//!         name: "/camera/image".into(),
//!         address: "ipc:///tmp/cortex-demo/camera.sock".into(),
//!         message_type: "ImageMessage".into(),
//!         fingerprint: 0xa51dd7f890942cad, // ImageMessage::FINGERPRINT
//!         publisher_node: "cam".into(),
//!     })
//!     .await?;
//! let found = client
//!     .wait_for_topic("/camera/image", Duration::from_secs(5))
//!     .await?;
//! assert_eq!(found.publisher_node, "cam");
//!
//! registration.unregister().await?;
//! stop.shutdown();
//! server.await.expect("daemon task")?;
//! # Ok(())
//! # }
//! ```

mod address;
mod client;
mod daemon;
mod error;
mod host_lock;
pub mod protocol;

pub use address::{check_topic_address, default_address, ADDRESS_ENV, DEFAULT_ADDRESS};
pub use client::{Client, ClientConfig, NodeReport, PublisherWatch, Registration};
pub use daemon::{Daemon, DaemonConfig, ShutdownHandle};
pub use error::{DiscoveryError, ProtocolError, Result};
pub(crate) use host_lock::HostLock;
pub use protocol::{
    Command, NodeInfo, NodePublication, NodeService, NodeSubscription, Request, Response, Status,
    TopicInfo, MAX_MESSAGE_BYTES, MAX_NODE_ENTRIES, MAX_NODE_FIELDS, MAX_NODE_REPORT,
    MAX_RECORD_FIELD, MAX_TOPIC_NAME,
};
