//! The sandbox a plugin worker process puts itself in, in two steps around loading the plugin
//! library.
//!
//! In process isolation mode `kure` re-executes itself as a worker that receives the verified
//! plugin bytes as an inherited, sealed memfd. The worker calls [`apply`] while it is still
//! single-threaded, then `dlopen`s `/proc/self/fd/N` (the library's constructors run here, already
//! inside the sandbox), then calls [`restrict_after_load`], still single-threaded, and only then
//! runs any plugin entry point. The parent spawns the worker with [`child_pre_exec`] in its
//! `pre_exec` hook.
//!
//! What [`apply`] enforces, in this order, and why:
//!
//! 1. **Resource limits**: `RLIMIT_AS` (memory), `RLIMIT_CPU` (SIGXCPU at the limit, SIGKILL one
//!    second later), `RLIMIT_NOFILE`, and `RLIMIT_CORE = 0` so a crashing plugin leaves no core
//!    file. A limit is only ever lowered: a request above the current hard limit gets the hard
//!    limit, so this works unprivileged.
//! 2. **`PR_SET_NO_NEW_PRIVS`**: nothing the worker executes can gain privileges (set-uid,
//!    file capabilities); required by Landlock and seccomp for unprivileged processes.
//! 3. **`PR_SET_DUMPABLE = 0`**: other processes of the same user cannot ptrace the worker or
//!    read its memory through `/proc`. The worker can still open its own `/proc/self/fd/N`.
//! 4. **No capabilities**: the effective, permitted and inheritable sets are emptied, so a
//!    worker of a kure run as root cannot load kernel modules, reboot, or use any other
//!    privilege (a no-op for an unprivileged user).
//! 5. **Landlock**, best effort with the newest ABI this crate knows, reporting what the running
//!    kernel actually enforced:
//!    - filesystem: every access right is handled and the only rule grants read, list and
//!      execute beneath the system library directories (`/lib`, `/usr/lib`, `/usr/local/lib`
//!      and their 32/64 variants) and `/etc/ld.so.cache`: what the dynamic loader needs for
//!      the libraries a plugin links. Nothing can be written, created, removed, renamed, linked
//!      or truncated anywhere, and nothing else can be read, so the library's constructors see
//!      no user file. Files that were opened before stay usable with the mode they were opened
//!      with (stdout, stderr, the memfd, the pipe to the parent).
//!    - network: TCP bind and connect are handled with no rule, so both are refused (`EACCES`).
//!    - scopes: connecting to abstract UNIX sockets created outside the worker and sending
//!      signals to processes outside it are refused. Landlock also refuses every ptrace access
//!      from the worker to a process outside its domain, which covers kure's
//!      `/proc/PID/environ` and `/proc/PID/mem`.
//! 6. **seccomp** (default allow), three filters:
//!    - `EPERM`: `socket()` for every domain (the worker's channel is inherited; a new
//!      `AF_UNIX` socket could connect to pathname sockets that Landlock only guards from ABI
//!      9), `socketpair()` for any domain but `AF_UNIX`, `io_uring_setup()` (io_uring can create
//!      sockets and open files without the system calls filtered here); `setsid()` and
//!      `setpgid()`; and every way to start a process: `fork()`, `vfork()`, `clone()` without
//!      `CLONE_THREAD`, `execve()` and `execveat()`. Threads still work.
//!    - `ENOSYS`: `clone3()`, whose flags sit in memory a filter cannot read; libc then falls
//!      back to `clone()`, which the first filter checks.
//!    - Calls made through another system call ABI (e.g. 32-bit `int 0x80` on x86_64) kill the
//!      worker.
//!
//! What [`restrict_after_load`] adds once the library and everything it links are loaded:
//!
//! 7. **Landlock, a second layer**: reading files and listing directories is handled with no
//!    rule at all, so from here on nothing can be opened by path, system libraries included.
//! 8. **seccomp, a fourth filter** (`EACCES`): `open`, `openat`, `openat2`, `creat`,
//!    `open_by_handle_at` and `uselib`. This is what stands where Landlock is missing (old
//!    kernels, Landlock not enabled) and closes the same door twice where it is not.
//!
//! Loading the plugin inside the sandbox works: the memfd lives on an internal kernel mount that
//! Landlock does not restrict, opening it through `/proc/self/fd/N` is a read, and `mmap` with
//! `PROT_EXEC` is not a Landlock access right.
//!
//! Landlock and seccomp restrict the calling thread and the threads it creates later, so both
//! steps refuse to run in a process that already has more than one thread: a library whose
//! constructor started a thread is not used.
//!
//! On systems other than Linux nothing is enforced: [`apply`] returns a report saying so.
#![allow(unsafe_code)]

use std::fmt;
use std::io;

/// Resource limits for the worker process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SandboxOptions {
    /// Address-space limit (`RLIMIT_AS`) in bytes: allocations beyond it fail.
    pub memory_bytes: u64,
    /// CPU time limit (`RLIMIT_CPU`) in seconds: SIGXCPU at the limit, SIGKILL a second later.
    pub cpu_seconds: u64,
    /// Highest file descriptor number plus one (`RLIMIT_NOFILE`).
    pub max_open_files: u64,
}

/// How much of one sandbox layer the running system enforces.
#[derive(Debug, Clone, PartialEq, Eq)]
// Only the Linux sandbox ever reports `Full` or `Partial`.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub enum Enforcement {
    /// Everything that was asked for is enforced.
    Full,
    /// Some of it is enforced; the text says what is not.
    Partial(String),
    /// Nothing of this layer is enforced; the text says why.
    NotEnforced(String),
}

impl fmt::Display for Enforcement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Enforcement::Full => f.write_str("fully enforced"),
            Enforcement::Partial(why) => write!(f, "partly enforced: {why}"),
            Enforcement::NotEnforced(why) => write!(f, "not enforced: {why}"),
        }
    }
}

/// What [`apply`] and [`restrict_after_load`] managed to enforce, layer by layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxReport {
    /// Landlock filesystem rules: no writes anywhere, reads only beneath the system library
    /// directories.
    pub landlock_fs: Enforcement,
    /// Landlock network rules (no TCP bind or connect) and scopes (no abstract UNIX sockets or
    /// signals outside the worker).
    pub landlock_net: Enforcement,
    /// The seccomp filters: no `socket()` at all, `socketpair()` only for `AF_UNIX`, no
    /// io_uring, no new session or process group, no new process, no `execve`.
    pub seccomp: Enforcement,
    /// Once the library is loaded: no file can be opened any more (a second Landlock layer with
    /// reads handled and no rule, and a seccomp filter on every `open` call).
    pub after_load: Enforcement,
}

impl SandboxReport {
    /// One line per layer that is not fully enforced, naming the layer and what is missing.
    pub fn warnings(&self) -> Vec<String> {
        [
            (
                "Landlock filesystem sandbox (no writes; reads only in the system library directories)",
                &self.landlock_fs,
            ),
            (
                "Landlock network sandbox (no TCP bind/connect, no abstract UNIX sockets or signals outside the worker)",
                &self.landlock_net,
            ),
            (
                "seccomp filter (no new processes or exec, no new sockets, so no network and no pathname UNIX sockets; no io_uring)",
                &self.seccomp,
            ),
            (
                "no-reads-after-load sandbox (no file can be opened once the plugin is loaded)",
                &self.after_load,
            ),
        ]
        .into_iter()
        .filter_map(|(layer, enforcement)| match enforcement {
            Enforcement::Full => None,
            Enforcement::Partial(_) | Enforcement::NotEnforced(_) => {
                Some(format!("plugin sandbox: {layer} is {enforcement}"))
            }
        })
        .collect()
    }
}

