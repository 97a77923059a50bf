//! The frozen stable-ABI surface between the `kure` host and a plugin library.
//!
//! Everything here crosses a dynamic-library boundary, so it uses only `abi_stable` types and
//! is checked by `abi_stable`'s layout checker when a library is loaded. The rules:
//!
//! - The surface is small and does not grow. `abi_stable` refuses a plugin whose prefix types
//!   have fewer fields than the host's (abi_stable issue #118), so appending fields would break
//!   every plugin built before the change.
//! - Evolution happens in data: payloads are JSON strings with the schemas documented below,
//!   and [`AbiInfo`] carries an ABI version number and a feature list the host checks.
//! - No panic may cross the boundary (it would end the host process): the SDK catches them.
//!
//! # Payloads
//!
//! - Generator request: `{"apiVersion", "kind", "metadata": {"name", "namespace"?, "labels"?,
//!   "annotations"?}, "spec": {...}}`.
//! - Generator response: a JSON array of Kubernetes objects.
//! - Validator request: the spec as JSON; or, to a plugin with feature
//!   [`VALIDATE_APPLICATION`] (since 1.5), [`APPLICATION_PREFIX`] followed by the whole
//!   application document as JSON (the generator request): [`validator_request`],
//!   [`ValidatorRequest::parse`]. A plugin without the feature only ever gets a spec, and a
//!   plugin with it gets a bare spec from a host older than 1.5.
//! - Errors: [`ErrorPayload`] as JSON.
//! - Examples: a JSON array of `{"name", "description", "config"}` where `config` is YAML text.
//! - Text results (`json_schema`, `documentation`, `examples`, `usage_guide`) have no error
//!   channel in their signature; they report a failure in data: [`ERROR_TEXT_PREFIX`] followed
//!   by an [`ErrorPayload`] as JSON ([`error_text`], [`parse_text`]). A host never shows such a
//!   text as documentation.

// `#[sabi_trait]` and `StableAbi` expand to `unsafe` impls; no hand-written unsafe lives here.
#![allow(unsafe_code, non_local_definitions)]

use abi_stable::{
    declare_root_module_statics,
    library::RootModule,
    package_version_strings, sabi_trait,
    sabi_types::{RMut, VersionStrings},
    std_types::{RBox, RResult, RStr, RString, RVec},
    StableAbi,
};
use serde::{Deserialize, Serialize};

/// The data-level ABI version this crate speaks. The host refuses plugins with another one.
pub const ABI_VERSION: u32 = 1;

/// Features every plugin built against this crate provides, however it implements the ABI; a
/// host requires some of them ([`check_compatible`]).
pub const FEATURES: &[&str] = &["json-payloads", "validator", "documentation"];

/// [`FEATURES`] plus what a plugin built with the SDK (`export_plugin!`) provides because the
/// SDK implements it: since 1.1, [`GENERATE_VALIDATES`]. [`AbiInfo::sdk`] reports these. A
/// plugin that implements the ABI's traits itself reports [`FEATURES`] (or its own list),
/// never a promise about its `generate` that only the SDK keeps.
pub const SDK_FEATURES: &[&str] = &[
    "json-payloads",
    "validator",
    "documentation",
    GENERATE_VALIDATES,
    VALIDATE_APPLICATION,
];

/// The feature saying that every generator of the plugin runs its own checks (what its
/// validator's `validate` would say, as an `invalid-config` [`ErrorPayload`] with the issues)
/// inside `generate`, on the spec it decodes there. A host that generates need not call the
/// validator first: the spec crosses the boundary and is decoded once. Without it (a plugin
/// built against 1.0) the host calls `validate`, then `generate`.
pub const GENERATE_VALIDATES: &str = "generate-validates";

/// The feature saying that the plugin's validators take the whole application document
/// (metadata included), not only its spec, when the request says so ([`ValidatorRequest`]):
/// since 1.5, where the SDK's `Generator::validate_application` sees the app's name,
/// namespace and labels. A host sends the application only to a plugin with this feature.
pub const VALIDATE_APPLICATION: &str = "validate-application";

