//! The safe API plugin authors (and kure's built-in generators) write against.
//!
//! Implement [`Generator`] for a type, name its config struct, and export it with
//! [`export_plugin!`](crate::export_plugin). The SDK:
//!
//! - derives the JSON Schema of the config with `schemars`,
//! - decodes and validates each application before calling [`Generator::generate`],
//! - exposes the documentation and examples of [`Generator::documentation`],
//! - catches panics at every entry point and turns them into structured errors, because a
//!   panic that reaches the ABI boundary would end the host process.

mod ffi;

use std::collections::BTreeMap;
use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::abi::Issue;
pub use crate::abi::Requires;
pub use ffi::PluginBuilder;

#[doc(hidden)]
pub mod __private {
    pub use super::ffi::{abi_info, abi_info_requiring, new_plugin, root_module, root_module_with};
}

/// Everything a plugin usually needs, in one `use`.
pub mod prelude {
    pub use super::{
        Application, Documentation, Error, Example, Generator, Issue, JsonArray, Metadata, Object,
        Requires,
    };
    pub use crate::export_plugin;
    pub use schemars::JsonSchema;
    pub use serde::{Deserialize, Serialize};
    pub use serde_json::{json, Value};
}

/// A generated Kubernetes object.
pub type Object = Value;

/// A generator: turns one application spec into Kubernetes objects.
pub trait Generator: Send + Sync + 'static {
    /// The spec (the `spec:` of the application document).
    type Config: DeserializeOwned + schemars::JsonSchema;
    /// `group/version` this generator answers to.
    const API_VERSION: &'static str;
    /// Kind this generator answers to.
    const KIND: &'static str;
    /// Whether [`generate_json`](Generator::generate_json) is the cheaper way to this
    /// generator's objects: set it to `true` when you override `generate_json`, and a host that
    /// runs the generator in its own process (kure's built-ins) asks for the text, not the
    /// values. Across the plugin boundary objects always travel as `generate_json`'s text.
    const WRITES_JSON: bool = false;

    /// Produces the objects. Each must have `apiVersion`, `kind` and `metadata.name`.
    fn generate(&self, app: &Application<Self::Config>) -> Result<Vec<Object>, Error>;

    /// The objects [`generate`](Generator::generate) produces, as the JSON text of an array:
    /// what crosses the plugin boundary. The default serialises `generate`'s values.
    /// Override it when the objects are typed (`Serialize`, such as k8s-openapi's) to write
    /// them straight to text with [`JsonArray`], without building them as values first: the
    /// cheaper path, for a plugin and for the host (then also set
    /// [`WRITES_JSON`](Generator::WRITES_JSON)). It must describe the same objects as
    /// `generate` (kure checks whatever it returns, as it checks `generate`'s).
    fn generate_json(&self, app: &Application<Self::Config>) -> Result<String, Error> {
        serde_json::to_string(&self.generate(app)?).map_err(Error::msg)
    }

    /// Checks what the JSON Schema cannot express (cross-field rules of the spec). Runs before
    /// [`generate`](Generator::generate), and in `kure validate`. Paths in its
    /// [`Error::field`]s are below `spec` (`containers[0].image`). It also runs on a spec
    /// the JSON Schema refused (when it decodes), so that one run reports both kinds of
    /// problems: do not rely on the schema's bounds here.
    fn validate(&self, _config: &Self::Config) -> Result<(), Error> {
        Ok(())
    }

    /// Checks the whole application: its metadata (name, namespace, labels, annotations) as
    /// well as its spec, for rules such as "a CronJob's name is at most 52 characters". Runs
    /// before [`generate`](Generator::generate) and in `kure validate`, so the two agree on
    /// every spec. The default runs [`validate`](Generator::validate) on the spec.
    ///
    /// A field path that starts with `metadata` (`metadata.name`) names the application's
    /// metadata and is reported at its line; every other path is below `spec`. Since
    /// kure-plugin-api 1.5 (feature [`VALIDATE_APPLICATION`](crate::abi::VALIDATE_APPLICATION));
    /// a host built against an older kure-plugin-api runs it inside `generate` only, and its
    /// `kure validate` runs [`validate`](Generator::validate).
    ///
    /// ```
    /// # use kure_plugin_api::sdk::prelude::*;
    /// # #[derive(Deserialize, JsonSchema)] pub struct Backup { schedule: String }
    /// # pub struct BackupGenerator;
    /// impl Generator for BackupGenerator {
    ///     type Config = Backup;
    ///     const API_VERSION: &'static str = "backup.example.com/v1";
    ///     const KIND: &'static str = "PostgresBackup";
    ///
    ///     fn validate_application(&self, app: &Application<Backup>) -> Result<(), Error> {
    ///         if app.metadata.name.len() > 52 {
    ///             return Err(Error::field("metadata.name", "a CronJob name is at most 52 characters"));
    ///         }
    ///         self.validate(&app.spec)
    ///     }
    ///
    ///     fn generate(&self, app: &Application<Backup>) -> Result<Vec<Object>, Error> {
    ///         Ok(vec![])
    ///     }
    /// }
    /// ```
    fn validate_application(&self, app: &Application<Self::Config>) -> Result<(), Error> {
        self.validate(&app.spec)
    }

    /// Documentation, examples and a usage guide shown by `kure explain`.
    fn documentation(&self) -> Documentation {
        Documentation::default()
    }
}

