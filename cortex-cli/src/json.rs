//! JSON and cortex values: a field's value built from JSON by the field's
//! type as a schema spells it (`f64`, `Vec<String>`, `Option<u8>`,
//! `HashMap<String, i32>`, `[f32; 3]`, `NdArray<f32>`, `Value`, ...), a
//! whole message's fields built from a JSON object (`service call`,
//! `topic pub`), and any value written back as JSON.

use cortex::{DType, DynArray, Element, NdArray, Value};
use serde_json::{Map, Value as Json};

/// The JSON object of a message's fields, typed on the command line. The
/// error follows its subject ("the request ", "the message ") and shows
/// how to write one, like `example`.
pub(crate) fn parse_object(text: &str, example: &str) -> Result<Map<String, Json>, String> {
    match serde_json::from_str::<Json>(text) {
        Ok(Json::Object(given)) => Ok(given),
        Ok(other) => Err(format!(
            "must be a JSON object of the fields, like '{example}', not {}",
            short(&other)
        )),
        Err(e) => Err(format!(
            "is not valid JSON ({e}); quote it for the shell, like '{example}'"
        )),
    }
}

/// The values of the message type `type_name`'s `fields` (name and type,
/// in declaration (wire) order) from the JSON object `given`. Every
/// problem is reported at once: unknown fields, missing ones (a missing
/// `Option` field is `null`), values of the wrong type; then the fields
/// the type has.
pub(crate) fn to_fields(
    type_name: &str,
    fields: &[(String, String)],
    given: &Map<String, Json>,
) -> Result<Vec<Value>, String> {
    let mut problems: Vec<String> = given
        .keys()
        .filter(|key| !fields.iter().any(|(name, _)| name == *key))
        .map(|key| format!("{type_name} has no field {key:?}"))
        .collect();
    let mut values = Vec::with_capacity(fields.len());
    for (name, ty) in fields {
        match given.get(name) {
            Some(json) => match to_value(ty, json, name) {
                Ok(value) => values.push(value),
                Err(problem) => problems.push(problem),
            },
            None if ty.starts_with("Option<") => values.push(Value::Nil),
            None => problems.push(format!("field {name:?} ({ty}) is missing")),
        }
    }
    if problems.is_empty() {
        return Ok(values);
    }
    Err(format!(
        "{}; {}",
        problems.join("; "),
        field_list(type_name, fields)
    ))
}

/// "the fields of T, in order: a (f64), b (String)", for error messages.
fn field_list(type_name: &str, fields: &[(String, String)]) -> String {
    if fields.is_empty() {
        return format!("{type_name} has no fields: pass '{{}}'");
    }
    let fields: Vec<String> = fields
        .iter()
        .map(|(name, ty)| format!("{name} ({ty})"))
        .collect();
    format!("the fields of {type_name}, in order: {}", fields.join(", "))
}

/// Converts `json` to a value of the field type `ty`; `path` names the
/// field (and the element inside it) in errors. Types this tool does not
/// know (a nested message, a `#[cortex(serde)]` field, a custom `Field`)
/// take any JSON, converted as it is: the server checks it, and a nested
/// message takes its fields as a JSON list in declaration order.
pub(crate) fn to_value(ty: &str, json: &Json, path: &str) -> Result<Value, String> {
    let ty = ty.trim();
    if let Some(inner) = generic(ty, "Option") {
        return match json {
            Json::Null => Ok(Value::Nil),
            _ => to_value(inner, json, path),
        };
    }
    // `Vec<u8>` is spelled `bytes`; accept both.
    if ty == "bytes" || ty == "Vec<u8>" {
        return bytes(json, path);
    }
    if let Some(inner) = generic(ty, "Vec") {
        return list(inner, json, ty, path, None);
    }
    if let Some((inner, len)) = fixed_array(ty) {
        // `u8` sequences travel as one byte blob (msgpack bin).
        if inner == "u8" {
            let blob = bytes(json, path)?;
            return match &blob {
                Value::Bin(b) if b.len() != len => Err(format!(
                    "{path} is {ty}: expected {len} bytes, got {}",
                    b.len()
                )),
                _ => Ok(blob),
            };
        }
        return list(inner, json, ty, path, Some(len));
    }
    if let Some(inner) = ["IndexMap", "HashMap", "BTreeMap"]
        .into_iter()
        .find_map(|map| generic(ty, map)?.strip_prefix("String,"))
    {
        let Json::Object(entries) = json else {
            return Err(wrong(path, ty, "a JSON object", json));
        };
        return entries
            .iter()
            .map(|(k, v)| {
                Ok((
                    Value::Str(k.clone()),
                    to_value(inner, v, &format!("{path}.{k}"))?,
                ))
            })
            .collect::<Result<_, String>>()
            .map(Value::Map);
    }
    if let Some(element) = generic(ty, "NdArray") {
        return array(Some(element), json, path);
    }
    if let Some((low, high)) = int_range(ty) {
        let n = integer(json).ok_or_else(|| wrong(path, ty, "an integer", json))?;
        if n < low || n > high {
            return Err(format!(
                "{path} is {ty}: {n} is out of its range {low}..={high}"
            ));
        }
        return Ok(int_value(n));
    }
    match ty {
        "bool" => json
            .as_bool()
            .map(Value::Bool)
            .ok_or_else(|| wrong(path, ty, "true or false", json)),
        "f32" | "f64" => json
            .as_f64()
            .map(Value::Float)
            .ok_or_else(|| wrong(path, ty, "a number", json)),
        "String" => json
            .as_str()
            .map(|s| Value::Str(s.to_owned()))
            .ok_or_else(|| wrong(path, ty, "a string", json)),
        "DynArray" => array(None, json, path),
        _ => Ok(any(json)),
    }
}