/// What starts a validator request that holds a whole application document, not a spec. No
/// JSON text starts with it, so a request is never read as the other kind.
pub const APPLICATION_PREFIX: &str = "application:";

/// What a validator is asked to check ([`Validator::validate`]'s text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValidatorRequest<'a> {
    /// The spec alone, as JSON (every host; the only request before 1.5).
    Spec(&'a str),
    /// The whole application document, as JSON (to a plugin with [`VALIDATE_APPLICATION`]).
    Application(&'a str),
}

impl<'a> ValidatorRequest<'a> {
    /// Tells the two kinds of request apart.
    pub fn parse(text: &'a str) -> Self {
        match text.strip_prefix(APPLICATION_PREFIX) {
            Some(app) => Self::Application(app),
            None => Self::Spec(text),
        }
    }
}

/// The validator request holding the application document `app_json`.
pub fn validator_request(app_json: &str) -> String {
    let mut request = String::with_capacity(APPLICATION_PREFIX.len() + app_json.len());
    request.push_str(APPLICATION_PREFIX);
    request.push_str(app_json);
    request
}

/// Whether a plugin's validators take application documents ([`VALIDATE_APPLICATION`]).
pub fn validates_applications(info: &AbiInfo) -> bool {
    info.features.iter().any(|f| f == VALIDATE_APPLICATION)
}

/// Features a host built with this crate requires of every plugin.
pub const REQUIRED_FEATURES: &[&str] = &["json-payloads"];

/// The compatibility rule, as a host applies it to a plugin's [`AbiInfo`]:
///
/// - the data-level [`ABI_VERSION`] must be equal (it changes only with a new major version of
///   this crate, and `abi_stable` refuses another major version before this is asked);
/// - every feature in the host's [`REQUIRED_FEATURES`] must be in the plugin's list;
/// - features the host does not know are ignored: a plugin built against 1.y loads in a 1.x
///   host, older or newer, as long as it provides what that host requires. New features are
///   only ever added to [`FEATURES`], and a host starts requiring one only when every 1.x SDK
///   that could be in use provides it.
///
/// `Err` names what does not fit, as the end of "plugin X ...".
pub fn check_compatible(plugin: &AbiInfo, required: &[&str]) -> Result<(), String> {
    if plugin.abi_version != ABI_VERSION {
        return Err(format!(
            "speaks kure plugin ABI {}, this kure speaks {ABI_VERSION}",
            plugin.abi_version
        ));
    }
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|f| !plugin.features.iter().any(|p| p == f))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "was built against kure-plugin-api {}, which lacks the feature(s) {} this kure requires",
            plugin.api_crate_version,
            missing.join(", ")
        ))
    }
}

/// The root module every plugin library exports.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginModRef)))]
#[sabi(missing_field(panic))]
pub struct PluginMod {
    /// Returns [`AbiInfo`] as JSON. Cheap, and callable before the plugin is created.
    pub abi_info: extern "C" fn() -> RString,
    /// Creates the plugin object. `Err` holds an [`ErrorPayload`] as JSON.
    #[sabi(last_prefix_field)]
    pub new_plugin: extern "C" fn() -> RResult<PluginBox, RString>,
}

impl RootModule for PluginModRef {
    declare_root_module_statics! {PluginModRef}
    const BASE_NAME: &'static str = "kure_plugin";
    const NAME: &'static str = "kure_plugin";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}

/// What a plugin says about the ABI it was built against (JSON behind [`PluginMod::abi_info`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AbiInfo {
    /// The data-level ABI version ([`ABI_VERSION`] of the plugin's kure-plugin-api).
    pub abi_version: u32,
    /// The kure-plugin-api version the plugin was built with.
    pub api_crate_version: String,
    /// [`FEATURES`] of the plugin's kure-plugin-api.
    pub features: Vec<String>,
    /// What the plugin needs besides itself (since 1.4; absent, and empty, before).
    #[serde(default, skip_serializing_if = "Requires::is_empty")]
    pub requires: Requires,
}

