//! Why a plugin could not be loaded, in-process or in a worker: one variant per stage. A leaf:
//! the model's errors wrap these, and nothing here depends on the rest of kure.

use std::io;
use std::path::PathBuf;

use kure_plugin_api::abi::ErrorPayload;

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
    /// The plugin's `requires` is malformed or excludes this kure
    /// ([`crate::plugin::requires::check_host`]).
    #[error("plugin {} {reason}", path.display())]
    Requires {
        /// The library.
        path: PathBuf,
        /// What does not fit, and what to do.
        reason: String,
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

/// Why a plugin's worker could not be started.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// Reading or admitting the library failed (a worker started from a file).
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The sealed memfd could not be made.
    #[error("plugin {} (in process isolation): cannot stage the library for its worker: {reason}", path.display())]
    Stage {
        /// The library.
        path: PathBuf,
        /// The OS error (in the message; not a separate cause, so it is shown once).
        reason: io::Error,
    },
    /// The worker process could not be started.
    #[error("plugin {} (in process isolation): cannot start its worker `{} __plugin-worker`: {reason}", path.display(), exe.display())]
    Spawn {
        /// The library.
        path: PathBuf,
        /// The kure binary.
        exe: PathBuf,
        /// The OS error (in the message; not a separate cause, so it is shown once).
        reason: io::Error,
    },
    /// The worker refused to serve: the library could not be loaded or registered (the same
    /// message as in-process), the sandbox could not be applied, or the versions differ.
    #[error("{}", error.message)]
    Refused {
        /// The library.
        path: PathBuf,
        /// What the worker said.
        error: ErrorPayload,
        /// A long report for `--verbose` (abi_stable's layout report).
        details: Option<String>,
    },
    /// The worker crashed, timed out or broke the protocol while starting.
    #[error("{}", error.message)]
    Failed {
        /// The library.
        path: PathBuf,
        /// The paragraph (kind `worker-crashed`, `worker-timeout` or `protocol`).
        error: ErrorPayload,
    },
}

impl WorkerError {
    /// The long report for `--verbose`, if any.
    pub fn details(&self) -> Option<&str> {
        match self {
            WorkerError::Load(e) => e.details(),
            WorkerError::Refused { details, .. } => details.as_deref(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_spawn_error_names_the_worker_subcommand() {
        let e = super::WorkerError::Spawn {
            path: "p.so".into(),
            exe: "/bin/kure".into(),
            reason: std::io::Error::other("x"),
        };
        assert!(e.to_string().contains(&format!(
            "/bin/kure {}",
            crate::plugin::process::WORKER_SUBCOMMAND
        )));
    }
}
