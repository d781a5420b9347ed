//! A Python-rule fingerprint covers the class path only, so a Python peer
//! whose class has other fields than the Rust declaration passes the
//! fingerprint check. The mismatch must then be caught when decoding: a
//! counted decode error naming the type, the field and what was found.
//!
//! The Python side here is the `robot_msgs.WheelCommand`
//! (`left_rad_s: float, right_rad_s: float, issued_at_ns: int`) and
//! `robot_msgs.Scan` (`ranges: ndarray, angle_min: float, frame_id: str`)
//! samples of `message_frames.json`, exactly as a Python node sent them.

use std::time::Duration;

use bytes::Bytes;
use cortex::codec::{DecodeError, Header};
use cortex::discovery::{Client, TopicInfo};
use cortex::prelude::*;
use cortex_tests::{interop_json, Log, TestEnv, BOUND};

/// The frames of the first sample of `class` in `message_frames.json`.
fn python_frames(class: &str) -> Vec<Bytes> {
    let json = interop_json("message_frames.json");
    let sample = json["samples"]
        .as_array()
        .expect("samples")
        .iter()
        .find(|s| s["class"] == class)
        .unwrap_or_else(|| panic!("a {class} sample"));
    sample["frames_hex"]
        .as_array()
        .expect("frames_hex")
        .iter()
        .map(|h| Bytes::from(hex::decode(h.as_str().expect("hex")).expect("valid hex")))
        .collect()
}

/// Decodes the Python sample as `T` and returns the error text.
fn decode_error<T: Message + std::fmt::Debug>(class: &str) -> String {
    match T::decode(&python_frames(class)) {
        Ok((msg, _)) => panic!("{class} decoded as {msg:?}"),
        Err(e @ DecodeError::FingerprintMismatch { .. }) => {
            panic!("the fingerprint check should pass (same class path): {e}")
        }
        Err(e) => e.to_string(),
    }
}

mod missing {
    use super::*;
    /// The Rust side has a field the Python class lacks.
    #[derive(Message, Debug)]
    #[cortex(python = "robot_msgs.WheelCommand")]
    pub(crate) struct WheelCommand {
        pub(crate) left_rad_s: f64,
        pub(crate) right_rad_s: f64,
        pub(crate) issued_at_ns: u64,
        pub(crate) max_accel: f64,
    }
}

mod extra {
    use super::*;
    /// The Python class has a field the Rust side lacks.
    #[derive(Message, Debug)]
    #[cortex(python = "robot_msgs.WheelCommand")]
    pub(crate) struct WheelCommand {
        pub(crate) left_rad_s: f64,
        pub(crate) right_rad_s: f64,
    }
}

mod other_type {
    use super::*;
    /// `issued_at_ns` is a string here, an int in Python.
    #[derive(Message, Debug)]
    #[cortex(python = "robot_msgs.WheelCommand")]
    pub(crate) struct WheelCommand {
        pub(crate) left_rad_s: f64,
        pub(crate) right_rad_s: f64,
        pub(crate) issued_at_ns: String,
    }

    /// `ranges` is `float64` here, `float32` in the Python sample.
    #[derive(Message, Debug)]
    #[cortex(python = "robot_msgs.Scan")]
    pub(crate) struct Scan {
        pub(crate) ranges: NdArray<f64>,
        pub(crate) angle_min: f64,
        pub(crate) frame_id: String,
    }

    /// `angle_min` is an integer here, a float in Python.
    #[derive(Message, Debug)]
    #[cortex(python = "robot_msgs.Scan")]
    pub(crate) struct ScanIntAngle {
        pub(crate) ranges: NdArray<f32>,
        pub(crate) angle_min: i64,
        pub(crate) frame_id: String,
    }
}

mod other_order {
    use super::*;
    /// The fields of `robot_msgs.Scan`, reversed.
    #[derive(Message, Debug)]
    #[cortex(python = "robot_msgs.Scan")]
    pub(crate) struct Scan {
        pub(crate) frame_id: String,
        pub(crate) angle_min: f64,
        pub(crate) ranges: NdArray<f32>,
    }

    /// The two float fields of `robot_msgs.WheelCommand`, swapped.
    #[derive(Message, Debug)]
    #[cortex(python = "robot_msgs.WheelCommand")]
    pub(crate) struct WheelCommand {
        pub(crate) right_rad_s: f64,
        pub(crate) left_rad_s: f64,
        pub(crate) issued_at_ns: u64,
    }
}

