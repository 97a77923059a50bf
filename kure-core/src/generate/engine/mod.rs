//! The pipeline behind `kure generate` and `kure validate`: resolve each document's GVK,
//! validate its spec, run its generator, check what came back.
//!
//! # Files
//!
//! - `resolve`: finding the generator of each GVK: built-ins, the store, plugin directories,
//!   explicit libraries; trust checks before any load, ranking, the lock;
//! - `check`: what a spec must pass before its generator runs (schema, the generator's own
//!   checks) and a plugin's documented examples;
//! - `run`: running generators one app at a time or in batches, the audit of each call, and
//!   the checks on what comes back.

mod check;
mod resolve;
mod run;
#[cfg(test)]
mod tests;

pub use run::YamlObjects;

use crate::generate::registry::{Provider, StackRegistry};
use crate::model::error::Error;
use crate::model::gvk::Gvk;
use crate::plugin::isolation::IsolationPolicy;
use crate::plugin::process::{Starting, WorkerPlugin};
use crate::plugin::{plugin_dirs, Admitted, PluginHandle, Sealed};
use crate::store::lockfile::Lock;
use crate::store::{Index, Store};
use crate::trust::TrustPolicy;
use std::path::PathBuf;
use std::sync::Arc;

/// How the engine finds, trusts and runs plugins.
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// Libraries to use for this run ahead of installed plugins and plugin directories
    /// (`--plugin`): the dev loop's way to run a fresh build without installing it.
    pub plugins: Vec<PathBuf>,
    /// Extra plugin directories, searched first (`--plugin-dir`, config).
    pub plugin_dirs: Vec<PathBuf>,
    /// How many of `plugin_dirs`, from the first, the user named for this run
    /// (`--plugin-dir`): a library there that kure skips (not a plugin, unsigned, untrusted)
    /// is a warning, since the user meant it to be used; elsewhere it is a `-v` note.
    pub named_dirs: usize,
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
        if let Some(dir) = self.named_dir_of(&path) {
            let warning = format!(
                "{} (in --plugin-dir {}) was not used: {why}",
                path.display(),
                dir.display()
            );
            self.warn(warning);
        } else if !self.skipped.iter().any(|(p, _)| *p == path) {
            self.skipped.push((path, why));
        }
    }

    /// The `--plugin-dir` directory that holds the library at `path`, if any.
    pub(super) fn named_dir_of(&self, path: &std::path::Path) -> Option<PathBuf> {
        let parent = std::fs::canonicalize(path.parent()?).ok()?;
        self.options
            .plugin_dirs
            .iter()
            .take(self.options.named_dirs)
            .find(|d| std::fs::canonicalize(d).is_ok_and(|d| d == parent))
            .cloned()
    }

    /// Enforces `lock`: from now on a plugin is loaded only if its bytes and signer match the
    /// pins of the GVK it is loaded for, and used only if its name, version and isolation
    /// match too.
    pub fn set_lock(&mut self, lock: Lock) {
        self.lock = Some(lock);
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
                        source: None,
                        platforms: Default::default(),
                        requires: Vec::new(),
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

    /// Whether a document of `gvk` is kure's to generate (after
    /// [`resolve_gvks`](Self::resolve_gvks)): a generator has it, or it is in an API group
    /// that a generator kure knows of has: loaded, installed, pinned by the lock, or offered
    /// by a plugin-directory library already inspected (resolving an unknown GVK inspects
    /// them all). A kind no generator has in such a group (a typo such as `AppWorklaod`) is a
    /// kure spec that is wrong, not an object to copy through (`kure fn`, `--passthrough`).
    pub fn generates_for(&self, gvk: &Gvk) -> bool {
        let group = gvk.group.as_str();
        let pinned_group = |key: &String| {
            let api_version = key.rsplit_once('/').map_or("", |(a, _)| a);
            api_version.rsplit_once('/').map_or("", |(g, _)| g) == group
        };
        self.registry.get(gvk).is_some()
            || self.registry.iter().any(|(g, _)| g.group == group)
            || self
                .inspected
                .iter()
                .any(|i| i.gvks.iter().any(|g| g.group == group))
            || self.index.as_ref().is_some_and(|index| {
                index
                    .plugins
                    .iter()
                    .any(|e| e.parsed_gvks().iter().any(|g| g.group == group))
            })
            || self
                .lock
                .as_ref()
                .is_some_and(|lock| lock.pins.keys().any(pinned_group))
    }

    /// The registry as loaded so far.
    pub fn registry(&self) -> &StackRegistry {
        &self.registry
    }

    /// The plugins in use so far.
    pub fn plugins(&self) -> &[PluginHandle] {
        &self.plugins
    }

    /// GVKs with two providers where one won: (GVK, the one not used, the one used).
    pub fn shadowed(&self) -> &[(Gvk, String, String)] {
        &self.shadowed
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

/// Runs `f` with `doc` as the app every contained plugin call names (plugins only: built-ins
/// need no record).
pub(super) fn in_app<R>(
    entry: &crate::generate::registry::Entry,
    doc: &crate::model::document::Document,
    f: impl FnOnce() -> R,
) -> R {
    match entry.provider {
        Provider::BuiltIn => f(),
        Provider::Plugin { .. } => crate::plugin::contain::with_app(&doc.name, &doc.location, f),
    }
}
