//! The fields of a spec schema, flattened for people: what `kure explain` lists. Each field has
//! a dotted path (`containers[].image`, `labels.*`), a type, whether it is required, its
//! description, and the constraints the schema enforces (default, range, length, enum values,
//! pattern, format).
//!
//! Reads the schema kure enforces (after [`super::CompiledSchema::compile`]), so what it shows is
//! what is checked. Only local `#/...` references are followed, each at most once along a path,
//! and at most [`MAX_DEPTH`] levels deep: a hostile schema yields a short list, never a loop.

use std::collections::BTreeMap;

use serde_json::Value;

use super::text::shown_max;

/// How deep nested objects are listed.
pub const MAX_DEPTH: usize = 8;
/// At most this many fields are listed.
pub const MAX_FIELDS: usize = 2_000;
/// Longest name of a field (in a path), in characters.
const MAX_NAME: usize = 100;
/// Longest text from the schema in a type, default, enum value or pattern, in characters.
const MAX_TEXT: usize = 200;
/// Longest description, in characters.
const MAX_DESCRIPTION: usize = 600;
/// At most this many enum values or branches are followed.
const MAX_VALUES: usize = 64;

/// At most this many schema nodes are visited: branches nested in arrays nested in branches
/// multiply, and a listing must end quickly whatever the schema.
pub const MAX_STEPS: usize = 200_000;

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
/// Every text taken from the schema (names, descriptions, enum values, patterns) is cut to a
/// few hundred characters, so the listing stays small whatever the schema holds.
pub fn fields(schema: &Value) -> Vec<Field> {
    let mut walk = Walk {
        root: schema,
        refs: Vec::new(),
        steps: 0,
        out: Vec::new(),
    };
    let (m, _) = walk.resolve(schema);
    walk.object_fields(&m, "", 0);
    walk.out
}

/// A schema's keywords, merged along its `$ref` chain; borrowed, never copied.
type Merged<'a> = BTreeMap<&'a str, &'a Value>;

/// The walk: the references followed on the way to a node (each at most once per path), the
/// nodes visited, and the fields found.
struct Walk<'a> {
    root: &'a Value,
    refs: Vec<&'a str>,
    steps: usize,
    out: Vec<Field>,
}

