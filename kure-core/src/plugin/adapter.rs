//! The ABI adapter: what a loaded plugin registers, as [`DynGenerator`], the same interface
//! built-in generators implement; every call contained and audited.

use kure_plugin_api::abi::ErrorKind;
use std::mem::ManuallyDrop;
use std::sync::{Arc, Mutex, OnceLock};

use abi_stable::std_types::RString;
use kure_plugin_api::abi::{
    parse_text, AbiInfo, DocumentationProviderBox, ErrorPayload, GeneratorBox, PluginBox,
    ValidatorBox,
};
use kure_plugin_api::host::DynGenerator;
use kure_plugin_api::sdk::{Documentation, Example};
use serde_json::Value;

use crate::plugin::contain;

use super::json::*;

/// The plugin object. It is never dropped (`ManuallyDrop`): its destructor is plugin code, and
/// the library is never unloaded anyway, so no plugin code runs after kure's last call.
pub(super) struct Shared {
    /// `plugin NAME@VERSION`, what every contained call names.
    pub(super) who: String,
    pub(super) name: String,
    pub(super) version: String,
    pub(super) sha256: String,
    pub(super) signer: String,
    pub(super) plugin: Mutex<ManuallyDrop<PluginBox>>,
    pub(super) init: OnceLock<Result<(), String>>,
}

impl Shared {
    pub(super) fn call<R>(&self, entry: &str, f: impl FnOnce() -> R) -> R {
        contain::call(&self.who, entry, f)
    }

    /// [`call`](Self::call), recorded in the audit log when one is open: `kind` names the
    /// error kind of a failed call.
    pub(super) fn audited<T, E>(
        &self,
        entry: &str,
        gvk: Option<&str>,
        f: impl FnOnce() -> Result<T, E>,
        kind: impl FnOnce(&E) -> String,
    ) -> Result<T, E> {
        if !crate::trust::audit::enabled() {
            return self.call(entry, f);
        }
        let start = std::time::Instant::now();
        let result = self.call(entry, f);
        let app = contain::current_app();
        crate::trust::audit::record(&crate::trust::audit::Record {
            time: crate::util::now_rfc3339(),
            plugin: &self.name,
            version: &self.version,
            sha256: &self.sha256,
            signer: &self.signer,
            isolation: "in-process",
            entry,
            gvk,
            location: app.as_ref().map(|a| a.1.clone()),
            app: app.map(|a| a.0),
            duration_us: start.elapsed().as_micros() as u64,
            outcome: match &result {
                Ok(_) => "ok".to_owned(),
                Err(e) => kind(e),
            },
        });
        result
    }

    pub(super) fn ensure_initialized(&self) -> Result<(), String> {
        self.init
            .get_or_init(|| {
                let mut p = self
                    .plugin
                    .lock()
                    .map_err(|_| "plugin lock poisoned".to_owned())?;
                self.audited(
                    "initialize",
                    None,
                    || p.initialize().into_result(),
                    |e| ErrorPayload::from_str_lossy(e).kind.to_string(),
                )
                .map_err(|e| {
                    format!(
                        "initialize failed: {}",
                        ErrorPayload::from_str_lossy(&e).message
                    )
                })?;
                self.audited(
                    "health_check",
                    None,
                    || p.health_check().into_result(),
                    |e| ErrorPayload::from_str_lossy(e).kind.to_string(),
                )
                .map_err(|e| {
                    format!(
                        "health_check failed: {}",
                        ErrorPayload::from_str_lossy(&e).message
                    )
                })
            })
            .clone()
    }
}

/// One GVK of a loaded plugin. The ABI objects are never dropped (see [`Shared`]).
pub(super) struct PluginGenerator {
    pub(super) api_version: String,
    pub(super) kind: String,
    /// `apiVersion/Kind`, for audit records.
    pub(super) gvk: String,
    pub(super) shared: Arc<Shared>,
    pub(super) generator: ManuallyDrop<GeneratorBox>,
    pub(super) validator: ManuallyDrop<ValidatorBox>,
    pub(super) docs: Option<ManuallyDrop<DocumentationProviderBox>>,
    /// Its `generate` runs its own checks (feature `generate-validates`).
    pub(super) validates: bool,
    /// Its validator takes application documents (feature `validate-application`).
    pub(super) validates_apps: bool,
}

