//! Process isolation: a plugin runs in a sandboxed worker process, `kure __plugin-worker`, and
//! the host talks to it over a socket with the same payloads the ABI carries.
//!
//! # Starting a worker (host side, [`WorkerPlugin::start`] and [`WorkerPlugin::spawn`])
//!
//! The trust checks are the same as in-process. The host reads the library once into a memfd
//! ([`super::Staging`]), re-executes its own binary (`/proc/self/exe`, so a binary replaced on
//! disk meanwhile is not what runs) with the hidden subcommand `__plugin-worker`, and only then
//! seals, hashes and admits the bytes: starting the process (exec, sandbox) overlaps reading and
//! checking the library. The worker touches the library only after the handshake, which the
//! host sends once every check passed; the worker then refuses a memfd that is not sealed
//! against every change. The worker gets:
//!
//! - fd 3: the memfd holding the library (the worker loads `/proc/self/fd/3`, never the
//!   library's path; the path is only passed to name the library in messages);
//! - fd 4: the worker's end of a `UnixStream` pair, the frame channel;
//! - fd 5, stdout and stderr: one pipe the host drains on a thread, keeping the last 64 KiB
//!   ([`WorkerPlugin::output`]);
//! - stdin `/dev/null`, an empty environment, working directory `/`, a session of its own (so
//!   its own process group, and no controlling terminal) and `PR_SET_PDEATHSIG(SIGKILL)`
//!   ([`sandbox::child_pre_exec`]). Workers are spawned from one
//!   long-lived thread, because the death signal follows the spawning *thread*; the caller
//!   does not wait for the spawn.
//!
//! One plugin may have several workers ([`WorkerOptions::pool`]): each thread calling it at
//! the same time gets its own, started on first need.
//!
//! # The worker ([`serve`])
//!
//! `main` sends it here before anything else (it parses only its own arguments and reads no
//! configuration). It checks fds 3 to 5, puts the fatal signals back to their default action (so
//! the host sees the real signal), applies [`sandbox::apply`] while still single-threaded (memory
//! and CPU limits from `--memory` and `--cpu`, 64 files, no capabilities, Landlock, seccomp),
//! waits for the handshake and checks that the library is sealed. Only then does it `dlopen` the
//! library (`host::open_sealed`: its constructors run inside the sandbox), tighten the sandbox
//! so that nothing can be opened any more ([`sandbox::restrict_after_load`]), start its call
//! watchdog, and run the library's entry points with the same ABI, metadata and registration
//! checks as in-process (`host::load_opened`), and answer the handshake.
//!
//! # Frames
//!
//! Every message is a frame: a `u32` little-endian length, then that many bytes. A frame is
//! at most [`MAX_FRAME`] (256 MiB); a longer length is a protocol error. A frame holds JSON,
//! except the `generate` and `validate` batches, whose binary layout ([`super::wire`]) carries
//! each app's JSON as it is, unescaped.
//!
//! ## Handshake
//!
//! host: `{"protocol": 3, "kure": "<kure version>"}`
//!
//! worker: `{"protocol": 3, "kure": "<version>", "abiInfo": {..AbiInfo..}, "plugin": {"name",
//! "version", "description", "author"}, "gvks": [{"apiVersion", "kind"}]}`, or `{"error":
//! ErrorPayload, "details"?: "...", "protocol"?, "kure"?}` when the library cannot be loaded or
//! registered (the message is the in-process one) or the versions differ. A protocol or kure
//! version mismatch is refused on both sides, naming both versions. The worker does not report
//! what its sandbox enforces: plugin code has run in it by then, so kure computes that itself
//! ([`sandbox::expected_report`]).
//!
//! ## Requests, one response each
//!
//! | request | response |
//! |---|---|
//! | batch `generate` of N request JSONs ([`super::wire`]) | batch answer: per app the objects JSON array, or an ErrorPayload |
//! | batch `validate` of N spec JSONs | batch answer: per app nothing, or an ErrorPayload |
//! | `{"op":"schema","apiVersion","kind"}` | `{"ok": <JSON Schema>}` \| `{"err":ErrorPayload}` |
//! | `{"op":"docs","apiVersion","kind"}` | `{"ok": {"documentation","examples","usageGuide"}}` \| `{"err":ErrorPayload}` |
//! | `{"op":"initialize"}` | `{"ok":{"initializeUs":N}}` \| `{"err":ErrorPayload}` (initialize and the first health_check, once) |
//! | `{"op":"health"}` | `{"ok":{"healthCheckUs":N}}` \| `{"err":ErrorPayload}` |
//! | `{"op":"shutdown"}` | `{"ok":null}` (the worker closes its output first), then it exits 0 |
//!
//! Any request can instead be answered `{"error":ErrorPayload}` (an unknown GVK, a malformed
//! request, results too large for one frame): the request failed, the worker is fine.
//!
//! Many apps travel in one `generate` frame: that is what keeps the per-app cost low.
//!
//! ## Time limits
//!
//! The worker arms a deadline around every plugin call ([`crate::plugin::contain::timeout`] on the host
//! when the worker starts). When a call outlives it, the worker's watchdog sends
//! `{"timeout":{"entry","index","limitMs"}}` (`index`: the app within the frame) and exits 124.
//! The host also keeps a backstop deadline per frame and kills the worker's process group
//! (SIGKILL) when it passes.
//!
//! # Failures
//!
//! A worker that crashes, exits, times out or breaks the protocol is killed (its whole process
//! group) and reaped; the call returns one paragraph naming `plugin NAME@VERSION`, `in process
//! isolation`, what happened (signal, exit status, the memory or CPU limit, the time limit) and
//! the operation, as an [`ErrorPayload`] of kind `worker-crashed`, `worker-timeout` or
//! `protocol`. kure itself carries on. When a worker dies during a batch, the host restarts it
//! (at most [`WorkerOptions::max_restarts`] times per plugin) and retries the apps of that batch
//! one at a time, so the results say exactly which apps failed; apps left when the restart
//! budget is spent get an error saying they were not attempted.
#![allow(unsafe_code)]

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use kure_plugin_api::abi::{AbiInfo, ErrorPayload};

use crate::plugin::host::json_text;
use kure_plugin_api::sdk::{Documentation, DynGenerator};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::sandbox::{self, SandboxOptions};
use super::wire::{self, BatchOp};
use super::{Sealed, Staging};
use crate::trust::{Admission, TrustPolicy};

/// The version of the frame protocol this kure speaks.
pub const PROTOCOL_VERSION: u32 = 3;

/// The kure version both ends of the channel must share.
pub const KURE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The largest frame either side accepts (256 MiB).
pub const MAX_FRAME: usize = 256 << 20;

/// Default address-space limit of a worker (2 GiB).
pub const DEFAULT_MEMORY_BYTES: u64 = 2 << 30;

/// Default CPU-time limit of a worker, over its whole life (10 minutes).
pub const DEFAULT_CPU_SECONDS: u64 = 600;

/// Default number of restarts of one plugin's worker per run.
pub const DEFAULT_MAX_RESTARTS: u32 = 3;

/// The hidden subcommand that runs a worker.
pub const WORKER_SUBCOMMAND: &str = "__plugin-worker";

/// The fd the worker finds the sealed library at.
const LIBRARY_FD: i32 = 3;
/// The fd of the worker's end of the frame channel.
const CHANNEL_FD: i32 = 4;
/// The fd of the output pipe (also the worker's initial stdout and stderr).
const OUTPUT_FD: i32 = 5;
/// How much of a worker's output the host keeps.
const OUTPUT_TAIL: usize = 64 << 10;
/// The worker's exit status after its watchdog ended an overlong call.
const TIMEOUT_EXIT: i32 = 124;
/// Requests of one frame are kept below this many bytes; larger batches are split.
const BATCH_BYTES: usize = 64 << 20;

// ---------------------------------------------------------------------------------------------
// Frames
// ---------------------------------------------------------------------------------------------

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The peer closed the channel between frames.
    #[error("the channel was closed")]
    Closed,
    /// The channel ended inside a frame.
    #[error("the channel ended inside a frame ({got} of {expected} bytes)")]
    Truncated {
        /// Bytes expected (the header's 4, or the announced length).
        expected: usize,
        /// Bytes received.
        got: usize,
    },
    /// A frame longer than [`MAX_FRAME`] was announced or about to be sent.
    #[error("a frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// The announced length.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// The deadline passed.
    #[error("no frame within the time limit")]
    TimedOut,
    /// A frame's JSON could not be decoded or encoded.
    #[error("invalid JSON in a frame: {0}")]
    Json(#[from] serde_json::Error),
    /// The channel failed.
    #[error("the channel failed: {0}")]
    Io(#[source] io::Error),
}

fn frame_io(e: io::Error) -> FrameError {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => FrameError::TimedOut,
        _ => FrameError::Io(e),
    }
}

/// Writes one frame: the length (`u32`, little endian), then `body`.
pub fn write_frame(w: &mut impl Write, body: &[u8]) -> Result<(), FrameError> {
    let len = u32::try_from(body.len())
        .ok()
        .filter(|_| body.len() <= MAX_FRAME)
        .ok_or(FrameError::TooLarge {
            len: body.len() as u64,
            max: MAX_FRAME,
        })?;
    w.write_all(&len.to_le_bytes()).map_err(frame_io)?;
    w.write_all(body).map_err(frame_io)?;
    w.flush().map_err(frame_io)
}

/// Reads until `buf` is full; returns how much was read before the end of the stream.
fn fill(r: &mut impl Read, buf: &mut [u8]) -> Result<usize, FrameError> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(frame_io(e)),
        }
    }
    Ok(got)
}

