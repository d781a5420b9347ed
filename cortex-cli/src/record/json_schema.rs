//! The schema record of a message type: a JSON Schema (draft 2020-12)
//! of its fields, so generic MCAP tools can show what a type holds.
//!
//! A type whose layout is known (a standard message, or one its publisher's
//! node reports: see [`crate::schemas`]) is described field by field; any
//! other type only by its name and fingerprint.

use serde_json::{json, Map, Value};

use crate::schemas::TypeLayout;

/// The JSON Schema of type `type_name` with `fingerprint`, whose fields
/// `layout` gives when known.
pub(crate) fn json_schema(
    type_name: &str,
    fingerprint: u64,
    layout: Option<&TypeLayout>,
) -> Vec<u8> {
    let mut schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": type_name,
        "type": "object",
        "x-cortex-fingerprint": format!("{fingerprint:#018x}"),
    });
    if let Some(known) = layout {
        let properties: Map<String, Value> = known
            .fields
            .iter()
            .map(|(name, ty)| (name.clone(), field_schema(ty)))
            .collect();
        let required: Vec<&str> = known.fields.iter().map(|(name, _)| name.as_str()).collect();
        schema["properties"] = Value::Object(properties);
        schema["required"] = json!(required);
    } else {
        schema["description"] = json!(format!(
            "cortex message {type_name} ({fingerprint:#018x}); its fields were not known: no \
             running node reported them"
        ));
    }
    serde_json::to_vec_pretty(&schema).unwrap_or_default()
}

/// The JSON Schema of one field, from its type as cortex prints it
/// (`u32`, `String`, `Option<f64>`, `[f32; 3]`, `Vec<T>`, `HashMap<String, T>`...);
/// an unknown shape is described only by that type.
fn field_schema(ty: &str) -> Value {
    let ty = ty.trim();
    let mut schema = match ty {
        "bool" => json!({ "type": "boolean" }),
        "f32" | "f64" => json!({ "type": "number" }),
        "String" => json!({ "type": "string" }),
        "bytes" => json!({ "type": "string", "contentEncoding": "base64" }),
        _ if is_integer(ty) => json!({ "type": "integer" }),
        _ => compound(ty).unwrap_or_else(|| json!({})),
    };
    schema["x-cortex-type"] = json!(ty);
    schema
}

fn is_integer(ty: &str) -> bool {
    matches!(
        ty,
        "u8" | "u16" | "u32" | "u64" | "i8" | "i16" | "i32" | "i64" | "usize" | "isize"
    )
}

/// Options, fixed arrays, sequences and string-keyed maps.
fn compound(ty: &str) -> Option<Value> {
    if let Some(inner) = generic(ty, "Option") {
        return Some(json!({ "anyOf": [field_schema(inner), { "type": "null" }] }));
    }
    if let Some(inner) = generic(ty, "Vec") {
        return Some(json!({ "type": "array", "items": field_schema(inner) }));
    }
    for map in ["HashMap", "BTreeMap", "IndexMap"] {
        if let Some(inner) = generic(ty, map) {
            let value = inner.split_once(',')?.1;
            return Some(json!({ "type": "object", "additionalProperties": field_schema(value) }));
        }
    }
    let (item, n) = ty.strip_prefix('[')?.strip_suffix(']')?.rsplit_once(';')?;
    let n: u64 = n.trim().parse().ok()?;
    Some(json!({
        "type": "array",
        "items": field_schema(item),
        "minItems": n,
        "maxItems": n,
    }))
}

/// `T` of `Name<T>`.
fn generic<'a>(ty: &'a str, name: &str) -> Option<&'a str> {
    ty.strip_prefix(name)?.strip_prefix('<')?.strip_suffix('>')
}

#[cfg(test)]
mod tests {
    use super::*;
    use cortex::messages::IntMessage;
    use cortex::Message;

    #[test]
    fn field_types_map_to_json_schema_types() {
        assert_eq!(field_schema("u32")["type"], "integer");
        assert_eq!(field_schema("Option<f64>")["anyOf"][0]["type"], "number");
        let fixed = field_schema("[f32; 3]");
        assert_eq!(
            (fixed["type"].clone(), fixed["maxItems"].clone()),
            (json!("array"), json!(3))
        );
        let map = field_schema("HashMap<String, i64>");
        assert_eq!(map["additionalProperties"]["type"], "integer");
        assert_eq!(field_schema("Tensor<f32>")["x-cortex-type"], "Tensor<f32>");
    }

    #[test]
    fn a_standard_message_lists_its_fields() {
        let schema: Value = serde_json::from_slice(&json_schema(
            IntMessage::TYPE_NAME,
            IntMessage::FINGERPRINT,
            TypeLayout::standard(IntMessage::FINGERPRINT).as_ref(),
        ))
        .unwrap();
        assert_eq!(schema["title"], IntMessage::TYPE_NAME);
        assert_eq!(schema["properties"]["data"]["type"], "integer");
        let unknown: Value = serde_json::from_slice(&json_schema("Foo", 7, None)).unwrap();
        assert_eq!(unknown["x-cortex-fingerprint"], "0x0000000000000007");
        assert!(unknown.get("properties").is_none());
    }
}
