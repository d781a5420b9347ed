//! The standard messages and two user-defined messages against the Python
//! cortex's byte-exact vectors (`tests/data/interop/`).

use bytes::Bytes;
use cortex::codec::Header;
use cortex::messages::*;
use cortex::prelude::*;
use cortex::Schema;
use cortex_tests::{interop_json, robot_msgs};

/// Decodes one sample as `T` through the strict path (the header's
/// fingerprint must be `T`'s), re-encodes it, and compares with the vector.
fn roundtrip<T: Message + std::fmt::Debug>(frames: &[Bytes]) -> Result<(), String> {
    let (msg, header) = T::decode(frames).map_err(|e| e.to_string())?;
    if header.fingerprint != T::FINGERPRINT {
        return Err(format!(
            "header fingerprint 0x{:016x} is not {}::FINGERPRINT 0x{:016x}",
            header.fingerprint,
            T::TYPE_NAME,
            T::FINGERPRINT
        ));
    }
    // `encode` stamps `T::FINGERPRINT`: it must be what Python sent.
    let again = msg.encode(header.sequence).map_err(|e| e.to_string())?;
    if again.header.to_bytes()[..8] != frames[0][..8] {
        return Err("re-encoded header fingerprint differs".into());
    }
    if again.metadata != frames[1].as_ref() {
        return Err(format!(
            "metadata differs:\n  python {}\n  rust   {}",
            hex::encode(&frames[1]),
            hex::encode(&again.metadata)
        ));
    }
    let oob: Vec<&[u8]> = again.oob.iter().map(|b| b.as_ref()).collect();
    let want: Vec<&[u8]> = frames[2..].iter().map(|b| b.as_ref()).collect();
    if oob != want {
        return Err("OOB buffers differ".into());
    }
    if again.header.sequence != 7 || header.sequence != 7 {
        return Err(format!("sequence {} != 7", again.header.sequence));
    }
    Ok(())
}

fn samples() -> Vec<(String, String, Vec<Bytes>)> {
    let json = interop_json("message_frames.json");
    json["samples"]
        .as_array()
        .expect("samples")
        .iter()
        .map(|s| {
            let frames = s["frames_hex"]
                .as_array()
                .expect("frames_hex")
                .iter()
                .map(|h| Bytes::from(hex::decode(h.as_str().expect("hex")).expect("valid hex")))
                .collect();
            (
                s["class"].as_str().expect("class").to_owned(),
                s["description"].as_str().expect("description").to_owned(),
                frames,
            )
        })
        .collect()
}

fn hex_u64(v: &serde_json::Value) -> u64 {
    let s = v.as_str().expect("hex string");
    u64::from_str_radix(s.trim_start_matches("0x"), 16).expect("hex fingerprint")
}

#[test]
fn every_python_sample_decodes_strictly_and_reencodes_byte_exact() {
    let mut checked = 0;
    for (class, description, frames) in samples() {
        let result = match class.as_str() {
            "StringMessage" => roundtrip::<StringMessage>(&frames),
            "IntMessage" => roundtrip::<IntMessage>(&frames),
            "FloatMessage" => roundtrip::<FloatMessage>(&frames),
            "BytesMessage" => roundtrip::<BytesMessage>(&frames),
            "ArrayMessage" => roundtrip::<ArrayMessage>(&frames),
            "MultiArrayMessage" => roundtrip::<MultiArrayMessage>(&frames),
            "ImageMessage" => roundtrip::<ImageMessage>(&frames),
            "PointCloudMessage" => roundtrip::<PointCloudMessage>(&frames),
            "PoseMessage" => roundtrip::<PoseMessage>(&frames),
            "TransformMessage" => roundtrip::<TransformMessage>(&frames),
            "TimestampMessage" => roundtrip::<TimestampMessage>(&frames),
            "HeaderMessage" => roundtrip::<HeaderMessage>(&frames),
            "DictMessage" => roundtrip::<DictMessage>(&frames),
            "WheelCommand" => roundtrip::<robot_msgs::WheelCommand>(&frames),
            "Scan" => roundtrip::<robot_msgs::Scan>(&frames),
            other => panic!("sample class {other} has no Rust type"),
        };
        if let Err(e) = result {
            panic!("{description} ({class}): {e}");
        }
        checked += 1;
    }
    assert_eq!(
        checked, 20,
        "every sample in message_frames.json was checked"
    );
}

