//! The pipeline behind `kure generate` and `kure validate`: resolve each document's GVK,
//! validate its spec, run its generator, check what came back.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use kure_plugin_api::abi::ErrorPayload;
use serde_json::Value;

use crate::generate::registry::{Provider, StackRegistry};
use crate::input::decode::Document;
use crate::model::error::{Diagnostic, Error};
use crate::model::gvk::Gvk;
use crate::plugin::isolation::{Isolation, IsolationPolicy};
use crate::plugin::process::{Starting, WorkerPlugin};
use crate::plugin::{
    admit, discover_checked, plugin_dirs, read_library, read_staged, Admitted, LoadError,
    PluginHandle, Sealed, Staging,
};
use crate::store::lockfile::Lock;
use crate::store::{Index, IndexEntry, IndexedGvk, Store};
use crate::trust::TrustPolicy;
use kure_plugin_api::sdk::{Documentation, DynGenerator};

/// How the engine finds, trusts and runs plugins.
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// Libraries to use for this run ahead of installed plugins and plugin directories
    /// (`--plugin`): the dev loop's way to run a fresh build without installing it.
    pub plugins: Vec<PathBuf>,
    /// Extra plugin directories, searched first (`--plugin-dir`, config).
    pub plugin_dirs: Vec<PathBuf>,
    /// Which libraries may be loaded.
    pub trust: TrustPolicy,
    /// The plugin store whose index says which installed plugin provides which GVK.
    pub store: Option<Store>,
    /// Where each plugin runs (in-process or a sandboxed worker), and the workers' limits.
    pub isolation: IsolationPolicy,
}

/// A plugin-directory library whose name and GVKs a sandboxed worker reported: none of its
/// code has run in kure's process.
struct Inspection {
    path: PathBuf,
    name: String,
    version: String,
    gvks: Vec<Gvk>,
    /// The admitted bytes, until the library is used.
    admitted: Option<Admitted>,
    /// The worker that inspected it, kept while it may still serve the plugin.
    worker: Option<Arc<WorkerPlugin>>,
}

/// A worker for a library about to be used: started before the library was read (so starting
/// it overlapped reading and hashing), or already running it after an inspection.
enum Worker {
    Starting(Starting),
    Running(Arc<WorkerPlugin>),
}

/// A library read into sealed memory, and the SHA-256 of its bytes.
type ReadLibrary = (Sealed, [u8; 32]);

/// Built-in generators plus plugins, loaded on demand.
pub struct Engine {
    options: EngineOptions,
    registry: StackRegistry,
    plugins: Vec<PluginHandle>,
    /// Plugin-directory libraries inspected in a worker, used or not.
    inspected: Vec<Inspection>,
    scanned: bool,
    index: Option<Index>,
    /// The plugin search path, fixed when the engine is made (before any plugin runs).
    dirs: crate::plugin::PluginDirs,
    /// The lock every plugin must match before it is loaded.
    lock: Option<Lock>,
    /// What the user should know about this run: a provider that wins over another.
    warnings: Vec<String>,
    /// Libraries of the plugin directories that were not used, and why (shown with `-v`).
    skipped: Vec<(PathBuf, String)>,
    /// GVKs two providers offer, where one won: (GVK, loser, winner).
    shadowed: Vec<(Gvk, String, String)>,
    /// What the plugin directories hold, read once per run: a library path, or a symlink
    /// leading out of its directory (path, target, directory).
    discovered: Option<Vec<Discovered>>,
}

/// A plugin-directory library, or a symlink leading out of its directory (path, target,
/// directory).
type Discovered = Result<PathBuf, (PathBuf, PathBuf, PathBuf)>;

/// The most examples one generator may document: `kure plugins install` validates and
/// generates each, and a plugin must not be able to make that take forever.
pub const MAX_EXAMPLES: usize = 64;

/// Who wins when two providers offer one GVK: a `--plugin` library, then the installed
/// plugin, then the plugin directories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rank {
    Explicit,
    Installed,
    PluginDir,
}

impl Engine {
    /// An engine with the built-in generators; no plugin is loaded yet.
    pub fn new(options: EngineOptions) -> Self {
        let dirs = plugin_dirs(&options.plugin_dirs);
        Self {
            options,
            registry: StackRegistry::with_builtins(),
            plugins: Vec::new(),
            inspected: Vec::new(),
            scanned: false,
            index: None,
            dirs,
            lock: None,
            warnings: Vec::new(),
            skipped: Vec::new(),
            shadowed: Vec::new(),
            discovered: None,
        }
    }

    /// Warnings for the user: which provider of a GVK won over which, and how to change it.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Libraries of the plugin directories that were not used, and why: shared libraries that
    /// are not kure plugins, and libraries that could not be inspected while looking for one
    /// that an installed plugin shadows.
    pub fn skipped(&self) -> &[(PathBuf, String)] {
        &self.skipped
    }

    fn warn(&mut self, warning: String) {
        if !self.warnings.contains(&warning) {
            self.warnings.push(warning);
        }
    }

    fn skip(&mut self, path: PathBuf, why: String) {
        if !self.skipped.iter().any(|(p, _)| *p == path) {
            self.skipped.push((path, why));
        }
    }

    /// The libraries to consider, in order: `--plugin` libraries (as given: the user named
    /// them), then the kure plugins of the plugin directories. Non-plugins are skipped and
    /// remembered.
    fn discover(&mut self) -> Vec<Result<PathBuf, LoadError>> {
        if self.discovered.is_none() {
            let found = discover_checked(&self.dirs);
            for (p, why) in found.skipped {
                self.skip(p, why);
            }
            let canon =
                |p: &std::path::Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
            let explicit: Vec<PathBuf> = self.options.plugins.iter().map(|p| canon(p)).collect();
            let listed = self
                .options
                .plugins
                .iter()
                .cloned()
                .map(Ok)
                .chain(found.libraries.into_iter().filter_map(|r| match r {
                    Ok(p) if explicit.contains(&canon(&p)) => None,
                    Ok(p) => Some(Ok(p)),
                    Err(LoadError::Symlink { path, target, dir }) => Some(Err((path, target, dir))),
                    Err(_) => None,
                }))
                .collect();
            self.discovered = Some(listed);
        }
        self.discovered
            .iter()
            .flatten()
            .map(|r| match r {
                Ok(p) => Ok(p.clone()),
                Err((path, target, dir)) => Err(LoadError::Symlink {
                    path: path.clone(),
                    target: target.clone(),
                    dir: dir.clone(),
                }),
            })
            .collect()
    }

