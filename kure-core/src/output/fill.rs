//! Filling the staging tree of `-o DIR`: one directory's files at a time, on a few threads,
//! and a file whose bytes the previous output already holds at the same place is linked from
//! it instead of written again.
//!
//! Linking is what makes a re-render of a big tree cheap: a hard link allocates no inode and
//! writes no data, and deleting the previous tree after the swap then only removes names. (On
//! ext4 without a journal, creating many files or directories right after many were deleted
//! is slow: the inode allocator skips recently freed inodes one by one. A 50,000-app tree
//! replaced by writing every file and directory again took 18 to 77 s here; see the README's
//! Performance section.) The previous tree is never changed: it stays whole until the swap.
//!
//! For the same reason the directories are reused: after the swap the previous tree loses its
//! files (names only, for the files the new tree links) and its empty directories are kept
//! beside the output as a spare ([`retire`]), which the next run renames into place as its
//! staging directory; [`fill`] empties any directory of it that is not, and removes those the
//! new output does not have.

use std::collections::HashSet;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Mutex;

use cap_std::fs::Dir;

use crate::model::error::Error;

/// One directory's files: the directory (relative to the tree, `/`-separated) and each file's
/// name and bytes.
pub(crate) type Job = (String, Vec<(String, Vec<u8>)>);

/// At most this many threads write (the work is the kernel's; more do not help).
const MAX_THREADS: usize = 4;

/// Directories handed to a thread at a time.
const BATCH: usize = 32;

/// Writes every job's files beneath `staging`, linking those `previous` holds with the same
/// bytes. `jobs` is read on this thread (it may read a spool); the files are written by
/// worker threads. The first error stops the work and is returned.
pub(crate) fn fill(
    staging: &Staging<'_>,
    jobs: impl Iterator<Item = Result<Job, Error>>,
) -> Result<(), Error> {
    let threads = threads();
    let failed: Mutex<Option<Error>> = Mutex::new(None);
    // Jobs go to the threads a few dozen at a time: one hand-over per app costs more than
    // writing a small app.
    let (tx, rx) = sync_channel::<Vec<Job>>(threads * 4);
    let rx = Mutex::new(rx);
    let mut written: HashSet<String> = HashSet::new();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| worker(staging, &rx, &failed));
        }
        let mut batch = Vec::with_capacity(BATCH);
        for job in jobs {
            let job = match job {
                Ok(job) => job,
                Err(e) => {
                    record(&failed, e);
                    batch.clear();
                    break;
                }
            };
            if staging.reused {
                // Every directory on the way, for `prune`.
                let mut at = job.0.as_str();
                while written.insert(at.to_owned()) {
                    match at.rsplit_once('/') {
                        Some((up, _)) => at = up,
                        None => break,
                    }
                }
            }
            batch.push(job);
            if batch.len() == BATCH && tx.send(std::mem::take(&mut batch)).is_err() {
                break;
            }
        }
        if !batch.is_empty() {
            let _ = tx.send(batch);
        }
        drop(tx);
    });
    let failed = failed.into_inner();
    if staging.reused && matches!(failed, Ok(None)) {
        prune(staging.dir, "", &written).map_err(|e| Error::Output {
            path: "<staging>".into(),
            reason: format!("{e} (the previous output is untouched)"),
        })?;
    }
    match failed {
        Ok(None) => Ok(()),
        Ok(Some(e)) => Err(e),
        Err(_) => Err(Error::Output {
            path: "<staging>".into(),
            reason: "a writer thread failed (the previous output is untouched)".to_owned(),
        }),
    }
}

/// Removes the tree `name` beneath `parent` (a previous output), its second-level directories
/// (the apps) on a few threads. Best effort, as removing a previous output always was: what
/// cannot be removed stays, and the next run removes it.
pub(crate) fn remove_tree(parent: &Dir, name: &str) {
    let mut apps: Vec<String> = Vec::new();
    if let Ok(tree) = parent.open_dir(name) {
        for ns in tree.entries().into_iter().flatten().flatten() {
            let ns_name = ns.file_name().to_string_lossy().into_owned();
            if !ns.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let Ok(ns_dir) = tree.open_dir(&ns_name) else {
                continue;
            };
            for app in ns_dir.entries().into_iter().flatten().flatten() {
                if app.file_type().is_ok_and(|t| t.is_dir()) {
                    let app = app.file_name().to_string_lossy().into_owned();
                    apps.push(format!("{name}/{ns_name}/{app}"));
                }
            }
        }
    }
    let threads = threads();
    let parts = apps.chunks(apps.len().div_ceil(threads).max(1));
    std::thread::scope(|scope| {
        for part in parts {
            scope.spawn(move || {
                for app in part {
                    let _ = parent.remove_dir_all(app);
                }
            });
        }
    });
    let _ = parent.remove_dir_all(name);
}