/// Reads one frame of at most `max` bytes.
pub fn read_frame(r: &mut impl Read, max: usize) -> Result<Vec<u8>, FrameError> {
    let mut header = [0u8; 4];
    match fill(r, &mut header)? {
        0 => return Err(FrameError::Closed),
        4 => {}
        got => return Err(FrameError::Truncated { expected: 4, got }),
    }
    let len = u32::from_le_bytes(header);
    let len = usize::try_from(len)
        .ok()
        .filter(|l| *l <= max)
        .ok_or(FrameError::TooLarge {
            len: u64::from(len),
            max,
        })?;
    let mut body = vec![0u8; len];
    let got = fill(r, &mut body)?;
    if got < len {
        return Err(FrameError::Truncated { expected: len, got });
    }
    Ok(body)
}

/// Encodes `msg` as JSON and writes it as one frame.
pub fn send<T: Serialize>(w: &mut impl Write, msg: &T) -> Result<(), FrameError> {
    write_frame(w, &serde_json::to_vec(msg)?)
}

/// Reads one frame and decodes its JSON.
pub fn recv<T: serde::de::DeserializeOwned>(r: &mut impl Read) -> Result<T, FrameError> {
    Ok(serde_json::from_slice(&read_frame(r, MAX_FRAME)?)?)
}

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

/// The host's first frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Hello {
    protocol: u32,
    kure: String,
}

/// A plugin's metadata, as the worker reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginInfo {
    /// Plugin name.
    pub name: String,
    /// Plugin version (semver).
    pub version: String,
    /// One line about what it generates.
    pub description: String,
    /// Who wrote it.
    pub author: String,
}

/// A GVK a plugin registered a generator for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginGvk {
    /// `group/version`.
    pub api_version: String,
    /// The kind.
    pub kind: String,
}

/// The worker's answer to the handshake when the plugin is loaded.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Ready {
    protocol: u32,
    kure: String,
    abi_info: AbiInfo,
    plugin: PluginInfo,
    gvks: Vec<PluginGvk>,
}

/// The worker's answer to the handshake when it cannot serve.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Refused {
    error: ErrorPayload,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    details: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    protocol: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kure: Option<String>,
}

/// One request of the host.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase", rename_all_fields = "camelCase")]
enum Request<'a> {
    Schema {
        api_version: Cow<'a, str>,
        kind: Cow<'a, str>,
    },
    Docs {
        api_version: Cow<'a, str>,
        kind: Cow<'a, str>,
    },
    Initialize,
    Health,
    Shutdown,
}

/// `{"ok": T}` or `{"err": ErrorPayload}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Outcome<T> {
    Ok(T),
    Err(ErrorPayload),
}

impl<T> From<Result<T, ErrorPayload>> for Outcome<T> {
    fn from(r: Result<T, ErrorPayload>) -> Self {
        match r {
            Ok(v) => Outcome::Ok(v),
            Err(e) => Outcome::Err(e),
        }
    }
}

