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

use crate::pipeline::{default_jobs, par_owned};
use std::collections::HashMap;
use std::path::PathBuf;

use serde_json::{json, Value};

use crate::generate::engine::Engine;
use crate::input::decode::{decode_value, Location};
use crate::input::split::YAML_SPACE;
use crate::model::error::{Diagnostic, Error};
use crate::model::gvk::Gvk;

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
fn drop_runtime_annotations(v: &mut Value) {
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        if let Some(Value::Object(a)) = meta.get_mut("annotations") {
            a.retain(|k, _| !is_runtime_annotation(k));
            if a.is_empty() {
                meta.remove("annotations");
            }
        }
    }
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
        location: Location::new(PathBuf::from("<stdin>"), 1),
        message,
        field: None,
    }])
}

/// A block-style ResourceList (as kustomize and kpt write it) read item by item, the items on
/// every CPU: `None` when the text is not in that plain shape, or any part does not parse on
/// its own (then the whole text is parsed as one document, and its errors are the reference).
/// The `yaml` fuzz target checks this against parsing the whole text; `kure fn` reads the
/// same way, but parses each item on the worker that processes it.
pub fn parse_items(text: &str) -> Option<Value> {
    let (mut list, items) = split_items(text)?;
    let parsed: Option<Vec<Value>> = par_owned(items, default_jobs(), |part| {
        part.iter().map(|t| parse_item(t)).collect()
    })
    .into_iter()
    .collect();
    list.as_object_mut()?
        .insert("items".to_owned(), Value::Array(parsed?));
    Some(list)
}

/// One item's text (from [`split_items`]) as a value: `None` when it does not parse on its
/// own, or is nested too deep to be two levels down in the list; both are left to the whole
/// parse.
fn parse_item(text: &str) -> Option<Value> {
    crate::input::parse::parse(text)
        .ok()
        .filter(|v| depth(v) + 2 <= crate::input::problem::MAX_DEPTH)
}

/// The list split item by item, without parsing the items: the rest of the list (read, with
/// `items: []`) and each item's text, dedented. `None` when the text is not in the plain
/// shape this reads.
///
/// The shape: top-level keys at column 0, `items:` alone on its line, each item starting with
/// `- ` at one indentation and every other line of it indented two more (blank lines
/// anywhere; no comments). A line at that indentation or less that does not start an item ends
/// the list. Each item, dedented, is a YAML document of its own; the rest (with `items: []`)
/// is another.
fn split_items(text: &str) -> Option<(Value, Vec<String>)> {
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
    let is_blank = crate::input::split::blank_line;
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
            let last = items.last_mut()?;
            last.push_str(rest);
            last.push('\n');
        } else if line.trim_matches(YAML_SPACE).is_empty() {
            if let Some(last) = items.last_mut() {
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
    // Read alone, an item line at column 0 that starts with `---` or `...` is a document
    // marker, and a block scalar's explicit indentation (`|2`) counts from another column:
    // such items are left to the whole parse.
    let marker = |l: &str| l.starts_with("---") || l.starts_with("...");
    if items.iter().any(|t| t.lines().any(marker)) || explicit_indentation(text) {
        return None;
    }
    let mut head = lines[..start].join("\n");
    head.push_str("\nitems: []\n");
    for l in &lines[end..] {
        head.push_str(l);
        head.push('\n');
    }
    let list = crate::input::parse::parse(&head).ok()?;
    // The `items: []` put in its place must read back as the list, or the split was wrong.
    if list.get("items") != Some(&Value::Array(Vec::new())) {
        return None;
    }
    Some((list, items))
}

/// Whether `text` may hold a block scalar header with an indentation indicator (`|2`, `>-1`).
fn explicit_indentation(text: &str) -> bool {
    let b = text.as_bytes();
    (0..b.len()).any(|i| {
        matches!(b[i], b'|' | b'>') && {
            let rest = &b[i + 1..];
            let rest = rest
                .strip_prefix(b"+")
                .or_else(|| rest.strip_prefix(b"-"))
                .unwrap_or(rest);
            rest.first().is_some_and(|c| (b'1'..=b'9').contains(c))
        }
    })
}

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Tuning of `kure fn`.
#[derive(Debug, Clone)]
pub struct FnOptions {
    /// Worker threads.
    pub jobs: usize,
    /// Items per chunk: what is parsed and held at once.
    pub chunk: usize,
}

impl Default for FnOptions {
    fn default() -> Self {
        let p = crate::pipeline::PipelineOptions::default();
        Self {
            jobs: p.jobs,
            chunk: p.chunk,
        }
    }
}

/// `kure fn`: reads a ResourceList of at most `max_bytes` from standard input and runs it
/// through [`run`] with an engine of `session` checked against the lock `lock` names.
pub fn function(
    session: &crate::ops::session::Session,
    lock: &crate::ops::session::LockChoice,
    max_bytes: u64,
    options: &FnOptions,
) -> crate::ops::session::Ran<FnOutput> {
    use crate::ops::session::Ran;
    let mut engine = match session.locked_engine(lock) {
        Ok(e) => e,
        Err(e) => return Ran::early(e),
    };
    let stdin = PathBuf::from("-");
    let result = crate::input::read(&stdin, &PathBuf::from("<stdin>"), max_bytes)
        .and_then(|input| run(&mut engine, &input, options));
    Ran::new(&engine, result)
}

/// An item as it arrives: its text (read item by item) or its value (the whole parse).
enum Raw {
    Text(String),
    Value(Value),
}

/// What a generated app produced, for finding objects two apps produce.
struct Produced {
    location: Location,
    app: String,
    /// (identity hash, `kind-name`, namespace) of each object.
    objects: Vec<(u64, String, String)>,
}

/// What a worker made of one item (or of the functionConfig).
enum Step {
    /// List entries to write (nothing once generation has stopped), and what an app produced.
    Entries(String, Option<Produced>),
    /// What is wrong with a spec.
    Problems(Vec<Diagnostic>),
    /// Its GVK was never looked up: the main thread resolves it, then the item goes again.
    Unresolved(Gvk, Value),
    /// The item's text does not parse on its own: the whole list is read as one document.
    Unreadable,
}

/// What the workers share.
struct Ctx<'a> {
    engine: &'a Engine,
    /// What each GVK met so far is, decided once for the run when it was first met (and, under
    /// a lock, checked against it): a spec to generate (`true`) or an item to pass through.
    decided: &'a HashMap<Gvk, bool>,
    /// Whether specs are generated (until the first problem) or only checked.
    generate: bool,
}