fn scalar(v: &Value, max: usize) -> String {
    match v {
        Value::String(s) => shown_max(s, max),
        other => shown_max(&other.to_string(), max),
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

fn constraints(s: &Merged<'_>) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(d) = s.get("default") {
        out.push(format!("default: {}", scalar(d, MAX_TEXT)));
    }
    let format = s.get("format").and_then(|f| f.as_str());
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
    if s.get("uniqueItems").copied() == Some(&Value::Bool(true)) {
        out.push("items unique".to_owned());
    }
    if let Some(p) = s.get("pattern").and_then(|p| p.as_str()) {
        out.push(format!("pattern: {}", shown_max(p, MAX_TEXT)));
    }
    if let Some(f) = format.filter(|_| natural.is_none()) {
        out.push(format!("format: {}", shown_max(f, MAX_TEXT)));
    }
    out
}

fn is_null_type(v: &Value) -> bool {
    v.get("type").and_then(Value::as_str) == Some("null")
}

impl<'a> Walk<'a> {
    /// Follows local `$ref`s (each once per path) and merges the targets under the referring
    /// schema's own keywords, so a property's description wins over its type's. Also returns
    /// the name of the first definition referred to. Past [`MAX_STEPS`] every node is empty.
    fn resolve(&mut self, s: &'a Value) -> (Merged<'a>, Option<&'a str>) {
        let mut merged = Merged::new();
        let mut name = None;
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return (merged, name);
        }
        let mut cur = s;
        for _ in 0..16 {
            let Some(obj) = cur.as_object() else { break };
            for (k, v) in obj {
                if k != "$ref" {
                    merged.entry(k.as_str()).or_insert(v);
                }
            }
            let Some(r) = obj.get("$ref").and_then(Value::as_str) else {
                break;
            };
            if self.refs.contains(&r) {
                break;
            }
            let Some(target) = super::guard::local(self.root, r) else {
                break;
            };
            name.get_or_insert_with(|| r.rsplit('/').next().unwrap_or(r));
            self.refs.push(r);
            cur = target;
        }
        (merged, name)
    }

    /// Runs `f` on the resolved `s`, then forgets the references followed for it.
    fn with<T>(
        &mut self,
        s: &'a Value,
        f: impl FnOnce(&mut Self, &Merged<'a>, Option<&'a str>) -> T,
    ) -> T {
        let mark = self.refs.len();
        let (m, name) = self.resolve(s);
        let r = f(self, &m, name);
        self.refs.truncate(mark);
        r
    }

    /// The non-null branches of an `anyOf`/`oneOf`; `None` when there is neither.
    fn branches(s: &Merged<'a>) -> Option<Vec<&'a Value>> {
        ["anyOf", "oneOf"].iter().find_map(|k| {
            s.get(k)
                .and_then(|b| b.as_array())
                .map(|bs| bs.iter().filter(|b| !is_null_type(b)).collect())
        })
    }

    fn enum_values(&mut self, s: &Merged<'a>, depth: usize) -> Option<Vec<String>> {
        if let Some(e) = s.get("enum").and_then(|e| e.as_array()) {
            return Some(
                e.iter()
                    .filter(|v| !v.is_null())
                    .take(MAX_VALUES)
                    .map(|v| scalar(v, MAX_TEXT))
                    .collect(),
            );
        }
        if let Some(c) = s.get("const") {
            return Some(vec![scalar(c, MAX_TEXT)]);
        }
        if depth >= MAX_DEPTH {
            return None;
        }
        let mut all = Vec::new();
        for b in Self::branches(s)? {
            let values = self.with(b, |w, m, _| w.enum_values(m, depth + 1))?;
            all.extend(values);
            if all.len() >= MAX_VALUES {
                all.truncate(MAX_VALUES);
                break;
            }
        }
        (!all.is_empty()).then_some(all)
    }

    fn type_words(&mut self, s: &Merged<'a>, name: Option<&str>, depth: usize) -> String {
        if depth >= MAX_DEPTH {
            return "…".to_owned();
        }
        let words = self.type_words_at(s, name, depth);
        shown_max(&words, MAX_TEXT)
    }

    fn type_words_at(&mut self, s: &Merged<'a>, name: Option<&str>, depth: usize) -> String {
        if let Some(values) = self.enum_values(s, depth) {
            return values.join(" | ");
        }
        if let Some(bs) = Self::branches(s) {
            let words: Vec<String> = bs
                .into_iter()
                .take(MAX_VALUES)
                .map(|b| self.with(b, |w, m, n| w.type_words(m, n, depth + 1)))
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
                let item = match s.get("items") {
                    Some(i) => self.with(i, |w, m, n| w.type_words(m, n, depth + 1)),
                    None => "any".to_owned(),
                };
                format!("[]{item}")
            }
            ["object"] if s.contains_key("properties") => name.unwrap_or("object").to_owned(),
            ["object"] => match s.get("additionalProperties") {
                Some(v) if v.is_object() => {
                    let w = self.with(v, |w, m, n| w.type_words(m, n, depth + 1));
                    format!("map[string]{w}")
                }
                _ => "object".to_owned(),
            },
            [] => name.unwrap_or("any").to_owned(),
            ts => ts.join(" | "),
        }
    }

    fn object_fields(&mut self, s: &Merged<'a>, prefix: &str, depth: usize) {
        let Some(props) = s.get("properties").and_then(|p| p.as_object()) else {
            return;
        };
        let required: Vec<&str> = s
            .get("required")
            .and_then(|r| r.as_array())
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for (name, prop) in props {
            if self.out.len() >= MAX_FIELDS {
                return;
            }
            let path = format!("{prefix}{}", shown_max(name, MAX_NAME));
            self.with(prop, |w, m, type_name| {
                let mut constraints = constraints(m);
                if let Some(values) = w.enum_values(m, depth).filter(|v| v.len() > 1) {
                    constraints.push(format!("one of: {}", values.join(", ")));
                }
                let kind = w.type_words(m, type_name, depth);
                w.out.push(Field {
                    path: path.clone(),
                    kind,
                    required: required.contains(&name.as_str()),
                    description: m.get("description").and_then(|d| d.as_str()).map(|d| {
                        // Cut first: the description may be megabytes long.
                        let head: String = d.chars().take(MAX_DESCRIPTION * 2).collect();
                        let one_line = head.split_whitespace().collect::<Vec<_>>().join(" ");
                        shown_max(&one_line, MAX_DESCRIPTION)
                    }),
                    constraints,
                });
                if depth + 1 < MAX_DEPTH {
                    w.element(m, &path, depth + 1, false);
                }
            });
        }
    }

    /// The fields under a field: its object branches, array items or map values. An item or
    /// value that is not an object is listed (as `path[]` or `path.*`) when `listed` and it has
    /// constraints of its own.
    fn element(&mut self, m: &Merged<'a>, path: &str, depth: usize, listed: bool) {
        if depth >= MAX_DEPTH || self.out.len() >= MAX_FIELDS {
            return;
        }
        match Self::branches(m) {
            Some(bs) => {
                for b in bs.into_iter().take(MAX_VALUES) {
                    self.with(b, |w, bm, name| {
                        w.one_element(bm, name, path, depth, listed)
                    });
                }
            }
            None => self.one_element(m, None, path, depth, listed),
        }
    }

    fn one_element(
        &mut self,
        bm: &Merged<'a>,
        name: Option<&'a str>,
        path: &str,
        depth: usize,
        listed: bool,
    ) {
        if bm.contains_key("properties") {
            self.object_fields(bm, &format!("{path}."), depth);
        } else if let Some(items) = bm.get("items") {
            self.with(items, |w, im, _| {
                w.element(im, &format!("{path}[]"), depth + 1, true)
            });
        } else if let Some(values) = bm.get("additionalProperties").filter(|v| v.is_object()) {
            self.with(values, |w, vm, _| {
                w.element(vm, &format!("{path}.*"), depth + 1, true)
            });
        } else if listed {
            let constraints = constraints(bm);
            if !constraints.is_empty() {
                let kind = self.type_words(bm, name, depth);
                self.out.push(Field {
                    path: path.to_owned(),
                    kind,
                    required: false,
                    description: None,
                    constraints,
                });
            }
        }
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

        // A chain of 30,000 array-of-reference definitions: the type is cut, the stack holds.
        let mut defs = serde_json::Map::new();
        for i in 0..30_000 {
            defs.insert(
                format!("A{i}"),
                json!({"type": "array", "items": {"$ref": format!("#/$defs/A{}", i + 1)}}),
            );
        }
        let fs = fields(&json!({
            "type": "object",
            "properties": {"x": {"$ref": "#/$defs/A0"}},
            "$defs": defs
        }));
        assert!(
            fs[0].kind.starts_with("[][][]") && fs[0].kind.ends_with('…'),
            "{}",
            fs[0].kind
        );

        // 2,000 fields naming one definition with an 8 MB description, enum and pattern: what
        // is listed stays small.
        let big = "x".repeat(8 << 20);
        let wide: serde_json::Map<String, Value> = (0..2000)
            .map(|i| (format!("f{i}"), json!({"$ref": "#/$defs/Big"})))
            .collect();
        let fs = fields(&json!({
            "type": "object",
            "properties": wide,
            "$defs": {"Big": {"type": "string", "description": big, "pattern": big, "enum": [big, "b"]}}
        }));
        let bytes: usize = fs
            .iter()
            .map(|f| {
                f.path.len()
                    + f.kind.len()
                    + f.description.as_ref().map_or(0, String::len)
                    + f.constraints.iter().map(String::len).sum::<usize>()
            })
            .sum();
        assert_eq!(fs.len(), 2000);
        assert!(bytes < 8 << 20, "{bytes} bytes listed");
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "{:?}",
            start.elapsed()
        );
    }
}
