//! Plugins: discovery, loading exactly the bytes that were read, and the host side of the ABI.

pub mod contain;
mod discover;
mod handle;
pub(crate) mod host;
pub mod isolation;
pub(crate) mod killpoint;
mod loader;
pub mod process;
mod reap;
pub mod sandbox;

pub use discover::{
    discover_checked, discover_libraries, kure_home, plugin_dirs, Discovery, PluginDirs,
};
pub use handle::PluginHandle;
pub use host::{
    admit, load_admitted, load_installed_plugin, load_plugin, load_plugin_observed, read_library,
    read_staged, Admitted, LoadedPlugin, API_VERSION,
};
pub use loader::{Sealed, Staging, MAX_LIBRARY_BYTES};

use std::path::PathBuf;

/// Why a plugin could not be loaded: one variant per loading stage.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The library file could not be read.
    #[error("cannot read plugin {}: {source}", path.display())]
    Read {
        /// The library.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The library's signature is missing or not trusted.
    #[error("plugin {} refused: {reason}", path.display())]
    Signature {
        /// The library.
        path: PathBuf,
        /// What failed and what to do.
        reason: String,
    },
    /// A library in a plugin directory that is a symlink to somewhere outside it.
    #[error("plugin {} refused: it is a symlink to {}, outside the plugin directory {}; copy the library into the plugin directory instead", path.display(), target.display(), dir.display())]
    Symlink {
        /// The symlink.
        path: PathBuf,
        /// Where it points.
        target: PathBuf,
        /// The plugin directory.
        dir: PathBuf,
    },
    /// An installed library no longer matches the hash recorded at install time.
    #[error("plugin {plugin} ({}) was modified after it was installed (sha256 {found}, recorded {recorded}); reinstall it with `kure plugins install`", path.display())]
    Modified {
        /// Plugin name.
        plugin: String,
        /// The library.
        path: PathBuf,
        /// Hash now.
        found: String,
        /// Hash recorded.
        recorded: String,
    },
    /// The file is not a loadable library (random bytes, wrong platform).
    #[error("{} is not a loadable library ({reason}); remove it from the plugin directory", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// The loader's message.
        reason: String,
    },
    /// A shared library that does not export a kure plugin.
    #[error("{} is a shared library but not a kure plugin (it exports no kure root module); remove it from the plugin directory", path.display())]
    NotAPlugin {
        /// The file.
        path: PathBuf,
    },
    /// Built against an incompatible kure-plugin-api version.
    #[error("plugin {} was built against kure-plugin-api {found}, which this kure ({expected}) cannot load: rebuild the plugin against kure-plugin-api {expected_major}.x", path.display())]
    Version {
        /// The library.
        path: PathBuf,
        /// The plugin's version.
        found: String,
        /// This kure's kure-plugin-api version.
        expected: String,
        /// Major version to rebuild against.
        expected_major: String,
    },
    /// The plugin's ABI layout differs from this kure's.
    #[error("plugin {} has an incompatible ABI: its types do not match the kure-plugin-api {expected} this kure was built with (it was probably built against a modified or different kure-plugin-api). Rebuild the plugin against kure-plugin-api {expected}; run with --verbose for the full layout report", path.display())]
    Layout {
        /// The library.
        path: PathBuf,
        /// This kure's kure-plugin-api version.
        expected: String,
        /// abi_stable's full report.
        details: String,
    },
    /// The plugin's data-level ABI version or features do not fit
    /// ([`kure_plugin_api::abi::check_compatible`]).
    #[error("plugin {} {reason}: rebuild it against kure-plugin-api {api}", path.display())]
    AbiVersion {
        /// The library.
        path: PathBuf,
        /// What does not fit.
        reason: String,
        /// This kure's kure-plugin-api version.
        api: String,
    },
    /// Creating, initializing or health-checking the plugin failed.
    #[error("plugin {plugin} ({}) failed to start: {reason}", path.display())]
    Init {
        /// Plugin name (or file name when unknown).
        plugin: String,
        /// The library.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The plugin's metadata or registrations are invalid.
    #[error("plugin {plugin} ({}) could not register: {reason}", path.display())]
    Registration {
        /// Plugin name.
        plugin: String,
        /// The library.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

impl LoadError {
    /// abi_stable's full report, for `--verbose`.
    pub fn details(&self) -> Option<&str> {
        match self {
            LoadError::Layout { details, .. } => Some(details),
            _ => None,
        }
    }
}
