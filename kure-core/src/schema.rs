//! Validation of a spec against the JSON Schema its generator declares.
//!
//! This covers the subset of JSON Schema that `schemars` emits (`type`, `properties`,
//! `required`, `additionalProperties`, `items`, `enum`, `const`, `$ref`, `allOf`, `anyOf`,
//! `oneOf`, numeric and length bounds). It is written here rather than pulled in because the
//! messages matter more than coverage: every problem names the field path and, for unknown
//! fields and enum values, the closest valid name.
//!
//! One deliberate difference from JSON Schema: an object schema with `properties` and no
//! `additionalProperties` is closed. Unknown fields are errors, never silently dropped.

use std::cell::{Cell, RefCell};

use serde_json::{Map, Value};

use kure_plugin_api::abi::Issue;

use crate::util::closest;

/// Schema levels entered at once (a `$ref`, `allOf` or `anyOf` branch counts as one, like a
/// field): real schemas stay far below, a `$ref` cycle hits it.
const MAX_SCHEMA_DEPTH: usize = 512;

/// Schema nodes visited for one value: enough for any spec kure reads, and a bound on schemas
/// whose `anyOf` branches multiply the work.
const MAX_STEPS: usize = 10_000_000;

/// Validates `value` against `schema`; returns every problem found.
///
/// A schema kure cannot check against (not a schema, a `$ref` to something it does not
/// define, a `$ref` cycle, a combinatorial explosion) fails closed: `Err` says why, never a
/// pass and never a stack overflow. Such schemas come only from plugins.
pub fn validate(schema: &Value, value: &Value) -> Result<Vec<Issue>, String> {
    validate_within(schema, value, MAX_STEPS)
}

fn validate_within(schema: &Value, value: &Value, max_steps: usize) -> Result<Vec<Issue>, String> {
    let mut out = Vec::new();
    let walker = Walker {
        root: schema,
        depth: Cell::new(0),
        steps: Cell::new(0),
        max_steps,
        broken: RefCell::new(None),
    };
    if !matches!(schema, Value::Object(_) | Value::Bool(_)) {
        walker.fail("it is not a JSON object".to_owned());
    } else {
        walker.walk(schema, value, &mut Path::default(), &mut out);
    }
    match walker.broken.into_inner() {
        Some(why) => Err(why),
        None => Ok(out),
    }
}

struct Walker<'a> {
    root: &'a Value,
    /// Schema levels entered now.
    depth: Cell<usize>,
    /// Schema nodes visited so far.
    steps: Cell<usize>,
    /// At most this many ([`MAX_STEPS`] but in a test).
    max_steps: usize,
    /// Why the schema cannot be used, once known; everything stops then.
    broken: RefCell<Option<String>>,
}

/// The path to the value being checked, rendered only when there is something to report
/// (building a string per visited field cost more than the checks).
#[derive(Default)]
struct Path<'v> {
    segs: Vec<Seg<'v>>,
}

#[derive(Clone, Copy)]
enum Seg<'v> {
    Key(&'v str),
    Index(usize),
}

impl<'v> Path<'v> {
    fn render(&self) -> String {
        let mut s = String::new();
        for seg in &self.segs {
            match seg {
                Seg::Key(k) => {
                    if !s.is_empty() {
                        s.push('.');
                    }
                    s.push_str(&crate::util::shown(k));
                }
                Seg::Index(i) => {
                    s.push('[');
                    s.push_str(&i.to_string());
                    s.push(']');
                }
            }
        }
        s
    }

