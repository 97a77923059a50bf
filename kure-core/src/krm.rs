//! kure as a KRM function (`kure fn`): a `ResourceList` (`config.kubernetes.io/v1`) in, a
//! `ResourceList` out, as kustomize (`generators:` with an exec function) and kpt run functions.
//!
//! Every item whose apiVersion/kind is a generator kure has (built in, installed, or in the
//! plugin directories) is replaced by what it generates; so is the `functionConfig` when it is
//! a kure spec (kustomize passes the generator's own config there), whose objects are appended.
//! Every other item passes through untouched. Problems become `results` (severity, message,
//! file, field), and the run fails (exit 1) when there is one.
//!
//! The function-runtime annotations on an item (`config.kubernetes.io/*`,
//! `internal.config.kubernetes.io/*`) say where it came from, not what to generate: they name
//! the file in results and are not copied onto generated objects.

use std::path::PathBuf;

use serde_json::{json, Value};

use crate::decode::{decode_value, Document, Location};
use crate::engine::Engine;
use crate::error::{Diagnostic, Error};
use crate::gvk::Gvk;

/// `apiVersion` of a ResourceList.
pub const API_VERSION: &str = "config.kubernetes.io/v1";

/// What `kure fn` writes, and whether it failed.
#[derive(Debug)]
pub struct FnOutput {
    /// The output ResourceList, as YAML.
    pub text: String,
    /// Whether a result is an error (exit 1).
    pub failed: bool,
}

fn is_runtime_annotation(key: &str) -> bool {
    key.starts_with("config.kubernetes.io/")
        || key.starts_with("internal.config.kubernetes.io/")
        || key.starts_with("config.k8s.io/")
}

/// Where an item came from, from its runtime annotations, else its place in the list.
fn origin(item: &Value, fallback: &str) -> PathBuf {
    let annotations = item.pointer("/metadata/annotations");
    let path = [
        "internal.config.kubernetes.io/path",
        "config.kubernetes.io/path",
    ]
    .iter()
    .find_map(|k| annotations.and_then(|a| a.get(*k)).and_then(Value::as_str));
    PathBuf::from(path.map_or_else(|| fallback.to_owned(), crate::util::shown))
}

/// The item as a kure spec: its runtime annotations dropped.
fn spec_of(item: &Value) -> Value {
    let mut v = item.clone();
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        if let Some(Value::Object(a)) = meta.get_mut("annotations") {
            a.retain(|k, _| !is_runtime_annotation(k));
            if a.is_empty() {
                meta.remove("annotations");
            }
        }
    }
    v
}

fn gvk_of(item: &Value) -> Option<Gvk> {
    let api_version = item.get("apiVersion")?.as_str()?;
    let kind = item.get("kind")?.as_str()?;
    Gvk::parse(api_version, kind).ok()
}

/// A KRM result for a problem.
fn result(d: &Diagnostic) -> Value {
    let mut r = json!({
        "message": d.message,
        "severity": "error",
        "file": { "path": d.location.file.display().to_string() },
    });
    if let Some(f) = &d.field {
        r["field"] = json!({ "path": f });
    }
    r
}

fn bad_list(message: String) -> Error {
    Error::Invalid(vec![Diagnostic {
        location: Location {
            file: PathBuf::from("<stdin>"),
            line: 1,
        },
        message,
        field: None,
    }])
}

