//! The Linux sandbox: limits, privileges and the two steps, with Landlock and seccomp in files of
//! their own.

mod landlock_rules;
mod seccomp_filters;

use super::{Enforcement, SandboxError, SandboxOptions, SandboxReport};
use landlock::LandlockStatus;
use std::io;

pub(crate) use landlock_rules::LIBRARY_DIRS;
pub(in crate::plugin::sandbox) use landlock_rules::*;
pub(in crate::plugin::sandbox) use seccomp_filters::*;

/// `/proc/self/task` of this process, opened by [`apply`] before Landlock refuses reading
/// it, so that [`restrict_after_load`] can count the threads again (-1: not opened).
pub(in crate::plugin::sandbox) static TASK_DIR: std::sync::atomic::AtomicI32 =
    std::sync::atomic::AtomicI32::new(-1);

/// Opens this process's `/proc/self/task` (again: a forked child inherits its parent's).
pub(in crate::plugin::sandbox) fn open_task_dir() -> Result<(), SandboxError> {
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
pub(in crate::plugin::sandbox) fn threads() -> Result<usize, SandboxError> {
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
pub(in crate::plugin::sandbox) fn apply(
    opts: &SandboxOptions,
) -> Result<SandboxReport, SandboxError> {
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
pub(in crate::plugin::sandbox) fn restrict_after_load() -> Result<Enforcement, SandboxError> {
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
pub(in crate::plugin::sandbox) fn drop_capabilities() -> Result<(), SandboxError> {
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
pub(in crate::plugin::sandbox) type Resource = libc::__rlimit_resource_t;

#[cfg(not(target_env = "gnu"))]
pub(in crate::plugin::sandbox) type Resource = libc::c_int;

/// Sets one limit, never raising it above the current hard limit.
pub(in crate::plugin::sandbox) fn set_rlimit(
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

pub(in crate::plugin::sandbox) fn set_rlimits(opts: &SandboxOptions) -> Result<(), SandboxError> {
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
pub(in crate::plugin::sandbox) fn prctl_set(
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

/// What [`super::apply`] and [`super::restrict_after_load`] enforce on this kernel,
/// computed by kure itself (not reported by a worker, which runs plugin code).
pub(in crate::plugin::sandbox) fn expected() -> SandboxReport {
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
pub(in crate::plugin::sandbox) fn after_load_enforcement(
    landlock: Enforcement,
    seccomp: Enforcement,
) -> Enforcement {
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
