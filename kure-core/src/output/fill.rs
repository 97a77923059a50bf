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
//! staging directory. A spare is trusted for nothing: every directory of it is opened without
//! following links and used only when it is a directory of this user that others cannot write
//! and (an app's) is empty; anything else in it is removed, and so are the directories the
//! new output does not have. Only a regular file of this user, others cannot write, with one
//! link and exactly the new bytes is linked from the previous tree, and the link is checked to
//! be that file.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Mutex;

use cap_std::fs::Dir;
use rustix::fs::{Mode, OFlags};

use crate::model::error::Error;

/// One directory's files: the directory (relative to the tree, `/`-separated) and each file's
/// name and bytes.
pub(crate) type Job = (String, Vec<(String, Vec<u8>)>);

/// At most this many threads write (the work is the kernel's; more do not help).
const MAX_THREADS: usize = 4;

/// Directories handed to a thread at a time.
const BATCH: usize = 32;

/// Where [`fill`] writes: the staging directory, the previous output to link unchanged files
/// from (never changed), and whether the staging directory is a reused spare.
pub(crate) struct Staging<'a> {
    pub(crate) dir: &'a Dir,
    pub(crate) previous: Option<&'a Dir>,
    pub(crate) reused: bool,
}

/// Writes every job's files beneath `staging`, linking those the previous output holds with
/// the same bytes. `jobs` is read on this thread (it may read a spool); the files are written
/// by worker threads. The first error stops the work and is returned.
pub(crate) fn fill(
    staging: &Staging<'_>,
    jobs: impl Iterator<Item = Result<Job, Error>>,
) -> Result<(), Error> {
    let io = |e: std::io::Error| Error::Output {
        path: "<staging>".into(),
        reason: format!("{e} (the previous output is untouched)"),
    };
    if staging.reused {
        sanitize(staging.dir).map_err(io)?;
    }
    let threads = threads();
    let failed: Mutex<Option<Error>> = Mutex::new(None);
    let stopped = || failed.lock().map_or(true, |f| f.is_some());
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
                    break;
                }
            };
            // Every directory on the way, for `prune` (a spare's only).
            let mut at = if staging.reused { job.0.as_str() } else { "" };
            while !at.is_empty() && written.insert(at.to_owned()) {
                at = at.rsplit_once('/').map_or("", |(up, _)| up);
            }
            batch.push(job);
            if batch.len() == BATCH && (stopped() || tx.send(std::mem::take(&mut batch)).is_err()) {
                break;
            }
        }
        if !batch.is_empty() && !stopped() {
            let _ = tx.send(batch);
        }
        drop(tx);
    });
    let failed = failed.into_inner().ok().flatten();
    if let Some(e) = failed {
        return Err(e);
    }
    if staging.reused {
        prune(staging.dir, &written).map_err(io)?;
    }
    Ok(())
}

fn threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .clamp(1, MAX_THREADS)
}

fn record(failed: &Mutex<Option<Error>>, e: Error) {
    if let Ok(mut slot) = failed.lock() {
        slot.get_or_insert(e);
    }
}

/// A thread's open namespace directories: the staging tree's, and the previous output's.
type Namespaces = std::collections::HashMap<String, (Dir, Option<Dir>)>;

fn worker(staging: &Staging<'_>, rx: &Mutex<Receiver<Vec<Job>>>, failed: &Mutex<Option<Error>>) {
    let mut cache = Namespaces::new();
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
                // Drain without work; the producer stops sending.
                break;
            }
            // A panic here must not leave the producer waiting on a full channel.
            let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                write_dir(staging, &mut cache, &dir, &files)
            }));
            let error = match done {
                Ok(Ok(())) => continue,
                Ok(Err(e)) => e.to_string(),
                Err(_) => "a writer thread panicked".to_owned(),
            };
            record(
                failed,
                Error::Output {
                    path: std::path::PathBuf::from("<staging>").join(&dir),
                    reason: format!("{error} (the previous output is untouched)"),
                },
            );
        }
    }
}

/// This process's effective user id (asked once).
fn euid() -> u32 {
    static EUID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *EUID.get_or_init(|| rustix::process::geteuid().as_raw())
}