#[test]
fn user_message_samples_decode_to_the_python_values() {
    let all = samples();
    let frames = |class: &str| {
        all.iter()
            .find(|(c, ..)| c == class)
            .map(|(.., f)| f.clone())
            .unwrap_or_else(|| panic!("a {class} sample"))
    };
    let (wheel, _) = robot_msgs::WheelCommand::decode(&frames("WheelCommand")).unwrap();
    assert_eq!(wheel.left_rad_s, 1.5);
    assert_eq!(wheel.right_rad_s, -0.25);
    assert_eq!(wheel.issued_at_ns, 0x1797_9cfe_3d85_cd15);
    let (scan, _) = robot_msgs::Scan::decode(&frames("Scan")).unwrap();
    assert_eq!(&*scan.ranges, &[0.5, 1.0, 2.5][..]);
    assert_eq!(scan.ranges.shape(), &[3]);
    assert_eq!(scan.angle_min, -1.57);
    assert_eq!(scan.frame_id, "laser");
}

/// `T::schema()` of every Rust type with a Python counterpart: its type
/// name is the Python class name, and it carries both fingerprints.
fn ours() -> Vec<&'static Schema> {
    vec![
        ArrayMessage::schema(),
        BytesMessage::schema(),
        DictMessage::schema(),
        FloatMessage::schema(),
        HeaderMessage::schema(),
        ImageMessage::schema(),
        IntMessage::schema(),
        ListMessage::schema(),
        MultiArrayMessage::schema(),
        PointCloudMessage::schema(),
        PoseMessage::schema(),
        StringMessage::schema(),
        TimestampMessage::schema(),
        TransformMessage::schema(),
        robot_msgs::WheelCommand::schema(),
        robot_msgs::Scan::schema(),
    ]
}

/// Every entry of `standard_messages.json` and `user_messages.json`.
fn python_classes() -> Vec<serde_json::Value> {
    let standard = interop_json("standard_messages.json");
    let user = interop_json("user_messages.json");
    let mut all = standard["standard_messages"]
        .as_array()
        .expect("list")
        .clone();
    all.extend(
        user["user_messages"]
            .as_array()
            .expect("list")
            .iter()
            .cloned(),
    );
    all
}

#[test]
fn fingerprints_are_the_ones_python_sends_and_the_structural_ones_are_accepted() {
    let ours = ours();
    let mut matched = 0;
    for entry in python_classes() {
        let class = entry["class"].as_str().expect("class");
        let wire = hex_u64(&entry["fingerprint"]);
        let structural = hex_u64(&entry["structural_fingerprint"]);
        let Some(schema) = ours.iter().find(|s| s.type_name == class) else {
            // Tensor messages carry torch tensors, which Rust has no type for.
            assert!(class.contains("Tensor"), "{class} has no Rust equivalent");
            continue;
        };
        let fp = schema.fingerprint;
        assert_eq!(
            fp, wire,
            "{class}: FINGERPRINT 0x{fp:016x} != the wire value 0x{wire:016x}"
        );
        assert_eq!(
            schema.alternate_fingerprint,
            Some(structural),
            "{class}: ALTERNATE_FINGERPRINT is not the structural value 0x{structural:016x}"
        );
        assert_eq!(
            schema.python_path,
            entry["python_path"].as_str(),
            "{class}: python path"
        );
        assert!(schema.accepts(wire) && schema.accepts(structural));
        matched += 1;
    }
    assert_eq!(matched, ours.len(), "every Rust type was compared");
}

#[test]
fn the_wire_fingerprint_is_the_hash_of_the_class_path_only() {
    for entry in python_classes() {
        let canonical = entry["canonical"].as_str().expect("canonical");
        let path = entry["python_path"].as_str().expect("python_path");
        assert_eq!(
            canonical,
            format!("{path}|_field_names_cache:ClassVar,_sequence_counter:ClassVar"),
            "the vectors' wire canonical string has no fields"
        );
    }
}

