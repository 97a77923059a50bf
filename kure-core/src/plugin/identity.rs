//! Who a loaded plugin is, whichever isolation mode runs it.

/// Who a loaded plugin is: the same in process isolation and in-process ([`crate::plugin::LoadedPlugin`] and
/// [`crate::plugin::process::WorkerPlugin`] both hold one, and read as one).
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
