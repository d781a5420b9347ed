//! Malformed input returns a typed error that names the type and field, and
//! never panics.

use bytes::Bytes;
use cortex::codec::{DecodeError, DecodeErrorKind as K, Header};
use cortex::messages::{DictMessage, ImageMessage, ListMessage};
use cortex::prelude::*;
use proptest::prelude::*;

#[derive(Message, Debug, Clone, PartialEq)]
struct Frame {
    data: NdArray<u8>,
    mask: NdArray<bool>,
    label: String,
    count: u8,
}

fn good() -> Frame {
    Frame {
        data: NdArray::new(vec![1, 2, 3, 4, 5, 6], [2, 3]).unwrap(),
        mask: NdArray::from_vec(vec![true, false]),
        label: "cam".into(),
        count: 3,
    }
}

fn header() -> Bytes {
    Bytes::copy_from_slice(&Header::now(Frame::FINGERPRINT, 0).to_bytes())
}

/// Frames for `Frame` with the given metadata (as hex) and OOB buffers.
fn frames(meta_hex: &str, oob: &[&[u8]]) -> Vec<Bytes> {
    let mut f = vec![header(), Bytes::from(hex_decode(meta_hex))];
    f.extend(oob.iter().map(|b| Bytes::copy_from_slice(b)));
    f
}

