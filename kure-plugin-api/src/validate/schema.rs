//! A generator's JSON Schema, compiled once (by the `jsonschema` crate) and checked against
//! specs with kure's messages: the field path, what was expected and what was found, and the
//! closest valid name for unknown fields and enum values.

use serde_json::Value;

use crate::abi::Issue;
use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::paths::{Location, LocationSegment};
use jsonschema::{PatternOptions, ValidationError, Validator};

use super::text::{closest, shown};

/// Compiled regular expressions from a plugin's `pattern` stay below this many bytes.
const MAX_REGEX_BYTES: usize = 1 << 20;

/// The schema keyword that says, in words, what a `pattern` accepts: kure's message for a
/// value that does not match is `invalid value `VALUE`: <its text>` instead of the regex.
/// With schemars: `#[schemars(regex(pattern = "^[0-9]+[smh]$"), extend("x-kure-message" =
/// "expected a duration such as `30s`, `5m` or `2h`"))]`.
pub const HUMAN_MESSAGE: &str = "x-kure-message";

/// A schema kure enforces, compiled.
pub struct CompiledSchema {
    enforced: Value,
    validator: Validator,
}

impl std::fmt::Debug for CompiledSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledSchema").finish_non_exhaustive()
    }
}

impl CompiledSchema {
    /// Compiles what a generator declares. A schema kure cannot check against (not a schema,
    /// a reference it cannot follow, a reference loop, branches that multiply, a broken
    /// regular expression) fails closed: `Err` says why, as the end of the sentence "the
    /// JSON Schema ... cannot be used: ...". Such schemas come only from plugins.
    pub fn compile(declared: &Value) -> Result<Self, String> {
        Self::build(declared, super::closed::enforced(declared))
    }

    /// Compiles `schema` as JSON Schema defines it, without kure's closing transform: for the
    /// official test suite, whose schemas are open by the standard's rules.
    #[doc(hidden)]
    pub fn compile_standard(schema: &Value) -> Result<Self, String> {
        Self::build(schema, schema.clone())
    }

    fn build(declared: &Value, enforced: Value) -> Result<Self, String> {
        super::guard::check(declared)?;
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .should_ignore_unknown_formats(true)
            .with_pattern_options(PatternOptions::regex().size_limit(MAX_REGEX_BYTES))
            .build(&enforced)
            .map_err(|e| format!("the validator refuses it: {}", shown(&e.to_string())))?;
        Ok(Self {
            enforced,
            validator,
        })
    }

    /// The schema enforced: the declared one, closed (see [`super::closed`]).
    pub fn enforced(&self) -> &Value {
        &self.enforced
    }

    /// Every problem of `value`; empty when it is valid.
    pub fn check(&self, value: &Value) -> Vec<Issue> {
        if self.validator.is_valid(value) {
            return Vec::new();
        }
        let report = Report {
            schema: &self.enforced,
            value,
        };
        let mut out = Vec::new();
        let mut more = false;
        for e in self.validator.iter_errors(value) {
            if out.len() >= MAX_ISSUES {
                more = true;
                break;
            }
            report.error(&e, &mut out);
        }
        if out.is_empty() {
            // The validator said invalid but named nothing: still a failure, never a pass.
            out.push(Issue {
                path: String::new(),
                message: "does not match the generator's JSON Schema".to_owned(),
            });
        }
        let mut out = tidy(out);
        if more {
            out.push(Issue {
                path: String::new(),
                message: format!(
                    "more problems than the first {MAX_ISSUES} shown; fix these and check again"
                ),
            });
        }
        out
    }
}

/// The most problems reported for one value: a spec with thousands of broken items gets the
/// first ones, and kure's work stays small.
pub const MAX_ISSUES: usize = 100;

/// One issue per path and message; where a value has the wrong type, nothing else about it.
fn tidy(issues: Vec<Issue>) -> Vec<Issue> {
    use std::collections::HashSet;
    let wrong_type: HashSet<String> = issues
        .iter()
        .filter(|i| i.message.starts_with("expected "))
        .map(|i| i.path.clone())
        .collect();
    let mut seen: HashSet<(String, String)> = HashSet::new();
    let mut out: Vec<Issue> = Vec::with_capacity(issues.len());
    for i in issues {
        if wrong_type.contains(&i.path) && !i.message.starts_with("expected ") {
            continue;
        }
        if seen.insert((i.path.clone(), i.message.clone())) {
            out.push(i);
        }
    }
    out
}

