//! The `-o` tree: kustomization files, the file name of each object, and the atomic
//! replacement of an output directory (staging directory, then rename; an error leaves the
//! previous output untouched). The pipeline drives them.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::model::error::Error;

/// File marking a directory as kure's output, so `-o` never replaces a directory it did not
/// write.
pub const MARKER: &str = ".kure-output";

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
    let name = crate::util::field(object, &["metadata", "name"])
        .and_then(Value::as_str)
        .unwrap_or("unnamed");
    format!("{}-{}", kind.to_ascii_lowercase(), name)
}

/// The length of `object`'s file name under -o DIR (`<kind>-<name>.yaml`) when it does not
/// fit a file system's 255 bytes with room for the `-N` suffix two objects sharing a stem get;
/// `None` when it fits. Checked for every generated and every copied object.
pub(crate) fn file_name_too_long(object: &Value) -> Option<usize> {
    let bytes = file_stem(object).len() + ".yaml".len();
    (bytes + 8 > 255).then_some(bytes)
}

/// The output directory of `-o DIR`, held through a handle on its parent that is opened
/// before any plugin code runs: a plugin that changes the working directory cannot move where
/// kure writes, and every file is created beneath that handle (cap-std refuses `..`, absolute
/// paths and symlinks that lead out).
pub(crate) struct OutputDir {
    path: PathBuf,
    parent: cap_std::fs::Dir,
    name: String,
}

impl OutputDir {
    fn fail(&self, reason: String) -> Error {
        Error::Output {
            path: self.path.clone(),
            reason,
        }
    }

