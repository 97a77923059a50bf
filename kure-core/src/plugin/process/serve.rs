//! The worker process (`kure __plugin-worker`): sandbox, handshake, load, then the frame loop,
//! under its own call watchdog.

use kure_plugin_api::abi::ErrorKind;
use std::collections::HashMap;
use std::io::{self, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kure_plugin_api::abi::ErrorPayload;

use kure_plugin_api::host::DynGenerator;

use super::wire::{self, BatchOp};
use crate::plugin::sandbox::{self, SandboxOptions};
use crate::trust::Admission;

use super::*;

/// What `kure __plugin-worker` was told on its command line.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Address-space limit in bytes.
    pub memory_bytes: u64,
    /// CPU-time limit in seconds.
    pub cpu_seconds: u64,
    /// Time limit of one plugin call.
    pub timeout: Duration,
    /// The library's original path: only named in messages, never opened.
    pub library: PathBuf,
}

/// The worker's call watchdog: plain atomics, readable from its thread and the exit hook.
pub(super) mod watch {
    use super::*;

    const DISARMED: u64 = u64::MAX;
    const FIRED: u64 = u64::MAX - 1;
    const NO_INDEX: usize = usize::MAX;

    /// The plugin calls the watchdog names, as indices into [`ENTRIES`].
    pub(super) const LOAD: usize = 0;
    pub(super) const INITIALIZE: usize = 1;
    pub(super) const HEALTH_CHECK: usize = 2;
    pub(super) const GENERATE: usize = 3;
    pub(super) const VALIDATE: usize = 4;
    pub(super) const JSON_SCHEMA: usize = 5;
    pub(super) const DOCUMENTATION: usize = 6;
    pub(super) const SHUTDOWN: usize = 7;

    static DEADLINE_MS: AtomicU64 = AtomicU64::new(DISARMED);
    static LIMIT_MS: AtomicU64 = AtomicU64::new(30_000);
    static ENTRY: AtomicUsize = AtomicUsize::new(0);
    static INDEX: AtomicUsize = AtomicUsize::new(NO_INDEX);

    /// Entry point names, indexed by [`ENTRY`] ([`LOAD`] ...).
    pub(super) const ENTRIES: [&str; 8] = [
        "loading the library",
        "initialize",
        "health_check",
        "generate",
        "validate",
        "json_schema",
        "documentation",
        "shutdown",
    ];

    use crate::plugin::contain::{now_ms, start};

    /// Whether a plugin call is running (for the exit hook).
    pub(super) fn in_call() -> bool {
        DEADLINE_MS.load(Ordering::Acquire) < FIRED
    }

    /// Runs `f` as plugin call `entry` ([`GENERATE`], ...) on app `index` of the frame.
    pub(super) fn guarded<R>(entry: usize, index: Option<usize>, f: impl FnOnce() -> R) -> R {
        ENTRY.store(entry, Ordering::Relaxed);
        INDEX.store(index.unwrap_or(NO_INDEX), Ordering::Relaxed);
        let limit = LIMIT_MS.load(Ordering::Relaxed);
        DEADLINE_MS.store(
            now_ms().saturating_add(limit).min(FIRED - 1),
            Ordering::Release,
        );
        let r = f();
        if DEADLINE_MS.swap(DISARMED, Ordering::AcqRel) == FIRED {
            // The watchdog owns the channel now and is about to end the process.
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
        r
    }

    /// Starts the watchdog thread (after the sandbox: it inherits it).
    pub(super) fn start_watchdog(limit: Duration) -> io::Result<()> {
        let limit_ms = u64::try_from(limit.as_millis())
            .unwrap_or(u64::MAX / 2)
            .max(1);
        LIMIT_MS.store(limit_ms, Ordering::Relaxed);
        start();
        let tick = Duration::from_millis((limit_ms / 10).clamp(5, 100));
        std::thread::Builder::new()
            .name("kure-worker-watchdog".into())
            .stack_size(64 << 10)
            .spawn(move || loop {
                std::thread::sleep(tick);
                let deadline = DEADLINE_MS.load(Ordering::Acquire);
                if deadline < FIRED
                    && now_ms() >= deadline
                    && DEADLINE_MS
                        .compare_exchange(deadline, FIRED, Ordering::AcqRel, Ordering::Acquire)
                        .is_ok()
                {
                    fire(limit_ms);
                }
            })
            .map(drop)
    }

    /// Tells the host which call ran out of time and ends the process. Formats into a stack
    /// buffer: a plugin thread may hold the allocator's lock.
    fn fire(limit_ms: u64) -> ! {
        let mut buf = [0u8; 256];
        let entry = ENTRIES
            .get(ENTRY.load(Ordering::Relaxed))
            .copied()
            .unwrap_or("a plugin call");
        let index = INDEX.load(Ordering::Relaxed);
        let len = {
            let mut cur = io::Cursor::new(&mut buf[4..]);
            let _ = if index == NO_INDEX {
                write!(
                    cur,
                    r#"{{"timeout":{{"entry":"{entry}","index":null,"limitMs":{limit_ms}}}}}"#
                )
            } else {
                write!(
                    cur,
                    r#"{{"timeout":{{"entry":"{entry}","index":{index},"limitMs":{limit_ms}}}}}"#
                )
            };
            cur.position() as usize
        };
        buf[..4].copy_from_slice(&(len as u32).to_le_bytes());
        raw_write(CHANNEL_FD, &buf[..4 + len]);
        // SAFETY: _exit ends the process at once; nothing of it is used afterwards.
        unsafe { libc::_exit(TIMEOUT_EXIT) }
    }
}

use crate::plugin::contain::raw_write;

/// Writes a line to the worker's stderr (the host's output pipe).
pub(super) fn worker_note(text: &str) {
    raw_write(2, format!("kure plugin worker: {text}\n").as_bytes());
}

pub(super) fn is_socket(fd: i32) -> bool {
    // SAFETY: fstat writes one `stat` into the valid, zeroed buffer.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        libc::fstat(fd, &mut st) == 0 && st.st_mode & libc::S_IFMT == libc::S_IFSOCK
    }
}

