//! Following live topics for the commands that take every message of
//! them (`record`, `bridge foxglove`): named topics once they appear, or
//! every topic registered now or later, each from all its publishers.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cortex::discovery::{Client, DiscoveryError, TopicInfo};
use tokio::sync::mpsc;

use super::publishers::{Event, Publishers};

/// How often [`follow_all`] lists the daemon's topics.
const LIST_EVERY: Duration = Duration::from_millis(500);
/// How long one wait for a named topic lasts before asking again.
const TOPIC_WAIT: Duration = Duration::from_secs(5);

/// A message from a followed topic.
pub(crate) struct Incoming {
    /// The topic.
    pub(crate) topic: Arc<str>,
    /// The publisher it came from.
    pub(crate) from: Arc<TopicInfo>,
    /// Its frames after the topic frame (header, metadata, buffers).
    pub(crate) frames: Vec<Bytes>,
    /// How many messages its publisher keeps for late joiners (0: not
    /// latched). A latched publisher's kept messages come first.
    pub(crate) latched: u64,
    /// One of those kept messages: sent before we joined.
    pub(crate) replayed: bool,
}

/// Every topic registered now or later, each followed once ([`follow`];
/// `verb` as there).
pub(crate) async fn follow_all(client: Client, tx: mpsc::Sender<Incoming>, verb: &'static str) {
    let mut followed = HashSet::new();
    // Aborting this task drops the followers' handles only: end them too.
    struct AbortAll(Vec<tokio::task::JoinHandle<()>>);
    impl Drop for AbortAll {
        fn drop(&mut self) {
            self.0.iter().for_each(|f| f.abort());
        }
    }
    let mut followers = AbortAll(Vec::new());
    let mut warned = false;
    loop {
        match client.list().await {
            Ok(records) => {
                warned = false;
                for record in records {
                    if followed.insert(record.name.clone()) {
                        followers.0.push(tokio::spawn(follow(
                            client.clone(),
                            record.name,
                            tx.clone(),
                            verb,
                        )));
                    }
                }
            }
            Err(error) if !warned => {
                warned = true;
                eprintln!("warning: cannot list the topics ({error}); trying again");
            }
            Err(_) => {}
        }
        if tx.is_closed() {
            return;
        }
        tokio::time::sleep(LIST_EVERY).await;
    }
}

/// Every message of `topic` from all its publishers, once it is
/// registered, sent to `tx`. Joins and leaves are told on stderr, as
/// "`verb` /topic (Type) from node ...".
pub(crate) async fn follow(
    client: Client,
    topic: String,
    tx: mpsc::Sender<Incoming>,
    verb: &'static str,
) {
    let mut publishers = loop {
        match Publishers::follow(&client, &topic, TOPIC_WAIT, false, true).await {
            Ok(publishers) => break publishers,
            Err(cortex::Error::Discovery(e))
                if matches!(*e, DiscoveryError::WaitTimeout { .. }) => {}
            Err(error) => {
                eprintln!("warning: cannot follow {topic} ({error}); trying again");
                tokio::time::sleep(TOPIC_WAIT).await;
            }
        }
    };
    let name: Arc<str> = topic.as_str().into();
    loop {
        let event = match publishers.next().await {
            Ok(event) => event,
            Err(error) => {
                eprintln!("warning: stopped {verb} {topic}: {error}");
                return;
            }
        };
        match event {
            Event::Message {
                from,
                frames,
                latched,
                replayed,
            } => {
                let incoming = Incoming {
                    topic: name.clone(),
                    from,
                    frames,
                    latched,
                    replayed,
                };
                if tx.send(incoming).await.is_err() {
                    return;
                }
            }
            Event::Joined(info) => eprintln!(
                "{verb} {topic} ({}) from node {} at {}",
                info.message_type, info.publisher_node, info.address
            ),
            Event::Left(info) => {
                eprintln!("node {} no longer publishes {topic}", info.publisher_node)
            }
            Event::Beacon { .. } => {}
        }
    }
}
