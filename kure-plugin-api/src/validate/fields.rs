//! The fields of a spec schema, flattened for people: what `kure explain` lists. Each field has
//! a dotted path (`containers[].image`, `labels.*`), a type, whether it is required, its
//! description, and the constraints the schema enforces (default, range, length, enum values,
//! pattern, format).
//!
//! Reads the schema kure enforces (after [`super::CompiledSchema::compile`]), so what it shows is
//! what is checked. Only local `#/...` references are followed, each at most once along a path,
//! and at most [`MAX_DEPTH`] levels deep: a hostile schema yields a short list, never a loop.

use serde_json::{Map, Value};

/// How deep nested objects are listed.
pub const MAX_DEPTH: usize = 8;
/// At most this many fields are listed.
pub const MAX_FIELDS: usize = 2_000;

/// At most this many schema nodes are visited: branches nested in arrays nested in branches
/// multiply, and a listing must end quickly whatever the schema.
pub const MAX_STEPS: usize = 200_000;

/// The references followed on the way to a node, and the nodes visited so far.
#[derive(Default)]
struct Trail {
    refs: Vec<String>,
    steps: usize,
}

/// One field of a spec.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// Dotted path from the spec: `module.source`, `containers[].ports[].name`, `labels.*`.
    pub path: String,
    /// Type in words: `string`, `integer`, `[]Container`, `string | Module`, `a | b`.
    pub kind: String,
    /// Whether the enclosing object requires it.
    pub required: bool,
    /// The schema's description, on one line.
    pub description: Option<String>,
    /// Constraints in words: `default: 1`, `minimum: 0`, `one of: a, b`, `pattern: ^x$`.
    pub constraints: Vec<String>,
}

/// Every field of `schema` (the schema of `spec`), depth first in the schema's property order.
pub fn fields(schema: &Value) -> Vec<Field> {
    let mut out = Vec::new();
    let mut trail = Trail::default();
    object_fields(schema, schema, "", 0, &mut trail, &mut out);
    out
}