pub(super) fn fd_is_open(fd: i32) -> bool {
    // SAFETY: F_GETFD only reads the descriptor's flags.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

/// Whether `fd` is a memfd (its link in /proc names it so); read before the sandbox.
pub(super) fn is_memfd(fd: i32) -> bool {
    std::fs::read_link(format!("/proc/self/fd/{fd}"))
        .is_ok_and(|l| l.to_string_lossy().starts_with("/memfd:"))
}

/// Whether fd 3 is sealed against every change (write, grow, shrink).
#[cfg(target_os = "linux")]
pub(super) fn library_is_sealed() -> bool {
    let needed = libc::F_SEAL_WRITE | libc::F_SEAL_GROW | libc::F_SEAL_SHRINK;
    // SAFETY: F_GET_SEALS only reads the seals of the descriptor.
    let seals = unsafe { libc::fcntl(LIBRARY_FD, libc::F_GET_SEALS) };
    seals >= 0 && seals & needed == needed
}

/// No sealed memfds here: process isolation is Linux only.
#[cfg(not(target_os = "linux"))]
pub(super) fn library_is_sealed() -> bool {
    false
}

/// Points stdout and stderr at the output pipe (fd 5), closing fd 5.
pub(super) fn restore_output() -> io::Result<()> {
    // SAFETY: dup2 and close on descriptors this process owns; fd 5 was checked to be open.
    unsafe {
        if libc::dup2(OUTPUT_FD, 1) < 0 || libc::dup2(OUTPUT_FD, 2) < 0 {
            return Err(io::Error::last_os_error());
        }
        libc::close(OUTPUT_FD);
    }
    Ok(())
}

/// Closes stdout and stderr (the output pipe) for good.
pub(super) fn close_output() {
    // SAFETY: closes two descriptors this process owns; nothing uses them afterwards (a
    // late write fails with EBADF).
    unsafe {
        libc::close(1);
        libc::close(2);
    }
}

/// The fatal signals get their default action (exec already reset handlers; this also undoes
/// an inherited "ignore"): the worker must die of the real signal, which the host reports.
pub(super) fn default_fatal_signals() {
    for sig in crate::plugin::contain::FATAL_SIGNALS {
        // SAFETY: resets one signal's disposition to the default; no handler code involved.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
        }
    }
}

/// An `exit()` from plugin code during a call ends the worker with the plugin's status at once,
/// before any other exit handler (the plugin's own included) can run.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub(super) fn register_exit_hook() {
    extern "C" fn hook(status: libc::c_int, _arg: *mut libc::c_void) {
        if watch::in_call() {
            // SAFETY: _exit ends the process without running the remaining exit handlers.
            unsafe { libc::_exit(status) }
        }
    }
    crate::plugin::contain::on_exit(hook);
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(super) fn register_exit_hook() {}

