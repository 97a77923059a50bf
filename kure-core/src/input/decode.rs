//! Input decoding: files and directories to application documents, each with file and line.
//!
//! Files are split into documents by `input::split`, so that every document, and every
//! error in it, knows its line.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::input::{self, InputOptions};
pub use crate::model::document::{Document, Location};
use crate::model::error::{Diagnostic, Error};
use crate::model::gvk::Gvk;
use crate::util::closest;

/// The name of an input in messages: the path as given, `<stdin>` for `-f -`.
pub(crate) fn shown_name(file: &Path) -> PathBuf {
    if input::is_stdin(file) {
        PathBuf::from("<stdin>")
    } else {
        file.to_path_buf()
    }
}

const TOP_LEVEL: [&str; 4] = ["apiVersion", "kind", "metadata", "spec"];
const METADATA: [&str; 4] = ["name", "namespace", "labels", "annotations"];

// Placing fields needs the parser's positions, which belong to the input stage.
impl Document {
    /// The location of a field, given its path below the document root (e.g.
    /// `spec.containers[1].image`): the line of the deepest part of the path the document
    /// has, from the parser's positions; the document start when it has none of it (or no
    /// text: `kure fn`'s items).
    pub fn locate(&self, path: &str) -> Location {
        self.locate_all(&[path]).remove(0)
    }

    /// [`locate`](Self::locate) for several paths, in one pass over the document.
    pub fn locate_all(&self, paths: &[&str]) -> Vec<Location> {
        crate::input::position::locate_all(&self.text, paths)
            .into_iter()
            .map(|within| Location {
                file: self.location.file.clone(),
                line: self.location.line + within.map_or(1, |(line, _)| line) - 1,
                column: within.map(|(_, column)| column),
            })
            .collect()
    }
}

/// Reads and decodes every document of the inputs. All problems are collected, so one run
/// reports every broken document.
pub fn decode_inputs(inputs: &[PathBuf], options: &InputOptions) -> Result<Vec<Document>, Error> {
    let files = input::collect_files(inputs, options)?;
    let mut docs = Vec::new();
    let mut problems = Vec::new();
    for file in &files {
        let shown = shown_name(file);
        let text = input::read(file, &shown, options.max_bytes)?;
        decode_str(&shown, &text, &mut docs, &mut problems);
    }
    if !problems.is_empty() {
        return Err(Error::Invalid(problems));
    }
    if docs.is_empty() {
        let names: Vec<String> = inputs.iter().map(|p| p.display().to_string()).collect();
        return Err(Error::NoInput(names.join(", ")));
    }
    Ok(docs)
}

/// The documents of a file's text with their first lines, or what stops the parser from
/// telling where they are (the file is then refused).
pub(crate) fn documents(file: &Path, text: &str) -> Result<Vec<(usize, String)>, Diagnostic> {
    crate::input::split::documents(text)
        .map_err(|p| problem_at(file, (p.line().unwrap_or(1), p.column()), p.message(0)))
}

/// Splits `text` into documents and decodes each, appending to `docs` or `problems`.
pub fn decode_str(
    file: &Path,
    text: &str,
    docs: &mut Vec<Document>,
    problems: &mut Vec<Diagnostic>,
) {
    let pieces = match documents(file, text) {
        Ok(pieces) => pieces,
        Err(d) => return problems.push(d),
    };
    for (line, chunk) in pieces {
        let location = Location::new(file, line);
        match decode_document(&location, &chunk) {
            Ok(Some(doc)) => docs.push(doc),
            Ok(None) => {}
            Err(d) => problems.push(d),
        }
    }
}

/// A problem on `line` (and `column`, when known) of `file`.
fn problem_at(file: &Path, (line, column): (usize, Option<usize>), message: String) -> Diagnostic {
    Diagnostic {
        location: Location {
            file: file.to_path_buf(),
            line,
            column,
        },
        message,
        field: None,
    }
}

pub(crate) fn decode_document(
    location: &Location,
    chunk: &str,
) -> Result<Option<Document>, Diagnostic> {
    match parse_document(location, chunk)? {
        Some(value) => decode_value(location, value, chunk.to_owned()).map(Some),
        None => Ok(None),
    }
}