/// What a plugin declares it needs (`requires` in [`AbiInfo`], since kure-plugin-api 1.4): a
/// range of kure versions, a range of the host's kure-plugin-api versions, other plugins (by
/// name and version range) and GVKs some installed generator must provide. Ranges are Cargo's
/// semver requirements (`^1.2`, `>=0.9, <2`). kure checks the ranges whenever it loads the
/// plugin, and `kure plugins install` / `sync` resolve the plugins and GVKs; the lock records
/// what they resolved to.
///
/// ```
/// use kure_plugin_api::abi::Requires;
/// let requires = Requires::new()
///     .kure(">=0.1")
///     .plugin_api("^1.4")
///     .plugin("base-labels", "^1.0")
///     .gvk("generators.gokure.dev/v1alpha1", "AppWorkload");
/// assert_eq!(requires.plugins[0].name, "base-labels");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Requires {
    /// The kure versions the plugin works with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kure: Option<String>,
    /// The host's kure-plugin-api versions the plugin works with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_api: Option<String>,
    /// Plugins that must be installed beside it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plugins: Vec<RequiredPlugin>,
    /// GVKs some installed generator (built in or a plugin) must provide.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gvks: Vec<AbiGvkRef>,
}

/// A plugin another one requires: its name and a semver range of its versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequiredPlugin {
    /// Plugin name.
    pub name: String,
    /// Semver range (`^1.0`, `>=1.2, <3`).
    pub version: String,
}

/// A GVK, as JSON: `{"apiVersion": "group/version", "kind": "Kind"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AbiGvkRef {
    /// `group/version`.
    pub api_version: String,
    /// Kind.
    pub kind: String,
}

impl Requires {
    /// Nothing required.
    pub fn new() -> Self {
        Self::default()
    }

    /// Requires a kure whose version is in `range`.
    #[must_use]
    pub fn kure(mut self, range: &str) -> Self {
        self.kure = Some(range.to_owned());
        self
    }

    /// Requires a host whose kure-plugin-api version is in `range`.
    #[must_use]
    pub fn plugin_api(mut self, range: &str) -> Self {
        self.plugin_api = Some(range.to_owned());
        self
    }

    /// Requires the plugin `name` at a version in `range`.
    #[must_use]
    pub fn plugin(mut self, name: &str, range: &str) -> Self {
        self.plugins.push(RequiredPlugin {
            name: name.to_owned(),
            version: range.to_owned(),
        });
        self
    }

    /// Requires a generator for `api_version` (`group/version`) and `kind`.
    #[must_use]
    pub fn gvk(mut self, api_version: &str, kind: &str) -> Self {
        self.gvks.push(AbiGvkRef {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
        });
        self
    }

    /// Whether nothing is required.
    pub fn is_empty(&self) -> bool {
        self.kure.is_none()
            && self.plugin_api.is_none()
            && self.plugins.is_empty()
            && self.gvks.is_empty()
    }
}

impl AbiInfo {
    /// The `AbiInfo` of a plugin built against this kure-plugin-api that implements the ABI
    /// itself ([`FEATURES`]).
    #[cfg(test)]
    fn current() -> Self {
        Self::with_features(FEATURES)
    }

    /// The `AbiInfo` of a plugin built with this kure-plugin-api's SDK ([`SDK_FEATURES`]).
    pub fn sdk() -> Self {
        Self::with_features(SDK_FEATURES)
    }

    fn with_features(features: &[&str]) -> Self {
        Self {
            abi_version: ABI_VERSION,
            api_crate_version: env!("CARGO_PKG_VERSION").to_owned(),
            features: features.iter().map(|f| (*f).to_owned()).collect(),
            requires: Requires::default(),
        }
    }
}

