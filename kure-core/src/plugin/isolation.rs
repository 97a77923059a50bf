//! Where a plugin's code runs: in kure's process (the fast default) or in a sandboxed worker
//! process ([`crate::plugin::process`]), and how one run decides it for each plugin.
//!
//! The mode of a plugin is, in order: its `plugins: {NAME: {isolation: ..}}` entry in
//! config.yaml, else `--isolation` / `KURE_ISOLATION`, else `isolation:` in config.yaml, else
//! `in-process`. A lock that pins a GVK to `process` raises a plugin left at the default to
//! `process`, and refuses one explicitly asked to run `in-process`.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::plugin::process::WorkerOptions;

/// Where a plugin's code runs.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Isolation {
    /// Loaded into kure's process: fastest; kure fails cleanly whatever the plugin does, but
    /// the plugin can read whatever kure can read.
    #[default]
    InProcess,
    /// In a sandboxed worker process: kure survives the plugin, which cannot write files, read
    /// any once it is loaded, open network connections or start processes.
    Process,
}

impl Isolation {
    /// `in-process` or `process`.
    pub fn as_str(self) -> &'static str {
        match self {
            Isolation::InProcess => "in-process",
            Isolation::Process => "process",
        }
    }
}

impl fmt::Display for Isolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Isolation {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "in-process" => Ok(Isolation::InProcess),
            "process" => Ok(Isolation::Process),
            other => Err(format!(
                "`{}` is not an isolation mode: use `in-process` or `process`",
                crate::util::shown(other)
            )),
        }
    }
}

/// Where a mode came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Nobody chose: the default.
    Default,
    /// `--isolation`, `KURE_ISOLATION` or `isolation:` in config.yaml (the text says which).
    Global(String),
    /// The plugin's entry under `plugins:` in config.yaml.
    PerPlugin,
}

/// How one run chooses each plugin's mode, and how it runs workers.
#[derive(Debug, Clone, Default)]
pub struct IsolationPolicy {
    /// The mode for every plugin, and where it was set; `None`: the default (`in-process`).
    pub global: Option<(Isolation, String)>,
    /// Per plugin name (config.yaml `plugins: {NAME: {isolation: ..}}`).
    pub per_plugin: BTreeMap<String, Isolation>,
    /// Limits and restarts of process-isolation workers.
    pub worker: WorkerOptions,
}

impl IsolationPolicy {
    /// The mode asked for plugin `name`, and where that came from.
    pub fn requested(&self, name: &str) -> (Isolation, Source) {
        if let Some(m) = self.per_plugin.get(name) {
            return (*m, Source::PerPlugin);
        }
        match &self.global {
            Some((m, from)) => (*m, Source::Global(from.clone())),
            None => (Isolation::InProcess, Source::Default),
        }
    }

    /// The mode plugin `name` runs in when a lock pins `locked` for the GVK it is loaded for.
    /// A lock saying `process` raises the default to `process` and refuses an explicit
    /// `in-process`: the error text says why.
    pub fn choose(&self, name: &str, locked: Option<Isolation>) -> Result<Isolation, String> {
        let (mode, source) = self.requested(name);
        match (locked, mode, source) {
            (Some(Isolation::Process), Isolation::InProcess, Source::Default) => {
                Ok(Isolation::Process)
            }
            (Some(Isolation::Process), Isolation::InProcess, source) => Err(format!(
                "it pins plugin {name} to process isolation, and {} asks to run it in-process; drop that setting (or use --isolation process) to run it sandboxed",
                match source {
                    Source::PerPlugin => format!("`plugins: {{{name}: {{isolation: in-process}}}}` in config.yaml"),
                    Source::Global(from) => from,
                    Source::Default => "the default".to_owned(),
                }
            )),
            _ => Ok(mode),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_plugin_beats_global_and_lock_process_is_a_floor() {
        let mut p = IsolationPolicy::default();
        assert_eq!(p.choose("a", None), Ok(Isolation::InProcess));
        assert_eq!(
            p.choose("a", Some(Isolation::Process)),
            Ok(Isolation::Process)
        );
        p.global = Some((Isolation::Process, "--isolation".to_owned()));
        p.per_plugin.insert("fast".to_owned(), Isolation::InProcess);
        assert_eq!(p.choose("a", None), Ok(Isolation::Process));
        assert_eq!(p.choose("fast", None), Ok(Isolation::InProcess));
        let refused = p.choose("fast", Some(Isolation::Process)).unwrap_err();
        assert!(
            refused.contains("plugins: {fast: {isolation: in-process}}"),
            "{refused}"
        );
        p.global = Some((Isolation::InProcess, "--isolation".to_owned()));
        let refused = p.choose("a", Some(Isolation::Process)).unwrap_err();
        assert!(refused.contains("--isolation"), "{refused}");
        // A lock saying in-process never forbids the sandbox.
        p.per_plugin.insert("b".to_owned(), Isolation::Process);
        assert_eq!(
            p.choose("b", Some(Isolation::InProcess)),
            Ok(Isolation::Process)
        );
    }

    #[test]
    fn parses_only_the_two_modes() {
        assert_eq!("process".parse::<Isolation>(), Ok(Isolation::Process));
        assert_eq!("in-process".parse::<Isolation>(), Ok(Isolation::InProcess));
        let e = "sandbox\x1b[31m".parse::<Isolation>().unwrap_err();
        assert!(
            !e.contains('\x1b') && e.contains("sandbox\\u{1b}[31m"),
            "{e}"
        );
    }
}
