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

use serde_json::{json, Map, Value};

use crate::decode::{decode_document, Location};
use crate::engine::Engine;
use crate::error::{Diagnostic, Error};
use crate::gvk::Gvk;

/// `apiVersion` of a ResourceList.
pub const API_VERSION: &str = "config.kubernetes.io/v1";

/// What `kure fn` writes, and whether it failed.
#[derive(Debug)]
pub struct FnOutput {
    /// The output ResourceList.
    pub list: Value,
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

/// Runs the function on `input` (the ResourceList's YAML or JSON text). An input that is not a
/// ResourceList is an `Err`; problems with items are results in the output.
pub fn run(engine: &mut Engine, input: &str) -> Result<FnOutput, Error> {
    let list = crate::parse::parse(input)
        .map_err(|p| bad_list(format!("the input is not a ResourceList: {}", p.message(0))))?;
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
    let items: Vec<Value> = match list.get("items") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => return Err(bad_list("`items` must be a list".to_owned())),
    };
    let config = list.get("functionConfig").filter(|c| !c.is_null());

    // Load the generators the items and the config name (each GVK once); anything else is
    // not kure's to touch.
    let mut gvks: Vec<Gvk> = items.iter().chain(config).filter_map(gvk_of).collect();
    gvks.sort();
    gvks.dedup();
    engine.resolve_gvks(&gvks)?;
    let ours = |v: &Value| gvk_of(v).is_some_and(|g| engine.registry().get(&g).is_some());

    let mut problems: Vec<Diagnostic> = Vec::new();
    // `None`: where a spec's generated objects go.
    let mut out_items: Vec<Option<Value>> = Vec::new();
    let candidates = items
        .iter()
        .enumerate()
        .map(|(i, item)| (origin(item, &format!("items[{i}]")), Some(item)))
        .chain(config.map(|c| (origin(c, "functionConfig"), None)));
    let mut docs = Vec::new();
    for (file, item) in candidates {
        let value = item.or(config).unwrap_or(&Value::Null);
        if !ours(value) {
            if let Some(item) = item {
                out_items.push(Some(item.clone()));
            }
            continue;
        }
        let spec = spec_of(value);
        let text = crate::yaml::to_string(&spec);
        match decode_document(&Location { file, line: 1 }, &text) {
            Ok(Some(doc)) => docs.push(doc),
            Ok(None) => {}
            Err(d) => problems.push(d),
        }
        // The generated objects take the spec item's place.
        out_items.push(None);
    }
    if let Err(e) = engine.validate(&docs) {
        match e {
            Error::Invalid(d) => problems.extend(d),
            other => return Err(other),
        }
    }
    let mut generated: Vec<Option<Vec<Value>>> = Vec::new();
    if problems.is_empty() {
        for doc in &docs {
            match engine.generate_one(doc) {
                Ok(objects) => generated.push(Some(objects)),
                Err(Error::Invalid(d)) => {
                    problems.extend(d);
                    generated.push(None);
                }
                Err(e) => {
                    problems.push(Diagnostic {
                        location: doc.location.clone(),
                        message: e.to_string(),
                        field: None,
                    });
                    generated.push(None);
                }
            }
        }
    }
    // Splice: each placeholder becomes its spec's objects, in order; the config's go last.
    let mut generated = generated.into_iter();
    let mut spliced = Vec::with_capacity(out_items.len());
    for item in out_items {
        match item {
            Some(item) => spliced.push(item),
            None => {
                if let Some(Some(objects)) = generated.next() {
                    spliced.extend(objects);
                }
            }
        }
    }
    for rest in generated.flatten() {
        spliced.extend(rest);
    }
    let failed = !problems.is_empty();
    let mut out = Map::new();
    out.insert("apiVersion".to_owned(), json!(API_VERSION));
    out.insert("kind".to_owned(), json!("ResourceList"));
    out.insert(
        "items".to_owned(),
        Value::Array(if failed { items } else { spliced }),
    );
    if failed {
        out.insert(
            "results".to_owned(),
            Value::Array(problems.iter().map(result).collect()),
        );
    }
    Ok(FnOutput {
        list: Value::Object(out),
        failed,
    })
}
