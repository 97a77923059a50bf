//! What kure checks about a schema before the validator sees it. Schemas come from plugins,
//! and the validator trusts its schema: a `$ref` loop that never moves into the value recurses
//! until the stack overflows, and `anyOf` branches that each refer to two more multiply the
//! work past any time budget. Both are refused here, as is anything whose references kure
//! cannot follow itself (references outside the schema, `$dynamicRef`, an embedded `$id`).
//!
//! The walk follows the keywords that apply a schema to the *same* value (`$ref`, `allOf`,
//! `anyOf`, `oneOf`, `not`, `if`/`then`/`else`, `dependentSchemas`); a cycle among those can
//! never end. Keywords that move into a field or an item end a chain: the value is at most 64
//! levels deep, so such recursion (a tree-shaped schema) is bounded by the value.

use std::collections::HashMap;

use serde_json::Value;

/// Schemas applied in place to one value, through chains of references and branches.
pub const MAX_IN_PLACE: u64 = 100_000;
/// References and branches followed in one chain.
pub const MAX_CHAIN: usize = 256;

/// Keywords that apply one schema to the same value.
pub(super) const IN_PLACE_ONE: &[&str] = &["not", "if", "then", "else"];
/// Keywords that apply a list of schemas to the same value.
pub(super) const IN_PLACE_LIST: &[&str] = &["allOf", "anyOf", "oneOf"];
/// Keywords holding subschemas applied to a part of the value (or kept for reference).
pub(super) const NESTED_ONE: &[&str] = &[
    "additionalProperties",
    "unevaluatedProperties",
    "additionalItems",
    "unevaluatedItems",
    "contains",
    "propertyNames",
    "items",
];
pub(super) const NESTED_LIST: &[&str] = &["prefixItems", "items"];
pub(super) const NESTED_MAP: &[&str] = &["properties", "patternProperties", "$defs", "definitions"];

/// `Ok` when kure can hand `root` to the validator; `Err` says why not, as the end of the
/// sentence "the JSON Schema ... cannot be used: ...".
pub fn check(root: &Value) -> Result<(), String> {
    if !matches!(root, Value::Object(_) | Value::Bool(_)) {
        return Err("it is not a JSON object".to_owned());
    }
    let mut g = Guard {
        root,
        counts: HashMap::new(),
        chain: Vec::new(),
        referenced: vec![root],
        seen: std::collections::HashSet::from([id(root)]),
    };
    // Every schema a `$ref` names is checked whole, wherever it sits: a reference into a
    // place the walk does not treat as a schema (an `enum` value, `default`, an unknown
    // keyword) makes that place one for the validator.
    let mut first = true;
    while let Some(schema) = g.referenced.pop() {
        g.visit_all(schema, first)?;
        first = false;
    }
    Ok(())
}

struct Guard<'a> {
    root: &'a Value,
    /// How many schemas each one applies in place (itself included), once known.
    counts: HashMap<usize, u64>,
    /// The in-place chain being followed (for cycles).
    chain: Vec<usize>,
    /// Schemas named by a `$ref`, still to check whole.
    referenced: Vec<&'a Value>,
    /// Schemas named by a `$ref` (or the root), queued once.
    seen: std::collections::HashSet<usize>,
}

/// The schema a local reference (`#`, `#/$defs/a`, percent-encoded or not) names in `root`.
pub fn local<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
    let fragment = reference.strip_prefix('#')?;
    if !fragment.contains('%') {
        return root.pointer(fragment);
    }
    let bytes = fragment.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    root.pointer(&String::from_utf8(decoded).ok()?)
}

fn id(v: &Value) -> usize {
    std::ptr::from_ref(v) as usize
}

impl<'a> Guard<'a> {
    /// Checks `schema` and every subschema below it.
    fn visit_all(&mut self, schema: &'a Value, is_root: bool) -> Result<(), String> {
        let Value::Object(node) = schema else {
            return match schema {
                Value::Bool(_) => Ok(()),
                other => Err(format!(
                    "it has `{}` where a schema (an object or a boolean) belongs",
                    super::text::shown(&other.to_string())
                )),
            };
        };
        if !is_root && node.contains_key("$id") {
            return Err(
                "it declares `$id` inside itself (kure resolves references against the whole schema only)"
                    .to_owned(),
            );
        }
        for k in ["$dynamicRef", "$recursiveRef"] {
            if node.contains_key(k) {
                return Err(format!("it uses `{k}`, which kure does not follow"));
            }
        }
        if let Some(r) = node.get("$ref") {
            let target = self.target(r)?;
            if self.seen.insert(id(target)) {
                self.referenced.push(target);
            }
        }
        self.in_place(schema)?;
        for k in IN_PLACE_ONE.iter().chain(NESTED_ONE) {
            if let Some(s) = node.get(*k) {
                if !s.is_array() {
                    self.visit_all(s, false)?;
                }
            }
        }
        for k in IN_PLACE_LIST.iter().chain(NESTED_LIST) {
            if let Some(Value::Array(items)) = node.get(*k) {
                for s in items {
                    self.visit_all(s, false)?;
                }
            }
        }
        for k in NESTED_MAP.iter().chain(&["dependentSchemas"]) {
            if let Some(Value::Object(map)) = node.get(*k) {
                for s in map.values() {
                    self.visit_all(s, false)?;
                }
            }
        }
        Ok(())
    }