/// `T` of `Name<T>`.
fn generic<'a>(ty: &'a str, name: &str) -> Option<&'a str> {
    let inner = ty
        .strip_prefix(name)?
        .strip_prefix('<')?
        .strip_suffix('>')?;
    Some(inner.trim())
}

/// `T` and `N` of `[T; N]`.
fn fixed_array(ty: &str) -> Option<(&str, usize)> {
    let (inner, len) = ty.strip_prefix('[')?.strip_suffix(']')?.rsplit_once(';')?;
    Some((inner.trim(), len.trim().parse().ok()?))
}

/// A JSON list as a list of `inner` values, of length `len` if given.
fn list(
    inner: &str,
    json: &Json,
    ty: &str,
    path: &str,
    len: Option<usize>,
) -> Result<Value, String> {
    let Json::Array(items) = json else {
        return Err(wrong(path, ty, "a JSON list", json));
    };
    if let Some(len) = len.filter(|&len| len != items.len()) {
        return Err(format!(
            "{path} is {ty}: expected {len} elements, got {}",
            items.len()
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| to_value(inner, item, &format!("{path}[{i}]")))
        .collect::<Result<_, _>>()
        .map(Value::List)
}

/// The smallest and largest value of an integer type.
fn int_range(ty: &str) -> Option<(i128, i128)> {
    Some(match ty {
        "i8" => (i8::MIN.into(), i8::MAX.into()),
        "i16" => (i16::MIN.into(), i16::MAX.into()),
        "i32" => (i32::MIN.into(), i32::MAX.into()),
        "i64" | "isize" => (i64::MIN.into(), i64::MAX.into()),
        "u8" => (0, u8::MAX.into()),
        "u16" => (0, u16::MAX.into()),
        "u32" => (0, u32::MAX.into()),
        "u64" | "usize" => (0, u64::MAX.into()),
        _ => return None,
    })
}

/// A JSON integer (not a float, even one without a fraction).
fn integer(json: &Json) -> Option<i128> {
    json.as_i64()
        .map(i128::from)
        .or_else(|| json.as_u64().map(i128::from))
}

/// An integer as the wire carries it.
fn int_value(n: i128) -> Value {
    match i64::try_from(n) {
        Ok(n) => Value::Int(n),
        // Only u64 values above i64::MAX get here (ranges were checked).
        Err(_) => Value::UInt(u64::try_from(n).unwrap_or(u64::MAX)),
    }
}

/// A byte blob from a string (its UTF-8 bytes) or a list of 0..=255.
fn bytes(json: &Json, path: &str) -> Result<Value, String> {
    let expected = "a string or a list of integers 0..=255";
    match json {
        Json::String(s) => Ok(Value::Bin(s.as_bytes().to_vec())),
        Json::Array(items) => items
            .iter()
            .map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
            .collect::<Option<Vec<u8>>>()
            .map(Value::Bin)
            .ok_or_else(|| wrong(path, "bytes", expected, json)),
        _ => Err(wrong(path, "bytes", expected, json)),
    }
}

/// Any JSON as it is: numbers as integers where they are.
fn any(json: &Json) -> Value {
    match json {
        Json::Null => Value::Nil,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Value::Int(i),
            (None, Some(u)) => Value::UInt(u),
            _ => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => Value::Str(s.clone()),
        Json::Array(items) => Value::List(items.iter().map(any).collect()),
        Json::Object(entries) => Value::Map(
            entries
                .iter()
                .map(|(k, v)| (Value::Str(k.clone()), any(v)))
                .collect(),
        ),
    }
}

/// An array from nested JSON lists (`[[1, 2], [3, 4]]`: shape `[2, 2]`) or
/// from the object this tool prints, `{"dtype": "<f4", "shape": [2, 2],
/// "data": [1, 2, 3, 4]}`. `element` is the element type a typed field
/// fixes (`f32` of `NdArray<f32>`); else the object's dtype, else `f64`.
fn array(element: Option<&str>, json: &Json, path: &str) -> Result<Value, String> {
    let (dtype, shape, leaves) = match json {
        Json::Object(desc) => {
            let dtype = match desc.get("dtype") {
                None => None,
                Some(d) => Some(d.as_str().and_then(DType::parse).ok_or_else(|| {
                    format!("{path}.dtype: {d} is not a numpy dtype string such as \"<f4\"")
                })?),
            };
            let data = desc
                .get("data")
                .ok_or_else(|| format!("{path}: an array object needs \"data\" (a list)"))?;
            let (nested_shape, leaves) = flatten(data, path)?;
            let shape = match desc.get("shape") {
                None => nested_shape,
                Some(s) => s
                    .as_array()
                    .and_then(|dims| {
                        dims.iter()
                            .map(|d| d.as_u64().and_then(|d| usize::try_from(d).ok()))
                            .collect::<Option<Vec<usize>>>()
                    })
                    .ok_or_else(|| format!("{path}.shape: {s} is not a list of sizes"))?,
            };
            (dtype, shape, leaves)
        }
        Json::Array(_) => {
            let (shape, leaves) = flatten(json, path)?;
            (None, shape, leaves)
        }
        _ => {
            return Err(wrong(
                path,
                element.map_or("an array", |_| "NdArray"),
                "a (nested) JSON list of numbers",
                json,
            ))
        }
    };
    let element = match (element, dtype) {
        (Some(element), Some(dtype)) if dtype.rust_name() != element => {
            return Err(format!(
                "{path} is NdArray<{element}>: the given dtype {dtype} is {}",
                dtype.rust_name()
            ))
        }
        (Some(element), _) => element,
        (None, Some(dtype)) => dtype.rust_name(),
        (None, None) => "f64",
    };
    let int = |json: &Json| integer(json).map(|n| n as f64);
    let built = match element {
        "u8" => typed::<u8>(&leaves, shape, |j| j.as_u64()?.try_into().ok()),
        "i8" => typed::<i8>(&leaves, shape, |j| j.as_i64()?.try_into().ok()),
        "u16" => typed::<u16>(&leaves, shape, |j| j.as_u64()?.try_into().ok()),
        "i16" => typed::<i16>(&leaves, shape, |j| j.as_i64()?.try_into().ok()),
        "u32" => typed::<u32>(&leaves, shape, |j| j.as_u64()?.try_into().ok()),
        "i32" => typed::<i32>(&leaves, shape, |j| j.as_i64()?.try_into().ok()),
        "u64" => typed::<u64>(&leaves, shape, Json::as_u64),
        "i64" => typed::<i64>(&leaves, shape, Json::as_i64),
        "f32" => typed::<f32>(&leaves, shape, |j| {
            j.as_f64().or_else(|| int(j)).map(|v| v as f32)
        }),
        "f64" => typed::<f64>(&leaves, shape, |j| j.as_f64().or_else(|| int(j))),
        "bool" => typed::<bool>(&leaves, shape, Json::as_bool),
        other => return Err(format!("{path}: arrays of {other} are not supported")),
    };
    built
        .map(Value::NdArray)
        .map_err(|problem| format!("{path} is NdArray<{element}>: {problem}"))
}

/// The shape of nested JSON lists and their elements in order; the lists
/// at each depth must be of one length.
fn flatten<'a>(json: &'a Json, path: &str) -> Result<(Vec<usize>, Vec<&'a Json>), String> {
    let mut shape = Vec::new();
    let mut level = json;
    while let Json::Array(items) = level {
        shape.push(items.len());
        match items.first() {
            Some(first) => level = first,
            None => break,
        }
    }
    let mut leaves = Vec::new();
    collect(json, &shape, &mut leaves)
        .then_some(())
        .ok_or_else(|| format!("{path}: the nested lists are not all of one shape {shape:?}"))?;
    Ok((shape, leaves))
}

/// Pushes the elements of `json` (lists of `shape`) onto `leaves`; false if
/// a list has another length or an element is a list too deep.
fn collect<'a>(json: &'a Json, shape: &[usize], leaves: &mut Vec<&'a Json>) -> bool {
    match (json, shape.split_first()) {
        (Json::Array(items), Some((&len, rest))) => {
            items.len() == len && items.iter().all(|item| collect(item, rest, leaves))
        }
        (Json::Array(_), None) => false,
        (_, Some(_)) => false,
        (leaf, None) => {
            leaves.push(leaf);
            true
        }
    }
}