impl<T> From<Outcome<T>> for Result<T, ErrorPayload> {
    fn from(o: Outcome<T>) -> Self {
        match o {
            Outcome::Ok(v) => Ok(v),
            Outcome::Err(e) => Err(e),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Failure {
    error: ErrorPayload,
}

/// How long `initialize` (with its first `health_check`) took in the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitTimings {
    /// Microseconds.
    pub initialize_us: u64,
}

/// How long a `health_check` took in the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthTimings {
    /// Microseconds.
    pub health_check_us: u64,
}

fn payload(kind: &str, message: String) -> ErrorPayload {
    ErrorPayload {
        kind: kind.to_owned(),
        message,
        issues: Vec::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// Worker side
// ---------------------------------------------------------------------------------------------

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
mod watch {
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

    fn start() -> Instant {
        static START: OnceLock<Instant> = OnceLock::new();
        *START.get_or_init(Instant::now)
    }

    fn now_ms() -> u64 {
        u64::try_from(start().elapsed().as_millis()).unwrap_or(u64::MAX - 2)
    }

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
fn worker_note(text: &str) {
    raw_write(2, format!("kure plugin worker: {text}\n").as_bytes());
}

fn is_socket(fd: i32) -> bool {
    // SAFETY: fstat writes one `stat` into the valid, zeroed buffer.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        libc::fstat(fd, &mut st) == 0 && st.st_mode & libc::S_IFMT == libc::S_IFSOCK
    }
}

fn fd_is_open(fd: i32) -> bool {
    // SAFETY: F_GETFD only reads the descriptor's flags.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

/// Whether `fd` is a memfd (its link in /proc names it so); read before the sandbox.
fn is_memfd(fd: i32) -> bool {
    std::fs::read_link(format!("/proc/self/fd/{fd}"))
        .is_ok_and(|l| l.to_string_lossy().starts_with("/memfd:"))
}

/// Whether fd 3 is sealed against every change (write, grow, shrink).
#[cfg(target_os = "linux")]
fn library_is_sealed() -> bool {
    let needed = libc::F_SEAL_WRITE | libc::F_SEAL_GROW | libc::F_SEAL_SHRINK;
    // SAFETY: F_GET_SEALS only reads the seals of the descriptor.
    let seals = unsafe { libc::fcntl(LIBRARY_FD, libc::F_GET_SEALS) };
    seals >= 0 && seals & needed == needed
}

/// No sealed memfds here: process isolation is Linux only.
#[cfg(not(target_os = "linux"))]
fn library_is_sealed() -> bool {
    false
}

/// Points stdout and stderr at the output pipe (fd 5), closing fd 5.
fn restore_output() -> io::Result<()> {
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
fn close_output() {
    // SAFETY: closes two descriptors this process owns; nothing uses them afterwards (a
    // late write fails with EBADF).
    unsafe {
        libc::close(1);
        libc::close(2);
    }
}

/// The fatal signals get their default action (exec already reset handlers; this also undoes
/// an inherited "ignore"): the worker must die of the real signal, which the host reports.
fn default_fatal_signals() {
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
fn register_exit_hook() {
    extern "C" fn hook(status: libc::c_int, _arg: *mut libc::c_void) {
        if watch::in_call() {
            // SAFETY: _exit ends the process without running the remaining exit handlers.
            unsafe { libc::_exit(status) }
        }
    }
    crate::plugin::contain::on_exit(hook);
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn register_exit_hook() {}

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
            payload(
                "protocol",
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
            payload(
                "protocol",
                format!("plugin {lib} (in process isolation): kure's handshake arrived but the library on fd {LIBRARY_FD} is not sealed against changes; nothing of it was loaded"),
            ),
            None,
        );
        return 2;
    }
    let mut report = match report {
        Ok(r) => r,
        Err(e) => {
            refuse(
                &mut channel,
                payload(
                    "sandbox",
                    format!("plugin {lib} (in process isolation) was not started: {e}"),
                ),
                None,
            );
            return 1;
        }
    };

    // The digest and admission were checked by the host; the worker only runs the bytes.
    // dlopen first: the library's constructors run inside the sandbox, and the dynamic loader
    // reads the libraries it links from the system library directories. The host's deadline
    // on the handshake bounds a constructor that never returns.
    let sealed = PathBuf::from(format!("/proc/self/fd/{LIBRARY_FD}"));
    let opened = match super::host::open_sealed(&opts.library, &sealed) {
        Ok(o) => o,
        Err(e) => {
            let mut message = e.to_string();
            if matches!(e, super::LoadError::Open { .. }) {
                message.push_str(&format!(
                    " (in process isolation the dynamic loader may read only the system library directories, {}: a library the plugin links from anywhere else cannot be loaded)",
                    sandbox::LIBRARY_DIRS.join(", ")
                ));
            }
            refuse(
                &mut channel,
                payload("load", message),
                e.details().map(str::to_owned),
            );
            return 1;
        }
    };
    // Then, before any plugin entry point runs and while the worker is still single-threaded,
    // nothing can be opened any more.
    if let Err(e) = sandbox::restrict_after_load(&mut report) {
        refuse(
            &mut channel,
            payload(
                "sandbox",
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
                "sandbox",
                format!("plugin {lib} (in process isolation) was not started: cannot start the worker's call watchdog: {e}"),
            ),
            None,
        );
        return 1;
    }
    let loaded = watch::guarded(watch::LOAD, None, || {
        super::host::load_opened(&opts.library, opened, &[0u8; 32], Admission::Unsigned)
    });
    let loaded = match loaded {
        Ok(l) => l,
        Err(e) => {
            refuse(
                &mut channel,
                payload("load", e.to_string()),
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
                        "protocol",
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
                        "too-large",
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

fn micros(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX)
}

type Generators = HashMap<(String, String), Arc<dyn DynGenerator>>;

/// The generator of a GVK, or the failure that answers a request for one the plugin lacks.
fn find<'g>(
    loaded: &super::LoadedPlugin,
    generators: &'g Generators,
    api_version: &str,
    kind: &str,
) -> Result<&'g Arc<dyn DynGenerator>, Failure> {
    generators
        .get(&(api_version.to_owned(), kind.to_owned()))
        .ok_or_else(|| Failure {
            error: payload(
                "protocol",
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
fn failure(error: ErrorPayload) -> Vec<u8> {
    serde_json::to_vec(&Failure { error }).unwrap_or_default()
}

/// Runs one batch request ([`wire`]): each app in turn, each call under the watchdog; the
/// batch answer, or a JSON failure when the request as a whole is unusable.
fn answer_batch(loaded: &super::LoadedPlugin, generators: &Generators, frame: &[u8]) -> Vec<u8> {
    let request = match wire::decode_request(frame) {
        Ok(r) => r,
        Err(e) => {
            return failure(payload(
                "protocol",
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
                    payload("protocol", format!("app {i} of the request is not UTF-8"))
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
fn answer(loaded: &super::LoadedPlugin, generators: &Generators, request: Request<'_>) -> Vec<u8> {
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
                    "initialize",
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
                Err(m) => Outcome::Err(payload("health", m)),
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
                "internal",
                format!("the worker cannot encode its answer: {e}"),
            ),
        })
        .unwrap_or_default(),
        Err(failure) => serde_json::to_vec(&failure).unwrap_or_default(),
    }
}

// ---------------------------------------------------------------------------------------------
// Host side
// ---------------------------------------------------------------------------------------------

/// How the host runs a plugin's workers.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// The kure binary to run as the worker. `None`: this process's own executable
    /// (`/proc/self/exe`). Tests point it at a built `kure`.
    pub exe: Option<PathBuf>,
    /// Address-space limit of the worker (`RLIMIT_AS`), bytes.
    pub memory_bytes: u64,
    /// CPU-time limit of the worker over its whole life (`RLIMIT_CPU`), seconds.
    pub cpu_seconds: u64,
    /// Time limit of one plugin call. `None`: [`crate::plugin::contain::timeout`] when the worker
    /// starts.
    pub timeout: Option<Duration>,
    /// How often one plugin's worker is restarted after it died, per run.
    pub max_restarts: u32,
    /// How many worker processes one plugin may have at once, one per thread calling it
    /// concurrently; each starts on first need.
    pub pool: usize,
    /// Write each sandbox warning as one `warning:` line to kure's stderr when the plugin's
    /// first worker starts. The warnings are also in [`WorkerPlugin::sandbox_warnings`].
    pub print_sandbox_warnings: bool,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self {
            exe: None,
            memory_bytes: DEFAULT_MEMORY_BYTES,
            cpu_seconds: DEFAULT_CPU_SECONDS,
            timeout: None,
            max_restarts: DEFAULT_MAX_RESTARTS,
            pool: std::thread::available_parallelism().map_or(1, |n| n.get()),
            print_sandbox_warnings: true,
        }
    }
}

/// Why a plugin's worker could not be started.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// Reading or admitting the library failed ([`WorkerPlugin::spawn_file`]).
    #[error(transparent)]
    Load(#[from] super::LoadError),
    /// The sealed memfd could not be made.
    #[error("plugin {} (in process isolation): cannot stage the library for its worker: {reason}", path.display())]
    Stage {
        /// The library.
        path: PathBuf,
        /// The OS error (in the message; not a separate cause, so it is shown once).
        reason: io::Error,
    },
    /// The worker process could not be started.
    #[error("plugin {} (in process isolation): cannot start its worker `{} {WORKER_SUBCOMMAND}`: {reason}", path.display(), exe.display())]
    Spawn {
        /// The library.
        path: PathBuf,
        /// The kure binary.
        exe: PathBuf,
        /// The OS error (in the message; not a separate cause, so it is shown once).
        reason: io::Error,
    },
    /// The worker refused to serve: the library could not be loaded or registered (the same
    /// message as in-process), the sandbox could not be applied, or the versions differ.
    #[error("{}", error.message)]
    Refused {
        /// The library.
        path: PathBuf,
        /// What the worker said.
        error: ErrorPayload,
        /// A long report for `--verbose` (abi_stable's layout report).
        details: Option<String>,
    },
    /// The worker crashed, timed out or broke the protocol while starting.
    #[error("{}", error.message)]
    Failed {
        /// The library.
        path: PathBuf,
        /// The paragraph (kind `worker-crashed`, `worker-timeout` or `protocol`).
        error: ErrorPayload,
    },
}

impl WorkerError {
    /// The long report for `--verbose`, if any.
    pub fn details(&self) -> Option<&str> {
        match self {
            WorkerError::Load(e) => e.details(),
            WorkerError::Refused { details, .. } => details.as_deref(),
            _ => None,
        }
    }
}

/// Why an exchange with a worker failed; the worker is then ended.
#[derive(Debug)]
enum Trouble {
    /// The channel closed or failed: the worker died (or closed it).
    Gone,
    /// The host's backstop deadline for the frame passed.
    HostTimeout(Duration),
    /// The worker's watchdog ended a plugin call.
    WorkerTimeout { entry: String, index: Option<usize> },
    /// The worker sent something that is not the protocol.
    Protocol(String),
}

/// A failed request: the paragraph, the app it concerns within the frame (when known), and
/// whether the request reached a worker at all.
#[derive(Debug)]
struct Failed {
    payload: ErrorPayload,
    index: Option<usize>,
    attempted: bool,
}

/// One running worker process.
struct Proc {
    child: Child,
    pid: i32,
    channel: UnixStream,
    initialized: bool,
    /// What this process printed (its plugin's record holds every process's).
    own: Arc<OutputTail>,
    reaped: bool,
}

impl Proc {
    /// Kills the worker's process group and reaps the worker.
    fn end(&mut self) -> io::Result<ExitStatus> {
        kill_group(self.pid);
        let status = self.child.wait();
        self.reaped = true;
        super::reap::worker_reaped(self.child.id());
        status
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = self.end();
        }
    }
}

/// Reaps an ended worker on a thread of its own. If no thread can be started, the closure is
/// dropped, and the worker with it ([`Proc`]'s `Drop` kills and reaps it inline).
fn reap_in_background(mut proc: Proc) {
    let _ = std::thread::Builder::new()
        .name("kure-worker-reaper".into())
        .spawn(move || {
            let _ = proc.end();
        });
}

/// Signals the worker's process group (the worker leads it: `setpgid(0, 0)` before exec). Only
/// called before the worker is reaped, so the group id cannot have been reused.
fn kill_group(pid: i32) {
    if pid > 0 {
        // SAFETY: kill(2) with a negative pid signals one process group; no memory involved.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
}

/// Whether the worker has exited, without reaping it (`WNOWAIT`).
#[cfg(target_os = "linux")]
fn has_exited(pid: i32) -> bool {
    // SAFETY: siginfo_t is plain data; all-zero is a valid value.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: waitid on our own child, writing into the valid `info`.
    let r = unsafe {
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    // SAFETY: waitid filled `info` (or left it zeroed); si_pid reads a plain integer.
    r < 0 || unsafe { info.si_pid() } != 0
}

/// Process isolation is Linux only; elsewhere a dead worker is noticed by its channel.
#[cfg(not(target_os = "linux"))]
fn has_exited(_pid: i32) -> bool {
    false
}

/// Whether the worker exits within `limit`, without reaping it. A worker that was told to stop
/// exits within a fraction of a millisecond, so the polling starts fine and backs off.
fn exits_within(pid: i32, limit: Duration) -> bool {
    let until = Instant::now() + limit;
    let mut pause = Duration::from_micros(50);
    loop {
        if has_exited(pid) {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(5));
    }
}

/// The channel with a deadline on every read and write. Reads wake up every 200 ms to check
/// that the worker is still alive: a process the plugin forked may hold the worker's end of
/// the channel open after the worker died.
struct Deadline<'a> {
    stream: &'a UnixStream,
    until: Instant,
    pid: i32,
}

impl Deadline<'_> {
    fn remaining(&self) -> io::Result<Duration> {
        let left = self.until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(io::ErrorKind::TimedOut.into())
        } else {
            Ok(left.max(Duration::from_millis(1)))
        }
    }
}

impl Read for Deadline<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let slice = self.remaining()?.min(Duration::from_millis(200));
            self.stream.set_read_timeout(Some(slice))?;
            match (&*self.stream).read(buf) {
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    if has_exited(self.pid) {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                }
                other => return other,
            }
        }
    }
}

impl Write for Deadline<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.set_write_timeout(Some(self.remaining()?))?;
        (&*self.stream).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A worker's answer: a JSON message, or a batch answer ([`wire`]).
enum Answer {
    Json(Value),
    Batch(Vec<u8>),
}

impl Answer {
    /// The JSON message; a batch answer where one was not asked for is a protocol error.
    fn json(self) -> Result<Value, Trouble> {
        match self {
            Answer::Json(v) => Ok(v),
            Answer::Batch(_) => Err(Trouble::Protocol(
                "a batch answer to a request that was not a batch".to_owned(),
            )),
        }
    }
}

fn exchange(
    proc: &mut Proc,
    body: &[u8],
    calls: usize,
    limit: Duration,
) -> Result<Answer, Trouble> {
    let factor = u32::try_from(calls.saturating_add(1)).unwrap_or(u32::MAX);
    let backstop = limit
        .checked_mul(factor)
        .and_then(|d| d.checked_add(Duration::from_secs(5)))
        .unwrap_or(Duration::from_secs(365 * 86_400));
    let until = Instant::now()
        .checked_add(backstop)
        .unwrap_or_else(|| Instant::now() + Duration::from_secs(365 * 86_400));
    let mut io = Deadline {
        stream: &proc.channel,
        until,
        pid: proc.pid,
    };
    let classify = |e: FrameError| match e {
        FrameError::TimedOut => Trouble::HostTimeout(backstop),
        FrameError::TooLarge { .. } | FrameError::Json(_) => Trouble::Protocol(e.to_string()),
        FrameError::Closed | FrameError::Truncated { .. } | FrameError::Io(_) => Trouble::Gone,
    };
    write_frame(&mut io, body).map_err(classify)?;
    let frame = read_frame(&mut io, MAX_FRAME).map_err(classify)?;
    if frame.first() == Some(&wire::BATCH) {
        return Ok(Answer::Batch(frame));
    }
    let value: Value = serde_json::from_slice(&frame)
        .map_err(|e| Trouble::Protocol(format!("an answer is not JSON ({e})")))?;
    if let Some(t) = value.get("timeout") {
        return Err(Trouble::WorkerTimeout {
            entry: t
                .get("entry")
                .and_then(Value::as_str)
                .map_or_else(|| "a plugin call".to_owned(), crate::util::shown),
            index: t
                .get("index")
                .and_then(Value::as_u64)
                .and_then(|i| usize::try_from(i).ok()),
        });
    }
    Ok(Answer::Json(value))
}

/// What a worker printed (stdout and stderr, one pipe): the last [`OUTPUT_TAIL`] bytes.
#[derive(Default)]
struct OutputTail {
    inner: Mutex<Tail>,
    cv: Condvar,
}

#[derive(Default)]
struct Tail {
    buf: VecDeque<u8>,
    total: u64,
    /// Drain threads still reading.
    open: usize,
}

impl OutputTail {
    fn lock(&self) -> std::sync::MutexGuard<'_, Tail> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn total(&self) -> u64 {
        self.lock().total
    }

    fn push(&self, bytes: &[u8]) {
        let mut t = self.lock();
        t.total += bytes.len() as u64;
        t.buf.extend(bytes);
        let excess = t.buf.len().saturating_sub(OUTPUT_TAIL);
        t.buf.drain(..excess);
    }

    /// What was printed from offset `from` on, as far as it is still kept.
    fn since(&self, from: u64) -> Vec<u8> {
        let t = self.lock();
        let kept_from = t.total - t.buf.len() as u64;
        let skip = usize::try_from(from.saturating_sub(kept_from)).unwrap_or(usize::MAX);
        t.buf.iter().skip(skip).copied().collect()
    }

    fn close_one(&self) {
        let mut t = self.lock();
        t.open = t.open.saturating_sub(1);
        self.cv.notify_all();
    }

    /// Waits (at most `limit`) until every drain thread has read to the end of its pipe.
    fn settle(&self, limit: Duration) {
        let t = self.lock();
        let _ = self.cv.wait_timeout_while(t, limit, |t| t.open > 0);
    }
}

/// Reads one worker's output pipe into `outputs` (its own record and its plugin's) until
/// every writer closed it.
fn start_drain(outputs: [Arc<OutputTail>; 2], mut reader: io::PipeReader) {
    for o in &outputs {
        o.lock().open += 1;
    }
    let outs = outputs.clone();
    let spawned = std::thread::Builder::new()
        .name("kure-worker-output".into())
        .spawn(move || {
            let mut buf = [0u8; 8192];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => outs.iter().for_each(|o| o.push(&buf[..n])),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            outs.iter().for_each(|o| o.close_one());
        });
    if spawned.is_err() {
        outputs.iter().for_each(|o| o.close_one());
    }
}

/// A command to spawn, the descriptors its `pre_exec` names (closed once it ran), and where
/// to send the child.
type SpawnJob = (Command, Vec<OwnedFd>, mpsc::Sender<io::Result<Child>>);

/// A worker process being started on the spawner thread.
struct Launched {
    /// `None` once taken by [`Launched::started`].
    child: Option<mpsc::Receiver<io::Result<Child>>>,
    channel: Option<UnixStream>,
    own: Arc<OutputTail>,
}

impl Launched {
    /// Waits until the worker process exists (its `exec` succeeded or failed).
    fn started(mut self) -> Result<Proc, StartError> {
        let (Some(child), Some(channel)) = (self.child.take(), self.channel.take()) else {
            return Err(StartError::Spawn(io::Error::other(
                "the worker was already taken",
            )));
        };
        let child = child
            .recv()
            .map_err(|_| io::Error::other("the worker spawner thread ended"))
            .and_then(|c| c)
            .map_err(StartError::Spawn)?;
        let pid = i32::try_from(child.id()).unwrap_or(0);
        Ok(Proc {
            child,
            pid,
            channel,
            initialized: false,
            own: self.own.clone(),
            reaped: false,
        })
    }
}

impl Drop for Launched {
    /// A worker started for a library that failed its checks: it never got the handshake and
    /// ran none of the library. Waits for the spawn (a millisecond), then kills and reaps it.
    fn drop(&mut self) {
        if let Some(Ok(Ok(mut child))) = self.child.take().map(|rx| rx.recv()) {
            kill_group(i32::try_from(child.id()).unwrap_or(0));
            let _ = std::thread::Builder::new()
                .name("kure-worker-reaper".into())
                .spawn(move || {
                    let _ = child.wait();
                    super::reap::worker_reaped(child.id());
                });
        }
    }
}

/// Spawns `cmd` from one long-lived thread, without waiting: a worker's `PR_SET_PDEATHSIG`
/// fires when the *thread* that spawned it ends, and the pipeline calls plugins from
/// short-lived threads. `keep` stays open until the spawn is done. A child nobody waits for
/// any more (its [`Launched`] was dropped) is killed and reaped there.
fn spawn_child(cmd: Command, keep: Vec<OwnedFd>) -> mpsc::Receiver<io::Result<Child>> {
    fn run((mut cmd, keep, reply): SpawnJob) {
        // Registered as a worker before anything can take it for a stray.
        let mut spawning = super::reap::Spawning::begin();
        let child = cmd.spawn();
        if let Ok(child) = &child {
            spawning.register(child.id());
        }
        drop(spawning);
        // The parent's copies of the child's pipe ends and descriptors close here.
        drop(cmd);
        drop(keep);
        if let Err(mpsc::SendError(Ok(mut child))) = reply.send(child) {
            kill_group(i32::try_from(child.id()).unwrap_or(0));
            let _ = child.wait();
            super::reap::worker_reaped(child.id());
        }
    }
    static SPAWNER: OnceLock<Option<mpsc::Sender<SpawnJob>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnJob>();
        std::thread::Builder::new()
            .name("kure-worker-spawner".into())
            .spawn(move || rx.into_iter().for_each(run))
            .ok()
            .map(|_| tx)
    });
    let (reply_tx, reply_rx) = mpsc::channel();
    let job = (cmd, keep, reply_tx);
    match spawner {
        Some(tx) => {
            if let Err(mpsc::SendError(job)) = tx.send(job) {
                run(job);
            }
        }
        None => run(job),
    }
    reply_rx
}

/// In the forked child, before exec (async-signal-safe system calls only): the library to fd
/// 3, the channel to fd 4, the output pipe (already stdout) to fd 5, then the parent-death
/// signal and a process group of its own.
fn child_setup(library: i32, channel: i32) -> io::Result<()> {
    // SAFETY: fcntl and dup2 on descriptors inherited from the parent. The sources are first
    // moved above 10 so that a source numbered 3, 4 or 5 cannot be overwritten before it is
    // copied; the targets come out without close-on-exec, the temporaries with it.
    unsafe {
        let library = libc::fcntl(library, libc::F_DUPFD_CLOEXEC, 10);
        let channel = libc::fcntl(channel, libc::F_DUPFD_CLOEXEC, 10);
        if library < 0
            || channel < 0
            || libc::dup2(library, LIBRARY_FD) < 0
            || libc::dup2(channel, CHANNEL_FD) < 0
            || libc::dup2(1, OUTPUT_FD) < 0
        {
            return Err(io::Error::last_os_error());
        }
        // Nothing else kure may have inherited without close-on-exec reaches the worker: every
        // higher fd is marked close-on-exec (not closed: the spawn reports an exec failure
        // through one of them). Kernels before 5.11 lack the flag; kure's own fds are
        // close-on-exec anyway.
        #[cfg(target_os = "linux")]
        libc::syscall(
            libc::SYS_close_range,
            OUTPUT_FD + 1,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        );
    }
    sandbox::child_pre_exec()
}

/// What starting a worker process can end in.
enum StartError {
    Spawn(io::Error),
    Refused(Refused),
    Failed(ErrorPayload),
}

/// Everything needed to start (and restart) a plugin's worker.
struct Launch {
    exe: PathBuf,
    path: PathBuf,
    memfd: OwnedFd,
    memory_bytes: u64,
    cpu_seconds: u64,
    timeout: Duration,
}

fn seconds(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        d.as_secs().to_string()
    } else {
        format!("{:.3}", d.as_secs_f64())
    }
}