/// What failed, as an [`ErrorPayload`] says it. On the wire it is a string (the names
/// below), so a kind this crate does not know, from a plugin or host of a later 1.x, is kept
/// as [`ErrorKind::Other`] and shown as it came.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum ErrorKind {
    /// `panic`: the plugin panicked (the SDK caught it at the boundary).
    Panic,
    /// `invalid-config`: the spec is wrong; the payload's issues say where.
    InvalidConfig,
    /// `generate`: the generator failed on a valid spec.
    Generate,
    /// `validate`: the validator failed (not a refusal of the spec).
    Validate,
    /// `initialize`: the plugin's `initialize` failed.
    Initialize,
    /// `shutdown`: the plugin's `shutdown` failed.
    Shutdown,
    /// `health_check`: the plugin reports it cannot work (`health`, from early workers, is
    /// read as this too).
    HealthCheck,
    /// `invalid-output`: the plugin answered something the host cannot use.
    InvalidOutput,
    /// `load`: the library could not be loaded (in a worker).
    Load,
    /// `protocol`: a worker broke kure's worker protocol.
    Protocol,
    /// `worker-crashed`: a worker process died or was stopped.
    WorkerCrashed,
    /// `too-large`: an answer exceeded the host's limit.
    TooLarge,
    /// `worker-timeout`: a worker did not answer within the time limit.
    WorkerTimeout,
    /// `sandbox`: a worker's sandbox could not be set up, so the plugin was not run.
    Sandbox,
    /// `internal`: anything else that went wrong (also what an unreadable payload becomes).
    Internal,
    /// A kind this crate does not know, as it came.
    Other(String),
}

impl ErrorKind {
    /// The kind's name on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            ErrorKind::Panic => "panic",
            ErrorKind::InvalidConfig => "invalid-config",
            ErrorKind::Generate => "generate",
            ErrorKind::Validate => "validate",
            ErrorKind::Initialize => "initialize",
            ErrorKind::Shutdown => "shutdown",
            ErrorKind::HealthCheck => "health_check",
            ErrorKind::InvalidOutput => "invalid-output",
            ErrorKind::Load => "load",
            ErrorKind::Protocol => "protocol",
            ErrorKind::WorkerCrashed => "worker-crashed",
            ErrorKind::TooLarge => "too-large",
            ErrorKind::WorkerTimeout => "worker-timeout",
            ErrorKind::Sandbox => "sandbox",
            ErrorKind::Internal => "internal",
            ErrorKind::Other(s) => s,
        }
    }
}

impl From<String> for ErrorKind {
    fn from(s: String) -> Self {
        match s.as_str() {
            "panic" => ErrorKind::Panic,
            "invalid-config" => ErrorKind::InvalidConfig,
            "generate" => ErrorKind::Generate,
            "validate" => ErrorKind::Validate,
            "initialize" => ErrorKind::Initialize,
            "shutdown" => ErrorKind::Shutdown,
            "health_check" | "health" => ErrorKind::HealthCheck,
            "invalid-output" => ErrorKind::InvalidOutput,
            "load" => ErrorKind::Load,
            "protocol" => ErrorKind::Protocol,
            "worker-crashed" => ErrorKind::WorkerCrashed,
            "too-large" => ErrorKind::TooLarge,
            "worker-timeout" => ErrorKind::WorkerTimeout,
            "sandbox" => ErrorKind::Sandbox,
            "internal" => ErrorKind::Internal,
            _ => ErrorKind::Other(s),
        }
    }
}

