//! Rendering helpers: deterministic YAML for one object, kustomization files, and the atomic
//! replacement of an output directory (staging directory, then rename; an error leaves the
//! previous output untouched). The pipeline module drives them.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::Error;

/// File marking a directory as kure's output, so `-o` never replaces a directory it did not
/// write.
pub const MARKER: &str = ".kure-output";

/// One object as YAML (keys sorted: serde_json maps are ordered by key).
pub fn object_yaml(object: &Value) -> Result<String, Error> {
    Ok(crate::yaml::to_string(object))
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

/// `<kind>-<name>`: the file name of an object in the output tree.
pub(crate) fn file_stem(object: &Value) -> String {
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