    /// Opens the parent of `dir` (creating it) and checks that `dir` is kure's to replace.
    pub(crate) fn open(dir: &Path) -> Result<Self, Error> {
        let fail = |reason: String| Error::Output {
            path: dir.to_path_buf(),
            reason,
        };
        let name = match dir.components().next_back() {
            Some(std::path::Component::Normal(n)) => n.to_string_lossy().into_owned(),
            _ => return Err(fail("it does not end in a directory name".to_owned())),
        };
        let parent = match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent)
            .map_err(|e| fail(format!("cannot create {}: {e}", parent.display())))?;
        let handle = cap_std::fs::Dir::open_ambient_dir(&parent, cap_std::ambient_authority())
            .map_err(|e| fail(format!("cannot open {}: {e}", parent.display())))?;
        let out = Self {
            path: dir.to_path_buf(),
            parent: handle,
            name,
        };
        out.clean_stale();
        out.check()?;
        Ok(out)
    }

    /// Refuses a target kure did not write: it must be absent, empty, or carry the marker of
    /// an earlier run. Checked through the parent handle, never through the path again.
    fn check(&self) -> Result<(), Error> {
        let meta = match self.parent.symlink_metadata(&self.name) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(self.fail(e.to_string())),
        };
        if meta.is_symlink() {
            return Err(self.fail(
                "it is a symbolic link; kure replaces its output directory whole and does not \
                 follow a link there: pass the directory itself"
                    .to_owned(),
            ));
        }
        if !meta.is_dir() {
            return Err(self.fail("it exists and is not a directory".to_owned()));
        }
        let dir = self
            .parent
            .open_dir(&self.name)
            .map_err(|e| self.fail(e.to_string()))?;
        let empty = dir
            .entries()
            .map_err(|e| self.fail(e.to_string()))?
            .next()
            .is_none();
        if !empty && !dir.exists(MARKER) {
            return Err(self.fail(format!(
                "it is not empty and was not written by kure (no {MARKER} file); choose a new or \
                 empty directory, kure replaces the whole output directory"
            )));
        }
        Ok(())
    }

    /// Builds the new tree with `fill` in a staging directory beside the target (through the
    /// handle), then swaps it in with one `renameat2(RENAME_EXCHANGE)`: at every instant the
    /// target is either the whole old tree or the whole new one, even if kure is killed. On
    /// any error the previous output stays as it was. Staging directories that a killed run
    /// left behind are removed first.
    ///
    /// Where the exchange is not supported (not Linux, or a file system without it) kure falls
    /// back to two renames: old tree aside, new tree in. A kill between them leaves the old
    /// tree in `.DIR.kure-old-PID`, and the next run puts it back before anything else.
    ///
    /// `fill` gets the staging directory, the previous output to link unchanged files from
    /// (which it must not change), and whether the staging directory is the spare of an
    /// earlier run: that run's directories, emptied (see [`crate::output::fill`]). The
    /// previous output becomes the next spare.
    pub(crate) fn replace(
        &self,
        fill: impl FnOnce(&crate::output::fill::Staging<'_>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let pid = std::process::id();
        let staging = format!(".{}{STAGING}{pid}", self.name);
        let old = format!(".{}{OLD}{pid}", self.name);
        let spare = format!(".{}{SPARE}", self.name);
        let _ = self.parent.remove_dir_all(&staging);
        let reused = rustix::fs::renameat_with(
            &self.parent,
            &spare,
            &self.parent,
            &staging,
            rustix::fs::RenameFlags::NOREPLACE,
        )
        .is_ok();
        let (dir, reused) = crate::output::fill::staging_dir(&self.parent, &staging, reused)
            .map_err(|e| self.fail(format!("cannot create a staging directory: {e}")))?;
        // The previous output, when it is kure's (checked when the run began, and again
        // below before the swap).
        let previous = match self.parent.symlink_metadata(&self.name) {
            Ok(m) if m.is_dir() => self.parent.open_dir(&self.name).ok(),
            _ => None,
        };
        let result = fill(&crate::output::fill::Staging {
            dir: &dir,
            previous: previous.as_ref(),
            reused,
        })
        .and_then(|()| self.check());
        drop(dir);
        if let Err(e) = result {
            let _ = self.parent.remove_dir_all(&staging);
            return Err(e);
        }
        crate::plugin::killpoint::hit("output-staged");
        let existed = self.parent.symlink_metadata(&self.name).is_ok();
        if !existed {
            return match rustix::fs::renameat_with(
                &self.parent,
                &staging,
                &self.parent,
                &self.name,
                rustix::fs::RenameFlags::NOREPLACE,
            ) {
                Ok(()) => Ok(()),
                Err(e) if exchange_unsupported(e) => self.rename_in(&staging),
                Err(e) => {
                    let _ = self.parent.remove_dir_all(&staging);
                    Err(self.fail(format!("cannot move the new output into place: {e}")))
                }
            };
        }
        match rustix::fs::renameat_with(
            &self.parent,
            &staging,
            &self.parent,
            &self.name,
            rustix::fs::RenameFlags::EXCHANGE,
        ) {
            Ok(()) => {
                crate::plugin::killpoint::hit("output-exchanged");
                // The staging name now holds the previous output: the next run's spare.
                crate::output::fill::retire(&self.parent, &staging, &spare);
                Ok(())
            }
            Err(e) if exchange_unsupported(e) => {
                if let Err(e) = self.parent.rename(&self.name, &self.parent, &old) {
                    let _ = self.parent.remove_dir_all(&staging);
                    return Err(self.fail(format!("{e} (the previous output is untouched)")));
                }
                crate::plugin::killpoint::hit("output-fallback-aside");
                if let Err(e) = self.parent.rename(&staging, &self.parent, &self.name) {
                    let _ = self.parent.rename(&old, &self.parent, &self.name);
                    let _ = self.parent.remove_dir_all(&staging);
                    return Err(self.fail(format!("{e} (the previous output was restored)")));
                }
                let _ = self.parent.remove_dir_all(&old);
                Ok(())
            }
            Err(e) => {
                let _ = self.parent.remove_dir_all(&staging);
                Err(self.fail(format!(
                    "cannot swap in the new output: {e} (the previous output is untouched)"
                )))
            }
        }
    }

    fn rename_in(&self, staging: &str) -> Result<(), Error> {
        self.parent
            .rename(staging, &self.parent, &self.name)
            .map_err(|e| {
                let _ = self.parent.remove_dir_all(staging);
                self.fail(format!("cannot move the new output into place: {e}"))
            })
    }

    /// Removes what killed runs left beside the target: staging directories, and a previous
    /// output set aside by the two-rename fallback (put back first if the target is missing).
    /// Directories of runs still alive (a concurrent kure) are left alone.
    fn clean_stale(&self) {
        let Ok(entries) = self.parent.entries() else {
            return;
        };
        let prefix = format!(".{}", self.name);
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(rest) = name.strip_prefix(&prefix) else {
                continue;
            };
            let (is_old, pid) = if let Some(pid) = rest.strip_prefix(OLD) {
                (true, pid)
            } else if let Some(pid) = rest.strip_prefix(STAGING) {
                (false, pid)
            } else {
                continue;
            };
            if pid_alive(pid) {
                continue;
            }
            if is_old && self.parent.symlink_metadata(&self.name).is_err() {
                let _ = self.parent.rename(&name, &self.parent, &self.name);
                continue;
            }
            let _ = self.parent.remove_dir_all(&name);
        }
    }
}

/// The infix of staging directories: `.DIR.kure-staging-PID`.
pub(crate) const STAGING: &str = ".kure-staging-";
/// The infix of a previous output set aside by the fallback: `.DIR.kure-old-PID`.
const OLD: &str = ".kure-old-";
/// The suffix of the spare: the directories of an earlier output, emptied, which the next run
/// reuses as its staging directory (`.DIR.kure-spare`).
pub(crate) const SPARE: &str = ".kure-spare";

