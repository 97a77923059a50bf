//! `$KURE_HOME/config.yaml` and the trusted signers.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::trust::{PublicKey, TrustPolicy};

/// The user's configuration. Every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Load plugins without a trusted signature (development only).
    #[serde(default)]
    pub allow_unsigned: bool,
    /// PEM public keys of trusted plugin signers (paths relative to KURE_HOME).
    #[serde(default)]
    pub trusted_signers: Vec<PathBuf>,
    /// Extra plugin directories, searched after `--plugin-dir`.
    #[serde(default)]
    pub plugin_dirs: Vec<PathBuf>,
    /// Longest time, in seconds, one plugin call may take (default 30).
    #[serde(default)]
    pub plugin_timeout: Option<f64>,
    /// Append a JSON line per plugin call to this file (relative to KURE_HOME).
    #[serde(default)]
    pub audit_log: Option<PathBuf>,
    /// Where plugins run: `in-process` (default) or `process` (a sandboxed worker).
    #[serde(default)]
    pub isolation: Option<crate::isolation::Isolation>,
    /// Address-space limit of a process-isolation worker, e.g. `2GiB`, `512MiB` (default 2GiB).
    #[serde(default)]
    pub plugin_memory: Option<String>,
    /// Per-plugin settings, by plugin name.
    #[serde(default)]
    pub plugins: std::collections::BTreeMap<String, PluginSettings>,
}

/// Settings for one plugin (`plugins: {NAME: {...}}` in config.yaml).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginSettings {
    /// Where this plugin runs; overrides `isolation:` and `--isolation`.
    #[serde(default)]
    pub isolation: Option<crate::isolation::Isolation>,
}

/// Parses a size like `2GiB`, `512MiB`, `64M` or a plain number of bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let bytes = parse_bytes(s)?;
    if !(64 << 20..=1 << 40).contains(&bytes) {
        return Err(format!(
            "`{}` is outside 64MiB..1TiB: a worker needs at least 64MiB to load a plugin",
            crate::util::shown(s)
        ));
    }
    Ok(bytes)
}

/// A byte count with an optional unit (`B`, `KiB`, `MiB`, `GiB`; `K`, `KB`, ... mean the
/// same), e.g. `64MiB` or `1.5GiB`.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| bad_size(s))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        _ => return Err(bad_size(s)),
    };
    let bytes = n * mult;
    if !bytes.is_finite() || bytes > 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0 {
        return Err(bad_size(s));
    }
    Ok(bytes as u64)
}

fn bad_size(s: &str) -> String {
    format!(
        "`{}` is not a size: write a number with an optional unit, e.g. 2GiB or 512MiB",
        crate::util::shown(s)
    )
}

/// `KURE_HOME` (default `~/.kure`).
pub fn kure_home() -> PathBuf {
    crate::plugin::kure_home()
}

impl Config {
    /// Reads `<home>/config.yaml`; a missing file is the default configuration.
    pub fn load(home: &Path) -> Result<Self, Error> {
        let path = home.join("config.yaml");
        match crate::input::read_small_text(&path) {
            Ok(text) if text.trim().is_empty() => Ok(Self::default()),
            Ok(text) => {
                let config: Self = serde_yaml::from_str(&text).map_err(|e| Error::Config {
                    path: path.clone(),
                    reason: format!("{e}; valid keys: allow_unsigned, trusted_signers, plugin_dirs, plugin_timeout, audit_log, isolation (in-process or process), plugin_memory, plugins (NAME: {{isolation: ...}})"),
                })?;
                if config
                    .plugin_timeout
                    .is_some_and(|t| !(t > 0.0 && t <= 86_400.0))
                {
                    return Err(Error::Config {
                        path,
                        reason: "plugin_timeout must be a number of seconds between 0 and 86400"
                            .to_owned(),
                    });
                }
                if let Some(m) = &config.plugin_memory {
                    parse_size(m).map_err(|reason| Error::Config {
                        path: path.clone(),
                        reason: format!("plugin_memory: {reason}"),
                    })?;
                }
                Ok(config)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(Error::io(path, e)),
        }
    }
}

/// The directory of trusted signer keys, `<home>/trusted-signers`.
pub fn signers_dir(home: &Path) -> PathBuf {
    home.join("trusted-signers")
}

/// Every trusted signer: the config's keys, then `<home>/trusted-signers/*.pem`, each once.
/// A key file that cannot be used is an error naming it.
pub fn trusted_signers(home: &Path, config: &Config) -> Result<Vec<PublicKey>, Error> {
    let mut paths: Vec<PathBuf> = config
        .trusted_signers
        .iter()
        .map(|p| home.join(p))
        .collect();
    let dir = signers_dir(home);
    if let Ok(entries) = std::fs::read_dir(&dir) {
        let mut found: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "pem"))
            .collect();
        found.sort();
        paths.extend(found);
    }
    let mut keys: Vec<PublicKey> = Vec::new();
    for p in paths {
        let k = PublicKey::from_file(&p).map_err(|e| Error::Config {
            path: p.clone(),
            reason: format!("trusted signer unusable: {}", e.reason),
        })?;
        if !keys.iter().any(|x| x.fingerprint == k.fingerprint) {
            keys.push(k);
        }
    }
    Ok(keys)
}

/// The trust policy for `home`: `allow_unsigned` from the flag or the config, signers from the
/// config and the signers directory.
pub fn trust_policy(
    home: &Path,
    config: &Config,
    allow_unsigned_flag: bool,
) -> Result<TrustPolicy, Error> {
    Ok(TrustPolicy {
        allow_unsigned: allow_unsigned_flag || config.allow_unsigned,
        signers: trusted_signers(home, config)?,
    })
}
