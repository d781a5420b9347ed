//! `#[derive(Message)]` round-trips for every supported field type.

use std::collections::{BTreeMap, HashMap};

use cortex::prelude::*;
use cortex::{DType, Field};
use indexmap::IndexMap;
use proptest::prelude::*;

#[derive(Message, Debug, Clone, PartialEq)]
pub struct Inner {
    pub id: u16,
    pub label: String,
    pub weights: NdArray<f32>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Mode {
    Idle,
    Run { speed: f64 },
}

#[derive(Message, Debug, Clone, PartialEq)]
pub struct Everything {
    pub flag: bool,
    pub a_u8: u8,
    pub a_u16: u16,
    pub a_u32: u32,
    pub a_u64: u64,
    pub a_usize: usize,
    pub a_i8: i8,
    pub a_i16: i16,
    pub a_i32: i32,
    pub a_i64: i64,
    pub a_isize: isize,
    pub a_f32: f32,
    pub a_f64: f64,
    pub text: String,
    pub blob: Vec<u8>,
    pub fixed_blob: [u8; 4],
    pub list: Vec<i32>,
    pub fixed: [f64; 3],
    pub nested_list: Vec<Vec<String>>,
    pub maybe: Option<u32>,
    pub maybe_text: Option<String>,
    pub inner: Inner,
    pub inners: Vec<Inner>,
    pub maybe_inner: Option<Inner>,
    pub img: NdArray<u8>,
    pub arr_i8: NdArray<i8>,
    pub arr_u16: NdArray<u16>,
    pub arr_i16: NdArray<i16>,
    pub arr_u32: NdArray<u32>,
    pub arr_i32: NdArray<i32>,
    pub arr_u64: NdArray<u64>,
    pub arr_i64: NdArray<i64>,
    pub arr_f64: NdArray<f64>,
    pub mask: NdArray<bool>,
    pub maybe_arr: Option<NdArray<f32>>,
    pub any: DynArray,
    pub dict: IndexMap<String, i64>,
    pub hmap: HashMap<String, String>,
    pub bmap: BTreeMap<String, Vec<u8>>,
    pub dynamic: Value,
    #[cortex(serde)]
    pub mode: Mode,
    #[cortex(serde)]
    pub tags: std::collections::BTreeSet<String>,
}

fn arr<T: cortex::Element + Clone>(v: Vec<T>) -> NdArray<T> {
    NdArray::from_vec(v)
}

fn sample() -> Everything {
    let inner = Inner {
        id: 7,
        label: "imu".into(),
        weights: NdArray::new(vec![1.0, 2.0, 3.0, 4.0], [2, 2]).unwrap(),
    };
    Everything {
        flag: true,
        a_u8: 255,
        a_u16: 65535,
        a_u32: u32::MAX,
        a_u64: u64::MAX,
        a_usize: 12,
        a_i8: -128,
        a_i16: i16::MIN,
        a_i32: i32::MIN,
        a_i64: i64::MIN,
        a_isize: -5,
        a_f32: 1.5,
        a_f64: -0.25,
        text: "héllo".into(),
        blob: vec![0, 1, 255],
        fixed_blob: [9, 8, 7, 6],
        list: vec![-1, 0, 1],
        fixed: [0.5, 1.5, 2.5],
        nested_list: vec![vec!["a".into()], vec![]],
        maybe: Some(3),
        maybe_text: None,
        inner: inner.clone(),
        inners: vec![inner.clone(), inner],
        maybe_inner: None,
        img: NdArray::new((0..24).map(|i| i as u8).collect(), [2, 4, 3]).unwrap(),
        arr_i8: arr(vec![-1, 2]),
        arr_u16: arr(vec![1, 2, 3]),
        arr_i16: arr(vec![-300]),
        arr_u32: arr(vec![70000]),
        arr_i32: arr(vec![-70000, 5]),
        arr_u64: arr(vec![u64::MAX]),
        arr_i64: NdArray::new(vec![], [0, 3]).unwrap(),
        arr_f64: NdArray::new(vec![std::f64::consts::PI], Vec::<usize>::new()).unwrap(),
        mask: arr(vec![true, false, true]),
        maybe_arr: Some(arr(vec![0.1, 0.2])),
        any: NdArray::from_vec(vec![1u32, 2]).into(),
        dict: [("a".to_string(), 1), ("b".to_string(), -2)]
            .into_iter()
            .collect(),
        hmap: [("k".to_string(), "v".to_string())].into_iter().collect(),
        bmap: [("z".to_string(), vec![1u8])].into_iter().collect(),
        dynamic: Value::Map(vec![
            ("n".into(), Value::Int(-3)),
            (
                "xs".into(),
                Value::List(vec![Value::Float(1.0), Value::Nil]),
            ),
            (
                "arr".into(),
                Value::NdArray(NdArray::from_vec(vec![1i16, 2]).into()),
            ),
        ]),
        mode: Mode::Run { speed: 2.5 },
        tags: ["x".to_string()].into_iter().collect(),
    }
}

#[test]
fn every_field_type_round_trips() {
    let msg = sample();
    let encoded = msg.encode(41).unwrap();
    assert_eq!(encoded.header.sequence, 41);
    assert_eq!(encoded.header.fingerprint, Everything::FINGERPRINT);
    let (back, header) = Everything::decode(&encoded.to_frames()).unwrap();
    assert_eq!(back, msg);
    assert_eq!(header, encoded.header);
}

#[test]
fn schema_lists_fields_in_order() {
    let schema = Everything::schema();
    assert_eq!(schema.type_name, "Everything");
    assert_eq!(schema.fields.len(), 42);
    let names: Vec<_> = schema
        .fields
        .iter()
        .take(3)
        .map(|f| (f.name, f.ty.as_str()))
        .collect();
    assert_eq!(names, [("flag", "bool"), ("a_u8", "u8"), ("a_u16", "u16")]);
    let ty = |name: &str| {
        schema
            .fields
            .iter()
            .find(|f| f.name == name)
            .unwrap()
            .ty
            .clone()
    };
    assert_eq!(ty("blob"), "bytes");
    assert_eq!(ty("fixed_blob"), "[u8; 4]");
    assert_eq!(ty("list"), "Vec<i32>");
    assert_eq!(ty("maybe_arr"), "Option<NdArray<f32>>");
    assert_eq!(ty("inner"), "Inner");
    assert_eq!(ty("mode"), "Mode (serde)");
    let printed = schema.to_string();
    assert!(printed.starts_with("Everything (0x"), "{printed}");
    assert!(printed.contains("    img: NdArray<u8>,"), "{printed}");
}

#[test]
fn byte_blobs_are_msgpack_bin() {
    #[derive(Message, Debug, PartialEq)]
    struct Blob {
        data: Vec<u8>,
    }
    let enc = Blob { data: vec![1, 2] }.encode(0).unwrap();
    assert_eq!(enc.metadata, [0x91, 0xc4, 0x02, 0x01, 0x02]);
}

#[test]
fn arrays_travel_out_of_band_in_declaration_order() {
    let enc = sample().encode(0).unwrap();
    // inner.weights, inners[0].weights, inners[1].weights, img, arr_* (8), mask, maybe_arr, any, dynamic's array
    assert_eq!(enc.oob.len(), 3 + 1 + 8 + 1 + 1 + 1 + 1);
    assert_eq!(enc.oob[3].as_ref(), (0..24).collect::<Vec<u8>>());
    assert_eq!(enc.to_frames().len(), 2 + 16);
}

mod fingerprints {
    use super::*;