    fn is_explicit(&self, path: &std::path::Path) -> bool {
        self.options.plugins.iter().any(|p| p == path)
    }

    /// Enforces `lock`: from now on a plugin is loaded only if its bytes and signer match the
    /// pins of the GVK it is loaded for, and used only if its name, version and isolation
    /// match too.
    pub fn set_lock(&mut self, lock: Lock) {
        self.lock = Some(lock);
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

    /// Whether the library at `path` is already in use or inspected.
    fn is_known_library(&self, path: &std::path::Path) -> bool {
        self.is_indexed_library(path)
            || self.plugins.iter().any(|p| p.path() == path)
            || self.inspected.iter().any(|i| i.path == path)
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
        let (read, worker) = self.read_for(&path, &entry.name, gvk)?;
        let admitted = admit(
            &path,
            read,
            &self.options.trust,
            Some((&label, &entry.sha256)),
        )?;
        self.load_checked(admitted, Some(gvk), (&entry.name, &entry.version), worker)
    }

    /// Reads the library at `path` for plugin `name`. When that plugin is going to run in
    /// process isolation, its worker process starts first: it execs and applies its sandbox
    /// while kure reads, hashes and checks the library, and it runs none of the library until
    /// every check passed ([`Starting::finish`] in [`Self::load_checked`]).
    fn read_for(
        &self,
        path: &std::path::Path,
        name: &str,
        gvk: &str,
    ) -> Result<(ReadLibrary, Option<Worker>), Error> {
        let pinned = self
            .lock
            .as_ref()
            .and_then(|l| l.pins.get(gvk))
            .and_then(|p| p.isolation);
        if !matches!(
            self.options.isolation.choose(name, pinned),
            Ok(Isolation::Process)
        ) {
            return Ok((read_library(path)?, None));
        }
        let (staging, starting) = self.start_worker(path)?;
        let r = read_staged(staging, path)?;
        Ok((r, Some(Worker::Starting(starting))))
    }

    /// A staging memfd for the library at `path` and a worker started with it.
    fn start_worker(&self, path: &std::path::Path) -> Result<(Staging, Starting), Error> {
        let staging = Staging::new().map_err(|source| LoadError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let starting = WorkerPlugin::start(path, &staging, &self.options.isolation.worker)?;
        Ok((staging, starting))
    }

    /// The one way a library becomes a plugin of this run. `known` is the name and version
    /// recorded for it before any of it ran in kure (the index, the lock or a sandboxed
    /// inspection); they choose its isolation mode. The lock's byte and signer pins are
    /// checked before it runs, its name and version pins right after its metadata is read;
    /// its name must be unique; then its generators are registered. `worker`: one already
    /// running these bytes, reused in process isolation and ended otherwise.
    fn load_checked(
        &mut self,
        admitted: Admitted,
        gvk: Option<&str>,
        known: (&str, &str),
        worker: Option<Worker>,
    ) -> Result<(), Error> {
        let pin = match (&self.lock, gvk) {
            (Some(lock), Some(gvk)) => {
                lock.check_before_load(
                    gvk,
                    &admitted.path,
                    &admitted.sha256,
                    admitted.admission.signer(),
                    None,
                )?;
                lock.pins.get(gvk).cloned()
            }
            _ => None,
        };
        let mode = self
            .options
            .isolation
            .choose(known.0, pin.as_ref().and_then(|p| p.isolation))
            .map_err(|why| match &self.lock {
                Some(lock) => lock.refuse(why),
                None => Error::Store(why),
            })?;
        let handle = match mode {
            Isolation::Process => PluginHandle::Process(match worker {
                Some(Worker::Running(w)) => w,
                Some(Worker::Starting(s)) => {
                    Arc::new(s.finish(&admitted.sha256, admitted.admission.clone())?)
                }
                None => Arc::new(WorkerPlugin::spawn(
                    &admitted.path,
                    admitted.library(),
                    &admitted.sha256,
                    admitted.admission.clone(),
                    &self.options.isolation.worker,
                )?),
            }),
            Isolation::InProcess => {
                if let Some(Worker::Running(w)) = worker {
                    // It only answered the inspection; nothing of it is used.
                    let _ = w.shutdown();
                }
                PluginHandle::InProcess(Arc::new(admitted.load()?))
            }
        };
        if (handle.name(), handle.version()) != known {
            return Err(crate::plugin::LoadError::Registration {
                plugin: known.0.to_owned(),
                path: handle.path().to_path_buf(),
                reason: format!(
                    "it was recorded as {}@{} but now reports {}@{}; none of its generators ran. Reinstall it (`kure plugins install --replace`) if it changed",
                    known.0,
                    known.1,
                    crate::util::shown(handle.name()),
                    crate::util::shown(handle.version())
                ),
            }
            .into());
        }
        if let (Some(lock), Some(gvk)) = (&self.lock, gvk) {
            lock.check_metadata(gvk, handle.name(), handle.version())?;
        }
        let rank = self.rank_of(handle.path());
        self.add_ranked(handle, rank)
    }

    /// Learns a plugin-directory library's name and GVKs in a sandboxed worker (nothing of it
    /// runs in kure), once per library. Returns its index in `inspected`.
    fn inspect(&mut self, path: PathBuf) -> Result<usize, Error> {
        self.inspect_as(path, true)
    }

    /// [`Self::inspect`]; `unique_name: false` accepts a library whose name is already in use
    /// (a dev build of an installed plugin), for looking only.
    fn inspect_as(&mut self, path: PathBuf, unique_name: bool) -> Result<usize, Error> {
        if let Some(i) = self.inspected.iter().position(|i| i.path == path) {
            // Inspected earlier, perhaps only to look: the name must still be unique to use it.
            if unique_name {
                let name = self.inspected[i].name.clone();
                let other = self
                    .plugins
                    .iter()
                    .filter(|x| x.path() != path && x.name() == name)
                    .map(|x| x.path().to_path_buf())
                    .chain(
                        self.inspected
                            .iter()
                            .filter(|x| x.path != path && x.name == name)
                            .map(|x| x.path.clone()),
                    )
                    .next();
                if let Some(first) = other {
                    return Err(Error::DuplicatePlugin {
                        name,
                        first,
                        second: path,
                    });
                }
            }
            return Ok(i);
        }
        let (staging, starting) = self.start_worker(&path)?;
        let admitted = admit(
            &path,
            read_staged(staging, &path)?,
            &self.options.trust,
            None,
        )?;
        let worker = Arc::new(starting.finish(&admitted.sha256, admitted.admission.clone())?);
        let other = self
            .plugins
            .iter()
            .map(|p| (p.name().to_owned(), p.path().to_path_buf()))
            .chain(
                self.inspected
                    .iter()
                    .map(|i| (i.name.clone(), i.path.clone())),
            )
            .find(|(n, _)| *n == worker.name)
            .filter(|_| unique_name);
        if let Some((name, first)) = other {
            let _ = worker.shutdown();
            return Err(Error::DuplicatePlugin {
                name,
                first,
                second: path,
            });
        }
        let gvks = worker
            .gvks
            .iter()
            .map(|g| Gvk::parse(&g.api_version, &g.kind))
            .collect::<Result<Vec<_>, _>>()?;
        self.inspected.push(Inspection {
            path,
            name: worker.name.clone(),
            version: worker.version.clone(),
            gvks,
            admitted: Some(admitted),
            worker: Some(worker),
        });
        Ok(self.inspected.len() - 1)
    }

    /// Uses the inspected library `i` for `gvk` (in its mode, after the lock's checks).
    fn use_inspected(&mut self, i: usize, gvk: Option<&str>) -> Result<(), Error> {
        let Some(admitted) = self.inspected[i].admitted.take() else {
            return Ok(());
        };
        let worker = self.inspected[i].worker.take().map(Worker::Running);
        let (name, version) = (
            self.inspected[i].name.clone(),
            self.inspected[i].version.clone(),
        );
        self.load_checked(admitted, gvk, (&name, &version), worker)
    }

    /// Ends the workers of inspected libraries that no GVK needed.
    fn end_idle_inspections(&mut self) {
        for i in &mut self.inspected {
            if let Some(w) = i.worker.take() {
                let _ = w.shutdown();
            }
        }
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

    /// Pins for every plugin-provided GVK of `gvks` (resolve them first), as a lock records
    /// them.
    pub fn pins<'a>(
        &self,
        gvks: impl IntoIterator<Item = &'a Gvk>,
    ) -> std::collections::BTreeMap<String, crate::store::lockfile::Pin> {
        let mut pins = std::collections::BTreeMap::new();
        for gvk in gvks {
            if let Some(p) = self.plugin_for(gvk) {
                pins.insert(
                    format!("{}/{}", gvk.api_version(), gvk.kind),
                    crate::store::lockfile::Pin {
                        plugin: p.name().to_owned(),
                        version: p.version().to_owned(),
                        sha256: p.sha256().to_owned(),
                        signer: p.admission().signer().to_owned(),
                        isolation: Some(p.isolation()),
                    },
                );
            }
        }
        pins
    }

    /// The plugin providing `gvk`, if a plugin provides it: the very library that registered
    /// it.
    pub fn plugin_for(&self, gvk: &Gvk) -> Option<&PluginHandle> {
        match &self.registry.get(gvk)?.provider {
            Provider::Plugin { path, .. } => self.plugins.iter().find(|p| p.path() == path),
            Provider::BuiltIn => None,
        }
    }

    /// The built-in generators' GVKs: kure's from the start, needing no resolution or lock.
    pub fn builtin_gvks(&self) -> impl Iterator<Item = Gvk> + '_ {
        self.registry
            .iter()
            .filter(|(_, e)| e.provider == Provider::BuiltIn)
            .map(|(g, _)| g.clone())
    }

    /// The registry as loaded so far.
    pub fn registry(&self) -> &StackRegistry {
        &self.registry
    }

    /// The plugins in use so far.
    pub fn plugins(&self) -> &[PluginHandle] {
        &self.plugins
    }

    /// Makes every plugin in the plugin directories available (once), for commands that only
    /// inspect (`gvks`, `schema`, `explain`, `validate`): each library runs in a sandboxed
    /// worker, never in kure. A library that cannot be loaded, two libraries with one name,
    /// and two providers of one GVK are errors.
    pub fn load_all_plugins(&mut self) -> Result<(), Error> {
        if self.scanned {
            return Ok(());
        }
        self.scanned = true;
        self.index()?;
        for found in self.discover() {
            let path = found?;
            if self.is_indexed_library(&path) || self.plugins.iter().any(|p| p.path() == path) {
                continue;
            }
            let i = self.inspect(path.clone())?;
            let Some(worker) = self.inspected[i].worker.take() else {
                continue;
            };
            self.inspected[i].admitted = None;
            let rank = if self.is_explicit(&path) {
                Rank::Explicit
            } else {
                Rank::PluginDir
            };
            self.add_ranked(PluginHandle::Process(worker), rank)?;
        }
        Ok(())
    }

    /// Where a provider comes from, best first: who wins when two provide one GVK.
    fn rank(&self, provider: &Provider) -> Option<Rank> {
        match provider {
            Provider::BuiltIn => None,
            Provider::Plugin { path, .. } if self.is_explicit(path) => Some(Rank::Explicit),
            Provider::Plugin { path, .. } if self.is_indexed_library(path) => Some(Rank::Installed),
            Provider::Plugin { .. } => Some(Rank::PluginDir),
        }
    }

    /// Registers an inspected plugin's generators where `rank` wins: a GVK that a better
    /// provider has stays with it, and a worse provider gives it up (both recorded in
    /// [`Self::shadowed`]). Two providers of one rank are an error.
    fn add_ranked(&mut self, plugin: PluginHandle, rank: Rank) -> Result<(), Error> {
        if let Some(other) = self.plugins.iter().find(|p| p.name() == plugin.name()) {
            return Err(Error::DuplicatePlugin {
                name: plugin.name().to_owned(),
                first: other.path().to_path_buf(),
                second: plugin.path().to_path_buf(),
            });
        }
        let provider = Provider::Plugin {
            name: plugin.name().to_owned(),
            version: plugin.version().to_owned(),
            path: plugin.path().to_path_buf(),
        };
        for g in plugin.generators() {
            let gvk = Gvk::parse(g.api_version(), g.kind())?;
            if let Some(better) = self.better_provider(&gvk, rank)? {
                // A better provider exists (loaded or not yet): this one never serves it.
                self.shadowed.push((gvk, provider.to_string(), better));
                continue;
            }
            let existing = self.registry.get(&gvk).map(|e| e.provider.clone());
            match existing.as_ref().map(|e| (self.rank(e), e)) {
                Some((Some(theirs), e)) if theirs < rank => {
                    self.shadowed
                        .push((gvk, provider.to_string(), e.to_string()));
                }
                Some((Some(theirs), e)) if theirs > rank => {
                    self.shadowed
                        .push((gvk.clone(), e.to_string(), provider.to_string()));
                    self.registry.replace(g, provider.clone())?;
                }
                _ => self.registry.register(g, provider.clone())?,
            }
        }
        self.plugins.push(plugin);
        Ok(())
    }

    /// GVKs with two providers where one won: (GVK, the one not used, the one used).
    pub fn shadowed(&self) -> &[(Gvk, String, String)] {
        &self.shadowed
    }

    /// Registers a plugin's generators. Its name must be new to this run.
    pub fn add_plugin(&mut self, plugin: impl Into<PluginHandle>) -> Result<(), Error> {
        let plugin = plugin.into();
        if let Some(other) = self.plugins.iter().find(|p| p.name() == plugin.name()) {
            return Err(Error::DuplicatePlugin {
                name: plugin.name().to_owned(),
                first: other.path().to_path_buf(),
                second: plugin.path().to_path_buf(),
            });
        }
        for g in plugin.generators() {
            self.registry.register(
                g,
                Provider::Plugin {
                    name: plugin.name().to_owned(),
                    version: plugin.version().to_owned(),
                    path: plugin.path().to_path_buf(),
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

    /// Makes sure every GVK of `gvks` that kure can generate is registered and loaded:
    /// built-ins first, then a `--plugin` library, then the installed plugin the index names
    /// for it (only that one), then the plugin directories. With a lock, only a library with
    /// the pinned bytes and signer is loaded for a GVK, and nothing is loaded for a GVK the
    /// lock does not pin. A GVK nobody provides stays unregistered.
    ///
    /// With a lock, what then serves each of `gvks` is confirmed against its pin, registered
    /// now or before: a plugin loaded for one GVK may bring in another that the lock does not
    /// pin to it. Every command that resolves (generate, validate, lock, fn) gets this rule here.
    pub fn resolve_gvks(&mut self, gvks: &[Gvk]) -> Result<(), Error> {
        for gvk in gvks {
            if self.registry.get(gvk).is_none() {
                self.resolve_one(gvk)?;
            }
        }
        if let Some(lock) = &self.lock {
            crate::store::lockfile::check(&lock.path, &lock.pins, &self.pins(gvks))?;
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
        if let Some(i) = self.explicit_provider(gvk)? {
            let i_label = format!(
                "{}@{} ({})",
                self.inspected[i].name,
                self.inspected[i].version,
                self.inspected[i].path.display()
            );
            if let Some(e) = &installed {
                self.warn(format!(
                    "{key}: using --plugin {i_label} for this run instead of installed plugin {}@{}",
                    e.name, e.version
                ));
            }
            let result = self.use_inspected(i, Some(&key));
            self.end_idle_inspections();
            return result;
        }
        if let Some(entry) = installed {
            self.load_installed(&entry, &key)?;
            if self.lock.is_none() {
                self.warn_if_shadowed(gvk, &key, &entry);
            }
            return Ok(());
        }
        let Some(lock) = self.lock.clone() else {
            // Learn what each plugin-directory library provides in a sandboxed worker, until
            // one provides `gvk`; only that one is used (in its isolation mode).
            let result = self.resolve_by_inspection(gvk);
            self.end_idle_inspections();
            return result;
        };
        let Some(pin) = lock.pins.get(&key) else {
            // Unknown to the store and not pinned: no library is loaded for it, and
            // validation reports that no generator provides it.
            return Ok(());
        };
        // Only a library whose bytes are the pinned ones is even admitted; the pin names it.
        for found in self.discover() {
            let path = found?;
            if self.is_known_library(&path) {
                continue;
            }
            let (library, digest) = read_library(&path)?;
            if crate::trust::digest_hex(&digest) != pin.sha256 {
                continue;
            }
            let admitted = admit(&path, (library, digest), &self.options.trust, None)?;
            return self.load_checked(admitted, Some(&key), (&pin.plugin, &pin.version), None);
        }
        Err(lock.refuse(format!(
            "it pins {key} to plugin {}@{} (sha256 {}), and neither the store nor the plugin directories hold a library with those bytes; no library was loaded for it",
            pin.plugin,
            pin.version,
            &pin.sha256[..12.min(pin.sha256.len())]
        )))
    }

    /// The `--plugin` library that provides `gvk`, inspected in a sandboxed worker. Every
    /// `--plugin` library must be usable: a problem with one is an error.
    fn explicit_provider(&mut self, gvk: &Gvk) -> Result<Option<usize>, Error> {
        for path in self.options.plugins.clone() {
            self.check_explicit_against_lock(&path)?;
            let i = self.inspect(path)?;
            if self.inspected[i].admitted.is_some() && self.inspected[i].gvks.contains(gvk) {
                return Ok(Some(i));
            }
        }
        Ok(None)
    }

    /// With a lock, a `--plugin` library must be bytes the lock pins (for some GVK) before any
    /// of it runs, even in a sandboxed worker.
    fn check_explicit_against_lock(&self, path: &std::path::Path) -> Result<(), Error> {
        let Some(lock) = &self.lock else {
            return Ok(());
        };
        let digest = crate::trust::digest_file(path).map_err(|source| LoadError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let sha = crate::trust::digest_hex(&digest);
        if lock.pins.values().any(|p| p.sha256 == sha) {
            return Ok(());
        }
        Err(lock.refuse(format!(
            "--plugin {} (sha256 {}) is not pinned by it; none of it ran. Run `kure lock` with the new build to pin it, or leave out --plugin",
            path.display(),
            &sha[..12]
        )))
    }

    /// The provider better than `rank` that offers `gvk`, if any: a `--plugin` library (for a
    /// worse rank), then the installed plugin (for a plugin-directory library).
    fn better_provider(&mut self, gvk: &Gvk, rank: Rank) -> Result<Option<String>, Error> {
        if rank > Rank::Explicit {
            for path in self.options.plugins.clone() {
                self.check_explicit_against_lock(&path)?;
                let i = self.inspect_as(path, false)?;
                let x = &self.inspected[i];
                if x.gvks.contains(gvk) {
                    return Ok(Some(format!(
                        "--plugin {}@{} ({})",
                        x.name,
                        x.version,
                        x.path.display()
                    )));
                }
            }
        }
        if rank > Rank::Installed {
            if let Some(e) = self
                .index()?
                .plugins
                .iter()
                .find(|e| e.parsed_gvks().contains(gvk))
            {
                return Ok(Some(format!("installed plugin {}@{}", e.name, e.version)));
            }
        }
        Ok(None)
    }

    /// Where the library at `path` comes from.
    fn rank_of(&self, path: &std::path::Path) -> Rank {
        if self.is_explicit(path) {
            Rank::Explicit
        } else if self.is_indexed_library(path) {
            Rank::Installed
        } else {
            Rank::PluginDir
        }
    }

    /// After the installed plugin was chosen for `gvk`: warns when a plugin-directory library
    /// also provides it (a dev build that would otherwise be shadowed without a word), saying
    /// how to use that one instead. Libraries that cannot be inspected are noted for `-v`.
    fn warn_if_shadowed(&mut self, gvk: &Gvk, key: &str, entry: &IndexEntry) {
        let candidates: Vec<PathBuf> = self
            .discover()
            .into_iter()
            .filter_map(Result::ok)
            .filter(|p| {
                !self.is_indexed_library(p)
                    && !self.is_explicit(p)
                    && !self.plugins.iter().any(|x| x.path() == p)
            })
            .collect();
        for path in candidates {
            match self.inspect_as(path.clone(), false) {
                Ok(i) if self.inspected[i].gvks.contains(gvk) => {
                    let other = &self.inspected[i];
                    let warning = format!(
                        "{key}: using installed plugin {}@{}; {} in a plugin directory ({}@{}) also provides it and is not used. Run that build with `--plugin {}`, or install it with `kure plugins install --replace {}`",
                        entry.name,
                        entry.version,
                        path.display(),
                        other.name,
                        other.version,
                        path.display(),
                        path.display()
                    );
                    self.warn(warning);
                }
                Ok(_) => {}
                Err(e) => self.skip(path, format!("not inspected: {e}")),
            }
        }
        self.end_idle_inspections();
    }

    /// Inspects every plugin-directory library (once per run, each in a sandboxed worker), so
    /// that two libraries with one name, or two providers of `gvk`, are caught; then uses the
    /// one that provides `gvk`.
    fn resolve_by_inspection(&mut self, gvk: &Gvk) -> Result<(), Error> {
        for found in self.discover() {
            let path = found?;
            if self.is_indexed_library(&path) || self.plugins.iter().any(|p| p.path() == path) {
                continue;
            }
            self.inspect(path)?;
        }
        let providers: Vec<usize> = (0..self.inspected.len())
            .filter(|&i| {
                self.inspected[i].admitted.is_some() && self.inspected[i].gvks.contains(gvk)
            })
            .collect();
        match providers.as_slice() {
            [] => Ok(()),
            [one] => {
                let key = format!("{}/{}", gvk.api_version(), gvk.kind);
                self.use_inspected(*one, Some(&key))
            }
            [a, b, ..] => {
                let name = |i: &Inspection| {
                    format!("plugin {}@{} ({})", i.name, i.version, i.path.display())
                };
                Err(Error::DuplicateGvk {
                    gvk: gvk.clone(),
                    first: name(&self.inspected[*a]),
                    second: name(&self.inspected[*b]),
                })
            }
        }
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
            match self.check_schema(doc) {
                Err(d) => problems.extend(d),
                Ok(entry) => problems.extend(own_checks(entry, doc).err().unwrap_or_default()),
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(problems))
        }
    }

    /// Only the checks kure makes itself ([`check_schema`](Self::check_schema)) on every
    /// document, never the generator's own (`kure validate --schema-only`).
    pub fn validate_schemas(&self, docs: &[Document]) -> Result<(), Error> {
        let problems: Vec<Diagnostic> = docs
            .iter()
            .filter_map(|d| self.check_schema(d).err())
            .flatten()
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(problems))
        }
    }

    /// The checks kure makes itself: a generator for the GVK, and the spec against its JSON
    /// Schema. Returns the generator's entry.
    pub fn check_schema(
        &self,
        doc: &Document,
    ) -> Result<&crate::generate::registry::Entry, Vec<Diagnostic>> {
        let Some(entry) = self.registry.get(&doc.gvk) else {
            let near = self.registry.nearest(&doc.gvk);
            let hint = if near.is_empty() {
                "run `kure gvks` to list the registered generators, or install the plugin that provides it".to_owned()
            } else {
                format!("did you mean {}?", near.join(" or "))
            };
            return Err(vec![Diagnostic {
                location: doc.locate("kind"),
                message: format!(
                    "no generator for apiVersion `{}` kind `{}`: {hint}",
                    doc.gvk.api_version(),
                    doc.gvk.kind
                ),
                field: Some("kind".to_owned()),
            }]);
        };
        let schema = in_app(entry, doc, || entry.schema()).map_err(|e| {
            let message = match e {
                crate::generate::registry::SchemaError::Unavailable(p) => format!(
                    "app `{}`: {} could not give the JSON Schema of {}: {}",
                    doc.name,
                    entry.provider,
                    doc.gvk,
                    crate::util::shown_message(&p.message)
                ),
                crate::generate::registry::SchemaError::Unusable(why) => format!(
                    "app `{}`: the JSON Schema of {} from {} cannot be used: {why}. kure refuses \
                     the spec rather than skip the check; report this to the plugin's author",
                    doc.name, doc.gvk, entry.provider
                ),
            };
            vec![Diagnostic {
                location: doc.location.clone(),
                message,
                field: None,
            }]
        })?;
        let issues = schema.check(doc.spec());
        if issues.is_empty() {
            Ok(entry)
        } else {
            let pairs: Vec<(&str, &str)> = issues
                .iter()
                .map(|i| (i.path.as_str(), i.message.as_str()))
                .collect();
            let mut problems = diags(doc, &pairs);
            // Top to bottom, as the reader meets them (stable: one line keeps the validator's
            // order).
            problems.sort_by_key(|d| d.location.line);
            Err(problems)
        }
    }

    /// Whether `gvk`'s generator takes many apps at once (a plugin in a worker process).
    pub fn batched(&self, gvk: &Gvk) -> bool {
        self.registry
            .get(gvk)
            .is_some_and(|e| e.generator.prefers_batches())
    }

    /// The generator's own checks of documents of one GVK, in one batch (after
    /// [`check_schema`](Self::check_schema)); one result per document.
    pub fn validate_batch(
        &self,
        gvk: &Gvk,
        docs: &[&Document],
    ) -> Vec<Result<(), Vec<Diagnostic>>> {
        let Some(entry) = self.registry.get(gvk) else {
            return docs
                .iter()
                .map(|d| Err(self.check_schema(d).err().unwrap_or_default()))
                .collect();
        };
        let specs: Vec<&Value> = docs.iter().map(|d| d.spec()).collect();
        let start = std::time::Instant::now();
        let results = entry.generator.validate_batch(&specs);
        self.audit_batch(gvk, "validate", docs, &results, start);
        docs.iter()
            .zip(results)
            .map(|(doc, r)| r.map_err(|p| plugin_problems(doc, &p)))
            .collect()
    }

    /// Generates documents of one GVK in one batch and checks each one's objects; one result
    /// per document.
    pub fn generate_batch(&self, gvk: &Gvk, docs: &[&Document]) -> Vec<Result<Vec<Value>, Error>> {
        self.batch_answers(
            gvk,
            docs,
            |entry, doc, answer| {
                let objects = answer.and_then(|text| crate::plugin::host::parse_objects(&text));
                self.generated(entry, doc, objects)
            },
            |doc| self.generate_one(doc),
        )
    }

    /// One batch of `gvk`'s apps to its generator (one round trip to a worker), each answer
    /// (JSON text) made into a result by `answer`; `alone` for each app when `gvk` has no
    /// generator.
    fn batch_answers<R>(
        &self,
        gvk: &Gvk,
        docs: &[&Document],
        answer: impl Fn(
            &crate::generate::registry::Entry,
            &Document,
            Result<String, ErrorPayload>,
        ) -> Result<R, Error>,
        alone: impl Fn(&Document) -> Result<R, Error>,
    ) -> Vec<Result<R, Error>> {
        let Some(entry) = self.registry.get(gvk) else {
            return docs.iter().map(|d| alone(d)).collect();
        };
        let apps: Vec<&Value> = docs.iter().map(|d| &d.value).collect();
        let start = std::time::Instant::now();
        let results = entry.generator.generate_batch_json(&apps);
        self.audit_batch(gvk, "generate", docs, &results, start);
        docs.iter()
            .zip(results)
            .map(|(doc, r)| answer(entry, doc, r))
            .collect()
    }

    /// One audit record per app of a batch sent to a worker; each gets an even share of the
    /// batch's time.
    fn audit_batch<T>(
        &self,
        gvk: &Gvk,
        entry: &str,
        docs: &[&Document],
        results: &[Result<T, ErrorPayload>],
        start: std::time::Instant,
    ) {
        if !crate::trust::audit::enabled() || docs.is_empty() {
            return;
        }
        let Some(p) = self.plugin_for(gvk) else {
            return;
        };
        let share = start.elapsed().as_micros() as u64 / docs.len() as u64;
        let key = format!("{}/{}", gvk.api_version(), gvk.kind);
        let time = crate::util::now_rfc3339();
        for (doc, r) in docs.iter().zip(results) {
            crate::trust::audit::record(&crate::trust::audit::Record {
                time: time.clone(),
                plugin: p.name(),
                version: p.version(),
                sha256: p.sha256(),
                signer: p.admission().signer(),
                isolation: p.isolation().as_str(),
                entry,
                gvk: Some(&key),
                app: Some(doc.name.clone()),
                location: Some(doc.location.to_string()),
                duration_us: share,
                outcome: match r {
                    Ok(_) => "ok".to_owned(),
                    Err(e) => e.kind.clone(),
                },
            });
        }
    }

    /// Validates and generates every example `plugin` documents, as `kure generate` treats a
    /// spec: the enforced schema, the plugin's own `validate`, `generate`, and the checks on
    /// what it returns. For `kure plugins install`: a plugin whose documentation shows specs
    /// it refuses is not installed. Messages name the example (`example NAME of KIND:LINE`).
    pub fn check_examples(plugin: PluginHandle) -> Result<(), Error> {
        let mut engine = Engine::new(EngineOptions::default());
        let generators = plugin.generators();
        engine.add_plugin(plugin)?;
        let mut problems = Vec::new();
        for g in generators {
            let docs = g.documentation().map_err(|p| {
                Error::Invalid(vec![Diagnostic {
                    location: crate::input::decode::Location::new(
                        format!("documentation of {}", g.kind()),
                        0,
                    ),
                    message: format!("cannot be read: {}", describe_payload(&p)),
                    field: None,
                }])
            })?;
            if docs.examples.len() > MAX_EXAMPLES {
                problems.push(Diagnostic {
                    location: crate::input::decode::Location::new(
                        format!("documentation of {}", g.kind()),
                        1,
                    ),
                    message: format!(
                        "documents {} examples; kure checks every one at install and takes at most {MAX_EXAMPLES}: document fewer",
                        docs.examples.len()
                    ),
                    field: None,
                });
                continue;
            }
            for ex in &docs.examples {
                let file = PathBuf::from(format!(
                    "example `{}` of {}",
                    crate::util::shown(&ex.name),
                    g.kind()
                ));
                let mut parsed = Vec::new();
                let before = problems.len();
                crate::input::decode::decode_str(&file, &ex.config, &mut parsed, &mut problems);
                if parsed.is_empty() && problems.len() == before {
                    problems.push(Diagnostic {
                        location: crate::input::decode::Location::new(file, 1),
                        message: "holds no YAML document".to_owned(),
                        field: None,
                    });
                    continue;
                }
                for doc in &parsed {
                    match engine.check_and_generate(doc) {
                        Ok(_) => {}
                        Err(Error::Invalid(d)) => problems.extend(d),
                        Err(e) => problems.push(Diagnostic {
                            location: doc.location.clone(),
                            message: e.to_string(),
                            field: None,
                        }),
                    }
                }
            }
        }
        engine.shutdown()?;
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(problems))
        }
    }

    /// Everything `kure generate` does to one document: kure's checks
    /// ([`check_schema`](Self::check_schema)), the generator's own, the generator, and the
    /// checks on what it returns. The generator's own checks run inside its `generate` when it
    /// runs them there (every SDK generator since kure-plugin-api 1.1), so the spec crosses
    /// the boundary and is decoded once; else `validate` is called first. A failing check is
    /// [`Error::Invalid`], as from [`validate`](Self::validate).
    pub fn check_and_generate(&self, doc: &Document) -> Result<Vec<Value>, Error> {
        self.checks_before_generate(doc)?;
        self.generate_one(doc)
    }

    /// The checks [`check_and_generate`](Self::check_and_generate) makes before the generator
    /// runs: kure's, then the generator's own unless it runs them inside `generate`.
    fn checks_before_generate(
        &self,
        doc: &Document,
    ) -> Result<&crate::generate::registry::Entry, Error> {
        let entry = self.check_schema(doc).map_err(Error::Invalid)?;
        if !entry.generator.generate_validates() {
            own_checks(entry, doc).map_err(Error::Invalid)?;
        }
        Ok(entry)
    }

    /// [`check_and_generate`](Self::check_and_generate), each object as YAML with its header
    /// (its `apiVersion`, `kind`, `metadata.name` and `metadata.namespace`: what kure checks
    /// and names files by). A generator whose answer is cheapest as JSON text (an in-process
    /// plugin, a built-in that writes typed objects:
    /// [`answers_in_text`](kure_plugin_api::sdk::DynGenerator::answers_in_text)) answers with
    /// text, written straight to YAML ([`transcode`](crate::output::transcode)) without being
    /// built as values, unless it is in a shape only values give exactly. Others answer with
    /// values.
    pub fn check_and_render(&self, doc: &Document) -> Result<YamlObjects, Error> {
        let entry = self.checks_before_generate(doc)?;
        if entry.generator.prefers_batches() || !entry.generator.answers_in_text() {
            return self.generate_one(doc).map(with_yaml);
        }
        let answer = in_app(entry, doc, || entry.generator.generate_text(&doc.value));
        self.rendered(entry, doc, answer)
    }

    /// [`generate_batch`](Self::generate_batch), each object as YAML with its header, as
    /// [`check_and_render`](Self::check_and_render) gives them: the worker's answers are
    /// transcoded from their JSON text.
    pub fn render_batch(&self, gvk: &Gvk, docs: &[&Document]) -> Vec<Result<YamlObjects, Error>> {
        self.batch_answers(
            gvk,
            docs,
            |entry, doc, answer| self.rendered(entry, doc, answer),
            |doc| self.generate_one(doc).map(with_yaml),
        )
    }

    /// A generator's answer as JSON text, to checked objects as YAML with their headers.
    fn rendered<T: std::ops::Deref<Target = str>>(
        &self,
        entry: &crate::generate::registry::Entry,
        doc: &Document,
        answer: Result<T, ErrorPayload>,
    ) -> Result<YamlObjects, Error> {
        let text = match answer {
            Ok(text) => text,
            Err(p) => return self.generated(entry, doc, Err(p)).map(with_yaml),
        };
        match crate::output::transcode::objects_yaml(&text) {
            Some(objects) => {
                for (n, (header, _)) in objects.iter().enumerate() {
                    if let Some(problem) = crate::validate::output::object_problem(n + 1, header) {
                        return Err(self.generate_error(doc, problem));
                    }
                }
                Ok(objects)
            }
            None => self
                .generated(entry, doc, crate::plugin::host::parse_objects(&text))
                .map(with_yaml),
        }
    }

    /// Whether `gvk`'s generator runs its own checks inside `generate`
    /// ([`check_and_generate`](Self::check_and_generate)).
    pub fn generate_validates(&self, gvk: &Gvk) -> bool {
        self.registry
            .get(gvk)
            .is_some_and(|e| e.generator.generate_validates())
    }

    /// Generates one document's objects and checks their shape (after
    /// [`check_schema`](Self::check_schema); the generator's own checks fail as
    /// [`Error::Invalid`] when it runs them).
    pub fn generate_one(&self, doc: &Document) -> Result<Vec<Value>, Error> {
        let entry = self.registry.get(&doc.gvk).ok_or_else(|| {
            Error::Invalid(vec![Diagnostic {
                location: doc.location.clone(),
                message: format!("no generator for {}", doc.gvk),
                field: None,
            }])
        })?;
        let result = in_app(entry, doc, || entry.generator.generate(&doc.value));
        self.generated(entry, doc, result)
    }

    /// A generator's answer for `doc`: its objects once checked, or what went wrong (its own
    /// checks' failure as [`Error::Invalid`] when it runs them in `generate`).
    fn generated(
        &self,
        entry: &crate::generate::registry::Entry,
        doc: &Document,
        result: Result<Vec<Value>, ErrorPayload>,
    ) -> Result<Vec<Value>, Error> {
        let objects = result.map_err(|p| {
            if p.kind == "invalid-config" && entry.generator.generate_validates() {
                Error::Invalid(plugin_problems(doc, &p))
            } else {
                self.generate_error(doc, describe_payload(&p))
            }
        })?;
        self.check_objects(doc, &objects)?;
        Ok(objects)
    }

    /// Every object needs apiVersion, kind and metadata.name, and names that cannot be paths.
    fn check_objects(&self, doc: &Document, objects: &[Value]) -> Result<(), Error> {
        for (n, o) in objects.iter().enumerate() {
            if let Some(problem) = crate::validate::output::object_problem(n + 1, o) {
                return Err(self.generate_error(doc, problem));
            }
        }
        Ok(())
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

    /// Calls `shutdown` on every initialized plugin and ends every worker. A worker that
    /// fails there is an error: its output must not be used.
    pub fn shutdown(&mut self) -> Result<(), Error> {
        let mut failed = Vec::new();
        for p in &self.plugins {
            if let Err(e) = p.shutdown() {
                failed.push(crate::util::shown_message(&e));
            }
        }
        self.end_idle_inspections();
        if failed.is_empty() {
            Ok(())
        } else {
            Err(Error::Shutdown(failed.join("\n")))
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// One app's objects, each as YAML with the object (or, transcoded, its header) that kure
/// checks, names its file by and finds duplicates with.
pub type YamlObjects = Vec<(Value, String)>;

/// Objects with their YAML, from values.
fn with_yaml(objects: Vec<Value>) -> YamlObjects {
    objects
        .into_iter()
        .map(|o| {
            let text = crate::output::emit::to_string(&o);
            (o, text)
        })
        .collect()
}

/// The generator's own checks of one document (its `validate`).
fn own_checks(
    entry: &crate::generate::registry::Entry,
    doc: &Document,
) -> Result<(), Vec<Diagnostic>> {
    in_app(entry, doc, || entry.generator.validate(doc.spec()))
        .map_err(|p| plugin_problems(doc, &p))
}

/// A generator's own validation failure as diagnostics: one per issue, or the message.
fn plugin_problems(doc: &Document, p: &ErrorPayload) -> Vec<Diagnostic> {
    use crate::util::{shown, shown_message};
    if p.issues.is_empty() {
        vec![diag(doc, "", &shown_message(&p.message))]
    } else {
        let shown: Vec<(String, String)> = p
            .issues
            .iter()
            .map(|i| (shown(&i.path), shown_message(&i.message)))
            .collect();
        let pairs: Vec<(&str, &str)> = shown
            .iter()
            .map(|(p, m)| (p.as_str(), m.as_str()))
            .collect();
        diags(doc, &pairs)
    }
}

fn diag(doc: &Document, path: &str, message: &str) -> Diagnostic {
    diags(doc, &[(path, message)]).remove(0)
}

/// Diagnostics for problems at paths below `spec`, their lines found in one pass over the
/// document.
fn diags(doc: &Document, problems: &[(&str, &str)]) -> Vec<Diagnostic> {
    let full: Vec<String> = problems
        .iter()
        .map(|(path, _)| {
            if path.is_empty() {
                "spec".to_owned()
            } else {
                format!("spec.{path}")
            }
        })
        .collect();
    let paths: Vec<&str> = full.iter().map(String::as_str).collect();
    doc.locate_all(&paths)
        .into_iter()
        .zip(full)
        .zip(problems)
        .map(|((location, full), (_, message))| Diagnostic {
            location,
            message: format!("app `{}`: {full}: {message}", doc.name),
            field: Some(full),
        })
        .collect()
}

/// Runs `f` with `doc` as the app every contained plugin call names (plugins only: built-ins
/// need no record).
fn in_app<R>(entry: &crate::generate::registry::Entry, doc: &Document, f: impl FnOnce() -> R) -> R {
    match entry.provider {
        Provider::BuiltIn => f(),
        Provider::Plugin { .. } => crate::plugin::contain::with_app(&doc.name, &doc.location, f),
    }
}

fn describe_payload(p: &ErrorPayload) -> String {
    let message = crate::util::shown_message(&p.message);
    match p.kind.as_str() {
        "panic" => format!("the generator panicked ({message})"),
        _ => message,
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