fn signal_name(sig: i32) -> String {
    match sig {
        libc::SIGSEGV => "SIGSEGV (invalid memory access or stack overflow)".to_owned(),
        libc::SIGBUS => "SIGBUS (bad memory access)".to_owned(),
        libc::SIGILL => "SIGILL (illegal instruction)".to_owned(),
        libc::SIGFPE => "SIGFPE (arithmetic fault)".to_owned(),
        libc::SIGABRT => "SIGABRT (it aborted: a failed allocation, a panic while panicking, or a panic across the plugin ABI)".to_owned(),
        libc::SIGSYS => "SIGSYS (a system call the sandbox forbids)".to_owned(),
        libc::SIGKILL => "SIGKILL".to_owned(),
        libc::SIGTERM => "SIGTERM".to_owned(),
        libc::SIGPIPE => "SIGPIPE".to_owned(),
        libc::SIGXCPU => "SIGXCPU".to_owned(),
        libc::SIGXFSZ => "SIGXFSZ".to_owned(),
        other => format!("signal {other}"),
    }
}

/// Whether the output says an allocation failed (Rust's, C++'s and C's usual words).
fn allocation_failed(output: &str) -> bool {
    [
        "memory allocation of",
        "bad_alloc",
        "out of memory",
        "Cannot allocate memory",
    ]
    .iter()
    .any(|w| output.contains(w))
}

/// The line of a dead worker's output worth quoting: the allocation failure if there is one,
/// else the last line that is not Rust's backtrace hint.
fn telling_line(printed: &str) -> Option<&str> {
    let mut lines = printed
        .lines()
        .rev()
        .map(str::trim)
        .filter(|l| !l.is_empty());
    if allocation_failed(printed) {
        return lines.find(|l| allocation_failed(l));
    }
    lines.find(|l| !l.starts_with("note: run with `RUST_BACKTRACE"))
}

impl Launch {
    fn memory_mib(&self) -> u64 {
        self.memory_bytes >> 20
    }

    /// Starts a worker and completes the handshake.
    /// Starts a worker process and waits for its handshake answer.
    fn start(&self, who: &str, output: &Arc<OutputTail>) -> Result<(Proc, Ready), StartError> {
        let launched = self.launch(output)?;
        self.handshake(who, launched)
    }

