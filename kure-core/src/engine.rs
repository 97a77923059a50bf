//! The pipeline behind `kure generate` and `kure validate`: resolve each document's GVK,
//! validate its spec, run its generator, check what came back.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use kure_plugin_api::abi::ErrorPayload;
use serde_json::Value;

use crate::decode::Document;
use crate::error::{Diagnostic, Error};
use crate::gvk::Gvk;
use crate::lockfile::Lock;
use crate::plugin::{admit, discover_checked, plugin_dirs, read_library, Admitted, LoadedPlugin};
use crate::registry::{Provider, StackRegistry};
use crate::store::{Index, IndexEntry, IndexedGvk, Store};
use crate::trust::TrustPolicy;
use kure_plugin_api::sdk::{Documentation, DynGenerator};

/// How the engine finds and trusts plugins.
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// Extra plugin directories, searched first (`--plugin-dir`, config).
    pub plugin_dirs: Vec<PathBuf>,
    /// Which libraries may be loaded.
    pub trust: TrustPolicy,
    /// The plugin store whose index says which installed plugin provides which GVK.
    pub store: Option<Store>,
}

/// Built-in generators plus plugins, loaded on demand.
pub struct Engine {
    options: EngineOptions,
    registry: StackRegistry,
    plugins: Vec<Arc<LoadedPlugin>>,
    scanned: bool,
    index: Option<Index>,
    /// The plugin search path, fixed when the engine is made (before any plugin runs).
    dirs: crate::plugin::PluginDirs,
    /// The lock every plugin must match before it is loaded.
    lock: Option<Lock>,
}

impl Engine {
    /// An engine with the built-in generators; no plugin is loaded yet.
    pub fn new(options: EngineOptions) -> Self {
        let dirs = plugin_dirs(&options.plugin_dirs);
        Self {
            options,
            registry: StackRegistry::with_builtins(),
            plugins: Vec::new(),
            scanned: false,
            index: None,
            dirs,
            lock: None,
        }
    }

    /// Enforces `lock`: from now on a plugin is loaded only if its bytes and signer match the
    /// pins of the GVK it is loaded for, and used only if its name and version match too.
    pub fn set_lock(&mut self, lock: Lock) {
        self.lock = Some(lock);
    }

    /// The lock being enforced.
    pub fn lock(&self) -> Option<&Lock> {
        self.lock.as_ref()
    }

    /// The store's index (read once); empty without a store.
    pub fn index(&mut self) -> Result<&Index, Error> {
        if self.index.is_none() {
            let index = match &self.options.store {
                Some(s) => s.read_index()?,
                None => Index::default(),
            };
            self.index = Some(index);
        }
        Ok(self.index.get_or_insert_with(Index::default))
    }

    fn is_indexed_library(&self, path: &std::path::Path) -> bool {
        let (Some(store), Some(index)) = (&self.options.store, &self.index) else {
            return false;
        };
        let canon =
            |p: &std::path::Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        let path = canon(path);
        index
            .plugins
            .iter()
            .any(|e| canon(&store.library_path(e)) == path)
    }

    /// Loads an installed plugin for `gvk`: its bytes must still hash to what the index
    /// recorded, its signature must still verify, and the lock's pins must match, all before
    /// any of it runs.
    fn load_installed(&mut self, entry: &IndexEntry, gvk: &str) -> Result<(), Error> {
        let Some(store) = &self.options.store else {
            return Ok(());
        };
        let path = store.library_path(entry);
        if let Some(lock) = &self.lock {
            lock.check_before_load(
                gvk,
                &path,
                &entry.sha256,
                &entry.signer,
                Some((&entry.name, &entry.version)),
            )?;
        }
        let label = format!("{}@{}", entry.name, entry.version);
        let admitted = admit(
            &path,
            read_library(&path)?,
            &self.options.trust,
            Some((&label, &entry.sha256)),
        )?;
        self.load_checked(admitted, Some(gvk))
    }

    /// The one way a library becomes a plugin: the lock's byte and signer pins before it runs,
    /// its name and version pins right after its metadata is read, a unique name, then its
    /// generators are registered.
    fn load_checked(&mut self, admitted: Admitted, gvk: Option<&str>) -> Result<(), Error> {
        if let (Some(lock), Some(gvk)) = (&self.lock, gvk) {
            lock.check_before_load(
                gvk,
                &admitted.path,
                &admitted.sha256,
                admitted.admission.signer(),
                None,
            )?;
        }
        let plugin = admitted.load()?;
        if let (Some(lock), Some(gvk)) = (&self.lock, gvk) {
            lock.check_metadata(gvk, &plugin.name, &plugin.version)?;
        }
        self.add_plugin(Arc::new(plugin))
    }