    #[derive(Message)]
    struct A {
        x: u32,
        y: f32,
    }

    mod same_name {
        use super::*;
        #[derive(Message)]
        pub(super) struct A {
            y: f32,
            x: u32,
        }
    }

    mod retyped {
        use super::*;
        #[derive(Message)]
        pub(super) struct A {
            x: i32,
            y: f32,
        }
    }

    mod renamed {
        use super::*;
        #[derive(Message)]
        pub(super) struct A {
            x: u32,
            z: f32,
        }
    }

    mod aliased {
        use super::*;
        type Count = u32;
        #[derive(Message)]
        pub(super) struct A {
            x: Count,
            y: f32,
        }
    }

    #[derive(Message)]
    #[cortex(fingerprint = 0xdead_beef_0000_0001)]
    struct Pinned {
        x: u32,
    }

    #[derive(Message)]
    #[cortex(python = "my_robot.msgs.Wheel")]
    struct Wheel {
        speed: f64,
        #[cortex(python_type = "numpy.ndarray | None")]
        torque: Option<NdArray<f32>>,
        name: String,
    }

    #[test]
    fn native_rule_covers_order_names_and_types() {
        assert_ne!(
            A::FINGERPRINT,
            same_name::A::FINGERPRINT,
            "declaration order counts"
        );
        assert_ne!(A::FINGERPRINT, retyped::A::FINGERPRINT, "field types count");
        assert_ne!(A::FINGERPRINT, renamed::A::FINGERPRINT, "field names count");
        assert_eq!(
            A::FINGERPRINT,
            aliased::A::FINGERPRINT,
            "an alias is the same type"
        );
    }