/// One document's text as a JSON value (`None`: blank), with the parser's problem placed in
/// the file: the fast path for plain block YAML, yaml_serde for everything else, with the
/// depth and duplicate-key checks.
pub(crate) fn parse_document(
    location: &Location,
    chunk: &str,
) -> Result<Option<Value>, Diagnostic> {
    if crate::input::split::is_blank(chunk) {
        return Ok(None);
    }
    crate::input::parse::parse(chunk).map(Some).map_err(|p| {
        let place = match p.line() {
            Some(l) => (location.line + l - 1, p.column()),
            None => (location.line, None),
        };
        problem_at(&location.file, place, p.message(location.line - 1))
    })
}

/// The GVK a parsed document names, if its `apiVersion` and `kind` are strings that make one
/// (otherwise [`decode_value`] says what is wrong).
pub(crate) fn peek_gvk(value: &Value) -> Option<Gvk> {
    let api_version = value.get("apiVersion")?.as_str()?;
    let kind = value.get("kind")?.as_str()?;
    Gvk::parse(api_version, kind).ok()
}

/// The checks of [`decode_document`] on a value already parsed (`kure fn`'s items): `text`
/// finds the line of a field for messages (empty: every message names the document start).
pub(crate) fn decode_value(
    location: &Location,
    value: Value,
    doc_text: String,
) -> Result<Document, Diagnostic> {
    // A problem with the document as a whole, placed at its start.
    let at =
        |message: String| problem_at(&location.file, (location.line, location.column), message);
    let probe = Document {
        location: location.clone(),
        gvk: Gvk {
            group: String::new(),
            version: String::new(),
            kind: String::new(),
        },
        name: String::new(),
        namespace: None,
        value: Value::Null,
        text: doc_text,
    };
    let field_err = |path: &str, message: String| Diagnostic {
        location: probe.locate(path),
        message,
        field: Some(path.to_owned()),
    };
    let Value::Object(map) = &value else {
        return Err(at(
            "expected a mapping with apiVersion, kind, metadata and spec".to_owned(),
        ));
    };
    check_keys(map, &TOP_LEVEL, "").map_err(|(k, m)| field_err(&k, m))?;
    let get_str = |key: &str| -> Result<String, Diagnostic> {
        match map.get(key) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            Some(_) => Err(field_err(
                key,
                format!("`{key}` must be a non-empty string"),
            )),
            None => Err(at(format!(
                "missing `{key}`: every document needs `apiVersion` and `kind` to select a \
                     generator (run `kure gvks` to list them)"
            ))),
        }
    };
    let api_version = get_str("apiVersion")?;
    let kind = get_str("kind")?;
    let gvk =
        Gvk::parse(&api_version, &kind).map_err(|e| field_err("apiVersion", e.to_string()))?;
    let meta = match map.get("metadata") {
        Some(Value::Object(m)) => m,
        Some(_) => {
            return Err(field_err(
                "metadata",
                "`metadata` must be a mapping".to_owned(),
            ))
        }
        None => return Err(at("missing `metadata` with at least `name`".to_owned())),
    };
    check_keys(meta, &METADATA, "metadata.").map_err(|(k, m)| field_err(&k, m))?;
    let name = match meta.get("name") {
        Some(Value::String(s)) if is_dns_label(s) => s.clone(),
        Some(Value::String(s)) => {
            return Err(field_err(
                "metadata.name",
                format!(
                    "metadata.name `{}` is not a valid name: use lower-case letters, digits and \
                     `-`, starting and ending with a letter or digit, at most 63 characters",
                    crate::util::shown(s)
                ),
            ))
        }
        _ => {
            return Err(field_err(
                "metadata",
                "missing `metadata.name` (a string): objects are named after the app".to_owned(),
            ))
        }
    };
    let namespace = match meta.get("namespace") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if is_dns_label(s) => Some(s.clone()),
        Some(_) => return Err(field_err(
            "metadata.namespace",
            "metadata.namespace must be a valid namespace name (lower-case letters, digits, `-`)"
                .to_owned(),
        )),
    };
    for key in ["labels", "annotations"] {
        if let Some(v) = meta.get(key) {
            let ok = v
                .as_object()
                .is_some_and(|m| m.values().all(Value::is_string));
            if !ok {
                return Err(field_err(
                    &format!("metadata.{key}"),
                    format!(
                        "metadata.{key} must map strings to strings (quote numbers and booleans)"
                    ),
                ));
            }
        }
    }
    // Every generated object is labelled `app: <name>` (the SDK's `child_metadata`, and the
    // built-ins' selectors): another `app` label would be replaced without a word.
    if let Some(app) = meta
        .get("labels")
        .and_then(|l| l.get("app"))
        .and_then(Value::as_str)
        .filter(|app| *app != name)
    {
        return Err(field_err(
            "metadata.labels.app",
            format!(
                "metadata.labels.app is `{}`, but kure labels every object of this app `app: {name}` (and selects its pods by it); remove the label, or name the app `{}`",
                crate::util::shown(app),
                crate::util::shown(app)
            ),
        ));
    }
    let mut value = value;
    if let Value::Object(m) = &mut value {
        if m.get("spec").is_none_or(Value::is_null) {
            // A missing spec is an empty one: the schema then names each required field.
            m.insert("spec".to_owned(), Value::Object(Map::new()));
        }
    }
    Ok(Document {
        location: location.clone(),
        gvk,
        name,
        namespace,
        value,
        text: probe.text,
    })
}