/// Whether a plugin's generators run their own checks inside `generate` (it was built
/// against an SDK with feature [`GENERATE_VALIDATES`](kure_plugin_api::abi::GENERATE_VALIDATES)).
pub(crate) fn generates_validated(info: &AbiInfo) -> bool {
    info.features
        .iter()
        .any(|f| f == kure_plugin_api::abi::GENERATE_VALIDATES)
}

impl PluginGenerator {
    /// Calls a text entry point of the plugin; an error text is an error, never the text.
    pub(super) fn text(
        &self,
        entry: &str,
        f: impl FnOnce() -> RString,
    ) -> Result<String, ErrorPayload> {
        let text = self.shared.call(entry, f);
        parse_text(&text).map(str::to_owned)
    }

    /// The plugin's answer to `generate` on `request`, as the plugin's own string (kept, not
    /// copied, until the host has read it).
    pub(super) fn answer(&self, request: &str) -> Result<RString, ErrorPayload> {
        self.shared.ensure_initialized().map_err(|m| ErrorPayload {
            kind: ErrorKind::Initialize,
            message: format!("{} failed to start: {m}", self.shared.who),
            issues: Vec::new(),
        })?;
        self.shared
            .audited(
                "generate",
                Some(&self.gvk),
                || self.generator.generate(request.into()).into_result(),
                |e| ErrorPayload::from_str_lossy(e).kind.to_string(),
            )
            .map_err(|e| ErrorPayload::from_str_lossy(&e))
    }
}

impl DynGenerator for PluginGenerator {
    fn api_version(&self) -> &str {
        &self.api_version
    }

    fn kind(&self) -> &str {
        &self.kind
    }

    fn json_schema(&self) -> Result<Value, ErrorPayload> {
        let v = &self.validator;
        let text = self.text("json_schema", || v.json_schema())?;
        serde_json::from_str(&text).map_err(|e| ErrorPayload {
            kind: ErrorKind::InvalidOutput,
            message: format!("json_schema returned invalid JSON ({e})"),
            issues: Vec::new(),
        })
    }

    fn validate(&self, spec: &Value) -> Result<(), ErrorPayload> {
        self.validate_json(&json_text(spec))
    }

    /// The spec's JSON goes to the plugin as is (the worker gets JSON text).
    fn validate_json(&self, spec: &str) -> Result<(), ErrorPayload> {
        let v = &self.validator;
        self.shared
            .audited(
                "validate",
                Some(&self.gvk),
                || v.validate(spec.into()).into_result(),
                |e| ErrorPayload::from_str_lossy(e).kind.to_string(),
            )
            .map_err(|e| ErrorPayload::from_str_lossy(&e))
    }

    /// To a plugin whose validator takes applications, the whole document (its metadata
    /// checks run too); to an older one, its spec.
    fn validate_application(&self, app: &Value) -> Result<(), ErrorPayload> {
        self.validate_json(&crate::plugin::json::validator_text(
            app,
            self.validates_apps,
        ))
    }

    fn generate_validates(&self) -> bool {
        self.validates
    }

    fn generate(&self, app: &Value) -> Result<Vec<Value>, ErrorPayload> {
        parse_objects(&self.generate_text(app)?)
    }

    fn generate_text(&self, app: &Value) -> Result<RString, ErrorPayload> {
        with_json_text(app, |request| self.answer(request))
    }

    fn answers_in_text(&self) -> bool {
        true
    }

    /// Request and answer cross as JSON text, untouched: in a worker they go straight on to
    /// kure, which parses and checks the answer ([`generate`](Self::generate) here).
    fn generate_json(&self, request: &str) -> Result<String, ErrorPayload> {
        self.answer(request).map(String::from)
    }

    fn documentation(&self) -> Result<Documentation, ErrorPayload> {
        let Some(d) = &self.docs else {
            return Ok(Documentation::default());
        };
        let documentation = self.text("documentation", || d.documentation())?;
        let examples = self.text("examples", || d.examples())?;
        let usage_guide = self.text("usage_guide", || d.usage_guide())?;
        Ok(Documentation {
            documentation,
            examples: serde_json::from_str::<Vec<Example>>(&examples).map_err(|e| {
                ErrorPayload {
                    kind: ErrorKind::InvalidOutput,
                    message: format!("examples returned invalid JSON ({e})"),
                    issues: Vec::new(),
                }
            })?,
            usage_guide,
        })
    }
}