/// Removes the entry `name` of `dir` that a listing said is a directory (`is_dir`, which a
/// link never is) or not; a link is removed, never followed.
fn remove_listed(dir: &Dir, name: &OsStr, is_dir: bool) -> std::io::Result<()> {
    match is_dir {
        true => dir.remove_dir_all(name),
        false => dir.remove_file(name),
    }
}

/// What a directory of the staging tree turned out to be.
enum Found {
    Missing,
    /// A directory of this user that others cannot write, opened without following links.
    Own(Dir),
    /// A link, a file, or a directory of another user or that others can write.
    Foreign,
}

/// The directory `name` (one path component) of `at`, opened without following a link.
fn open_dir_fd(at: &Dir, name: &OsStr) -> rustix::io::Result<rustix::fd::OwnedFd> {
    rustix::fs::openat(
        at,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// Opens the directory `name` (one path component) of `at` without following a link, and
/// says whether it may be used.
fn open_own(at: &Dir, name: &OsStr) -> std::io::Result<Found> {
    let fd = match open_dir_fd(at, name) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Ok(Found::Missing),
        Err(rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR) => return Ok(Found::Foreign),
        Err(e) => return Err(e.into()),
    };
    let stat = rustix::fs::fstat(&fd)?;
    if stat.st_uid != euid() || stat.st_mode & 0o002 != 0 {
        return Ok(Found::Foreign);
    }
    Ok(Found::Own(Dir::from_std_file(std::fs::File::from(fd))))
}

/// The directory `name` of `at`: an existing one of this user that others cannot write (made
/// by another thread, or a spare's, checked by [`sanitize`]), else a new one; anything else
/// there is removed first.
fn own_dir(at: &Dir, name: &str) -> std::io::Result<Dir> {
    let name = OsStr::new(name);
    match open_own(at, name)? {
        Found::Own(d) => return Ok(d),
        Found::Foreign => remove_any(at, name)?,
        Found::Missing => {}
    }
    match rustix::fs::mkdirat(at, name, Mode::from_raw_mode(0o755)) {
        // Another thread made it (two jobs for one directory): use it.
        Ok(()) | Err(rustix::io::Errno::EXIST) => {}
        Err(e) => return Err(e.into()),
    }
    match open_own(at, name)? {
        Found::Own(d) => Ok(d),
        _ => Err(std::io::Error::other(
            "a directory kure made is not its own",
        )),
    }
}

/// The staging directory `name` of `parent`, no link followed: the spare renamed there when
/// `reused` and it is a directory of this user that others cannot write, else a new one
/// (anything else there removed first). Whether it is the spare.
pub(crate) fn staging_dir(parent: &Dir, name: &str, reused: bool) -> std::io::Result<(Dir, bool)> {
    if reused {
        match open_own(parent, OsStr::new(name))? {
            Found::Own(d) => return Ok((d, true)),
            Found::Foreign => remove_any(parent, OsStr::new(name))?,
            Found::Missing => {}
        }
    }
    own_dir(parent, name).map(|d| (d, false))
}

/// The directory at `path` (relative, several components) of `at`, no link followed.
fn open_nofollow(at: &Dir, path: &std::path::Path) -> std::io::Result<Dir> {
    let mut d = at.try_clone()?;
    for part in path.components() {
        let std::path::Component::Normal(part) = part else {
            return Err(std::io::Error::other("not a plain relative path"));
        };
        d = Dir::from_std_file(std::fs::File::from(open_dir_fd(&d, part)?));
    }
    Ok(d)
}

/// One directory: made (or a spare's reused), then each file linked from the previous tree
/// or written. A file is always a new name (`O_EXCL`): nothing is ever written into an
/// existing inode, which may be the previous output's.
fn write_dir(
    staging: &Staging<'_>,
    cache: &mut Namespaces,
    dir: &str,
    files: &[(String, Vec<u8>)],
) -> std::io::Result<()> {
    let (here, before) = match dir.split_once('/') {
        // NS/APP: the namespace's directories from the thread's cache.
        Some((ns, app)) if !app.contains('/') => {
            if !cache.contains_key(ns) {
                // A few namespaces at a time: each entry holds two open directories.
                if cache.len() >= 16 {
                    cache.clear();
                }
                let made = own_dir(staging.dir, ns)?;
                let before = staging
                    .previous
                    .and_then(|p| match open_own(p, OsStr::new(ns)) {
                        Ok(Found::Own(d)) => Some(d),
                        _ => None,
                    });
                cache.insert(ns.to_owned(), (made, before));
            }
            let (ns_dir, ns_before) = cache
                .get(ns)
                .ok_or_else(|| std::io::Error::other("no namespace directory"))?;
            let before = ns_before
                .as_ref()
                .and_then(|b| match open_own(b, OsStr::new(app)) {
                    Ok(Found::Own(d)) => Some(d),
                    _ => None,
                });
            (own_dir(ns_dir, app)?, before)
        }
        _ => {
            let mut here = staging.dir.try_clone()?;
            let mut before = staging.previous.and_then(|p| p.try_clone().ok());
            for part in dir.split('/').filter(|p| !p.is_empty()) {
                here = own_dir(&here, part)?;
                before = before.and_then(|b| match open_own(&b, OsStr::new(part)) {
                    Ok(Found::Own(d)) => Some(d),
                    _ => None,
                });
            }
            (here, before)
        }
    };
    let mut new = cap_std::fs::OpenOptions::new();
    new.write(true).create_new(true);
    for (name, bytes) in files {
        if let Some(before) = &before {
            if link_same(before, &here, name, bytes) {
                continue;
            }
        }
        let mut file = match here.open_with(name, &new) {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                remove_any(&here, OsStr::new(name))?;
                here.open_with(name, &new)?
            }
            other => other?,
        };
        std::io::Write::write_all(&mut file, bytes)?;
    }
    Ok(())
}