fn check_keys(
    map: &Map<String, Value>,
    allowed: &[&str],
    prefix: &str,
) -> Result<(), (String, String)> {
    for key in map.keys() {
        if !allowed.contains(&key.as_str()) {
            let hint = match closest(key, allowed.iter().copied()) {
                Some(c) => format!("did you mean `{c}`?"),
                None => format!("allowed here: {}", allowed.join(", ")),
            };
            let key = crate::util::shown(key);
            return Err((
                format!("{prefix}{key}"),
                format!("unknown field `{prefix}{key}`: {hint}"),
            ));
        }
    }
    Ok(())
}

pub use kure_plugin_api::sdk::is_dns_label;

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(text: &str) -> (Vec<Document>, Vec<Diagnostic>) {
        let (mut d, mut p) = (Vec::new(), Vec::new());
        decode_str(Path::new("apps.yaml"), text, &mut d, &mut p);
        (d, p)
    }

    #[test]
    fn multi_document_lines_are_tracked() {
        let text = "# comment\n---\napiVersion: g.io/v1\nkind: A\nmetadata:\n  name: one\n---\n\napiVersion: g.io/v1\nkind: B\nmetadata:\n  name: two\n  namespace: prod\n";
        let (docs, problems) = decode(text);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].location.line, 3);
        assert_eq!(docs[1].location.line, 8);
        assert_eq!(docs[1].namespace.as_deref(), Some("prod"));
        assert_eq!(docs[1].gvk.kind, "B");
    }

    #[test]
    fn syntax_error_points_at_the_line() {
        let text = "apiVersion: g.io/v1\nkind: A\nmetadata:\n  name: x\n---\napiVersion: g.io/v1\nkind: [unclosed\n";
        let (_, problems) = decode(text);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].message.contains("YAML syntax error"));
        assert!(problems[0].location.line >= 6, "{:?}", problems[0]);
    }

    #[test]
    fn missing_kind_and_unknown_top_level_field() {
        let (_, p) = decode("apiVersion: g.io/v1\nmetadata:\n  name: x\n");
        assert!(p[0].message.contains("missing `kind`"), "{}", p[0].message);
        let (_, p) = decode("apiVersion: g.io/v1\nkind: A\nmetadata:\n  name: x\nspc:\n  a: 1\n");
        assert!(
            p[0].message.contains("did you mean `spec`"),
            "{}",
            p[0].message
        );
        assert_eq!(p[0].location.line, 5);
    }

    #[test]
    fn locate_finds_nested_fields() {
        let (docs, _) = decode("apiVersion: g.io/v1\nkind: A\nmetadata:\n  name: x\nspec:\n  containers:\n    - name: web\n      imagee: nginx\n");
        assert_eq!(docs[0].locate("spec.containers[0].imagee").line, 8);
        assert_eq!(docs[0].locate("spec.nothing").line, 5);
    }
}
