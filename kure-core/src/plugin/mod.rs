//! Plugins: discovery, loading exactly the bytes that were read, and the host side of the ABI.

mod adapter;
mod admission;
pub mod contain;
mod discover;
mod error;
mod handle;
pub mod isolation;
pub(crate) mod json;
pub(crate) mod killpoint;
pub(crate) mod load;
mod loader;
pub mod process;
mod reap;
pub mod sandbox;

pub use admission::{
    admit, load_plugin, load_plugin_observed, read_library, read_staged, Admitted,
};
pub use discover::{
    discover_checked, discover_libraries, kure_home, plugin_dirs, Discovery, PluginDirs,
};
pub use error::{LoadError, WorkerError};

/// Who a loaded plugin is: the same in process isolation and in-process ([`LoadedPlugin`] and
/// [`process::WorkerPlugin`] both hold one, and read as one).
#[derive(Debug, Clone)]
pub struct PluginIdentity {
    /// Plugin name (checked: letters, digits, `-`, `_`).
    pub name: String,
    /// Plugin version (checked: semver).
    pub version: String,
    /// Description (the plugin's own words: shown escaped).
    pub description: String,
    /// Author (the plugin's own words: shown escaped).
    pub author: String,
    /// The library file.
    pub path: std::path::PathBuf,
    /// How the library was admitted.
    pub admission: crate::trust::Admission,
    /// SHA-256 of the library's bytes, hex.
    pub sha256: String,
    /// What the library reported about its build (checked while loading).
    pub abi_info: kure_plugin_api::abi::AbiInfo,
}
pub use handle::PluginHandle;
pub use load::{load_admitted, LoadedPlugin, API_VERSION};
pub use loader::{Sealed, Staging, MAX_LIBRARY_BYTES};
