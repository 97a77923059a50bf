//! The configuration (`/etc/kure/config.yaml`, then `$KURE_HOME/config.yaml`) and the trusted
//! signers (the user's and the system's).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::model::error::Error;
use crate::trust::{PublicKey, TrustPolicy};

/// kure's configuration: the system's defaults with the user's settings over them. Every field
/// is optional.
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
    pub isolation: Option<crate::plugin::isolation::Isolation>,
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
    pub isolation: Option<crate::plugin::isolation::Isolation>,
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

/// The system configuration directory: `KURE_SYSTEM_DIR`, default `/etc/kure`, as an absolute
/// path. It holds `config.yaml` (system defaults), `trusted-signers.pem` (one or more PEM public
/// keys) and `trusted-signers/*.pem`. Read once per process, before any plugin runs.
pub fn system_dir() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::var_os("KURE_SYSTEM_DIR")
            .filter(|d| !d.is_empty())
            .map_or_else(|| PathBuf::from("/etc/kure"), PathBuf::from);
        std::path::absolute(&dir).unwrap_or(dir)
    })
    .clone()
}

const VALID_KEYS: &str = "allow_unsigned, trusted_signers, plugin_dirs, plugin_timeout, audit_log, isolation (in-process or process), plugin_memory, plugins (NAME: {isolation: ...})";

impl Config {
    /// The configuration kure runs with: [`system_dir`]`/config.yaml`, then
    /// `<home>/config.yaml` over it. Missing files are empty configurations.
    pub fn load(home: &Path) -> Result<Self, Error> {
        Self::load_layered(&system_dir(), home)
    }

    /// `<system>/config.yaml` with `<home>/config.yaml` over it: each key the user's file sets
    /// replaces the system's value, except `plugins:`, whose entries replace the system's entry
    /// of the same plugin. Relative paths in a file are relative to its directory.
    pub fn load_layered(system: &Path, home: &Path) -> Result<Self, Error> {
        let base = Self::load_file(&system.join("config.yaml"), system, true)?;
        let Some((user, keys)) = Self::load_file(&home.join("config.yaml"), home, false)? else {
            return Ok(base.map(|(c, _)| c).unwrap_or_default());
        };
        let Some((mut merged, _)) = base else {
            return Ok(user);
        };
        let set = |k: &str| keys.iter().any(|x| x == k);
        if set("allow_unsigned") {
            merged.allow_unsigned = user.allow_unsigned;
        }
        if set("trusted_signers") {
            merged.trusted_signers = user.trusted_signers;
        }
        if set("plugin_dirs") {
            merged.plugin_dirs = user.plugin_dirs;
        }
        if set("plugin_timeout") {
            merged.plugin_timeout = user.plugin_timeout;
        }
        if set("audit_log") {
            merged.audit_log = user.audit_log;
        }
        if set("isolation") {
            merged.isolation = user.isolation;
        }
        if set("plugin_memory") {
            merged.plugin_memory = user.plugin_memory;
        }
        merged.plugins.extend(user.plugins);
        Ok(merged)
    }

    /// One config file, its relative paths made absolute against `base`, and the keys it sets;
    /// `None` when it does not exist.
    fn load_file(
        path: &Path,
        base: &Path,
        system: bool,
    ) -> Result<Option<(Self, Vec<String>)>, Error> {
        let text = match crate::input::read_small_text(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(path.to_path_buf(), e)),
        };
        if text.trim().is_empty() {
            return Ok(Some((Self::default(), Vec::new())));
        }
        let bad = |reason: String| Error::Config {
            path: path.to_path_buf(),
            reason,
        };
        let mut config: Self = yaml_serde::from_str(&text)
            .map_err(|e| bad(format!("{e}; valid keys: {VALID_KEYS}")))?;
        let keys: Vec<String> = match yaml_serde::from_str::<yaml_serde::Value>(&text) {
            Ok(yaml_serde::Value::Mapping(m)) => m
                .keys()
                .filter_map(|k| k.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        if config
            .plugin_timeout
            .is_some_and(|t| !(t > 0.0 && t <= 86_400.0))
        {
            return Err(bad(
                "plugin_timeout must be a number of seconds between 0 and 86400".to_owned(),
            ));
        }
        if let Some(m) = &config.plugin_memory {
            parse_size(m).map_err(|reason| bad(format!("plugin_memory: {reason}")))?;
        }
        if system && config.audit_log.is_some() {
            return Err(bad(
                "audit_log is per user: set it in $KURE_HOME/config.yaml (a system-wide log file would be created by the first user and refuse every other)".to_owned(),
            ));
        }
        for p in config
            .trusted_signers
            .iter_mut()
            .chain(config.plugin_dirs.iter_mut())
            .chain(config.audit_log.iter_mut())
        {
            *p = base.join(&*p);
        }
        Ok(Some((config, keys)))
    }
}

/// The directory of trusted signer keys, `<home>/trusted-signers`.
pub fn signers_dir(home: &Path) -> PathBuf {
    home.join("trusted-signers")
}

/// Where a trusted signer comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOrigin {
    /// `trusted_signers:` in a config.yaml (the user's or the system's).
    Config,
    /// `$KURE_HOME/trusted-signers/` (`kure trust add`).
    User,
    /// The system's `trusted-signers.pem` bundle: the key's position in it, from 1.
    SystemBundle(usize),
    /// The system's `trusted-signers/` directory.
    SystemDir,
}

