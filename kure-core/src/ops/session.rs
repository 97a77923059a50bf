//! One run of kure: the settings a user chose (flags and environment), `KURE_HOME` and its
//! configuration, and everything built from them (the trust policy, the store, the isolation
//! policy, an engine, the lock). Every command in [`crate::ops`] takes a [`Session`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::{kure_home, trust_policy, Config};
use crate::generate::engine::{Engine, EngineOptions};
use crate::model::error::Error;
use crate::plugin::isolation::{Isolation, IsolationPolicy};
use crate::plugin::process::WorkerOptions;
use crate::store::lockfile::{Lock, LOCK_FILE};
use crate::store::Store;
use crate::trust::{Admission, TrustPolicy};

/// What the user chose for this run, before the configuration is read (the CLI's global
/// flags and their environment variables).
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Libraries to use ahead of installed plugins (`--plugin`).
    pub plugins: Vec<PathBuf>,
    /// Plugin directories searched first (`--plugin-dir`).
    pub plugin_dirs: Vec<PathBuf>,
    /// Load plugins without a trusted signature (`--allow-unsigned`).
    pub allow_unsigned: bool,
    /// Longest time one plugin call may take (`--plugin-timeout`).
    pub plugin_timeout: Option<Duration>,
    /// Append one JSON line per plugin call to this file (`--audit`).
    pub audit: Option<PathBuf>,
    /// Where plugin code runs (`--isolation`).
    pub isolation: Option<Isolation>,
    /// Address-space limit of each worker, in bytes (`--plugin-memory`).
    pub plugin_memory: Option<u64>,
}

/// Settings with `KURE_HOME` and its configuration read, fixed for the whole run.
#[derive(Debug)]
pub struct Session {
    settings: Settings,
    home: PathBuf,
    config: Config,
}

/// Which lock a run checks plugins against.
#[derive(Debug, Clone, Default)]
pub struct LockChoice {
    /// The lock file (default: `./kure.lock` when it exists).
    pub file: Option<PathBuf>,
    /// Require a lock (`--locked`).
    pub required: bool,
}

impl Session {
    /// Fixes everything a plugin must not be able to change later: the plugin paths and the
    /// audit log become absolute, the configuration is read, the call time limit is set and
    /// the audit log opened (both process-wide).
    pub fn start(mut settings: Settings) -> Result<Self, Error> {
        for p in settings
            .plugin_dirs
            .iter_mut()
            .chain(settings.plugins.iter_mut())
        {
            *p = absolute(p);
        }
        let home = kure_home();
        let config = Config::load(&home)?;
        let limit = settings
            .plugin_timeout
            .or(config.plugin_timeout.map(Duration::from_secs_f64))
            .unwrap_or(crate::plugin::contain::DEFAULT_TIMEOUT);
        crate::plugin::contain::set_timeout(limit);
        if let Some(log) = settings
            .audit
            .clone()
            .or(config.audit_log.as_ref().map(|p| home.join(p)))
        {
            crate::trust::audit::open(&absolute(&log))?;
        }
        Ok(Self {
            settings,
            home,
            config,
        })
    }

    /// `KURE_HOME`.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// The configuration read from `KURE_HOME` (over the system's).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The trust policy: the flag or the config for unsigned plugins, signers from
    /// `KURE_HOME` and the system.
    pub fn trust(&self) -> Result<TrustPolicy, Error> {
        trust_policy(&self.home, &self.config, self.settings.allow_unsigned)
    }

    /// The plugin store.
    pub fn store(&self) -> Store {
        Store::new(self.home.clone())
    }

    /// Where each plugin runs: `--isolation`, then config.yaml (globally and per plugin), and
    /// the workers' limits.
    pub fn isolation_policy(&self) -> Result<IsolationPolicy, Error> {
        let global = match (self.settings.isolation, self.config.isolation) {
            (Some(m), _) => Some((m, format!("--isolation {m} (or KURE_ISOLATION={m})"))),
            (None, Some(m)) => Some((m, format!("`isolation: {m}` in config.yaml"))),
            (None, None) => None,
        };
        Ok(IsolationPolicy {
            global,
            per_plugin: self
                .config
                .plugins
                .iter()
                .filter_map(|(name, s)| Some((name.clone(), s.isolation?)))
                .collect(),
            worker: self.worker()?,
        })
    }