    /// Starts a worker process on the spawner thread, without waiting for it: it execs,
    /// applies its sandbox and waits for kure's handshake before it looks at the library.
    fn launch(&self, output: &Arc<OutputTail>) -> Result<Launched, StartError> {
        let (host_end, child_end) = UnixStream::pair().map_err(StartError::Spawn)?;
        let (reader, writer) = io::pipe().map_err(StartError::Spawn)?;
        let writer2 = writer.try_clone().map_err(StartError::Spawn)?;
        let mut cmd = Command::new(&self.exe);
        cmd.arg(WORKER_SUBCOMMAND)
            .arg("--memory")
            .arg(self.memory_bytes.to_string())
            .arg("--cpu")
            .arg(self.cpu_seconds.to_string())
            .arg("--timeout-ms")
            .arg(self.timeout.as_millis().max(1).to_string())
            .arg("--library")
            .arg(&self.path)
            .env_clear()
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(Stdio::from(writer))
            .stderr(Stdio::from(writer2));
        let library = self.memfd.try_clone().map_err(StartError::Spawn)?;
        let (library_fd, channel_fd) = (library.as_raw_fd(), child_end.as_raw_fd());
        // SAFETY: the closure only makes async-signal-safe system calls (fcntl, dup2, prctl,
        // setpgid) and does not allocate; the fds it names travel with the command to the
        // spawner thread, which closes them only after the spawn.
        unsafe {
            cmd.pre_exec(move || child_setup(library_fd, channel_fd));
        }
        let own = Arc::new(OutputTail::default());
        let child = spawn_child(cmd, vec![library, child_end.into()]);
        start_drain([own.clone(), output.clone()], reader);
        Ok(Launched {
            child: Some(child),
            channel: Some(host_end),
            own,
        })
    }

    /// Tells a launched worker that its library is sealed and admitted; waits for it to load
    /// the library and answer with the plugin's metadata.
    fn handshake(&self, who: &str, launched: Launched) -> Result<(Proc, Ready), StartError> {
        let mut proc = launched.started()?;
        let op = "startup (loading the library: its constructors, metadata and register)";
        let hello = serde_json::to_vec(&Hello {
            protocol: PROTOCOL_VERSION,
            kure: KURE_VERSION.to_owned(),
        })
        .map_err(|e| StartError::Failed(payload("internal", e.to_string())))?;
        let value = match exchange(&mut proc, &hello, 1, self.timeout).and_then(Answer::json) {
            Ok(v) => v,
            Err(t) => return Err(StartError::Failed(self.bury(who, proc, t, op).payload)),
        };
        if value.get("error").is_some() {
            let refused: Result<Refused, _> = serde_json::from_value(value);
            drop(proc);
            return Err(match refused {
                Ok(r) => StartError::Refused(r),
                Err(e) => StartError::Failed(payload(
                    "protocol",
                    format!("{who} (in process isolation): its worker refused to start with an unreadable answer ({e})"),
                )),
            });
        }
        let protocol = value.get("protocol").and_then(Value::as_u64);
        let kure = value
            .get("kure")
            .and_then(Value::as_str)
            .unwrap_or("unknown");
        if protocol != Some(u64::from(PROTOCOL_VERSION)) || kure != KURE_VERSION {
            let message = format!(
                "{who} (in process isolation): the worker `{}` is kure {} (worker protocol {}), this is kure {KURE_VERSION} (worker protocol {PROTOCOL_VERSION}); both must be the same build of kure",
                self.exe.display(),
                crate::util::shown(kure),
                protocol.map_or_else(|| "unknown".to_owned(), |p| p.to_string()),
            );
            drop(proc);
            return Err(StartError::Failed(payload("protocol", message)));
        }
        match serde_json::from_value::<Ready>(value) {
            Ok(ready) => Ok((proc, ready)),
            Err(e) => Err(StartError::Failed(
                self.bury(
                    who,
                    proc,
                    Trouble::Protocol(format!("an unreadable handshake ({e})")),
                    op,
                )
                .payload,
            )),
        }
    }

    /// Ends a worker after `trouble` and writes the paragraph about it.
    fn bury(&self, who: &str, mut proc: Proc, trouble: Trouble, op: &str) -> Failed {
        // A worker whose channel closed is normally dying: give it a moment, so that its own
        // exit status (the signal) is what gets reported.
        let hung_up =
            matches!(trouble, Trouble::Gone) && !exits_within(proc.pid, Duration::from_secs(2));
        let status = proc.end();
        proc.own.settle(Duration::from_millis(500));
        let printed = String::from_utf8_lossy(&proc.own.since(0)).into_owned();
        let (kind, what, index) = match trouble {
            Trouble::HostTimeout(backstop) => (
                "worker-timeout",
                format!(
                    "did not answer within {} s (the limit is {} s per plugin call; raise it with --plugin-timeout)",
                    seconds(backstop),
                    seconds(self.timeout)
                ),
                None,
            ),
            Trouble::WorkerTimeout { entry, index } => (
                "worker-timeout",
                format!(
                    "did not return from {entry} within {} s (raise the limit with --plugin-timeout)",
                    seconds(self.timeout)
                ),
                index,
            ),
            Trouble::Protocol(reason) => (
                "protocol",
                format!("broke the worker protocol ({reason})"),
                None,
            ),
            Trouble::Gone if hung_up => (
                "worker-crashed",
                "closed its channel to kure without exiting, so kure killed it".to_owned(),
                None,
            ),
            Trouble::Gone => ("worker-crashed", self.death(status, &printed), None),
        };
        let last = telling_line(&printed)
            .map(|l| format!("; it printed: `{}`", crate::util::shown(l)))
            .unwrap_or_default();
        Failed {
            payload: payload(
                kind,
                format!("{who} (in process isolation) {what} during {op}; kure stopped the worker and carried on{last}"),
            ),
            index,
            attempted: true,
        }
    }

    /// What a worker's exit status says happened.
    fn death(&self, status: io::Result<ExitStatus>, printed: &str) -> String {
        let status = match status {
            Ok(s) => s,
            Err(e) => return format!("ended (its exit status cannot be read: {e})"),
        };
        let memory = || {
            format!(
                "exceeded its memory limit of {} MiB (an allocation failed",
                self.memory_mib()
            )
        };
        if let Some(sig) = status.signal() {
            if allocation_failed(printed) {
                return format!(
                    "{}, then it died of {})",
                    memory(),
                    signal_name(sig).split(' ').next().unwrap_or("a signal")
                );
            }
            return match sig {
                libc::SIGXCPU => format!(
                    "exceeded its CPU time limit of {} s (SIGXCPU)",
                    self.cpu_seconds
                ),
                libc::SIGKILL => format!(
                    "was killed with SIGKILL, not by kure (by plugin code itself, the kernel's out-of-memory killer, or its hard CPU time limit of {} s)",
                    self.cpu_seconds.saturating_add(1)
                ),
                _ => format!("crashed with {}", signal_name(sig)),
            };
        }
        let code = status.code().unwrap_or(-1);
        if allocation_failed(printed) {
            return format!("{}, then it exited with status {code})", memory());
        }
        format!("exited with status {code} (plugin code ended the worker process)")
    }
}

/// What the worker sandbox does not enforce on this system (computed once, by kure).
fn expected_warnings() -> &'static [String] {
    static WARNINGS: OnceLock<Vec<String>> = OnceLock::new();
    WARNINGS.get_or_init(|| sandbox::expected_report().warnings())
}

/// A worker process started for a library that is not yet sealed and admitted
/// ([`WorkerPlugin::start`]). It runs only kure's own code, sandboxed, until
/// [`finish`](Self::finish). Dropping it kills the worker.
pub struct Starting {
    path: PathBuf,
    launch: Launch,
    output: Arc<OutputTail>,
    launched: Launched,
    max_restarts: u32,
    pool: usize,
    print_sandbox_warnings: bool,
}

impl std::fmt::Debug for Starting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Starting")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Starting {
    fn launch(path: &Path, memfd: OwnedFd, opts: &WorkerOptions) -> Result<Self, WorkerError> {
        let launch = Launch {
            exe: opts
                .exe
                .clone()
                .unwrap_or_else(|| PathBuf::from("/proc/self/exe")),
            path: path.to_path_buf(),
            memfd,
            memory_bytes: opts.memory_bytes,
            cpu_seconds: opts.cpu_seconds,
            timeout: opts.timeout.unwrap_or_else(crate::plugin::contain::timeout),
        };
        let output = Arc::new(OutputTail::default());
        let launched = launch
            .launch(&output)
            .map_err(|e| start_error(path, &launch, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            launch,
            output,
            launched,
            max_restarts: opts.max_restarts,
            pool: opts.pool,
            print_sandbox_warnings: opts.print_sandbox_warnings,
        })
    }

    /// The library is sealed and admitted (`sha256`: its hash, hex): the worker loads it and
    /// answers with the plugin's metadata. Fails with the in-process message when the library
    /// cannot be loaded or registered.
    pub fn finish(self, sha256: &str, admission: Admission) -> Result<WorkerPlugin, WorkerError> {
        let Self {
            path,
            launch,
            output,
            launched,
            max_restarts,
            pool,
            print_sandbox_warnings,
        } = self;
        let file_who = format!("plugin library {}", path.display());
        let (proc, ready) = launch
            .handshake(&file_who, launched)
            .map_err(|e| start_error(&path, &launch, e))?;
        let who = format!("plugin {}@{}", ready.plugin.name, ready.plugin.version);
        if print_sandbox_warnings && !crate::plugin::contain::quiet() {
            // Once per run: every worker on this kernel would say the same.
            static SHOWN: Mutex<Vec<String>> = Mutex::new(Vec::new());
            let mut shown = SHOWN.lock().unwrap_or_else(|e| e.into_inner());
            for w in expected_warnings() {
                if !shown.contains(w) {
                    let _ = writeln!(
                        crate::plugin::contain::stderr(),
                        "warning: {who} (in process isolation): {w}"
                    );
                    shown.push(w.clone());
                }
            }
        }
        Ok(WorkerPlugin {
            name: ready.plugin.name.clone(),
            version: ready.plugin.version.clone(),
            description: ready.plugin.description.clone(),
            author: ready.plugin.author.clone(),
            path,
            admission,
            sha256: sha256.to_owned(),
            abi_info: ready.abi_info,
            gvks: ready.gvks,
            sandbox_warnings: expected_warnings().to_vec(),
            who,
            info: ready.plugin,
            launch,
            max_restarts,
            output,
            slots: std::iter::once(Some(proc))
                .chain(std::iter::repeat_with(|| None))
                .take(pool.max(1))
                .map(|proc| {
                    Mutex::new(State {
                        started: proc.is_some(),
                        proc,
                    })
                })
                .collect(),
            restarts: AtomicU32::new(0),
            closed: AtomicBool::new(false),
        })
    }
}

