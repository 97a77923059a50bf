//! The host side of the ABI: loading one library and adapting what it registers to
//! [`DynGenerator`], the same interface built-in generators implement.

use std::collections::BTreeSet;
use std::mem::ManuallyDrop;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use abi_stable::library::{lib_header_from_path, LibraryError};
use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RResult, RString};
use kure_plugin_api::abi::{
    parse_text, AbiGvk, AbiInfo, DocumentationProviderBox, ErrorPayload, GeneratorBox, PluginBox,
    PluginModRef, Registry, Registry_TO, ValidatorBox, REQUIRED_FEATURES,
};
use kure_plugin_api::sdk::{Documentation, DynGenerator, Example};
use serde_json::Value;

use super::{LoadError, Sealed, Staging};
use crate::model::gvk::Gvk;
use crate::plugin::contain;
use crate::trust::{Admission, TrustPolicy};

/// The kure-plugin-api version this host was built with (from the crate, never a literal).
pub const API_VERSION: &str = kure_plugin_api::VERSION;

/// The plugin object. It is never dropped (`ManuallyDrop`): its destructor is plugin code, and
/// the library is never unloaded anyway, so no plugin code runs after kure's last call.
struct Shared {
    /// `plugin NAME@VERSION`, what every contained call names.
    who: String,
    name: String,
    version: String,
    sha256: String,
    signer: String,
    plugin: Mutex<ManuallyDrop<PluginBox>>,
    init: OnceLock<Result<(), String>>,
}

impl Shared {
    fn call<R>(&self, entry: &str, f: impl FnOnce() -> R) -> R {
        contain::call(&self.who, entry, f)
    }