/// Objects written one by one as the JSON text of an array, for
/// [`Generator::generate_json`].
///
/// ```
/// # use kure_plugin_api::sdk::JsonArray;
/// let mut out = JsonArray::new();
/// out.push(&serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}))?;
/// assert_eq!(out.finish(), r#"[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}]"#);
/// # Ok::<(), kure_plugin_api::sdk::Error>(())
/// ```
#[derive(Debug)]
pub struct JsonArray {
    text: Vec<u8>,
}

impl Default for JsonArray {
    fn default() -> Self {
        Self::new()
    }
}

impl JsonArray {
    /// An empty array, with room for a few objects' text (one allocation for most apps).
    pub fn new() -> Self {
        Self {
            text: Vec::with_capacity(4096),
        }
    }

    /// Appends one object, serialised as JSON.
    pub fn push<T: Serialize + ?Sized>(&mut self, object: &T) -> Result<(), Error> {
        self.text
            .push(if self.text.is_empty() { b'[' } else { b',' });
        serde_json::to_writer(&mut self.text, object).map_err(Error::msg)
    }

    /// The array's text.
    pub fn finish(mut self) -> String {
        if self.text.is_empty() {
            self.text.push(b'[');
        }
        self.text.push(b']');
        // serde_json writes UTF-8 only, and the brackets and commas are ASCII.
        String::from_utf8(self.text).unwrap_or_default()
    }
}

/// An application: the document that selected this generator.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Application<C> {
    /// `group/version` of the document.
    pub api_version: String,
    /// Kind of the document.
    pub kind: String,
    /// Name, namespace, labels and annotations.
    pub metadata: Metadata,
    /// The decoded, validated spec.
    pub spec: C,
}

impl<C> Application<C> {
    /// Metadata for an object generated for this app: the given name, the app's namespace,
    /// its labels plus `app: <app name>`, and its annotations.
    pub fn child_metadata(&self, name: &str) -> Value {
        let mut labels = self.metadata.labels.clone();
        labels.insert("app".to_owned(), self.metadata.name.clone());
        let mut meta = serde_json::Map::new();
        meta.insert("name".to_owned(), Value::String(name.to_owned()));
        if let Some(ns) = &self.metadata.namespace {
            meta.insert("namespace".to_owned(), Value::String(ns.clone()));
        }
        meta.insert("labels".to_owned(), serde_json::json!(labels));
        if !self.metadata.annotations.is_empty() {
            meta.insert(
                "annotations".to_owned(),
                serde_json::json!(self.metadata.annotations),
            );
        }
        Value::Object(meta)
    }
}

/// The `metadata:` of an application document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metadata {
    /// Application name; generated objects are named after it.
    pub name: String,
    /// Namespace of the generated objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Labels added to every generated object.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations added to every generated object.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// Documentation for one generator.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Documentation {
    /// Markdown describing the generator and its spec. Empty: the config's doc comment.
    pub documentation: String,
    /// Complete example documents.
    pub examples: Vec<Example>,
    /// How to use it (Markdown).
    pub usage_guide: String,
}

/// One example application document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Example {
    /// Short name, e.g. `minimal`.
    pub name: String,
    /// What it shows.
    pub description: String,
    /// A complete YAML document (apiVersion, kind, metadata, spec).
    pub config: String,
}

impl Example {
    /// Creates an example.
    pub fn new(name: &str, description: &str, config: &str) -> Self {
        Self {
            name: name.to_owned(),
            description: description.to_owned(),
            config: config.to_owned(),
        }
    }
}

