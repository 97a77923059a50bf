//! `kure.lock`: pins, per GVK, the plugin (name, version, sha256, signer) a render may use.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::model::error::Error;

/// The default lock file name, looked up in the current directory.
pub const LOCK_FILE: &str = "kure.lock";

/// The format version `kure lock` writes when no pin records `requires`, so that a kure
/// that does not know them reads the lock as before.
const LOCK_VERSION: u32 = 1;

/// The format version of a lock with `requires` on a pin: a kure before `requires` refuses
/// it by its version ("it reads version 1") rather than by an unknown field.
const LOCK_VERSION_REQUIRES: u32 = 2;

/// What a lock pins for one GVK.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pin {
    /// Plugin name.
    pub plugin: String,
    /// Plugin version.
    pub version: String,
    /// SHA-256 of the library.
    pub sha256: String,
    /// Signer fingerprint, or `unsigned`.
    pub signer: String,
    /// Where the plugin ran when the lock was written. `process` is a floor: such a GVK is
    /// never run in-process. Absent in locks written before kure knew isolation modes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation: Option<crate::plugin::isolation::Isolation>,
    /// The registry reference the plugin was installed from (`oci://...`): where
    /// `kure plugins sync` installs it from on a machine that lacks it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Per platform (`linux/amd64`), that platform's build in `source`: its image manifest
    /// digest and its library's sha256. On a platform listed here, `sha256` is read as that
    /// platform's (a lock serves every platform it lists).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub platforms: BTreeMap<String, PlatformBuild>,
    /// The plugins this one requires, as `kure lock` resolved them (`name@version`, each
    /// pinned in the same lock): `sync` installs them first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requires: Vec<String>,
}

/// One platform's build of a pinned plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformBuild {
    /// The digest of the platform's image manifest (`sha256:...`).
    pub digest: String,
    /// The sha256 of the platform's library (hex).
    pub sha256: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LockDoc {
    version: u32,
    /// `apiVersion/Kind` -> pin.
    plugins: BTreeMap<String, Pin>,
}

/// A lock file read into memory (before any plugin runs).
#[derive(Debug, Clone)]
pub struct Lock {
    /// Where it was read from.
    pub path: PathBuf,
    /// `apiVersion/Kind` -> pin.
    pub pins: BTreeMap<String, Pin>,
}

impl Pin {
    /// What differs between this pin and a plugin, for a refusal: its name and version, and
    /// its library's sha256 and signer, each pair when known.
    fn differences(
        &self,
        identity: Option<(&str, &str)>,
        library: Option<(&str, &str)>,
    ) -> Vec<String> {
        let mut diffs = Vec::new();
        if let Some((name, version)) = identity {
            if self.plugin != name {
                diffs.push(format!("plugin {name} (locked: {})", self.plugin));
            }
            if self.version != version {
                diffs.push(format!("version {version} (locked: {})", self.version));
            }
        }
        if let Some((sha256, signer)) = library {
            if self.sha256 != sha256 {
                diffs.push(format!(
                    "sha256 {} (locked: {})",
                    short(sha256, 12),
                    short(&self.sha256, 12)
                ));
            }
            if self.signer != signer {
                diffs.push(format!(
                    "signer {} (locked: {})",
                    short(signer, 16),
                    short(&self.signer, 16)
                ));
            }
        }
        diffs
    }
}

/// The first `n` characters of `s` (a hash or fingerprint, shortened for a message).
fn short(s: &str, n: usize) -> &str {
    s.char_indices().nth(n).map_or(s, |(i, _)| &s[..i])
}

impl Lock {
    /// Reads a lock file.
    pub fn read(path: &Path) -> Result<Self, Error> {
        Ok(Self {
            path: path.to_path_buf(),
            pins: read(path)?,
        })
    }

    /// The refusal: names the lock file, says why and what to do.
    pub fn refuse(&self, why: String) -> Error {
        Error::Lock {
            path: self.path.clone(),
            reason: format!(
                "refusing to generate: {why}. If the change is intended, run `kure lock` to update the lock"
            ),
        }
    }

