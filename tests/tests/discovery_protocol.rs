//! The discovery protocol against the Python cortex's captured bytes.

use cortex::Message;
use std::path::PathBuf;

use cortex::discovery::{Command, Request, Response, Status, TopicInfo};
use proptest::prelude::*;

/// The interop vectors (a copy of `shared/interop/` in `tests/data/interop/`),
/// or `CORTEX_INTEROP_DIR`.
fn interop_dir() -> PathBuf {
    match std::env::var_os("CORTEX_INTEROP_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => cortex_tests::interop_dir(),
    }
}

fn vectors() -> serde_json::Value {
    let path = interop_dir().join("discovery.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {} ({e}); set CORTEX_INTEROP_DIR to the interop folder",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap()
}

fn cases<'a>(v: &'a serde_json::Value, key: &str) -> Vec<(&'a str, Vec<u8>)> {
    v[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["description"].as_str().unwrap(),
                hex::decode(c["hex"].as_str().unwrap()).unwrap(),
            )
        })
        .collect()
}

fn camera() -> TopicInfo {
    TopicInfo {
        name: "/camera/image".into(),
        address: "ipc:///tmp/cortex/topics/cam__camera_image.sock".into(),
        message_type: "ImageMessage".into(),
        // The fingerprint Python sends for ImageMessage, as cortex does.
        fingerprint: cortex::messages::ImageMessage::FINGERPRINT,
        publisher_node: "cam".into(),
    }
}

#[test]
fn every_request_vector_round_trips_byte_exact() {
    let v = vectors();
    let requests = cases(&v, "requests");
    assert_eq!(requests.len(), 5);
    for (description, bytes) in requests {
        let request =
            Request::decode(&bytes).unwrap_or_else(|e| panic!("{description}: cannot decode: {e}"));
        assert_eq!(
            hex::encode(request.encode()),
            hex::encode(&bytes),
            "{description}: re-encoding changed the bytes"
        );
    }
}

#[test]
fn every_response_vector_round_trips_byte_exact() {
    let v = vectors();
    let responses = cases(&v, "responses");
    assert_eq!(responses.len(), 5);
    for (description, bytes) in responses {
        let response = Response::decode(&bytes)
            .unwrap_or_else(|e| panic!("{description}: cannot decode: {e}"));
        assert_eq!(
            hex::encode(response.encode()),
            hex::encode(&bytes),
            "{description}: re-encoding changed the bytes"
        );
    }
}

#[test]
fn topic_info_vector_round_trips_byte_exact() {
    let v = vectors();
    let bytes = hex::decode(v["topic_info_hex"].as_str().unwrap()).unwrap();
    let info = TopicInfo::decode(&bytes).unwrap();
    assert_eq!(info, camera());
    assert_eq!(info.encode(), bytes);
}

#[test]
fn vectors_decode_to_the_expected_values() {
    let v = vectors();
    let requests: Vec<Request> = cases(&v, "requests")
        .into_iter()
        .map(|(_, b)| Request::decode(&b).unwrap())
        .collect();
    assert_eq!(requests[0], Request::register(camera()));
    assert_eq!(requests[1], Request::unregister("/camera/image"));
    assert_eq!(requests[2], Request::lookup("/camera/image"));
    assert_eq!(requests[3], Request::list());
    assert_eq!(requests[4], Request::ping());
    // Our constructors produce the Python bytes directly.
    let raw = cases(&v, "requests");
    assert_eq!(Request::register(camera()).encode(), raw[0].1);
    assert_eq!(Request::list().encode(), raw[3].1);

    let responses: Vec<Response> = cases(&v, "responses")
        .into_iter()
        .map(|(_, b)| Response::decode(&b).unwrap())
        .collect();
    assert_eq!(responses[0].status, Status::Ok);
    assert_eq!(responses[0].message, "Registered topic: /camera/image");
    assert_eq!(responses[1].topic_info, Some(camera()));
    assert_eq!(responses[2].status, Status::NotFound);
    assert_eq!(responses[3].status, Status::AlreadyExists);
    let topics = responses[4].topics.as_ref().unwrap();
    assert_eq!(topics.len(), 2);
    assert_eq!(topics[1].name, "/a");
    assert_eq!(
        topics[1].fingerprint,
        cortex::messages::IntMessage::FINGERPRINT
    );
    assert_eq!(topics[1].publisher_node, "n");
}

