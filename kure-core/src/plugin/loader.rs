//! A library's bytes, read once into memory nobody can change, so the code that runs is
//! exactly the code that was hashed and (with signatures) verified.
//!
//! On Linux the file is copied by the kernel (`copy_file_range`/`sendfile`, through
//! [`std::io::copy`]) straight into a memfd, which is then sealed against every change and
//! mapped read-only: the hash is taken over that mapping, the dynamic loader opens the same
//! memfd as `/proc/self/fd/N`, and a process-isolation worker inherits it. No user-space copy
//! of the library is made. Elsewhere the bytes are read into memory and, to be loaded, written
//! to a private copy in a directory only the user can read.
//!
//! A loaded library's fd is deliberately never closed: libraries are never unloaded (abi_stable
//! leaks them), and a reused fd number would make the dynamic loader hand back the library it
//! already opened under the same `/proc/self/fd/N` name.
#![allow(unsafe_code)]

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// The largest library kure reads (a guard against a device or an endless file named `*.so`).
pub const MAX_LIBRARY_BYTES: u64 = 1 << 30;

/// A library's bytes in sealed memory (see the module docs).
pub struct Sealed {
    #[cfg(target_os = "linux")]
    memfd: File,
    /// `None` for an empty file (nothing to map).
    #[cfg(target_os = "linux")]
    map: Option<memmap2::Mmap>,
    #[cfg(not(target_os = "linux"))]
    bytes: Vec<u8>,
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealed({} bytes)", self.bytes().len())
    }
}

/// Opens `path` for reading the library: a regular file, at most [`MAX_LIBRARY_BYTES`].
/// Opened without blocking, so a FIFO is refused instead of waiting for a writer.
fn open_library(path: &Path) -> io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
    let file = options.open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "it is not a regular file",
        ));
    }
    if meta.len() > MAX_LIBRARY_BYTES {
        return Err(too_large());
    }
    Ok(file)
}

/// Whether the library at `path` exports abi_stable's root-module loader, the symbol every kure
/// plugin exports (`export_plugin!`). Reads the bytes (at most [`MAX_LIBRARY_BYTES`]) without
/// loading them: a library that lacks the symbol's name cannot be a kure plugin (a proc-macro
/// crate, a C library), and is skipped rather than refused.
pub(crate) fn exports_plugin_root(path: &Path) -> io::Result<bool> {
    let needle = abi_stable::library::ROOT_MODULE_LOADER_NAME_WITH_NUL.as_bytes();
    let finder = memchr::memmem::Finder::new(needle);
    let mut file = open_library(path)?.take(MAX_LIBRARY_BYTES);
    let mut buf = vec![0u8; 1 << 20];
    // Keep the last needle.len() - 1 bytes so a name across two reads is found.
    let mut kept = 0;
    loop {
        let n = file.read(&mut buf[kept..])?;
        if n == 0 {
            return Ok(false);
        }
        let end = kept + n;
        if finder.find(&buf[..end]).is_some() {
            return Ok(true);
        }
        kept = (needle.len() - 1).min(end);
        buf.copy_within(end - kept..end, 0);
    }
}

fn too_large() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "it is larger than {} MiB, the most kure loads",
            MAX_LIBRARY_BYTES >> 20
        ),
    )
}

/// An empty memfd that becomes a [`Sealed`] library once filled. A process-isolation worker
/// can be started with it already (see [`super::process::WorkerPlugin::start`]): the worker
/// only looks at it once kure's handshake says it is sealed and admitted.
pub struct Staging {
    #[cfg(target_os = "linux")]
    memfd: File,
}

impl std::fmt::Debug for Staging {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Staging")
    }
}

