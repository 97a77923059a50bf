//! No process a plugin starts outlives kure: kure adopts orphans and ends them.
//!
//! The worker's seccomp filter already refuses every new process. This is the second line, for
//! kernels without seccomp or a filter that misses a way in, and the only line in-process. The
//! `kure` binary becomes a *child subreaper* (`PR_SET_CHILD_SUBREAPER`) at startup, through
//! [`crate::plugin::contain::install`], so a process whose parent (the worker, or a process a
//! plugin started) dies is re-parented to kure instead of to init, whatever session or process
//! group it moved to. Then:
//!
//! - whenever kure has reaped a worker, [`end_strays`] kills and reaps every child of kure that
//!   is not a worker kure started ([`Spawning`]) and is outside kure's own process group (so a
//!   child an in-process plugin started for its own use, and waits for, is left alone);
//! - when kure finishes ([`end_all`]), every child that is not a worker is ended, and so is every
//!   worker still alive.
//!
//! Not covered: a kure that is itself killed (SIGKILL) or ended by plugin code (a crash, an
//! exit) leaves its strays to init. A library user of kure-core does not become a subreaper
//! unless it calls [`adopt_every_orphan`] itself.
#![allow(unsafe_code)]

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

/// Whether this process is a subreaper (set once, by the first worker spawn).
static ADOPTING: AtomicBool = AtomicBool::new(false);

/// Whether every child but a worker is a stray (the `kure` binary, which starts no other
/// process), not only those outside this process's group.
static EVERY_CHILD: AtomicBool = AtomicBool::new(false);

/// For the `kure` binary, first thing: adopt orphans from the start, and when kure finishes,
/// end every child that is not a worker (a plugin running in-process may fork too).
pub fn adopt_every_orphan() {
    EVERY_CHILD.store(true, Ordering::Release);
    adopt_orphans();
}

/// The workers that are alive: kure's own children in a process group of their own.
static WORKERS: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

fn workers() -> MutexGuard<'static, BTreeSet<i32>> {
    WORKERS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Makes this process the subreaper of its descendants (once). Returns whether it is one.
