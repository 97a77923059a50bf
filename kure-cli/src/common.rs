//! Options every subcommand shares, and building an engine from them.

use std::path::PathBuf;

use kure_core::config::{kure_home, trust_policy, Config};
use kure_core::{Admission, Engine, EngineOptions, Store, TrustPolicy};

/// Global options.
#[derive(Debug, clap::Args)]
pub struct GlobalArgs {
    /// Also look for plugins in DIR (searched before KURE_PLUGIN_PATH and the default dirs).
    #[arg(long = "plugin-dir", value_name = "DIR", global = true)]
    pub plugin_dirs: Vec<PathBuf>,
    /// Load plugins that have no trusted signature (development only; prints a warning).
    /// KURE_ALLOW_UNSIGNED=1 (or true/yes/on) does the same.
    #[arg(long, global = true, env = "KURE_ALLOW_UNSIGNED", action = clap::ArgAction::SetTrue,
          value_parser = clap::builder::BoolishValueParser::new(), hide_env_values = true)]
    pub allow_unsigned: bool,
    /// Print full diagnostics (e.g. abi_stable's layout report for an incompatible plugin).
    #[arg(short, long, global = true)]
    pub verbose: bool,
}

impl GlobalArgs {
    /// `KURE_HOME` and its configuration.
    pub fn home(&self) -> anyhow::Result<(PathBuf, Config)> {
        let home = kure_home();
        let config = Config::load(&home)?;
        Ok((home, config))
    }

    /// The trust policy: flag or config for unsigned plugins, signers from KURE_HOME.
    pub fn trust(&self) -> anyhow::Result<TrustPolicy> {
        let (home, config) = self.home()?;
        Ok(trust_policy(&home, &config, self.allow_unsigned)?)
    }

    /// The plugin store.
    pub fn store(&self) -> Store {
        Store::new(kure_home())
    }

    /// An engine for these options.
    pub fn engine(&self) -> anyhow::Result<Engine> {
        let (home, config) = self.home()?;
        let mut plugin_dirs = self.plugin_dirs.clone();
        plugin_dirs.extend(config.plugin_dirs.iter().map(|d| home.join(d)));
        Ok(Engine::new(EngineOptions {
            plugin_dirs,
            trust: trust_policy(&home, &config, self.allow_unsigned)?,
            store: Some(Store::new(home)),
        }))
    }
}

/// Output formats of list-like commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns.
    Table,
    /// JSON.
    Json,
    /// YAML.
    Yaml,
}

/// Prints rows as an aligned table with a header.
pub fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:w$}  "));
            }
        }
        println!("{}", s.trim_end());
    };
    line(header.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
}

/// Warns on stderr about every plugin loaded without a trusted signature.
pub fn warn_unsigned(engine: &Engine) {
    for p in engine.plugins() {
        if p.admission == Admission::Unsigned {
            eprintln!(
                "warning: loaded unsigned plugin {}@{} ({}) because unsigned plugins are allowed",
                p.name,
                p.version,
                p.path.display()
            );
        }
    }
}

/// Long details behind an error, shown with `--verbose`.
pub fn details(e: &anyhow::Error) -> Option<String> {
    let core = e.downcast_ref::<kure_core::Error>()?;
    match core {
        kure_core::Error::Load(l) => l.details().map(str::to_owned),
        _ => None,
    }
}

/// Finds the single generator for KIND (optionally of one apiVersion), loading plugins only if
/// no built-in matches.
pub fn find_generator(
    engine: &mut Engine,
    kind: &str,
    api_version: Option<&str>,
) -> anyhow::Result<kure_core::Entry> {
    if engine.registry().find_kind(kind, api_version).is_empty() {
        engine.use_index()?;
    }
    if engine.registry().find_kind(kind, api_version).is_empty() {
        engine.load_all_plugins()?;
    }
    let found = engine.registry().find_kind(kind, api_version);
    match found.as_slice() {
        [(_, e)] => Ok((*e).clone()),
        [] => {
            let probe = kure_core::Gvk {
                group: String::new(),
                version: String::new(),
                kind: kind.to_owned(),
            };
            let mut suggestions = engine.registry().nearest(&probe);
            if let Some(av) = api_version {
                if let Ok(g) = kure_core::Gvk::parse(av, kind) {
                    suggestions = engine.registry().nearest(&g);
                }
            }
            Err(kure_core::Error::UnknownGenerator {
                what: match api_version {
                    Some(av) => format!("apiVersion `{av}` kind `{kind}`"),
                    None => format!("kind `{kind}`"),
                },
                suggestions,
            }
            .into())
        }
        many => {
            let avs: Vec<String> = many.iter().map(|(g, _)| g.api_version()).collect();
            anyhow::bail!(
                "kind `{kind}` is provided by several API groups ({}); pick one with --api-version",
                avs.join(", ")
            )
        }
    }
}