impl From<ErrorKind> for String {
    fn from(k: ErrorKind) -> Self {
        match k {
            ErrorKind::Other(s) => s,
            known => known.as_str().to_owned(),
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A structured error, sent across the boundary as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorPayload {
    /// What failed.
    pub kind: ErrorKind,
    /// A one-line description.
    pub message: String,
    /// Field problems, when the error is about the config.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub issues: Vec<Issue>,
}

/// One problem with a field of an application spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Issue {
    /// Dotted path below `spec`, e.g. `containers[0].image`; empty for the spec itself. A path
    /// that starts with `metadata` (`metadata.name`) names the application's metadata instead
    /// ([`document_path`](Issue::document_path)).
    pub path: String,
    /// What is wrong and, where possible, what to do.
    pub message: String,
}

impl Issue {
    /// The field's path in the application document: `spec`, `spec.<path>`, or the path
    /// itself when it names the application's metadata (`metadata`, `metadata.name`,
    /// `metadata.labels.tier`).
    ///
    /// ```
    /// # use kure_plugin_api::abi::Issue;
    /// let at = |path: &str| Issue { path: path.into(), message: String::new() }.document_path();
    /// assert_eq!(at(""), "spec");
    /// assert_eq!(at("containers[0].image"), "spec.containers[0].image");
    /// assert_eq!(at("metadata.name"), "metadata.name");
    /// assert_eq!(at("metadataVersion"), "spec.metadataVersion");
    /// ```
    pub fn document_path(&self) -> String {
        document_path(&self.path)
    }
}

/// [`Issue::document_path`] of an issue at `path`.
pub fn document_path(path: &str) -> String {
    let metadata = path
        .strip_prefix("metadata")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']));
    match path {
        "" => "spec".to_owned(),
        _ if metadata => path.to_owned(),
        _ => format!("spec.{path}"),
    }
}

impl ErrorPayload {
    /// A payload of `kind` saying `message`, with no field issues.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            issues: Vec::new(),
        }
    }

    /// Encodes the payload for the boundary.
    pub fn to_rstring(&self) -> RString {
        // Serializing plain strings into JSON cannot fail.
        RString::from(serde_json::to_string(self).unwrap_or_else(|_| String::from("{}")))
    }

    /// Decodes a payload, falling back to an `internal` error holding the raw text.
    pub fn from_str_lossy(raw: &str) -> Self {
        serde_json::from_str(raw).unwrap_or_else(|_| Self {
            kind: ErrorKind::Internal,
            message: raw.to_owned(),
            issues: Vec::new(),
        })
    }
}

/// Starts a text result that is really an error (see the module docs). A NUL byte cannot
/// start Markdown, JSON or YAML that anyone meant to show.
pub const ERROR_TEXT_PREFIX: &str = "\u{0}kure-error\u{0}";

/// Encodes `error` as a text result (see [`ERROR_TEXT_PREFIX`]).
pub fn error_text(error: &ErrorPayload) -> RString {
    let mut s = String::from(ERROR_TEXT_PREFIX);
    s.push_str(&error.to_rstring());
    RString::from(s)
}

/// Decodes a text result: the text, or the error it carries.
pub fn parse_text(text: &str) -> Result<&str, ErrorPayload> {
    match text.strip_prefix(ERROR_TEXT_PREFIX) {
        Some(payload) => Err(ErrorPayload::from_str_lossy(payload)),
        None => Ok(text),
    }
}

/// A group/version/kind as it crosses the boundary.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct AbiGvk {
    /// `group/version`, or `v1` for the core group.
    pub api_version: RString,
    /// The kind.
    pub kind: RString,
}

/// Plugin metadata.
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct PluginMetadata {
    /// Plugin name: letters, digits, `-` and `_`.
    pub name: RString,
    /// Semantic version of the plugin.
    pub version: RString,
    /// One line about what it generates.
    pub description: RString,
    /// Who wrote it.
    pub author: RString,
}