/// An error from a generator or validator.
///
/// Any `std::error::Error` converts into it, so `?` works in [`Generator::generate`]. For that
/// reason it cannot itself implement `std::error::Error` (the conversion from every error would
/// then include itself; `anyhow::Error` has the same rule). Where a `std::error::Error` is
/// needed, it dereferences to one (`&*err`, `err.source()`), and `?` turns it into
/// `Box<dyn std::error::Error + Send + Sync>` (which `anyhow` and most error crates accept):
///
/// ```
/// use kure_plugin_api::sdk::Error;
///
/// fn check() -> Result<(), Error> {
///     Err(Error::field("replicas", "must be at most 5"))
/// }
///
/// fn caller() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
///     check()?;
///     Ok(())
/// }
///
/// let err = check().expect_err("invalid");
/// let as_std: &dyn std::error::Error = &*err;
/// assert_eq!(as_std.to_string(), "replicas: must be at most 5");
/// let boxed = caller().expect_err("invalid");
/// assert_eq!(boxed.to_string(), "replicas: must be at most 5");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    inner: ErrorImpl,
}

/// What [`Error`] holds: the part that is a `std::error::Error`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ErrorImpl {
    message: String,
    issues: Vec<Issue>,
}

impl fmt::Display for ErrorImpl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ErrorImpl {}

impl Error {
    fn new(message: String, issues: Vec<Issue>) -> Self {
        Self {
            inner: ErrorImpl { message, issues },
        }
    }

    /// An error with a message.
    pub fn msg(message: impl fmt::Display) -> Self {
        Self::new(message.to_string(), Vec::new())
    }

    /// An error about one field of the spec (`path` like `containers[0].image`).
    pub fn field(path: impl Into<String>, message: impl Into<String>) -> Self {
        let issue = Issue {
            path: path.into(),
            message: message.into(),
        };
        Self::new(format!("{}: {}", issue.path, issue.message), vec![issue])
    }

    /// Several field problems at once.
    pub fn issues(issues: Vec<Issue>) -> Self {
        let message = issues
            .iter()
            .map(|i| format!("{}: {}", i.path, i.message))
            .collect::<Vec<_>>()
            .join("; ");
        Self::new(message, issues)
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// The field problems, if any.
    pub fn field_issues(&self) -> &[Issue] {
        &self.inner.issues
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.inner.message)
    }
}

impl<E: std::error::Error> From<E> for Error {
    fn from(e: E) -> Self {
        Self::msg(e)
    }
}

impl std::ops::Deref for Error {
    type Target = dyn std::error::Error + Send + Sync + 'static;

    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

impl AsRef<dyn std::error::Error + Send + Sync + 'static> for Error {
    fn as_ref(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &self.inner
    }
}

impl From<Error> for Box<dyn std::error::Error + Send + Sync + 'static> {
    fn from(e: Error) -> Self {
        Box::new(e.inner)
    }
}

impl From<Error> for Box<dyn std::error::Error + 'static> {
    fn from(e: Error) -> Self {
        Box::new(e.inner)
    }
}

/// Whether `s` is an RFC 1123 label: what Kubernetes accepts for most names and namespaces
/// (lower-case letters, digits and `-`, starting and ending with a letter or digit, at most 63
/// characters).
#[inline]
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Whether `s` is an RFC 1123 subdomain: what Kubernetes accepts for object names
/// (dot-separated RFC 1123 labels, at most 253 characters). Never `.`, `..` or anything with
/// `/`.
#[inline]
pub fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// The Kubernetes rule a name a generator emits must follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    /// An RFC 1123 label ([`is_dns_label`]): namespaces, volume names.
    Label,
    /// An RFC 1123 subdomain ([`is_dns_subdomain`]): object names.
    Subdomain,
}

/// Why `value`, to be emitted as a `what` (e.g. "Secret name"), is not a name Kubernetes
/// accepts; `None` when it is. The message quotes the value escaped and cut to 120
/// characters, and says the rule.
pub fn name_problem(what: &str, value: &str, rule: NameRule) -> Option<String> {
    let (ok, rule_text) = match rule {
        NameRule::Label => (
            is_dns_label(value),
            "a DNS-1123 label: lower-case letters, digits and `-`, starting and ending with a \
             letter or digit, at most 63 characters",
        ),
        NameRule::Subdomain => (
            is_dns_subdomain(value),
            "a DNS-1123 subdomain: lower-case letters, digits, `-` and `.`, each part starting \
             and ending with a letter or digit, at most 253 characters",
        ),
    };
    if ok {
        return None;
    }
    let mut shown: String = value
        .chars()
        .take(120)
        .collect::<String>()
        .escape_debug()
        .to_string();
    if value.chars().nth(120).is_some() {
        shown.push('…');
    }
    Some(format!(
        "`{shown}` is not a valid {what}: Kubernetes requires {rule_text}"
    ))
}