    /// Checks what is known of a library before any of it runs: its bytes' sha256 and its
    /// signer (and, for an installed plugin, the name and version its index entry records).
    pub fn check_before_load(
        &self,
        gvk: &str,
        path: &Path,
        sha256: &str,
        signer: &str,
        recorded: Option<(&str, &str)>,
    ) -> Result<(), Error> {
        let Some(p) = self.pins.get(gvk) else {
            return Err(self.refuse(format!(
                "{gvk} is not pinned (the library {} provides it, and was not loaded); run `kure lock` to pin it",
                path.display()
            )));
        };
        let diffs = p.differences(recorded, Some((sha256, signer)));
        if diffs.is_empty() {
            Ok(())
        } else {
            Err(self.refuse(format!(
                "{gvk}: the library {} has {}; it was not loaded",
                path.display(),
                diffs.join(", ")
            )))
        }
    }

    /// Checks the name and version a loaded plugin declares, before any generator runs.
    pub fn check_metadata(&self, gvk: &str, name: &str, version: &str) -> Result<(), Error> {
        let Some(p) = self.pins.get(gvk) else {
            return Ok(());
        };
        let diffs = p.differences(Some((name, version)), None);
        if diffs.is_empty() {
            Ok(())
        } else {
            Err(self.refuse(format!(
                "{gvk}: the plugin declares {}; none of its generators ran",
                diffs.join(", ")
            )))
        }
    }
}

/// Reads a lock file.
pub fn read(path: &Path) -> Result<BTreeMap<String, Pin>, Error> {
    let text = crate::input::read_small_text(path).map_err(|e| Error::io(path, e))?;
    parse(&text, path)
}

/// Parses the text of a lock file read from `path`.
pub(crate) fn parse(text: &str, path: &Path) -> Result<BTreeMap<String, Pin>, Error> {
    let refuse = |reason: String| Error::Lock {
        path: path.to_path_buf(),
        reason: format!(
            "{reason}; nothing was generated. Write a new lock with \
             `kure lock --prune -f SPECS` (which does not read this one)"
        ),
    };
    let doc: LockDoc =
        yaml_serde::from_str(text).map_err(|e| refuse(format!("not a valid lock file ({e})")))?;
    if doc.version != LOCK_VERSION && doc.version != LOCK_VERSION_REQUIRES {
        return Err(refuse(format!(
            "lock file version {} is not one this kure reads (it reads versions {LOCK_VERSION} and {LOCK_VERSION_REQUIRES}); a newer kure wrote it",
            doc.version
        )));
    }
    for (gvk, pin) in &doc.plugins {
        check_pin(gvk, pin).map_err(|why| {
            refuse(format!(
                "the pin of `{}` is invalid: {why}",
                crate::util::shown(gvk)
            ))
        })?;
    }
    // Every check compares `sha256`: make it this platform's build where the lock lists it.
    let here = crate::store::registry::Platform::current().to_string();
    let mut pins = doc.plugins;
    for pin in pins.values_mut() {
        if let Some(build) = pin.platforms.get(&here) {
            pin.sha256 = build.sha256.clone();
        }
    }
    Ok(pins)
}