/// A plugin, created by [`PluginMod::new_plugin`].
#[sabi_trait]
pub trait Plugin: Send + Sync {
    /// Name, version, description and author.
    fn metadata(&self) -> PluginMetadata;
    /// Every GVK this plugin registers a generator for.
    fn supported_gvks(&self) -> RVec<AbiGvk>;
    /// Registers generators, validators and documentation with the host.
    fn register(&self, registry: &mut RegistryMut<'_>) -> RResult<(), RString>;
    /// Called once before the first generator call. `Err` holds an [`ErrorPayload`].
    fn initialize(&mut self) -> RResult<(), RString>;
    /// Called once when the host is done with the plugin.
    fn shutdown(&mut self);
    /// Reports whether the plugin can work. `Err` holds an [`ErrorPayload`].
    #[sabi(last_prefix_field)]
    fn health_check(&self) -> RResult<(), RString>;
}

/// An owned plugin object.
pub type PluginBox = Plugin_TO<'static, RBox<()>>;

/// Implemented by the host: takes what a plugin provides, per GVK.
#[sabi_trait]
pub trait Registry {
    /// Registers the generator for `gvk`. `Err` says why the host refused it.
    fn register_generator(&mut self, gvk: AbiGvk, generator: GeneratorBox) -> RResult<(), RString>;
    /// Registers the validator for `gvk`.
    fn register_validator(&mut self, gvk: AbiGvk, validator: ValidatorBox) -> RResult<(), RString>;
    /// Registers the documentation provider for `gvk`.
    #[sabi(last_prefix_field)]
    fn register_documentation(
        &mut self,
        gvk: AbiGvk,
        docs: DocumentationProviderBox,
    ) -> RResult<(), RString>;
}

/// A borrowed host registry.
pub type RegistryMut<'a> = Registry_TO<'a, RMut<'a, ()>>;

/// Turns an application (JSON) into Kubernetes objects (a JSON array).
#[sabi_trait]
pub trait Generator: Send + Sync {
    /// `Ok` holds the objects as a JSON array; `Err` an [`ErrorPayload`].
    #[sabi(last_prefix_field)]
    fn generate(&self, request: RStr<'_>) -> RResult<RString, RString>;
}

/// An owned generator.
pub type GeneratorBox = Generator_TO<'static, RBox<()>>;

/// Checks an application's spec before generation.
#[sabi_trait]
pub trait Validator: Send + Sync {
    /// The JSON Schema of the spec.
    fn json_schema(&self) -> RString;
    /// Validates a spec, or an application document ([`ValidatorRequest`]). `Err` holds an
    /// [`ErrorPayload`] with the issues.
    #[sabi(last_prefix_field)]
    fn validate(&self, spec: RStr<'_>) -> RResult<(), RString>;
}

/// An owned validator.
pub type ValidatorBox = Validator_TO<'static, RBox<()>>;

/// Documentation for one GVK.
#[sabi_trait]
pub trait DocumentationProvider: Send + Sync {
    /// Markdown documentation of the spec.
    fn documentation(&self) -> RString;
    /// Examples as JSON: `[{"name", "description", "config"}]`, `config` being YAML.
    fn examples(&self) -> RString;
    /// A short usage guide (Markdown).
    #[sabi(last_prefix_field)]
    fn usage_guide(&self) -> RString;
}

/// An owned documentation provider.
pub type DocumentationProviderBox = DocumentationProvider_TO<'static, RBox<()>>;

#[cfg(test)]
mod tests {
    use super::*;

    fn info(abi: u32, api: &str, features: &[&str]) -> AbiInfo {
        AbiInfo {
            abi_version: abi,
            api_crate_version: api.to_owned(),
            features: features.iter().map(|f| (*f).to_owned()).collect(),
            requires: Requires::default(),
        }
    }

    /// `requires` is optional both ways: a plugin built before 1.4 sends none, and a host
    /// before 1.4 (which has no such field) ignores it.
    #[test]
    fn requires_is_optional_on_the_wire() {
        let old: AbiInfo = serde_json::from_str(
            r#"{"abiVersion":1,"apiCrateVersion":"1.2.0","features":["json-payloads"]}"#,
        )
        .unwrap();
        assert!(old.requires.is_empty());
        assert!(!serde_json::to_string(&old).unwrap().contains("requires"));
        let mut new = AbiInfo::sdk();
        new.requires = Requires::new().kure(">=0.1").plugin("base", "^1");
        let json = serde_json::to_string(&new).unwrap();
        assert!(
            json.contains(
                r#""requires":{"kure":">=0.1","plugins":[{"name":"base","version":"^1"}]}"#
            ),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<AbiInfo>(&json).unwrap(), new);
    }

