//! The schema kure enforces: the declared one, made explicit where kure is stricter than JSON
//! Schema, so that `kure schema` prints exactly what is checked.
//!
//! Two transforms, both only ever narrowing:
//! - **Closed objects.** An object schema that lists `properties` and says nothing about
//!   other fields (no `additionalProperties`, `unevaluatedProperties` or `patternProperties`)
//!   is closed: unknown fields are errors, never silently dropped. A plain object gets
//!   `additionalProperties: false`. One composed with other schemas (`allOf`, `anyOf`,
//!   `oneOf`, `$ref`, `if`) gets `unevaluatedProperties: false` instead, which sees the fields
//!   its branches declare, and the branches themselves stay open. Draft 4 to 7 schemas have no
//!   `unevaluatedProperties`: there a composed object stays open.
//! - **Integer formats.** `format: int32` (and `int8`, `int16`, `uint8`, `uint16`, `uint32`,
//!   `uint64`, `uint`) on an integer becomes the matching `minimum` and `maximum`: JSON
//!   Schema checks `format` on strings only, and these are what schemars emits for Rust
//!   integers.

use serde_json::{Map, Value};

use super::guard::{IN_PLACE_LIST, IN_PLACE_ONE, NESTED_LIST, NESTED_MAP, NESTED_ONE};

/// Keywords that apply other schemas to the same value: an object using one is composed.
const COMPOSING: &[&str] = &[
    "allOf",
    "anyOf",
    "oneOf",
    "$ref",
    "$dynamicRef",
    "$recursiveRef",
    "if",
    "dependentSchemas",
];
/// Keywords that say how an object treats fields it does not list.
const OPENNESS: &[&str] = &[
    "additionalProperties",
    "unevaluatedProperties",
    "patternProperties",
];

/// The schema kure enforces for `declared` (see the module documentation).
pub fn enforced(declared: &Value) -> Value {
    let mut schema = declared.clone();
    let legacy = declared
        .get("$schema")
        .and_then(Value::as_str)
        .is_some_and(|s| {
            ["draft-04", "draft-06", "draft-07"]
                .iter()
                .any(|d| s.contains(d))
        });
    close(&mut schema, false, legacy);
    schema
}

/// `composed_branch`: this schema is a branch (`allOf`, `anyOf`, `oneOf`, `if`, `then`,
/// `else`) of an object schema whose fields it shares, so it must not close on its own.
fn close(schema: &mut Value, composed_branch: bool, legacy: bool) {
    let Value::Object(node) = schema else { return };
    let lists_fields = node.contains_key("properties");
    let composed = COMPOSING.iter().any(|k| node.contains_key(*k));
    let open_declared = OPENNESS.iter().any(|k| node.contains_key(*k));
    // The branches of an object that lists fields, or of an `allOf`, share its fields.
    let branches_shared = composed_branch || lists_fields || node.contains_key("allOf");
    if !composed_branch && !open_declared {
        let fields_in_branches = node
            .get("allOf")
            .and_then(Value::as_array)
            .is_some_and(|b| b.iter().any(|s| s.get("properties").is_some()));
        if lists_fields && !composed {
            node.insert("additionalProperties".to_owned(), Value::Bool(false));
        } else if (lists_fields || fields_in_branches) && !legacy {
            node.insert("unevaluatedProperties".to_owned(), Value::Bool(false));
        }
    }
    bound_integer_format(node);
    for key in IN_PLACE_ONE.iter().chain(NESTED_ONE) {
        if let Some(s) = node.get_mut(*key) {
            let branch = matches!(*key, "if" | "then" | "else") && branches_shared;
            close(s, branch, legacy);
        }
    }
    for key in IN_PLACE_LIST.iter().chain(NESTED_LIST) {
        if let Some(Value::Array(items)) = node.get_mut(*key) {
            let branch = matches!(*key, "allOf" | "anyOf" | "oneOf") && branches_shared;
            for s in items {
                close(s, branch, legacy);
            }
        }
    }
    for key in NESTED_MAP.iter().chain(&["dependentSchemas"]) {
        if let Some(Value::Object(map)) = node.get_mut(*key) {
            for s in map.values_mut() {
                close(s, false, legacy);
            }
        }
    }
}

/// The range of each integer format schemars emits.
fn format_range(format: &str) -> Option<(i128, i128)> {
    Some(match format {
        "int8" => (i8::MIN.into(), i8::MAX.into()),
        "int16" => (i16::MIN.into(), i16::MAX.into()),
        "int32" => (i32::MIN.into(), i32::MAX.into()),
        "int64" => (i64::MIN.into(), i64::MAX.into()),
        "uint8" => (0, u8::MAX.into()),
        "uint16" => (0, u16::MAX.into()),
        "uint32" => (0, u32::MAX.into()),
        "uint64" | "uint" => (0, u64::MAX.into()),
        _ => return None,
    })
}