fn start_error(path: &Path, launch: &Launch, e: StartError) -> WorkerError {
    match e {
        StartError::Spawn(reason) => WorkerError::Spawn {
            path: path.to_path_buf(),
            exe: launch.exe.clone(),
            reason,
        },
        StartError::Refused(r) => WorkerError::Refused {
            path: path.to_path_buf(),
            error: r.error,
            details: r.details,
        },
        StartError::Failed(error) => WorkerError::Failed {
            path: path.to_path_buf(),
            error,
        },
    }
}

/// One app's result in a batch: the plugin's bytes, or its error.
type Bytes = Result<Vec<u8>, ErrorPayload>;

/// A plugin running in process isolation: metadata from the worker's handshake, and the
/// channel to the worker (restarted when it died, at most `max_restarts` times).
pub struct WorkerPlugin {
    /// Plugin name.
    pub name: String,
    /// Plugin version.
    pub version: String,
    /// Description.
    pub description: String,
    /// Author.
    pub author: String,
    /// The library file.
    pub path: PathBuf,
    /// How the library was admitted.
    pub admission: Admission,
    /// SHA-256 of the library's bytes, hex.
    pub sha256: String,
    /// The ABI info the plugin reported.
    pub abi_info: AbiInfo,
    /// The GVKs it registered generators for, in registration order.
    pub gvks: Vec<PluginGvk>,
    /// One line per sandbox layer the running kernel does not (fully) enforce.
    pub sandbox_warnings: Vec<String>,
    who: String,
    info: PluginInfo,
    launch: Launch,
    max_restarts: u32,
    output: Arc<OutputTail>,
    /// Worker processes serving this plugin, started as concurrent calls need them; slot 0
    /// holds the one that answered the handshake.
    slots: Vec<Mutex<State>>,
    /// Restarts of dead workers so far, all slots together.
    restarts: AtomicU32,
    closed: AtomicBool,
}

/// One worker process of a plugin (or none yet).
struct State {
    proc: Option<Proc>,
    /// A process ran in this slot before: starting another one is a restart.
    started: bool,
}

impl std::fmt::Debug for WorkerPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerPlugin")
            .field("plugin", &self.who)
            .field("path", &self.path)
            .field("gvks", &self.gvks)
            .finish_non_exhaustive()
    }
}

fn op_label(op: &str, api_version: &str, kind: &str, apps: usize) -> String {
    let gvk = format!(
        "{}/{}",
        crate::util::shown(api_version),
        crate::util::shown(kind)
    );
    if apps == 1 {
        format!("{op} of {gvk}")
    } else {
        format!("{op} of {apps} apps of {gvk}")
    }
}

impl WorkerPlugin {
    /// Starts a worker for a library already read and admitted (`sha256`: its hash, hex):
    /// exactly these bytes run, in the worker, after the sandbox. The worker inherits the
    /// sealed memfd itself; nothing is copied. Fails with the in-process message when the
    /// library cannot be loaded or registered.
    pub fn spawn(
        path: &Path,
        library: &Sealed,
        sha256: &str,
        admission: Admission,
        opts: &WorkerOptions,
    ) -> Result<Self, WorkerError> {
        let memfd = library.share().map_err(|reason| WorkerError::Stage {
            path: path.to_path_buf(),
            reason,
        })?;
        Starting::launch(path, memfd, opts)?.finish(sha256, admission)
    }

    /// Starts a worker process for a library that is still being read into `staging`, so
    /// that starting it (exec, sandbox) overlaps reading, hashing and checking the library.
    /// The worker runs only kure's code until [`Starting::finish`] tells it the library is
    /// sealed and admitted; dropping the [`Starting`] kills it.
    pub fn start(
        path: &Path,
        staging: &Staging,
        opts: &WorkerOptions,
    ) -> Result<Starting, WorkerError> {
        let memfd = staging.share().map_err(|reason| WorkerError::Stage {
            path: path.to_path_buf(),
            reason,
        })?;
        Starting::launch(path, memfd, opts)
    }

    /// Reads `path` once, admits the bytes under `policy` and starts a worker for them.
    pub fn spawn_file(
        path: &Path,
        policy: &TrustPolicy,
        opts: &WorkerOptions,
    ) -> Result<Self, WorkerError> {
        let (library, digest) = super::read_library(path)?;
        let admission = policy.admit_digest(path, &digest)?;
        Self::spawn(
            path,
            &library,
            &crate::trust::digest_hex(&digest),
            admission,
            opts,
        )
    }

    /// `name@version`.
    pub fn label(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }

    /// The last 64 KiB the plugin's workers printed (stdout and stderr, all restarts), for
    /// `-v`. Never part of kure's output.
    pub fn output(&self) -> Vec<u8> {
        self.output.since(0)
    }

    /// How many bytes the plugin's workers printed in all.
    pub fn output_len(&self) -> u64 {
        self.output.total()
    }

    /// How often a worker was restarted so far.
    pub fn restarts(&self) -> u32 {
        self.restarts.load(Ordering::Acquire)
    }

    /// The process id of the first slot's worker, if one runs there.
    pub fn worker_pid(&self) -> Option<u32> {
        self.slot(0).proc.as_ref().map(|p| p.child.id())
    }

    /// One [`DynGenerator`] per GVK, forwarding every call to the worker.
    pub fn generators(self: &Arc<Self>) -> Vec<Arc<dyn DynGenerator>> {
        self.gvks
            .iter()
            .map(|g| {
                Arc::new(WorkerGenerator {
                    plugin: self.clone(),
                    api_version: g.api_version.clone(),
                    kind: g.kind.clone(),
                }) as Arc<dyn DynGenerator>
            })
            .collect()
    }

    fn slot(&self, i: usize) -> std::sync::MutexGuard<'_, State> {
        self.slots[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A free worker slot, the lowest first (one caller at a time never starts a second
    /// process); when every slot is busy, waits for the first.
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        for m in &self.slots {
            match m.try_lock() {
                Ok(g) => return g,
                Err(std::sync::TryLockError::Poisoned(e)) => return e.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) => {}
            }
        }
        self.slot(0)
    }

    /// Makes sure a worker runs, restarting it within the budget.
    fn ensure_running(&self, state: &mut State, label: &str) -> Result<(), Failed> {
        let not_attempted = |message: String| Failed {
            payload: payload("worker-crashed", message),
            index: None,
            attempted: false,
        };
        if self.closed.load(Ordering::Acquire) {
            return Err(not_attempted(format!(
                "{label} was not attempted: {} (in process isolation) was already shut down",
                self.who
            )));
        }
        if state.proc.is_some() {
            return Ok(());
        }
        // The budget is the plugin's, all slots together: once it is spent, not even a slot
        // that never ran starts a worker.
        let spent = if state.started {
            let restarts = self.restarts.fetch_add(1, Ordering::AcqRel);
            if restarts >= self.max_restarts {
                self.restarts.fetch_sub(1, Ordering::AcqRel);
            }
            restarts >= self.max_restarts
        } else {
            self.restarts.load(Ordering::Acquire) >= self.max_restarts
        };
        if spent {
            return Err(not_attempted(format!(
                "{label} was not attempted: the workers of {} (in process isolation) kept failing, and kure already restarted them {} times in this run, the most it does",
                self.who, self.max_restarts
            )));
        }
        state.started = true;
        match self.launch.start(&self.who, &self.output) {
            Ok((proc, ready)) if ready.plugin == self.info && ready.gvks == self.gvks => {
                state.proc = Some(proc);
                Ok(())
            }
            Ok((proc, _)) => {
                drop(proc);
                Err(not_attempted(format!(
                    "{label} was not attempted: the restarted worker of {} (in process isolation) reported another plugin or other GVKs than the first one",
                    self.who
                )))
            }
            Err(StartError::Spawn(e)) => Err(not_attempted(format!(
                "{label} was not attempted: kure could not restart the worker of {} (in process isolation): {e}",
                self.who
            ))),
            Err(StartError::Refused(r)) => Err(not_attempted(format!(
                "{label} was not attempted: the restarted worker of {} (in process isolation) refused to serve: {}",
                self.who, r.error.message
            ))),
            Err(StartError::Failed(p)) => Err(not_attempted(p.message)),
        }
    }

    /// One JSON request, one JSON answer; a worker that fails is ended and reported.
    fn round_trip(
        &self,
        state: &mut State,
        request: &Request<'_>,
        calls: usize,
        label: &str,
    ) -> Result<Value, Failed> {
        let body = serde_json::to_vec(request).map_err(|e| Failed {
            payload: payload("internal", format!("cannot encode a worker request: {e}")),
            index: None,
            attempted: false,
        })?;
        match self.exchange(state, &body, calls, label)? {
            Answer::Json(v) => Ok(v),
            Answer::Batch(_) => Err(self.protocol_failure(
                state,
                "a batch answer to a request that was not a batch".to_owned(),
                label,
            )),
        }
    }

