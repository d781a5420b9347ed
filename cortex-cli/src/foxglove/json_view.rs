//! Messages without a Foxglove schema, as JSON objects Foxglove's panels
//! can read: the Raw Messages panel shows them, the Plot panel plots their
//! numbers by path (`/topic.field`, `/topic.field[0][2]`).
//!
//! Field values are written as JSON is natural for them, with these
//! choices:
//!
//! - An array of at most [`INLINE_ELEMENTS`] elements is nested JSON lists
//!   of numbers by its shape (a 0-d array is one number), so each element
//!   has a path the Plot panel can follow. A bigger one (an image, a point
//!   cloud) is only summarised as `{"dtype": "<f4", "shape": [480, 640]}`:
//!   sending it as text would cost far more than it shows.
//! - A byte blob follows the same rule, as a list of numbers or
//!   `{"dtype": "|u1", "shape": [n]}`.
//! - A float JSON cannot hold (NaN, infinity) is `null`; map keys that are
//!   not strings are written as their text.

use cortex::{DynArray, Value};

use crate::schemas::TypeLayout;
use serde_json::{Map, Value as Json};

/// Arrays (and byte blobs) with at most this many elements are sent as
/// JSON numbers; bigger ones only by dtype and shape.
pub(crate) const INLINE_ELEMENTS: usize = 1024;

/// The message with field values `fields` as a JSON object keyed by the
/// field names of `layout`, or `field0`, `field1`… where the type (or a
/// field beyond its layout) is not known.
pub(crate) fn message(fields: &[Value], layout: Option<&TypeLayout>) -> Json {
    let mut object = Map::new();
    for (i, value) in fields.iter().enumerate() {
        let name = match layout.and_then(|l| l.field_name(i)) {
            Some(name) => name.to_owned(),
            None => format!("field{i}"),
        };
        object.insert(name, json(value));
    }
    Json::Object(object)
}

/// One value as JSON.
fn json(value: &Value) -> Json {
    match value {
        Value::Nil => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(v) => Json::from(*v),
        Value::UInt(v) => Json::from(*v),
        Value::Float(v) => Json::from(*v),
        Value::Str(s) => Json::String(s.clone()),
        Value::Bin(b) if b.len() <= INLINE_ELEMENTS => b.iter().map(|&v| Json::from(v)).collect(),
        Value::Bin(b) => summary("|u1", &[b.len()]),
        Value::List(items) => items.iter().map(json).collect(),
        Value::Map(entries) => Json::Object(
            entries
                .iter()
                .map(|(key, item)| {
                    let key = match key {
                        Value::Str(k) => k.clone(),
                        other => other.to_string(),
                    };
                    (key, json(item))
                })
                .collect(),
        ),
        Value::NdArray(array) => array_json(array),
    }
}

/// A small array as nested lists by its shape, a big one as its summary.
fn array_json(array: &DynArray) -> Json {
    if array.len() > INLINE_ELEMENTS {
        return summary(array.dtype().as_str(), array.shape());
    }
    let mut leaves: Box<dyn Iterator<Item = Json> + '_> = match array {
        DynArray::U8(a) => Box::new(a.as_slice().iter().map(|&v| Json::from(v))),
        DynArray::I8(a) => Box::new(a.as_slice().iter().map(|&v| Json::from(v))),
        DynArray::U16(a) => Box::new(a.as_slice().iter().map(|&v| Json::from(v))),
        DynArray::I16(a) => Box::new(a.as_slice().iter().map(|&v| Json::from(v))),
        DynArray::U32(a) => Box::new(a.as_slice().iter().map(|&v| Json::from(v))),
        DynArray::I32(a) => Box::new(a.as_slice().iter().map(|&v| Json::from(v))),
        DynArray::U64(a) => Box::new(a.as_slice().iter().map(|&v| Json::from(v))),
        DynArray::I64(a) => Box::new(a.as_slice().iter().map(|&v| Json::from(v))),
        DynArray::F32(a) => Box::new(a.as_slice().iter().map(|&v| Json::from(f64::from(v)))),
        DynArray::F64(a) => Box::new(a.as_slice().iter().map(|&v| Json::from(v))),
        DynArray::Bool(a) => Box::new(a.as_slice().iter().map(|&v| Json::Bool(v))),
    };
    nest(&mut leaves, array.shape())
}

/// The next elements of `leaves` as nested lists of `shape`.
fn nest(leaves: &mut dyn Iterator<Item = Json>, shape: &[usize]) -> Json {
    match shape.split_first() {
        None => leaves.next().unwrap_or(Json::Null),
        Some((&len, rest)) => (0..len).map(|_| nest(leaves, rest)).collect(),
    }
}

/// `{"dtype": …, "shape": […]}`.
fn summary(dtype: &str, shape: &[usize]) -> Json {
    serde_json::json!({ "dtype": dtype, "shape": shape })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cortex::messages::IntMessage;
    use cortex::{Message, NdArray};
    use serde_json::json;

    #[test]
    fn fields_are_named_by_the_schema_or_by_position() {
        let fields = [Value::Int(7), Value::Str("x".into())];
        assert_eq!(
            message(&fields, Some(&TypeLayout::of(IntMessage::schema()))),
            json!({ "data": 7, "field1": "x" })
        );
        assert_eq!(
            message(&fields, None),
            json!({ "field0": 7, "field1": "x" })
        );
    }

    #[test]
    fn small_arrays_are_nested_numbers_big_ones_a_summary() {
        let small = NdArray::new(vec![1.5f32, 2.0, 3.0, 4.0, 5.0, 6.0], [2, 3]).unwrap();
        assert_eq!(
            json(&Value::NdArray(small.into())),
            json!([[1.5, 2.0, 3.0], [4.0, 5.0, 6.0]])
        );
        let scalar = NdArray::new(vec![3i16], []).unwrap();
        assert_eq!(json(&Value::NdArray(scalar.into())), json!(3));
        let big = NdArray::new(vec![0u8; INLINE_ELEMENTS + 1], [1, INLINE_ELEMENTS + 1]).unwrap();
        assert_eq!(
            json(&Value::NdArray(big.into())),
            json!({ "dtype": "|u1", "shape": [1, INLINE_ELEMENTS + 1] })
        );
        let empty = NdArray::new(Vec::<f64>::new(), [0, 3]).unwrap();
        assert_eq!(json(&Value::NdArray(empty.into())), json!([]));
    }

    #[test]
    fn other_values() {
        let map = Value::Map(vec![
            (Value::Str("a".into()), Value::Float(f64::NAN)),
            (
                Value::Int(2),
                Value::List(vec![Value::Nil, Value::Bool(true)]),
            ),
        ]);
        assert_eq!(json(&map), json!({ "a": null, "2": [null, true] }));
        assert_eq!(json(&Value::Bin(vec![1, 2])), json!([1, 2]));
        assert_eq!(
            json(&Value::Bin(vec![0; 2000])),
            json!({ "dtype": "|u1", "shape": [2000] })
        );
        assert_eq!(json(&Value::UInt(u64::MAX)), json!(u64::MAX));
    }
}