/// The JSON type of a value, as messages name it.
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

/// A value as messages quote it: at most 40 characters, control characters escaped.
fn short(v: &Value) -> String {
    let s = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if s.chars().count() > 40 {
        format!("{}...", shown(&s.chars().take(37).collect::<String>()))
    } else {
        shown(&s)
    }
}

struct Report<'a> {
    schema: &'a Value,
    value: &'a Value,
}

impl Report<'_> {
    /// The path of a value as kure shows it (`containers[1].image`). The instance decides
    /// whether a numeric segment is an index or a field named with digits.
    fn path(&self, at: &Location) -> String {
        let mut out = String::new();
        let mut cur = Some(self.value);
        for seg in at.segments() {
            let key: std::borrow::Cow<'_, str> = match &seg {
                LocationSegment::Property(p) => p.clone(),
                LocationSegment::Index(i) => i.to_string().into(),
            };
            match (cur, &seg) {
                (Some(Value::Array(items)), LocationSegment::Index(i)) => {
                    out.push_str(&format!("[{i}]"));
                    cur = items.get(*i);
                }
                _ => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(&shown(&key));
                    cur = cur.and_then(|c| c.get(key.as_ref()));
                }
            }
        }
        out
    }

    /// The schema object holding the keyword at `keyword` (a canonical schema location).
    fn holder(&self, keyword: &Location) -> Option<&Value> {
        let segs: Vec<LocationSegment<'_>> = keyword.segments().collect();
        let (_, parents) = segs.split_last()?;
        let mut cur = self.schema;
        for seg in parents {
            cur = match seg {
                LocationSegment::Property(p) => cur.get(p.as_ref()),
                LocationSegment::Index(i) => match cur {
                    Value::Array(items) => items.get(*i),
                    other => other.get(i.to_string()),
                },
            }?;
        }
        Some(cur)
    }

    fn error(&self, e: &ValidationError<'_>, out: &mut Vec<Issue>) {
        let path = self.path(e.instance_path());
        let found = e.instance();
        let here = |message: String| Issue {
            path: path.clone(),
            message,
        };
        let child = |name: &str| {
            let name = shown(name);
            if path.is_empty() {
                name
            } else {
                format!("{path}.{name}")
            }
        };
        let holder = self.holder(e.schema_path());
        let expected = || holder.map_or_else(|| "a value".to_owned(), |s| self.describe(s, 0));
        let number = |v: &Value| short(v);
        let message = match e.kind() {
            ValidationErrorKind::Type { kind } => {
                let want = match kind {
                    TypeKind::Single(_) | TypeKind::Multiple(_) => expected(),
                };
                format!(
                    "expected {want}, found {} `{}`",
                    type_name(found),
                    short(found)
                )
            }
            ValidationErrorKind::Enum { options } => {
                let names: Vec<&str> = options
                    .as_array()
                    .map(|o| o.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                format!(
                    "invalid value `{}`: expected {}{}",
                    short(found),
                    expected(),
                    did_you_mean(found, &names)
                )
            }
            ValidationErrorKind::Constant { expected_value } => format!(
                "invalid value `{}`: expected `{}`",
                short(found),
                short(expected_value)
            ),
            ValidationErrorKind::Required { property } => {
                let name = property.as_str().unwrap_or_default();
                out.push(Issue {
                    path: child(name),
                    message: format!("missing required field `{}`", shown(name)),
                });
                return;
            }
            ValidationErrorKind::AdditionalProperties { unexpected }
            | ValidationErrorKind::UnevaluatedProperties { unexpected } => {
                let mut names = Vec::new();
                if let Some(h) = holder {
                    self.field_names(h, &mut names, 0);
                }
                names.sort_unstable();
                names.dedup();
                for key in unexpected {
                    let hint = match closest(key, names.iter().copied()) {
                        Some(c) => format!("did you mean `{c}`?"),
                        None if names.is_empty() => "no fields are allowed here".to_owned(),
                        None => format!("valid fields: {}", names.join(", ")),
                    };
                    out.push(Issue {
                        path: child(key),
                        message: format!("unknown field `{}`: {hint}", shown(key)),
                    });
                }
                return;
            }
            ValidationErrorKind::AnyOf { context }
            | ValidationErrorKind::OneOfNotValid { context } => {
                self.branches(e, context, &path, holder, out);
                return;
            }
            ValidationErrorKind::OneOfMultipleValid { .. } => format!(
                "`{}` matches more than one of {}; it must match exactly one",
                short(found),
                expected()
            ),
            ValidationErrorKind::Minimum { limit } => {
                format!("must be at least {}, found {}", number(limit), short(found))
            }
            ValidationErrorKind::Maximum { limit } => {
                format!("must be at most {}, found {}", number(limit), short(found))
            }
            ValidationErrorKind::ExclusiveMinimum { limit } => format!(
                "must be greater than {}, found {}",
                number(limit),
                short(found)
            ),
            ValidationErrorKind::ExclusiveMaximum { limit } => {
                format!(
                    "must be less than {}, found {}",
                    number(limit),
                    short(found)
                )
            }
            ValidationErrorKind::MultipleOf { .. } => format!(
                "must be a multiple of {}, found {}",
                holder
                    .and_then(|h| h.get("multipleOf"))
                    .map_or_else(|| "the schema's multipleOf".to_owned(), short),
                short(found)
            ),
            ValidationErrorKind::MinLength { limit } => {
                format!("must be at least {limit} character(s) long")
            }
            ValidationErrorKind::MaxLength { limit } => {
                format!("must be at most {limit} characters long")
            }
            ValidationErrorKind::MinItems { limit } => format!(
                "needs at least {limit} item(s), found {}",
                found.as_array().map_or(0, Vec::len)
            ),
            ValidationErrorKind::MaxItems { limit } => format!(
                "takes at most {limit} item(s), found {}",
                found.as_array().map_or(0, Vec::len)
            ),
            ValidationErrorKind::UniqueItems => {
                "its items must be unique, and some repeat".to_owned()
            }
            ValidationErrorKind::MinProperties { limit } => {
                format!("needs at least {limit} field(s)")
            }
            ValidationErrorKind::MaxProperties { limit } => {
                format!("takes at most {limit} field(s)")
            }
            // The schema's own words for what the pattern means (`x-kure-message`) over the
            // regex itself.
            ValidationErrorKind::Pattern { pattern } => match holder
                .and_then(|h| h.get(HUMAN_MESSAGE))
                .and_then(Value::as_str)
            {
                Some(means) => format!("invalid value `{}`: {}", short(found), shown(means)),
                None => format!(
                    "`{}` does not match the pattern `{}`",
                    short(found),
                    shown(pattern)
                ),
            },
            ValidationErrorKind::Format { format } => {
                format!("`{}` is not a valid {}", short(found), shown(format))
            }
            ValidationErrorKind::Not { .. } => {
                format!("`{}` is not allowed here", short(found))
            }
            ValidationErrorKind::FalseSchema => "no value is allowed here".to_owned(),
            ValidationErrorKind::Contains => format!(
                "needs an item that is {}",
                holder
                    .and_then(|h| h.get("contains"))
                    .map_or_else(|| "as the schema says".to_owned(), |c| self.describe(c, 0))
            ),
            ValidationErrorKind::PropertyNames { error } => {
                let mut inner = Vec::new();
                self.error(error, &mut inner);
                let why = inner
                    .first()
                    .map_or_else(|| "it is not allowed".to_owned(), |i| i.message.clone());
                format!("invalid field name `{}`: {why}", short(error.instance()))
            }
            other => {
                // The remaining kinds (content encoding, a regex that gave up, a reference
                // failing at run time, custom keywords) still fail the spec: never a pass.
                let _ = other;
                shown(&e.to_string())
            }
        };
        out.push(here(message));
    }

    /// `anyOf`/`oneOf` where no branch matched: the errors of the branch that got furthest
    /// into the value, or else what the branches accept.
    fn branches(
        &self,
        e: &ValidationError<'_>,
        context: &[Vec<ValidationError<'static>>],
        path: &str,
        holder: Option<&Value>,
        out: &mut Vec<Issue>,
    ) {
        let found = e.instance();
        // How far a branch got: into the value (an error below it), or to the value itself
        // with the right type (an `untagged` enum's string that fails its pattern), or not
        // past the type. A branch that is one constant of an enum did not get anywhere: the
        // value is none of the constants, which the list of them says best.
        let reach = |branch: &[ValidationError<'static>], errs: &[Issue]| {
            if errs.iter().any(|i| i.path != path) {
                2
            } else if !branch.is_empty()
                && branch.iter().all(|inner| {
                    !matches!(
                        inner.kind(),
                        ValidationErrorKind::Type { .. }
                            | ValidationErrorKind::Constant { .. }
                            | ValidationErrorKind::Enum { .. }
                    )
                })
            {
                1
            } else {
                0
            }
        };
        let mut best: Option<(u8, Vec<Issue>)> = None;
        for branch in context {
            let mut errs = Vec::new();
            for inner in branch {
                self.error(inner, &mut errs);
            }
            let r = reach(branch, &errs);
            let better = match &best {
                None => true,
                Some((prev_r, prev)) => r > *prev_r || (r == *prev_r && errs.len() < prev.len()),
            };
            if better {
                best = Some((r, errs));
            }
        }
        if let Some((_, errs)) = best.filter(|(r, _)| *r > 0) {
            out.extend(errs);
            return;
        }
        let mut names = Vec::new();
        if let Some(h) = holder {
            for key in ["anyOf", "oneOf"] {
                for b in h.get(key).and_then(Value::as_array).into_iter().flatten() {
                    self.constants(b, &mut names, 0);
                }
            }
        }
        let want = holder.map_or_else(|| "a value".to_owned(), |h| self.describe(h, 0));
        let message = if names.is_empty() || !found.is_string() {
            format!(
                "expected {want}, found {} `{}`",
                type_name(found),
                short(found)
            )
        } else {
            format!(
                "invalid value `{}`: expected {want}{}",
                short(found),
                did_you_mean(found, &names)
            )
        };
        out.push(Issue {
            path: path.to_owned(),
            message,
        });
    }

    fn follow<'s>(&'s self, schema: &'s Value) -> &'s Value {
        schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| super::guard::local(self.schema, r))
            .unwrap_or(schema)
    }

    /// The string constants a schema accepts (`enum`, `const`, through references).
    fn constants<'s>(&'s self, schema: &'s Value, out: &mut Vec<&'s str>, depth: usize) {
        if depth > 16 {
            return;
        }
        let schema = self.follow(schema);
        if let Some(c) = schema.get("const").and_then(Value::as_str) {
            out.push(c);
        }
        for v in schema
            .get("enum")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(s) = v.as_str() {
                out.push(s);
            }
        }
    }

    /// The field names an object schema declares, with those of the schemas it is composed of.
    fn field_names<'s>(&'s self, schema: &'s Value, out: &mut Vec<&'s str>, depth: usize) {
        if depth > 16 {
            return;
        }
        if let Some(p) = schema.get("properties").and_then(Value::as_object) {
            out.extend(p.keys().map(String::as_str));
        }
        if schema.get("$ref").is_some() {
            let target = self.follow(schema);
            if !std::ptr::eq(target, schema) {
                self.field_names(target, out, depth + 1);
            }
        }
        for key in ["allOf", "anyOf", "oneOf"] {
            for b in schema
                .get(key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                self.field_names(b, out, depth + 1);
            }
        }
        for key in ["then", "else"] {
            if let Some(b) = schema.get(key) {
                self.field_names(b, out, depth + 1);
            }
        }
    }

    /// A short description of what a schema accepts, for "expected ..." messages.
    fn describe(&self, schema: &Value, depth: usize) -> String {
        if depth > 8 {
            return "a value".to_owned();
        }
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            if let Some(s) = super::guard::local(self.schema, r) {
                return self.describe(s, depth + 1);
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
                            .map(|b| self.describe(b, depth + 1))
                            .collect::<Vec<_>>()
                            .join(" or ");
                    }
                }
                "a value".to_owned()
            }
        }
    }
}