/// A block-style ResourceList (as kustomize and kpt write it) read item by item, the items on
/// every CPU: `None` when the text is not in that plain shape, or any part does not parse on
/// its own (then the whole text is parsed as one document, and its errors are the reference).
///
/// The shape: top-level keys at column 0, `items:` alone on its line, each item starting with
/// `- ` at one indentation and every other line of it indented two more (blank lines and
/// comments anywhere). A line at that indentation or less that does not start an item ends
/// the list. Each item, dedented, is a YAML document of its own; the rest (with `items: []`)
/// is another. The `yaml` fuzz target checks this against parsing the whole text.
pub fn parse_items(text: &str) -> Option<Value> {
    // Lines are split on `\n` here; YAML (1.1, as libyaml reads it) also breaks lines at
    // `\r`, NEL, LS and PS: any of those, a tab, a BOM, a comment (which may hold what the
    // whole parse refuses, or end a block scalar), another control character, a document
    // marker or a last line without its line break (which a block scalar would keep), and the
    // whole text is parsed instead.
    if text.contains([
        '\t', '\r', '\u{85}', '\u{2028}', '\u{2029}', '\u{feff}', '#',
    ]) || text
        .chars()
        .any(|c| (c.is_control() && c != '\n') || matches!(c, '\u{fffe}' | '\u{ffff}'))
        || text.starts_with("---")
        || text.starts_with('%')
        || text.contains("\n---")
        || !text.ends_with('\n')
    {
        return None;
    }
    // A quoted or flow scalar may run over several lines, across what looks like an item's
    // start: every line must open and close its own quotes and brackets.
    let balanced = |l: &str| {
        let count = |c: char| l.chars().filter(|x| *x == c).count();
        count('\'') % 2 == 0
            && count('"') % 2 == 0
            && count('[') == count(']')
            && count('{') == count('}')
    };
    if !text.lines().all(balanced) {
        return None;
    }
    let lines: Vec<&str> = text.lines().collect();
    let is_blank = |l: &str| l.trim().is_empty() || l.trim_start().starts_with('#');
    let start = lines.iter().position(|l| *l == "items:")?;
    if lines.iter().filter(|l| l.starts_with("items:")).count() != 1 {
        return None;
    }
    let first = (start + 1..lines.len()).find(|&i| !is_blank(lines[i]))?;
    let indent = lines[first].len() - lines[first].trim_start_matches(' ').len();
    let entry = format!("{}- ", " ".repeat(indent));
    if !lines[first].starts_with(&entry) {
        return None;
    }
    let body = " ".repeat(indent + 2);
    let mut items: Vec<String> = Vec::new();
    let mut end = lines.len();
    for (i, line) in lines.iter().enumerate().skip(first) {
        if let Some(rest) = line.strip_prefix(&entry) {
            items.push(format!("{rest}\n"));
        } else if let Some(rest) = line.strip_prefix(&body) {
            items.last_mut()?.push_str(&format!("{rest}\n"));
        } else if line.trim().is_empty() {
            if let Some(last) = items.last_mut() {
                last.push('\n');
            }
        } else if line.trim_start().starts_with('#') {
            // A comment less indented than the item's body: at column 0 of the item, where it
            // ends a block scalar of the item just as it does in the whole document.
            if let Some(last) = items.last_mut() {
                last.push_str(line.trim_start());
                last.push('\n');
            }
        } else {
            let own = line.len() - line.trim_start_matches(' ').len();
            if own > indent {
                return None; // inside an item, but not indented as its body
            }
            end = i;
            break;
        }
    }
    let mut head = lines[..start].join("\n");
    head.push_str("\nitems: []\n");
    for l in &lines[end..] {
        head.push_str(l);
        head.push('\n');
    }
    let mut list = crate::parse::parse(&head).ok()?;
    // The `items: []` put in its place must read back as the list, or the split was wrong.
    if list.get("items") != Some(&Value::Array(Vec::new())) {
        return None;
    }
    // Two levels deeper in the whole list: an item that deep is left to the whole parse.
    let parsed = par_map_slice(&items, |t| {
        crate::parse::parse(t)
            .ok()
            .filter(|v| depth(v) + 2 <= crate::parse::MAX_DEPTH)
    });
    let parsed: Option<Vec<Value>> = parsed.into_iter().collect();
    list.as_object_mut()?
        .insert("items".to_owned(), Value::Array(parsed?));
    Some(list)
}

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// `f` on every element, in order, split over the CPUs.
fn par_map_slice<I: Sync, T: Send>(items: &[I], f: impl Fn(&I) -> T + Sync) -> Vec<T> {
    let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
    if jobs < 2 || items.len() < 64 {
        return items.iter().map(&f).collect();
    }
    let part = items.len().div_ceil(jobs);
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(part)
            .map(|chunk| scope.spawn(|| chunk.iter().map(&f).collect::<Vec<T>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// One item of the list (or the functionConfig) on its way through.
enum Slot {
    /// Not a kure spec: written back as it came.
    Pass(Value),
    /// A kure spec, from this file (its runtime annotations, or its place in the list).
    Spec(PathBuf, Value),
}

/// What became of a slot.
enum Done {
    /// YAML list entries to write.
    Text(String),
    /// A valid spec, to generate.
    Valid(Box<Document>),
    /// What is wrong with it.
    Problems(Vec<Diagnostic>),
}

/// `value` as an entry of a YAML block sequence at column 0.
fn entry(value: &Value) -> String {
    let text = crate::yaml::to_string(value);
    let mut out = String::with_capacity(text.len() + 64);
    for (i, line) in text.lines().enumerate() {
        if i == 0 {
            out.push_str("- ");
        } else if !line.is_empty() {
            out.push_str("  ");
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The output ResourceList: exactly what [`crate::yaml::to_string`] writes for it (keys in
/// order: apiVersion, items, kind, results), from entries rendered on every CPU.
fn assemble(entries: &[String], results: Option<Value>) -> String {
    let mut out = format!("apiVersion: {API_VERSION}\n");
    if entries.is_empty() {
        out.push_str("items: []\n");
    } else {
        out.push_str("items:\n");
        for e in entries {
            out.push_str(e);
        }
    }
    out.push_str("kind: ResourceList\n");
    if let Some(r) = results {
        out.push_str(&crate::yaml::to_string(&json!({ "results": r })));
    }
    out
}

/// Runs the function on `input` (the ResourceList's YAML or JSON text). An input that is not a
/// ResourceList is an `Err`; problems with items are results in the output.
pub fn run(engine: &mut Engine, input: &str) -> Result<FnOutput, Error> {
    let read = |input: &str| -> Result<Value, Error> {
        let list = match parse_items(input) {
            Some(list) => list,
            None => crate::parse::parse(input).map_err(|p| {
                bad_list(format!("the input is not a ResourceList: {}", p.message(0)))
            })?,
        };
        if list.get("kind").and_then(Value::as_str) != Some("ResourceList")
            || !list
                .get("apiVersion")
                .and_then(Value::as_str)
                .is_some_and(|v| v.starts_with("config.kubernetes.io/"))
        {
            return Err(bad_list(format!(
                "the input is not a ResourceList: expected `apiVersion: {API_VERSION}` and `kind: ResourceList` (what kustomize and kpt send a function on stdin)"
            )));
        }
        Ok(list)
    };
    let mut list = read(input)?;
    let items: Vec<Value> = match list.get_mut("items").map(Value::take) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(bad_list("`items` must be a list".to_owned())),
    };
    let config = list
        .get_mut("functionConfig")
        .map(Value::take)
        .filter(|c| !c.is_null());

    // Load the generators the items and the config name (each GVK once); anything else is
    // not kure's to touch.
    let mut gvks: Vec<Gvk> = items.iter().chain(&config).filter_map(gvk_of).collect();
    gvks.sort();
    gvks.dedup();
    engine.resolve_gvks(&gvks)?;
    let engine: &Engine = engine;
    let ours = |v: &Value| gvk_of(v).is_some_and(|g| engine.registry().get(&g).is_some());
    let mut slots: Vec<Slot> = items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            if ours(&item) {
                Slot::Spec(origin(&item, &format!("items[{i}]")), item)
            } else {
                Slot::Pass(item)
            }
        })
        .collect();
    // The config's objects go last; a config that is no kure spec is not output.
    if let Some(c) = config.filter(|c| ours(c)) {
        slots.push(Slot::Spec(origin(&c, "functionConfig"), c));
    }

    // Every item on every CPU: entries written as they are, specs decoded and validated.
    // No text: a ResourceList has no lines to point at; results name the file and field.
    let checked = par_map_slice(&slots, |slot| match slot {
        Slot::Pass(v) => Done::Text(entry(v)),
        Slot::Spec(file, v) => {
            let location = Location {
                file: file.clone(),
                line: 1,
            };
            match decode_value(&location, spec_of(v), String::new()) {
                Err(d) => Done::Problems(vec![d]),
                Ok(doc) => match engine.validate(std::slice::from_ref(&doc)) {
                    Ok(()) => Done::Valid(Box::new(doc)),
                    Err(Error::Invalid(d)) => Done::Problems(d),
                    Err(other) => Done::Problems(vec![Diagnostic {
                        location,
                        message: other.to_string(),
                        field: None,
                    }]),
                },
            }
        }
    });
    let mut problems: Vec<Diagnostic> = Vec::new();
    for d in &checked {
        if let Done::Problems(p) = d {
            problems.extend(p.iter().cloned());
        }
    }
    // Then, when every spec is valid, generate (each spec's objects take its place).
    let mut entries: Vec<String> = Vec::new();
    if problems.is_empty() {
        let generated = par_map_slice(&checked, |d| match d {
            Done::Text(t) => Ok(t.clone()),
            Done::Valid(doc) => engine
                .generate_one(doc)
                .map(|objects| objects.iter().map(entry).collect::<String>())
                .map_err(|e| match e {
                    Error::Invalid(d) => d,
                    other => vec![Diagnostic {
                        location: doc.location.clone(),
                        message: other.to_string(),
                        field: None,
                    }],
                }),
            Done::Problems(_) => Ok(String::new()),
        });
        for g in generated {
            match g {
                Ok(text) => entries.push(text),
                Err(d) => problems.extend(d),
            }
        }
    }
    if problems.is_empty() {
        return Ok(FnOutput {
            text: assemble(&entries, None),
            failed: false,
        });
    }
    // The items go back unchanged: read again (only on this path) and written as they came.
    let original = read(input)?;
    let items = original
        .get("items")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    Ok(FnOutput {
        text: assemble(
            &par_map_slice(items, entry),
            Some(Value::Array(problems.iter().map(result).collect())),
        ),
        failed: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The output ResourceList as YAML: exactly [`crate::yaml::to_string`] of it, its items
    /// rendered on every CPU.
    fn render(list: &Value) -> String {
        let items = list
            .get("items")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        let keys_ok = list.as_object().is_some_and(|m| {
            m.keys()
                .all(|k| ["apiVersion", "items", "kind", "results"].contains(&k.as_str()))
                && m.get("apiVersion") == Some(&json!(API_VERSION))
                && m.get("kind") == Some(&json!("ResourceList"))
        });
        if !keys_ok {
            return crate::yaml::to_string(list);
        }
        assemble(&par_map_slice(items, entry), list.get("results").cloned())
    }

    fn same(text: &str) {
        let items = parse_items(text).unwrap_or_else(|| panic!("not read item by item: {text}"));
        assert_eq!(items, crate::parse::parse(text).expect("whole"), "{text}");
    }

    #[test]
    fn item_by_item_reads_what_the_whole_document_says() {
        let item = |i: usize, pad: &str| {
            format!("{pad}- apiVersion: v1\n{pad}  kind: ConfigMap\n{pad}  metadata:\n{pad}    name: c{i}\n{pad}    annotations:\n{pad}      config.kubernetes.io/index: '{i}'\n{pad}  data:\n{pad}    text: |\n{pad}      line one\n\n{pad}      line three\n{pad}    list:\n{pad}    - a\n{pad}    - b: 1\n")
        };
        let many = |pad: &str| (0..100).map(|i| item(i, pad)).collect::<String>();
        same(&format!(
            "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n{}",
            many("")
        ));
        same(&format!("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n{}functionConfig:\n  apiVersion: v1\n  kind: X\n", many("  ")));
        same(&format!("apiVersion: config.kubernetes.io/v1\nfunctionConfig: {{a: 1}}\nitems:\n{}\nkind: ResourceList\nresults: []\n", many("")));
        same("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- a\n- [1, 2]\n- {b: c}\n");
        // A comment (which can end a block scalar, or hold a control character) is left to
        // the whole parse (found by the fuzzer).
        assert_eq!(
            parse_items(
                "kind: ResourceList\nitems:\n- data:\n    text: |\n      one\n# c\n    more: 1\n"
            ),
            None
        );
    }

    #[test]
    fn rendering_item_by_item_is_rendering_the_whole() {
        let items: Vec<Value> = (0..200)
            .map(|i| {
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("c{i}")},
                       "data": {"text": "one\n\nthree\n", "empty": "", "list": [1, {"a": [2]}], "map": {}}})
            })
            .collect();
        for list in [
            json!({"apiVersion": API_VERSION, "kind": "ResourceList", "items": items}),
            json!({"apiVersion": API_VERSION, "kind": "ResourceList", "items": [],
                   "results": [{"message": "m", "severity": "error"}]}),
            json!({"apiVersion": API_VERSION, "kind": "ResourceList", "items": ["a", 1, [], {}]}),
        ] {
            assert_eq!(render(&list), crate::yaml::to_string(&list));
        }
    }

    #[test]
    fn shapes_it_does_not_know_are_left_to_the_whole_parse() {
        for text in [
            "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: []\n",
            "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n-\n  a: 1\n",
            "kind: ResourceList\nitems:\n- &x {a: 1}\n- *x\n",
            "kind: ResourceList\nitems:\n- a: 1\n   b: 2\n",
            "kind: ResourceList\nitems:\n- a: 1\nitems:\n- b: 2\n",
            "---\nkind: ResourceList\nitems:\n- a: 1\n",
            "kind: ResourceList\nitems:\n- a:\t1\n",
            "kind: ResourceList\nitems:\n- a: 1\r  b: 2\n",
            "kind: ResourceList\nitems:\n- a: 1\u{2028}b: 2\n",
            "spec: 'a\nitems:\n- b'\n",
            "kind: ResourceList\nitems:\n- a: [1,\n- 2]\n",
            "kind: ResourceList\nitems:\n- a: 1\n  b: [\n",
            "kind: ResourceList\nitems:\n- data:\n    text: |\n      one\n# c\n      more\n",
        ] {
            assert_eq!(parse_items(text), None, "{text}");
        }
        // Nested as deep as a spec may be on its own, but two levels too deep in the list.
        let deep = format!("{}1{}", "[".repeat(63), "]".repeat(63));
        let text = format!("kind: ResourceList\nitems:\n- {deep}\n");
        assert_eq!(parse_items(&text), None);
    }
}