impl std::fmt::Display for KeyOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Config => f.write_str("config.yaml trusted_signers"),
            Self::User => f.write_str("user (kure trust add)"),
            Self::SystemBundle(n) => write!(f, "system bundle, key {n}"),
            Self::SystemDir => f.write_str("system"),
        }
    }
}

/// Every trusted signer: the config's keys, then `<home>/trusted-signers/*.pem`, then the
/// system's [`system_dir`]`/trusted-signers.pem` (one or more keys) and
/// `trusted-signers/*.pem`, each key once. A key file that cannot be used is an error naming it.
pub fn trusted_signers(home: &Path, config: &Config) -> Result<Vec<PublicKey>, Error> {
    Ok(trusted_signers_from(home, &system_dir(), config)?
        .into_iter()
        .map(|(k, _)| k)
        .collect())
}

fn pem_files(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "pem"))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

/// [`trusted_signers`] with `system` as the system directory, and where each key comes from:
/// each key once, from the first source that has it.
pub fn trusted_signers_from(
    home: &Path,
    system: &Path,
    config: &Config,
) -> Result<Vec<(PublicKey, KeyOrigin)>, Error> {
    let mut found: Vec<(PublicKey, KeyOrigin)> = Vec::new();
    for (k, origin) in signer_sources(home, system, config)? {
        if !found.iter().any(|(x, _)| x.fingerprint == k.fingerprint) {
            found.push((k, origin));
        }
    }
    Ok(found)
}