/// Why the sandbox could not be applied. The worker must not load the plugin after any of these.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// A limit of zero would kill or cripple the worker before the plugin runs.
    #[error("plugin sandbox: {what} must be greater than zero")]
    ZeroLimit {
        /// Which option.
        what: &'static str,
    },
    /// The thread count could not be read.
    #[cfg(target_os = "linux")]
    #[error("plugin sandbox: cannot count the worker's threads in /proc/self/task: {source}")]
    Threads {
        /// The OS error.
        source: io::Error,
    },
    /// Landlock and seccomp would only cover the calling thread.
    #[cfg(target_os = "linux")]
    #[error("plugin sandbox: the worker has {threads} threads; the sandbox must be applied while it is single-threaded, or the other threads stay unrestricted")]
    MultiThreaded {
        /// Number of threads found.
        threads: usize,
    },
    /// `getrlimit` or `setrlimit` failed.
    #[cfg(target_os = "linux")]
    #[error("plugin sandbox: cannot set {resource} to {value}: {source}")]
    Rlimit {
        /// `RLIMIT_AS`, `RLIMIT_CPU`, ...
        resource: &'static str,
        /// The soft limit asked for.
        value: u64,
        /// The OS error.
        source: io::Error,
    },
    /// A `prctl` call failed.
    #[cfg(target_os = "linux")]
    #[error("plugin sandbox: prctl({what}) failed: {source}")]
    Prctl {
        /// Which setting.
        what: &'static str,
        /// The OS error.
        source: io::Error,
    },
    /// The library's constructors left more threads than the one that loaded it.
    #[cfg(target_os = "linux")]
    #[error("plugin sandbox: the library started {threads} threads while it was loaded (in its ELF constructors); kure closes the filesystem to a worker only while it is single-threaded, so a plugin may start threads from its entry points (initialize, generate, ...) but not at load time")]
    ThreadsAfterLoad {
        /// Number of threads found.
        threads: usize,
    },
    /// The capabilities could not be dropped.
    #[cfg(target_os = "linux")]
    #[error("plugin sandbox: cannot drop the worker's capabilities: {0}")]
    Capabilities(#[source] io::Error),
    /// The Landlock ruleset could not be built or enforced.
    #[cfg(target_os = "linux")]
    #[error("plugin sandbox: cannot enforce the Landlock ruleset: {0}")]
    Landlock(#[source] landlock::RulesetError),
    /// The seccomp filter could not be built.
    #[cfg(target_os = "linux")]
    #[error("plugin sandbox: cannot build the seccomp filter: {0}")]
    SeccompBuild(#[source] seccompiler::BackendError),
    /// The seccomp filter could not be installed.
    #[cfg(target_os = "linux")]
    #[error("plugin sandbox: cannot install the seccomp filter: {0}")]
    SeccompInstall(#[source] seccompiler::Error),
}

/// Applied in the worker process to itself, before the plugin library is opened: resource
/// limits, `PR_SET_NO_NEW_PRIVS`, `PR_SET_DUMPABLE = 0`, no capabilities, Landlock, seccomp (see
/// the module docs). Must be called while the process is single-threaded. On error the process
/// may be partly sandboxed and must exit without loading the plugin. The report's `after_load`
/// says "not enforced" until [`restrict_after_load`] ran.
///
/// On systems other than Linux nothing is enforced and the report says so.
pub fn apply(opts: &SandboxOptions) -> Result<SandboxReport, SandboxError> {
    for (what, value) in [
        ("memory_bytes", opts.memory_bytes),
        ("cpu_seconds", opts.cpu_seconds),
        ("max_open_files", opts.max_open_files),
    ] {
        if value == 0 {
            return Err(SandboxError::ZeroLimit { what });
        }
    }
    #[cfg(target_os = "linux")]
    {
        linux::apply(opts)
    }
    #[cfg(not(target_os = "linux"))]
    {
        Ok(SandboxReport {
            landlock_fs: not_linux(),
            landlock_net: not_linux(),
            seccomp: not_linux(),
            after_load: not_linux(),
        })
    }
}

/// Applied in the worker once the plugin library (and every library it links) is loaded and
/// before any plugin entry point runs: from here on no file can be opened (see the module
/// docs). Must be called while the process is single-threaded: a library constructor that
/// started a thread is an error, and the plugin must not be used. Updates `report.after_load`.
pub fn restrict_after_load(report: &mut SandboxReport) -> Result<(), SandboxError> {
    #[cfg(target_os = "linux")]
    {
        report.after_load = linux::restrict_after_load()?;
    }
    #[cfg(not(target_os = "linux"))]
    {
        report.after_load = not_linux();
    }
    Ok(())
}

/// What the worker sandbox enforces on this system, as kure computes it from the kernel's
/// Landlock ABI and seccomp support. The host shows these warnings rather than the ones a
/// worker reports: a worker's report comes after plugin code ran in it.
pub fn expected_report() -> SandboxReport {
    #[cfg(target_os = "linux")]
    {
        linux::expected()
    }
    #[cfg(not(target_os = "linux"))]
    {
        SandboxReport {
            landlock_fs: not_linux(),
            landlock_net: not_linux(),
            seccomp: not_linux(),
            after_load: not_linux(),
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn not_linux() -> Enforcement {
    Enforcement::NotEnforced(format!(
        "plugin sandboxing is only implemented on Linux, not {}",
        std::env::consts::OS
    ))
}

/// For the parent, in the `pre_exec` closure of the worker's `Command`: the worker gets SIGKILL
/// when the thread that spawned it exits (`PR_SET_PDEATHSIG`), and gets a session of its own
/// (`setsid`): its own process group, so the parent can kill it and everything it forked at
/// once, and no controlling terminal, so it cannot type into the user's shell (`TIOCSTI`).
///
/// Async-signal-safe: two system calls, no allocation. Note that the death signal follows the
/// spawning *thread*, not the process: spawn workers from a thread that outlives them. A parent
/// that dies between `fork` and this call is not noticed; the worker should also treat EOF on
/// its pipe to the parent as the end.
#[cfg(target_os = "linux")]
pub fn child_pre_exec() -> io::Result<()> {
    let zero: libc::c_ulong = 0;
    // SAFETY: prctl(PR_SET_PDEATHSIG) takes a signal number and touches no memory of ours.
    if unsafe {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            zero,
            zero,
            zero,
        )
    } != 0
    {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: setsid only changes this process's session and group (a forked child never
    // leads a group, so it cannot fail with EPERM).
    if unsafe { libc::setsid() } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// For the parent, in the `pre_exec` closure of the worker's `Command`: puts the worker in its
/// own process group. There is no parent-death signal on this system.
#[cfg(all(unix, not(target_os = "linux")))]
pub fn child_pre_exec() -> io::Result<()> {
    // SAFETY: setpgid(0, 0) only changes this process's process group.
    if unsafe { libc::setpgid(0, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// No `pre_exec` on this system: does nothing.
#[cfg(not(unix))]
pub fn child_pre_exec() -> io::Result<()> {
    Ok(())
}

#[cfg(target_os = "linux")]
pub(crate) use linux::LIBRARY_DIRS;

/// No library directories to name where there is no sandbox.
#[cfg(not(target_os = "linux"))]
pub(crate) const LIBRARY_DIRS: [&str; 0] = [];

#[cfg(target_os = "linux")]
mod linux {
    use super::{Enforcement, SandboxError, SandboxOptions, SandboxReport};
    use landlock::{
        Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, LandlockStatus,
        RestrictSelfAttr, RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope, ABI,
    };
    use seccompiler::{
        BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
        SeccompRule, TargetArch,
    };
    use std::collections::BTreeMap;
    use std::io;

    /// The newest Landlock ABI this code was written and tested against. Rights it adds are
    /// requested best effort: the running kernel enforces those it knows.
    const LANDLOCK_ABI: ABI = ABI::V10;

    /// Every Landlock ABI, oldest first, to tell which one introduced a right.
    const ABIS: [ABI; 10] = [
        ABI::V1,
        ABI::V2,
        ABI::V3,
        ABI::V4,
        ABI::V5,
        ABI::V6,
        ABI::V7,
        ABI::V8,
        ABI::V9,
        ABI::V10,
    ];

    /// `/proc/self/task` of this process, opened by [`apply`] before Landlock refuses reading
    /// it, so that [`restrict_after_load`] can count the threads again (-1: not opened).
    static TASK_DIR: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

    /// Opens this process's `/proc/self/task` (again: a forked child inherits its parent's).
    fn open_task_dir() -> Result<(), SandboxError> {
        use rustix::fs::{Mode, OFlags};
        let dir = rustix::fs::open(
            "/proc/self/task",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| SandboxError::Threads { source: e.into() })?;
        let old = TASK_DIR.swap(
            std::os::fd::IntoRawFd::into_raw_fd(dir),
            std::sync::atomic::Ordering::AcqRel,
        );
        if old >= 0 {
            // SAFETY: the previous fd was opened here and is referred to nowhere else now.
            drop(unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(old) });
        }
        Ok(())
    }

    /// The number of threads of this process, read through [`TASK_DIR`].
    fn threads() -> Result<usize, SandboxError> {
        let err = |e: rustix::io::Errno| SandboxError::Threads { source: e.into() };
        let fd = TASK_DIR.load(std::sync::atomic::Ordering::Acquire);
        if fd < 0 {
            return Err(err(rustix::io::Errno::BADF));
        }
        // SAFETY: TASK_DIR holds an fd this module opened; it is closed only when replaced,
        // which happens on the single thread that applies the sandbox.
        let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        // A duplicate shares the position, so the listing starts over from the beginning;
        // no path is opened (Landlock would refuse it).
        let dup = rustix::io::fcntl_dupfd_cloexec(borrowed, 0).map_err(err)?;
        let mut dir = rustix::fs::Dir::new(dup).map_err(err)?;
        dir.rewind();
        let mut n = 0;
        for entry in dir {
            if !entry.map_err(err)?.file_name().to_bytes().starts_with(b".") {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Everything but the option checks, in order.
    pub(super) fn apply(opts: &SandboxOptions) -> Result<SandboxReport, SandboxError> {
        open_task_dir()?;
        let threads = threads()?;
        if threads != 1 {
            return Err(SandboxError::MultiThreaded { threads });
        }
        set_rlimits(opts)?;
        prctl_set("PR_SET_NO_NEW_PRIVS", libc::PR_SET_NO_NEW_PRIVS, 1)?;
        prctl_set("PR_SET_DUMPABLE", libc::PR_SET_DUMPABLE, 0)?;
        drop_capabilities()?;
        let (landlock_fs, landlock_net) = apply_landlock()?;
        let seccomp = apply_seccomp()?;
        Ok(SandboxReport {
            landlock_fs,
            landlock_net,
            seccomp,
            after_load: Enforcement::NotEnforced(
                "the plugin library is not loaded yet (restrict_after_load comes next)".into(),
            ),
        })
    }

    /// The second step: no reads by path (Landlock) and no `open` calls (seccomp).
    pub(super) fn restrict_after_load() -> Result<Enforcement, SandboxError> {
        let threads = threads()?;
        if threads != 1 {
            return Err(SandboxError::ThreadsAfterLoad { threads });
        }
        let landlock = restrict_reads()?;
        let seccomp = apply_open_filter()?;
        Ok(after_load_enforcement(landlock, seccomp))
    }

    /// Empties the effective, permitted and inheritable capability sets (a worker of kure run
    /// as root has them all: module loading, reboot, raw I/O).
    pub(super) fn drop_capabilities() -> Result<(), SandboxError> {
        use rustix::thread::{set_capabilities, CapabilitySet, CapabilitySets};
        set_capabilities(
            None,
            CapabilitySets {
                effective: CapabilitySet::empty(),
                permitted: CapabilitySet::empty(),
                inheritable: CapabilitySet::empty(),
            },
        )
        .map_err(|e| SandboxError::Capabilities(e.into()))
    }

    #[cfg(target_env = "gnu")]
    type Resource = libc::__rlimit_resource_t;
    #[cfg(not(target_env = "gnu"))]
    type Resource = libc::c_int;

    /// Sets one limit, never raising it above the current hard limit.
    fn set_rlimit(
        resource: Resource,
        name: &'static str,
        soft: u64,
        hard: u64,
    ) -> Result<(), SandboxError> {
        let err = |source| SandboxError::Rlimit {
            resource: name,
            value: soft,
            source,
        };
        let mut current = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes one `rlimit` into the valid, exclusively borrowed `current`.
        if unsafe { libc::getrlimit(resource, &mut current) } != 0 {
            return Err(err(io::Error::last_os_error()));
        }
        let hard = libc::rlim_t::try_from(hard)
            .unwrap_or(libc::RLIM_INFINITY)
            .min(current.rlim_max);
        let soft = libc::rlim_t::try_from(soft)
            .unwrap_or(libc::RLIM_INFINITY)
            .min(hard);
        let limit = libc::rlimit {
            rlim_cur: soft,
            rlim_max: hard,
        };
        // SAFETY: setrlimit reads one `rlimit` from the valid `limit`.
        if unsafe { libc::setrlimit(resource, &limit) } != 0 {
            return Err(err(io::Error::last_os_error()));
        }
        Ok(())
    }

    pub(super) fn set_rlimits(opts: &SandboxOptions) -> Result<(), SandboxError> {
        set_rlimit(
            libc::RLIMIT_AS,
            "RLIMIT_AS",
            opts.memory_bytes,
            opts.memory_bytes,
        )?;
        // The soft limit sends SIGXCPU, the hard one SIGKILL: a second apart, so the parent can
        // tell from the signal that the CPU limit ended the worker.
        set_rlimit(
            libc::RLIMIT_CPU,
            "RLIMIT_CPU",
            opts.cpu_seconds,
            opts.cpu_seconds.saturating_add(1),
        )?;
        set_rlimit(
            libc::RLIMIT_NOFILE,
            "RLIMIT_NOFILE",
            opts.max_open_files,
            opts.max_open_files,
        )?;
        set_rlimit(libc::RLIMIT_CORE, "RLIMIT_CORE", 0, 0)
    }

    /// `prctl(option, value)` for the settings that take one integer.
    pub(super) fn prctl_set(
        what: &'static str,
        option: libc::c_int,
        value: libc::c_ulong,
    ) -> Result<(), SandboxError> {
        let zero: libc::c_ulong = 0;
        // SAFETY: PR_SET_NO_NEW_PRIVS and PR_SET_DUMPABLE take one integer and no pointers; the
        // unused arguments must be zero.
        if unsafe { libc::prctl(option, value, zero, zero, zero) } != 0 {
            return Err(SandboxError::Prctl {
                what,
                source: io::Error::last_os_error(),
            });
        }
        Ok(())
    }

    /// The Landlock ABI that introduced `right`, for messages.
    fn introduced_in<T: Access>(right: T, all: impl Fn(ABI) -> BitFlags<T>) -> String {
        ABIS.iter()
            .find(|abi| all(**abi).contains(right))
            .map_or_else(|| "a newer ABI".to_owned(), |abi| format!("ABI {abi}"))
    }

    /// What the kernel could not enforce of `requested`, as "Right (ABI n), ...".
    fn missing<T: Access + std::fmt::Debug>(
        requested: BitFlags<T>,
        effective: ABI,
        all: impl Fn(ABI) -> BitFlags<T> + Copy,
    ) -> Vec<String> {
        (requested & !all(effective))
            .iter()
            .map(|right| format!("{right:?} (needs {})", introduced_in(right, all)))
            .collect()
    }

    /// Where the dynamic loader finds the libraries a plugin links: the only places the worker
    /// may read before the library is loaded. Paths that do not exist are skipped.
    pub(crate) const LIBRARY_DIRS: [&str; 11] = [
        "/lib",
        "/lib64",
        "/lib32",
        "/libx32",
        "/usr/lib",
        "/usr/lib64",
        "/usr/lib32",
        "/usr/libx32",
        "/usr/local/lib",
        "/usr/local/lib64",
        "/etc/ld.so.cache",
    ];

    /// No writes, reads only in [`LIBRARY_DIRS`], no TCP, scoped IPC; returns (filesystem,
    /// network) enforcement.
    pub(super) fn apply_landlock() -> Result<(Enforcement, Enforcement), SandboxError> {
        let fs_all = AccessFs::from_all(LANDLOCK_ABI);
        let fs_read = AccessFs::from_read(LANDLOCK_ABI);
        let tcp = AccessNet::BindTcp | AccessNet::ConnectTcp;
        let scopes = Scope::from_all(LANDLOCK_ABI);

        let status = landlock::Ruleset::default()
            .set_compatibility(CompatLevel::BestEffort)
            .handle_access(fs_all)
            .and_then(|r| r.handle_access(tcp))
            .and_then(|r| r.scope(scopes))
            .and_then(|r| r.create())
            .and_then(|r| r.add_rules(landlock::path_beneath_rules(LIBRARY_DIRS, fs_read)))
            .and_then(|r| r.restrict_self())
            .map_err(SandboxError::Landlock)?;

        Ok(landlock_enforcement(
            status.landlock,
            status.ruleset != RulesetStatus::NotEnforced,
        ))
    }

    /// What the first Landlock layer enforces on a kernel with `landlock` (and whether the
    /// kernel enforced any of the ruleset): (filesystem, network).
    fn landlock_enforcement(
        landlock: LandlockStatus,
        enforced: bool,
    ) -> (Enforcement, Enforcement) {
        let fs_all = AccessFs::from_all(LANDLOCK_ABI);
        let tcp = AccessNet::BindTcp | AccessNet::ConnectTcp;
        let both = |why: String| {
            (
                Enforcement::NotEnforced(why.clone()),
                Enforcement::NotEnforced(why),
            )
        };
        let effective = match landlock {
            LandlockStatus::Available { effective_abi, .. } => effective_abi,
            LandlockStatus::NotEnabled => {
                return both("Landlock is built into this kernel but not enabled (add `landlock` to the `lsm=` boot parameter)".to_owned());
            }
            LandlockStatus::NotImplemented => {
                return both("this kernel has no Landlock support (Linux 5.13 or later with CONFIG_SECURITY_LANDLOCK)".to_owned());
            }
        };
        if !enforced {
            return both(format!(
                "the kernel (Landlock ABI {effective}) enforced none of the ruleset"
            ));
        }

        // Connecting to pathname UNIX sockets (ResolveUnix, Landlock ABI 9) is closed by the
        // seccomp filter instead: the worker cannot create any socket.
        let fs_missing: Vec<String> = missing(fs_all, effective, AccessFs::from_all)
            .into_iter()
            .filter(|m| !m.starts_with("ResolveUnix"))
            .collect();
        let fs = if fs_missing.is_empty() {
            Enforcement::Full
        } else {
            Enforcement::Partial(format!(
                "the kernel offers Landlock ABI {effective}, so these are not restricted: {}",
                fs_missing.join(", ")
            ))
        };

        // The scopes (abstract UNIX sockets, signals: ABI 6) are closed by seccomp as well: no
        // new socket, and signals only to the worker itself.
        let net_missing = missing(tcp, effective, AccessNet::from_all);
        let net = if net_missing.is_empty() {
            Enforcement::Full
        } else {
            Enforcement::NotEnforced(format!(
                "the kernel offers Landlock ABI {effective}, so these are not restricted: {} (seccomp still refuses every new socket)",
                net_missing.join(", ")
            ))
        };
        (fs, net)
    }

    /// The Landlock status of the running kernel, without restricting anything.
    fn current_landlock() -> LandlockStatus {
        // SAFETY: landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION) only
        // returns the ABI version (or an error); it creates nothing.
        let v = unsafe {
            libc::syscall(
                libc::SYS_landlock_create_ruleset,
                std::ptr::null::<libc::c_void>(),
                0usize,
                1u32,
            )
        };
        match i32::try_from(v) {
            Ok(v) if v > 0 => LandlockStatus::Available {
                effective_abi: ABI::from(v),
                kernel_abi: None,
            },
            _ if io::Error::last_os_error().raw_os_error() == Some(libc::EOPNOTSUPP) => {
                LandlockStatus::NotEnabled
            }
            _ => LandlockStatus::NotImplemented,
        }
    }

    /// What [`super::apply`] and [`super::restrict_after_load`] enforce on this kernel,
    /// computed by kure itself (not reported by a worker, which runs plugin code).
    pub(super) fn expected() -> SandboxReport {
        let landlock = current_landlock();
        let available = matches!(landlock, LandlockStatus::Available { .. });
        let reads = if available {
            Enforcement::Full
        } else {
            Enforcement::NotEnforced("this kernel has no Landlock in force".into())
        };
        let (landlock_fs, landlock_net) = landlock_enforcement(landlock, true);
        let seccomp = match seccomp_arch() {
            Ok(_) => Enforcement::Full,
            Err(why) => why,
        };
        let after_load = after_load_enforcement(reads, seccomp.clone());
        SandboxReport {
            landlock_fs,
            landlock_net,
            seccomp,
            after_load,
        }
    }

    /// The `after_load` report from its two layers.
    fn after_load_enforcement(landlock: Enforcement, seccomp: Enforcement) -> Enforcement {
        match (landlock, seccomp) {
            (Enforcement::Full, Enforcement::Full) => Enforcement::Full,
            (Enforcement::Full, why) => Enforcement::Partial(format!(
                "Landlock refuses every read by path, but the seccomp filter on `open` calls is {why}"
            )),
            (Enforcement::NotEnforced(why) | Enforcement::Partial(why), Enforcement::Full) => {
                Enforcement::NotEnforced(format!(
                    "{why}, so the plugin's load-time code can read any file the user can; seccomp refuses opening files only once the plugin is loaded"
                ))
            }
            (landlock, seccomp) => Enforcement::NotEnforced(format!(
                "Landlock is {landlock} and the seccomp filter on `open` calls is {seccomp}"
            )),
        }
    }

    /// The second Landlock layer: reading files and listing directories handled, no rule.
    pub(super) fn restrict_reads() -> Result<Enforcement, SandboxError> {
        let status = landlock::Ruleset::default()
            .set_compatibility(CompatLevel::BestEffort)
            .handle_access(AccessFs::ReadFile | AccessFs::ReadDir | AccessFs::Execute)
            .and_then(|r| r.create())
            // Every thread where the kernel can (Landlock ABI 8); the thread count covers the
            // rest.
            .and_then(|r| r.all_threads(true))
            .and_then(|r| r.restrict_self())
            .map_err(SandboxError::Landlock)?;
        // Reading is handled since Landlock ABI 1: anything short of full enforcement here is
        // the all-threads flag, which the thread count stands in for on kernels before ABI 8.
        Ok(match (status.landlock, status.ruleset) {
            (LandlockStatus::Available { .. }, RulesetStatus::NotEnforced) => {
                Enforcement::NotEnforced("Landlock enforced none of the ruleset".into())
            }
            (LandlockStatus::Available { .. }, _) => Enforcement::Full,
            (LandlockStatus::NotEnabled, _) => {
                Enforcement::NotEnforced("Landlock is not enabled on this kernel".into())
            }
            (LandlockStatus::NotImplemented, _) => {
                Enforcement::NotEnforced("this kernel has no Landlock".into())
            }
        })
    }

    /// The seccomp program: EPERM for non-`AF_UNIX` `socket`/`socketpair`, `io_uring_setup`,
    /// `setsid`, `setpgid`, `fork`, `vfork`, `clone` without `CLONE_THREAD`, `execve` and
    /// `execveat`; everything else allowed.
    fn seccomp_program(arch: TargetArch) -> Result<BpfProgram, seccompiler::BackendError> {
        let cond = |arg: u8, op: SeccompCmpOp, value: u64| {
            SeccompCondition::new(arg, SeccompCmpArgLen::Dword, op, value)
        };
        let not_unix = SeccompRule::new(vec![cond(0, SeccompCmpOp::Ne, libc::AF_UNIX as u64)?])?;
        // clone's first argument holds the flags on every architecture kure builds for.
        let not_a_thread = SeccompRule::new(vec![SeccompCondition::new(
            0,
            SeccompCmpArgLen::Qword,
            SeccompCmpOp::MaskedEq(libc::CLONE_THREAD as u64),
            0,
        )?])?;
        // SAFETY: getpid takes nothing and cannot fail.
        let me = u64::from(unsafe { libc::getpid() }.unsigned_abs());
        // kill(pid, ..) only for this process (0: its own process group, which it leads).
        let not_me_or_group = SeccompRule::new(vec![
            cond(0, SeccompCmpOp::Ne, me)?,
            cond(0, SeccompCmpOp::Ne, 0)?,
        ])?;
        let not_me = SeccompRule::new(vec![cond(0, SeccompCmpOp::Ne, me)?])?;
        // open flags that write, create or truncate (the flags are argument `at`).
        let writing = |at: u8| -> Result<Vec<SeccompRule>, seccompiler::BackendError> {
            [libc::O_WRONLY, libc::O_RDWR, libc::O_CREAT, libc::O_TRUNC]
                .into_iter()
                .map(|flag| {
                    SeccompRule::new(vec![cond(
                        at,
                        SeccompCmpOp::MaskedEq(flag as u64),
                        flag as u64,
                    )?])
                })
                .collect()
        };
        let pdeathsig = SeccompRule::new(vec![cond(
            0,
            SeccompCmpOp::Eq,
            libc::PR_SET_PDEATHSIG as u64,
        )?])?;
        let mut rules = Rules::new(arch);
        // No socket at all: the worker's channel is inherited, and a new AF_UNIX socket could
        // reach pathname sockets (a container runtime's) that Landlock before ABI 9 does not
        // guard. Unnamed AF_UNIX pairs reach nothing and stay allowed.
        rules.deny(libc::SYS_socket, Vec::new());
        rules.deny(libc::SYS_socketpair, vec![not_unix]);
        // An empty chain matches the call whatever its arguments.
        rules.deny(libc::SYS_io_uring_setup, Vec::new());
        // No new session or group: whatever runs in the worker stays in its process group.
        rules.deny(libc::SYS_setsid, Vec::new());
        rules.deny(libc::SYS_setpgid, Vec::new());
        // No new process: a plugin's process could outlive the worker (and kure), and a program
        // it executes would run outside the rules that only this process image knows.
        #[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
        {
            rules.deny(libc::SYS_fork, Vec::new());
            rules.deny(libc::SYS_vfork, Vec::new());
        }
        rules.deny(libc::SYS_clone, vec![not_a_thread]);
        rules.deny(libc::SYS_execve, Vec::new());
        rules.deny(libc::SYS_execveat, Vec::new());
        // And the worker keeps dying with kure.
        rules.deny(libc::SYS_prctl, vec![pdeathsig]);
        // No other process is reached, even where Landlock's scopes (Linux 6.12) are missing:
        // signals only to itself, no ptrace, no reading or writing another's memory or fds.
        rules.deny(libc::SYS_kill, vec![not_me_or_group]);
        rules.deny(libc::SYS_tgkill, vec![not_me.clone()]);
        rules.deny(libc::SYS_tkill, vec![not_me.clone()]);
        rules.deny(libc::SYS_rt_sigqueueinfo, vec![not_me.clone()]);
        rules.deny(libc::SYS_rt_tgsigqueueinfo, vec![not_me]);
        for nr in [
            libc::SYS_ptrace,
            libc::SYS_process_vm_readv,
            libc::SYS_process_vm_writev,
            libc::SYS_pidfd_open,
            libc::SYS_pidfd_send_signal,
            libc::SYS_pidfd_getfd,
            libc::SYS_kcmp,
            libc::SYS_perf_event_open,
            // Nor a new namespace, mount, BPF program or page-fault handler.
            libc::SYS_unshare,
            libc::SYS_setns,
            libc::SYS_mount,
            libc::SYS_umount2,
            libc::SYS_pivot_root,
            libc::SYS_bpf,
            libc::SYS_userfaultfd,
        ] {
            rules.deny(nr, Vec::new());
        }
        // No writes, even where Landlock is missing, and none of the changes Landlock never
        // covers (permissions, owners, extended attributes, times).
        rules.deny(libc::SYS_openat, writing(2)?);
        rules.deny(libc::SYS_openat2, Vec::new());
        for nr in [
            libc::SYS_unlinkat,
            libc::SYS_renameat,
            libc::SYS_renameat2,
            libc::SYS_mkdirat,
            libc::SYS_linkat,
            libc::SYS_symlinkat,
            libc::SYS_mknodat,
            libc::SYS_truncate,
            libc::SYS_fchmod,
            libc::SYS_fchmodat,
            libc::SYS_fchmodat2,
            libc::SYS_fchown,
            libc::SYS_fchownat,
            libc::SYS_setxattr,
            libc::SYS_lsetxattr,
            libc::SYS_fsetxattr,
            libc::SYS_removexattr,
            libc::SYS_lremovexattr,
            libc::SYS_fremovexattr,
            libc::SYS_utimensat,
        ] {
            rules.deny(nr, Vec::new());
        }
        #[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
        {
            rules.deny(libc::SYS_open, writing(1)?);
            for nr in [
                libc::SYS_creat,
                libc::SYS_unlink,
                libc::SYS_rename,
                libc::SYS_mkdir,
                libc::SYS_rmdir,
                libc::SYS_link,
                libc::SYS_symlink,
                libc::SYS_mknod,
                libc::SYS_chmod,
                libc::SYS_chown,
                libc::SYS_lchown,
                libc::SYS_utime,
                libc::SYS_utimes,
                libc::SYS_futimesat,
            ] {
                rules.deny(nr, Vec::new());
            }
        }
        // The x32 ABI's own numbers for exec, ptrace, signal queues and process memory.
        for nr in [520, 521, 524, 536, 539, 540, 545] {
            rules.deny_x32(nr);
        }
        rules.program(libc::EPERM)
    }

    /// `clone3` answers ENOSYS: its flags are in memory a filter cannot read, and libc then
    /// falls back to `clone`, which [`seccomp_program`] checks.
    fn clone3_program(arch: TargetArch) -> Result<BpfProgram, seccompiler::BackendError> {
        let mut rules = Rules::new(arch);
        rules.deny(libc::SYS_clone3, Vec::new());
        rules.program(libc::ENOSYS)
    }

    /// After the library is loaded: EACCES for every way to open a file by path or handle.
    fn open_program(arch: TargetArch) -> Result<BpfProgram, seccompiler::BackendError> {
        let mut rules = Rules::new(arch);
        #[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
        {
            rules.deny(libc::SYS_open, Vec::new());
            rules.deny(libc::SYS_creat, Vec::new());
            rules.deny(libc::SYS_uselib, Vec::new());
        }
        rules.deny(libc::SYS_openat, Vec::new());
        rules.deny(libc::SYS_openat2, Vec::new());
        rules.deny(libc::SYS_open_by_handle_at, Vec::new());
        rules.program(libc::EACCES)
    }

    /// The system calls one filter refuses, with one errno.
    struct Rules {
        arch: TargetArch,
        map: BTreeMap<i64, Vec<SeccompRule>>,
    }

    impl Rules {
        fn new(arch: TargetArch) -> Self {
            Self {
                arch,
                map: BTreeMap::new(),
            }
        }

        /// Refuses `nr` when one of `chain`'s rules matches (an empty chain: always).
        fn deny(&mut self, nr: libc::c_long, chain: Vec<SeccompRule>) {
            // `c_long` is `i64` here but `i32` on 32-bit targets.
            #[allow(clippy::useless_conversion)]
            let nr = i64::from(nr);
            // An x86_64 kernel built with the x32 ABI also accepts each call with bit 30 set,
            // under the same audit arch: deny that spelling too.
            if self.arch == TargetArch::x86_64 {
                self.map.insert(nr | 0x4000_0000, chain.clone());
            }
            self.map.insert(nr, chain);
        }

        /// Refuses the x32 system call `nr` (x86_64 only).
        fn deny_x32(&mut self, nr: i64) {
            if self.arch == TargetArch::x86_64 {
                self.map.insert(nr | 0x4000_0000, Vec::new());
            }
        }

        fn program(self, errno: i32) -> Result<BpfProgram, seccompiler::BackendError> {
            let filter = SeccompFilter::new(
                self.map,
                SeccompAction::Allow,
                SeccompAction::Errno(errno as u32),
                self.arch,
            )?;
            BpfProgram::try_from(filter)
        }
    }

    /// The architecture seccompiler builds for, or why there is no seccomp here.
    fn seccomp_arch() -> Result<TargetArch, Enforcement> {
        let zero: libc::c_ulong = 0;
        // SAFETY: PR_GET_SECCOMP takes no pointers (the unused arguments are zero); it fails with
        // EINVAL on a kernel without seccomp.
        if unsafe { libc::prctl(libc::PR_GET_SECCOMP, zero, zero, zero, zero) } < 0 {
            return Err(Enforcement::NotEnforced(format!(
                "this kernel has no seccomp support ({})",
                io::Error::last_os_error()
            )));
        }
        TargetArch::try_from(std::env::consts::ARCH).map_err(|_| {
            Enforcement::NotEnforced(format!(
                "seccompiler cannot build filters for {}",
                std::env::consts::ARCH
            ))
        })
    }

    /// Installs the process and socket filters on the calling thread (no_new_privs must already
    /// be set).
    pub(super) fn apply_seccomp() -> Result<Enforcement, SandboxError> {
        let arch = match seccomp_arch() {
            Ok(arch) => arch,
            Err(why) => return Ok(why),
        };
        for program in [seccomp_program(arch), clone3_program(arch)] {
            let program = program.map_err(SandboxError::SeccompBuild)?;
            seccompiler::apply_filter(&program).map_err(SandboxError::SeccompInstall)?;
        }
        Ok(Enforcement::Full)
    }

    /// Installs the filter on opening files (after the library is loaded).
    pub(super) fn apply_open_filter() -> Result<Enforcement, SandboxError> {
        let arch = match seccomp_arch() {
            Ok(arch) => arch,
            Err(why) => return Ok(why),
        };
        let program = open_program(arch).map_err(SandboxError::SeccompBuild)?;
        // On every thread: one a library constructor started and hid from the thread count
        // gets it too.
        seccompiler::apply_filter_all_threads(&program).map_err(SandboxError::SeccompInstall)?;
        Ok(Enforcement::Full)
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::panic::{catch_unwind, AssertUnwindSafe};

    const OPTS: SandboxOptions = SandboxOptions {
        memory_bytes: 2 << 30,
        cpu_seconds: 60,
        max_open_files: 256,
    };

    /// Exit codes of the forked child.
    const PASS: i32 = 0;
    const FAIL: i32 = 1;
    const SETUP_FAILED: i32 = 2;
    const PANICKED: i32 = 3;

    /// Forks; the child runs `sandbox` then `check` and exits with `check`'s code (or
    /// SETUP_FAILED / PANICKED). Returns the child's exit code. The child never returns into the
    /// test harness.
    fn in_child(sandbox: impl FnOnce() -> bool, check: impl FnOnce() -> i32) -> i32 {
        // SAFETY: the child only runs `sandbox` and `check` (no locks held by other test threads
        // are needed: no stdout, no env) and leaves with _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork: {}", io::Error::last_os_error());
        if pid == 0 {
            // SAFETY: alarm only arms a timer; a stuck child dies of SIGALRM instead of hanging.
            unsafe { libc::alarm(30) };
            let code = catch_unwind(AssertUnwindSafe(|| {
                if sandbox() {
                    check()
                } else {
                    SETUP_FAILED
                }
            }))
            .unwrap_or(PANICKED);
            // SAFETY: _exit ends the child without running the parent's atexit handlers.
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        // SAFETY: waitpid on our own child with a valid status pointer.
        let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
        assert_eq!(waited, pid, "waitpid: {}", io::Error::last_os_error());
        assert!(
            libc::WIFEXITED(status),
            "sandboxed child died of signal {}",
            libc::WTERMSIG(status)
        );
        libc::WEXITSTATUS(status)
    }

    /// The sandbox before the library is loaded, requiring Landlock filesystem/network and
    /// seccomp to be enforced.
    fn full_sandbox() -> bool {
        matches!(
            apply(&OPTS),
            Ok(SandboxReport {
                landlock_fs: Enforcement::Full | Enforcement::Partial(_),
                landlock_net: Enforcement::Full | Enforcement::Partial(_),
                seccomp: Enforcement::Full,
                after_load: Enforcement::NotEnforced(_),
            })
        )
    }

    /// Both steps, as a worker runs plugin entry points: everything must be fully enforced
    /// after the load.
    fn loaded_sandbox() -> bool {
        let Ok(mut report) = apply(&OPTS) else {
            return false;
        };
        restrict_after_load(&mut report).is_ok() && report.after_load == Enforcement::Full
    }

    /// The parent's pid, for a child that reads its parent's `/proc` entries.
    fn parent() -> i32 {
        // SAFETY: getppid takes nothing and cannot fail.
        unsafe { libc::getppid() }
    }

    fn errno_code(err: &io::Error) -> i32 {
        match err.raw_os_error() {
            Some(libc::EPERM) => 10,
            Some(libc::EACCES) => 11,
            _ => 12,
        }
    }

    fn scratch_path(what: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("kure-sandbox-{what}-{}", std::process::id()))
    }

    #[test]
    fn file_writes_are_refused() {
        let path = scratch_path("write");
        // Control: without the sandbox the same file can be created.
        std::fs::write(&path, b"x").expect("control write");
        std::fs::remove_file(&path).expect("control remove");
        let existing = scratch_path("existing");
        std::fs::write(&existing, b"before").expect("write existing");

        let code = in_child(full_sandbox, || {
            let create = std::fs::File::create(&path);
            let append = std::fs::OpenOptions::new().append(true).open(&existing);
            let remove = std::fs::remove_file(&existing);
            match (create, append, remove) {
                (Err(c), Err(a), Err(r))
                    if [&c, &a, &r]
                        .iter()
                        .all(|e| matches!(e.raw_os_error(), Some(libc::EACCES | libc::EPERM))) =>
                {
                    PASS
                }
                _ => FAIL,
            }
        });
        let leaked = path.exists();
        let kept = std::fs::read(&existing).ok();
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_file(&existing);
        assert_eq!(code, PASS, "a write was not refused in the sandbox");
        assert!(!leaked, "the sandboxed child created {}", path.display());
        assert_eq!(kept.as_deref(), Some(&b"before"[..]));
    }

    #[test]
    fn only_library_dirs_are_readable_before_the_load_and_nothing_after() {
        let path = scratch_path("read");
        std::fs::write(&path, b"readable").expect("write fixture");
        // Control: without the sandbox the child reads the file.
        let control = in_child(
            || true,
            || match std::fs::read(&path) {
                Ok(b) if b == b"readable" => PASS,
                _ => FAIL,
            },
        );
        let before_load = in_child(full_sandbox, || {
            let user_file = std::fs::read(&path);
            let tmp_dir = std::fs::read_dir(std::env::temp_dir());
            let lib_dir = std::fs::read_dir("/usr/lib").is_ok();
            let cache = std::path::Path::new("/etc/ld.so.cache");
            let cache_ok = !cache.exists() || std::fs::read(cache).is_ok();
            match (user_file, tmp_dir) {
                (Err(f), Err(d))
                    if [&f, &d]
                        .iter()
                        .all(|e| e.raw_os_error() == Some(libc::EACCES))
                        && lib_dir
                        && cache_ok =>
                {
                    PASS
                }
                _ => FAIL,
            }
        });
        let after_load = in_child(loaded_sandbox, || {
            let lib_dir = std::fs::read_dir("/usr/lib");
            let user_file = std::fs::read(&path);
            match (lib_dir, user_file) {
                (Err(d), Err(f)) if d.raw_os_error() == Some(libc::EACCES) => errno_code(&f),
                _ => FAIL,
            }
        });
        let _ = std::fs::remove_file(&path);
        assert_eq!(control, PASS, "the control read failed");
        assert_eq!(
            before_load, PASS,
            "reads outside the library dirs were not refused, or the library dirs were"
        );
        assert_eq!(
            after_load, 11,
            "after the load, reads were not refused with EACCES"
        );
    }

    #[test]
    fn the_parents_environment_and_memory_are_out_of_reach() {
        // Control: a child of the same user reads its parent's environment without the sandbox.
        let read = || {
            let env = std::fs::read(format!("/proc/{}/environ", parent()));
            let mem = std::fs::File::open(format!("/proc/{}/mem", parent()));
            (env, mem)
        };
        let control = in_child(
            || true,
            || match read() {
                (Ok(env), _) if !env.is_empty() => PASS,
                _ => FAIL,
            },
        );
        assert_eq!(
            control, PASS,
            "the control read of the parent's environ failed"
        );
        for (name, sandbox) in [
            ("before the load", full_sandbox as fn() -> bool),
            ("after the load", loaded_sandbox),
        ] {
            let code = in_child(sandbox, || match read() {
                (Err(env), Err(mem))
                    if [&env, &mem]
                        .iter()
                        .all(|e| matches!(e.raw_os_error(), Some(libc::EACCES | libc::EPERM))) =>
                {
                    PASS
                }
                _ => FAIL,
            });
            assert_eq!(
                code, PASS,
                "{name}: the parent's environ or memory was readable"
            );
        }
    }

    #[test]
    fn no_new_process_can_start_but_threads_can() {
        // Control: the same calls start processes without the sandbox.
        let control = in_child(
            || true,
            // SAFETY: a forked child that exits at once.
            || match unsafe { libc::fork() } {
                0 => unsafe { libc::_exit(0) },
                pid if pid > 0 => PASS,
                _ => FAIL,
            },
        );
        assert_eq!(control, PASS, "fork failed without the sandbox");
        let code = in_child(full_sandbox, || {
            let errno = || io::Error::last_os_error().raw_os_error();
            // SAFETY: each call either fails (the point) or the new process exits at once.
            let fork = unsafe { libc::fork() };
            if fork == 0 {
                unsafe { libc::_exit(0) };
            }
            let fork_errno = errno();
            // clone without CLONE_THREAD: a new process (raw, as a plugin could call it).
            let clone = unsafe {
                libc::syscall(libc::SYS_clone, libc::SIGCHLD as libc::c_ulong, 0, 0, 0, 0)
            };
            if clone == 0 {
                unsafe { libc::_exit(0) };
            }
            let clone_errno = errno();
            // clone3 with a zeroed argument block (flags 0: a new process).
            let args = [0u64; 11];
            let clone3 = unsafe {
                libc::syscall(
                    libc::SYS_clone3,
                    args.as_ptr(),
                    std::mem::size_of_val(&args),
                )
            };
            if clone3 == 0 {
                unsafe { libc::_exit(0) };
            }
            let clone3_errno = errno();
            let sh = c"/bin/sh";
            let argv = [
                sh.as_ptr(),
                c"-c".as_ptr(),
                c"exit 77".as_ptr(),
                std::ptr::null(),
            ];
            let envp = [std::ptr::null::<libc::c_char>()];
            let exec = unsafe { libc::execve(sh.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
            let exec_errno = errno();
            let session = unsafe { libc::setsid() };
            let thread = std::thread::spawn(|| 6 * 7).join().ok();
            if fork < 0
                && fork_errno == Some(libc::EPERM)
                && clone < 0
                && clone_errno == Some(libc::EPERM)
                && clone3 < 0
                && clone3_errno == Some(libc::ENOSYS)
                && exec < 0
                && exec_errno == Some(libc::EPERM)
                && session < 0
                && thread == Some(42)
            {
                PASS
            } else {
                FAIL
            }
        });
        assert_eq!(code, PASS, "a new process started, or a thread did not");
    }

    #[test]
    fn capabilities_are_dropped() {
        let code = in_child(full_sandbox, || match rustix::thread::capabilities(None) {
            Ok(sets)
                if sets.effective.is_empty()
                    && sets.permitted.is_empty()
                    && sets.inheritable.is_empty() =>
            {
                PASS
            }
            _ => FAIL,
        });
        assert_eq!(code, PASS, "the sandboxed worker kept capabilities");
    }

    #[test]
    fn a_thread_started_while_loading_is_refused() {
        let code = in_child(
            || apply(&OPTS).is_ok(),
            || {
                // What a library constructor could do between the two steps.
                let _t =
                    std::thread::spawn(|| std::thread::sleep(std::time::Duration::from_secs(5)));
                let mut report = SandboxReport {
                    landlock_fs: Enforcement::Full,
                    landlock_net: Enforcement::Full,
                    seccomp: Enforcement::Full,
                    after_load: Enforcement::NotEnforced(String::new()),
                };
                match restrict_after_load(&mut report) {
                    Err(SandboxError::ThreadsAfterLoad { threads: 2 }) => PASS,
                    _ => FAIL,
                }
            },
        );
        assert_eq!(code, PASS, "a second thread was not refused");
    }

    #[test]
    fn unix_socket_pairs_still_work() {
        let code = in_child(loaded_sandbox, || {
            let pair = std::os::unix::net::UnixStream::pair().and_then(|(mut a, mut b)| {
                a.write_all(b"ping")?;
                let mut buf = [0u8; 4];
                b.read_exact(&mut buf)?;
                Ok(buf)
            });
            if matches!(pair, Ok(b) if &b == b"ping") {
                PASS
            } else {
                FAIL
            }
        });
        assert_eq!(code, PASS, "a UNIX socket pair failed in the sandbox");
    }

    #[test]
    fn tcp_connect_is_refused_by_seccomp() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        // Control: without the sandbox the connection is made.
        std::net::TcpStream::connect(addr).expect("control connect");
        let code = in_child(full_sandbox, || match std::net::TcpStream::connect(addr) {
            Ok(_) => FAIL,
            Err(e) => errno_code(&e),
        });
        // seccomp refuses socket(AF_INET) with EPERM before Landlock sees a connect.
        assert_eq!(
            code, 10,
            "expected EPERM from seccomp (10), got code {code}"
        );
    }

    #[test]
    fn landlock_alone_refuses_tcp_connect() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let landlock_only = || {
            linux::prctl_set("PR_SET_NO_NEW_PRIVS", libc::PR_SET_NO_NEW_PRIVS, 1).is_ok()
                && matches!(
                    linux::apply_landlock(),
                    Ok((_, Enforcement::Full | Enforcement::Partial(_)))
                )
        };
        let code = in_child(landlock_only, || match std::net::TcpStream::connect(addr) {
            Ok(_) => FAIL,
            Err(e) => errno_code(&e),
        });
        assert_eq!(
            code, 11,
            "expected EACCES from Landlock (11), got code {code}"
        );
    }

    #[test]
    fn seccomp_refuses_every_new_socket_but_unix_pairs() {
        let seccomp_only = || {
            linux::prctl_set("PR_SET_NO_NEW_PRIVS", libc::PR_SET_NO_NEW_PRIVS, 1).is_ok()
                && matches!(linux::apply_seccomp(), Ok(Enforcement::Full))
        };
        let code = in_child(seccomp_only, || {
            let socket = |domain, kind| {
                // SAFETY: socket() takes integers; a returned fd is closed right away.
                let fd = unsafe { libc::socket(domain, kind, 0) };
                let err = io::Error::last_os_error().raw_os_error();
                if fd >= 0 {
                    // SAFETY: closing the fd socket() just returned.
                    unsafe { libc::close(fd) };
                    Ok(())
                } else {
                    Err(err)
                }
            };
            let udp6 = socket(libc::AF_INET6, libc::SOCK_DGRAM);
            let netlink = socket(libc::AF_NETLINK, libc::SOCK_RAW);
            let unix = socket(libc::AF_UNIX, libc::SOCK_STREAM);
            let mut fds = [0; 2];
            // SAFETY: socketpair writes two fds into `fds`.
            let pair_unix =
                unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, fds.as_mut_ptr()) };
            // SAFETY: socketpair writes two fds into `fds`.
            let pair_inet =
                unsafe { libc::socketpair(libc::AF_INET, libc::SOCK_STREAM, 0, fds.as_mut_ptr()) };
            let pair_errno = io::Error::last_os_error().raw_os_error();
            let eperm = Err(Some(libc::EPERM));
            if udp6 == eperm
                && netlink == eperm
                && unix == eperm
                && pair_unix == 0
                && pair_inet < 0
                && pair_errno == Some(libc::EPERM)
            {
                PASS
            } else {
                FAIL
            }
        });
        assert_eq!(
            code, PASS,
            "seccomp did not refuse exactly the non-UNIX sockets"
        );
    }

    /// What seccomp refuses on its own, for kernels without Landlock (or without its scopes):
    /// writes and metadata changes, signals and ptrace to other processes, clearing the
    /// parent-death signal. Reads, signals to itself and to its group still work.
    #[test]
    fn seccomp_alone_refuses_writes_and_reaching_other_processes() {
        let existing = scratch_path("seccomp-existing");
        std::fs::write(&existing, b"before").expect("fixture");
        let new_file = scratch_path("seccomp-new");
        let new_dir = scratch_path("seccomp-dir");
        let attempts = || {
            use std::os::unix::fs::PermissionsExt;
            let eperm =
                |r: io::Result<()>| r.err().and_then(|e| e.raw_os_error()) == Some(libc::EPERM);
            let sys = |r: libc::c_int| {
                if r == 0 {
                    Ok(())
                } else {
                    Err(io::Error::last_os_error())
                }
            };
            // SAFETY: kill, prctl, ptrace and the pidfd call take integers; signal 0 delivers
            // nothing; a successful seize is undone at once.
            unsafe {
                let parent = libc::getppid();
                let seized = libc::ptrace(libc::PTRACE_SEIZE, parent, 0, 0);
                if seized == 0 {
                    libc::ptrace(libc::PTRACE_DETACH, parent, 0, 0);
                }
                let pidfd = libc::syscall(libc::SYS_pidfd_open, parent, 0);
                [
                    eperm(std::fs::write(&new_file, b"x")),
                    eperm(
                        std::fs::OpenOptions::new()
                            .append(true)
                            .open(&existing)
                            .map(drop),
                    ),
                    eperm(std::fs::remove_file(&existing)),
                    eperm(std::fs::rename(&existing, &new_file)),
                    eperm(std::fs::create_dir(&new_dir)),
                    eperm(std::fs::set_permissions(
                        &existing,
                        std::fs::Permissions::from_mode(0o666),
                    )),
                    eperm(sys(libc::kill(parent, 0))),
                    eperm(sys(libc::kill(-1, 0))),
                    eperm(sys(libc::prctl(libc::PR_SET_PDEATHSIG, 0, 0, 0, 0))),
                    seized < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EPERM),
                    pidfd < 0,
                    std::fs::read(&existing).is_ok_and(|b| b == b"before"),
                    libc::kill(libc::getpid(), 0) == 0,
                    libc::kill(0, 0) == 0,
                    libc::raise(0) == 0,
                ]
            }
        };
        let seccomp_only = || {
            linux::prctl_set("PR_SET_NO_NEW_PRIVS", libc::PR_SET_NO_NEW_PRIVS, 1).is_ok()
                && matches!(linux::apply_seccomp(), Ok(Enforcement::Full))
        };
        let code = in_child(seccomp_only, || {
            match attempts().iter().position(|ok| !ok) {
                None => PASS,
                Some(i) => 30 + i as i32,
            }
        });
        let _ = std::fs::remove_file(&new_file);
        let _ = std::fs::remove_dir(&new_dir);
        let kept = std::fs::read(&existing).ok();
        let _ = std::fs::remove_file(&existing);
        assert_eq!(
            code,
            PASS,
            "attempt {} was not refused (or a harmless call failed)",
            code - 30
        );
        assert_eq!(kept.as_deref(), Some(&b"before"[..]));
        // Control: without the filter the first write succeeds.
        let control = in_child(
            || true,
            || match std::fs::write(&new_file, b"x") {
                Ok(()) => PASS,
                Err(_) => FAIL,
            },
        );
        let _ = std::fs::remove_file(&new_file);
        assert_eq!(control, PASS);
    }

    /// kure shows the report it computes, not the worker's: the two must agree.
    #[test]
    fn the_expected_report_is_what_the_worker_enforces() {
        let expected = expected_report();
        let code = in_child(
            || true,
            || {
                let Ok(mut report) = apply(&OPTS) else {
                    return 40;
                };
                if restrict_after_load(&mut report).is_err() {
                    return 41;
                }
                if report == expected {
                    PASS
                } else {
                    FAIL
                }
            },
        );
        assert_eq!(
            code, PASS,
            "the worker enforced something else than {expected:?}"
        );
    }

    #[test]
    fn seccomp_keeps_forked_processes_in_the_process_group() {
        let seccomp_only = || {
            linux::prctl_set("PR_SET_NO_NEW_PRIVS", libc::PR_SET_NO_NEW_PRIVS, 1).is_ok()
                && matches!(linux::apply_seccomp(), Ok(Enforcement::Full))
        };
        let code = in_child(seccomp_only, || {
            // SAFETY: setsid and setpgid take integers and touch no memory.
            let (sid, pgid) = unsafe { (libc::setsid(), libc::setpgid(0, 0)) };
            let err = io::Error::last_os_error().raw_os_error();
            if sid < 0 && pgid < 0 && err == Some(libc::EPERM) {
                PASS
            } else {
                FAIL
            }
        });
        assert_eq!(code, PASS, "setsid or setpgid was allowed");
        // Control: outside the sandbox, a forked child may start its own process group.
        let code = in_child(
            || true,
            // SAFETY: setpgid takes integers and touches no memory.
            || {
                if unsafe { libc::setpgid(0, 0) } == 0 {
                    PASS
                } else {
                    FAIL
                }
            },
        );
        assert_eq!(code, PASS, "setpgid failed without the sandbox");
    }

    #[test]
    fn memory_limit_refuses_large_allocations() {
        let code = in_child(full_sandbox, || {
            let mut small: Vec<u8> = Vec::new();
            let mut big: Vec<u8> = Vec::new();
            match (small.try_reserve(64 << 20), big.try_reserve(3 << 30)) {
                (Ok(()), Err(_)) => PASS,
                _ => FAIL,
            }
        });
        assert_eq!(code, PASS, "3 GiB was allocatable under a 2 GiB limit");
    }

    #[test]
    fn multithreaded_processes_are_refused() {
        // The test harness runs this on a thread of its own: the process has several threads.
        let helper =
            std::thread::spawn(|| std::thread::sleep(std::time::Duration::from_millis(200)));
        let result = apply(&OPTS);
        helper.join().expect("helper thread");
        assert!(
            matches!(result, Err(SandboxError::MultiThreaded { threads }) if threads > 1),
            "{result:?}"
        );
    }

    #[test]
    fn zero_limits_are_refused() {
        let result = apply(&SandboxOptions {
            memory_bytes: 0,
            ..OPTS
        });
        assert!(matches!(
            result,
            Err(SandboxError::ZeroLimit {
                what: "memory_bytes"
            })
        ));
    }

    #[test]
    fn warnings_name_what_is_missing() {
        let report = SandboxReport {
            landlock_fs: Enforcement::Full,
            landlock_net: Enforcement::Partial("no scopes".into()),
            seccomp: Enforcement::NotEnforced("no seccomp".into()),
            after_load: Enforcement::Full,
        };
        let warnings = report.warnings();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("Landlock network") && warnings[0].contains("no scopes"));
        assert!(
            warnings[1].contains("seccomp") && warnings[1].contains("not enforced: no seccomp")
        );
    }

    /// The point of the worker: after the sandbox, a library can still be loaded from a sealed
    /// memfd through /proc/self/fd/N, including its dependencies from the system library dirs.
    #[test]
    fn dlopen_from_sealed_memfd_after_sandbox() {
        let dir = scratch_path("dlopen");
        std::fs::create_dir_all(&dir).expect("scratch dir");
        let src = dir.join("answer.c");
        let lib = dir.join("libanswer.so");
        std::fs::write(
            &src,
            // Needs libz.so.1 (not yet loaded by the test binary) from the system library dirs:
            // only the runtime library, no headers.
            "const char *zlibVersion(void);\nint answer(void) { return zlibVersion()[0] ? 42 : 0; }\n",
        )
        .expect("write C source");
        let built = std::process::Command::new("cc")
            .args(["-shared", "-fPIC", "-o"])
            .arg(&lib)
            .arg(&src)
            .arg("-l:libz.so.1")
            .status();
        let bytes = std::fs::read(&lib);
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            matches!(built, Ok(s) if s.success()),
            "cc failed: {built:?}"
        );
        let bytes = bytes.expect("read built library");

        // The parent's job: a sealed memfd holding the bytes, created before the sandbox.
        // SAFETY: valid NUL-terminated name; flags are plain integers.
        let fd = unsafe {
            libc::memfd_create(
                c"answer".as_ptr(),
                libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
            )
        };
        assert!(fd >= 0, "memfd_create: {}", io::Error::last_os_error());
        // SAFETY: `fd` was just returned by memfd_create and is owned here only.
        let mut file = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        file.write_all(&bytes).expect("fill memfd");
        let seals =
            libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE | libc::F_SEAL_SEAL;
        // SAFETY: fcntl(F_ADD_SEALS) on a valid fd with an integer argument.
        assert_eq!(unsafe { libc::fcntl(fd, libc::F_ADD_SEALS, seals) }, 0);
        let path = std::ffi::CString::new(format!("/proc/self/fd/{fd}")).expect("no NUL");

        let code = in_child(full_sandbox, || {
            // SAFETY: `path` is a valid C string; the library is our own test code.
            let handle = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
            if handle.is_null() {
                return 20;
            }
            // The worker's second step, once the library and libz are loaded.
            let mut report = SandboxReport {
                landlock_fs: Enforcement::Full,
                landlock_net: Enforcement::Full,
                seccomp: Enforcement::Full,
                after_load: Enforcement::NotEnforced(String::new()),
            };
            if restrict_after_load(&mut report).is_err() || report.after_load != Enforcement::Full {
                return 24;
            }
            // SAFETY: valid handle and symbol name.
            let sym = unsafe { libc::dlsym(handle, c"answer".as_ptr()) };
            if sym.is_null() {
                return 21;
            }
            // SAFETY: `answer` is `int answer(void)` in the C source above.
            let answer: extern "C" fn() -> libc::c_int = unsafe { std::mem::transmute(sym) };
            if answer() == 42 {
                PASS
            } else {
                FAIL
            }
        });
        drop(file);
        assert_eq!(
            code, PASS,
            "dlopen from the memfd after the sandbox failed (code {code})"
        );
    }
}
