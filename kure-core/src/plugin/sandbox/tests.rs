//! The sandbox, tried from forked children: each refusal with a control that shows the attempt
//! works without it.

use super::*;
use std::io::{Read, Write};

const OPTS: SandboxOptions = SandboxOptions {
    memory_bytes: 2 << 30,
    cpu_seconds: 60,
    max_open_files: 256,
};

use crate::util::forked::{in_child, FAIL, PASS};

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
    apply(&OPTS).is_ok() && matches!(restrict_after_load(), Ok(Enforcement::Full))
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
        let clone =
            unsafe { libc::syscall(libc::SYS_clone, libc::SIGCHLD as libc::c_ulong, 0, 0, 0, 0) };
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
            let _t = std::thread::spawn(|| std::thread::sleep(std::time::Duration::from_secs(5)));
            match restrict_after_load() {
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
        let eperm = |r: io::Result<()>| r.err().and_then(|e| e.raw_os_error()) == Some(libc::EPERM);
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
            report.after_load = match restrict_after_load() {
                Ok(e) => e,
                Err(_) => return 41,
            };
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
    let helper = std::thread::spawn(|| std::thread::sleep(std::time::Duration::from_millis(200)));
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
    assert!(warnings[1].contains("seccomp") && warnings[1].contains("not enforced: no seccomp"));
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
    let seals = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE | libc::F_SEAL_SEAL;
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
        if !matches!(restrict_after_load(), Ok(Enforcement::Full)) {
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