/// One item (`index`; `None` for the functionConfig) through the function: a spec is decoded,
/// checked and generated; anything else is an entry as it came (the functionConfig, if no
/// spec, is not output).
fn step(cx: &Ctx, index: Option<usize>, mut value: Value) -> Step {
    let pass = |v: &Value| match index {
        Some(_) if cx.generate => Step::Entries(entry(v), None),
        _ => Step::Entries(String::new(), None),
    };
    let Some(gvk) = gvk_of(&value) else {
        return pass(&value);
    };
    match cx.decided.get(&gvk) {
        Some(true) => {}
        Some(false) => return pass(&value),
        None => return Step::Unresolved(gvk, value),
    }
    let fallback = index.map_or_else(|| "functionConfig".to_owned(), |i| format!("items[{i}]"));
    let location = Location::new(origin(&value, &fallback), 1);
    drop_runtime_annotations(&mut value);
    // No text: a ResourceList has no lines to point at; results name the file and field.
    let doc = match decode_value(&location, value, String::new()) {
        Ok(doc) => doc,
        Err(d) => return Step::Problems(vec![d]),
    };
    if !cx.generate {
        return match cx.engine.validate(std::slice::from_ref(&doc)) {
            Ok(()) => Step::Entries(String::new(), None),
            Err(e) => Step::Problems(crate::pipeline::generate_problem(&doc, e)),
        };
    }
    match cx.engine.check_and_generate(&doc) {
        Err(e) => Step::Problems(crate::pipeline::generate_problem(&doc, e)),
        Ok(objects) => {
            let namespace = |o: &Value| {
                crate::util::field(o, &["metadata", "namespace"])
                    .and_then(Value::as_str)
                    .unwrap_or("default")
                    .to_owned()
            };
            let produced = Produced {
                objects: objects
                    .iter()
                    .map(|o| {
                        let key = crate::pipeline::key_hash(o);
                        (key, crate::output::tree::file_stem(o), namespace(o))
                    })
                    .collect(),
                location: doc.location,
                app: doc.name,
            };
            Step::Entries(objects.iter().map(entry).collect(), Some(produced))
        }
    }
}