/// An `NdArray<T>` of `shape` from `leaves`, each converted by `convert`.
fn typed<T: Element>(
    leaves: &[&Json],
    shape: Vec<usize>,
    convert: impl Fn(&Json) -> Option<T>,
) -> Result<DynArray, String> {
    let data = leaves
        .iter()
        .enumerate()
        .map(|(i, leaf)| {
            convert(leaf).ok_or_else(|| {
                format!(
                    "element {i} ({}) is not a {}",
                    short(leaf),
                    T::DTYPE.rust_name()
                )
            })
        })
        .collect::<Result<Vec<T>, String>>()?;
    NdArray::new(data, shape)
        .map(DynArray::from)
        .map_err(|e| e.to_string())
}

/// "`path` is `ty`: expected `what`, got `json`".
fn wrong(path: &str, ty: &str, what: &str, json: &Json) -> String {
    format!("{path} is {ty}: expected {what}, got {}", short(json))
}

/// JSON text, cut short if long.
fn short(json: &Json) -> String {
    let text = json.to_string();
    match text.char_indices().nth(40) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// `value` as JSON text. Maps keep their order; keys that are not strings
/// are written as their text; a byte blob is a list of its bytes; an array
/// is `{"dtype": "<f4", "shape": [h, w], "data": [...]}` (data flat, in
/// C order); a float that JSON cannot hold (NaN, infinity) is `null`.
pub(crate) fn write(value: &Value, out: &mut String) {
    match value {
        Value::Nil => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(v) => push(out, v),
        Value::UInt(v) => push(out, v),
        Value::Float(v) => push(out, v),
        Value::Str(s) => push(out, s),
        Value::Bin(b) => push(out, b),
        Value::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write(item, out);
            }
            out.push(']');
        }
        Value::Map(entries) => {
            out.push('{');
            for (i, (key, item)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                match key {
                    Value::Str(k) => push(out, k),
                    other => push(out, &other.to_string()),
                }
                out.push_str(": ");
                write(item, out);
            }
            out.push('}');
        }
        Value::NdArray(a) => {
            out.push_str("{\"dtype\": ");
            push(out, a.dtype().as_str());
            out.push_str(", \"shape\": ");
            push(out, a.shape());
            out.push_str(", \"data\": ");
            match a {
                DynArray::U8(a) => push(out, a.as_slice()),
                DynArray::I8(a) => push(out, a.as_slice()),
                DynArray::U16(a) => push(out, a.as_slice()),
                DynArray::I16(a) => push(out, a.as_slice()),
                DynArray::U32(a) => push(out, a.as_slice()),
                DynArray::I32(a) => push(out, a.as_slice()),
                DynArray::U64(a) => push(out, a.as_slice()),
                DynArray::I64(a) => push(out, a.as_slice()),
                DynArray::F32(a) => push(out, a.as_slice()),
                DynArray::F64(a) => push(out, a.as_slice()),
                DynArray::Bool(a) => push(out, a.as_slice()),
            }
            out.push('}');
        }
    }
}