/// Links `name` of `before` into `here` when it is a regular file of this user, others cannot
/// write it, it has no other link, and it holds exactly `bytes`; true when the link is there
/// and is that file.
fn link_same(before: &Dir, here: &Dir, name: &str, bytes: &[u8]) -> bool {
    let Some((dev, ino)) = holds(before, name, bytes) else {
        return false;
    };
    if before.hard_link(name, here, name).is_err() {
        return false;
    }
    // The name may have been replaced between the check and the link: the link must be the
    // file that was checked.
    match rustix::fs::statat(here, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) if st.st_dev == dev && st.st_ino == ino => true,
        _ => here.remove_file(name).is_err(), // not the file: write it instead
    }
}

/// When `dir` holds a regular file `name` (not a link to one) of this user, that others cannot
/// write and that has one link, with exactly `bytes`: its device and inode. One open
/// (`O_NOFOLLOW`, a single path component), one `fstat`, one read.
fn holds(dir: &Dir, name: &str, bytes: &[u8]) -> Option<(u64, u64)> {
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return None;
    }
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK,
        Mode::empty(),
    )
    .ok()?;
    let stat = rustix::fs::fstat(&fd).ok()?;
    let regular =
        rustix::fs::FileType::from_raw_mode(stat.st_mode) == rustix::fs::FileType::RegularFile;
    if !regular
        || stat.st_nlink != 1
        || stat.st_uid != euid()
        || stat.st_mode & 0o002 != 0
        || u64::try_from(stat.st_size).ok() != Some(bytes.len() as u64)
    {
        return None;
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
            Err(_) => return None,
        }
    }
    (got == bytes.len() && &old[..got] == bytes).then_some((stat.st_dev as u64, stat.st_ino as u64))
}

/// Removes the entry `name` of `dir`, whatever it is; a link is removed, never followed.
fn remove_any(dir: &Dir, name: &OsStr) -> std::io::Result<()> {
    match dir.symlink_metadata(name)?.is_dir() {
        true => dir.remove_dir_all(name),
        false => dir.remove_file(name),
    }
}

