//! Loading an admitted library in kure's process: `dlopen` of the sealed bytes, the root
//! module, ABI information, constructor, metadata and registration, each checked and contained.

use std::collections::BTreeSet;
use std::mem::ManuallyDrop;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use abi_stable::library::{lib_header_from_path, LibraryError};
use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RResult, RString};
use kure_plugin_api::abi::{
    AbiGvk, AbiInfo, DocumentationProviderBox, ErrorPayload, GeneratorBox, PluginModRef, Registry,
    Registry_TO, ValidatorBox, REQUIRED_FEATURES,
};
use kure_plugin_api::host::DynGenerator;

use super::{LoadError, PluginIdentity, Sealed};
use crate::model::gvk::Gvk;
use crate::plugin::contain;
use crate::trust::Admission;

use super::adapter::*;
use crate::util::valid_plugin_name;

/// The kure-plugin-api version this host was built with (from the crate, never a literal).
pub const API_VERSION: &str = kure_plugin_api::VERSION;

/// A loaded plugin library.
pub struct LoadedPlugin {
    /// Who it is (its fields read through this struct too: `plugin.name`).
    pub identity: PluginIdentity,
    /// Its generators, in registration order.
    pub generators: Vec<Arc<dyn DynGenerator>>,
    pub(super) shared: Arc<Shared>,
    pub(super) shut_down: std::sync::atomic::AtomicBool,
}

impl std::ops::Deref for LoadedPlugin {
    type Target = PluginIdentity;
    fn deref(&self) -> &PluginIdentity {
        &self.identity
    }
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
                |e| ErrorPayload::from_str_lossy(e).kind.to_string(),
            )
            .map_err(|e| ErrorPayload::from_str_lossy(&e).message)
    }
}

#[derive(Default)]
pub(super) struct HostRegistry {
    pub(super) generators: Vec<(AbiGvk, GeneratorBox)>,
    pub(super) validators: Vec<(AbiGvk, ValidatorBox)>,
    pub(super) docs: Vec<(AbiGvk, DocumentationProviderBox)>,
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

pub(super) fn map_library_error(path: &Path, e: LibraryError) -> LoadError {
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

/// Loads a library already read and admitted by a [`TrustPolicy`](crate::trust::TrustPolicy) (`digest` is the SHA-256
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
    pub(super) header: &'static abi_stable::library::LibHeader,
    pub(super) file_name: String,
    pub(super) file_who: String,
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
    crate::plugin::requires::check_host(&info.requires).map_err(|reason| LoadError::Requires {
        path: path.to_path_buf(),
        reason,
    })?;

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

    let validated: BTreeSet<String> = host.validators.iter().map(|(g, _)| label(g)).collect();
    if let Some(bare) = registered.difference(&validated).next() {
        return Err(registration(format!(
            "it registers no validator for {}: every generator needs one, because kure checks each spec against the generator's JSON Schema before plugin code sees it (a plugin built with the SDK's `export_plugin!` has one for every generator)",
            crate::util::shown(bare)
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
    let validates_apps = kure_plugin_api::abi::validates_applications(&info);
    let mut out: Vec<Arc<dyn DynGenerator>> = Vec::new();
    for (gvk, generator) in generators {
        Gvk::parse(&gvk.api_version, &gvk.kind).map_err(|e| registration(e.to_string()))?;
        let Some(take_v) = validators
            .iter()
            .position(|(g, _)| *g == gvk)
            .map(|i| validators.swap_remove(i).1)
        else {
            // Every registered GVK has a validator (checked above).
            return Err(registration(format!(
                "it registers no validator for {}/{}",
                crate::util::shown(&gvk.api_version),
                crate::util::shown(&gvk.kind)
            )));
        };
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
            validator: ManuallyDrop::new(take_v),
            docs: take_d.map(ManuallyDrop::new),
            validates,
            validates_apps,
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
        identity: PluginIdentity {
            name,
            version,
            description: meta.description.to_string(),
            author: meta.author.to_string(),
            path: path.to_path_buf(),
            admission,
            sha256: crate::trust::digest_hex(digest),
            abi_info: info,
        },
        generators: out,
        shared,
        shut_down: std::sync::atomic::AtomicBool::new(false),
    })
}