/// Looks up GVKs met for the first time (loading their plugins, and under a lock confirming
/// each against its pin, as [`Engine::resolve_gvks`] does for every command) and decides, once
/// for the run, whether each is kure's to generate (a GVK of a group kure generates for is,
/// whether or not a generator has its kind).
fn decide(
    engine: &mut Engine,
    gvks: &[Gvk],
    decided: &mut HashMap<Gvk, bool>,
) -> Result<(), Error> {
    engine.resolve_gvks(gvks)?;
    for gvk in gvks {
        decided.insert(gvk.clone(), engine.generates_for(gvk));
    }
    Ok(())
}

/// The output's entries, and the problems found.
type Streamed = (Vec<String>, Vec<Diagnostic>);

/// The items through the function, chunk by chunk (each item parsed, checked, generated and
/// written by the worker that has it), then the functionConfig: the output's entries and the
/// problems, or `None` when an item's text did not parse on its own.
fn stream(
    engine: &mut Engine,
    items: Vec<Raw>,
    config: Option<Value>,
    options: &FnOptions,
) -> Result<Option<Streamed>, Error> {
    // Built-ins are kure's from the start; every other GVK is decided when first met.
    let mut decided: HashMap<Gvk, bool> = engine.builtin_gvks().map(|g| (g, true)).collect();
    let mut entries: Vec<String> = Vec::new();
    let mut problems: Vec<Diagnostic> = Vec::new();
    // Object identity -> the app that produced it (kustomize refuses an object twice).
    let mut seen: HashMap<u64, Location> = HashMap::new();
    let mut accept = |step: Step, problems: &mut Vec<Diagnostic>| match step {
        Step::Problems(d) => problems.extend(d),
        Step::Entries(text, produced) => {
            if let Some(p) = produced {
                for (key, stem, namespace) in p.objects {
                    if let Some(other) = seen.get(&key) {
                        problems.push(Diagnostic {
                            location: p.location.clone(),
                            message: format!(
                                "app `{}` produced {stem} in namespace `{namespace}`, which the app at {other} also produced; rename one of the apps",
                                p.app
                            ),
                            field: None,
                        });
                    } else {
                        seen.insert(key, p.location.clone());
                    }
                }
            }
            if problems.is_empty() {
                entries.push(text);
            }
        }
        Step::Unresolved(..) | Step::Unreadable => {}
    };
    let mut numbered = items.into_iter().enumerate();
    loop {
        let chunk: Vec<(usize, Raw)> = numbered.by_ref().take(options.chunk.max(1)).collect();
        if chunk.is_empty() {
            break;
        }
        let generate = problems.is_empty();
        let mut steps = {
            let cx = Ctx {
                engine,
                decided: &decided,
                generate,
            };
            par_owned(chunk, options.jobs, |part| {
                part.into_iter()
                    .map(|(i, raw)| {
                        let value = match raw {
                            Raw::Value(v) => v,
                            Raw::Text(t) => match parse_item(&t) {
                                Some(v) => v,
                                None => return (i, Step::Unreadable),
                            },
                        };
                        (i, step(&cx, Some(i), value))
                    })
                    .collect()
            })
        };
        if steps.iter().any(|(_, s)| matches!(s, Step::Unreadable)) {
            return Ok(None);
        }
        // GVKs met for the first time: looked up (and loaded, under the lock) here, in input
        // order; then their items go through like the others.
        let mut again: Vec<(usize, usize, Value)> = Vec::new();
        let mut gvks: Vec<Gvk> = Vec::new();
        for (n, (i, s)) in steps.iter_mut().enumerate() {
            if matches!(s, Step::Unresolved(..)) {
                if let Step::Unresolved(gvk, value) = std::mem::replace(s, Step::Unreadable) {
                    if !gvks.contains(&gvk) {
                        gvks.push(gvk);
                    }
                    again.push((n, *i, value));
                }
            }
        }
        if !again.is_empty() {
            decide(engine, &gvks, &mut decided)?;
            let cx = Ctx {
                engine,
                decided: &decided,
                generate,
            };
            let redone = par_owned(again, options.jobs, |part| {
                part.into_iter()
                    .map(|(n, i, value)| (n, step(&cx, Some(i), value)))
                    .collect()
            });
            for (n, s) in redone {
                steps[n].1 = s;
            }
        }
        for (_, s) in steps {
            accept(s, &mut problems);
        }
    }
    // The config's objects go last; its GVK is decided first if it is new.
    if let Some(config) = config {
        if let Some(gvk) = gvk_of(&config).filter(|g| !decided.contains_key(g)) {
            decide(engine, &[gvk], &mut decided)?;
        }
        let cx = Ctx {
            engine,
            decided: &decided,
            generate: problems.is_empty(),
        };
        accept(step(&cx, None, config), &mut problems);
    }
    Ok(Some((entries, problems)))
}