    /// The native rule, computed here from its definition (not from the
    /// derive's output): SHA-256 of `cortex.native.v1|<type>|<fields>`,
    /// first 8 bytes big-endian, with the field type names' hashes folded
    /// in by `combine`. Pinned to a literal too: a Rust node built by an
    /// older cortex must keep talking to one built by a newer.
    #[test]
    fn native_fingerprint_follows_the_documented_rule() {
        use cortex::message::fingerprint::{combine, hash_str};
        use sha2::Digest;

        let digest = sha2::Sha256::digest(b"cortex.native.v1|A|x,y");
        let base = u64::from_be_bytes(digest[..8].try_into().unwrap());
        let expected = combine(base, &[hash_str("u32"), hash_str("f32")]);

        const FP: u64 = A::FINGERPRINT; // usable in const context
        assert_eq!(FP, expected);
        assert_eq!(A::schema().fingerprint, expected);
        assert_eq!(FP, 0x3394_27b6_13b3_efa8, "the native rule changed");
    }

    #[test]
    fn override_and_python_rule() {
        assert_eq!(Pinned::FINGERPRINT, 0xdead_beef_0000_0001);
        assert_eq!(Wheel::TYPE_NAME, "Wheel");
        assert_eq!(Wheel::schema().python_path, Some("my_robot.msgs.Wheel"));
        // What a Python node sends: the class path only,
        // sha256("my_robot.msgs.Wheel|_field_names_cache:ClassVar,_sequence_counter:ClassVar")[..8]
        assert_eq!(Wheel::FINGERPRINT, 0x206b_4780_d0f1_4146);
        // Also accepted, the structural value with the fields sorted in:
        // sha256("my_robot.msgs.Wheel|_field_names_cache:ClassVar,_sequence_counter:ClassVar,name:str,speed:float,torque:numpy.ndarray | None")[..8]
        assert_eq!(Wheel::ALTERNATE_FINGERPRINT, Some(0xd285_75ac_5c3c_8b1b));
        assert_eq!(Pinned::ALTERNATE_FINGERPRINT, None);
        assert_eq!(A::ALTERNATE_FINGERPRINT, None);
    }