/// Appends `v` as JSON (serde_json's spelling: `1.0` for a float, escapes
/// in strings, `null` for a float JSON cannot hold).
fn push<T: serde::Serialize + ?Sized>(out: &mut String, v: &T) {
    // Fails only for a map with keys that are not strings: none is passed.
    out.push_str(&serde_json::to_string(v).unwrap_or_else(|_| "null".into()));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(text: &str) -> Json {
        serde_json::from_str(text).unwrap()
    }

    fn text(value: &Value) -> String {
        let mut out = String::new();
        write(value, &mut out);
        out
    }

    #[test]
    fn scalars_follow_the_field_type() {
        assert_eq!(to_value("f64", &json("2"), "x"), Ok(Value::Float(2.0)));
        assert_eq!(to_value("u8", &json("255"), "x"), Ok(Value::Int(255)));
        assert_eq!(
            to_value("u64", &json("18446744073709551615"), "x"),
            Ok(Value::UInt(u64::MAX))
        );
        let err = to_value("u8", &json("256"), "gain").unwrap_err();
        assert!(
            err.contains("gain is u8: 256 is out of its range 0..=255"),
            "{err}"
        );
        let err = to_value("i32", &json("1.5"), "n").unwrap_err();
        assert!(err.contains("expected an integer, got 1.5"), "{err}");
        let err = to_value("String", &json("3"), "label").unwrap_err();
        assert!(err.contains("label is String: expected a string"), "{err}");
        assert_eq!(to_value("bool", &json("true"), "x"), Ok(Value::Bool(true)));
        assert_eq!(to_value("Option<bool>", &json("null"), "x"), Ok(Value::Nil));
        assert_eq!(
            to_value("bytes", &json("\"ab\""), "x"),
            Ok(Value::Bin(b"ab".to_vec()))
        );
    }

    #[test]
    fn containers_name_the_element_in_errors() {
        assert_eq!(
            to_value("Vec<i32>", &json("[1, -2]"), "ids"),
            Ok(Value::List(vec![Value::Int(1), Value::Int(-2)]))
        );
        let err = to_value("Vec<i32>", &json("[1, \"x\"]"), "ids").unwrap_err();
        assert!(err.starts_with("ids[1] is i32"), "{err}");
        let err = to_value("[f32; 3]", &json("[1, 2]"), "p").unwrap_err();
        assert!(err.contains("expected 3 elements, got 2"), "{err}");
        let map = to_value("HashMap<String, bytes>", &json(r#"{"a": [1]}"#), "m").unwrap();
        assert_eq!(
            map,
            Value::Map(vec![(Value::Str("a".into()), Value::Bin(vec![1]))])
        );
        assert_eq!(
            to_value("[u8; 2]", &json("[1, 2]"), "b"),
            Ok(Value::Bin(vec![1, 2]))
        );
        let err = to_value("[u8; 2]", &json("\"abc\""), "b").unwrap_err();
        assert!(err.contains("expected 2 bytes, got 3"), "{err}");
        let err = to_value("BTreeMap<String, u16>", &json(r#"{"k": -1}"#), "m").unwrap_err();
        assert!(err.starts_with("m.k is u16"), "{err}");
    }

    #[test]
    fn arrays_from_nested_lists_and_back() {
        let value = to_value("NdArray<f32>", &json("[[1, 2.5], [3, 4]]"), "a").unwrap();
        let array = value.as_array().unwrap();
        assert_eq!(array.shape(), &[2, 2]);
        assert_eq!(
            text(&value),
            r#"{"dtype": "<f4", "shape": [2,2], "data": [1.0,2.5,3.0,4.0]}"#
        );
        let again = to_value("DynArray", &json(&text(&value)), "a").unwrap();
        assert_eq!(again, value);
        let err = to_value("NdArray<u8>", &json("[[1, 2], [3]]"), "a").unwrap_err();
        assert!(err.contains("not all of one shape"), "{err}");
        let err = to_value("NdArray<u8>", &json("[1, 300]"), "a").unwrap_err();
        assert!(err.contains("element 1 (300) is not a u8"), "{err}");
    }

    #[test]
    fn any_json_is_kept_as_it_is() {
        let value = to_value("Value", &json(r#"{"a": "x", "b": [1, 2.0, null]}"#), "v").unwrap();
        assert_eq!(text(&value), r#"{"a": "x", "b": [1, 2.0, null]}"#);
        assert_eq!(text(&Value::Float(f64::NAN)), "null");
        assert_eq!(text(&Value::Bin(vec![1, 2])), "[1,2]");
    }
}