#[test]
fn command_numbers_match_the_protocol() {
    let expected = [
        (Command::RegisterTopic, 1),
        (Command::UnregisterTopic, 2),
        (Command::LookupTopic, 3),
        (Command::ListTopics, 4),
        (Command::Ping, 5),
        (Command::WaitForTopic, 20),
        (Command::Shutdown, 99),
    ];
    for (command, code) in expected {
        assert_eq!(command.code(), code);
        assert_eq!(Command::from_code(i128::from(code)), Some(command));
    }
    assert_eq!(Command::from_code(6), None);
    for (status, code) in [
        (Status::Ok, 0),
        (Status::NotFound, 1),
        (Status::AlreadyExists, 2),
        (Status::Error, 3),
    ] {
        assert_eq!(status.code(), code);
        assert_eq!(Status::from_code(i128::from(code)), Some(status));
    }
}

/// Readers accept any valid integer encoding and any key order.
#[test]
fn decoding_is_lenient_about_encoding_and_key_order() {
    // {"topic_name": "/x", "command": uint16 3}
    let mut bytes = vec![0x82, 0xaa];
    bytes.extend_from_slice(b"topic_name");
    bytes.extend_from_slice(&[0xa2, b'/', b'x', 0xa7]);
    bytes.extend_from_slice(b"command");
    bytes.extend_from_slice(&[0xcd, 0x00, 0x03]);
    assert_eq!(Request::decode(&bytes).unwrap(), Request::lookup("/x"));

    // Small fingerprint as uint64 decodes; re-encoding uses the smallest form.
    let mut info = camera();
    info.fingerprint = 5;
    let small = info.encode();
    assert!(small.windows(12).any(|w| w == b"fingerprint\x05"));
}

#[test]
fn malformed_messages_are_errors_not_panics() {
    let unknown_command = [
        0x82, 0xa7, b'c', b'o', b'm', b'm', b'a', b'n', b'd', 0x2a, 0xc0, 0xc0,
    ];
    for bytes in [
        &b""[..],
        b"\xc1",
        b"\x80",
        b"\x91\x01",
        &unknown_command,
        b"\xdf\xff\xff\xff\xff",
    ] {
        assert!(Request::decode(bytes).is_err(), "{bytes:x?}");
        assert!(Response::decode(bytes).is_err(), "{bytes:x?}");
    }
    let too_big = vec![0xc0; cortex::discovery::MAX_MESSAGE_BYTES + 1];
    assert!(Request::decode(&too_big).is_err());
}

fn topic_info() -> impl Strategy<Value = TopicInfo> {
    (".{0,40}", ".{0,300}", ".{0,40}", any::<u64>(), ".{0,40}").prop_map(
        |(name, address, message_type, fingerprint, publisher_node)| TopicInfo {
            name,
            address,
            message_type,
            fingerprint,
            publisher_node,
        },
    )
}

proptest! {
    #[test]
    fn topic_info_round_trips(info in topic_info()) {
        let bytes = info.encode();
        let back = TopicInfo::decode(&bytes).unwrap();
        prop_assert_eq!(&back, &info);
        prop_assert_eq!(back.encode(), bytes);
    }

    #[test]
    fn responses_round_trip(infos in prop::collection::vec(topic_info(), 0..20), msg in ".{0,64}") {
        let mut response = Response::new(Status::Ok, msg);
        response.topic_info = infos.first().cloned();
        response.topics = Some(infos);
        let bytes = response.encode();
        let back = Response::decode(&bytes).unwrap();
        prop_assert_eq!(&back, &response);
        prop_assert_eq!(back.encode(), bytes);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = Request::decode(&bytes);
        let _ = Response::decode(&bytes);
        let _ = TopicInfo::decode(&bytes);
    }

    #[test]
    fn mutated_vectors_never_panic(index in 0usize..200, byte in any::<u8>()) {
        let mut bytes = Request::register(camera()).encode();
        let i = index % bytes.len();
        bytes[i] = byte;
        let _ = Request::decode(&bytes);
        bytes.truncate(i);
        let _ = Request::decode(&bytes);
    }
}