    /// The limits of a sandboxed worker.
    pub fn worker(&self) -> Result<WorkerOptions, Error> {
        let mut worker = WorkerOptions::default();
        if let Some(bytes) = self.settings.plugin_memory {
            worker.memory_bytes = bytes;
        } else if let Some(m) = &self.config.plugin_memory {
            worker.memory_bytes = crate::config::parse_size(m).map_err(|reason| Error::Config {
                path: self.home.join("config.yaml"),
                reason: format!("plugin_memory: {reason}"),
            })?;
        }
        Ok(worker)
    }

    /// An engine with the built-ins, no plugin loaded yet.
    pub fn engine(&self) -> Result<Engine, Error> {
        let mut plugin_dirs = self.settings.plugin_dirs.clone();
        let named_dirs = plugin_dirs.len();
        plugin_dirs.extend(self.config.plugin_dirs.iter().map(|d| self.home.join(d)));
        Ok(Engine::new(EngineOptions {
            plugins: self.settings.plugins.clone(),
            plugin_dirs,
            named_dirs,
            trust: self.trust()?,
            isolation: self.isolation_policy()?,
            store: Some(self.store()),
        }))
    }

    /// An engine that checks every plugin against the lock `choice` names.
    pub fn locked_engine(&self, choice: &LockChoice) -> Result<Engine, Error> {
        let mut engine = self.engine()?;
        if let Some(lock) = read_lock(choice)? {
            engine.set_lock(lock);
        }
        Ok(engine)
    }
}

/// The lock `choice` names: its file, or `./kure.lock` when it exists; an error when a lock
/// is required and there is none.
pub fn read_lock(choice: &LockChoice) -> Result<Option<Lock>, Error> {
    let file = choice.file.clone().or_else(|| {
        let p = PathBuf::from(LOCK_FILE);
        p.exists().then_some(p)
    });
    match file {
        Some(f) if f.exists() || !choice.required => Lock::read(&f).map(Some),
        _ if choice.required => Err(Error::Lock {
            path: choice.file.clone().unwrap_or_else(|| LOCK_FILE.into()),
            reason: "--locked: there is no lock file; write one with `kure lock -f ...` and commit it, or pass --lock FILE".to_owned(),
        }),
        _ => Ok(None),
    }
}

/// `p` made absolute against the working directory kure started in.
pub fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// What the user should know about the plugins a run used, whether it succeeded or not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PluginReport {
    /// Plugins loaded without a trusted signature: (label, library).
    pub unsigned: Vec<(String, PathBuf)>,
    /// A provider that won over another, and how to choose the other.
    pub warnings: Vec<String>,
    /// Plugin-directory libraries that were not used, and why.
    pub skipped: Vec<(PathBuf, String)>,
}

impl PluginReport {
    /// What `engine` has to say.
    pub fn of(engine: &Engine) -> Self {
        Self {
            unsigned: engine
                .plugins()
                .iter()
                .filter(|p| *p.admission() == Admission::Unsigned)
                .map(|p| (p.label(), p.path().to_path_buf()))
                .collect(),
            warnings: engine.warnings().to_vec(),
            skipped: engine.skipped().to_vec(),
        }
    }
}

/// A command's outcome with the report of the plugins it used: the report is worth showing
/// when the command failed too.
#[derive(Debug)]
pub struct Ran<T> {
    /// What the user should know about the plugins.
    pub plugins: PluginReport,
    /// The command's own outcome.
    pub result: Result<T, Error>,
}

impl<T> Ran<T> {
    /// `result` with the report of `engine`.
    pub fn new(engine: &Engine, result: Result<T, Error>) -> Self {
        Self {
            plugins: PluginReport::of(engine),
            result,
        }
    }

    /// Before any plugin was looked at.
    pub fn early(e: Error) -> Self {
        Self {
            plugins: PluginReport::default(),
            result: Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_required_lock_that_is_missing_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().expect("tmp");
        let missing = dir.path().join("nope.lock");
        let e = read_lock(&LockChoice {
            file: Some(missing.clone()),
            required: true,
        })
        .expect_err("required");
        let text = e.to_string();
        assert!(text.contains("nope.lock"), "{text}");
        assert!(text.contains("--locked"), "{text}");
        // Not required and absent: a named file that does not exist is still read (and fails).
        assert!(read_lock(&LockChoice {
            file: Some(missing),
            required: false,
        })
        .is_err());
    }
}