/// Ends the worker process now, without running exit handlers or plugin destructors.
pub fn exit(code: i32) -> ! {
    // SAFETY: _exit ends the process; the worker has nothing buffered (frames are written
    // straight to the socket).
    unsafe { libc::_exit(code) }
}

/// Runs the worker (`kure __plugin-worker`): sandbox, handshake, load, then the frame loop.
/// Returns the exit status: 0 after `shutdown` or when the host went away, 1 when the plugin
/// could not be loaded (the host was told), 2 when started wrongly, 3 on a protocol error.
pub fn serve(opts: &ServeOptions) -> i32 {
    // A worker run by hand may find *something* open at 3 to 5: check what it is.
    if !(fd_is_open(OUTPUT_FD) && is_memfd(LIBRARY_FD) && is_socket(CHANNEL_FD)) {
        let _ = writeln!(
            crate::plugin::contain::stderr(),
            "error: `kure {WORKER_SUBCOMMAND}` is started by kure itself in process isolation mode, with a sealed plugin library on fd {LIBRARY_FD}, its channel on fd {CHANNEL_FD} and its output on fd {OUTPUT_FD}; it is not meant to be run by hand"
        );
        return 2;
    }
    if let Err(e) = restore_output() {
        worker_note(&format!(
            "cannot point stdout and stderr at the output pipe: {e}"
        ));
        return 2;
    }
    default_fatal_signals();
    register_exit_hook();
    // The worker's own watchdog enforces the limit; kure's in-process one never starts (the
    // worker must stay single-threaded until its sandbox is complete).
    crate::plugin::contain::without_watchdog();

    let lib = opts.library.display();

    // The sandbox comes first: nothing after this point can undo it.
    let report = sandbox::apply(&SandboxOptions {
        memory_bytes: opts.memory_bytes,
        cpu_seconds: opts.cpu_seconds,
        max_open_files: 64,
    });

    // SAFETY: fd 4 was checked to be open and belongs to nobody else in this process.
    let mut channel = UnixStream::from(unsafe { OwnedFd::from_raw_fd(CHANNEL_FD) });
    let hello: Hello = match recv(&mut channel) {
        Ok(h) => h,
        Err(e) => {
            worker_note(&format!("no valid handshake from kure: {e}"));
            return 3;
        }
    };
    let refuse = |channel: &mut UnixStream, error: ErrorPayload, details: Option<String>| {
        let _ = send(
            channel,
            &Refused {
                error,
                details,
                protocol: Some(PROTOCOL_VERSION),
                kure: Some(KURE_VERSION.to_owned()),
            },
        );
    };
    if hello.protocol != PROTOCOL_VERSION || hello.kure != KURE_VERSION {
        refuse(
            &mut channel,
            payload(ErrorKind::Protocol,
                format!(
                    "plugin {lib} (in process isolation): its worker is kure {KURE_VERSION} (worker protocol {PROTOCOL_VERSION}) but was started by kure {} (worker protocol {}); both must be the same build of kure",
                    crate::util::shown(&hello.kure),
                    hello.protocol
                ),
            ),
            None,
        );
        return 2;
    }
    // kure may start the worker while it still reads the library into the memfd; the
    // handshake says it is done. From here on the bytes can never change.
    if !library_is_sealed() {
        refuse(
            &mut channel,
            payload(ErrorKind::Protocol,
                format!("plugin {lib} (in process isolation): kure's handshake arrived but the library on fd {LIBRARY_FD} is not sealed against changes; nothing of it was loaded"),
            ),
            None,
        );
        return 2;
    }
    match report {
        Ok(_) => {}
        Err(e) => {
            refuse(
                &mut channel,
                payload(
                    ErrorKind::Sandbox,
                    format!("plugin {lib} (in process isolation) was not started: {e}"),
                ),
                None,
            );
            return 1;
        }
    }

    // The digest and admission were checked by the host; the worker only runs the bytes.
    // dlopen first: the library's constructors run inside the sandbox, and the dynamic loader
    // reads the libraries it links from the system library directories. The host's deadline
    // on the handshake bounds a constructor that never returns.
    let sealed = PathBuf::from(format!("/proc/self/fd/{LIBRARY_FD}"));
    let opened = match crate::plugin::load::open_sealed(&opts.library, &sealed) {
        Ok(o) => o,
        Err(e) => {
            let mut message = e.to_string();
            if matches!(e, crate::plugin::LoadError::Open { .. }) {
                message.push_str(&format!(
                    " (in process isolation the dynamic loader may read only the system library directories, {}: a library the plugin links from anywhere else cannot be loaded)",
                    sandbox::LIBRARY_DIRS.join(", ")
                ));
            }
            refuse(
                &mut channel,
                payload(ErrorKind::Load, message),
                e.details().map(str::to_owned),
            );
            return 1;
        }
    };
    // Then, before any plugin entry point runs and while the worker is still single-threaded,
    // nothing can be opened any more.
    if let Err(e) = sandbox::restrict_after_load() {
        refuse(
            &mut channel,
            payload(
                ErrorKind::Sandbox,
                format!("plugin {lib} (in process isolation) was not used: {e}"),
            ),
            None,
        );
        return 1;
    }
    if let Err(e) = watch::start_watchdog(opts.timeout) {
        refuse(
            &mut channel,
            payload(
                ErrorKind::Sandbox,
                format!("plugin {lib} (in process isolation) was not started: cannot start the worker's call watchdog: {e}"),
            ),
            None,
        );
        return 1;
    }
    let loaded = watch::guarded(watch::LOAD, None, || {
        crate::plugin::load::load_opened(&opts.library, opened, &[0u8; 32], Admission::Unsigned)
    });
    let loaded = match loaded {
        Ok(l) => l,
        Err(e) => {
            refuse(
                &mut channel,
                payload(ErrorKind::Load, e.to_string()),
                e.details().map(str::to_owned),
            );
            return 1;
        }
    };
    let generators: Generators = loaded
        .generators
        .iter()
        .map(|g| ((g.api_version().to_owned(), g.kind().to_owned()), g.clone()))
        .collect();
    let ready = Ready {
        protocol: PROTOCOL_VERSION,
        kure: KURE_VERSION.to_owned(),
        abi_info: loaded.abi_info.clone(),
        plugin: PluginInfo {
            name: loaded.name.clone(),
            version: loaded.version.clone(),
            description: loaded.description.clone(),
            author: loaded.author.clone(),
        },
        gvks: loaded
            .generators
            .iter()
            .map(|g| PluginGvk {
                api_version: g.api_version().to_owned(),
                kind: g.kind().to_owned(),
            })
            .collect(),
    };
    if send(&mut channel, &ready).is_err() {
        return 0;
    }

    loop {
        let frame = match read_frame(&mut channel, MAX_FRAME) {
            Ok(f) => f,
            Err(FrameError::Closed) => return 0,
            Err(e) => {
                worker_note(&format!("bad frame from kure: {e}"));
                return 3;
            }
        };
        let (reply, shutdown) = if frame.first() == Some(&wire::BATCH) {
            (answer_batch(&loaded, &generators, &frame), false)
        } else {
            match serde_json::from_slice::<Request<'_>>(&frame) {
                Ok(request) => {
                    let shutdown = matches!(request, Request::Shutdown);
                    (answer(&loaded, &generators, request), shutdown)
                }
                Err(e) => (
                    failure(payload(
                        ErrorKind::Protocol,
                        format!("the worker cannot read the request: {e}"),
                    )),
                    false,
                ),
            }
        };
        drop(frame);
        if shutdown {
            // Everything the plugin printed is in the output pipe now. Closing this end
            // before answering lets the host see the pipe's end without waiting for the
            // process to be torn down.
            close_output();
        }
        let sent = match write_frame(&mut channel, &reply) {
            Err(FrameError::TooLarge { len, .. }) => send(
                &mut channel,
                &Failure {
                    error: payload(
                        ErrorKind::TooLarge,
                        format!(
                            "the answer ({len} bytes) exceeds the {} MiB frame limit",
                            MAX_FRAME >> 20
                        ),
                    ),
                },
            ),
            other => other,
        };
        if sent.is_err() || shutdown {
            return 0;
        }
    }
}

