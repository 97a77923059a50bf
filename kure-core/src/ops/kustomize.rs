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
        "#!/bin/sh\n# kustomize exec generator for {} {}, written by `kure kustomize install-plugins`.\n# kustomize passes its copy of the generator config (a kure spec) as $1; kure finds the\n# spec it came from (so messages name that file and line) and prints the manifests.\nexec {} --quiet kustomize generate \"$1\"\n",
        gvk.api_version(),
        gvk.kind,
        sh_quote(&kure.display().to_string())
    )
}

/// The names kustomize reads a kustomization from, in its order.
const KUSTOMIZATION_FILES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Where kustomize's copy of a generator config came from, so that messages name the user's
/// file and line rather than kustomize's temporary file (which holds the spec re-written: keys
/// sorted, comments gone, so not even its line numbers are the user's).
///
/// kustomize runs an exec generator in the kustomization's directory `root` with a copy of one
/// document of a file its `generators:` lists. That document is the first one, among those
/// files, that is the same object as `config`'s (annotations kustomize adds aside). Returns
/// the file (as `root` joined with the entry) and the document's first line, or `None` when
/// no listed file holds it: an entry that is absolute, climbs out with `..`, is a URL, leads
/// out of `root` through a link, or is not a regular file is not read (kustomize's default
/// load restrictions keep generators inside the root too).
pub fn config_origin(config: &Path, root: &Path, max_bytes: u64) -> Option<(PathBuf, usize)> {
    let wanted = only_document(config, max_bytes)?;
    let root_real = std::fs::canonicalize(root).ok()?;
    let kustomization = KUSTOMIZATION_FILES
        .iter()
        .map(|name| root.join(name))
        .find(|p| p.is_file())?;
    let text = crate::input::read(&kustomization, &kustomization, max_bytes).ok()?;
    let value: serde_json::Value = yaml_serde::from_str(&text).ok()?;
    let entries = value.get("generators")?.as_array()?;
    for entry in entries.iter().filter_map(serde_json::Value::as_str) {
        let relative = Path::new(entry);
        let plain = !entry.contains("://")
            && relative
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)));
        if !plain {
            continue;
        }
        let path = root.join(relative);
        let inside = std::fs::canonicalize(&path).is_ok_and(|real| real.starts_with(&root_real));
        if !inside || !path.is_file() {
            continue;
        }
        let Ok(text) = crate::input::read(&path, &path, max_bytes) else {
            continue;
        };
        let Ok(pieces) = crate::input::split::documents(&text) else {
            continue;
        };
        for (line, chunk) in pieces {
            if let Some(v) = parsed(&chunk) {
                if same_object(v, &wanted) {
                    return Some((path, line));
                }
            }
        }
    }
    None
}

/// The one document of kustomize's copy, without what kustomize adds.
fn only_document(config: &Path, max_bytes: u64) -> Option<serde_json::Value> {
    let text = crate::input::read(config, config, max_bytes).ok()?;
    let mut values = crate::input::split::documents(&text)
        .ok()?
        .into_iter()
        .filter_map(|(_, chunk)| parsed(&chunk));
    let value = values.next()?;
    values
        .next()
        .is_none()
        .then(|| without_kustomize_annotations(value))
}

/// A document's value; `None` when blank or broken (kure reports that when it generates).
fn parsed(chunk: &str) -> Option<serde_json::Value> {
    if crate::input::split::is_blank(chunk) {
        return None;
    }
    crate::input::parse::parse(chunk).ok()
}

fn same_object(candidate: serde_json::Value, wanted: &serde_json::Value) -> bool {
    &without_kustomize_annotations(candidate) == wanted
}

