//! Typed errors of kure-core. Every message says what is wrong, where, and what to do.

use std::fmt;
use std::path::PathBuf;

use crate::model::document::Location;
use crate::model::gvk::Gvk;

/// A problem found in one input document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// File and line.
    pub location: Location,
    /// What is wrong and what to do.
    pub message: String,
    /// The field it is about, as a path from the document root (`spec.replicas`,
    /// `metadata.name`, `kind`), when it is about one field.
    pub field: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// Everything that can go wrong in kure-core.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// An apiVersion/kind pair that is not a GVK.
    #[error(transparent)]
    InvalidGvk(#[from] crate::model::gvk::GvkError),
    /// One or more input documents are invalid (syntax, structure, schema, unknown GVK).
    #[error("{}", format_diagnostics(.0))]
    Invalid(Vec<Diagnostic>),
    /// No input files were found.
    #[error(
        "no YAML documents found in {0}: pass files or directories containing *.yaml or *.yml"
    )]
    NoInput(String),
    /// Two providers claim one GVK.
    #[error("{gvk} is provided by both {first} and {second}: choose one for this run with `--plugin PATH`, or remove the other from the plugin directories")]
    DuplicateGvk {
        /// The contested GVK.
        gvk: Gvk,
        /// The provider registered first.
        first: String,
        /// The provider that tried to register second.
        second: String,
    },
    /// Two libraries declare the same plugin name.
    #[error("two libraries call themselves plugin `{name}`: {} and {}; plugin names must be unique across the store and the plugin directories, so remove one of them", first.display(), second.display())]
    DuplicatePlugin {
        /// The name.
        name: String,
        /// The library loaded first.
        first: PathBuf,
        /// The other one.
        second: PathBuf,
    },
    /// No generator is registered for a GVK (used by `schema` and `explain`).
    #[error("no generator for {what}{}", suggest(.suggestions))]
    UnknownGenerator {
        /// What was asked for.
        what: String,
        /// Close registered GVKs.
        suggestions: Vec<String>,
    },
    /// A kind several API groups provide, asked for without an apiVersion.
    #[error("kind `{kind}` is provided by several API groups ({}); pick one with --api-version", api_versions.join(", "))]
    AmbiguousKind {
        /// The kind.
        kind: String,
        /// The apiVersions that provide it.
        api_versions: Vec<String>,
    },
    /// A key or a signature was refused, or the trusted signers cannot be changed as asked.
    #[error("{0}")]
    Trust(String),
    /// An OCI registry refused, failed or sent something kure does not accept; nothing was
    /// installed or changed.
    #[error("{0}")]
    Registry(String),
    /// A generator could not describe itself (its documentation or JSON Schema).
    #[error("{0}")]
    Describe(String),
    /// A plugin could not be loaded.
    #[error(transparent)]
    Load(#[from] crate::plugin::LoadError),
    /// A plugin's process-isolation worker could not be started or refused to serve.
    #[error(transparent)]
    Worker(#[from] crate::plugin::WorkerError),
    /// A generator failed on one application.
    #[error("{location}: app `{app}` ({gvk}): {provider} failed: {message}")]
    Generate {
        /// Where the application is.
        location: Location,
        /// The application's name.
        app: String,
        /// Its GVK.
        gvk: Gvk,
        /// Built-in or plugin name@version.
        provider: String,
        /// What went wrong.
        message: String,
    },
    /// A plugin failed in `shutdown` (in a worker process): nothing of the run was written.
    #[error("{0}; nothing was written")]
    Shutdown(String),
    /// The configuration file is invalid.
    #[error("{}: {reason}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The plugin store refused an operation or is damaged; nothing was changed.
    #[error("{0}")]
    Store(String),
    /// What plugins require of each other cannot be met: a conflict, a requirement no index
    /// satisfies, or a change that would leave a requirement unmet. Nothing was changed.
    #[error("{0}")]
    Requires(String),
    /// The lock file does not match the plugins that would run.
    #[error("{}: {reason}", path.display())]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// What differs and what to do.
        reason: String,
    },
    /// An input could not be read as a spec file (not a regular file, too big, not UTF-8, a
    /// link loop).
    #[error("{}: {reason}", crate::util::shown_path(path))]
    Input {
        /// The input as given.
        path: PathBuf,
        /// Why, and what to do.
        reason: String,
    },
    /// The output directory could not be written; the previous output is untouched.
    #[error("cannot write output {}: {reason}", path.display())]
    Output {
        /// The output directory.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

impl Error {
    /// The problems this error is made of, each with its file, line and field, for
    /// machine-readable output (`--message-format json`, `kure fn` results): every problem of
    /// invalid input, or the one application a generator failed on. Empty for errors that are
    /// about no input document (a refused plugin, an unreadable store).
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        match self {
            Error::Invalid(d) => d.clone(),
            Error::Generate { location, .. } => vec![Diagnostic {
                location: location.clone(),
                message: self.to_string(),
                field: None,
            }],
            _ => Vec::new(),
        }
    }
}

fn format_diagnostics(d: &[Diagnostic]) -> String {
    let mut s = match d.len() {
        1 => String::new(),
        n => format!("{n} problems in the input:\n"),
    };
    let lines: Vec<String> = d.iter().map(ToString::to_string).collect();
    s.push_str(&lines.join("\n"));
    s
}

fn suggest(s: &[String]) -> String {
    if s.is_empty() {
        "; run `kure gvks` to list the registered generators".to_owned()
    } else {
        format!("; did you mean {}?", s.join(" or "))
    }
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
