//! Loading a library from bytes already in memory, so the code that runs is exactly the code
//! that was read (and, with signatures, verified).
//!
//! On Linux the bytes go into a sealed memfd and are opened as `/proc/self/fd/N`: nobody,
//! including this process, can change them afterwards. Elsewhere they are written to a private
//! copy in a directory only the user can read.
//!
//! The fds are deliberately never closed: the libraries are never unloaded (abi_stable leaks
//! them), and a reused fd number would make the dynamic loader hand back the library it already
//! opened under the same `/proc/self/fd/N` name.
#![allow(unsafe_code)]

use std::io;
use std::path::PathBuf;

/// Puts `bytes` somewhere the dynamic loader can open and nobody can modify; returns the path.
#[cfg(target_os = "linux")]
pub(crate) fn seal_bytes(bytes: &[u8]) -> io::Result<PathBuf> {
    use std::io::Write;
    use std::os::fd::FromRawFd;

    let name = c"kure-plugin";
    // SAFETY: `name` is a valid NUL-terminated string; memfd_create has no other preconditions.
    let fd =
        unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by memfd_create and is owned by nobody else.
    let mut file = unsafe { std::fs::File::from_raw_fd(fd) };
    file.write_all(bytes)?;
    let seals = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE | libc::F_SEAL_SEAL;
    add_seals(fd, seals)?;
    // Keep the fd open for the life of the process (see the module docs).
    std::mem::forget(file);
    Ok(PathBuf::from(format!("/proc/self/fd/{fd}")))
}

/// Puts `bytes` in a private copy (mode 0700 directory) and returns its path.
#[cfg(not(target_os = "linux"))]
pub(crate) fn seal_bytes(bytes: &[u8]) -> io::Result<PathBuf> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!("kure-plugins-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    }
    let ext = if cfg!(windows) { "dll" } else { "dylib" };
    let path = dir.join(format!("plugin-{}.{ext}", N.fetch_add(1, Ordering::SeqCst)));
    std::fs::write(&path, bytes)?;
    Ok(path)
}

/// `fcntl(F_ADD_SEALS)`. Sealing against writes fails with `EBUSY` while the kernel still
/// holds a transient reference to one of the file's pages (seen on a loaded machine right
/// after the write), so that is retried for up to a second.
#[cfg(target_os = "linux")]
pub(crate) fn add_seals(fd: i32, seals: i32) -> io::Result<()> {
    for attempt in 0..50 {
        // SAFETY: fcntl on a valid fd with F_ADD_SEALS and an int argument.
        if unsafe { libc::fcntl(fd, libc::F_ADD_SEALS, seals) } == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EBUSY) || attempt == 49 {
            return Err(e);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Ok(())
}