fn hex_decode(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// msgpack for an array descriptor.
fn desc(buffer: u8, dtype: &str, shape: &[u64]) -> String {
    let mut e = cortex::codec::Encoder::new();
    e.write_map_len(4).unwrap();
    e.write_str("__cortex_oob__").unwrap();
    e.write_str("numpy").unwrap();
    e.write_str("buffer").unwrap();
    e.write_u64(buffer as u64);
    e.write_str("dtype").unwrap();
    e.write_str(dtype).unwrap();
    e.write_str("shape").unwrap();
    e.write_array_len(shape.len()).unwrap();
    for d in shape {
        e.write_u64(*d);
    }
    let (m, _) = e.finish();
    m.iter().map(|b| format!("{b:02x}")).collect()
}

/// `[data_desc, mask_desc, "cam", 3]`
fn meta(data: &str, mask: &str) -> String {
    format!("94 {data} {mask} a363616d 03")
}

fn kind(err: &DecodeError) -> &K {
    err.kind()
        .unwrap_or_else(|| panic!("expected a content error, got {err}"))
}

#[test]
fn the_good_message_decodes() {
    let m = meta(&desc(0, "|u1", &[2, 3]), &desc(1, "|b1", &[2]));
    let (msg, _) = Frame::decode(&frames(&m, &[&[1, 2, 3, 4, 5, 6], &[1, 0]])).unwrap();
    assert_eq!(msg, good());
}

/// Descriptor keys are compared as bytes (no UTF-8 check on the hot path):
/// an unknown key is skipped with its value, even one that is not UTF-8.
#[test]
fn unknown_descriptor_keys_are_skipped_even_when_not_utf8() {
    let data = desc(0, "|u1", &[2, 3]);
    let data = format!("86{} a2fffe 01 a4 6e6f7465 a178", &data[2..]);
    let m = meta(&data, &desc(1, "|b1", &[2]));
    let (msg, _) = Frame::decode(&frames(&m, &[&[1, 2, 3, 4, 5, 6], &[1, 0]])).unwrap();
    assert_eq!(msg, good());
}

#[test]
fn header_length_is_checked() {
    for len in [0, 23, 25] {
        let f = vec![Bytes::from(vec![0u8; len]), Bytes::from_static(&[0x90])];
        let err = Frame::decode(&f).unwrap_err();
        assert_eq!(err, DecodeError::HeaderLength { len });
        assert!(err.to_string().contains("expected 24"));
    }
    assert_eq!(
        Frame::decode(&[]).unwrap_err(),
        DecodeError::MissingFrames { found: 0 }
    );
    assert_eq!(
        Frame::decode(&[header()]).unwrap_err(),
        DecodeError::MissingFrames { found: 1 }
    );
}

#[test]
fn wrong_fingerprint_names_both_types() {
    let enc = ImageMessage {
        data: NdArray::from_vec(vec![0u8]).into(),
        encoding: "mono8".into(),
        width: 1,
        height: 1,
    }
    .encode(0)
    .unwrap();
    let err = Frame::decode(&enc.to_frames()).unwrap_err();
    match &err {
        DecodeError::FingerprintMismatch {
            expected_type,
            expected,
            found,
        } => {
            assert_eq!(*expected_type, "Frame");
            assert_eq!(*expected, Frame::FINGERPRINT);
            assert_eq!(*found, ImageMessage::FINGERPRINT);
        }
        other => panic!("{other}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("Frame") && text.contains(&format!("{:016x}", ImageMessage::FINGERPRINT)),
        "{text}"
    );
}

#[test]
fn bad_msgpack() {
    // Truncated in the middle of the label string.
    let m = format!(
        "94 {} {} a363",
        desc(0, "|u1", &[2, 3]),
        desc(1, "|b1", &[2])
    );
    let err = Frame::decode(&frames(&m, &[&[0; 6], &[0, 1]])).unwrap_err();
    assert_eq!(kind(&err), &K::Truncated);
    assert!(err.to_string().starts_with("Frame.label"), "{err}");
    // Reserved marker 0xc1 in place of the array.
    let err = Frame::decode(&frames("c1", &[])).unwrap_err();
    assert!(
        matches!(
            kind(&err),
            K::WrongType {
                expected: "array",
                ..
            }
        ),
        "{err}"
    );
    // Ext type where a field should be.
    let m = meta(&desc(0, "|u1", &[2, 3]), &desc(1, "|b1", &[2])).replace("a363616d", "d40100");
    let err = Frame::decode(&frames(&m, &[&[0; 6], &[0, 1]])).unwrap_err();
    assert!(err.to_string().starts_with("Frame.label"), "{err}");
    // Invalid UTF-8.
    let m = meta(&desc(0, "|u1", &[2, 3]), &desc(1, "|b1", &[2])).replace("a363616d", "a2ff fe");
    let err = Frame::decode(&frames(&m, &[&[0; 6], &[0, 1]])).unwrap_err();
    assert_eq!(kind(&err), &K::InvalidUtf8);
    // Trailing bytes.
    let m = meta(&desc(0, "|u1", &[2, 3]), &desc(1, "|b1", &[2])) + " c0";
    let err = Frame::decode(&frames(&m, &[&[0; 6], &[0, 1]])).unwrap_err();
    assert_eq!(kind(&err), &K::TrailingBytes(1));
    // An array header claiming 2^32-1 elements in 5 bytes.
    let err = Frame::decode(&frames("dd ffffffff", &[])).unwrap_err();
    assert!(
        matches!(kind(&err), K::Truncated | K::MissingValue { .. }),
        "{err}"
    );
}

#[test]
fn wrong_arity_names_the_type_and_fields() {
    let err = Frame::decode(&frames("93 c0 c3 a161", &[])).unwrap_err();
    assert_eq!(
        kind(&err),
        &K::MissingValue {
            declared: &["data", "mask", "label", "count"],
            found: vec!["nil", "bool", "string"],
        }
    );
    assert_eq!(
        err.to_string(),
        "Frame.count: no value for this field: the message carries 3 value(s) (nil, bool, string) \
         but the type declares 4 fields (data, mask, label, count); the sender's definition has \
         fewer fields: declare the same fields in the same order on both sides"
    );
    let m = meta(&desc(0, "|u1", &[2, 3]), &desc(1, "|b1", &[2]));
    let m = format!("95{} cb3ff0000000000000", &m[2..]);
    let err = Frame::decode(&frames(&m, &[&[0; 6], &[0, 1]])).unwrap_err();
    assert!(
        err.to_string().starts_with(
            "Frame: the message carries 5 value(s) (ndarray, ndarray, string, integer, float) \
             but the type declares 4 fields (data, mask, label, count): the values from position 5 on match no field"
        ),
        "{err}"
    );
}

#[test]
fn wrong_value_types_name_the_field() {
    let m =
        meta(&desc(0, "|u1", &[2, 3]), &desc(1, "|b1", &[2])).replace("a363616d 03", "03 a363616d");
    let err = Frame::decode(&frames(&m, &[&[0; 6], &[0, 1]])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Frame.label: expected string, found integer"
    );
    let m = meta(&desc(0, "|u1", &[2, 3]), &desc(1, "|b1", &[2]))
        .replace("a363616d 03", "a363616d cd0100");
    let err = Frame::decode(&frames(&m, &[&[0; 6], &[0, 1]])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Frame.count: integer 256 does not fit in u8"
    );
    let m = meta("c3", &desc(1, "|b1", &[2]));
    let err = Frame::decode(&frames(&m, &[&[0, 1]])).unwrap_err();
    assert_eq!(err.to_string(), "Frame.data: expected map, found bool");
}

#[test]
fn oob_index_out_of_range_and_missing_frame() {
    let m = meta(&desc(5, "|u1", &[2, 3]), &desc(1, "|b1", &[2]));
    let err = Frame::decode(&frames(&m, &[&[0; 6], &[0, 1]])).unwrap_err();
    assert_eq!(
        kind(&err),
        &K::OobIndex {
            index: 5,
            available: 2
        }
    );
    assert!(
        err.to_string()
            .starts_with("Frame.data: out-of-band buffer 5 does not exist"),
        "{err}"
    );
    // The mask's frame was never sent.
    let m = meta(&desc(0, "|u1", &[2, 3]), &desc(1, "|b1", &[2]));
    let err = Frame::decode(&frames(&m, &[&[0; 6]])).unwrap_err();
    assert_eq!(
        kind(&err),
        &K::OobIndex {
            index: 1,
            available: 1
        }
    );
    assert!(err.to_string().starts_with("Frame.mask"), "{err}");
}

#[test]
fn extra_frames_are_reported() {
    let m = meta(&desc(0, "|u1", &[2, 3]), &desc(1, "|b1", &[2]));
    let err = Frame::decode(&frames(&m, &[&[0; 6], &[0, 1], &[9]])).unwrap_err();
    assert_eq!(kind(&err), &K::UnusedFrames { unused: 1 });
}

#[test]
fn shape_overflow_and_mismatch() {
    let m = meta(&desc(0, "|u1", &[u64::MAX, 2]), &desc(1, "|b1", &[2]));
    let err = Frame::decode(&frames(&m, &[&[0; 6], &[0, 1]])).unwrap_err();
    assert!(matches!(kind(&err), K::ShapeOverflow { .. }), "{err}");
    let m = meta(&desc(0, "|u1", &[1 << 32, 1 << 32]), &desc(1, "|b1", &[2]));
    let err = Frame::decode(&frames(&m, &[&[0; 6], &[0, 1]])).unwrap_err();
    assert!(matches!(kind(&err), K::ShapeOverflow { .. }), "{err}");
    let m = meta(&desc(0, "|u1", &[2, 4]), &desc(1, "|b1", &[2]));
    let err = Frame::decode(&frames(&m, &[&[0; 6], &[0, 1]])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Frame.data: buffer is 6 bytes but shape [2, 4] of |u1 needs 8"
    );
}

#[test]
fn dtypes_are_checked() {
    let m = meta(&desc(0, "<c8", &[2, 3]), &desc(1, "|b1", &[2]));
    let err = Frame::decode(&frames(&m, &[&[0; 6], &[0, 1]])).unwrap_err();
    assert_eq!(kind(&err), &K::UnknownDtype("<c8".into()));
    let m = meta(&desc(0, ">f4", &[2, 3]), &desc(1, "|b1", &[2]));
    let err = Frame::decode(&frames(&m, &[&[0; 24], &[0, 1]])).unwrap_err();
    assert_eq!(
        kind(&err),
        &K::UnknownDtype(">f4".into()),
        "big-endian is refused"
    );
    let m = meta(&desc(0, "<f4", &[2, 3]), &desc(1, "|b1", &[2]));
    let err = Frame::decode(&frames(&m, &[&[0; 24], &[0, 1]])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Frame.data: array has dtype <f4 but the field is NdArray<u8>"
    );
    // Invalid bool bytes.
    let m = meta(&desc(0, "|u1", &[2, 3]), &desc(1, "|b1", &[2]));
    let err = Frame::decode(&frames(&m, &[&[0; 6], &[1, 7]])).unwrap_err();
    assert_eq!(kind(&err), &K::InvalidBool(7));
    // A missing key.
    let no_shape = desc(0, "|u1", &[6]).replacen("84", "83", 1);
    let no_shape = &no_shape[..no_shape.find("a5736861706").unwrap()];
    let m = meta(no_shape, &desc(1, "|b1", &[2]));
    let err = Frame::decode(&frames(&m, &[&[0; 6], &[0, 1]])).unwrap_err();
    assert_eq!(kind(&err), &K::MissingKey("shape"));
}

#[test]
fn deep_nesting_is_refused_not_a_stack_overflow() {
    let mut meta = vec![0x91u8];
    meta.extend(std::iter::repeat_n(0x91, 100_000));
    meta.push(0xc0);
    let f = vec![
        Bytes::copy_from_slice(&Header::now(ListMessage::FINGERPRINT, 0).to_bytes()),
        Bytes::from(meta),
    ];
    let err = ListMessage::decode(&f).unwrap_err();
    assert!(matches!(kind(&err), K::TooDeep(_)), "{err}");
}

fn decode_all(frames: &[Bytes]) {
    // Only errors or values: a panic fails the property.
    let _ = Frame::decode(frames);
    let _ = DictMessage::decode(frames);
    let _ = ImageMessage::decode(frames);
    let _ = ListMessage::decode(frames);
    if frames.len() >= 2 {
        let _ = Frame::decode_body(&frames[1], &frames[2..]);
        let _ = DictMessage::decode_body(&frames[1], &frames[2..]);
        let _ = ListMessage::decode_body(&frames[1], &frames[2..]);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_frames_never_panic(
        frames in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..6),
    ) {
        let frames: Vec<Bytes> = frames.into_iter().map(Bytes::from).collect();
        decode_all(&frames);
    }

    #[test]
    fn corrupted_valid_messages_never_panic(
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        drop_frames in 0usize..3,
    ) {
        let mut f = good().encode(0).unwrap().to_frames();
        let mut meta = f[1].to_vec();
        for (i, b) in flips {
            let i = i.index(meta.len());
            meta[i] = b;
        }
        f[1] = Bytes::from(meta);
        f.truncate(f.len().saturating_sub(drop_frames));
        let _ = Frame::decode(&f);
        let _ = DictMessage::decode_body(&f[1], &f[2..]);
    }
}

#[test]
fn many_and_deeply_nested_dicts_decode() {
    use cortex::messages::ListMessage;
    // 200 dicts in a list (a depth leak would refuse this as too deep).
    let many = ListMessage {
        data: (0..200)
            .map(|i| Value::Map(vec![("i".into(), Value::Int(i))]))
            .collect(),
    };
    let (back, _) = ListMessage::decode(&many.encode(0).unwrap().to_frames()).unwrap();
    assert_eq!(back, many);
    // 40 levels of nested maps are fine.
    let mut v = Value::Int(1);
    for _ in 0..40 {
        v = Value::Map(vec![("k".into(), v)]);
    }
    let deep = ListMessage { data: vec![v] };
    let (back, _) = ListMessage::decode(&deep.encode(0).unwrap().to_frames()).unwrap();
    assert_eq!(back, deep);
    // A non-string key whose value is "__cortex_oob__" is an ordinary dict.
    let odd = ListMessage {
        data: vec![Value::Map(vec![(Value::Int(1), "__cortex_oob__".into())])],
    };
    let (back, _) = ListMessage::decode(&odd.encode(0).unwrap().to_frames()).unwrap();
    assert_eq!(back, odd);
}
