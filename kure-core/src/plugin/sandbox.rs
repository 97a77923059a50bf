//! The sandbox a plugin worker process puts itself in before it opens the plugin library.
//!
//! In process isolation mode `kure` re-executes itself as a worker that receives the verified
//! plugin bytes as an inherited, sealed memfd. The worker calls [`apply`] while it is still
//! single-threaded, and only then `dlopen`s `/proc/self/fd/N` and runs plugin code. The parent
//! spawns the worker with [`child_pre_exec`] in its `pre_exec` hook.
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
//! 4. **Landlock**, best effort with the newest ABI this crate knows, reporting what the running
//!    kernel actually enforced:
//!    - filesystem: every access right is handled and the only rule grants read, list and
//!      execute beneath `/`, so nothing can be written, created, removed, renamed, linked or
//!      truncated anywhere. Reading (the dynamic loader reading `/lib`, `/usr/lib`, the plugin
//!      reading its inputs) still works. Files that were opened before stay usable with the mode
//!      they were opened with (stdout, stderr, the memfd, the pipe to the parent). Opening
//!      anything for writing is refused, `/dev/null` included.
//!    - network: TCP bind and connect are handled with no rule, so both are refused (`EACCES`).
//!    - scopes: connecting to abstract UNIX sockets created outside the worker and sending
//!      signals to processes outside it are refused.
//! 5. **seccomp** (default allow): `socket()` fails with `EPERM` for every domain (the worker's
//!    channel is inherited; a new `AF_UNIX` socket could connect to pathname sockets that
//!    Landlock only guards from ABI 9), `socketpair()` for any domain but `AF_UNIX`, and
//!    `io_uring_setup()` (io_uring can create sockets without the `socket()` system call). This closes the network even where Landlock cannot (old kernels,
//!    UDP, raw and netlink sockets). Calls made through another system call ABI (e.g. 32-bit
//!    `int 0x80` on x86_64) kill the worker.
//!
//! Loading the plugin after the sandbox works: the memfd lives on an internal kernel mount that
//! Landlock does not restrict, opening it through `/proc/self/fd/N` is a read, and `mmap` with
//! `PROT_EXEC` is not a Landlock access right.
//!
//! Landlock and seccomp restrict the calling thread and the threads it creates later, so
//! [`apply`] refuses to run in a process that already has more than one thread.
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

/// What [`apply`] managed to enforce, layer by layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxReport {
    /// Landlock filesystem rules (read-only everywhere).
    pub landlock_fs: Enforcement,
    /// Landlock network rules (no TCP bind or connect) and scopes (no abstract UNIX sockets or
    /// signals outside the worker).
    pub landlock_net: Enforcement,
    /// The seccomp filter (no `socket()` at all, `socketpair()` only for `AF_UNIX`, no
    /// io_uring).
    pub seccomp: Enforcement,
}