pub(crate) fn adopt_orphans() -> bool {
    if ADOPTING.load(Ordering::Acquire) {
        return true;
    }
    #[cfg(target_os = "linux")]
    {
        let zero: libc::c_ulong = 0;
        // SAFETY: PR_SET_CHILD_SUBREAPER takes one integer and no pointers.
        let ok = unsafe {
            libc::prctl(
                libc::PR_SET_CHILD_SUBREAPER,
                1 as libc::c_ulong,
                zero,
                zero,
                zero,
            )
        } == 0;
        ADOPTING.store(ok, Ordering::Release);
        ok
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

/// Held while a worker is being spawned: [`end_strays`] waits for it, so a worker that exists
/// but is not registered yet (it is already in a process group of its own) is never taken for
/// a stray.
pub(crate) struct Spawning(MutexGuard<'static, BTreeSet<i32>>);

impl Spawning {
    /// Starts a spawn.
    pub(crate) fn begin() -> Self {
        Self(workers())
    }

    /// Records the spawned worker `pid` as alive.
    pub(crate) fn register(&mut self, pid: u32) {
        if let Ok(pid) = i32::try_from(pid) {
            self.0.insert(pid);
        }
    }
}

/// Records that worker `pid` has been reaped, then ends the strays outside kure's group.
pub(crate) fn worker_reaped(pid: u32) {
    if let Ok(pid) = i32::try_from(pid) {
        workers().remove(&pid);
    }
    end_strays(false);
}

/// The pids of this process's children, from `/proc/self/task/*/children` (orphans may be
/// re-parented to any thread of a subreaper), or, on a kernel without those files
/// (`CONFIG_PROC_CHILDREN`), from every process's parent in `/proc/PID/stat`.
#[cfg(target_os = "linux")]
fn children() -> Vec<i32> {
    let mut out = Vec::new();
    let mut listed = false;
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for task in tasks.flatten() {
            if let Ok(list) = std::fs::read_to_string(task.path().join("children")) {
                listed = true;
                out.extend(
                    list.split_ascii_whitespace()
                        .filter_map(|p| p.parse::<i32>().ok()),
                );
            }
        }
    }
    if !listed {
        let me = std::process::id().to_string();
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|p| p.parse::<i32>().ok())
            else {
                continue;
            };
            // The parent is the second field after the command name, which ends at the last ')'.
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            let parent = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1));
            if parent == Some(me.as_str()) {
                out.push(pid);
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Kills and reaps every child that is not a registered worker and (unless `every`) not in
/// this process's process group, until none is left (a stray may fork before the signal lands;
/// its children come back to kure). Returns how many it ended. Does nothing unless this
/// process adopts orphans.
pub(crate) fn end_strays(every: bool) -> usize {
    if !ADOPTING.load(Ordering::Acquire) {
        return 0;
    }
    #[cfg(target_os = "linux")]
    {
        let live = workers();
        // SAFETY: getpgrp takes nothing and cannot fail.
        let own_group = unsafe { libc::getpgrp() };
        let mut ended = 0;
        for _round in 0..64 {
            let strays: Vec<i32> = children()
                .into_iter()
                .filter(|pid| !live.contains(pid))
                // SAFETY: getpgid reads another process's group; a vanished pid gives -1.
                .filter(|pid| {
                    every || {
                        let group = unsafe { libc::getpgid(*pid) };
                        group >= 0 && group != own_group
                    }
                })
                .collect();
            if strays.is_empty() {
                break;
            }
            for pid in strays {
                // SAFETY: kill and waitpid on our own child, which is not reaped elsewhere:
                // registered workers are skipped and nothing else of kure starts processes
                // outside its process group.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                    let mut status = 0;
                    libc::waitpid(pid, &mut status, 0);
                }
                ended += 1;
            }
        }
        ended
    }
    #[cfg(not(target_os = "linux"))]
    {
        0
    }
}

/// At the end of kure's run: kills every worker still alive (its process group), reaps it,
/// and ends the strays it leaves behind.
pub(crate) fn end_all() {
    if !ADOPTING.load(Ordering::Acquire) {
        return;
    }
    let live: Vec<i32> = std::mem::take(&mut *workers()).into_iter().collect();
    for pid in live {
        // SAFETY: kill of the worker's group and waitpid on our own child; its `Child` handle
        // is not waited on any more (the process is ending).
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
            let mut status = 0;
            libc::waitpid(pid, &mut status, 0);
        }
    }
    end_strays(EVERY_CHILD.load(Ordering::Acquire));
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// Runs `check` in a forked child that stands in for kure (so that the test process does
    /// not become a subreaper); returns what it returned.
    fn in_stand_in(check: impl FnOnce() -> bool) -> bool {
        crate::util::forked::in_child(|| true, || if check() { 0 } else { 1 }) == 0
    }

    /// A "worker" forks a child that starts its own session and sleeps, then the worker dies:
    /// the child is re-parented to the subreaper, which ends it.
    #[test]
    fn a_stray_in_a_new_session_is_adopted_and_ended() {
        assert!(in_stand_in(|| {
            // SAFETY: fork, setpgid, setsid, sleep and _exit in the forked processes; the
            // stand-in waits for the worker it forked.
            unsafe {
                assert!(adopt_orphans());
                let mut spawn = Spawning::begin();
                let worker = libc::fork();
                if worker == 0 {
                    libc::setpgid(0, 0);
                    if libc::fork() == 0 {
                        libc::setsid();
                        libc::sleep(60);
                        libc::_exit(0);
                    }
                    libc::_exit(0);
                }
                spawn.register(worker as u32);
                drop(spawn);
                let mut status = 0;
                libc::waitpid(worker, &mut status, 0);
                // The stray's parent is gone: it is ours now, whatever its session.
                let mut adopted = Vec::new();
                for _ in 0..100 {
                    adopted = children();
                    if !adopted.is_empty() {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                worker_reaped(worker as u32);
                // Reaped: its pid is gone.
                adopted.len() == 1 && libc::kill(adopted[0], 0) != 0 && children().is_empty()
            }
        }));
    }

    #[test]
    fn children_in_our_own_group_are_not_strays() {
        assert!(in_stand_in(|| {
            // SAFETY: fork, sleep, kill and _exit on the stand-in's own child.
            unsafe {
                assert!(adopt_orphans());
                let helper = libc::fork();
                if helper == 0 {
                    libc::sleep(60);
                    libc::_exit(0);
                }
                let ended = end_strays(false);
                let alive = libc::kill(helper, 0) == 0;
                libc::kill(helper, libc::SIGKILL);
                ended == 0 && alive
            }
        }));
    }
}
