//! One hostile-input suite for both uses of the msgpack reader: message
//! metadata and the discovery protocol.
//!
//! Each hostile value is embedded where each use meets arbitrary msgpack —
//! the value of an unknown key in a discovery request and in a discovery
//! record, the value of an unknown key in an array descriptor, and an
//! element of a dynamic list — and every use must give the same verdict,
//! with the limits documented in `cortex::codec`.

use bytes::Bytes;
use cortex::codec::{DecodeErrorKind as K, Encoder, Header, MAX_DEPTH};
use cortex::discovery::{ProtocolError, Request, TopicInfo};
use cortex::messages::ListMessage;
use cortex::prelude::*;

#[derive(Message, Debug)]
struct Arr {
    data: NdArray<u8>,
}

/// A place where a hostile value can meet the reader.
struct Use {
    name: &'static str,
    /// Containers around the embedded value (they count towards the depth).
    depth: usize,
    /// Whether the value is skipped (an unknown key) rather than read.
    skipped: bool,
    decode: fn(&[u8]) -> Result<(), K>,
}

fn protocol_kind(e: ProtocolError) -> K {
    match e {
        ProtocolError::Decode { kind, .. } => kind,
        other => panic!("expected a codec error, got {other}"),
    }
}

fn message_kind(e: cortex::DecodeError) -> K {
    e.kind()
        .cloned()
        .unwrap_or_else(|| panic!("expected a content error, got {e}"))
}

fn request_with(value: &[u8]) -> Vec<u8> {
    let mut e = Encoder::new();
    e.write_map_len(3).unwrap();
    e.write_str("command").unwrap();
    e.write_u64(3); // LOOKUP_TOPIC
    e.write_str("topic_name").unwrap();
    e.write_str("/x").unwrap();
    e.write_str("junk").unwrap();
    let mut bytes = e.finish().0;
    bytes.extend_from_slice(value);
    bytes
}

fn record_with(value: &[u8]) -> Vec<u8> {
    let mut e = Encoder::new();
    e.write_map_len(6).unwrap();
    for (k, v) in [
        ("name", "/x"),
        ("address", "ipc:///tmp/x.sock"),
        ("message_type", "T"),
        ("publisher_node", "n"),
    ] {
        e.write_str(k).unwrap();
        e.write_str(v).unwrap();
    }
    e.write_str("fingerprint").unwrap();
    e.write_u64(1);
    e.write_str("junk").unwrap();
    let mut bytes = e.finish().0;
    bytes.extend_from_slice(value);
    bytes
}

/// `[descriptor]` for `Arr`, the descriptor with `junk: value` first.
fn descriptor_with(value: &[u8]) -> Vec<Bytes> {
    let mut e = Encoder::new();
    e.write_array_len(1).unwrap();
    e.write_map_len(5).unwrap();
    e.write_str("junk").unwrap();
    let mut meta = e.finish().0;
    meta.extend_from_slice(value);
    let mut e = Encoder::new();
    e.write_str("__cortex_oob__").unwrap();
    e.write_str("numpy").unwrap();
    e.write_str("buffer").unwrap();
    e.write_u64(0);
    e.write_str("dtype").unwrap();
    e.write_str("|u1").unwrap();
    e.write_str("shape").unwrap();
    e.write_array_len(1).unwrap();
    e.write_u64(2);
    meta.extend_from_slice(&e.finish().0);
    vec![
        Bytes::copy_from_slice(&Header::now(Arr::FINGERPRINT, 0).to_bytes()),
        Bytes::from(meta),
        Bytes::from_static(&[1, 2]),
    ]
}

/// `[[value]]` for `ListMessage`.
fn list_with(value: &[u8]) -> Vec<Bytes> {
    let mut meta = vec![0x91, 0x91];
    meta.extend_from_slice(value);
    vec![
        Bytes::copy_from_slice(&Header::now(ListMessage::FINGERPRINT, 0).to_bytes()),
        Bytes::from(meta),
    ]
}

const USES: [Use; 4] = [
    Use {
        name: "discovery request, unknown key",
        depth: 1,
        skipped: true,
        decode: |v| {
            Request::decode(&request_with(v))
                .map(drop)
                .map_err(protocol_kind)
        },
    },
    Use {
        name: "discovery record, unknown key",
        depth: 1,
        skipped: true,
        decode: |v| {
            TopicInfo::decode(&record_with(v))
                .map(drop)
                .map_err(protocol_kind)
        },
    },
    Use {
        name: "array descriptor, unknown key",
        depth: 2,
        skipped: true,
        decode: |v| {
            Arr::decode(&descriptor_with(v))
                .map(drop)
                .map_err(message_kind)
        },
    },
    Use {
        name: "dynamic list element",
        depth: 2,
        skipped: false,
        decode: |v| {
            ListMessage::decode(&list_with(v))
                .map(drop)
                .map_err(message_kind)
        },
    },
];

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// `levels` nested one-element arrays around nil.
fn nested(levels: usize) -> Vec<u8> {
    let mut v = vec![0x91; levels];
    v.push(0xc0);
    v
}

