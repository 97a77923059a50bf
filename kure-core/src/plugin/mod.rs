//! Plugins: discovery, loading exactly the bytes that were read, and the host side of the ABI.

pub mod contain;
mod discover;
mod error;
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
pub use error::{LoadError, WorkerError};
pub use handle::PluginHandle;
pub use host::{
    admit, load_admitted, load_plugin, load_plugin_observed, read_library, read_staged, Admitted,
    LoadedPlugin, API_VERSION,
};
pub use loader::{Sealed, Staging, MAX_LIBRARY_BYTES};