pub(super) fn micros(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX)
}

pub(super) type Generators = HashMap<(String, String), Arc<dyn DynGenerator>>;

/// The generator of a GVK, or the failure that answers a request for one the plugin lacks.
pub(super) fn find<'g>(
    loaded: &crate::plugin::LoadedPlugin,
    generators: &'g Generators,
    api_version: &str,
    kind: &str,
) -> Result<&'g Arc<dyn DynGenerator>, Failure> {
    generators
        .get(&(api_version.to_owned(), kind.to_owned()))
        .ok_or_else(|| Failure {
            error: payload(
                ErrorKind::Protocol,
                format!(
                    "plugin {}@{} has no generator for {}/{}",
                    loaded.name,
                    loaded.version,
                    crate::util::shown(api_version),
                    crate::util::shown(kind)
                ),
            ),
        })
}

/// The JSON frame of a request that failed as a whole (the worker is fine).
pub(super) fn failure(error: ErrorPayload) -> Vec<u8> {
    serde_json::to_vec(&Failure { error }).unwrap_or_default()
}

/// Runs one batch request ([`wire`]): each app in turn, each call under the watchdog; the
/// batch answer, or a JSON failure when the request as a whole is unusable.
pub(super) fn answer_batch(
    loaded: &crate::plugin::LoadedPlugin,
    generators: &Generators,
    frame: &[u8],
) -> Vec<u8> {
    let request = match wire::decode_request(frame) {
        Ok(r) => r,
        Err(e) => {
            return failure(payload(
                ErrorKind::Protocol,
                format!("the worker cannot read the request: {e}"),
            ))
        }
    };
    let g = match find(loaded, generators, request.api_version, request.kind) {
        Ok(g) => g,
        Err(f) => return failure(f.error),
    };
    // Each app in turn, as text, under the watchdog as entry point `entry`.
    let each = |entry: usize, call: &dyn Fn(&str) -> Result<String, ErrorPayload>| {
        let results: Vec<Result<String, ErrorPayload>> = request
            .items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let t = std::str::from_utf8(item).map_err(|_| {
                    payload(
                        ErrorKind::Protocol,
                        format!("app {i} of the request is not UTF-8"),
                    )
                })?;
                watch::guarded(entry, Some(i), || call(t))
            })
            .collect();
        wire::encode_answer(&results)
    };
    match request.op {
        BatchOp::Generate => each(watch::GENERATE, &|t| g.generate_json(t)),
        BatchOp::Validate => each(watch::VALIDATE, &|t| {
            g.validate_json(t).map(|()| String::new())
        }),
    }
}