/// A spare before use: only directories of this user that others cannot write stay, at the
/// top and in each namespace, and only empty ones for apps (their files are removed, on a few
/// threads).
fn sanitize(staging: &Dir) -> std::io::Result<()> {
    let mut apps = Vec::new();
    for entry in staging.entries()? {
        let name = entry?.file_name();
        match open_own(staging, &name)? {
            Found::Own(ns) => {
                for app in ns.entries()? {
                    let app = app?;
                    // The directory type as the listing says (no link is one): checked again
                    // below, when it is opened.
                    if app.file_type()?.is_dir() {
                        apps.push((name.clone(), app.file_name()));
                    } else {
                        remove_any(&ns, &app.file_name())?;
                    }
                }
            }
            Found::Foreign => remove_any(staging, &name)?,
            Found::Missing => {}
        }
    }
    let emptied = on_threads(&apps, |part| {
        let mut namespaces: std::collections::HashMap<&OsStr, Dir> = Default::default();
        let mut all = true;
        for (ns, app) in part {
            let checked = (|| {
                if !namespaces.contains_key(ns.as_os_str()) {
                    let Found::Own(d) = open_own(staging, ns)? else {
                        return Err(std::io::Error::other("not a directory"));
                    };
                    namespaces.insert(ns.as_os_str(), d);
                }
                let Some(ns_dir) = namespaces.get(ns.as_os_str()) else {
                    return Err(std::io::Error::other("not a directory"));
                };
                match open_own(ns_dir, app)? {
                    Found::Own(d) => empty_dir(&d),
                    _ => remove_any(ns_dir, app),
                }
            })();
            all &= checked.is_ok();
        }
        all
    });
    match emptied {
        true => Ok(()),
        false => Err(std::io::Error::other(
            "the spare directory could not be emptied",
        )),
    }
}

/// Removes everything in `d`, a directory just opened; a link is removed, never followed.
fn empty_dir(d: &Dir) -> std::io::Result<()> {
    for (name, is_dir) in listing(d)? {
        remove_listed(d, &name, is_dir)?;
    }
    Ok(())
}

/// The entries of `d` (a directory just opened: read from its start), without `.` and `..`,
/// each with whether it is a directory (a link never is). Read with `getdents64` on `d`'s own
/// descriptor: `Dir::entries` opens the directory twice more and asks its flags, which
/// doubled the system calls of emptying 50,000 small app directories.
fn listing(d: &Dir) -> std::io::Result<Vec<(std::ffi::OsString, bool)>> {
    use std::os::unix::ffi::OsStrExt;
    let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 4096];
    let mut raw = rustix::fs::RawDir::new(d, &mut buf);
    let mut found = Vec::new();
    while let Some(entry) = raw.next() {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        let name = OsStr::from_bytes(name).to_owned();
        let is_dir = match entry.file_type() {
            rustix::fs::FileType::Directory => true,
            rustix::fs::FileType::Unknown => {
                rustix::fs::statat(d, name.as_os_str(), rustix::fs::AtFlags::SYMLINK_NOFOLLOW).map(
                    |st| {
                        rustix::fs::FileType::from_raw_mode(st.st_mode)
                            == rustix::fs::FileType::Directory
                    },
                )?
            }
            _ => false,
        };
        found.push((name, is_dir));
    }
    Ok(found)
}

/// `work` on up to [`threads`] consecutive parts of `items`, one thread each; whether every
/// part succeeded.
fn on_threads<T: Sync>(items: &[T], work: impl Fn(&[T]) -> bool + Sync) -> bool {
    let work = &work;
    std::thread::scope(|scope| {
        items
            .chunks(items.len().div_ceil(threads()).max(1))
            .map(|part| scope.spawn(move || work(part)))
            .collect::<Vec<_>>()
            .into_iter()
            .all(|h| h.join().unwrap_or(false))
    })
}