/// Follows a local `$ref` (once per path) and merges its target under the referring schema's
/// own keywords, so a property's description wins over its type's.
fn resolve<'a>(
    s: &'a Value,
    root: &'a Value,
    trail: &mut Trail,
) -> (Map<String, Value>, Option<String>) {
    let mut merged = Map::new();
    let mut name = None;
    trail.steps += 1;
    if trail.steps > MAX_STEPS {
        return (merged, name);
    }
    let mut cur = s;
    for _ in 0..16 {
        let Some(obj) = cur.as_object() else { break };
        for (k, v) in obj {
            if k != "$ref" {
                merged.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        let Some(r) = obj.get("$ref").and_then(Value::as_str) else {
            break;
        };
        if trail.refs.iter().any(|t| t == r) {
            break;
        }
        let Some(target) = super::guard::local(root, r) else {
            break;
        };
        name.get_or_insert_with(|| r.rsplit('/').next().unwrap_or(r).to_owned());
        trail.refs.push(r.to_owned());
        cur = target;
    }
    (merged, name)
}

/// The non-null branches of an `anyOf`/`oneOf`, or the schema itself.
fn branches(s: &Map<String, Value>) -> Vec<Value> {
    for key in ["anyOf", "oneOf"] {
        if let Some(bs) = s.get(key).and_then(Value::as_array) {
            return bs
                .iter()
                .filter(|b| b.get("type").and_then(Value::as_str) != Some("null"))
                .cloned()
                .collect();
        }
    }
    vec![Value::Object(s.clone())]
}

fn enum_values(s: &Map<String, Value>, root: &Value, trail: &mut Trail) -> Option<Vec<String>> {
    if let Some(e) = s.get("enum").and_then(Value::as_array) {
        return Some(e.iter().filter(|v| !v.is_null()).map(scalar).collect());
    }
    if let Some(c) = s.get("const") {
        return Some(vec![scalar(c)]);
    }
    let bs = s.get("oneOf").or_else(|| s.get("anyOf"))?.as_array()?;
    let mut all = Vec::new();
    for b in bs {
        let depth = trail.refs.len();
        let (m, _) = resolve(b, root, trail);
        trail.refs.truncate(depth);
        if m.get("type").and_then(Value::as_str) == Some("null") {
            continue;
        }
        all.extend(enum_values(&m, root, trail)?);
    }
    (!all.is_empty()).then_some(all)
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn type_words(
    s: &Map<String, Value>,
    name: Option<&str>,
    root: &Value,
    trail: &mut Trail,
) -> String {
    if let Some(values) = enum_values(s, root, trail) {
        return values.join(" | ");
    }
    if s.contains_key("anyOf") || s.contains_key("oneOf") {
        let words: Vec<String> = branches(s)
            .iter()
            .map(|b| {
                let depth = trail.refs.len();
                let (m, n) = resolve(b, root, trail);
                let w = type_words(&m, n.as_deref(), root, trail);
                trail.refs.truncate(depth);
                w
            })
            .collect();
        return words.join(" | ");
    }
    let types: Vec<&str> = match s.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect(),
        _ => Vec::new(),
    };
    match types.as_slice() {
        ["array"] => {
            let item = s.get("items").map_or_else(
                || "any".to_owned(),
                |i| {
                    let depth = trail.refs.len();
                    let (m, n) = resolve(i, root, trail);
                    let w = type_words(&m, n.as_deref(), root, trail);
                    trail.refs.truncate(depth);
                    w
                },
            );
            format!("[]{item}")
        }
        ["object"] if s.contains_key("properties") => name.unwrap_or("object").to_owned(),
        ["object"] => match s.get("additionalProperties") {
            Some(v) if v.is_object() => {
                let depth = trail.refs.len();
                let (m, n) = resolve(v, root, trail);
                let w = type_words(&m, n.as_deref(), root, trail);
                trail.refs.truncate(depth);
                format!("map[string]{w}")
            }
            _ => "object".to_owned(),
        },
        [] => name.unwrap_or("any").to_owned(),
        ts => ts.join(" | "),
    }
}

/// The natural bounds of an integer `format`, which say nothing a reader needs repeated.
fn format_bounds(format: Option<&str>) -> Option<(f64, f64)> {
    Some(match format? {
        "int8" => (i8::MIN as f64, i8::MAX as f64),
        "int16" => (i16::MIN as f64, i16::MAX as f64),
        "int32" => (i32::MIN as f64, i32::MAX as f64),
        "int64" => (i64::MIN as f64, i64::MAX as f64),
        "uint8" => (0.0, u8::MAX as f64),
        "uint16" => (0.0, u16::MAX as f64),
        "uint32" => (0.0, u32::MAX as f64),
        "uint64" | "uint" => (0.0, u64::MAX as f64),
        _ => return None,
    })
}

fn constraints(s: &Map<String, Value>) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(d) = s.get("default") {
        out.push(format!("default: {}", scalar(d)));
    }
    let format = s.get("format").and_then(Value::as_str);
    let natural = format_bounds(format);
    for (k, bound) in [
        ("minimum", natural.map(|(lo, _)| lo)),
        ("maximum", natural.map(|(_, hi)| hi)),
    ] {
        if let Some(v) = s.get(k).filter(|v| v.is_number()) {
            if v.as_f64() != bound {
                out.push(format!("{k}: {v}"));
            }
        }
    }
    for (k, words) in [
        ("exclusiveMinimum", "greater than"),
        ("exclusiveMaximum", "less than"),
        ("multipleOf", "multiple of"),
        ("minLength", "min length"),
        ("maxLength", "max length"),
        ("minItems", "min items"),
        ("maxItems", "max items"),
        ("minProperties", "min entries"),
        ("maxProperties", "max entries"),
    ] {
        if let Some(v) = s.get(k).filter(|v| v.is_number()) {
            out.push(format!("{words}: {v}"));
        }
    }
    if s.get("uniqueItems") == Some(&Value::Bool(true)) {
        out.push("items unique".to_owned());
    }
    if let Some(p) = s.get("pattern").and_then(Value::as_str) {
        out.push(format!("pattern: {p}"));
    }
    if let Some(f) = format.filter(|_| natural.is_none()) {
        out.push(format!("format: {f}"));
    }
    out
}

fn object_fields(
    s: &Value,
    root: &Value,
    prefix: &str,
    depth: usize,
    trail: &mut Trail,
    out: &mut Vec<Field>,
) {
    let Some(props) = s.get("properties").and_then(Value::as_object) else {
        return;
    };
    let required: Vec<&str> = s
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for (name, prop) in props {
        if out.len() >= MAX_FIELDS {
            return;
        }
        let mark = trail.refs.len();
        let (m, type_name) = resolve(prop, root, trail);
        let path = format!("{prefix}{name}");
        let mut cons = constraints(&m);
        if let Some(values) = enum_values(&m, root, trail).filter(|v| v.len() > 1) {
            cons.push(format!("one of: {}", values.join(", ")));
        }
        out.push(Field {
            path: path.clone(),
            kind: type_words(&m, type_name.as_deref(), root, trail),
            required: required.contains(&name.as_str()),
            description: m
                .get("description")
                .and_then(Value::as_str)
                .map(|d| d.split_whitespace().collect::<Vec<_>>().join(" ")),
            constraints: cons,
        });
        if depth + 1 < MAX_DEPTH {
            nested(&m, root, &path, depth + 1, trail, out);
        }
        trail.refs.truncate(mark);
    }
}

/// The fields under a field: its object branches, array items or map values. An item or value
/// that is not an object is listed (as `path[]` or `path.*`) when it has constraints of its own.
fn nested(
    m: &Map<String, Value>,
    root: &Value,
    path: &str,
    depth: usize,
    trail: &mut Trail,
    out: &mut Vec<Field>,
) {
    element(m, root, path, depth, false, trail, out);
}

fn element(
    m: &Map<String, Value>,
    root: &Value,
    path: &str,
    depth: usize,
    listed: bool,
    trail: &mut Trail,
    out: &mut Vec<Field>,
) {
    if depth >= MAX_DEPTH || out.len() >= MAX_FIELDS {
        return;
    }
    for b in branches(m) {
        let mark = trail.refs.len();
        let (bm, name) = resolve(&b, root, trail);
        if bm.contains_key("properties") {
            object_fields(
                &Value::Object(bm),
                root,
                &format!("{path}."),
                depth,
                trail,
                out,
            );
        } else if let Some(items) = bm.get("items") {
            let (im, _) = resolve(items, root, trail);
            element(&im, root, &format!("{path}[]"), depth + 1, true, trail, out);
        } else if let Some(values) = bm.get("additionalProperties").filter(|v| v.is_object()) {
            let (vm, _) = resolve(values, root, trail);
            element(&vm, root, &format!("{path}.*"), depth + 1, true, trail, out);
        } else if listed {
            let constraints = constraints(&bm);
            if !constraints.is_empty() {
                out.push(Field {
                    path: path.to_owned(),
                    kind: type_words(&bm, name.as_deref(), root, trail),
                    required: false,
                    description: None,
                    constraints,
                });
            }
        }
        trail.refs.truncate(mark);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn find<'a>(fs: &'a [Field], path: &str) -> &'a Field {
        fs.iter()
            .find(|f| f.path == path)
            .unwrap_or_else(|| panic!("no field {path}: {fs:#?}"))
    }

    #[test]
    fn nested_fields_types_and_constraints() {
        let schema = json!({
            "type": "object",
            "required": ["module", "containers"],
            "properties": {
                "module": {"description": "The module.", "anyOf": [{"type": "string"}, {"$ref": "#/$defs/Module"}]},
                "containers": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/Container"}},
                "replicas": {"type": ["integer", "null"], "format": "int32", "minimum": 0, "maximum": 2147483647, "default": 1},
                "mode": {"$ref": "#/$defs/Mode"},
                "labels": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 63}},
                "self": {"$ref": "#"}
            },
            "$defs": {
                "Module": {"type": "object", "required": ["source"], "properties": {
                    "source": {"type": "string", "minLength": 1},
                    "version": {"type": "string", "pattern": "^[0-9.]+$"}}},
                "Container": {"type": "object", "properties": {
                    "image": {"type": "string", "format": "uri"},
                    "ports": {"type": "array", "uniqueItems": true, "items": {"type": "object", "properties": {"port": {"type": "integer", "format": "uint16", "minimum": 1, "maximum": 65535}}}}}},
                "Mode": {"oneOf": [{"const": "fast", "description": "Fast."}, {"const": "safe"}]}
            }
        });
        let fs = fields(&schema);
        let module = find(&fs, "module");
        assert_eq!(module.kind, "string | Module");
        assert!(module.required);
        assert_eq!(module.description.as_deref(), Some("The module."));
        let source = find(&fs, "module.source");
        assert!(source.required);
        assert_eq!(source.constraints, ["min length: 1"]);
        assert_eq!(
            find(&fs, "module.version").constraints,
            ["pattern: ^[0-9.]+$"]
        );
        let containers = find(&fs, "containers");
        assert_eq!(containers.kind, "[]Container");
        assert_eq!(containers.constraints, ["min items: 1"]);
        assert_eq!(find(&fs, "containers[].image").constraints, ["format: uri"]);
        assert_eq!(
            find(&fs, "containers[].ports").constraints,
            ["items unique"]
        );
        // The natural bounds of a format are not repeated; a narrower one is shown.
        assert_eq!(
            find(&fs, "containers[].ports[].port").constraints,
            ["minimum: 1"]
        );
        let replicas = find(&fs, "replicas");
        assert_eq!(replicas.kind, "integer");
        assert_eq!(replicas.constraints, ["default: 1", "minimum: 0"]);
        let mode = find(&fs, "mode");
        assert_eq!(mode.kind, "fast | safe");
        assert_eq!(mode.constraints, ["one of: fast, safe"]);
        assert_eq!(find(&fs, "labels").kind, "map[string]string");
        assert_eq!(find(&fs, "labels.*").constraints, ["max length: 63"]);
        // A reference back to the root is listed once, not followed forever.
        assert!(fs.iter().filter(|f| f.path.starts_with("self.")).count() <= 64);
    }

    #[test]
    fn hostile_schemas_end() {
        // Reference cycles through $defs, a self-reference and a very wide object.
        let wide: serde_json::Map<String, Value> = (0..5000)
            .map(|i| (format!("f{i}"), json!({"$ref": "#/$defs/A"})))
            .collect();
        let schema = json!({
            "type": "object",
            "properties": wide,
            "$defs": {
                "A": {"type": "object", "properties": {"b": {"$ref": "#/$defs/B"}}},
                "B": {"type": "object", "properties": {"a": {"$ref": "#/$defs/A"}, "me": {"$ref": "#/$defs/B"}}}
            }
        });
        let fs = fields(&schema);
        assert_eq!(fs.len(), MAX_FIELDS);
        let one = fields(
            &json!({"type": "object", "properties": {"x": {"$ref": "#/$defs/A"}}, "$defs": schema["$defs"]}),
        );
        assert!(one.len() < 20, "{one:#?}");
        assert!(one.iter().all(|f| f.path.split('.').count() <= MAX_DEPTH));
        // Branches inside arrays inside branches: 50^8 paths, none of them a field.
        let mut defs = serde_json::Map::new();
        defs.insert("D0".to_owned(), json!({"type": "string"}));
        for level in 1..=MAX_DEPTH {
            let below = format!("#/$defs/D{}", level - 1);
            let branches: Vec<Value> = (0..50)
                .map(|_| json!({"type": "array", "items": {"$ref": below}}))
                .collect();
            defs.insert(format!("D{level}"), json!({ "anyOf": branches }));
        }
        let start = std::time::Instant::now();
        let fs = fields(&json!({
            "type": "object",
            "properties": {"x": {"$ref": format!("#/$defs/D{MAX_DEPTH}")}},
            "$defs": defs
        }));
        assert_eq!(fs.len(), 1);
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "{:?}",
            start.elapsed()
        );
    }
}