fn record(failed: &Mutex<Option<Error>>, e: Error) {
    if let Ok(mut slot) = failed.lock() {
        slot.get_or_insert(e);
    }
}

/// Where [`fill`] writes: the staging directory, the previous output to link unchanged files
/// from (never changed), and whether the staging directory is a reused spare (empty
/// directories of an earlier output).
pub(crate) struct Staging<'a> {
    pub(crate) dir: &'a Dir,
    pub(crate) previous: Option<&'a Dir>,
    pub(crate) reused: bool,
}

fn threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .clamp(1, MAX_THREADS)
}

/// Removes from a reused staging tree every entry below `at` that no job wrote.
fn prune(dir: &Dir, at: &str, written: &HashSet<String>) -> std::io::Result<()> {
    let here = if at.is_empty() {
        dir.try_clone()?
    } else {
        dir.open_dir(at)?
    };
    for entry in here.entries()? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = if at.is_empty() {
            name.clone()
        } else {
            format!("{at}/{name}")
        };
        if !entry.file_type()?.is_dir() {
            continue; // a file here was written by a job (a spare holds no files)
        }
        if written.contains(&path) {
            // Below an app (NS/APP) a spare holds nothing: `retire` emptied it.
            if !at.contains('/') && !at.is_empty() {
                continue;
            }
            prune(dir, &path, written)?;
        } else {
            here.remove_dir_all(&name)?;
        }
    }
    Ok(())
}

fn worker(staging: &Staging<'_>, rx: &Mutex<Receiver<Vec<Job>>>, failed: &Mutex<Option<Error>>) {
    loop {
        let batch = match rx.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(batch) = batch else {
            return;
        };
        for (dir, files) in batch {
            if failed.lock().map_or(true, |f| f.is_some()) {
                // Drain without work: the producer stops at its next send.
                break;
            }
            if let Err(e) = write_dir(staging, &dir, &files) {
                record(
                    failed,
                    Error::Output {
                        path: std::path::PathBuf::from("<staging>").join(&dir),
                        reason: format!("{e} (the previous output is untouched)"),
                    },
                );
            }
        }
    }
}

/// One directory: created, then each file linked from the previous tree or written. A file
/// is always a new name (`O_EXCL`): nothing is ever written into an existing inode, which may
/// be the previous output's.
fn write_dir(staging: &Staging<'_>, dir: &str, files: &[(String, Vec<u8>)]) -> std::io::Result<()> {
    let here = if dir.is_empty() {
        staging.dir.try_clone()?
    } else {
        // A spare has most directories already.
        match staging.dir.open_dir(dir) {
            Ok(d) => d,
            Err(_) => {
                staging.dir.create_dir_all(dir)?;
                staging.dir.open_dir(dir)?
            }
        }
    };
    let before = staging.previous.and_then(|p| match dir {
        "" => p.try_clone().ok(),
        _ => p.open_dir(dir).ok(),
    });
    let mut new = cap_std::fs::OpenOptions::new();
    new.write(true).create_new(true);
    for (name, bytes) in files {
        if let Some(before) = &before {
            if holds(before, name, bytes) && before.hard_link(name, &here, name).is_ok() {
                continue;
            }
        }
        let mut file = match here.open_with(name, &new) {
            // A spare's leftover (a spare holds none, unless someone put it there).
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && staging.reused => {
                remove_any(&here, name)?;
                here.open_with(name, &new)?
            }
            other => other?,
        };
        std::io::Write::write_all(&mut file, bytes)?;
    }
    Ok(())
}

fn remove_any(dir: &Dir, name: &str) -> std::io::Result<()> {
    match dir.symlink_metadata(name)?.is_dir() {
        true => dir.remove_dir_all(name),
        false => dir.remove_file(name),
    }
}

/// After the swap: empties the previous output, now at `name` beneath `parent`, of its files
/// (the apps' on a few threads), and keeps its directories as the spare `spare` for the next
/// run. When that fails, or a spare is there already (a concurrent run), it is removed whole.
pub(crate) fn retire(parent: &Dir, name: &str, spare: &str) {
    let emptied = empty_tree(parent, name).is_ok();
    if emptied
        && rustix::fs::renameat_with(
            parent,
            name,
            parent,
            spare,
            rustix::fs::RenameFlags::NOREPLACE,
        )
        .is_ok()
    {
        return;
    }
    remove_tree(parent, name);
}

