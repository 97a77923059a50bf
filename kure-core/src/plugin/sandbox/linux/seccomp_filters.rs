//! The seccomp filters: no new process, no socket, no write, nothing reaching another process;
//! `clone3` answers ENOSYS; after the load, no `open` at all.

use crate::plugin::sandbox::{Enforcement, SandboxError};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};
use std::collections::BTreeMap;
use std::io;

/// The seccomp program: EPERM for non-`AF_UNIX` `socket`/`socketpair`, `io_uring_setup`,
/// `setsid`, `setpgid`, `fork`, `vfork`, `clone` without `CLONE_THREAD`, `execve` and
/// `execveat`; everything else allowed.
pub(in crate::plugin::sandbox) fn seccomp_program(
    arch: TargetArch,
) -> Result<BpfProgram, seccompiler::BackendError> {
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
pub(in crate::plugin::sandbox) fn clone3_program(
    arch: TargetArch,
) -> Result<BpfProgram, seccompiler::BackendError> {
    let mut rules = Rules::new(arch);
    rules.deny(libc::SYS_clone3, Vec::new());
    rules.program(libc::ENOSYS)
}

/// After the library is loaded: EACCES for every way to open a file by path or handle.
pub(in crate::plugin::sandbox) fn open_program(
    arch: TargetArch,
) -> Result<BpfProgram, seccompiler::BackendError> {
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
pub(in crate::plugin::sandbox) struct Rules {
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
pub(in crate::plugin::sandbox) fn seccomp_arch() -> Result<TargetArch, Enforcement> {
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
pub(in crate::plugin::sandbox) fn apply_seccomp() -> Result<Enforcement, SandboxError> {
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
pub(in crate::plugin::sandbox) fn apply_open_filter() -> Result<Enforcement, SandboxError> {
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