    /// One request frame, one answer; a worker that fails is ended and reported.
    fn exchange(
        &self,
        state: &mut State,
        body: &[u8],
        calls: usize,
        label: &str,
    ) -> Result<Answer, Failed> {
        self.ensure_running(state, label)?;
        let Some(proc) = state.proc.as_mut() else {
            return Err(Failed {
                payload: payload("internal", "no worker is running".to_owned()),
                index: None,
                attempted: false,
            });
        };
        match exchange(proc, body, calls, self.launch.timeout) {
            Ok(v) => Ok(v),
            Err(trouble) => {
                let Some(proc) = state.proc.take() else {
                    return Err(Failed {
                        payload: payload("internal", "no worker is running".to_owned()),
                        index: None,
                        attempted: true,
                    });
                };
                Err(self.launch.bury(&self.who, proc, trouble, label))
            }
        }
    }

    /// Ends the worker for a protocol violation found after the exchange.
    fn protocol_failure(&self, state: &mut State, reason: String, label: &str) -> Failed {
        match state.proc.take() {
            Some(proc) => self
                .launch
                .bury(&self.who, proc, Trouble::Protocol(reason), label),
            None => Failed {
                payload: payload("protocol", reason),
                index: None,
                attempted: true,
            },
        }
    }

    /// `initialize` (once per worker process) before the first `generate`.
    fn ensure_initialized(&self, state: &mut State, label: &str) -> Result<(), Failed> {
        self.ensure_running(state, label)?;
        if state.proc.as_ref().is_some_and(|p| p.initialized) {
            return Ok(());
        }
        // A failed initialize is remembered by the worker and reported by every generate.
        self.round_trip(state, &Request::Initialize, 1, "initialize")?;
        if let Some(p) = state.proc.as_mut() {
            p.initialized = true;
        }
        Ok(())
    }

    /// One frame of a batch: per-app outcomes (the plugin's bytes for each app that
    /// succeeded), or the request's own error (the worker is fine), or a failure (the worker
    /// was ended).
    fn batch_frame(
        &self,
        state: &mut State,
        op: BatchOp,
        api_version: &str,
        kind: &str,
        items: &[String],
    ) -> Result<Result<Vec<Bytes>, ErrorPayload>, Failed> {
        let body = wire::encode_request(op, api_version, kind, items);
        let label = op_label(op.name(), api_version, kind, items.len());
        let frame = match self.exchange(state, &body, items.len(), &label)? {
            Answer::Batch(frame) => frame,
            Answer::Json(value) => {
                return match serde_json::from_value::<Failure>(value) {
                    Ok(f) => Ok(Err(f.error)),
                    Err(e) => Err(self.protocol_failure(
                        state,
                        format!("an unreadable error ({e})"),
                        &label,
                    )),
                };
            }
        };
        let results = wire::decode_answer(&frame, items.len()).map_err(|e| {
            self.protocol_failure(state, format!("an unreadable answer ({e})"), &label)
        })?;
        Ok(Ok(results
            .into_iter()
            .map(|r| r.map(<[u8]>::to_vec))
            .collect()))
    }

    /// Runs a batch: whole, then (when the worker died) one app at a time.
    fn batch(&self, op: BatchOp, api_version: &str, kind: &str, items: &[String]) -> Vec<Bytes> {
        let mut out = Vec::with_capacity(items.len());
        let mut state = self.lock();
        let mut start = 0;
        while start < items.len() {
            // Keep each frame well below the frame limit.
            let mut end = start;
            let mut bytes = 0usize;
            while end < items.len() && (end == start || bytes + items[end].len() + 8 <= BATCH_BYTES)
            {
                bytes += items[end].len() + 8;
                end += 1;
            }
            out.extend(self.chunk(&mut state, op, api_version, kind, &items[start..end]));
            start = end;
        }
        out
    }

    fn chunk(
        &self,
        state: &mut State,
        op: BatchOp,
        api_version: &str,
        kind: &str,
        items: &[String],
    ) -> Vec<Bytes> {
        let n = items.len();
        let all = |p: ErrorPayload| (0..n).map(|_| Err(p.clone())).collect::<Vec<_>>();
        if n == 0 {
            return Vec::new();
        }
        if op == BatchOp::Generate {
            let label = op_label(op.name(), api_version, kind, n);
            if let Err(f) = self.ensure_initialized(state, &label) {
                return all(f.payload);
            }
        }
        let mut slots: Vec<Option<Result<Vec<u8>, ErrorPayload>>> = (0..n).map(|_| None).collect();
        match self.batch_frame(state, op, api_version, kind, items) {
            Ok(Ok(results)) => return results,
            Ok(Err(e)) if e.kind == "too-large" && n > 1 => {}
            Ok(Err(e)) => return all(e),
            Err(f) if n == 1 || !f.attempted => return all(f.payload),
            Err(f) => {
                if let Some(i) = f.index.filter(|i| *i < n) {
                    slots[i] = Some(Err(f.payload));
                }
            }
        }
        for (i, slot) in slots.iter_mut().enumerate() {
            if slot.is_some() {
                continue;
            }
            if op == BatchOp::Generate {
                let label = op_label(op.name(), api_version, kind, 1);
                if let Err(f) = self.ensure_initialized(state, &label) {
                    *slot = Some(Err(f.payload));
                    continue;
                }
            }
            *slot = Some(
                match self.batch_frame(state, op, api_version, kind, &items[i..=i]) {
                    Ok(Ok(mut r)) => r.pop().unwrap_or_else(|| {
                        Err(payload("protocol", "no result for the app".to_owned()))
                    }),
                    Ok(Err(e)) => Err(e),
                    Err(f) => Err(f.payload),
                },
            );
        }
        slots
            .into_iter()
            .map(|s| s.unwrap_or_else(|| Err(payload("internal", "no result".to_owned()))))
            .collect()
    }

    /// Generates many apps of one GVK in as few frames as possible; one result per request
    /// (a request is the generator request JSON of one app, see [`kure_plugin_api::abi`]).
    pub fn generate_batch(
        &self,
        api_version: &str,
        kind: &str,
        requests: &[String],
    ) -> Vec<Result<Vec<Value>, ErrorPayload>> {
        self.generate_batch_json(api_version, kind, requests)
            .into_iter()
            .map(|r| r.and_then(|json| crate::plugin::host::parse_objects(&json)))
            .collect()
    }

    /// [`generate_batch`](Self::generate_batch), each answer as the JSON text the worker
    /// sent (checked to be UTF-8, not parsed).
    pub fn generate_batch_json(
        &self,
        api_version: &str,
        kind: &str,
        requests: &[String],
    ) -> Vec<Result<String, ErrorPayload>> {
        self.batch(BatchOp::Generate, api_version, kind, requests)
            .into_iter()
            .map(|r| {
                r.and_then(|bytes| {
                    String::from_utf8(bytes).map_err(|_| {
                        payload(
                            "invalid-output",
                            "returned invalid JSON (not UTF-8)".to_owned(),
                        )
                    })
                })
            })
            .collect()
    }

    /// Validates many specs (JSON) of one GVK; one result per spec.
    pub fn validate_batch(
        &self,
        api_version: &str,
        kind: &str,
        specs: &[String],
    ) -> Vec<Result<(), ErrorPayload>> {
        self.batch(BatchOp::Validate, api_version, kind, specs)
            .into_iter()
            .map(|r| r.map(drop))
            .collect()
    }

    /// A single-answer request.
    fn single<T: serde::de::DeserializeOwned>(
        &self,
        request: &Request<'_>,
        label: &str,
    ) -> Result<T, ErrorPayload> {
        self.single_in(&mut self.lock(), request, label)
    }

    /// [`Self::single`] in a given slot.
    fn single_in<T: serde::de::DeserializeOwned>(
        &self,
        state: &mut State,
        request: &Request<'_>,
        label: &str,
    ) -> Result<T, ErrorPayload> {
        let value = self
            .round_trip(state, request, 1, label)
            .map_err(|f| f.payload)?;
        if value.get("error").is_some() {
            return match serde_json::from_value::<Failure>(value) {
                Ok(f) => Err(f.error),
                Err(e) => Err(self
                    .protocol_failure(state, format!("an unreadable error ({e})"), label)
                    .payload),
            };
        }
        match serde_json::from_value::<Outcome<T>>(value) {
            Ok(o) => o.into(),
            Err(e) => Err(self
                .protocol_failure(state, format!("an unreadable answer ({e})"), label)
                .payload),
        }
    }

    /// The JSON Schema of a GVK's spec.
    pub fn json_schema(&self, api_version: &str, kind: &str) -> Result<Value, ErrorPayload> {
        self.single(
            &Request::Schema {
                api_version: Cow::Borrowed(api_version),
                kind: Cow::Borrowed(kind),
            },
            &op_label("json_schema", api_version, kind, 1),
        )
    }

    /// Documentation, examples and usage guide of a GVK.
    pub fn documentation(
        &self,
        api_version: &str,
        kind: &str,
    ) -> Result<Documentation, ErrorPayload> {
        self.single(
            &Request::Docs {
                api_version: Cow::Borrowed(api_version),
                kind: Cow::Borrowed(kind),
            },
            &op_label("documentation", api_version, kind, 1),
        )
    }

    /// Runs the plugin's `initialize` and first `health_check` in the worker (once per worker
    /// process; later calls report the remembered result).
    pub fn initialize(&self) -> Result<InitTimings, ErrorPayload> {
        let mut state = self.slot(0);
        let r = self.single_in(&mut state, &Request::Initialize, "initialize");
        if let Some(p) = state.proc.as_mut() {
            p.initialized = true;
        }
        r
    }