/// Whether `pid` (decimal) names a live process. Anything that is not a pid counts as alive,
/// so a directory kure cannot attribute is never removed.
fn pid_alive(pid: &str) -> bool {
    let Some(pid) = pid
        .parse::<i32>()
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return true;
    };
    !matches!(
        rustix::process::test_kill_process(pid),
        Err(rustix::io::Errno::SRCH)
    )
}

/// Errors that mean "this system cannot do that rename": fall back to two renames.
fn exchange_unsupported(e: rustix::io::Errno) -> bool {
    matches!(
        e,
        rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS | rustix::io::Errno::OPNOTSUPP
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(dir: &Path) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = std::fs::read_dir(dir)
            .expect("read dir")
            .flatten()
            .map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let text = std::fs::read_to_string(e.path()).unwrap_or_else(|_| "<dir>".into());
                (name, text)
            })
            .collect();
        v.sort();
        v
    }

    fn fill_with(
        text: &'static str,
    ) -> impl FnOnce(&crate::output::fill::Staging<'_>) -> Result<(), Error> {
        move |s: &crate::output::fill::Staging<'_>| {
            let d = s.dir;
            d.write(MARKER, "").expect("marker");
            d.write("app.yaml", text).expect("file");
            Ok(())
        }
    }

    #[test]
    fn a_tree_is_replaced_whole_and_only_the_spare_is_left_beside_it() {
        let root = tempfile::tempdir().expect("tempdir");
        let out = root.path().join("out");
        OutputDir::open(&out)
            .expect("open")
            .replace(fill_with("one"))
            .expect("first");
        OutputDir::open(&out)
            .expect("open")
            .replace(fill_with("two"))
            .expect("second");
        assert_eq!(
            listing(&out),
            [
                (MARKER.into(), String::new()),
                ("app.yaml".into(), "two".into())
            ]
        );
        let mut beside: Vec<String> = std::fs::read_dir(root.path())
            .expect("read")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        beside.sort();
        // The previous output's directories, emptied, for the next run.
        assert_eq!(beside, [".out.kure-spare", "out"]);
        assert_eq!(
            std::fs::read_dir(root.path().join(".out.kure-spare"))
                .expect("spare")
                .count(),
            0
        );
    }

    #[test]
    fn a_failed_fill_leaves_the_previous_tree_as_it_was() {
        let root = tempfile::tempdir().expect("tempdir");
        let out = root.path().join("out");
        OutputDir::open(&out)
            .expect("open")
            .replace(fill_with("kept"))
            .expect("first");
        let before = listing(&out);
        let err = OutputDir::open(&out)
            .expect("open")
            .replace(|s| {
                s.dir.write("half.yaml", "half").expect("file");
                Err(Error::Output {
                    path: "out".into(),
                    reason: "generation failed".into(),
                })
            })
            .expect_err("the fill failed");
        assert!(err.to_string().contains("generation failed"), "{err}");
        assert_eq!(listing(&out), before);
        assert_eq!(std::fs::read_dir(root.path()).expect("read").count(), 1);
    }

    #[test]
    fn only_kures_own_or_empty_directories_are_replaced() {
        let root = tempfile::tempdir().expect("tempdir");
        let theirs = root.path().join("theirs");
        std::fs::create_dir(&theirs).expect("mkdir");
        std::fs::write(theirs.join("notes.txt"), "mine").expect("write");
        let err = OutputDir::open(&theirs).err().expect("refused");
        assert!(err.to_string().contains("was not written by kure"), "{err}");
        let link = root.path().join("link");
        std::os::unix::fs::symlink(&theirs, &link).expect("symlink");
        let err = OutputDir::open(&link).err().expect("refused");
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert_eq!(
            std::fs::read_to_string(theirs.join("notes.txt")).expect("kept"),
            "mine"
        );
    }

    #[test]
    fn what_a_killed_run_left_is_cleaned_or_put_back() {
        let root = tempfile::tempdir().expect("tempdir");
        let out = root.path().join("out");
        // A pid no process has: above the kernel's maximum.
        let dead = "4194305";
        let staging = root.path().join(format!(".out{STAGING}{dead}"));
        std::fs::create_dir(&staging).expect("staging");
        let old = root.path().join(format!(".out{OLD}{dead}"));
        std::fs::create_dir(&old).expect("old");
        std::fs::write(old.join(MARKER), "").expect("marker");
        std::fs::write(old.join("app.yaml"), "previous").expect("file");
        OutputDir::open(&out).expect("open");
        assert!(!staging.exists(), "a dead run's staging directory stayed");
        assert_eq!(
            std::fs::read_to_string(out.join("app.yaml")).expect("put back"),
            "previous"
        );
        // A live run's staging directory (this process) is left alone.
        let live = root
            .path()
            .join(format!(".out{STAGING}{}", std::process::id()));
        std::fs::create_dir(&live).expect("live");
        OutputDir::open(&out).expect("open");
        assert!(live.exists());
    }
}