/// Every trusted key in every source, in the order of [`trusted_signers`], a key trusted
/// through two sources appearing twice (`kure trust list` shows them all; removing a key must
/// find every copy).
pub fn signer_sources(
    home: &Path,
    system: &Path,
    config: &Config,
) -> Result<Vec<(PublicKey, KeyOrigin)>, Error> {
    let unusable = |path: &Path, reason: &str| Error::Config {
        path: path.to_path_buf(),
        reason: format!("trusted signer unusable: {reason}"),
    };
    let mut found: Vec<(PublicKey, KeyOrigin)> = Vec::new();
    let files = config
        .trusted_signers
        .iter()
        .map(|p| (home.join(p), KeyOrigin::Config))
        .chain(
            pem_files(&signers_dir(home))
                .into_iter()
                .map(|p| (p, KeyOrigin::User)),
        );
    for (p, origin) in files {
        found.push((
            PublicKey::from_file(&p).map_err(|e| unusable(&p, &e.reason))?,
            origin,
        ));
    }
    let bundle = system.join("trusted-signers.pem");
    match crate::input::read_small_text(&bundle) {
        Ok(text) => {
            for (i, k) in PublicKey::from_pem_bundle(&text, &bundle)
                .map_err(|e| unusable(&bundle, &e.reason))?
                .into_iter()
                .enumerate()
            {
                found.push((k, KeyOrigin::SystemBundle(i + 1)));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(unusable(&bundle, &format!("cannot read it: {e}"))),
    }
    for p in pem_files(&system.join("trusted-signers")) {
        found.push((
            PublicKey::from_file(&p).map_err(|e| unusable(&p, &e.reason))?,
            KeyOrigin::SystemDir,
        ));
    }
    Ok(found)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trust::PrivateKey;

    fn write(p: &Path, text: &str) {
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }

    fn public_pem() -> String {
        PrivateKey::generate(2048)
            .and_then(|k| k.public_key())
            .expect("key")
            .to_pem()
    }

    #[test]
    fn the_users_keys_override_the_systems_and_paths_stay_with_their_file() {
        let t = tempfile::tempdir().expect("tmp");
        let (system, home) = (t.path().join("etc"), t.path().join("home"));
        assert_eq!(
            Config::load_layered(&system, &home).expect("none"),
            Config::default()
        );
        write(
            &system.join("config.yaml"),
            "allow_unsigned: true\nplugin_dirs: [sys-plugins]\nisolation: process\nplugin_timeout: 5\nplugins:\n  a: {isolation: process}\n  b: {isolation: process}\n",
        );
        let only_system = Config::load_layered(&system, &home).expect("system");
        assert!(only_system.allow_unsigned);
        assert_eq!(only_system.plugin_dirs, [system.join("sys-plugins")]);
        write(
            &home.join("config.yaml"),
            "allow_unsigned: false\nplugin_timeout: 7\nplugins:\n  b: {isolation: in-process}\naudit_log: audit.jsonl\n",
        );
        let c = Config::load_layered(&system, &home).expect("both");
        // Set by the user, even to the default value: the user's.
        assert!(!c.allow_unsigned);
        assert_eq!(c.plugin_timeout, Some(7.0));
        assert_eq!(c.audit_log, Some(home.join("audit.jsonl")));
        // Not set by the user: the system's.
        assert_eq!(c.plugin_dirs, [system.join("sys-plugins")]);
        assert_eq!(
            c.isolation,
            Some(crate::plugin::isolation::Isolation::Process)
        );
        // plugins: merged by name.
        assert_eq!(
            c.plugins["a"].isolation,
            Some(crate::plugin::isolation::Isolation::Process)
        );
        assert_eq!(
            c.plugins["b"].isolation,
            Some(crate::plugin::isolation::Isolation::InProcess)
        );
        // An audit log is per user: the system file cannot set one.
        write(
            &system.join("config.yaml"),
            "audit_log: /var/log/kure.jsonl\n",
        );
        let e = Config::load_layered(&system, &home).expect_err("system audit log");
        assert!(e.to_string().contains("audit_log is per user"), "{e}");
        // A broken system file is an error naming it, not an empty configuration.
        write(&system.join("config.yaml"), "allow_unsignd: true\n");
        let e = Config::load_layered(&system, &home).expect_err("typo");
        assert!(
            e.to_string().contains("etc/config.yaml") && e.to_string().contains("valid keys"),
            "{e}"
        );
    }

    #[test]
    fn signers_come_from_the_user_and_the_system_each_once_with_their_origin() {
        let t = tempfile::tempdir().expect("tmp");
        let (system, home) = (t.path().join("etc"), t.path().join("home"));
        let (a, b, c) = (public_pem(), public_pem(), public_pem());
        write(&signers_dir(&home).join("a.pem"), &a);
        // The bundle repeats the user's key: it is listed once, as the user's.
        write(
            &system.join("trusted-signers.pem"),
            &format!("# comment\n{b}\n{a}"),
        );
        write(&system.join("trusted-signers/c.pem"), &c);
        let keys = trusted_signers_from(&home, &system, &Config::default()).expect("keys");
        let origins: Vec<KeyOrigin> = keys.iter().map(|(_, o)| o.clone()).collect();
        assert_eq!(
            origins,
            [
                KeyOrigin::User,
                KeyOrigin::SystemBundle(1),
                KeyOrigin::SystemDir
            ]
        );
        assert_eq!(keys[1].0.to_pem(), b);
        // A bundle with a private key in it is refused, naming the file and the block.
        write(
            &system.join("trusted-signers.pem"),
            &format!(
                "{b}{}",
                PrivateKey::generate(2048)
                    .and_then(|k| k.to_pem())
                    .expect("pem")
            ),
        );
        let e = trusted_signers_from(&home, &system, &Config::default()).expect_err("private");
        let text = e.to_string();
        assert!(
            text.contains("trusted-signers.pem")
                && text.contains("key 2 of 2")
                && text.contains("private key"),
            "{text}"
        );
        write(&system.join("trusted-signers.pem"), "no keys here\n");
        assert!(trusted_signers_from(&home, &system, &Config::default()).is_err());
    }
}