/// Removes every file of the tree `name` (an output: NS/APP/FILE, NS/FILE, FILE), keeping its
/// directories; anything deeper is removed whole.
fn empty_tree(parent: &Dir, name: &str) -> std::io::Result<()> {
    let tree = parent.open_dir(name)?;
    let mut apps = Vec::new();
    for ns in tree.entries()? {
        let ns = ns?;
        let ns_name = ns.file_name().to_string_lossy().into_owned();
        if !ns.file_type()?.is_dir() {
            tree.remove_file(&ns_name)?;
            continue;
        }
        let ns_dir = tree.open_dir(&ns_name)?;
        for app in ns_dir.entries()? {
            let app = app?;
            let app_name = app.file_name().to_string_lossy().into_owned();
            if app.file_type()?.is_dir() {
                // A name, not a handle: there may be more apps than open files allowed.
                apps.push(format!("{ns_name}/{app_name}"));
            } else {
                ns_dir.remove_file(&app_name)?;
            }
        }
    }
    let threads = threads();
    let failed = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        for part in apps.chunks(apps.len().div_ceil(threads).max(1)) {
            let (failed, tree) = (&failed, &tree);
            scope.spawn(move || {
                for app in part {
                    let Ok(app) = tree.open_dir(app) else {
                        failed.store(true, std::sync::atomic::Ordering::Relaxed);
                        continue;
                    };
                    let names: Vec<String> = app
                        .entries()
                        .into_iter()
                        .flatten()
                        .flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect();
                    for n in names {
                        if remove_any(&app, &n).is_err() {
                            failed.store(true, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                }
            });
        }
    });
    match failed.into_inner() {
        false => Ok(()),
        true => Err(std::io::Error::other(
            "a file of the previous output could not be removed",
        )),
    }
}

/// Whether `dir` holds a regular file `name` (not a link to one) with exactly `bytes`: one
/// open (`O_NOFOLLOW`, a single path component), one `fstat`, one read.
fn holds(dir: &Dir, name: &str, bytes: &[u8]) -> bool {
    use rustix::fs::{Mode, OFlags};
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return false;
    }
    let Ok(fd) = rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK,
        Mode::empty(),
    ) else {
        return false;
    };
    let Ok(stat) = rustix::fs::fstat(&fd) else {
        return false;
    };
    if rustix::fs::FileType::from_raw_mode(stat.st_mode) != rustix::fs::FileType::RegularFile
        || u64::try_from(stat.st_size).ok() != Some(bytes.len() as u64)
    {
        return false;
    }
    // One byte more than expected: a file that grew since the fstat does not compare equal.
    let mut old = vec![0u8; bytes.len() + 1];
    let mut got = 0;
    while got < old.len() {
        match rustix::io::read(&fd, &mut old[got..]) {
            Ok(0) => break,
            Ok(n) => {
                got += n;
                // A short read of a regular file is its end (no second read to see 0).
                if got == bytes.len() {
                    break;
                }
            }
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => return false,
        }
    }
    got == bytes.len() && &old[..got] == bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn dir(path: &std::path::Path) -> Dir {
        Dir::open_ambient_dir(path, cap_std::ambient_authority()).expect("dir")
    }

    fn jobs(files: &[(&str, &str, &str)]) -> impl Iterator<Item = Result<Job, Error>> {
        files
            .iter()
            .map(|(d, n, b)| {
                Ok((
                    (*d).to_owned(),
                    vec![((*n).to_owned(), b.as_bytes().to_vec())],
                ))
            })
            .collect::<Vec<_>>()
            .into_iter()
    }

    fn into(d: &Dir, previous: Option<&Dir>, reused: bool) -> Staging<'static> {
        // The tests keep the directories alive for the whole call.
        let d: &'static Dir = Box::leak(Box::new(d.try_clone().expect("clone")));
        let previous: Option<&'static Dir> =
            previous.map(|p| &*Box::leak(Box::new(p.try_clone().expect("clone"))));
        Staging {
            dir: d,
            previous,
            reused,
        }
    }

    /// Unchanged files are the previous tree's (same inode), changed and new ones are written,
    /// and the previous tree is left exactly as it was.
    #[test]
    fn unchanged_files_are_linked_and_the_previous_tree_is_untouched() {
        let t = tempfile::tempdir().expect("tmp");
        let (old, new) = (t.path().join("old"), t.path().join("new"));
        std::fs::create_dir_all(&old).expect("old");
        std::fs::create_dir_all(&new).expect("new");
        fill(
            &into(&dir(&old), None, false),
            jobs(&[
                ("a/x", "same.yaml", "same\n"),
                ("a/x", "changed.yaml", "v1\n"),
                ("", "top", "t\n"),
            ]),
        )
        .expect("first");
        // A symlink with the right bytes behind it is not linked: the new file is written.
        std::fs::remove_file(old.join("top")).expect("rm");
        std::fs::write(t.path().join("elsewhere"), "t\n").expect("write");
        std::os::unix::fs::symlink(t.path().join("elsewhere"), old.join("top")).expect("link");
        fill(
            &into(&dir(&new), Some(&dir(&old)), false),
            jobs(&[
                ("a/x", "same.yaml", "same\n"),
                ("a/x", "changed.yaml", "v2\n"),
                ("a/y", "fresh.yaml", "new\n"),
                ("", "top", "t\n"),
            ]),
        )
        .expect("second");
        let ino = |p: &std::path::Path| std::fs::metadata(p).expect("meta").ino();
        assert_eq!(
            ino(&new.join("a/x/same.yaml")),
            ino(&old.join("a/x/same.yaml"))
        );
        assert_ne!(
            ino(&new.join("a/x/changed.yaml")),
            ino(&old.join("a/x/changed.yaml"))
        );
        assert_eq!(
            std::fs::read_to_string(new.join("a/x/changed.yaml")).expect("r"),
            "v2\n"
        );
        assert_eq!(
            std::fs::read_to_string(old.join("a/x/changed.yaml")).expect("r"),
            "v1\n"
        );
        assert_eq!(
            std::fs::read_to_string(new.join("a/y/fresh.yaml")).expect("r"),
            "new\n"
        );
        assert!(!std::fs::symlink_metadata(new.join("top"))
            .expect("top")
            .is_symlink());
        assert_eq!(std::fs::read_to_string(new.join("top")).expect("r"), "t\n");
    }

    /// A retired tree keeps its directories and loses its files; reused as staging, the
    /// directories the new output lacks are removed, and a file someone left in the spare
    /// never reaches the output (nor is written through: the new file is a new inode).
    #[test]
    fn a_spare_is_emptied_reused_and_pruned() {
        let t = tempfile::tempdir().expect("tmp");
        let parent = dir(t.path());
        std::fs::create_dir_all(t.path().join("old")).expect("old");
        fill(
            &into(&dir(&t.path().join("old")), None, false),
            jobs(&[
                ("ns/a", "f.yaml", "a\n"),
                ("ns/b", "f.yaml", "b\n"),
                ("gone/c", "f.yaml", "c\n"),
                ("ns", "kustomization.yaml", "k\n"),
            ]),
        )
        .expect("first");
        retire(&parent, "old", "spare");
        assert!(!t.path().join("old").exists());
        let spare = t.path().join("spare");
        assert!(spare.join("ns/a").is_dir() && spare.join("gone/c").is_dir());
        let files: Vec<_> = walk(&spare).into_iter().filter(|p| p.is_file()).collect();
        assert!(files.is_empty(), "{files:?}");
        // Someone leaves a file and a directory in the spare.
        std::fs::write(spare.join("ns/a/f.yaml"), "planted\n").expect("plant");
        std::fs::write(t.path().join("outside"), "outside\n").expect("outside");
        std::fs::hard_link(t.path().join("outside"), spare.join("ns/b/f.yaml")).expect("link");
        fill(
            &into(&dir(&spare), None, true),
            jobs(&[("ns/a", "f.yaml", "a2\n"), ("ns/b", "f.yaml", "b2\n")]),
        )
        .expect("reused");
        assert_eq!(
            std::fs::read_to_string(spare.join("ns/a/f.yaml")).expect("r"),
            "a2\n"
        );
        assert_eq!(
            std::fs::read_to_string(spare.join("ns/b/f.yaml")).expect("r"),
            "b2\n"
        );
        assert_eq!(
            std::fs::read_to_string(t.path().join("outside")).expect("r"),
            "outside\n"
        );
        assert!(!spare.join("gone").exists());
        assert!(!spare.join("ns/kustomization.yaml").exists());
    }

    fn walk(d: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(d).expect("read").flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            }
            out.push(p);
        }
        out
    }

    #[test]
    fn the_first_error_is_returned() {
        let t = tempfile::tempdir().expect("tmp");
        std::fs::write(t.path().join("a"), "a file, not a directory").expect("write");
        let err = fill(
            &into(&dir(t.path()), None, false),
            jobs(&[("a/x", "f.yaml", "x\n")]),
        )
        .expect_err("a is a file");
        assert!(
            err.to_string().contains("previous output is untouched"),
            "{err}"
        );
        let err = fill(
            &into(&dir(t.path()), None, false),
            vec![Err(Error::Output {
                path: "spool".into(),
                reason: "corrupt".to_owned(),
            })]
            .into_iter(),
        )
        .expect_err("spool");
        assert!(err.to_string().contains("corrupt"), "{err}");
    }
}