    #[test]
    fn nested_type_changes_propagate() {
        #[derive(Message)]
        struct OuterA {
            a: A,
        }
        #[derive(Message)]
        struct OuterB {
            a: retyped::A,
        }
        // Same names, but the nested type differs.
        assert_ne!(OuterA::FINGERPRINT, OuterB::FINGERPRINT);
    }
}

#[test]
fn dyn_array_gives_typed_views() {
    let d: DynArray = NdArray::new(vec![1.0f32, 2.0], [2]).unwrap().into();
    assert_eq!(d.dtype(), DType::F32);
    assert_eq!(d.get::<f32>().unwrap().as_slice(), &[1.0, 2.0]);
    assert!(d.get::<f64>().is_none());
    assert!(d.into_typed::<u8>().is_err());
}

#[test]
fn ndarray_accessors() {
    let mut a = NdArray::new((0..6).collect::<Vec<i32>>(), [2, 3]).unwrap();
    assert_eq!(a.shape(), &[2, 3]);
    assert_eq!(a.ndim(), 2);
    assert_eq!(a.len(), 6);
    assert_eq!(a[[1, 2]], 5);
    assert_eq!(a.get(&[2, 0]), None);
    assert_eq!(a.get(&[0]), None);
    a.as_mut_slice()[0] = 10;
    assert_eq!(a[[0, 0]], 10);
    let err = NdArray::new(vec![1u8; 5], [2, 3]).unwrap_err();
    assert!(
        err.to_string().contains("[2, 3]") && err.to_string().contains("5"),
        "{err}"
    );
    assert!(NdArray::new(vec![1u8], [usize::MAX, 2]).is_err());
    let scalar = NdArray::new(vec![4.0f64], Vec::<usize>::new()).unwrap();
    assert_eq!(scalar.len(), 1);
    assert_eq!(scalar[[]], 4.0);
}

#[test]
fn copy_on_write_keeps_sent_frames_intact() {
    let mut a = NdArray::from_vec(vec![1u8, 2, 3]);
    let enc = Inner {
        id: 0,
        label: String::new(),
        weights: NdArray::from_vec(vec![]),
    }
    .encode(0)
    .unwrap();
    drop(enc);
    let msg = Everything {
        img: a.clone(),
        ..sample()
    };
    let enc = msg.encode(0).unwrap();
    a.as_mut_slice()[0] = 99; // shared with the in-flight frame: copied first
    assert_eq!(enc.oob[3].as_ref(), &[1, 2, 3]);
    assert_eq!(a.as_slice(), &[99, 2, 3]);
}

// ---- property tests ----

fn ndarray<T: cortex::Element + Clone + std::fmt::Debug>(
    elem: impl Strategy<Value = T> + Clone,
) -> impl Strategy<Value = NdArray<T>> {
    prop::collection::vec(1usize..4, 0..4).prop_flat_map(move |shape| {
        let n: usize = shape.iter().product();
        prop::collection::vec(elem.clone(), n)
            .prop_map(move |data| NdArray::new(data, shape.clone()).unwrap())
    })
}

fn inner() -> impl Strategy<Value = Inner> {
    (any::<u16>(), ".{0,12}", ndarray(-1e6f32..1e6)).prop_map(|(id, label, weights)| Inner {
        id,
        label,
        weights,
    })
}

fn everything() -> impl Strategy<Value = Everything> {
    let ints = (
        any::<bool>(),
        any::<u8>(),
        any::<u16>(),
        any::<u32>(),
        any::<u64>(),
        any::<usize>(),
        any::<i8>(),
        any::<i16>(),
        any::<i32>(),
        any::<i64>(),
        any::<isize>(),
    );
    let floats = (
        any::<f32>().prop_filter("NaN != NaN", |f| !f.is_nan()),
        any::<f64>().prop_filter("NaN != NaN", |f| !f.is_nan()),
        ".{0,40}",
        prop::collection::vec(any::<u8>(), 0..64),
        any::<[u8; 4]>(),
        prop::collection::vec(any::<i32>(), 0..10),
        any::<[f64; 3]>().prop_filter("NaN", |a| a.iter().all(|f| !f.is_nan())),
        prop::collection::vec(prop::collection::vec(".{0,4}", 0..3), 0..3),
        any::<Option<u32>>(),
        prop::option::of(".{0,8}"),
    );
    let nested = (
        inner(),
        prop::collection::vec(inner(), 0..3),
        prop::option::of(inner()),
        ndarray(any::<u8>()),
        ndarray(any::<i8>()),
        ndarray(any::<u16>()),
        ndarray(any::<i16>()),
        ndarray(any::<u32>()),
        ndarray(any::<i32>()),
        ndarray(any::<u64>()),
    );
    let rest = (
        ndarray(any::<i64>()),
        ndarray(-1e9f64..1e9),
        ndarray(any::<bool>()),
        prop::option::of(ndarray(-1.0f32..1.0)),
        ndarray(any::<u16>()).prop_map(DynArray::from),
        prop::collection::vec((".{0,5}", any::<i64>()), 0..4),
        prop::collection::hash_map(".{0,5}", ".{0,5}", 0..3),
        prop::collection::btree_map(".{0,5}", prop::collection::vec(any::<u8>(), 0..4), 0..3),
        any::<i64>().prop_map(Value::Int),
        (any::<bool>(), -1e3f64..1e3),
    );
    (ints, floats, nested, rest).prop_map(|(i, f, n, r)| Everything {
        flag: i.0,
        a_u8: i.1,
        a_u16: i.2,
        a_u32: i.3,
        a_u64: i.4,
        a_usize: i.5,
        a_i8: i.6,
        a_i16: i.7,
        a_i32: i.8,
        a_i64: i.9,
        a_isize: i.10,
        a_f32: f.0,
        a_f64: f.1,
        text: f.2,
        blob: f.3,
        fixed_blob: f.4,
        list: f.5,
        fixed: f.6,
        nested_list: f.7,
        maybe: f.8,
        maybe_text: f.9,
        inner: n.0,
        inners: n.1,
        maybe_inner: n.2,
        img: n.3,
        arr_i8: n.4,
        arr_u16: n.5,
        arr_i16: n.6,
        arr_u32: n.7,
        arr_i32: n.8,
        arr_u64: n.9,
        arr_i64: r.0,
        arr_f64: r.1,
        mask: r.2,
        maybe_arr: r.3,
        any: r.4,
        dict: r.5.into_iter().collect(),
        hmap: r.6,
        bmap: r.7,
        dynamic: r.8,
        mode: if r.9 .0 {
            Mode::Idle
        } else {
            Mode::Run { speed: r.9 .1 }
        },
        tags: Default::default(),
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn derived_messages_round_trip(msg in everything(), seq in any::<u64>()) {
        let enc = msg.encode(seq).unwrap();
        let (back, header) = Everything::decode(&enc.to_frames()).unwrap();
        prop_assert_eq!(back, msg);
        prop_assert_eq!(header.sequence, seq);
    }

    #[test]
    fn values_round_trip(v in value_strategy()) {
        let mut enc = cortex::codec::Encoder::new();
        v.write(&mut enc).unwrap();
        let (meta, oob) = enc.finish();
        let mut dec = cortex::codec::Decoder::new(&meta, &oob);
        let back = Value::read(&mut dec).unwrap();
        dec.finish().unwrap();
        prop_assert_eq!(back, v);
    }
}

fn value_strategy() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Nil),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        ((i64::MAX as u64 + 1)..=u64::MAX).prop_map(Value::UInt),
        any::<f64>()
            .prop_filter("NaN", |f| !f.is_nan())
            .prop_map(Value::Float),
        ".{0,10}".prop_map(Value::Str),
        prop::collection::vec(any::<u8>(), 0..10).prop_map(Value::Bin),
        ndarray(any::<i32>()).prop_map(|a| Value::NdArray(a.into())),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::List),
            prop::collection::vec((".{0,6}".prop_map(Value::Str), inner), 0..6).prop_map(
                |entries| Value::Map(
                    entries
                        .into_iter()
                        .filter(|(k, _)| k.as_str() != Some("__cortex_oob__"))
                        .collect()
                )
            ),
        ]
    })
}
