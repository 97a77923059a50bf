//! kure as a kustomize generator: legacy exec plugins.
//!
//! `kustomize build --enable-alpha-plugins` (and `kubectl kustomize`) runs, for a generator
//! config with `apiVersion: GROUP/VERSION` and `kind: KIND`, the executable
//! `$KUSTOMIZE_PLUGIN_HOME/GROUP/VERSION/<lower-case KIND>/KIND` with the config file as its
//! first argument, and reads manifests from its stdout. A kure spec is exactly such a config,
//! so the executable is a two-line shim running `kure generate -f "$1"`: kure's validation,
//! trust rules and lock apply as in any other run.

use std::path::{Path, PathBuf};

use crate::model::error::Error;
use crate::model::gvk::Gvk;

/// Where kustomize looks for plugins: `$KUSTOMIZE_PLUGIN_HOME`, else
/// `$XDG_CONFIG_HOME/kustomize/plugin`, else `~/.config/kustomize/plugin`.
pub fn plugin_home() -> PathBuf {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    env("KUSTOMIZE_PLUGIN_HOME")
        .or_else(|| env("XDG_CONFIG_HOME").map(|c| c.join("kustomize/plugin")))
        .or_else(|| env("HOME").map(|h| h.join(".config/kustomize/plugin")))
        .unwrap_or_else(|| PathBuf::from(".config/kustomize/plugin"))
}

/// The shim's path under `home` for `gvk`, or why there is none: each part becomes a path
/// component, so the group must be a DNS name and the version and kind plain words.
pub fn shim_path(home: &Path, gvk: &Gvk) -> Result<PathBuf, String> {
    let word = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric());
    if gvk.group.is_empty() || !crate::util::is_dns_subdomain(&gvk.group) {
        return Err(format!(
            "group `{}` is not a DNS name",
            crate::util::shown(&gvk.group)
        ));
    }
    if !word(&gvk.version) || !word(&gvk.kind) {
        return Err(format!(
            "`{}/{}` is not a plain version and kind",
            crate::util::shown(&gvk.version),
            crate::util::shown(&gvk.kind)
        ));
    }
    Ok(home
        .join(&gvk.group)
        .join(&gvk.version)
        .join(gvk.kind.to_ascii_lowercase())
        .join(&gvk.kind))
}

/// `text` quoted for sh: inside single quotes, each `'` written as `'\''`.
fn sh_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The shim for `gvk`, running `kure` (an absolute path).
pub fn shim(kure: &Path, gvk: &Gvk) -> String {
    format!(
        "#!/bin/sh\n# kustomize exec generator for {} {}, written by `kure kustomize install-plugins`.\n# kustomize passes the generator config (a kure spec) as $1; kure prints the manifests.\nexec {} generate --quiet -f \"$1\"\n",
        gvk.api_version(),
        gvk.kind,
        sh_quote(&kure.display().to_string())
    )
}

/// `kure kustomize install-plugins`: a shim under `home` running `kure` for every GVK the
/// session knows without loading a plugin (the built-ins and the store's index). Returns each
/// GVK with the shim written for it.
pub fn install_plugins(
    session: &crate::ops::session::Session,
    home: &Path,
    kure: &Path,
) -> Result<Vec<(Gvk, PathBuf)>, Error> {
    let mut engine = session.engine()?;
    engine.use_index()?;
    let gvks: Vec<Gvk> = engine.registry().iter().map(|(g, _)| g.clone()).collect();
    let written = install_shims(home, kure, &gvks)?;
    Ok(gvks.into_iter().zip(written).collect())
}

/// Writes (or replaces) the shim of every GVK under `home`, each atomically (a temporary file
/// renamed over the old one) and executable. Returns the paths written.
pub fn install_shims(home: &Path, kure: &Path, gvks: &[Gvk]) -> Result<Vec<PathBuf>, Error> {
    let mut written = Vec::new();
    for gvk in gvks {
        let path = shim_path(home, gvk).map_err(|why| {
            Error::Store(format!(
                "no kustomize plugin for {gvk}: {why}; nothing was written for it"
            ))
        })?;
        let dir = path.parent().unwrap_or(home);
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let tmp = dir.join(format!(".{}.kure-tmp", gvk.kind));
        std::fs::write(&tmp, shim(kure, gvk)).map_err(|e| Error::io(&tmp, e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| Error::io(&tmp, e))?;
        }
        std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_come_only_from_checked_parts_and_the_kure_path_is_quoted() {
        let home = Path::new("/h");
        let g = Gvk::parse("generators.gokure.dev/v1alpha1", "AppWorkload").expect("gvk");
        assert_eq!(
            shim_path(home, &g).expect("path"),
            Path::new("/h/generators.gokure.dev/v1alpha1/appworkload/AppWorkload")
        );
        for (group, version, kind) in [
            ("..", "v1", "K"),
            ("a/b", "v1", "K"),
            ("", "v1", "K"),
            ("x.io", "..", "K"),
            ("x.io", "v1", "K/../../x"),
        ] {
            let g = Gvk {
                group: group.to_owned(),
                version: version.to_owned(),
                kind: kind.to_owned(),
            };
            assert!(shim_path(home, &g).is_err(), "{group} {version} {kind}");
        }
        let s = shim(Path::new("/opt/it's here/kure"), &g);
        assert!(
            s.contains(r#"exec '/opt/it'\''s here/kure' generate --quiet -f "$1""#),
            "{s}"
        );
    }
}