    /// Runs the plugin's `health_check` in the worker.
    pub fn health_check(&self) -> Result<HealthTimings, ErrorPayload> {
        self.single(&Request::Health, "health_check")
    }

    /// Calls the plugin's `shutdown` (if it was initialized) and ends the worker. Later calls
    /// fail without starting a worker, and later shutdowns do nothing. A worker that crashes,
    /// hangs or answers with an error in `shutdown` is reported: its output must not be used.
    pub fn shutdown(&self) -> Result<(), ErrorPayload> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let mut result = Ok(());
        for i in 0..self.slots.len() {
            let r = self.end(&mut self.slot(i));
            if result.is_ok() {
                result = r;
            }
        }
        // Each worker closed its output before answering; the rest of it is read once all
        // of them were told.
        self.output.settle(Duration::from_secs(1));
        // What the workers printed joins what in-process plugins printed (`-v` shows it).
        let printed = self.output();
        crate::plugin::contain::capture_output(
            &format!("plugin {} (process isolation)", self.label()),
            &printed,
        );
        result
    }

    fn end(&self, state: &mut State) -> Result<(), ErrorPayload> {
        let Some(mut proc) = state.proc.take() else {
            return Ok(());
        };
        let body = serde_json::to_vec(&Request::Shutdown)
            .map_err(|e| payload("internal", format!("cannot encode a worker request: {e}")))?;
        match exchange(&mut proc, &body, 1, self.launch.timeout).and_then(Answer::json) {
            Ok(answer) => {
                // The worker closed its output before answering: once kure has read the
                // rest, nothing of the worker is needed. The process is killed (the plugin
                // may have left children) and reaped off this thread, since tearing a process
                // down takes about a millisecond.
                kill_group(proc.pid);
                reap_in_background(proc);
                match answer.get("error").or_else(|| answer.get("err")) {
                    None => Ok(()),
                    Some(e) => Err(serde_json::from_value::<ErrorPayload>(e.clone())
                        .unwrap_or_else(|_| payload("protocol", "an unreadable error".to_owned()))),
                }
            }
            Err(trouble) => Err(self
                .launch
                .bury(&self.who, proc, trouble, "shutdown")
                .payload),
        }
    }
}

impl Drop for WorkerPlugin {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// One GVK of a plugin in process isolation.
struct WorkerGenerator {
    plugin: Arc<WorkerPlugin>,
    api_version: String,
    kind: String,
}

fn first<T>(mut results: Vec<Result<T, ErrorPayload>>) -> Result<T, ErrorPayload> {
    results
        .pop()
        .unwrap_or_else(|| Err(payload("internal", "no result".to_owned())))
}

impl DynGenerator for WorkerGenerator {
    fn api_version(&self) -> &str {
        &self.api_version
    }

    fn kind(&self) -> &str {
        &self.kind
    }

    fn json_schema(&self) -> Result<Value, ErrorPayload> {
        self.plugin.json_schema(&self.api_version, &self.kind)
    }

    fn validate(&self, spec: &Value) -> Result<(), ErrorPayload> {
        self.validate_json(&json_text(spec))
    }

    fn validate_json(&self, spec: &str) -> Result<(), ErrorPayload> {
        first(
            self.plugin
                .validate_batch(&self.api_version, &self.kind, &[spec.to_owned()]),
        )
    }

    fn generate(&self, app: &Value) -> Result<Vec<Value>, ErrorPayload> {
        first(
            self.plugin
                .generate_batch(&self.api_version, &self.kind, &[json_text(app)]),
        )
    }

    fn generate_json(&self, request: &str) -> Result<String, ErrorPayload> {
        first(
            self.plugin
                .generate_batch_json(&self.api_version, &self.kind, &[request.to_owned()]),
        )
    }

    fn documentation(&self) -> Result<Documentation, ErrorPayload> {
        self.plugin.documentation(&self.api_version, &self.kind)
    }

    fn prefers_batches(&self) -> bool {
        true
    }

    fn generate_validates(&self) -> bool {
        crate::plugin::host::generates_validated(&self.plugin.abi_info)
    }

    fn validate_batch(&self, specs: &[&Value]) -> Vec<Result<(), ErrorPayload>> {
        let specs: Vec<String> = specs.iter().map(|s| json_text(s)).collect();
        self.plugin
            .validate_batch(&self.api_version, &self.kind, &specs)
    }

    fn generate_batch_json(&self, apps: &[&Value]) -> Vec<Result<String, ErrorPayload>> {
        let apps: Vec<String> = apps.iter().map(|a| json_text(a)).collect();
        self.plugin
            .generate_batch_json(&self.api_version, &self.kind, &apps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let mut wire = Vec::new();
        write_frame(&mut wire, b"{\"a\":1}").expect("write");
        write_frame(&mut wire, b"").expect("write empty");
        send(
            &mut wire,
            &Hello {
                protocol: 1,
                kure: "9.9.9".into(),
            },
        )
        .expect("send");
        assert_eq!(&wire[..4], &7u32.to_le_bytes());
        let mut r = io::Cursor::new(wire);
        assert_eq!(read_frame(&mut r, MAX_FRAME).expect("first"), b"{\"a\":1}");
        assert_eq!(read_frame(&mut r, MAX_FRAME).expect("empty"), b"");
        let hello: Hello = recv(&mut r).expect("typed");
        assert_eq!(hello.kure, "9.9.9");
        assert!(matches!(
            read_frame(&mut r, MAX_FRAME),
            Err(FrameError::Closed)
        ));
    }

    #[test]
    fn oversized_frames_are_refused_before_reading_them() {
        let mut wire = Vec::new();
        wire.extend_from_slice(&(MAX_FRAME as u32 + 1).to_le_bytes());
        wire.extend_from_slice(b"xx");
        let err = read_frame(&mut io::Cursor::new(&wire), MAX_FRAME).expect_err("too large");
        assert!(
            matches!(err, FrameError::TooLarge { len, .. } if len == MAX_FRAME as u64 + 1),
            "{err}"
        );
        let err = read_frame(&mut io::Cursor::new(&wire), 1).expect_err("over a small cap");
        assert!(matches!(err, FrameError::TooLarge { .. }));
        // Writing refuses too, without writing anything.
        let mut sink = Vec::new();
        let big = vec![b' '; MAX_FRAME + 1];
        assert!(matches!(
            write_frame(&mut sink, &big),
            Err(FrameError::TooLarge { .. })
        ));
        assert!(sink.is_empty());
    }

    #[test]
    fn truncated_frames_are_errors() {
        let err = read_frame(&mut io::Cursor::new(vec![5u8, 0]), MAX_FRAME).expect_err("header");
        assert!(
            matches!(
                err,
                FrameError::Truncated {
                    expected: 4,
                    got: 2
                }
            ),
            "{err}"
        );
        let mut wire = 10u32.to_le_bytes().to_vec();
        wire.extend_from_slice(b"abc");
        let err = read_frame(&mut io::Cursor::new(wire), MAX_FRAME).expect_err("body");
        assert!(
            matches!(
                err,
                FrameError::Truncated {
                    expected: 10,
                    got: 3
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn invalid_json_is_an_error() {
        let mut wire = Vec::new();
        write_frame(&mut wire, b"{not json").expect("write");
        let err = recv::<Hello>(&mut io::Cursor::new(wire)).expect_err("json");
        assert!(matches!(err, FrameError::Json(_)));
    }

    #[test]
    fn requests_and_outcomes_have_the_documented_shapes() {
        let r = Request::Schema {
            api_version: Cow::Borrowed("a.b/v1"),
            kind: Cow::Borrowed("K"),
        };
        assert_eq!(
            serde_json::to_value(&r).expect("encode"),
            serde_json::json!({"op":"schema","apiVersion":"a.b/v1","kind":"K"})
        );
        assert_eq!(
            serde_json::to_value(Request::Shutdown).expect("encode"),
            serde_json::json!({"op":"shutdown"})
        );
        let back: Request<'static> =
            serde_json::from_value(serde_json::json!({"op":"docs","apiVersion":"v1","kind":"K"}))
                .expect("decode");
        assert!(matches!(back, Request::Docs { .. }));
        assert_eq!(
            serde_json::to_value(Outcome::<()>::Err(payload("validate", "bad".into())))
                .expect("encode"),
            serde_json::json!({"err":{"kind":"validate","message":"bad"}})
        );
        // Batches are binary frames (see `wire`): they never start like a JSON message.
        let batch = wire::encode_request(BatchOp::Generate, "a.b/v1", "K", &[]);
        assert_ne!(batch[0], b'{');
    }

    #[test]
    fn output_tail_keeps_the_last_64_kib() {
        let t = OutputTail::default();
        t.push(&vec![b'a'; OUTPUT_TAIL]);
        let from = t.total();
        t.push(b"tail");
        assert_eq!(t.total(), OUTPUT_TAIL as u64 + 4);
        assert_eq!(t.since(0).len(), OUTPUT_TAIL);
        assert_eq!(t.since(from), b"tail");
    }

    #[test]
    fn the_telling_line_is_quoted() {
        let rust = "memory allocation of 8 bytes failed\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";
        assert_eq!(
            telling_line(rust),
            Some("memory allocation of 8 bytes failed")
        );
        let panic = "thread 'main' panicked at src/lib.rs:1:1:\nboom\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";
        assert_eq!(telling_line(panic), Some("boom"));
        assert_eq!(telling_line("\n  \n"), None);
    }

    #[test]
    fn allocation_failures_are_recognized() {
        assert!(allocation_failed(
            "memory allocation of 3221225472 bytes failed\n"
        ));
        assert!(allocation_failed(
            "terminate called after throwing an instance of 'std::bad_alloc'"
        ));
        assert!(!allocation_failed("segfault"));
    }
}