    fn child(&self, key: &str) -> String {
        let p = self.render();
        if p.is_empty() {
            key.to_owned()
        } else {
            format!("{p}.{key}")
        }
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn matches_type(t: &str, v: &Value) -> bool {
    match t {
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        "number" => v.is_number(),
        other => type_name(v) == other,
    }
}

fn short(v: &Value) -> String {
    let s = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if s.len() > 40 {
        format!(
            "{}...",
            &s[..s.char_indices().nth(37).map_or(s.len(), |(i, _)| i)]
        )
    } else {
        s
    }
}

fn issue(path: &Path<'_>, message: String) -> Issue {
    Issue {
        path: path.render(),
        message,
    }
}

impl<'a> Walker<'a> {
    /// Records why the schema cannot be used (the first reason wins).
    fn fail(&self, why: String) {
        self.broken.borrow_mut().get_or_insert(why);
    }

    /// Enters one schema level: `false` (and the schema marked broken) past the limits.
    fn enter(&self) -> bool {
        if self.broken.borrow().is_some() {
            return false;
        }
        self.steps.set(self.steps.get() + 1);
        if self.depth.get() >= MAX_SCHEMA_DEPTH {
            self.fail(format!(
                "it nests more than {MAX_SCHEMA_DEPTH} levels deep, or a `$ref` refers back to itself"
            ));
            return false;
        }
        if self.steps.get() > self.max_steps {
            self.fail(format!(
                "checking one spec against it takes more than {} steps (its `anyOf`/`oneOf` branches multiply)",
                self.max_steps
            ));
            return false;
        }
        self.depth.set(self.depth.get() + 1);
        true
    }

    fn leave(&self) {
        self.depth.set(self.depth.get() - 1);
    }

    /// The schema a local `$ref` names; a reference kure cannot resolve (to another document,
    /// or to nothing) marks the schema broken.
    fn resolve(&self, reference: &str) -> Option<&'a Value> {
        let found = reference
            .strip_prefix('#')
            .and_then(|pointer| self.root.pointer(pointer));
        if found.is_none() {
            self.fail(format!(
                "its `$ref` `{}` names nothing in the schema (kure resolves only references inside it)",
                crate::util::shown(reference)
            ));
        }
        found
    }

    /// A short description of what a schema accepts, for "expected ..." messages.
    fn describe(&self, schema: &'a Value) -> String {
        if !self.enter() {
            return "a value".to_owned();
        }
        let d = self.describe_inner(schema);
        self.leave();
        d
    }

    fn describe_inner(&self, schema: &'a Value) -> String {
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            if let Some(s) = self.resolve(r) {
                return self.describe(s);
            }
        }
        if let Some(values) = schema.get("enum").and_then(Value::as_array) {
            return format!(
                "one of {}",
                values.iter().map(short).collect::<Vec<_>>().join(", ")
            );
        }
        if let Some(c) = schema.get("const") {
            return format!("`{}`", short(c));
        }
        match schema.get("type") {
            Some(Value::String(t)) => t.clone(),
            Some(Value::Array(ts)) => ts
                .iter()
                .filter_map(Value::as_str)
                .filter(|t| *t != "null")
                .collect::<Vec<_>>()
                .join(" or "),
            _ => {
                for key in ["anyOf", "oneOf"] {
                    if let Some(branches) = schema.get(key).and_then(Value::as_array) {
                        return branches
                            .iter()
                            .filter(|b| b.get("type").and_then(Value::as_str) != Some("null"))
                            .map(|b| self.describe(b))
                            .collect::<Vec<_>>()
                            .join(" or ");
                    }
                }
                "a value".to_owned()
            }
        }
    }