/// Removes from a reused staging tree the namespaces and apps no job wrote.
fn prune(staging: &Dir, written: &HashSet<String>) -> std::io::Result<()> {
    let keep = |path: &str| written.contains(path);
    for entry in staging.entries()? {
        let entry = entry?;
        let name = entry.file_name();
        if !entry.file_type()?.is_dir() {
            continue; // written by a job: `sanitize` removed everything else
        }
        let Some(ns) = name.to_str().filter(|n| keep(n)) else {
            remove_any(staging, &name)?;
            continue;
        };
        let Found::Own(ns_dir) = open_own(staging, &name)? else {
            remove_any(staging, &name)?;
            continue;
        };
        for app in ns_dir.entries()? {
            let app = app?;
            let app_name = app.file_name();
            if !app.file_type()?.is_dir() {
                continue;
            }
            let path = app_name.to_str().map(|a| format!("{ns}/{a}"));
            if !path.is_some_and(|p| keep(&p)) {
                remove_any(&ns_dir, &app_name)?;
            }
        }
    }
    Ok(())
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

/// The app directories (NS/APP) of the tree `tree`, by name; the files and links at its top
/// and in its namespaces are removed when `files_too`.
fn app_dirs(tree: &Dir, files_too: bool) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut apps = Vec::new();
    for ns in tree.entries()? {
        let ns = ns?;
        let ns_name = ns.file_name();
        if !ns.file_type()?.is_dir() {
            if files_too {
                tree.remove_file(&ns_name)?;
            }
            continue;
        }
        let ns_dir = open_nofollow(tree, std::path::Path::new(&ns_name))?;
        for app in ns_dir.entries()? {
            let app = app?;
            let app_name = app.file_name();
            if app.file_type()?.is_dir() {
                // A name, not a handle: there may be more apps than open files allowed.
                apps.push(std::path::Path::new(&ns_name).join(&app_name));
            } else if files_too {
                ns_dir.remove_file(&app_name)?;
            }
        }
    }
    Ok(apps)
}

/// Removes every file of the tree `name` (an output: NS/APP/FILE, NS/FILE, FILE), keeping its
/// directories; anything deeper is removed whole.
fn empty_tree(parent: &Dir, name: &str) -> std::io::Result<()> {
    let tree = open_nofollow(parent, std::path::Path::new(name))?;
    let apps = app_dirs(&tree, true)?;
    let emptied = on_threads(&apps, |part| {
        // Every app, whatever failed before it; its namespace opened once (apps come in
        // namespace order).
        let mut all = true;
        let mut namespace: Option<(&OsStr, Dir)> = None;
        for app in part {
            let (Some(ns), Some(app_name)) = (app.parent(), app.file_name()) else {
                all = false;
                continue;
            };
            let ns = ns.as_os_str();
            if namespace.as_ref().is_none_or(|(open, _)| *open != ns) {
                namespace = open_nofollow(&tree, std::path::Path::new(ns))
                    .ok()
                    .map(|d| (ns, d));
            }
            all &= match &namespace {
                Some((_, ns_dir)) => open_dir_fd(ns_dir, app_name)
                    .map_err(std::io::Error::from)
                    .and_then(|fd| empty_dir(&Dir::from_std_file(std::fs::File::from(fd))))
                    .is_ok(),
                None => false,
            };
        }
        all
    });
    match emptied {
        true => Ok(()),
        false => Err(std::io::Error::other(
            "a file of the previous output could not be removed",
        )),
    }
}