/// Declares the plugin a `cdylib` exports. Use it once, at the crate root.
///
/// ```ignore
/// export_plugin! {
///     name: "terraform",
///     version: env!("CARGO_PKG_VERSION"),
///     description: "Terraform runs as Kubernetes Jobs",
///     author: "kure authors",
///     // Optional (since 1.4): what it needs besides itself.
///     requires: Requires::new().kure(">=0.1").plugin("base-labels", "^1"),
///     generators: [TerraformGenerator],
/// }
/// ```
///
/// Instead of `generators: [...]`, `builder: some_fn` names a `fn() -> PluginBuilder<S>` for
/// plugins that have state or lifecycle hooks ([`PluginBuilder::with_state`]), optionally
/// followed by `requires: ...`.
#[macro_export]
macro_rules! export_plugin {
    (
        name: $name:expr,
        version: $version:expr,
        description: $description:expr,
        author: $author:expr,
        $(requires: $requires:expr,)?
        generators: [$($generator:expr),* $(,)?] $(,)?
    ) => {
        #[doc(hidden)]
        pub fn __kure_plugin_builder() -> $crate::sdk::PluginBuilder {
            $crate::sdk::PluginBuilder::new($name, $version, $description, $author)
                $(.generator($generator))*
        }
        $crate::export_plugin!(@export __kure_plugin_builder, $crate::export_plugin!(@requires $($requires)?));
    };
    (builder: $builder:path $(, requires: $requires:expr)? $(,)?) => {
        $crate::export_plugin!(@export $builder, $crate::export_plugin!(@requires $($requires)?));
    };
    (@requires) => { $crate::abi::Requires::default() };
    (@requires $requires:expr) => { $requires };
    (@export $builder:path, $requires:expr) => {
        // The SDK catches a plugin's panics before they reach kure; with `panic = "abort"`
        // there is nothing to catch, and a panic would end the host process.
        #[cfg(panic = "abort")]
        compile_error!(
            "kure plugins must be built with `panic = \"unwind\"` (the default): under \
             `panic = \"abort\"` a panic in the plugin would end kure instead of being reported \
             as an error. Remove `panic = \"abort\"` from the plugin's Cargo profile."
        );

        #[doc(hidden)]
        extern "C" fn __kure_new_plugin() -> $crate::__private::abi_stable::std_types::RResult<
            $crate::abi::PluginBox,
            $crate::__private::abi_stable::std_types::RString,
        > {
            $crate::sdk::__private::new_plugin($builder)
        }

        #[doc(hidden)]
        extern "C" fn __kure_abi_info() -> $crate::__private::abi_stable::std_types::RString {
            $crate::sdk::__private::abi_info_requiring(|| $requires)
        }

        #[doc(hidden)]
        fn __kure_root_module() -> $crate::abi::PluginModRef {
            $crate::sdk::__private::root_module_with(__kure_new_plugin, __kure_abi_info)
        }

        #[doc(hidden)]
        extern "C" fn __kure_root_module_loader(
        ) -> $crate::__private::abi_stable::library::RootModuleResult {
            $crate::__private::abi_stable::library::__call_root_module_loader(__kure_root_module)
        }

        /// The library header `abi_stable` looks up when the host loads this plugin.
        #[doc(hidden)]
        #[allow(unsafe_code)]
        #[export_name = "_1as_0lib_1header_0root_bmodule_bloader"]
        pub static __KURE_PLUGIN_LIB_HEADER: $crate::__private::abi_stable::library::LibHeader = {
            // SAFETY: the constructor returns the root module of type `PluginModRef`, which is
            // the type named here, exactly as `#[export_root_module]` would generate it.
            unsafe {
                $crate::__private::abi_stable::library::LibHeader::from_constructor::<
                    $crate::abi::PluginModRef,
                >(
                    __kure_root_module_loader,
                    $crate::__private::abi_stable::library::CheckTypeLayout::Yes,
                )
            }
        };
    };
}

#[cfg(test)]
mod tests {
    /// `export_plugin!` writes the name of abi_stable's library header out (`#[export_name]`
    /// needs a literal): it must be the name abi_stable looks up.
    #[test]
    fn the_exported_header_has_the_name_abi_stable_looks_up() {
        let wanted = format!(
            "#[export_name = \"{}\"]",
            abi_stable::library::ROOT_MODULE_LOADER_NAME
        );
        assert!(include_str!("mod.rs").contains(&wanted), "{wanted}");
    }
}