/// A pin holds only what kure itself writes: an `apiVersion/Kind` key, a plugin name, a
/// path-safe version, a 64-hex sha256 and a 64-hex signer fingerprint (or `unsigned`).
fn check_pin(gvk: &str, p: &Pin) -> Result<(), String> {
    let gvk_ok = gvk.rsplit_once('/').is_some_and(|(api, kind)| {
        crate::model::gvk::Gvk::parse(api, kind)
            .is_ok_and(|g| format!("{}/{}", g.api_version(), g.kind) == gvk)
    });
    if !gvk_ok {
        return Err("the key is not an apiVersion/Kind".to_owned());
    }
    if !crate::util::valid_plugin_name(&p.plugin) {
        return Err(format!(
            "`{}` is not a plugin name",
            crate::util::shown(&p.plugin)
        ));
    }
    if !crate::store::valid_version(&p.version) {
        return Err(format!(
            "`{}` is not a version",
            crate::util::shown(&p.version)
        ));
    }
    if !crate::store::is_hex(&p.sha256, 64) {
        return Err("the sha256 is not 64 hex digits".to_owned());
    }
    if p.signer != crate::trust::UNSIGNED && !crate::store::is_hex(&p.signer, 64) {
        return Err("the signer is neither a 64-hex key fingerprint nor `unsigned`".to_owned());
    }
    if let Some(source) = &p.source {
        crate::store::registry::OciRef::parse(source).map_err(|e| e.to_string())?;
    }
    for (platform, build) in &p.platforms {
        crate::store::registry::Platform::parse(platform).map_err(|e| e.to_string())?;
        if !build
            .digest
            .strip_prefix("sha256:")
            .is_some_and(|h| crate::store::is_hex(h, 64))
            || !crate::store::is_hex(&build.sha256, 64)
        {
            return Err(format!(
                "the build for {} needs a digest (sha256: and 64 hex digits) and a sha256 (64 hex digits)",
                crate::util::shown(platform)
            ));
        }
    }
    // A plugin requires at most MAX_REQUIRED plugins and MAX_REQUIRED GVKs, each resolved
    // to one plugin.
    if p.requires.len() > 2 * crate::plugin::requires::MAX_REQUIRED {
        return Err(format!(
            "`requires` lists {} plugins (at most {})",
            p.requires.len(),
            2 * crate::plugin::requires::MAX_REQUIRED
        ));
    }
    for r in &p.requires {
        let ok = r.split_once('@').is_some_and(|(name, version)| {
            crate::util::valid_plugin_name(name) && crate::store::valid_version(version)
        });
        if !ok {
            return Err(format!(
                "`requires` holds `{}`, which is not name@version",
                crate::util::shown(r)
            ));
        }
    }
    if !p.platforms.is_empty() && p.source.is_none() {
        return Err("it lists platform builds but no source".to_owned());
    }
    Ok(())
}

/// The text [`write`] writes.
pub(crate) fn render(pins: &BTreeMap<String, Pin>) -> Result<String, Error> {
    let doc = LockDoc {
        version: if pins.values().any(|p| !p.requires.is_empty()) {
            LOCK_VERSION_REQUIRES
        } else {
            LOCK_VERSION
        },
        plugins: pins.clone(),
    };
    Ok(format!(
        "# Written by `kure lock`: the plugins `kure generate` may use here, byte for byte.\n{}",
        yaml_serde::to_string(&doc).map_err(|e| Error::Store(e.to_string()))?
    ))
}

/// Writes a lock file atomically.
pub fn write(path: &Path, pins: &BTreeMap<String, Pin>) -> Result<(), Error> {
    let text = render(pins)?;
    crate::util::write_atomic(path, text.as_bytes()).map_err(|e| Error::io(path, e))
}