    /// The schema a `$ref` names, or why kure cannot follow it.
    fn target(&self, reference: &Value) -> Result<&'a Value, String> {
        let found = reference.as_str().and_then(|r| local(self.root, r));
        found.ok_or_else(|| {
            format!(
                "its `$ref` `{}` names nothing in the schema (kure resolves only references inside it)",
                super::text::shown(
                    &reference
                        .as_str()
                        .map_or_else(|| reference.to_string(), str::to_owned)
                )
            )
        })
    }

    /// How many schemas `schema` applies to one value in place, itself included; refuses a
    /// cycle, a chain too long and a count too large.
    fn in_place(&mut self, schema: &'a Value) -> Result<u64, String> {
        let Value::Object(node) = schema else {
            return Ok(1);
        };
        let key = id(schema);
        if let Some(n) = self.counts.get(&key) {
            return Ok(*n);
        }
        if self.chain.contains(&key) {
            return Err(
                "a `$ref` refers back to itself without moving into a field or item, so checking \
                 a value against it never ends"
                    .to_owned(),
            );
        }
        if self.chain.len() >= MAX_CHAIN {
            return Err(format!(
                "it chains more than {MAX_CHAIN} references or branches on one value"
            ));
        }
        self.chain.push(key);
        let mut total: u64 = 1;
        let mut add = |g: &mut Self, s: &'a Value| -> Result<(), String> {
            total = total.saturating_add(g.in_place(s)?);
            Ok(())
        };
        if let Some(r) = node.get("$ref") {
            let t = self.target(r)?;
            add(self, t)?;
        }
        for k in IN_PLACE_ONE {
            if let Some(s) = node.get(*k) {
                add(self, s)?;
            }
        }
        for k in IN_PLACE_LIST {
            if let Some(Value::Array(items)) = node.get(*k) {
                for s in items {
                    add(self, s)?;
                }
            }
        }
        if let Some(Value::Object(map)) = node.get("dependentSchemas") {
            for s in map.values() {
                add(self, s)?;
            }
        }
        self.chain.pop();
        if total > MAX_IN_PLACE {
            return Err(format!(
                "checking one value against it applies more than {MAX_IN_PLACE} schemas (its \
                 `anyOf`/`oneOf`/`allOf` branches and references multiply)"
            ));
        }
        self.counts.insert(key, total);
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn refuses_what_cannot_be_checked_safely() {
        let mut defs = serde_json::Map::new();
        for i in 0..40 {
            let next = format!("#/$defs/l{}", i + 1);
            defs.insert(
                format!("l{i}"),
                json!({"anyOf": [{"$ref": next}, {"$ref": next}]}),
            );
        }
        defs.insert("l40".to_owned(), json!({"type": "string"}));
        let explosion = json!({"$defs": defs, "$ref": "#/$defs/l0"});
        let mut chain = serde_json::Map::new();
        for i in 0..300 {
            chain.insert(
                format!("c{i}"),
                json!({"$ref": format!("#/$defs/c{}", i + 1)}),
            );
        }
        chain.insert("c300".to_owned(), json!(true));
        let long = json!({"$defs": chain, "$ref": "#/$defs/c0"});
        let cases = [
            (json!({"$ref": "#"}), "refers back to itself"),
            (
                json!({"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"allOf": [{"$ref": "#/$defs/a"}]}}, "$ref": "#/$defs/a"}),
                "refers back to itself",
            ),
            (json!({"not": {"$ref": "#"}}), "refers back to itself"),
            // A loop hidden where the walk sees no schema, reached only through a `$ref`.
            (
                json!({"$ref": "#/enum/0", "enum": [{"properties": {"a": {"$ref": "#/enum/0/properties/a"}}}]}),
                "refers back to itself",
            ),
            (
                json!({"properties": {"x": {"$ref": "#/default"}}, "default": {"not": {"$ref": "#/default"}}}),
                "refers back to itself",
            ),
            (
                json!({"properties": {"a": {"$ref": "#/$defs/missing"}}}),
                "`#/$defs/missing` names nothing",
            ),
            (
                json!({"$ref": "https://example.com/s.json"}),
                "names nothing",
            ),
            (json!({"$ref": 42}), "names nothing"),
            (json!("not a schema"), "not a JSON object"),
            (json!({"properties": {"a": 42}}), "`42` where a schema"),
            (json!({"$defs": {"x": {"$id": "other"}}}), "`$id`"),
            (json!({"$dynamicRef": "#meta"}), "`$dynamicRef`"),
            (explosion, "more than 100000 schemas"),
            (long, "more than 256 references"),
        ];
        for (schema, why) in cases {
            match check(&schema) {
                Err(reason) => assert!(reason.contains(why), "{schema}: {reason}"),
                Ok(()) => panic!("{schema} was accepted"),
            }
        }
    }

    #[test]
    fn accepts_recursion_through_fields_and_shared_definitions() {
        let tree = json!({"$defs": {"n": {"type": "object", "properties": {
            "kids": {"type": "array", "items": {"$ref": "#/$defs/n"}},
            "left": {"$ref": "#/$defs/n"}, "right": {"$ref": "#/$defs/n"}}}},
            "$ref": "#/$defs/n"});
        assert_eq!(check(&tree), Ok(()));
        // One definition used from many places is counted once per use, not per path.
        let shared = json!({"$defs": {"s": {"type": "string"}},
            "properties": {"a": {"anyOf": [{"$ref": "#/$defs/s"}, {"type": "null"}]},
                           "b": {"anyOf": [{"$ref": "#/$defs/s"}, {"type": "null"}]}}});
        assert_eq!(check(&shared), Ok(()));
        assert_eq!(check(&json!(true)), Ok(()));
    }
}