/// Runs one JSON request; the JSON of the response frame.
pub(super) fn answer(
    loaded: &crate::plugin::LoadedPlugin,
    generators: &Generators,
    request: Request<'_>,
) -> Vec<u8> {
    let find = |api_version: &str, kind: &str| find(loaded, generators, api_version, kind);
    let encoded = match request {
        Request::Schema { api_version, kind } => find(&api_version, &kind).map(|g| {
            serde_json::to_vec(&Outcome::from(watch::guarded(
                watch::JSON_SCHEMA,
                None,
                || g.json_schema(),
            )))
        }),
        Request::Docs { api_version, kind } => find(&api_version, &kind).map(|g| {
            serde_json::to_vec(&Outcome::from(watch::guarded(
                watch::DOCUMENTATION,
                None,
                || g.documentation(),
            )))
        }),
        Request::Initialize => {
            let t = Instant::now();
            let r = watch::guarded(watch::INITIALIZE, None, || loaded.initialize());
            let o: Outcome<InitTimings> = match r {
                Ok(()) => Outcome::Ok(InitTimings {
                    initialize_us: micros(t),
                }),
                Err(m) => Outcome::Err(payload(
                    ErrorKind::Initialize,
                    format!(
                        "plugin {}@{} failed to start: {m}",
                        loaded.name, loaded.version
                    ),
                )),
            };
            Ok(serde_json::to_vec(&o))
        }
        Request::Health => {
            let t = Instant::now();
            let r = watch::guarded(watch::HEALTH_CHECK, None, || loaded.health_check());
            let o: Outcome<HealthTimings> = match r {
                Ok(()) => Outcome::Ok(HealthTimings {
                    health_check_us: micros(t),
                }),
                Err(m) => Outcome::Err(payload(ErrorKind::HealthCheck, m)),
            };
            Ok(serde_json::to_vec(&o))
        }
        Request::Shutdown => {
            watch::guarded(watch::SHUTDOWN, None, || loaded.shutdown());
            Ok(serde_json::to_vec(&Outcome::<()>::Ok(())))
        }
    };
    match encoded {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) => serde_json::to_vec(&Failure {
            error: payload(
                ErrorKind::Internal,
                format!("the worker cannot encode its answer: {e}"),
            ),
        })
        .unwrap_or_default(),
        Err(failure) => serde_json::to_vec(&failure).unwrap_or_default(),
    }
}
