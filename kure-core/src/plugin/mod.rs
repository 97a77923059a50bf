//! Plugins: discovery, loading exactly the bytes that were read, and the host side of the ABI.

mod adapter;
mod admission;
pub mod contain;
mod discover;
mod error;
mod handle;
mod identity;
pub mod isolation;
pub(crate) mod json;
pub(crate) mod killpoint;
pub(crate) mod load;
mod loader;
pub mod process;
mod reap;
pub mod requires;
pub mod sandbox;

pub use admission::{
    admit, load_plugin, load_plugin_observed, read_library, read_staged, Admitted,
};
pub use discover::{
    discover_checked, discover_libraries, kure_home, plugin_dirs, Discovery, PluginDirs,
};
pub use error::{LoadError, WorkerError};
pub use handle::PluginHandle;
pub use identity::PluginIdentity;
pub use load::{load_admitted, LoadedPlugin, API_VERSION};
pub use loader::{Sealed, Staging, MAX_LIBRARY_BYTES};