impl SandboxReport {
    /// One line per layer that is not fully enforced, naming the layer and what is missing.
    pub fn warnings(&self) -> Vec<String> {
        [
            ("Landlock filesystem sandbox (read-only)", &self.landlock_fs),
            (
                "Landlock network sandbox (no TCP bind/connect, no abstract UNIX sockets or signals outside the worker)",
                &self.landlock_net,
            ),
            (
                "seccomp filter (no new sockets, so no network and no pathname UNIX sockets; no io_uring)",
                &self.seccomp,
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
    /// `/` could not be opened for the Landlock rule.
    #[cfg(target_os = "linux")]
    #[error("plugin sandbox: cannot open / for the Landlock read-only rule: {0}")]
    LandlockRoot(#[source] landlock::PathFdError),
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
/// limits, `PR_SET_NO_NEW_PRIVS`, `PR_SET_DUMPABLE = 0`, Landlock, seccomp (see the module
/// docs). Must be called while the process is single-threaded. On error the process may be
/// partly sandboxed and must exit without loading the plugin.
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
        let why = || {
            Enforcement::NotEnforced(format!(
                "plugin sandboxing is only implemented on Linux, not {}",
                std::env::consts::OS
            ))
        };
        Ok(SandboxReport {
            landlock_fs: why(),
            landlock_net: why(),
            seccomp: why(),
        })
    }
}

/// For the parent, in the `pre_exec` closure of the worker's `Command`: the worker gets SIGKILL
/// when the thread that spawned it exits (`PR_SET_PDEATHSIG`), and gets its own process group
/// (`setpgid(0, 0)`) so the parent can kill it and everything it forked at once.
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
    // SAFETY: setpgid(0, 0) only changes this process's process group.
    if unsafe { libc::setpgid(0, 0) } != 0 {
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
mod linux {
    use super::{Enforcement, SandboxError, SandboxOptions, SandboxReport};
    use landlock::{
        Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, LandlockStatus,
        PathBeneath, PathFd, RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope, ABI,
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

    /// Everything but the option checks, in order.
    pub(super) fn apply(opts: &SandboxOptions) -> Result<SandboxReport, SandboxError> {
        let threads = std::fs::read_dir("/proc/self/task")
            .map_err(|source| SandboxError::Threads { source })?
            .count();
        if threads != 1 {
            return Err(SandboxError::MultiThreaded { threads });
        }
        set_rlimits(opts)?;
        prctl_set("PR_SET_NO_NEW_PRIVS", libc::PR_SET_NO_NEW_PRIVS, 1)?;
        prctl_set("PR_SET_DUMPABLE", libc::PR_SET_DUMPABLE, 0)?;
        let (landlock_fs, landlock_net) = apply_landlock()?;
        let seccomp = apply_seccomp()?;
        Ok(SandboxReport {
            landlock_fs,
            landlock_net,
            seccomp,
        })
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

    /// Read-only filesystem, no TCP, scoped IPC; returns (filesystem, network) enforcement.
    pub(super) fn apply_landlock() -> Result<(Enforcement, Enforcement), SandboxError> {
        let fs_all = AccessFs::from_all(LANDLOCK_ABI);
        let fs_read = AccessFs::from_read(LANDLOCK_ABI);
        let tcp = AccessNet::BindTcp | AccessNet::ConnectTcp;
        let scopes = Scope::from_all(LANDLOCK_ABI);

        let root = PathFd::new("/").map_err(SandboxError::LandlockRoot)?;
        let status = landlock::Ruleset::default()
            .set_compatibility(CompatLevel::BestEffort)
            .handle_access(fs_all)
            .and_then(|r| r.handle_access(tcp))
            .and_then(|r| r.scope(scopes))
            .and_then(|r| r.create())
            .and_then(|r| r.add_rule(PathBeneath::new(root, fs_read)))
            .and_then(|r| r.restrict_self())
            .map_err(SandboxError::Landlock)?;

        let effective = match status.landlock {
            LandlockStatus::Available { effective_abi, .. } => effective_abi,
            LandlockStatus::NotEnabled => {
                let why = "Landlock is built into this kernel but not enabled (add `landlock` to the `lsm=` boot parameter)";
                return Ok((
                    Enforcement::NotEnforced(why.to_owned()),
                    Enforcement::NotEnforced(why.to_owned()),
                ));
            }
            LandlockStatus::NotImplemented => {
                let why = "this kernel has no Landlock support (Linux 5.13 or later with CONFIG_SECURITY_LANDLOCK)";
                return Ok((
                    Enforcement::NotEnforced(why.to_owned()),
                    Enforcement::NotEnforced(why.to_owned()),
                ));
            }
        };
        if status.ruleset == RulesetStatus::NotEnforced {
            let why = format!("the kernel (Landlock ABI {effective}) enforced none of the ruleset");
            return Ok((
                Enforcement::NotEnforced(why.clone()),
                Enforcement::NotEnforced(why),
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

        let mut net_missing = missing(tcp, effective, AccessNet::from_all);
        net_missing.extend(missing(scopes, effective, Scope::from_all));
        let net = if net_missing.is_empty() {
            Enforcement::Full
        } else {
            let text = format!(
                "the kernel offers Landlock ABI {effective}, so these are not restricted: {}",
                net_missing.join(", ")
            );
            if AccessNet::from_all(effective).contains(tcp) {
                Enforcement::Partial(text)
            } else {
                Enforcement::NotEnforced(text)
            }
        };
        Ok((fs, net))
    }

    /// The seccomp program: EPERM for non-`AF_UNIX` `socket`/`socketpair`, `io_uring_setup`,
    /// `setsid` and `setpgid`, everything else allowed.
    fn seccomp_program(arch: TargetArch) -> Result<BpfProgram, seccompiler::BackendError> {
        let not_unix = SeccompRule::new(vec![SeccompCondition::new(
            0,
            SeccompCmpArgLen::Dword,
            SeccompCmpOp::Ne,
            libc::AF_UNIX as u64,
        )?])?;
        let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
        let mut deny = |nr: libc::c_long, chain: Vec<SeccompRule>| {
            // `c_long` is `i64` here but `i32` on 32-bit targets.
            #[allow(clippy::useless_conversion)]
            let nr = i64::from(nr);
            // An x86_64 kernel built with the x32 ABI also accepts each call with bit 30 set,
            // under the same audit arch: deny that spelling too.
            if arch == TargetArch::x86_64 {
                rules.insert(nr | 0x4000_0000, chain.clone());
            }
            rules.insert(nr, chain);
        };
        // No socket at all: the worker's channel is inherited, and a new AF_UNIX socket could
        // reach pathname sockets (a container runtime's) that Landlock before ABI 9 does not
        // guard. Unnamed AF_UNIX pairs reach nothing and stay allowed.
        deny(libc::SYS_socket, Vec::new());
        deny(libc::SYS_socketpair, vec![not_unix]);
        // An empty chain matches the call whatever its arguments.
        deny(libc::SYS_io_uring_setup, Vec::new());
        // A process the plugin forks stays in the worker's process group, so killing the group
        // ends it too: no new session or group.
        deny(libc::SYS_setsid, Vec::new());
        deny(libc::SYS_setpgid, Vec::new());
        let filter = SeccompFilter::new(
            rules,
            SeccompAction::Allow,
            SeccompAction::Errno(libc::EPERM as u32),
            arch,
        )?;
        BpfProgram::try_from(filter)
    }

    /// Installs the seccomp filter on the calling thread (no_new_privs must already be set).
    pub(super) fn apply_seccomp() -> Result<Enforcement, SandboxError> {
        let zero: libc::c_ulong = 0;
        // SAFETY: PR_GET_SECCOMP takes no pointers (the unused arguments are zero); it fails with
        // EINVAL on a kernel without seccomp.
        if unsafe { libc::prctl(libc::PR_GET_SECCOMP, zero, zero, zero, zero) } < 0 {
            return Ok(Enforcement::NotEnforced(format!(
                "this kernel has no seccomp support ({})",
                io::Error::last_os_error()
            )));
        }
        let arch = match TargetArch::try_from(std::env::consts::ARCH) {
            Ok(arch) => arch,
            Err(_) => {
                return Ok(Enforcement::NotEnforced(format!(
                    "seccompiler cannot build filters for {}",
                    std::env::consts::ARCH
                )))
            }
        };
        let program = seccomp_program(arch).map_err(SandboxError::SeccompBuild)?;
        seccompiler::apply_filter(&program).map_err(SandboxError::SeccompInstall)?;
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

    /// Whole sandbox, requiring Landlock filesystem/network and seccomp to be enforced.
    fn full_sandbox() -> bool {
        matches!(
            apply(&OPTS),
            Ok(SandboxReport {
                landlock_fs: Enforcement::Full | Enforcement::Partial(_),
                landlock_net: Enforcement::Full | Enforcement::Partial(_),
                seccomp: Enforcement::Full,
            })
        )
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
    fn reads_and_unix_socket_pairs_still_work() {
        let path = scratch_path("read");
        std::fs::write(&path, b"readable").expect("write fixture");
        let code = in_child(full_sandbox, || {
            let read = std::fs::read(&path).ok();
            let lib_dir = std::fs::read_dir("/usr/lib").is_ok();
            let pair = std::os::unix::net::UnixStream::pair().and_then(|(mut a, mut b)| {
                a.write_all(b"ping")?;
                let mut buf = [0u8; 4];
                b.read_exact(&mut buf)?;
                Ok(buf)
            });
            if read.as_deref() == Some(&b"readable"[..])
                && lib_dir
                && matches!(pair, Ok(b) if &b == b"ping")
            {
                PASS
            } else {
                FAIL
            }
        });
        let _ = std::fs::remove_file(&path);
        assert_eq!(
            code, PASS,
            "reading or a UNIX socket pair failed in the sandbox"
        );
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