#[test]
fn a_field_missing_in_python_names_the_field_and_what_arrived() {
    assert_eq!(
        decode_error::<missing::WheelCommand>("WheelCommand"),
        "WheelCommand.max_accel: no value for this field: the message carries 3 value(s) \
         (float, float, integer) but the type declares 4 fields (left_rad_s, right_rad_s, \
         issued_at_ns, max_accel); the sender's definition has fewer fields: declare the same \
         fields in the same order on both sides"
    );
}

#[test]
fn an_extra_python_field_names_the_fields_and_what_arrived() {
    assert_eq!(
        decode_error::<extra::WheelCommand>("WheelCommand"),
        "WheelCommand: the message carries 3 value(s) (float, float, integer) but the type \
         declares 2 fields (left_rad_s, right_rad_s): the values from position 3 on match no \
         field; the sender's definition has more fields: declare the same fields in the same order on both sides"
    );
}

#[test]
fn a_field_of_another_type_names_the_field_and_what_arrived() {
    assert_eq!(
        decode_error::<other_type::WheelCommand>("WheelCommand"),
        "WheelCommand.issued_at_ns: expected string, found integer"
    );
    assert_eq!(
        decode_error::<other_type::Scan>("Scan"),
        "Scan.ranges: array has dtype <f4 but the field is NdArray<f64>"
    );
    assert_eq!(
        decode_error::<other_type::ScanIntAngle>("Scan"),
        "Scan.angle_min: expected integer, found float"
    );
}

#[test]
fn fields_in_another_order_are_caught_where_the_types_differ() {
    assert_eq!(
        decode_error::<other_order::Scan>("Scan"),
        "Scan.frame_id: expected string, found ndarray"
    );
}

/// The known limit, stated by a test: the wire carries values by position
/// and the Python fingerprint carries no fields, so two fields of the same
/// type in another order cannot be told apart by anything a Python peer
/// sends. (A native-rule type has no such gap: its fingerprint covers
/// order.) The book's Fingerprints chapter says so.
#[test]
fn same_typed_fields_swapped_are_not_detectable_on_the_wire() {
    let (swapped, _) =
        other_order::WheelCommand::decode(&python_frames("WheelCommand")).expect("decodes");
    assert_eq!((swapped.right_rad_s, swapped.left_rad_s), (1.5, -0.25));
}

/// What a running subscriber does with such messages: each one is a
/// counted decode error, none is delivered, the subscriber goes on, and
/// the log names the problem once rather than once per message.
#[tokio::test]
async fn a_mismatched_python_peer_is_counted_as_decode_errors() {
    let (log, _logging) = Log::capture();
    let env = TestEnv::new();
    let _daemon = env.start_daemon().await;
    // A raw PUB stands in for the Python publisher: it registers as Python
    // does and sends the Python sample's frames byte for byte.
    let ctx = zmq::Context::new();
    let raw = ctx.socket(zmq::PUB).unwrap();
    let address = format!("ipc://{}", env.dir.path().join("py.sock").display());
    raw.bind(&address).unwrap();
    Client::new(env.discovery.clone())
        .register(&TopicInfo {
            name: "/wheels".into(),
            address,
            message_type: "WheelCommand".into(),
            fingerprint: cortex_tests::robot_msgs::WheelCommand::FINGERPRINT,
            publisher_node: "py".into(),
        })
        .await
        .unwrap();
    let node = Node::new(env.node_config("rs")).await.unwrap();
    let mut sub = node
        .subscriber::<missing::WheelCommand>("/wheels")
        .await
        .expect("the fingerprint check passes: same class path");
    let counters = sub.counters();
    let receiving = tokio::spawn(async move { sub.recv().await.map(|_| ()) });

    let frames = python_frames("WheelCommand");
    let header = Header::from_bytes(&frames[0]).unwrap();
    let deadline = tokio::time::Instant::now() + BOUND;
    let mut sequence = 0;
    while counters.snapshot().decode_errors < 5 {
        assert!(tokio::time::Instant::now() < deadline, "nothing arrived");
        let h = Header { sequence, ..header }.to_bytes();
        let parts: [&[u8]; 3] = [b"/wheels", &h, &frames[1]];
        raw.send_multipart(parts, 0).unwrap();
        sequence += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stats = counters.snapshot();
    assert_eq!(stats.received, 0, "{stats:?}");
    assert!(!receiving.is_finished(), "the subscriber keeps receiving");
    receiving.abort();
    let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    assert_eq!(
        text.matches("cannot be decoded").count(),
        1,
        "one warning for {} undecodable messages:\n{text}",
        stats.decode_errors
    );
    assert!(
        text.contains("WheelCommand.max_accel: no value for this field"),
        "{text}"
    );
}
