//! What the input stage hands every later stage: one application document, and where things
//! are in the input. (Placing a field within a document is the input stage's job:
//! `Document::locate`.)

use std::fmt;
use std::path::PathBuf;

use serde_json::Value;

use crate::model::gvk::Gvk;

/// Where something is in the input.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    /// The file as given (relative paths stay relative).
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column in characters, when kure knows it (a field placed by the parser, a
    /// syntax error); shown only in `--message-format json`.
    pub column: Option<usize>,
}

impl Location {
    /// A line of `file`, column unknown.
    pub fn new(file: impl Into<PathBuf>, line: usize) -> Self {
        Self {
            file: file.into(),
            line,
            column: None,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", crate::util::shown_path(&self.file), self.line)
    }
}

/// One application document.
#[derive(Debug, Clone)]
pub struct Document {
    /// Where the document starts.
    pub location: Location,
    /// The generator it selects.
    pub gvk: Gvk,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`, if set.
    pub namespace: Option<String>,
    /// The whole document as JSON (apiVersion, kind, metadata, spec).
    pub value: Value,
    /// The document's text, for finding the line of a field.
    pub text: String,
}

impl Document {
    /// The `spec:` of the document (`null` when absent).
    pub fn spec(&self) -> &Value {
        self.value.get("spec").unwrap_or(&Value::Null)
    }
}