    /// Registers installed plugins from the index without loading them: enough for `schema`,
    /// `explain` and `validate` (schema checks only).
    pub fn use_index(&mut self) -> Result<(), Error> {
        let entries = self.index()?.plugins.clone();
        let Some(store) = self.options.store.clone() else {
            return Ok(());
        };
        for e in entries {
            for g in &store.metadata(&e)?.gvks {
                let provider = Provider::Plugin {
                    name: e.name.clone(),
                    version: e.version.clone(),
                    path: store.library_path(&e),
                };
                self.registry
                    .register(Arc::new(IndexedGenerator(g.clone())), provider)?;
            }
        }
        Ok(())
    }

    /// The loaded plugin providing `gvk`, if a plugin provides it: the very library that
    /// registered it.
    pub fn plugin_for(&self, gvk: &Gvk) -> Option<&LoadedPlugin> {
        match &self.registry.get(gvk)?.provider {
            Provider::Plugin { path, .. } => self
                .plugins
                .iter()
                .find(|p| &p.path == path)
                .map(|p| p.as_ref()),
            Provider::BuiltIn => None,
        }
    }

    /// The registry as loaded so far.
    pub fn registry(&self) -> &StackRegistry {
        &self.registry
    }

    /// The plugins loaded so far.
    pub fn plugins(&self) -> &[Arc<LoadedPlugin>] {
        &self.plugins
    }

    /// Loads every plugin in the plugin directories (once). A library that cannot be loaded,
    /// and two providers of one GVK, are errors.
    pub fn load_all_plugins(&mut self) -> Result<(), Error> {
        if self.scanned {
            return Ok(());
        }
        self.scanned = true;
        self.index()?;
        for found in discover_checked(&self.dirs.clone()) {
            let path = found?;
            if self.is_indexed_library(&path) || self.plugins.iter().any(|p| p.path == path) {
                continue;
            }
            let admitted = admit(&path, read_library(&path)?, &self.options.trust, None)?;
            self.load_checked(admitted, None)?;
        }
        Ok(())
    }

    /// Registers an already loaded plugin's generators. Its name must be new to this run.
    pub fn add_plugin(&mut self, plugin: Arc<LoadedPlugin>) -> Result<(), Error> {
        if let Some(other) = self.plugins.iter().find(|p| p.name == plugin.name) {
            return Err(Error::DuplicatePlugin {
                name: plugin.name.clone(),
                first: other.path.clone(),
                second: plugin.path.clone(),
            });
        }
        for g in &plugin.generators {
            self.registry.register(
                g.clone(),
                Provider::Plugin {
                    name: plugin.name.clone(),
                    version: plugin.version.clone(),
                    path: plugin.path.clone(),
                },
            )?;
        }
        self.plugins.push(plugin);
        Ok(())
    }

    fn missing(&self, docs: &[Document]) -> BTreeSet<Gvk> {
        docs.iter()
            .map(|d| &d.gvk)
            .filter(|g| self.registry.get(g).is_none())
            .cloned()
            .collect()
    }

    /// Makes sure every GVK the documents use is registered and loaded: built-ins first, then
    /// the installed plugin the index names for it (only that one), then the plugin
    /// directories. With a lock, only a library with the pinned bytes and signer is loaded
    /// for a GVK, and nothing is loaded for a GVK the lock does not pin.
    pub fn resolve(&mut self, docs: &[Document]) -> Result<(), Error> {
        for gvk in self.missing(docs) {
            if self.registry.get(&gvk).is_none() {
                self.resolve_one(&gvk)?;
            }
        }
        Ok(())
    }