fn bound_integer_format(node: &mut Map<String, Value>) {
    let integer = match node.get("type") {
        Some(Value::String(t)) => t == "integer",
        Some(Value::Array(ts)) => ts.iter().any(|t| t == "integer"),
        _ => false,
    };
    let Some((min, max)) = node
        .get("format")
        .and_then(Value::as_str)
        .and_then(format_range)
    else {
        return;
    };
    if !integer {
        return;
    }
    let tighter = |current: Option<&Value>, bound: i128, lower: bool| -> Option<Value> {
        let bound_value = number(bound)?;
        match current.and_then(Value::as_f64) {
            None => Some(bound_value),
            Some(c) if lower && c < bound as f64 => Some(bound_value),
            Some(c) if !lower && c > bound as f64 => Some(bound_value),
            Some(_) => None,
        }
    };
    if let Some(v) = tighter(node.get("minimum"), min, true) {
        node.insert("minimum".to_owned(), v);
    }
    if let Some(v) = tighter(node.get("maximum"), max, false) {
        node.insert("maximum".to_owned(), v);
    }
}

fn number(n: i128) -> Option<Value> {
    if let Ok(i) = i64::try_from(n) {
        Some(Value::from(i))
    } else {
        u64::try_from(n).ok().map(Value::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn plain_objects_close_and_open_ones_stay_open() {
        let s = enforced(&json!({
            "type": "object",
            "properties": {"a": {"type": "object", "properties": {"b": {}}}},
            "$defs": {"Open": {"properties": {"x": {}}, "additionalProperties": true},
                      "Map": {"additionalProperties": {"type": "string"}},
                      "Pat": {"properties": {"x": {}}, "patternProperties": {"^y": {}}}}
        }));
        assert_eq!(s["additionalProperties"], json!(false));
        assert_eq!(s["properties"]["a"]["additionalProperties"], json!(false));
        assert_eq!(s["$defs"]["Open"]["additionalProperties"], json!(true));
        assert_eq!(
            s["$defs"]["Map"]["additionalProperties"],
            json!({"type": "string"})
        );
        assert!(s["$defs"]["Pat"].get("additionalProperties").is_none());
    }

    #[test]
    fn composed_objects_close_with_unevaluated_properties_and_branches_stay_open() {
        let s = enforced(&json!({
            "properties": {"kind": {"type": "string"}},
            "oneOf": [{"properties": {"a": {}}}, {"properties": {"b": {}}}],
            "$defs": {"Both": {"allOf": [{"properties": {"x": {}}}, {"properties": {"y": {}}}]},
                      "Alt": {"anyOf": [{"type": "string"}, {"properties": {"source": {}}}]}}
        }));
        assert_eq!(s["unevaluatedProperties"], json!(false));
        assert!(s.get("additionalProperties").is_none());
        assert!(s["oneOf"][0].get("additionalProperties").is_none());
        assert!(s["oneOf"][0].get("unevaluatedProperties").is_none());
        assert_eq!(s["$defs"]["Both"]["unevaluatedProperties"], json!(false));
        assert!(s["$defs"]["Both"]["allOf"][1]
            .get("additionalProperties")
            .is_none());
        // Alternatives of a schema that lists no fields are whole objects of their own.
        assert_eq!(
            s["$defs"]["Alt"]["anyOf"][1]["additionalProperties"],
            json!(false)
        );
        // Draft 7 has no unevaluatedProperties: a composed object stays open there.
        let legacy = enforced(&json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "properties": {"a": {}}, "allOf": [{"properties": {"b": {}}}]
        }));
        assert!(legacy.get("unevaluatedProperties").is_none());
    }

    #[test]
    fn integer_formats_become_bounds_keeping_tighter_ones() {
        let s = enforced(&json!({"properties": {
            "r": {"type": ["integer", "null"], "format": "int32"},
            "u": {"type": "integer", "format": "uint8", "minimum": 1},
            "s": {"type": "string", "format": "int32"},
            "f": {"type": "number", "format": "double"}
        }}));
        let p = &s["properties"];
        assert_eq!(p["r"]["minimum"], json!(-2147483648_i64));
        assert_eq!(p["r"]["maximum"], json!(2147483647));
        assert_eq!(p["u"]["minimum"], json!(1));
        assert_eq!(p["u"]["maximum"], json!(255));
        assert!(p["s"].get("maximum").is_none());
        assert!(p["f"].get("maximum").is_none());
    }
}
