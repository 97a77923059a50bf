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
/// says "not enforced" ([`restrict_after_load`] returns what the second step adds).
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
/// started a thread is an error, and the plugin must not be used. Returns what it enforced
/// (a report's `after_load`).
pub fn restrict_after_load() -> Result<Enforcement, SandboxError> {
    #[cfg(target_os = "linux")]
    {
        linux::restrict_after_load()
    }
    #[cfg(not(target_os = "linux"))]
    {
        Ok(not_linux())
    }
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
mod linux;

#[cfg(all(test, target_os = "linux"))]
mod tests;