    /// [`call`](Self::call), recorded in the audit log when one is open: `kind` names the
    /// error kind of a failed call.
    fn audited<T, E>(
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

    fn ensure_initialized(&self) -> Result<(), String> {
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
                    |e| ErrorPayload::from_str_lossy(e).kind,
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
                    |e| ErrorPayload::from_str_lossy(e).kind,
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

/// A loaded plugin library.
pub struct LoadedPlugin {
    /// Plugin name.
    pub name: String,
    /// Plugin version.
    pub version: String,
    /// Description.
    pub description: String,
    /// Author.
    pub author: String,
    /// The library file.
    pub path: PathBuf,
    /// How the library was admitted.
    pub admission: Admission,
    /// SHA-256 of the library's bytes, hex.
    pub sha256: String,
    /// What the library reported about its build (checked while loading).
    pub abi_info: AbiInfo,
    /// Its generators, in registration order.
    pub generators: Vec<Arc<dyn DynGenerator>>,
    shared: Arc<Shared>,
    shut_down: std::sync::atomic::AtomicBool,
}

impl LoadedPlugin {
    /// Calls the plugin's `shutdown` if it was initialized (once).
    pub fn shutdown(&self) {
        if self.shared.init.get().is_some()
            && !self
                .shut_down
                .swap(true, std::sync::atomic::Ordering::AcqRel)
        {
            if let Ok(mut p) = self.shared.plugin.lock() {
                let _ = self.shared.audited(
                    "shutdown",
                    None,
                    || {
                        p.shutdown();
                        Ok::<(), ()>(())
                    },
                    |_| String::new(),
                );
            }
        }
    }

    /// Runs `initialize` (once) and `health_check`, each contained; for `kure plugins status`.
    pub fn initialize(&self) -> Result<(), String> {
        self.shared.ensure_initialized()
    }

    /// Runs `health_check` again, contained.
    pub fn health_check(&self) -> Result<(), String> {
        let p = self
            .shared
            .plugin
            .lock()
            .map_err(|_| "plugin lock poisoned".to_owned())?;
        self.shared
            .audited(
                "health_check",
                None,
                || p.health_check().into_result(),
                |e| ErrorPayload::from_str_lossy(e).kind,
            )
            .map_err(|e| ErrorPayload::from_str_lossy(&e).message)
    }
}

#[derive(Default)]
struct HostRegistry {
    generators: Vec<(AbiGvk, GeneratorBox)>,
    validators: Vec<(AbiGvk, ValidatorBox)>,
    docs: Vec<(AbiGvk, DocumentationProviderBox)>,
}

impl Registry for HostRegistry {
    fn register_generator(&mut self, gvk: AbiGvk, generator: GeneratorBox) -> RResult<(), RString> {
        if self.generators.iter().any(|(g, _)| *g == gvk) {
            return RResult::RErr(
                format!("{}/{} registered twice", gvk.api_version, gvk.kind).into(),
            );
        }
        self.generators.push((gvk, generator));
        RResult::ROk(())
    }

    fn register_validator(&mut self, gvk: AbiGvk, validator: ValidatorBox) -> RResult<(), RString> {
        self.validators.push((gvk, validator));
        RResult::ROk(())
    }

    fn register_documentation(
        &mut self,
        gvk: AbiGvk,
        docs: DocumentationProviderBox,
    ) -> RResult<(), RString> {
        self.docs.push((gvk, docs));
        RResult::ROk(())
    }
}

fn map_library_error(path: &Path, e: LibraryError) -> LoadError {
    let path = path.to_path_buf();
    match e {
        LibraryError::OpenError { err, .. } => LoadError::Open {
            path,
            reason: err.to_string(),
        },
        LibraryError::GetSymbolError { .. } => LoadError::NotAPlugin { path },
        LibraryError::IncompatibleVersionNumber { actual_version, .. } => LoadError::Version {
            path,
            found: actual_version.to_string(),
            expected: API_VERSION.to_owned(),
            expected_major: API_VERSION.split('.').next().unwrap_or("1").to_owned(),
        },
        LibraryError::AbiInstability(details) => LoadError::Layout {
            path,
            expected: API_VERSION.to_owned(),
            details: details.to_string(),
        },
        LibraryError::InvalidAbiHeader(h) => LoadError::Layout {
            path,
            expected: API_VERSION.to_owned(),
            details: format!(
                "the library was built with an incompatible abi_stable (header {h:?})"
            ),
        },
        other => LoadError::Open {
            path,
            reason: other.to_string(),
        },
    }
}

pub(crate) fn valid_plugin_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && !name.starts_with(['-', '_'])
}

/// A library read once, hashed and admitted by the trust policy, not yet loaded: no byte of
/// it has run. What a caller still has to check (the lock's pins) it checks here, then
/// [`Admitted::load`] runs exactly these bytes.
pub struct Admitted {
    /// The library file.
    pub path: PathBuf,
    library: Sealed,
    digest: [u8; 32],
    /// How the bytes were admitted (signer or unsigned).
    pub admission: Admission,
    /// SHA-256 of the bytes, hex.
    pub sha256: String,
}

impl Admitted {
    /// Loads exactly the admitted bytes.
    pub fn load(self) -> Result<LoadedPlugin, LoadError> {
        load_admitted(&self.path, self.library, &self.digest, self.admission)
    }

    /// The admitted library.
    pub fn library(&self) -> &Sealed {
        &self.library
    }
}

/// Reads a library once into sealed memory and hashes it; nothing is checked or run.
pub fn read_library(path: &Path) -> Result<(Sealed, [u8; 32]), LoadError> {
    let staging = Staging::new().map_err(|source| LoadError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    read_staged(staging, path)
}

/// [`read_library`] into a staging memfd made earlier (a worker may already hold it).
pub fn read_staged(staging: Staging, path: &Path) -> Result<(Sealed, [u8; 32]), LoadError> {
    let library = staging.read(path).map_err(|source| LoadError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let digest = crate::trust::digest(library.bytes());
    Ok((library, digest))
}

/// Admits bytes read by [`read_library`]: `recorded` (label = name@version, sha256) is an
/// installed plugin's hash from the index, checked before the signature.
pub fn admit(
    path: &Path,
    (library, digest): (Sealed, [u8; 32]),
    policy: &TrustPolicy,
    recorded: Option<(&str, &str)>,
) -> Result<Admitted, LoadError> {
    let sha256 = crate::trust::digest_hex(&digest);
    if let Some((label, sha)) = recorded {
        if sha256 != sha {
            return Err(LoadError::Modified {
                plugin: label.to_owned(),
                path: path.to_path_buf(),
                found: sha256,
                recorded: sha.to_owned(),
            });
        }
    }
    let admission = policy.admit_digest(path, &digest)?;
    Ok(Admitted {
        path: path.to_path_buf(),
        library,
        digest,
        admission,
        sha256,
    })
}

/// Reads `path` once, admits those bytes under `policy`, loads exactly them, checks the ABI
/// and collects what the plugin registers.
pub fn load_plugin(path: &Path, policy: &TrustPolicy) -> Result<LoadedPlugin, LoadError> {
    load_plugin_observed(path, policy, |_| {})
}

/// [`load_plugin`] with `after_verify` called between verification and loading, so a test
/// can change the file on disk there and show that the verified bytes are what runs.
pub fn load_plugin_observed(
    path: &Path,
    policy: &TrustPolicy,
    after_verify: impl FnOnce(&Path),
) -> Result<LoadedPlugin, LoadError> {
    let admitted = admit(path, read_library(path)?, policy, None)?;
    after_verify(path);
    admitted.load()
}

/// Loads a library already read and admitted by a [`TrustPolicy`] (`digest` is the SHA-256
/// of its bytes): exactly these bytes run. Every call into the library, from its ELF constructors on, is
/// contained ([`contain::call`]). The metadata must hold a plain name and a semver version, and
/// the GVKs the plugin registers must be exactly the ones it declares.
pub fn load_admitted(
    path: &Path,
    library: Sealed,
    digest: &[u8; 32],
    admission: Admission,
) -> Result<LoadedPlugin, LoadError> {
    let sealed = library.into_load_path().map_err(|e| LoadError::Open {
        path: path.to_path_buf(),
        reason: format!("cannot stage the library for loading: {e}"),
    })?;
    load_sealed(path, &sealed, digest, admission)
}

/// [`load_admitted`] for bytes already sealed at `sealed` (a `/proc/self/fd/N` of a sealed
/// memfd, as the process-isolation worker receives them): only `sealed` is opened, `path` only
/// names the library in messages.
pub(crate) fn load_sealed(
    path: &Path,
    sealed: &Path,
    digest: &[u8; 32],
    admission: Admission,
) -> Result<LoadedPlugin, LoadError> {
    let opened = open_sealed(path, sealed)?;
    load_opened(path, opened, digest, admission)
}

/// A plugin library mapped into the process (its constructors have run) whose entry points
/// have not been called yet.
pub(crate) struct Opened {
    header: &'static abi_stable::library::LibHeader,
    file_name: String,
    file_who: String,
}

/// The first half of [`load_sealed`]: `dlopen` (the library's ELF constructors run, contained)
/// and its root module header found. The worker tightens its sandbox between the halves.
pub(crate) fn open_sealed(path: &Path, sealed: &Path) -> Result<Opened, LoadError> {
    let file_name = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let file_who = format!("plugin library {}", path.display());
    contain::note_loaded(&file_name);
    let header = contain::call(
        &file_who,
        "its library constructors (while loading)",
        || lib_header_from_path(sealed),
    )
    .map_err(|e| map_library_error(path, e))?;
    Ok(Opened {
        header,
        file_name,
        file_who,
    })
}

/// The second half of [`load_sealed`]: the root module, ABI information, constructor,
/// metadata and registration, each checked.
pub(crate) fn load_opened(
    path: &Path,
    opened: Opened,
    digest: &[u8; 32],
    admission: Admission,
) -> Result<LoadedPlugin, LoadError> {
    let Opened {
        header,
        file_name,
        file_who,
    } = opened;
    let module = contain::call(&file_who, "its root module (while loading)", || {
        header.init_root_module::<PluginModRef>()
    })
    .map_err(|e| map_library_error(path, e))?;

    let info_json = contain::call(&file_who, "abi_info", || (module.abi_info())());
    let incompatible = |reason: String| LoadError::AbiVersion {
        path: path.to_path_buf(),
        reason,
        api: API_VERSION.to_owned(),
    };
    let info: AbiInfo = serde_json::from_str(&info_json).map_err(|e| {
        incompatible(format!(
            "gives unreadable ABI information ({})",
            crate::util::shown(&e.to_string())
        ))
    })?;
    kure_plugin_api::abi::check_compatible(&info, REQUIRED_FEATURES)
        .map_err(|why| incompatible(crate::util::shown_message(&why)))?;

    let plugin = contain::call(&file_who, "its constructor (new_plugin)", || {
        (module.new_plugin())().into_result()
    })
    .map_err(|e| LoadError::Init {
        plugin: file_name.clone(),
        path: path.to_path_buf(),
        reason: ErrorPayload::from_str_lossy(&e).message,
    })?;
    let plugin = ManuallyDrop::new(plugin);
    let meta = contain::call(&file_who, "metadata", || plugin.metadata());
    let name = meta.name.to_string();
    let version = meta.version.to_string();
    let registration = |reason: String| LoadError::Registration {
        plugin: if valid_plugin_name(&name) {
            name.clone()
        } else {
            file_name.clone()
        },
        path: path.to_path_buf(),
        reason,
    };
    if !valid_plugin_name(&name) {
        return Err(registration(format!(
            "invalid plugin name `{}`: use letters, digits, `-` and `_` only (at most 64)",
            crate::util::shown(&name)
        )));
    }
    if let Err(e) = semver::Version::parse(&version) {
        return Err(registration(format!(
            "version `{}` is not a semantic version ({e}); declare one like 1.2.3",
            crate::util::shown(&version)
        )));
    }
    let who = format!("plugin {name}@{version}");
    let supported = contain::call(&who, "supported_gvks", || plugin.supported_gvks());

    let mut host = HostRegistry::default();
    {
        let mut registry = Registry_TO::from_ptr(&mut host, TD_Opaque);
        contain::call(&who, "register", || {
            plugin.register(&mut registry).into_result()
        })
        .map_err(|e| registration(ErrorPayload::from_str_lossy(&e).message))?;
    }
    let label = |g: &AbiGvk| format!("{}/{}", g.api_version, g.kind);
    let declared: BTreeSet<String> = supported.iter().map(label).collect();
    let registered: BTreeSet<String> = host.generators.iter().map(|(g, _)| label(g)).collect();
    if let Some(extra) = registered.difference(&declared).next() {
        return Err(registration(format!(
            "it registers a generator for {} but does not list it in supported_gvks; a plugin must declare every GVK it provides",
            crate::util::shown(extra)
        )));
    }
    if let Some(missing) = declared.difference(&registered).next() {
        return Err(registration(format!(
            "it lists {} in supported_gvks but registers no generator for it",
            crate::util::shown(missing)
        )));
    }

    let shared = Arc::new(Shared {
        who,
        name: name.clone(),
        version: version.clone(),
        sha256: crate::trust::digest_hex(digest),
        signer: admission.signer().to_owned(),
        plugin: Mutex::new(plugin),
        init: OnceLock::new(),
    });
    let HostRegistry {
        generators,
        mut validators,
        mut docs,
    } = host;
    let validates = generates_validated(&info);
    let mut out: Vec<Arc<dyn DynGenerator>> = Vec::new();
    for (gvk, generator) in generators {
        Gvk::parse(&gvk.api_version, &gvk.kind).map_err(|e| registration(e.to_string()))?;
        let take_v = validators
            .iter()
            .position(|(g, _)| *g == gvk)
            .map(|i| validators.swap_remove(i).1);
        let take_d = docs
            .iter()
            .position(|(g, _)| *g == gvk)
            .map(|i| docs.swap_remove(i).1);
        out.push(Arc::new(PluginGenerator {
            gvk: format!("{}/{}", gvk.api_version, gvk.kind),
            api_version: gvk.api_version.to_string(),
            kind: gvk.kind.to_string(),
            shared: shared.clone(),
            generator: ManuallyDrop::new(generator),
            validator: take_v.map(ManuallyDrop::new),
            docs: take_d.map(ManuallyDrop::new),
            validates,
        }));
    }
    // Registrations for GVKs without a generator are plugin objects too: never dropped.
    std::mem::forget((validators, docs));
    if out.is_empty() {
        return Err(registration(
            "the plugin registers no generators".to_owned(),
        ));
    }
    Ok(LoadedPlugin {
        name,
        version,
        description: meta.description.to_string(),
        author: meta.author.to_string(),
        path: path.to_path_buf(),
        admission,
        sha256: crate::trust::digest_hex(digest),
        abi_info: info,
        generators: out,
        shared,
        shut_down: std::sync::atomic::AtomicBool::new(false),
    })
}

/// One GVK of a loaded plugin. The ABI objects are never dropped (see [`Shared`]).
struct PluginGenerator {
    api_version: String,
    kind: String,
    /// `apiVersion/Kind`, for audit records.
    gvk: String,
    shared: Arc<Shared>,
    generator: ManuallyDrop<GeneratorBox>,
    validator: Option<ManuallyDrop<ValidatorBox>>,
    docs: Option<ManuallyDrop<DocumentationProviderBox>>,
    /// Its `generate` runs its own checks (feature `generate-validates`).
    validates: bool,
}

/// A value as the JSON text a plugin is sent (written straight into a buffer: `Value`'s
/// `Display` goes through the formatter piece by piece, which costs more than the text).
pub(crate) fn json_text(v: &Value) -> String {
    // A `Value`'s keys are strings, so serializing it cannot fail.
    serde_json::to_string(v).unwrap_or_default()
}

/// `f` on [`json_text`] of `v`, written into a buffer this thread keeps (a plugin is sent one
/// request per app: no allocation for each).
pub(crate) fn with_json_text<R>(v: &Value, f: impl FnOnce(&str) -> R) -> R {
    thread_local! {
        static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    BUFFER.with(|b| {
        // Taken, not borrowed: `f` may send another request on this thread.
        let mut buffer = b.take();
        buffer.clear();
        // A `Value`'s keys are strings, so serializing it cannot fail.
        let _ = serde_json::to_writer(&mut buffer, v);
        let r = f(std::str::from_utf8(&buffer).unwrap_or_default());
        if buffer.capacity() <= 1 << 20 {
            b.replace(buffer);
        }
        r
    })
}

/// A plugin's answer to `generate` (a JSON array of objects) as values.
pub(crate) fn parse_objects(out: &str) -> Result<Vec<Value>, ErrorPayload> {
    match serde_json::from_str::<Value>(out) {
        Ok(Value::Array(objects)) => Ok(objects),
        Ok(other) => Err(invalid_output(format!(
            "returned a JSON {} instead of an array of objects",
            match other {
                Value::Object(_) => "object",
                _ => "scalar",
            }
        ))),
        Err(e) => Err(invalid_output(format!("returned invalid JSON ({e})"))),
    }
}

/// Whether a plugin's generators run their own checks inside `generate` (it was built
/// against an SDK with feature [`GENERATE_VALIDATES`](kure_plugin_api::abi::GENERATE_VALIDATES)).
pub(crate) fn generates_validated(info: &AbiInfo) -> bool {
    info.features
        .iter()
        .any(|f| f == kure_plugin_api::abi::GENERATE_VALIDATES)
}

fn invalid_output(message: String) -> ErrorPayload {
    ErrorPayload {
        kind: "invalid-output".to_owned(),
        message,
        issues: Vec::new(),
    }
}

impl PluginGenerator {
    /// Calls a text entry point of the plugin; an error text is an error, never the text.
    fn text(&self, entry: &str, f: impl FnOnce() -> RString) -> Result<String, ErrorPayload> {
        let text = self.shared.call(entry, f);
        parse_text(&text).map(str::to_owned)
    }

    /// The plugin's answer to `generate` on `request`, as the plugin's own string (kept, not
    /// copied, until the host has read it).
    fn answer(&self, request: &str) -> Result<RString, ErrorPayload> {
        self.shared.ensure_initialized().map_err(|m| ErrorPayload {
            kind: "initialize".to_owned(),
            message: format!("{} failed to start: {m}", self.shared.who),
            issues: Vec::new(),
        })?;
        self.shared
            .audited(
                "generate",
                Some(&self.gvk),
                || self.generator.generate(request.into()).into_result(),
                |e| ErrorPayload::from_str_lossy(e).kind,
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
        let Some(v) = &self.validator else {
            return Ok(Value::Bool(true));
        };
        let text = self.text("json_schema", || v.json_schema())?;
        serde_json::from_str(&text).map_err(|e| ErrorPayload {
            kind: "invalid-output".to_owned(),
            message: format!("json_schema returned invalid JSON ({e})"),
            issues: Vec::new(),
        })
    }

    fn validate(&self, spec: &Value) -> Result<(), ErrorPayload> {
        self.validate_json(&json_text(spec))
    }

    /// The spec's JSON goes to the plugin as is (the worker gets JSON text).
    fn validate_json(&self, spec: &str) -> Result<(), ErrorPayload> {
        let Some(v) = &self.validator else {
            return Ok(());
        };
        self.shared
            .audited(
                "validate",
                Some(&self.gvk),
                || v.validate(spec.into()).into_result(),
                |e| ErrorPayload::from_str_lossy(e).kind,
            )
            .map_err(|e| ErrorPayload::from_str_lossy(&e))
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
                    kind: "invalid-output".to_owned(),
                    message: format!("examples returned invalid JSON ({e})"),
                    issues: Vec::new(),
                }
            })?,
            usage_guide,
        })
    }
}
