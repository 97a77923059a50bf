//! `--passthrough`: in a directory that mixes plain manifests with kure specs, a document in
//! an API group kure does not generate for is copied to the output unchanged instead of being
//! refused as a spec: its text as written, comments included, so that kubectl (a YAML 1.1
//! reader) reads exactly what it would have read from the input (`mode: 0644`, `enabled: no`
//! mean something else to a YAML 1.2 reader, which kure is; re-writing the parsed value would
//! change them). `--format json` writes the object as kure read it. kustomize configuration (`kustomize.config.k8s.io`) is not an object: it is skipped
//! and named on stderr, since kure writes its own kustomization files.
//!
//! A copied object is checked as every object kure writes is: its kind, name and namespace
//! become file and directory names under `-o DIR`, so each must be what Kubernetes accepts.

use serde_json::Value;

use super::Emit;
use crate::input::decode::Location;
use crate::model::error::Diagnostic;
use crate::model::gvk::Gvk;
use crate::output::sink::Rendered;
use crate::output::tree::file_stem;
use crate::validate::output::is_kind;

/// The directory of each namespace of the `-o` tree that holds the copied objects. App names
/// are DNS labels, so no app's directory can be this one.
pub(crate) const DIR: &str = "_passthrough";

/// kustomize's own configuration (`Kustomization`, `Component`): not an object to copy.
pub(crate) fn is_kustomize_config(gvk: &Gvk) -> bool {
    gvk.group == "kustomize.config.k8s.io"
}

/// A document copied through.
pub(crate) struct Passed {
    /// Where it starts.
    pub(crate) location: Location,
    /// What it is.
    pub(crate) gvk: Gvk,
    /// Its one object, rendered (`None` once nothing is written).
    pub(crate) rendered: Option<Rendered>,
}

/// Checks one document for copying and renders it as `emit` asks.
pub(super) fn pass(
    location: Location,
    text: &str,
    gvk: Gvk,
    value: Value,
    emit: Emit,
) -> Result<Passed, Diagnostic> {
    if let Some((field, message)) = problem(&value, &gvk) {
        let within = crate::input::position::locate_all(text, &[field]).remove(0);
        return Err(Diagnostic {
            location: Location {
                file: location.file.clone(),
                line: location.line + within.map_or(1, |(line, _)| line) - 1,
                column: within.map(|(_, column)| column),
            },
            message,
            field: Some(field.to_owned()),
        });
    }
    let rendered = match emit {
        Emit::Nothing => None,
        Emit::Yaml => {
            let mut copy = text.trim_end().to_owned();
            copy.push('\n');
            Some(render(&value, copy))
        }
        Emit::Json => Some(render(&value, crate::plugin::json::json_text(&value))),
    };
    Ok(Passed {
        location,
        gvk,
        rendered,
    })
}

fn render(value: &Value, text: String) -> Rendered {
    let namespace = crate::util::field(value, &["metadata", "namespace"])
        .and_then(Value::as_str)
        .unwrap_or("default")
        .to_owned();
    Rendered {
        namespace,
        app: DIR.to_owned(),
        objects: vec![(file_stem(value), text)],
        keys: vec![super::key_hash(value)],
    }
}

/// What keeps a document from being copied: (the field, the message).
fn problem(value: &Value, gvk: &Gvk) -> Option<(&'static str, String)> {
    let what = format!(
        "this {} (apiVersion `{}`) would be copied through unchanged (--passthrough)",
        crate::util::shown(&gvk.kind),
        crate::util::shown(&gvk.api_version())
    );
    if !is_kind(&gvk.kind) {
        return Some((
            "kind",
            format!(
                "{what}, but its kind is not a Kubernetes kind (letters and digits, starting with a letter)"
            ),
        ));
    }
    let metadata = value.get("metadata");
    let name = metadata.and_then(|m| m.get("name"));
    match name.and_then(Value::as_str) {
        Some(n) if crate::util::is_dns_subdomain(n) => {}
        Some(n) => {
            return Some((
                "metadata.name",
                format!(
                    "{what}, but metadata.name `{}` is not a Kubernetes name (lower-case letters, digits, `-` and `.`, at most 253 characters)",
                    crate::util::shown(n)
                ),
            ))
        }
        None => {
            return Some((
                "metadata.name",
                format!("{what}, but it has no metadata.name (a string); every object needs one"),
            ))
        }
    }
    if let Some(bytes) = crate::output::tree::file_name_too_long(value) {
        return Some((
            "metadata.name",
            format!(
                "{what}, but its kind and name make a file name of {bytes} bytes under -o DIR, more than file systems allow (255); shorten the name"
            ),
        ));
    }
    match metadata.and_then(|m| m.get("namespace")) {
        None | Some(Value::Null) => None,
        Some(Value::String(ns)) if kure_plugin_api::sdk::is_dns_label(ns) => None,
        Some(other) => Some((
            "metadata.namespace",
            format!(
                "{what}, but metadata.namespace `{}` is not a namespace name (lower-case letters, digits and `-`, at most 63 characters)",
                crate::util::shown(&other.as_str().map_or_else(|| other.to_string(), str::to_owned))
            ),
        )),
    }
}
