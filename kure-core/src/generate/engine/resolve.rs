//! Finding the generator of each GVK: built-ins, the store, plugin directories and explicit
//! libraries; trust checks before any load, ranking between providers, the lock.

use crate::generate::registry::Provider;
use crate::input::decode::Document;
use crate::model::error::Error;
use crate::model::gvk::Gvk;
use crate::plugin::isolation::Isolation;
use crate::plugin::process::{Starting, WorkerPlugin};
use crate::plugin::{
    admit, discover_checked, read_library, read_staged, Admitted, LoadError, PluginHandle, Staging,
};
use crate::store::{Index, IndexEntry, IndexedGvk};
use kure_plugin_api::abi::ErrorKind;
use kure_plugin_api::abi::ErrorPayload;
use kure_plugin_api::host::DynGenerator;
use kure_plugin_api::sdk::Documentation;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use super::*;

impl Engine {
    /// The libraries to consider, in order: `--plugin` libraries (as given: the user named
    /// them), then the kure plugins of the plugin directories. Non-plugins are skipped and
    /// remembered.
    pub(super) fn discover(&mut self) -> Vec<Result<PathBuf, LoadError>> {
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

    pub(super) fn is_explicit(&self, path: &std::path::Path) -> bool {
        self.options.plugins.iter().any(|p| p == path)
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

    pub(super) fn is_indexed_library(&self, path: &std::path::Path) -> bool {
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
    pub(super) fn is_known_library(&self, path: &std::path::Path) -> bool {
        self.is_indexed_library(path)
            || self.plugins.iter().any(|p| p.path() == path)
            || self.inspected.iter().any(|i| i.path == path)
    }

    /// Loads an installed plugin for `gvk`: its bytes must still hash to what the index
    /// recorded, its signature must still verify, and the lock's pins must match, all before
    /// any of it runs.
    pub(super) fn load_installed(&mut self, entry: &IndexEntry, gvk: &str) -> Result<(), Error> {
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
    pub(super) fn read_for(
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
    pub(super) fn start_worker(
        &self,
        path: &std::path::Path,
    ) -> Result<(Staging, Starting), Error> {
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
    pub(super) fn load_checked(
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
    pub(super) fn inspect(&mut self, path: PathBuf) -> Result<usize, Error> {
        self.inspect_as(path, true)
    }

    /// [`Self::inspect`]; `unique_name: false` accepts a library whose name is already in use
    /// (a dev build of an installed plugin), for looking only.
    pub(super) fn inspect_as(&mut self, path: PathBuf, unique_name: bool) -> Result<usize, Error> {
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
    pub(super) fn use_inspected(&mut self, i: usize, gvk: Option<&str>) -> Result<(), Error> {
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
    pub(super) fn end_idle_inspections(&mut self) {
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
    pub(super) fn rank(&self, provider: &Provider) -> Option<Rank> {
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
    pub(super) fn add_ranked(&mut self, plugin: PluginHandle, rank: Rank) -> Result<(), Error> {
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

    pub(super) fn missing(&self, docs: &[Document]) -> BTreeSet<Gvk> {
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

    pub(super) fn resolve_one(&mut self, gvk: &Gvk) -> Result<(), Error> {
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
    pub(super) fn explicit_provider(&mut self, gvk: &Gvk) -> Result<Option<usize>, Error> {
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
    pub(super) fn check_explicit_against_lock(&self, path: &std::path::Path) -> Result<(), Error> {
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
    pub(super) fn better_provider(
        &mut self,
        gvk: &Gvk,
        rank: Rank,
    ) -> Result<Option<String>, Error> {
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
    pub(super) fn rank_of(&self, path: &std::path::Path) -> Rank {
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
    pub(super) fn warn_if_shadowed(&mut self, gvk: &Gvk, key: &str, entry: &IndexEntry) {
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
                Err(e) => match self.named_dir_of(&path) {
                    // A dev build the user pointed at, refused (unsigned, untrusted): the
                    // installed plugin ran instead, which must not go unsaid.
                    Some(dir) => {
                        let warning = format!(
                            "{key}: using installed plugin {}@{}; {} (in --plugin-dir {}) may be a newer build of it, but was not used: {e}",
                            entry.name,
                            entry.version,
                            path.display(),
                            dir.display()
                        );
                        self.warn(warning);
                    }
                    None => self.skip(path, format!("not inspected: {e}")),
                },
            }
        }
        self.end_idle_inspections();
    }

    /// Inspects every plugin-directory library (once per run, each in a sandboxed worker), so
    /// that two libraries with one name, or two providers of `gvk`, are caught; then uses the
    /// one that provides `gvk`.
    pub(super) fn resolve_by_inspection(&mut self, gvk: &Gvk) -> Result<(), Error> {
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

    /// Like [`resolve_gvks`](Self::resolve_gvks) for the documents' GVKs, but never loads an installed plugin: its GVKs are
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
            kind: ErrorKind::Internal,
            message: "the plugin was not loaded (index entry only)".to_owned(),
            issues: Vec::new(),
        })
    }

    fn documentation(&self) -> Result<Documentation, ErrorPayload> {
        Ok(self.0.documentation.clone())
    }
}