impl Staging {
    /// A new, empty staging memfd.
    pub fn new() -> io::Result<Self> {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::FromRawFd;
            // SAFETY: the name is a valid NUL-terminated string; memfd_create has no other
            // preconditions.
            let fd = unsafe {
                libc::memfd_create(
                    c"kure-plugin".as_ptr(),
                    libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
                )
            };
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: `fd` was just returned by memfd_create and is owned by nobody else.
            Ok(Self {
                memfd: unsafe { File::from_raw_fd(fd) },
            })
        }
        #[cfg(not(target_os = "linux"))]
        {
            Ok(Self {})
        }
    }

    /// Another descriptor of the memfd, for a worker to inherit.
    #[cfg(target_os = "linux")]
    pub(crate) fn share(&self) -> io::Result<std::os::fd::OwnedFd> {
        Ok(self.memfd.try_clone()?.into())
    }

    /// Process isolation needs Linux.
    #[cfg(not(target_os = "linux"))]
    pub(crate) fn share(&self) -> io::Result<std::os::fd::OwnedFd> {
        Err(unsupported())
    }

    /// Reads the library at `path` once (a regular file, at most [`MAX_LIBRARY_BYTES`]).
    pub fn read(self, path: &Path) -> io::Result<Sealed> {
        let file = open_library(path)?;
        self.fill(file.take(MAX_LIBRARY_BYTES + 1))
    }

    #[cfg(target_os = "linux")]
    fn fill(self, mut source: impl Read) -> io::Result<Sealed> {
        use std::os::fd::AsRawFd;
        let mut memfd = self.memfd;
        // `io::copy` between two files copies inside the kernel where it can.
        let len = io::copy(&mut source, &mut memfd)?;
        if len > MAX_LIBRARY_BYTES {
            return Err(too_large());
        }
        let seals =
            libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE | libc::F_SEAL_SEAL;
        add_seals(memfd.as_raw_fd(), seals)?;
        let map = if len == 0 {
            None
        } else {
            // A private read-only mapping: kernels before 6.7 refuse a shared mapping of a
            // write-sealed memfd opened for writing (EPERM).
            // SAFETY: the memfd is sealed against writes, growing and shrinking, so the
            // mapped bytes can never change or vanish under the mapping.
            Some(unsafe {
                memmap2::MmapOptions::new()
                    .populate()
                    .map_copy_read_only(&memfd)?
            })
        };
        Ok(Sealed { memfd, map })
    }

    #[cfg(not(target_os = "linux"))]
    fn fill(self, mut source: impl Read) -> io::Result<Sealed> {
        let mut bytes = Vec::new();
        source.read_to_end(&mut bytes)?;
        if bytes.len() as u64 > MAX_LIBRARY_BYTES {
            return Err(too_large());
        }
        Ok(Sealed { bytes })
    }
}

#[cfg(not(target_os = "linux"))]
fn unsupported() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "process isolation needs Linux (sealed memfds, Landlock, seccomp)",
    )
}

impl Sealed {
    /// Reads the library at `path` once (a regular file, at most [`MAX_LIBRARY_BYTES`]).
    pub fn read(path: &Path) -> io::Result<Self> {
        Staging::new()?.read(path)
    }

    /// Seals bytes already in memory (tests, and callers that built them).
    pub fn from_bytes(bytes: &[u8]) -> io::Result<Self> {
        Staging::new()?.fill(bytes)
    }

    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        #[cfg(target_os = "linux")]
        {
            self.map.as_deref().unwrap_or(&[])
        }
        #[cfg(not(target_os = "linux"))]
        {
            &self.bytes
        }
    }

    /// Another descriptor of the sealed memfd, for a process-isolation worker to inherit.
    #[cfg(target_os = "linux")]
    pub(crate) fn share(&self) -> io::Result<std::os::fd::OwnedFd> {
        Ok(self.memfd.try_clone()?.into())
    }

    /// Process isolation needs Linux.
    #[cfg(not(target_os = "linux"))]
    pub(crate) fn share(&self) -> io::Result<std::os::fd::OwnedFd> {
        Err(unsupported())
    }

    /// A path the dynamic loader can open that holds exactly these bytes, valid for the life
    /// of the process (see the module docs).
    pub(crate) fn into_load_path(self) -> io::Result<PathBuf> {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::IntoRawFd;
            let fd = self.memfd.into_raw_fd();
            Ok(PathBuf::from(format!("/proc/self/fd/{fd}")))
        }
        #[cfg(not(target_os = "linux"))]
        {
            private_copy(&self.bytes)
        }
    }
}

/// Puts `bytes` in a private copy (mode 0700 directory) and returns its path.
#[cfg(not(target_os = "linux"))]
fn private_copy(bytes: &[u8]) -> io::Result<PathBuf> {
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
fn add_seals(fd: i32, seals: i32) -> io::Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bytes_are_the_file_and_cannot_change() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lib.so");
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let sealed = Sealed::read(&path).unwrap();
        assert_eq!(sealed.bytes(), &data[..]);
        // Changing the file afterwards changes nothing that was read.
        std::fs::write(&path, b"changed").unwrap();
        assert_eq!(sealed.bytes(), &data[..]);
        #[cfg(target_os = "linux")]
        {
            use std::io::Write;
            use std::os::fd::AsRawFd;
            let mut other = File::from(sealed.share().unwrap());
            assert!(other.write_all(b"x").is_err(), "the memfd is sealed");
            let seals = unsafe { libc::fcntl(sealed.memfd.as_raw_fd(), libc::F_GET_SEALS) };
            assert_eq!(
                seals,
                libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE | libc::F_SEAL_SEAL
            );
        }
    }

    #[test]
    fn empty_files_and_memory_work() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.so");
        std::fs::write(&path, b"").unwrap();
        assert!(Sealed::read(&path).unwrap().bytes().is_empty());
        assert_eq!(Sealed::from_bytes(b"abc").unwrap().bytes(), b"abc");
    }

    #[test]
    fn only_regular_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let e = Sealed::read(dir.path()).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        #[cfg(unix)]
        {
            let e = Sealed::read(Path::new("/dev/zero")).unwrap_err();
            assert!(e.to_string().contains("not a regular file"), "{e}");
            let fifo = dir.path().join("fifo.so");
            let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
            let e = Sealed::read(&fifo).unwrap_err();
            assert!(e.to_string().contains("not a regular file"), "{e}");
        }
    }
}
