//! Rendering: deterministic YAML to one stream, or to a kustomize directory tree written
//! atomically (staging directory, then rename; an error leaves the previous output untouched).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::Error;

/// The objects generated for one application.
#[derive(Debug, Clone)]
pub struct AppOutput {
    /// The app's namespace, if any.
    pub namespace: Option<String>,
    /// The app's name.
    pub app: String,
    /// Generated objects, in generator order.
    pub objects: Vec<Value>,
}

/// File marking a directory as kure's output, so `-o` never replaces a directory it did not
/// write.
pub const MARKER: &str = ".kure-output";

/// One object as YAML (keys sorted: serde_json maps are ordered by key).
pub fn object_yaml(object: &Value) -> Result<String, Error> {
    Ok(crate::yaml::to_string(object))
}

/// All objects of all apps, in input order, as one `---`-separated stream.
pub fn to_yaml_stream(apps: &[AppOutput]) -> Result<String, Error> {
    let mut out = String::new();
    for object in apps.iter().flat_map(|a| &a.objects) {
        out.push_str("---\n");
        out.push_str(&object_yaml(object)?);
    }
    Ok(out)
}

pub(crate) fn kustomization(resources: &[String]) -> String {
    let mut s = String::from(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n",
    );
    for r in resources {
        s.push_str("- ");
        s.push_str(r);
        s.push('\n');
    }
    s
}

fn file_stem(object: &Value) -> String {
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("object");
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("unnamed");
    format!("{}-{}", kind.to_ascii_lowercase(), name)
}

/// The files of the output tree: relative path -> contents.
pub fn tree(apps: &[AppOutput]) -> Result<BTreeMap<PathBuf, String>, Error> {
    // namespace -> app -> file names, in input order.
    let mut layout: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    let mut files = BTreeMap::new();
    for app in apps {
        let ns = app
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_owned());
        let names = layout
            .entry(ns.clone())
            .or_default()
            .entry(app.app.clone())
            .or_default();
        for object in &app.objects {
            let stem = file_stem(object);
            let mut file = format!("{stem}.yaml");
            let mut n = 2;
            while names.contains(&file) {
                file = format!("{stem}-{n}.yaml");
                n += 1;
            }
            files.insert(
                Path::new(&ns).join(&app.app).join(&file),
                object_yaml(object)?,
            );
            names.push(file);
        }
    }
    let mut namespaces = Vec::new();
    for (ns, apps) in &layout {
        let mut app_dirs = Vec::new();
        for (app, names) in apps {
            files.insert(
                Path::new(ns).join(app).join("kustomization.yaml"),
                kustomization(names),
            );
            app_dirs.push(app.clone());
        }
        files.insert(
            Path::new(ns).join("kustomization.yaml"),
            kustomization(&app_dirs),
        );
        namespaces.push(ns.clone());
    }
    files.insert(
        PathBuf::from("kustomization.yaml"),
        kustomization(&namespaces),
    );
    files.insert(
        PathBuf::from(MARKER),
        "This directory is written by `kure generate -o`; it is replaced on every run.\n"
            .to_owned(),
    );
    Ok(files)
}

/// Refuses an output directory kure did not write: it must be absent, empty, or carry the
/// marker of an earlier run.
pub(crate) fn check_output_dir(dir: &Path) -> Result<(), Error> {
    let fail = |reason: String| Error::Output {
        path: dir.to_path_buf(),
        reason,
    };
    if dir.exists() {
        if !dir.is_dir() {
            return Err(fail("it exists and is not a directory".to_owned()));
        }
        let empty = std::fs::read_dir(dir)
            .map_err(|e| fail(e.to_string()))?
            .next()
            .is_none();
        if !empty && !dir.join(MARKER).exists() {
            return Err(fail(format!(
                "it is not empty and was not written by kure (no {MARKER} file); choose a new or \
                 empty directory, kure replaces the whole output directory"
            )));
        }
    }
    Ok(())
}