#[test]
fn the_embeddings_accept_a_harmless_value() {
    for u in &USES {
        assert_eq!((u.decode)(&[0x01]), Ok(()), "{}", u.name);
        assert_eq!(
            (u.decode)(&hex("82 a1 61 01 a1 62 c0")),
            Ok(()),
            "{}",
            u.name
        );
    }
}

#[test]
fn ext_values_and_the_reserved_marker_are_refused_everywhere() {
    for (what, value) in [
        ("fixext 1", "d4 01 00"),
        ("ext 8", "c7 01 05 00"),
        ("reserved 0xc1", "c1"),
        ("ext inside an array", "91 d4 01 00"),
    ] {
        for u in &USES {
            assert!(
                matches!((u.decode)(&hex(value)), Err(K::Unsupported(_))),
                "{what} in {}: {:?}",
                u.name,
                (u.decode)(&hex(value))
            );
        }
    }
}

#[test]
fn lengths_longer_than_the_input_are_truncated_everywhere() {
    for (what, value) in [
        ("str 32", "db ffffffff 61"),
        ("bin 32", "c6 ffffffff 61"),
        ("array 32", "dd ffffffff 01"),
        ("map 32", "df ffffffff 01"),
    ] {
        for u in &USES {
            assert_eq!(
                (u.decode)(&hex(value)),
                Err(K::Truncated),
                "{what} in {}",
                u.name
            );
        }
    }
}

#[test]
fn every_use_has_the_same_depth_limit() {
    for u in &USES {
        let deepest_ok = MAX_DEPTH - u.depth;
        assert_eq!((u.decode)(&nested(deepest_ok)), Ok(()), "{}", u.name);
        assert_eq!(
            (u.decode)(&nested(deepest_ok + 1)),
            Err(K::TooDeep(MAX_DEPTH)),
            "{}",
            u.name
        );
        // Far beyond the limit: refused, not a stack overflow.
        assert_eq!(
            (u.decode)(&nested(1_000_000)),
            Err(K::TooDeep(MAX_DEPTH)),
            "{}",
            u.name
        );
    }
}

#[test]
fn invalid_utf8_is_refused_where_read_and_ignored_where_skipped() {
    for value in ["a2 ff fe", "92 a2 ff fe 01", "81 a2 ff fe 01"] {
        for u in &USES {
            let got = (u.decode)(&hex(value));
            if u.skipped {
                assert_eq!(got, Ok(()), "{value} in {}", u.name);
            } else {
                assert_eq!(got, Err(K::InvalidUtf8), "{value} in {}", u.name);
            }
        }
    }
}

#[test]
fn a_key_twice_in_a_map_read_by_key_is_refused_in_both_uses() {
    // A request naming two topics.
    let mut e = Encoder::new();
    e.write_map_len(3).unwrap();
    e.write_str("command").unwrap();
    e.write_u64(3);
    e.write_str("topic_name").unwrap();
    e.write_str("/a").unwrap();
    e.write_str("topic_name").unwrap();
    e.write_str("/b").unwrap();
    let err = Request::decode(&e.finish().0).unwrap_err();
    assert_eq!(protocol_kind(err), K::DuplicateKey("topic_name".into()));

    // A descriptor with two shapes.
    let mut frames = descriptor_with(&hex("91 02"));
    let meta = frames[1].to_vec();
    let junk = meta
        .windows(4)
        .position(|w| w == b"junk")
        .expect("the junk key");
    let mut meta = meta;
    meta[junk..junk + 4].copy_from_slice(b"shap");
    // "shap" + 'e' would need a longer fixstr header; rewrite the key whole.
    meta[junk - 1] = 0xa5;
    meta.insert(junk + 4, b'e');
    frames[1] = Bytes::from(meta);
    let err = Arr::decode(&frames).unwrap_err();
    assert_eq!(message_kind(err), K::DuplicateKey("shape".into()));

    // A dynamic dict is not read by key: it keeps both entries, in order.
    let (list, _) = ListMessage::decode(&list_with(&hex("82 a1 61 01 a1 61 02"))).unwrap();
    assert_eq!(
        list.data,
        [Value::Map(vec![
            ("a".into(), Value::Int(1)),
            ("a".into(), Value::Int(2)),
        ])]
    );
}

#[test]
fn trailing_bytes_are_refused_in_both_uses() {
    let mut request = request_with(&[0x01]);
    request.push(0xc0);
    assert_eq!(
        protocol_kind(Request::decode(&request).unwrap_err()),
        K::TrailingBytes(1)
    );
    let mut frames = list_with(&[0x01]);
    let mut meta = frames[1].to_vec();
    meta.push(0xc0);
    frames[1] = Bytes::from(meta);
    assert_eq!(
        message_kind(ListMessage::decode(&frames).unwrap_err()),
        K::TrailingBytes(1)
    );
}