/// `value` as an entry of a YAML block sequence at column 0.
fn entry(value: &Value) -> String {
    let text = crate::output::emit::to_string(value);
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

/// The output ResourceList: exactly what [`crate::output::emit::to_string`] writes for it (keys in
/// order: apiVersion, items, kind, results), from entries rendered on every CPU.
fn assemble(entries: &[String], results: Option<Value>) -> String {
    let mut out = format!("apiVersion: {API_VERSION}\n");
    if entries.iter().all(String::is_empty) {
        out.push_str("items: []\n");
    } else {
        out.push_str("items:\n");
        for e in entries {
            out.push_str(e);
        }
    }
    out.push_str("kind: ResourceList\n");
    if let Some(r) = results {
        out.push_str(&crate::output::emit::to_string(&json!({ "results": r })));
    }
    out
}

/// The ResourceList's other keys checked: its items and functionConfig, taken out.
fn take_parts(mut list: Value) -> Result<(Vec<Value>, Option<Value>), Error> {
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
    let items = match list.get_mut("items").map(Value::take) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(bad_list("`items` must be a list".to_owned())),
    };
    let config = list
        .get_mut("functionConfig")
        .map(Value::take)
        .filter(|c| !c.is_null());
    Ok((items, config))
}

/// The input parsed as one document.
fn parse_whole(input: &str) -> Result<Value, Error> {
    crate::input::parse::parse(input)
        .map_err(|p| bad_list(format!("the input is not a ResourceList: {}", p.message(0))))
}

