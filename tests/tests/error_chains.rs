//! Errors print their cause once.
//!
//! A reporter that walks `source()` (anyhow's `{:#}`, eyre, tracing's error
//! fields) joins every link's `Display`. cortex errors put the cause in
//! their own message, so they must not also return it from `source()`, or
//! the cause is printed twice.

use std::error::Error as StdError;

use cortex::discovery::{Daemon, DaemonConfig, DiscoveryError};
use cortex::Error;

/// What `anyhow`'s `{:#}` prints: every link of the chain, joined by ": ".
fn chain(error: &dyn StdError) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(e) = next {
        text.push_str(": ");
        text.push_str(&e.to_string());
        next = e.source();
    }
    text
}

fn assert_cause_once(error: &dyn StdError, cause: &str) {
    let text = chain(error);
    assert_eq!(
        text.matches(cause).count(),
        1,
        "cause printed != once: {text}"
    );
}

#[test]
fn io_and_zmq_causes_are_printed_once() {
    let io = Error::Io {
        context: "writing to standard output".into(),
        cause: std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the reader went away"),
    };
    assert_cause_once(&io, "the reader went away");
    let zmq = Error::Zmq {
        context: "connecting to /x".into(),
        cause: zmq::Error::EADDRINUSE,
    };
    assert_cause_once(&zmq, &zmq::Error::EADDRINUSE.to_string());
}

#[test]
fn a_decode_error_names_its_cause_once() {
    use cortex::messages::IntMessage;
    use cortex::Message;
    let frames = [bytes::Bytes::from_static(b"short")];
    let cause = IntMessage::decode(&frames).unwrap_err();
    let error = Error::Decode {
        topic: "/x".into(),
        ty: IntMessage::TYPE_NAME,
        cause: Box::new(cause),
    };
    assert_cause_once(&error, "got 1:");
}

#[tokio::test]
async fn a_real_discovery_failure_names_its_cause_once() {
    // The daemon's directory is a regular file: prepare_dir fails.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"").unwrap();
    let address = format!("ipc://{}/d.sock", file.display());
    let err = Daemon::bind_with(DaemonConfig::new(&address))
        .await
        .unwrap_err();
    assert!(matches!(err, DiscoveryError::SocketDir { .. }), "{err}");
    let own = err.to_string();
    assert!(own.contains(&address), "{own}");
    // Whatever the cause text, the chain adds nothing after it.
    assert_eq!(chain(&err), own);
    // And through cortex::Error (transparent), the same.
    let wrapped = Error::from(err);
    assert_eq!(chain(&wrapped), own);
}