/// A hidden sibling of `dir` for staging (`what` = staging) or the previous output (old).
pub(crate) fn staging_path(dir: &Path, what: &str) -> Result<PathBuf, Error> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| Error::Output {
            path: dir.to_path_buf(),
            reason: "it has no directory name".to_owned(),
        })?;
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| Error::Output {
        path: dir.to_path_buf(),
        reason: format!("cannot create {}: {e}", parent.display()),
    })?;
    Ok(parent.join(format!(".{name}.kure-{what}-{}", std::process::id())))
}

/// Replaces `dir` with the finished `staging` directory; on failure the previous output stays.
pub(crate) fn swap_into_place(staging: &Path, dir: &Path) -> Result<(), Error> {
    let fail = |reason: String| Error::Output {
        path: dir.to_path_buf(),
        reason,
    };
    let old = staging_path(dir, "old")?;
    if dir.exists() {
        if let Err(e) = std::fs::rename(dir, &old) {
            let _ = std::fs::remove_dir_all(staging);
            return Err(fail(format!("{e} (the previous output is untouched)")));
        }
    }
    if let Err(e) = std::fs::rename(staging, dir) {
        let _ = std::fs::rename(&old, dir);
        let _ = std::fs::remove_dir_all(staging);
        return Err(fail(format!("{e} (the previous output was restored)")));
    }
    let _ = std::fs::remove_dir_all(&old);
    Ok(())
}

/// Writes the tree to `dir` atomically: everything goes to a staging directory beside it,
/// which then replaces `dir`. `dir` must be absent, empty, or an earlier kure output.
pub fn write_dir(dir: &Path, apps: &[AppOutput]) -> Result<(), Error> {
    check_output_dir(dir)?;
    let files = tree(apps)?;
    let staging = staging_path(dir, "staging")?;
    let _ = std::fs::remove_dir_all(&staging);
    let result = (|| -> std::io::Result<()> {
        for (rel, contents) in &files {
            let path = staging.join(rel);
            if let Some(p) = path.parent() {
                std::fs::create_dir_all(p)?;
            }
            std::fs::write(&path, contents)?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(Error::Output {
            path: dir.to_path_buf(),
            reason: format!("{e} (the previous output is untouched)"),
        });
    }
    swap_into_place(&staging, dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn apps() -> Vec<AppOutput> {
        vec![AppOutput {
            namespace: Some("prod".into()),
            app: "web".into(),
            objects: vec![
                json!({"kind": "Deployment", "apiVersion": "apps/v1", "metadata": {"name": "web"}}),
                json!({"kind": "Service", "apiVersion": "v1", "metadata": {"name": "web"}}),
            ],
        }]
    }

    #[test]
    fn stream_has_sorted_keys_and_separators() {
        let s = to_yaml_stream(&apps()).expect("render");
        assert!(
            s.starts_with(
                "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n---\n"
            ),
            "{s}"
        );
    }

    #[test]
    fn directory_is_replaced_atomically_and_foreign_dirs_are_refused() {
        let tmp = tempfile::tempdir().expect("tmp");
        let out = tmp.path().join("out");
        write_dir(&out, &apps()).expect("write");
        assert!(out.join("prod/web/deployment-web.yaml").exists());
        let k = std::fs::read_to_string(out.join("prod/web/kustomization.yaml")).expect("k");
        assert!(
            k.contains("- deployment-web.yaml\n- service-web.yaml\n"),
            "{k}"
        );
        // A second run replaces the first.
        let mut second = apps();
        second[0].app = "api".into();
        write_dir(&out, &second).expect("rewrite");
        assert!(!out.join("prod/web").exists());
        assert!(out.join("prod/api/service-web.yaml").exists());
        // A directory kure did not write is refused and left alone.
        let foreign = tmp.path().join("foreign");
        std::fs::create_dir(&foreign).expect("mkdir");
        std::fs::write(foreign.join("keep.txt"), "x").expect("write");
        let e = write_dir(&foreign, &apps()).expect_err("refused");
        assert!(e.to_string().contains("not written by kure"), "{e}");
        assert!(foreign.join("keep.txt").exists());
        // No staging directories are left behind.
        let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
            .expect("ls")
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains("kure-"))
            .collect();
        assert!(leftovers.is_empty());
    }
}