/// Removes the tree `name` beneath `parent` (a previous output), its app directories on a few
/// threads. Best effort, as removing a previous output always was: what cannot be removed
/// stays, and the next run removes it.
pub(crate) fn remove_tree(parent: &Dir, name: &str) {
    let apps = open_nofollow(parent, std::path::Path::new(name))
        .and_then(|tree| app_dirs(&tree, false))
        .unwrap_or_default();
    let prefix = std::path::Path::new(name);
    on_threads(&apps, |part| {
        let mut all = true;
        for app in part {
            all &= parent.remove_dir_all(prefix.join(app)).is_ok();
        }
        all
    });
    let _ = parent.remove_dir_all(name);
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
        // Someone leaves files, links and a directory others can write in the spare.
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(spare.join("ns/a/f.yaml"), "planted\n").expect("plant");
        std::fs::write(spare.join("ns/a/evil-rolebinding.yaml"), "planted\n").expect("plant");
        std::fs::write(spare.join("top.yaml"), "planted\n").expect("plant");
        std::fs::write(t.path().join("outside"), "outside\n").expect("outside");
        std::fs::hard_link(t.path().join("outside"), spare.join("ns/b/f.yaml")).expect("link");
        std::fs::create_dir(t.path().join("elsewhere")).expect("elsewhere");
        std::os::unix::fs::symlink(t.path().join("elsewhere"), spare.join("ns/c")).expect("ln");
        std::fs::create_dir(spare.join("open")).expect("open");
        std::fs::set_permissions(spare.join("open"), std::fs::Permissions::from_mode(0o777))
            .expect("chmod");
        fill(
            &into(&dir(&spare), None, true),
            jobs(&[
                ("ns/a", "f.yaml", "a2\n"),
                ("ns/b", "f.yaml", "b2\n"),
                ("ns/c", "f.yaml", "c2\n"),
                ("open/d", "f.yaml", "d2\n"),
            ]),
        )
        .expect("reused");
        let read = |p: std::path::PathBuf| std::fs::read_to_string(p).expect("read");
        assert_eq!(read(spare.join("ns/a/f.yaml")), "a2\n");
        assert_eq!(read(spare.join("ns/b/f.yaml")), "b2\n");
        assert_eq!(read(t.path().join("outside")), "outside\n");
        assert!(!spare.join("ns/a/evil-rolebinding.yaml").exists());
        assert!(!spare.join("top.yaml").exists());
        assert!(!std::fs::symlink_metadata(spare.join("ns/c"))
            .expect("c")
            .is_symlink());
        assert_eq!(
            std::fs::read_dir(t.path().join("elsewhere"))
                .expect("r")
                .count(),
            0
        );
        let open = std::fs::metadata(spare.join("open"))
            .expect("open")
            .permissions()
            .mode();
        assert_eq!(open & 0o002, 0, "a directory others could write was reused");
        assert!(!spare.join("gone").exists());
        assert!(!spare.join("ns/kustomization.yaml").exists());
    }

    /// A spare that is a link is never followed: a new staging directory is made, and what
    /// the link points at is untouched.
    #[test]
    fn a_spare_that_is_a_link_is_not_followed() {
        let t = tempfile::tempdir().expect("tmp");
        let parent = dir(t.path());
        std::fs::create_dir(t.path().join("victim")).expect("victim");
        std::fs::write(t.path().join("victim/keep"), "keep\n").expect("keep");
        std::os::unix::fs::symlink("victim", t.path().join("staging")).expect("ln");
        let (_, reused) = staging_dir(&parent, "staging", true).expect("staging");
        assert!(!reused);
        let meta = std::fs::symlink_metadata(t.path().join("staging")).expect("s");
        assert!(meta.is_dir());
        assert_eq!(
            std::fs::read_to_string(t.path().join("victim/keep")).expect("r"),
            "keep\n"
        );
    }

    /// A previous file with another link (to a file elsewhere) is not linked into the output:
    /// whoever holds the other name could change the output later.
    #[test]
    fn a_previous_file_with_another_link_is_written_not_linked() {
        let t = tempfile::tempdir().expect("tmp");
        let (old, new) = (t.path().join("old"), t.path().join("new"));
        std::fs::create_dir_all(old.join("a")).expect("old");
        std::fs::create_dir_all(&new).expect("new");
        std::fs::write(old.join("a/f.yaml"), "same\n").expect("write");
        std::fs::hard_link(old.join("a/f.yaml"), t.path().join("other-name")).expect("link");
        fill(
            &into(&dir(&new), Some(&dir(&old)), false),
            jobs(&[("a", "f.yaml", "same\n")]),
        )
        .expect("fill");
        let ino = |p: &std::path::Path| std::fs::metadata(p).expect("meta").ino();
        assert_ne!(ino(&new.join("a/f.yaml")), ino(&old.join("a/f.yaml")));
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
        let long = "n".repeat(300);
        let err = fill(
            &into(&dir(t.path()), None, false),
            jobs(&[("a/x", long.as_str(), "x\n")]),
        )
        .expect_err("a name longer than the file system takes");
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