    fn walk<'v>(
        &self,
        schema: &'a Value,
        value: &'v Value,
        path: &mut Path<'v>,
        out: &mut Vec<Issue>,
    ) {
        if self.enter() {
            self.walk_inner(schema, value, path, out);
            self.leave();
        }
    }

    fn walk_inner<'v>(
        &self,
        schema: &'a Value,
        value: &'v Value,
        path: &mut Path<'v>,
        out: &mut Vec<Issue>,
    ) {
        let obj = match schema {
            Value::Bool(true) => return,
            Value::Bool(false) => {
                out.push(issue(path, "no value is allowed here".to_owned()));
                return;
            }
            Value::Object(o) => o,
            other => {
                self.fail(format!(
                    "it has `{}` where a schema (an object or a boolean) belongs",
                    short(other)
                ));
                return;
            }
        };
        if let Some(r) = obj.get("$ref").and_then(Value::as_str) {
            if let Some(target) = self.resolve(r) {
                self.walk(target, value, path, out);
            }
        }
        if let Some(all) = obj.get("allOf").and_then(Value::as_array) {
            for s in all {
                self.walk(s, value, path, out);
            }
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(branches) = obj.get(key).and_then(Value::as_array) {
                self.any_of(schema, branches, value, path, out);
            }
        }
        if let Some(types) = obj.get("type") {
            let ok = match types {
                Value::String(t) => matches_type(t, value),
                Value::Array(ts) => ts
                    .iter()
                    .filter_map(Value::as_str)
                    .any(|t| matches_type(t, value)),
                _ => true,
            };
            if !ok {
                out.push(issue(
                    path,
                    format!(
                        "expected {}, found {} `{}`",
                        self.describe(schema),
                        type_name(value),
                        short(value)
                    ),
                ));
                return;
            }
        }
        if let Some(values) = obj.get("enum").and_then(Value::as_array) {
            if !values.contains(value) {
                let names: Vec<&str> = values.iter().filter_map(Value::as_str).collect();
                let hint = value
                    .as_str()
                    .and_then(|v| closest(v, names.iter().copied()))
                    .map(|c| format!(" (did you mean `{c}`?)"))
                    .unwrap_or_default();
                out.push(issue(
                    path,
                    format!(
                        "invalid value `{}`: expected {}{hint}",
                        short(value),
                        self.describe(schema)
                    ),
                ));
                return;
            }
        }
        if let Some(c) = obj.get("const") {
            if c != value {
                out.push(issue(
                    path,
                    format!("invalid value `{}`: expected `{}`", short(value), short(c)),
                ));
                return;
            }
        }
        match value {
            Value::Object(map) => self.object(obj, map, path, out),
            Value::Array(items) => self.array(obj, items, path, out),
            Value::String(s) => self.string(obj, s, path, out),
            Value::Number(_) => self.number(obj, value, path, out),
            _ => {}
        }
    }

    fn any_of<'v>(
        &self,
        schema: &'a Value,
        branches: &'a [Value],
        value: &'v Value,
        path: &mut Path<'v>,
        out: &mut Vec<Issue>,
    ) {
        // Rendered only once a branch fails: an optional field is an `anyOf` that passes.
        let mut here = None;
        let mut best: Option<Vec<Issue>> = None;
        for b in branches {
            let mut errs = Vec::new();
            self.walk(b, value, path, &mut errs);
            if errs.is_empty() {
                return;
            }
            let here = here.get_or_insert_with(|| path.render());
            // Prefer the branch that got furthest (errors deeper than this path).
            let deep = errs.iter().any(|e| e.path != *here);
            let better = match &best {
                None => true,
                Some(prev) => {
                    let prev_deep = prev.iter().any(|e| e.path != *here);
                    (deep && !prev_deep) || (deep == prev_deep && errs.len() < prev.len())
                }
            };
            if better {
                best = Some(errs);
            }
        }
        match (best, here) {
            (Some(errs), Some(here)) if errs.iter().any(|e| e.path != here) => out.extend(errs),
            (Some(_), _) => out.push(issue(
                path,
                format!(
                    "expected {}, found {} `{}`",
                    self.describe(schema),
                    type_name(value),
                    short(value)
                ),
            )),
            (None, _) => {}
        }
    }

    fn object<'v>(
        &self,
        obj: &'a Map<String, Value>,
        map: &'v Map<String, Value>,
        path: &mut Path<'v>,
        out: &mut Vec<Issue>,
    ) {
        let props = obj.get("properties").and_then(Value::as_object);
        if let Some(required) = obj.get("required").and_then(Value::as_array) {
            for r in required.iter().filter_map(Value::as_str) {
                if !map.contains_key(r) {
                    out.push(Issue {
                        path: path.child(r),
                        message: format!("missing required field `{r}`"),
                    });
                }
            }
        }
        let additional = obj.get("additionalProperties");
        for (key, v) in map {
            path.segs.push(Seg::Key(key));
            if let Some(s) = props.and_then(|p| p.get(key)) {
                self.walk(s, v, path, out);
                path.segs.pop();
                continue;
            }
            match additional {
                Some(Value::Bool(true)) => {}
                Some(s @ Value::Object(_)) => self.walk(s, v, path, out),
                None if props.is_none() => {}
                _ => {
                    let names: Vec<&str> = props
                        .map(|p| p.keys().map(String::as_str).collect())
                        .unwrap_or_default();
                    let hint = match closest(key, names.iter().copied()) {
                        Some(c) => format!("did you mean `{c}`?"),
                        None if names.is_empty() => "no fields are allowed here".to_owned(),
                        None => format!("valid fields: {}", names.join(", ")),
                    };
                    out.push(issue(
                        path,
                        format!("unknown field `{}`: {hint}", crate::util::shown(key)),
                    ));
                }
            }
            path.segs.pop();
        }
    }

    fn array<'v>(
        &self,
        obj: &'a Map<String, Value>,
        items: &'v [Value],
        path: &mut Path<'v>,
        out: &mut Vec<Issue>,
    ) {
        if let Some(min) = obj.get("minItems").and_then(Value::as_u64) {
            if (items.len() as u64) < min {
                out.push(issue(
                    path,
                    format!("needs at least {min} item(s), found {}", items.len()),
                ));
            }
        }
        if let Some(s) = obj.get("items") {
            for (i, item) in items.iter().enumerate() {
                path.segs.push(Seg::Index(i));
                self.walk(s, item, path, out);
                path.segs.pop();
            }
        }
    }

    fn string(&self, obj: &'a Map<String, Value>, s: &str, path: &Path<'_>, out: &mut Vec<Issue>) {
        let len = s.chars().count() as u64;
        if let Some(min) = obj.get("minLength").and_then(Value::as_u64) {
            if len < min {
                out.push(issue(
                    path,
                    format!("must be at least {min} character(s) long"),
                ));
            }
        }
        if let Some(max) = obj.get("maxLength").and_then(Value::as_u64) {
            if len > max {
                out.push(issue(
                    path,
                    format!("must be at most {max} characters long"),
                ));
            }
        }
    }

    fn number(
        &self,
        obj: &'a Map<String, Value>,
        v: &Value,
        path: &Path<'_>,
        out: &mut Vec<Issue>,
    ) {
        let Some(n) = v.as_f64() else { return };
        if let Some(min) = obj.get("minimum").and_then(Value::as_f64) {
            if n < min {
                out.push(issue(path, format!("must be at least {min}, found {n}")));
            }
        }
        if let Some(max) = obj.get("maximum").and_then(Value::as_f64) {
            if n > max {
                out.push(issue(path, format!("must be at most {max}, found {n}")));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The issues of `v` against a schema that must be usable.
    fn check(schema: &Value, v: &Value) -> Vec<Issue> {
        validate(schema, v).expect("a usable schema")
    }

    /// A schema that cannot be used fails closed with one issue saying why, and never
    /// overflows the stack or runs away (such schemas come from plugins).
    #[test]
    fn unusable_schemas_fail_closed() {
        let spec = json!({"a": {"b": [1, 2, {"c": "d"}]}});
        let two_branches = json!({"anyOf": [{"$ref": "#/$defs/x"}, {"$ref": "#/$defs/x"}]});
        let mut defs = serde_json::Map::new();
        for i in 0..40 {
            defs.insert(
                format!("l{i}"),
                json!({"anyOf": [{"$ref": format!("#/$defs/l{}", i + 1)}, {"$ref": format!("#/$defs/l{}", i + 1)}]}),
            );
        }
        defs.insert("l40".to_owned(), json!({"type": "string"}));
        let explosion = json!({"$defs": defs, "$ref": "#/$defs/l0"});
        let cases = [
            (json!({"$ref": "#"}), "refers back to itself"),
            (
                json!({"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"}),
                "refers back to itself",
            ),
            (
                json!({"anyOf": [{"$ref": "#"}, {"$ref": "#"}]}),
                "refers back to itself",
            ),
            (
                json!({"type": "object", "properties": {"a": {"$ref": "#/$defs/missing"}}}),
                "`#/$defs/missing` names nothing",
            ),
            (
                json!({"$ref": "https://example.com/schema.json"}),
                "names nothing",
            ),
            (two_branches, "`#/$defs/x` names nothing"),
            (json!("not a schema"), "not a JSON object"),
            (json!({"properties": {"a": 42}}), "`42` where a schema"),
            (explosion, "more than 100000 steps"),
        ];
        for (schema, why) in cases {
            match validate_within(&schema, &spec, 100_000) {
                Err(reason) => assert!(reason.contains(why), "{schema}: {reason}"),
                Ok(issues) => panic!("{schema} was used: {issues:?}"),
            }
        }
        // A valid spec against a usable recursive schema (a tree) still passes.
        let tree = json!({"$defs": {"n": {"type": "object", "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/n"}}}}}, "$ref": "#/$defs/n"});
        assert_eq!(
            validate(&tree, &json!({"kids": [{"kids": [{"kids": []}]}]})),
            Ok(vec![])
        );
        assert_eq!(
            validate(&tree, &json!({"kids": [{"kid": []}]})).map(|i| i.len()),
            Ok(1)
        );
    }

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "workload": {"type": "string", "enum": ["Deployment", "StatefulSet"]},
                "replicas": {"type": ["integer", "null"], "minimum": 0},
                "containers": {"type": "array", "items": {"$ref": "#/$defs/Container"}},
                "port": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "values": true
            },
            "required": ["workload"],
            "$defs": {"Container": {"type": "object", "properties": {"name": {"type": "string"}, "image": {"type": "string"}}, "required": ["name"], "additionalProperties": false}}
        })
    }

    #[test]
    fn accepts_valid() {
        let v = json!({"workload": "Deployment", "replicas": 2, "containers": [{"name": "a", "image": "b"}], "port": "http", "labels": {"a": "b"}, "values": {"x": [1]}});
        assert_eq!(check(&schema(), &v), vec![]);
    }

    #[test]
    fn reports_unknown_field_with_suggestion_and_path() {
        let v = json!({"workload": "Deployment", "containers": [{"name": "a", "imagee": "b"}]});
        let e = check(&schema(), &v);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].path, "containers[0].imagee");
        assert!(
            e[0].message.contains("did you mean `image`"),
            "{}",
            e[0].message
        );
    }

    #[test]
    fn closed_by_default_when_properties_exist() {
        let e = check(&schema(), &json!({"workload": "Deployment", "replica": 1}));
        assert_eq!(e[0].path, "replica");
        assert!(e[0].message.contains("`replicas`"));
    }

    #[test]
    fn reports_types_enums_required_and_bounds() {
        let e = check(&schema(), &json!({"replicas": "three"}));
        let msgs: Vec<String> = e
            .iter()
            .map(|i| format!("{}: {}", i.path, i.message))
            .collect();
        assert!(
            msgs.iter()
                .any(|m| m.starts_with("workload: missing required")),
            "{msgs:?}"
        );
        assert!(
            msgs.iter()
                .any(|m| m.starts_with("replicas: expected integer, found string")),
            "{msgs:?}"
        );
        let e = check(&schema(), &json!({"workload": "Deploymnt", "replicas": -1}));
        assert!(
            e.iter()
                .any(|i| i.path == "workload" && i.message.contains("did you mean `Deployment`")),
            "{e:?}"
        );
        assert!(
            e.iter()
                .any(|i| i.path == "replicas" && i.message.contains("at least 0")),
            "{e:?}"
        );
        let e = check(&schema(), &json!({"workload": "Deployment", "port": [1]}));
        assert!(
            e[0].message.contains("expected integer or string"),
            "{:?}",
            e
        );
        let e = check(
            &schema(),
            &json!({"workload": "Deployment", "labels": {"a": 1}}),
        );
        assert_eq!(e[0].path, "labels.a");
    }
}