fn did_you_mean(found: &Value, names: &[&str]) -> String {
    found
        .as_str()
        .and_then(|v| closest(v, names.iter().copied()))
        .map(|c| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(schema: &Value, v: &Value) -> Vec<Issue> {
        CompiledSchema::compile(schema)
            .expect("a usable schema")
            .check(v)
    }

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "workload": {"$ref": "#/$defs/Kind"},
                "replicas": {"type": ["integer", "null"], "format": "int32", "minimum": 0},
                "containers": {"type": "array", "items": {"$ref": "#/$defs/Container"}, "maxItems": 3},
                "port": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "values": true,
                "name": {"type": "string", "pattern": "^[a-z][a-z0-9-]*$"},
                "email": {"type": "string", "format": "email"},
                "module": {"anyOf": [{"type": "string"}, {"$ref": "#/$defs/Module"}]}
            },
            "required": ["workload"],
            "$defs": {
                "Kind": {"oneOf": [{"const": "Deployment", "type": "string"}, {"const": "StatefulSet", "type": "string"}]},
                "Container": {"type": "object", "properties": {"name": {"type": "string"}, "image": {"type": "string"}}, "required": ["name"]},
                "Module": {"type": "object", "properties": {"source": {"type": "string"}, "version": {"type": "string"}}, "required": ["source"]}
            }
        })
    }

    fn messages(e: &[Issue]) -> Vec<String> {
        e.iter()
            .map(|i| format!("{}: {}", i.path, i.message))
            .collect()
    }

    /// Issue 29: an `untagged` enum (integer, or a string with a pattern) given a string that
    /// fails the pattern said "expected integer or string, found string"; the branch the value
    /// has the type of speaks. And a pattern with `x-kure-message` is explained in words.
    #[test]
    fn the_branch_of_the_values_type_speaks_and_patterns_can_be_explained() {
        let schema = json!({
            "type": "object",
            "properties": {
                "timeout": {"anyOf": [
                    {"type": "integer", "minimum": 1},
                    {"type": "string", "pattern": "^[0-9]+[smh]$"}
                ]},
                "every": {"type": "string", "pattern": "^[0-9]+[smh]$",
                          "x-kure-message": "expected a duration such as `30s`, `5m` or `2h`"}
            }
        });
        assert_eq!(
            messages(&check(&schema, &json!({"timeout": "soon"}))),
            ["timeout: `soon` does not match the pattern `^[0-9]+[smh]$`"]
        );
        assert_eq!(
            messages(&check(&schema, &json!({"timeout": 0}))),
            ["timeout: must be at least 1, found 0"]
        );
        assert_eq!(
            messages(&check(&schema, &json!({"timeout": true}))),
            ["timeout: expected integer or string, found boolean `true`"]
        );
        assert_eq!(
            messages(&check(&schema, &json!({"every": "often"}))),
            ["every: invalid value `often`: expected a duration such as `30s`, `5m` or `2h`"]
        );
    }

    #[test]
    fn accepts_valid() {
        let v = json!({"workload": "Deployment", "replicas": 2, "containers": [{"name": "a", "image": "b"}], "port": "http", "labels": {"a": "b"}, "values": {"x": [1]}, "name": "web-1", "email": "a@b.io", "module": "./vpc"});
        assert_eq!(check(&schema(), &v), vec![]);
        let v = json!({"workload": "StatefulSet", "module": {"source": "./vpc", "version": "1"}});
        assert_eq!(check(&schema(), &v), vec![]);
    }

    #[test]
    fn unknown_fields_name_the_path_and_the_closest_field() {
        let v = json!({"workload": "Deployment", "containers": [{"name": "a"}, {"name": "b", "imagee": "c"}]});
        assert_eq!(
            messages(&check(&schema(), &v)),
            ["containers[1].imagee: unknown field `imagee`: did you mean `image`?"]
        );
        let e = check(&schema(), &json!({"workload": "Deployment", "replica": 1}));
        assert_eq!(
            messages(&e),
            ["replica: unknown field `replica`: did you mean `replicas`?"]
        );
        // Inside an alternative: the branch that got furthest speaks.
        let e = check(
            &schema(),
            &json!({"workload": "Deployment", "module": {"sourc": "x"}}),
        );
        let m = messages(&e);
        assert!(
            m.contains(&"module.sourc: unknown field `sourc`: did you mean `source`?".to_owned()),
            "{m:?}"
        );
    }

    #[test]
    fn types_enums_required_and_bounds() {
        let m = messages(&check(&schema(), &json!({"replicas": "three"})));
        assert!(
            m.contains(&"workload: missing required field `workload`".to_owned()),
            "{m:?}"
        );
        assert!(
            m.contains(&"replicas: expected integer, found string `three`".to_owned()),
            "{m:?}"
        );
        let m = messages(&check(
            &schema(),
            &json!({"workload": "Deploymnt", "replicas": -1}),
        ));
        assert!(
            m.contains(&"workload: invalid value `Deploymnt`: expected `Deployment` or `StatefulSet` (did you mean `Deployment`?)".to_owned()),
            "{m:?}"
        );
        assert!(
            m.contains(&"replicas: must be at least 0, found -1".to_owned()),
            "{m:?}"
        );
        let m = messages(&check(
            &schema(),
            &json!({"workload": "Deployment", "replicas": 3_000_000_000_u64}),
        ));
        assert_eq!(
            m,
            ["replicas: must be at most 2147483647, found 3000000000"]
        );
        let m = messages(&check(
            &schema(),
            &json!({"workload": "Deployment", "port": [1]}),
        ));
        assert_eq!(m, ["port: expected integer or string, found array `[1]`"]);
        let m = messages(&check(
            &schema(),
            &json!({"workload": "Deployment", "labels": {"a": 1}}),
        ));
        assert_eq!(m, ["labels.a: expected string, found integer `1`"]);
    }

    #[test]
    fn keywords_kure_used_to_ignore_are_enforced() {
        let m = messages(&check(
            &schema(),
            &json!({"workload": "Deployment", "name": "Web_1", "email": "nope",
                    "containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}, {"name": "d"}]}),
        ));
        assert!(
            m.contains(&"name: `Web_1` does not match the pattern `^[a-z][a-z0-9-]*$`".to_owned()),
            "{m:?}"
        );
        assert!(
            m.contains(&"email: `nope` is not a valid email".to_owned()),
            "{m:?}"
        );
        assert!(
            m.contains(&"containers: takes at most 3 item(s), found 4".to_owned()),
            "{m:?}"
        );
        // oneOf means exactly one.
        let one = json!({"oneOf": [{"type": "integer"}, {"minimum": 0}]});
        let m = messages(&check(&one, &json!(5)));
        assert_eq!(m.len(), 1, "{m:?}");
        assert!(m[0].contains("more than one"), "{m:?}");
        assert_eq!(check(&one, &json!(-5)), vec![]);
    }

    #[test]
    fn a_numeric_field_name_is_a_field_not_an_index() {
        let s = json!({"type": "object", "additionalProperties": {"type": "object", "properties": {"a": {}}}});
        let m = messages(&check(&s, &json!({"0": {"b": 1}})));
        assert_eq!(m, ["0.b: unknown field `b`: did you mean `a`?"]);
    }

    #[test]
    fn hostile_names_and_values_are_escaped() {
        let s = json!({"type": "object", "properties": {"a": {"type": "integer"}}});
        let m = messages(&check(&s, &json!({"\u{1b}[31mx": 1, "a": "\u{202e}y"})));
        assert!(
            m.iter()
                .all(|l| !l.contains('\u{1b}') && !l.contains('\u{202e}')),
            "{m:?}"
        );
    }

    #[test]
    fn unusable_schemas_fail_closed() {
        for (schema, why) in [
            (json!({"pattern": "(unclosed"}), "validator refuses"),
            (json!({"type": "strin"}), "validator refuses"),
            (json!({"$ref": "#"}), "refers back to itself"),
            (json!({"$ref": "#/$defs/none"}), "names nothing"),
            // A pattern whose automaton would be huge, and one needing backtracking.
            (
                json!({"properties": {"a": {"pattern": "(?:a{1000}){1000}"}}}),
                "validator refuses",
            ),
            (
                json!({"properties": {"a": {"pattern": "(a)\\1"}}}),
                "validator refuses",
            ),
        ] {
            match CompiledSchema::compile(&schema) {
                Err(reason) => assert!(reason.contains(why), "{schema}: {reason}"),
                Ok(_) => panic!("{schema} compiled"),
            }
        }
    }
}