/// `value` without the annotations kustomize keeps for itself (`config.kubernetes.io/…`,
/// `internal.config.kubernetes.io/…`, `kustomize.config.k8s.io/…`), and without an
/// annotations mapping left empty.
fn without_kustomize_annotations(mut value: serde_json::Value) -> serde_json::Value {
    if let Some(meta) = value.get_mut("metadata").and_then(|m| m.as_object_mut()) {
        if let Some(annotations) = meta.get_mut("annotations").and_then(|a| a.as_object_mut()) {
            annotations.retain(|k, _| {
                ![
                    "config.kubernetes.io/",
                    "internal.config.kubernetes.io/",
                    "kustomize.config.k8s.io/",
                ]
                .iter()
                .any(|p| k.starts_with(p))
            });
            if annotations.is_empty() {
                meta.remove("annotations");
            }
        }
    }
    value
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

    const SPEC: &str = "# the shop\napiVersion: generators.gokure.dev/v1alpha1\nkind: AppWorkload\nmetadata:\n  name: shop # ours\nspec:\n  workload: Deployment\n  replicas: 3\n";
    const OTHER: &str = "apiVersion: generators.gokure.dev/v1alpha1\nkind: AppWorkload\nmetadata:\n  name: other\nspec:\n  workload: Deployment\n";
    /// kustomize's copy of SPEC: keys sorted, comments gone, an annotation of its own.
    const COPY: &str = "apiVersion: generators.gokure.dev/v1alpha1\nkind: AppWorkload\nmetadata:\n  annotations:\n    config.kubernetes.io/index: '1'\n  name: shop\nspec:\n  replicas: 3\n  workload: Deployment\n";

    fn origin(root: &Path, generators: &[&str]) -> Option<(PathBuf, usize)> {
        let list: String = generators.iter().map(|g| format!("- {g}\n")).collect();
        std::fs::write(
            root.join("kustomization.yaml"),
            format!("generators:\n{list}"),
        )
        .expect("kustomization");
        let copy = root.join("copy.yaml");
        std::fs::write(&copy, COPY).expect("copy");
        config_origin(&copy, root, 1 << 20)
    }

    #[test]
    fn the_copy_is_traced_to_the_listed_file_and_line_it_came_from() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("overlay");
        std::fs::create_dir_all(root.join("specs")).expect("dirs");
        std::fs::write(root.join("specs/other.yaml"), OTHER).expect("other");
        std::fs::write(root.join("specs/apps.yaml"), format!("{OTHER}---\n{SPEC}")).expect("apps");
        assert_eq!(
            origin(&root, &["specs/other.yaml", "specs/apps.yaml"]),
            Some((root.join("specs/apps.yaml"), 8))
        );
        // A spec that differs in a value is not the one kustomize copied.
        std::fs::write(root.join("specs/apps.yaml"), SPEC.replace("3", "4")).expect("apps");
        assert_eq!(origin(&root, &["specs/apps.yaml"]), None);
        // Entries that leave the root, or are not plain relative paths, are never read, even
        // when they hold the spec.
        std::fs::write(dir.path().join("outside.yaml"), SPEC).expect("outside");
        std::os::unix::fs::symlink(dir.path().join("outside.yaml"), root.join("link.yaml"))
            .expect("symlink");
        let absolute = dir.path().join("outside.yaml").display().to_string();
        for entry in [
            "../outside.yaml",
            absolute.as_str(),
            "link.yaml",
            "https://x/outside.yaml",
        ] {
            assert_eq!(origin(&root, &[entry]), None, "{entry}");
        }
        // Inside the root, a link to a listed file is fine.
        std::fs::write(root.join("specs/apps.yaml"), SPEC).expect("apps");
        std::os::unix::fs::symlink(root.join("specs/apps.yaml"), root.join("alias.yaml"))
            .expect("symlink");
        assert_eq!(
            origin(&root, &["alias.yaml"]),
            Some((root.join("alias.yaml"), 1))
        );
    }

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
            s.contains(r#"exec '/opt/it'\''s here/kure' --quiet kustomize generate "$1""#),
            "{s}"
        );
    }
}