/// Runs the function on `input` (the ResourceList's YAML or JSON text). An input that is not a
/// ResourceList is an `Err`; problems with items are results in the output.
pub fn run(engine: &mut Engine, input: &str, options: &FnOptions) -> Result<FnOutput, Error> {
    let mut outcome = None;
    if let Some((head, texts)) = split_items(input) {
        let (_, config) = take_parts(head)?;
        let raw = texts.into_iter().map(Raw::Text).collect();
        outcome = stream(engine, raw, config, options)?;
    }
    let (entries, problems) = match outcome {
        Some(done) => done,
        None => {
            // Not in the plain shape, or an item that needs the rest of the list to be read.
            let (items, config) = take_parts(parse_whole(input)?)?;
            let raw = items.into_iter().map(Raw::Value).collect();
            stream(engine, raw, config, options)?
                .ok_or_else(|| bad_list("the ResourceList could not be read".to_owned()))?
        }
    };
    if problems.is_empty() {
        return Ok(FnOutput {
            text: assemble(&entries, None),
            failed: false,
        });
    }
    // The items go back unchanged: read again (only on this path) and written as they came.
    let original = match parse_items(input) {
        Some(list) => list,
        None => parse_whole(input)?,
    };
    let (items, _) = take_parts(original)?;
    let entries = par_owned(items, options.jobs, |part| part.iter().map(entry).collect());
    Ok(FnOutput {
        text: assemble(
            &entries,
            Some(Value::Array(problems.iter().map(result).collect())),
        ),
        failed: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The output ResourceList as YAML: exactly [`crate::output::emit::to_string`] of it, its items
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
            return crate::output::emit::to_string(list);
        }
        let entries: Vec<String> = items.iter().map(entry).collect();
        assemble(&entries, list.get("results").cloned())
    }

    fn engine() -> Engine {
        Engine::new(crate::EngineOptions::default())
    }

    fn app(name: &str, pad: &str) -> String {
        format!("{pad}- apiVersion: generators.gokure.dev/v1alpha1\n{pad}  kind: AppWorkload\n{pad}  metadata:\n{pad}    name: {name}\n{pad}    namespace: shop\n{pad}    annotations:\n{pad}      config.kubernetes.io/index: '1'\n{pad}  spec:\n{pad}    workload: Deployment\n{pad}    replicas: 2\n{pad}    containers:\n{pad}    - name: web\n{pad}      image: web:1\n")
    }

    fn options(jobs: usize, chunk: usize) -> FnOptions {
        FnOptions { jobs, chunk }
    }

    #[test]
    fn chunks_and_threads_do_not_change_what_is_written() {
        let mut text =
            String::from("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n");
        for i in 0..150 {
            match i % 3 {
                0 => text.push_str(&app(&format!("a{i}"), "")),
                1 => text.push_str(&format!(
                    "- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: c{i}\n"
                )),
                // A GVK kure looks up (and does not have) in the middle of the stream.
                _ => text.push_str(&format!(
                    "- apiVersion: apps/v1\n  kind: Deployment\n  metadata:\n    name: d{i}\n"
                )),
            }
        }
        text.push_str("functionConfig:\n");
        text.push_str(&app("config", "").replacen("- ", "  ", 1));
        let reference = run(&mut engine(), &text, &options(1, 100_000)).unwrap();
        assert!(!reference.failed, "{}", reference.text);
        let list = crate::input::parse::parse(&reference.text).unwrap();
        let items = list["items"].as_array().unwrap();
        let kinds = |k: &str| items.iter().filter(|o| o["kind"] == k).count();
        // 50 apps and the config make a Deployment each; 50 more pass through.
        assert_eq!(kinds("Deployment"), 51 + 50);
        assert_eq!(kinds("ConfigMap"), 50);
        assert_eq!(items.last().unwrap()["metadata"]["name"], "config");
        // Runtime annotations stay on the items that pass, not on generated objects.
        assert!(!reference.text.contains("index: '1'"));
        for (jobs, chunk) in [(2, 7), (3, 1), (2, 64)] {
            let o = run(&mut engine(), &text, &options(jobs, chunk)).unwrap();
            assert_eq!(o.text, reference.text, "jobs {jobs}, chunk {chunk}");
        }
    }

    #[test]
    fn an_item_that_needs_the_rest_of_the_list_is_read_with_it() {
        // `*base` alone does not parse: the whole list is read as one document instead.
        let text = "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- &base {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n- *base\n";
        assert!(split_items(text).is_some());
        assert_eq!(parse_items(text), None);
        let o = run(&mut engine(), text, &FnOptions::default()).unwrap();
        assert!(!o.failed);
        let list = crate::input::parse::parse(&o.text).unwrap();
        assert_eq!(
            list["items"],
            json!([
                {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}},
                {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}},
            ])
        );
    }

    #[test]
    fn two_apps_making_one_object_is_a_result_and_the_items_go_back() {
        let text = format!(
            "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n{}{}",
            app("web", ""),
            app("web", "")
        );
        let o = run(&mut engine(), &text, &options(2, 1)).unwrap();
        assert!(o.failed, "{}", o.text);
        let list = crate::input::parse::parse(&o.text).unwrap();
        let results = list["results"].as_array().unwrap();
        assert_eq!(results.len(), 1, "{}", o.text);
        let message = results[0]["message"].as_str().unwrap();
        assert!(message.contains("app `web` produced deployment-web in namespace `shop`, which the app at items[0]:1 also produced"), "{message}");
        assert_eq!(results[0]["file"]["path"], "items[1]");
        // The input's items, unchanged.
        assert_eq!(list["items"], parse_items(&text).unwrap()["items"]);
    }

    fn same(text: &str) {
        let items = parse_items(text).unwrap_or_else(|| panic!("not read item by item: {text}"));
        assert_eq!(
            items,
            crate::input::parse::parse(text).expect("whole"),
            "{text}"
        );
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
            assert_eq!(render(&list), crate::output::emit::to_string(&list));
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
            // Found in review: each reads differently alone than in the list.
            "kind: ResourceList\nitems:\n- --- x\n",
            "kind: ResourceList\nitems:\n- hello\n  ...\n",
            "kind: ResourceList\nitems:\n- |2\n    x\n",
            "kind: ResourceList\nitems:\n- a: >-1\n     x\n",
        ] {
            assert_eq!(parse_items(text), None, "{text}");
        }
        // Nested as deep as a spec may be on its own, but two levels too deep in the list.
        let deep = format!("{}1{}", "[".repeat(63), "]".repeat(63));
        let text = format!("kind: ResourceList\nitems:\n- {deep}\n");
        assert_eq!(parse_items(&text), None);
    }
}