    /// Which 1.x plugin loads in which 1.y host: the data-level ABI must match, the host's
    /// required features must be there, and features the host does not know are ignored.
    #[test]
    fn compatibility_rule() {
        // This SDK's own plugins load in this host.
        assert_eq!(
            check_compatible(&AbiInfo::current(), REQUIRED_FEATURES),
            Ok(())
        );
        // A newer 1.y plugin with features this host does not know.
        let newer = info(
            1,
            "1.4.0",
            &["json-payloads", "validator", "streaming", "x-future"],
        );
        assert_eq!(check_compatible(&newer, REQUIRED_FEATURES), Ok(()));
        // An older plugin lacking a feature a (future) host requires: refused, named.
        let older = info(1, "1.0.0", &["json-payloads", "validator"]);
        let e = check_compatible(&older, &["json-payloads", "streaming"]).unwrap_err();
        assert!(
            e.contains("1.0.0") && e.contains("streaming") && !e.contains("json-payloads"),
            "{e}"
        );
        // Another data-level ABI.
        let e = check_compatible(&info(2, "2.0.0", FEATURES), REQUIRED_FEATURES).unwrap_err();
        assert!(
            e.contains("ABI 2") && e.contains(&format!("speaks {ABI_VERSION}")),
            "{e}"
        );
        // Every required feature is one the SDK provides.
        assert!(REQUIRED_FEATURES.iter().all(|f| FEATURES.contains(f)));
        assert!(FEATURES.iter().all(|f| SDK_FEATURES.contains(f)));
        // Only the SDK promises that generate runs the plugin's own checks.
        assert!(!AbiInfo::current()
            .features
            .iter()
            .any(|f| f == GENERATE_VALIDATES));
        assert!(AbiInfo::sdk()
            .features
            .iter()
            .any(|f| f == GENERATE_VALIDATES));
    }

    #[test]
    fn error_kinds_keep_their_wire_names_and_unknown_kinds_survive() {
        // The names 1.0 sent as strings: the typed kind writes and reads exactly them.
        for name in [
            "panic",
            "invalid-config",
            "generate",
            "validate",
            "initialize",
            "shutdown",
            "health_check",
            "invalid-output",
            "load",
            "protocol",
            "worker-crashed",
            "too-large",
            "worker-timeout",
            "sandbox",
            "internal",
        ] {
            let kind = ErrorKind::from(name.to_owned());
            assert!(!matches!(kind, ErrorKind::Other(_)), "{name}");
            assert_eq!(kind.as_str(), name);
            let json = serde_json::to_string(&ErrorPayload::new(kind.clone(), "m")).unwrap();
            assert!(json.contains(&format!("\"kind\":\"{name}\"")), "{json}");
            assert_eq!(ErrorPayload::from_str_lossy(&json).kind, kind);
        }
        assert_eq!(ErrorKind::from("health".to_owned()), ErrorKind::HealthCheck);
        let future = ErrorPayload::from_str_lossy(r#"{"kind":"quota","message":"m"}"#);
        assert_eq!(future.kind, ErrorKind::Other("quota".into()));
        assert_eq!(
            serde_json::to_value(&future).unwrap()["kind"],
            serde_json::json!("quota")
        );
    }

    #[test]
    fn error_texts_are_told_apart_from_documentation() {
        let e = ErrorPayload {
            kind: ErrorKind::Panic,
            message: "documentation panicked".into(),
            issues: vec![],
        };
        assert_eq!(parse_text(&error_text(&e)), Err(e));
        assert_eq!(parse_text("# Docs"), Ok("# Docs"));
        assert_eq!(parse_text(""), Ok(""));
    }

    #[test]
    fn error_payload_round_trips_and_tolerates_garbage() {
        let p = ErrorPayload {
            kind: ErrorKind::Panic,
            message: "boom".into(),
            issues: vec![],
        };
        assert_eq!(ErrorPayload::from_str_lossy(&p.to_rstring()), p);
        let raw = ErrorPayload::from_str_lossy("not json");
        assert_eq!(raw.kind, ErrorKind::Internal);
        assert_eq!(raw.message, "not json");
    }
}
