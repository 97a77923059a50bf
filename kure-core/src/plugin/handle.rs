//! One plugin of a run, whichever way it runs: loaded into kure ([`LoadedPlugin`]) or in a
//! sandboxed worker process ([`WorkerPlugin`]). Everything that only needs to know *which*
//! plugin it is (name, version, library, bytes, signer, mode) goes through this type.

use std::path::Path;
use std::sync::Arc;

use kure_plugin_api::host::DynGenerator;

use super::process::WorkerPlugin;
use super::LoadedPlugin;
use super::PluginIdentity;
use crate::plugin::isolation::Isolation;
use crate::trust::Admission;

/// A plugin the engine uses, in its isolation mode.
#[derive(Clone)]
pub enum PluginHandle {
    /// Loaded into kure's process.
    InProcess(Arc<LoadedPlugin>),
    /// Running in a sandboxed worker process.
    Process(Arc<WorkerPlugin>),
}

impl PluginHandle {
    /// Who it is, in either mode.
    pub fn identity(&self) -> &PluginIdentity {
        match self {
            PluginHandle::InProcess(p) => &p.identity,
            PluginHandle::Process(p) => &p.identity,
        }
    }

    /// Plugin name.
    pub fn name(&self) -> &str {
        &self.identity().name
    }

    /// Plugin version.
    pub fn version(&self) -> &str {
        &self.identity().version
    }

    /// `name@version`.
    pub fn label(&self) -> String {
        format!("{}@{}", self.name(), self.version())
    }

    /// Description.
    pub fn description(&self) -> &str {
        &self.identity().description
    }

    /// Author.
    pub fn author(&self) -> &str {
        &self.identity().author
    }

    /// The library file.
    pub fn path(&self) -> &Path {
        &self.identity().path
    }

    /// SHA-256 of the library's bytes, hex.
    pub fn sha256(&self) -> &str {
        &self.identity().sha256
    }

    /// How the library was admitted (signer, or unsigned).
    pub fn admission(&self) -> &Admission {
        &self.identity().admission
    }

    /// Where its code runs.
    pub fn isolation(&self) -> Isolation {
        match self {
            PluginHandle::InProcess(_) => Isolation::InProcess,
            PluginHandle::Process(_) => Isolation::Process,
        }
    }

    /// Its generators, one per GVK, in registration order.
    pub fn generators(&self) -> Vec<Arc<dyn DynGenerator>> {
        match self {
            PluginHandle::InProcess(p) => p.generators.clone(),
            PluginHandle::Process(p) => p.generators(),
        }
    }

    /// Calls the plugin's `shutdown` (once, if it was initialized); a worker then exits. What a
    /// worker printed joins kure's plugin-output capture (shown with `-v`). In-process, a
    /// failing shutdown ends kure (see [`crate::plugin::contain`]); a worker's is returned.
    pub fn shutdown(&self) -> Result<(), String> {
        match self {
            PluginHandle::InProcess(p) => {
                p.shutdown();
                Ok(())
            }
            PluginHandle::Process(p) => p.shutdown().map_err(|e| e.message),
        }
    }
}

impl From<Arc<LoadedPlugin>> for PluginHandle {
    fn from(p: Arc<LoadedPlugin>) -> Self {
        PluginHandle::InProcess(p)
    }
}

impl From<Arc<WorkerPlugin>> for PluginHandle {
    fn from(p: Arc<WorkerPlugin>) -> Self {
        PluginHandle::Process(p)
    }
}