    fn resolve_one(&mut self, gvk: &Gvk) -> Result<(), Error> {
        let key = format!("{}/{}", gvk.api_version(), gvk.kind);
        let installed = self
            .index()?
            .plugins
            .iter()
            .find(|e| e.parsed_gvks().contains(gvk))
            .cloned();
        if let Some(entry) = installed {
            return self.load_installed(&entry, &key);
        }
        let Some(lock) = self.lock.clone() else {
            return self.load_all_plugins();
        };
        let Some(pin) = lock.pins.get(&key) else {
            // Unknown to the store and not pinned: no library is loaded for it, and
            // validation reports that no generator provides it.
            return Ok(());
        };
        // Only a library whose bytes are the pinned ones is even admitted.
        for found in discover_checked(&self.dirs.clone()) {
            let path = found?;
            if self.is_indexed_library(&path) || self.plugins.iter().any(|p| p.path == path) {
                continue;
            }
            let (bytes, digest) = read_library(&path)?;
            if crate::trust::digest_hex(&digest) != pin.sha256 {
                continue;
            }
            let admitted = admit(&path, (bytes, digest), &self.options.trust, None)?;
            return self.load_checked(admitted, Some(&key));
        }
        Err(lock.refuse(format!(
            "it pins {key} to plugin {}@{} (sha256 {}), and neither the store nor the plugin directories hold a library with those bytes; no library was loaded for it",
            pin.plugin,
            pin.version,
            &pin.sha256[..12.min(pin.sha256.len())]
        )))
    }

    /// Like [`resolve`](Self::resolve) but never loads an installed plugin: its GVKs are
    /// answered from the index (for `validate`).
    pub fn resolve_offline(&mut self, docs: &[Document]) -> Result<(), Error> {
        if self.missing(docs).is_empty() {
            return Ok(());
        }
        self.use_index()?;
        if !self.missing(docs).is_empty() {
            self.load_all_plugins()?;
        }
        Ok(())
    }