/// Refuses to go on when a plugin that would run (`actual`: the pins of what the engine
/// resolved, [`crate::Engine::pins`]) differs from what the lock pins.
pub fn check(
    path: &Path,
    pins: &BTreeMap<String, Pin>,
    actual: &BTreeMap<String, Pin>,
) -> Result<(), Error> {
    let mut problems = Vec::new();
    for (gvk, a) in actual {
        match pins.get(gvk) {
            None => problems.push(format!(
                "{gvk} (plugin {}@{}) is not pinned; run `kure lock` to pin it",
                a.plugin, a.version
            )),
            Some(p) => {
                let mut diffs =
                    p.differences(Some((&a.plugin, &a.version)), Some((&a.sha256, &a.signer)));
                if p.isolation == Some(crate::plugin::isolation::Isolation::Process)
                    && a.isolation != p.isolation
                {
                    diffs.push("in-process isolation (locked: process)".to_owned());
                }
                if !diffs.is_empty() {
                    problems.push(format!(
                        "{gvk}: the plugin that would run has {}",
                        diffs.join(", ")
                    ));
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Lock {
            path: path.to_path_buf(),
            reason: format!(
                "refusing to generate: {}. If the change is intended, run `kure lock` to update the lock",
                problems.join("; ")
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin() -> Pin {
        Pin {
            plugin: "terraform-generator".to_owned(),
            version: "1.0.0".to_owned(),
            sha256: "a".repeat(64),
            signer: "b".repeat(64),
            isolation: Some(crate::plugin::isolation::Isolation::Process),
            source: None,
            platforms: BTreeMap::new(),
            requires: Vec::new(),
        }
    }

    fn lock() -> Lock {
        Lock {
            path: PathBuf::from("kure.lock"),
            pins: [(
                "generators.example.com/v1alpha1/TerraformConfig".to_owned(),
                pin(),
            )]
            .into(),
        }
    }

    #[test]
    fn what_is_written_reads_back() {
        let pins = lock().pins;
        let text = render(&pins).expect("render");
        assert!(text.starts_with("# Written by `kure lock`"));
        assert_eq!(parse(&text, Path::new("kure.lock")).expect("parse"), pins);
        let t = tempfile::tempdir().expect("tmp");
        let path = t.path().join("kure.lock");
        write(&path, &pins).expect("write");
        assert_eq!(read(&path).expect("read"), pins);
        assert_eq!(
            std::fs::read_dir(t.path()).expect("dir").count(),
            1,
            "no temporary left"
        );
    }

    #[test]
    fn hostile_pins_are_refused_naming_the_file() {
        let good = render(&lock().pins).expect("render");
        for (from, to) in [
            ("terraform-generator", "../../evil"),
            ("version: 1.0.0", "version: ../1"),
            (&"a".repeat(64)[..], "not-hex"),
            (&"b".repeat(64)[..], "someone"),
            ("generators.example.com/v1alpha1/TerraformConfig", "../../x"),
            ("version: 1\n", "version: 3\n"),
            ("isolation: process", "isolation: sideways"),
            // A `requires` edge is name@version, never a path.
            (
                "isolation: process",
                "isolation: process\n    requires:\n    - ../x@1.0.0",
            ),
        ] {
            let bad = good.replacen(from, to, 1);
            assert_ne!(bad, good, "{from}");
            let e = parse(&bad, Path::new("/repo/kure.lock")).expect_err(from);
            assert!(e.to_string().contains("/repo/kure.lock"), "{e}");
        }
    }

    #[test]
    fn checks_say_what_differs_and_what_to_do() {
        let l = lock();
        let gvk = "generators.example.com/v1alpha1/TerraformConfig";
        let lib = Path::new("/p/lib.so");
        let (sha, signer) = ("a".repeat(64), "b".repeat(64));
        assert!(l.check_before_load(gvk, lib, &sha, &signer, None).is_ok());
        let e = l
            .check_before_load(gvk, lib, &"c".repeat(64), &signer, None)
            .expect_err("other bytes");
        assert!(
            e.to_string().contains("was not loaded") && e.to_string().contains("kure lock"),
            "{e}"
        );
        let e = l
            .check_before_load("other.io/v1/X", lib, &sha, &signer, None)
            .expect_err("unpinned");
        assert!(e.to_string().contains("is not pinned"), "{e}");
        assert!(l
            .check_metadata(gvk, "terraform-generator", "1.0.0")
            .is_ok());
        let e = l
            .check_metadata(gvk, "terraform-generator", "1.0.1")
            .expect_err("other version");
        assert!(e.to_string().contains("none of its generators ran"), "{e}");
        // A GVK the lock does not pin says nothing about metadata.
        assert!(l.check_metadata("other.io/v1/X", "x", "0").is_ok());
    }

    /// A lock that lists this platform's build reads its sha256 as the pin's; builds must be
    /// well formed and need a source.
    #[test]
    fn a_pin_serves_each_platform_it_lists() {
        let here = crate::store::registry::Platform::current().to_string();
        let text = |here_sha: &str, extra: &str| {
            format!(
                "version: 1\nplugins:\n  x.dev/v1/Thing:\n    plugin: thing\n    version: 1.0.0\n    sha256: {}\n    signer: unsigned\n    source: oci://localhost:5000/thing:1\n    platforms:\n      {here}:\n        digest: sha256:{}\n        sha256: {here_sha}\n{extra}",
                "a".repeat(64),
                "c".repeat(64),
            )
        };
        let pins = parse(&text(&"b".repeat(64), ""), Path::new("kure.lock")).expect("valid");
        assert_eq!(pins["x.dev/v1/Thing"].sha256, "b".repeat(64));
        for bad in [
            text("nothex", ""),
            text(
                &"b".repeat(64),
                "      plan9/../x:\n        digest: sha256:00\n        sha256: 00\n",
            ),
            text(&"b".repeat(64), "").replace("    source: oci://localhost:5000/thing:1\n", ""),
        ] {
            let e = parse(&bad, Path::new("kure.lock")).expect_err(&bad);
            assert!(e.to_string().contains("x.dev/v1/Thing"), "{e}");
        }
    }
}