#[test]
fn field_order_matches_python() {
    let ours = ours();
    for entry in python_classes() {
        let class = entry["class"].as_str().expect("class");
        let Some(schema) = ours.iter().find(|s| s.type_name == class) else {
            continue;
        };
        let python: Vec<&str> = entry["fields_in_order"]
            .as_array()
            .expect("fields")
            .iter()
            .map(|f| f["name"].as_str().expect("name"))
            .collect();
        let rust: Vec<&str> = schema.fields.iter().map(|f| f.name).collect();
        assert_eq!(rust, python, "{class}");
    }
}

/// A receiver of a Python-rule type takes both Python values and refuses
/// anything else, naming both fingerprints.
#[test]
fn strict_decode_accepts_the_structural_fingerprint_and_nothing_else() {
    let (_, _, frames) = samples()
        .into_iter()
        .find(|(c, ..)| c == "IntMessage")
        .expect("IntMessage sample");
    let restamp = |fingerprint: u64| {
        let header = Header::from_bytes(&frames[0]).expect("24-byte header");
        let mut f = frames.clone();
        f[0] = Bytes::copy_from_slice(
            &Header {
                fingerprint,
                ..header
            }
            .to_bytes(),
        );
        f
    };
    let structural = IntMessage::ALTERNATE_FINGERPRINT.expect("a Python-rule type");
    let (msg, header) = IntMessage::decode(&restamp(structural)).expect("structural accepted");
    assert_eq!(msg.data, -42);
    assert_eq!(header.fingerprint, structural);

    let err = IntMessage::decode(&restamp(0x1234)).expect_err("another fingerprint");
    let text = err.to_string();
    assert!(
        text.contains("IntMessage")
            && text.contains(&format!("{:016x}", IntMessage::FINGERPRINT))
            && text.contains("0000000000001234"),
        "{text}"
    );
}

/// Both fingerprints are `const`s of the type (usable in const context),
/// and `accepts_fingerprint` takes exactly these two.
#[test]
fn python_rule_constants_of_image_message() {
    const WIRE: u64 = ImageMessage::FINGERPRINT;
    const STRUCTURAL: Option<u64> = ImageMessage::ALTERNATE_FINGERPRINT;
    assert_eq!(WIRE, 0xa51d_d7f8_9094_2cad);
    assert_eq!(STRUCTURAL, Some(0x129b_ed33_0d21_4dbc));
    assert!(ImageMessage::accepts_fingerprint(WIRE));
    assert!(ImageMessage::accepts_fingerprint(0x129b_ed33_0d21_4dbc));
    assert!(!ImageMessage::accepts_fingerprint(IntMessage::FINGERPRINT));
}

/// The repository's copy of the vectors is the workplace's ground truth,
/// `../shared/interop/` next to the checkout (or `CORTEX_SHARED_INTEROP`),
/// byte for byte, whenever that folder exists. A fresh clone without it
/// has only its copy to test against, and says so.
#[test]
fn the_vectors_are_a_faithful_copy_of_the_shared_ones() {
    let shared = std::env::var_os("CORTEX_SHARED_INTEROP")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| cortex_tests::interop_dir().join("../../../../shared/interop"));
    let Ok(shared) = shared.canonicalize() else {
        eprintln!(
            "no shared vectors at {}: only the repository's copy is tested",
            shared.display()
        );
        return;
    };
    let list = |dir: &std::path::Path| {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let ours = cortex_tests::interop_dir();
    assert_eq!(
        list(&ours),
        list(&shared),
        "tests/data/interop/ and {} hold other files: copy them over",
        shared.display()
    );
    for name in list(&shared) {
        assert!(
            std::fs::read(shared.join(&name)).unwrap() == std::fs::read(ours.join(&name)).unwrap(),
            "tests/data/interop/{name} differs from {}: copy it over (cp {}/* tests/data/interop/)",
            shared.join(&name).display(),
            shared.display()
        );
    }
}