    /// Validates every document (GVK known, schema, generator checks); reports all problems.
    pub fn validate(&self, docs: &[Document]) -> Result<(), Error> {
        let mut problems = Vec::new();
        for doc in docs {
            let Some(entry) = self.registry.get(&doc.gvk) else {
                let near = self.registry.nearest(&doc.gvk);
                let hint = if near.is_empty() {
                    "run `kure gvks` to list the registered generators, or install the plugin that provides it".to_owned()
                } else {
                    format!("did you mean {}?", near.join(" or "))
                };
                problems.push(Diagnostic {
                    location: doc.locate("kind"),
                    message: format!(
                        "no generator for apiVersion `{}` kind `{}`: {hint}",
                        doc.gvk.api_version(),
                        doc.gvk.kind
                    ),
                });
                continue;
            };
            let schema = match in_app(entry, doc, || entry.schema()) {
                Ok(s) => s,
                Err(p) => {
                    problems.push(Diagnostic {
                        location: doc.location.clone(),
                        message: format!(
                            "app `{}`: {} could not give the JSON Schema of {}: {}",
                            doc.name,
                            entry.provider,
                            doc.gvk,
                            crate::util::shown(&p.message)
                        ),
                    });
                    continue;
                }
            };
            let issues = crate::schema::validate(schema, doc.spec());
            if !issues.is_empty() {
                problems.extend(issues.into_iter().map(|i| diag(doc, &i.path, &i.message)));
                continue;
            }
            if let Err(p) = in_app(entry, doc, || entry.generator.validate(doc.spec())) {
                if p.issues.is_empty() {
                    problems.push(diag(doc, "", &p.message));
                } else {
                    problems.extend(p.issues.iter().map(|i| diag(doc, &i.path, &i.message)));
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(problems))
        }
    }

    /// Generates one document's objects and checks their shape.
    pub fn generate_one(&self, doc: &Document) -> Result<Vec<Value>, Error> {
        let entry = self.registry.get(&doc.gvk).ok_or_else(|| {
            Error::Invalid(vec![Diagnostic {
                location: doc.location.clone(),
                message: format!("no generator for {}", doc.gvk),
            }])
        })?;
        let objects = in_app(entry, doc, || entry.generator.generate(&doc.value))
            .map_err(|p| self.generate_error(doc, describe_payload(&p)))?;
        for (n, o) in objects.iter().enumerate() {
            if let Some(missing) = missing_field(o) {
                return Err(self.generate_error(
                    doc,
                    format!("returned object #{} without {missing}: every object needs apiVersion, kind and metadata.name", n + 1),
                ));
            }
            if let Some(problem) = unsafe_name(o) {
                return Err(self.generate_error(
                    doc,
                    format!(
                        "returned object #{} with {problem}; nothing was written",
                        n + 1
                    ),
                ));
            }
        }
        Ok(objects)
    }

    fn generate_error(&self, doc: &Document, message: String) -> Error {
        Error::Generate {
            location: doc.location.clone(),
            app: doc.name.clone(),
            gvk: doc.gvk.clone(),
            provider: self
                .registry
                .get(&doc.gvk)
                .map_or_else(|| "generator".to_owned(), |e| e.provider.to_string()),
            message,
        }
    }

    /// GVKs used by `docs`.
    pub fn used_gvks(docs: &[Document]) -> BTreeSet<Gvk> {
        docs.iter().map(|d| d.gvk.clone()).collect()
    }

    /// Calls `shutdown` on every initialized plugin.
    pub fn shutdown(&self) {
        for p in &self.plugins {
            p.shutdown();
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn diag(doc: &Document, path: &str, message: &str) -> Diagnostic {
    let full = if path.is_empty() {
        "spec".to_owned()
    } else {
        format!("spec.{path}")
    };
    Diagnostic {
        location: doc.locate(&full),
        message: format!("app `{}`: {full}: {message}", doc.name),
    }
}

/// Runs `f` with `doc` as the app every contained plugin call names (plugins only: built-ins
/// need no record).
fn in_app<R>(entry: &crate::registry::Entry, doc: &Document, f: impl FnOnce() -> R) -> R {
    match entry.provider {
        Provider::BuiltIn => f(),
        Provider::Plugin { .. } => crate::contain::with_app(&doc.name, &doc.location, f),
    }
}

fn describe_payload(p: &ErrorPayload) -> String {
    let message = crate::util::shown(&p.message);
    match p.kind.as_str() {
        "panic" => format!("the generator panicked ({message})"),
        _ => message,
    }
}

/// Kind, name and namespace become file and directory names in `-o DIR`: each must be what
/// Kubernetes accepts (a kind of letters and digits, a DNS-1123 subdomain name, a DNS-1123
/// label namespace), so that no object can name a path.
fn unsafe_name(o: &Value) -> Option<String> {
    use crate::util::{is_dns_label, is_dns_subdomain, is_kind, shown};
    let kind = o.get("kind").and_then(Value::as_str).unwrap_or("");
    if !is_kind(kind) {
        return Some(format!(
            "kind `{}`, which is not a Kubernetes kind (letters and digits, starting with a letter)",
            shown(kind)
        ));
    }
    let name = o
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !is_dns_subdomain(name) {
        return Some(format!(
            "metadata.name `{}` ({kind}), which is not a DNS-1123 subdomain (lower-case letters, digits, `-` and `.`, at most 253)",
            shown(name)
        ));
    }
    match o.pointer("/metadata/namespace") {
        None | Some(Value::Null) => None,
        Some(Value::String(ns)) if is_dns_label(ns) => None,
        Some(other) => Some(format!(
            "metadata.namespace `{}` ({kind} {name}), which is not a DNS-1123 label (lower-case letters, digits and `-`, at most 63)",
            shown(&other.as_str().map_or_else(|| other.to_string(), str::to_owned))
        )),
    }
}

fn missing_field(o: &Value) -> Option<&'static str> {
    let s = |ptr: &str| {
        o.pointer(ptr)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
    };
    if !o.is_object() {
        Some("being an object")
    } else if !s("/apiVersion") {
        Some("apiVersion")
    } else if !s("/kind") {
        Some("kind")
    } else if !s("/metadata/name") {
        Some("metadata.name")
    } else {
        None
    }
}

/// An installed plugin's generator as recorded in the index: schema and documentation without
/// loading the library. It cannot generate.
struct IndexedGenerator(IndexedGvk);

impl DynGenerator for IndexedGenerator {
    fn api_version(&self) -> &str {
        &self.0.api_version
    }

    fn kind(&self) -> &str {
        &self.0.kind
    }

    fn json_schema(&self) -> Result<Value, ErrorPayload> {
        Ok(self.0.schema.clone())
    }

    fn validate(&self, _spec: &Value) -> Result<(), ErrorPayload> {
        Ok(())
    }

    fn generate(&self, _app: &Value) -> Result<Vec<Value>, ErrorPayload> {
        Err(ErrorPayload {
            kind: "internal".to_owned(),
            message: "the plugin was not loaded (index entry only)".to_owned(),
            issues: Vec::new(),
        })
    }

    fn documentation(&self) -> Result<Documentation, ErrorPayload> {
        Ok(self.0.documentation.clone())
    }
}
