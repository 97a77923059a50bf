//! Containment of in-process plugin code: whatever a plugin does, kure either finishes or
//! fails with one paragraph naming the plugin, the entry point and the app, exit status 1, and
//! nothing written.
//!
//! - **stdout and stderr belong to kure.** [`install`] keeps private duplicates of fd 1 and 2
//!   and points both at an anonymous capture file for the rest of the process, so whatever a
//!   plugin (or a thread it left running) prints never reaches the YAML stream or kure's
//!   diagnostics. kure writes through [`stdout`] and [`stderr`]. With `-v` the capture is shown
//!   at the end; without it, a note says how many bytes the plugins printed.
//! - **Call records.** Every host-to-plugin call runs inside [`call`], which records in a
//!   per-thread slot which plugin, entry point and app are running. The slots are plain atomics
//!   in static memory, readable from a signal handler.
//! - **exit() from plugin code** is noticed by an exit hook (`on_exit`, or `atexit` where libc
//!   lacks it): an exit that kure did not start ([`exit`], [`finish`]) after a plugin was loaded
//!   prints one paragraph and ends the process with `_exit(1)`.
//! - **Fatal signals** (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT: null pointers, stack overflow,
//!   failed allocations, double panics, panics across the ABI) run an async-signal-safe handler
//!   on the alternate stack: it writes the paragraph with `write(2)` and calls `_exit(1)`.
//! - **Time limit.** A watchdog thread ends the process when a call runs longer than the limit
//!   ([`set_timeout`], default 30 s).
//!
//! Output is committed only after every plugin call has returned, so any of these endings
//! leaves the previous output untouched. What this cannot contain in-process: `_exit`,
//! `kill(SIGKILL)` or `execve` called by the plugin itself, corruption of kure's memory that
//! does not crash, and a plugin reading whatever kure can read. Process isolation is the answer
//! to those.
#![allow(unsafe_code)]

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The default time limit of one plugin call.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

static OUT_FD: AtomicI32 = AtomicI32::new(1);
static ERR_FD: AtomicI32 = AtomicI32::new(2);
static CAPTURE_FD: AtomicI32 = AtomicI32::new(-1);
static INSTALLED: AtomicBool = AtomicBool::new(false);
static EXITING: AtomicBool = AtomicBool::new(false);
static VERBOSE: AtomicBool = AtomicBool::new(false);
static QUIET: AtomicBool = AtomicBool::new(false);
static TIMEOUT_MS: AtomicU64 = AtomicU64::new(30_000);

/// Labels (`name@version`) of the plugins loaded so far, `, `-separated, for messages about
/// plugin code that runs outside any call (a thread it left running).
static LOADED: TextBuf<256> = TextBuf::new();
static LOADED_ANY: AtomicBool = AtomicBool::new(false);

/// A fixed buffer of text that one writer fills and any thread (or a signal handler) reads.
struct TextBuf<const N: usize> {
    len: AtomicUsize,
    bytes: [AtomicU8; N],
}

impl<const N: usize> TextBuf<N> {
    const fn new() -> Self {
        Self {
            len: AtomicUsize::new(0),
            bytes: [const { AtomicU8::new(0) }; N],
        }
    }

    fn clear(&self) {
        self.len.store(0, Ordering::Release);
    }

    /// Appends as much of `s` as fits.
    fn push(&self, s: &[u8]) {
        let start = self.len.load(Ordering::Acquire);
        let n = s.len().min(N - start);
        for (i, b) in s[..n].iter().enumerate() {
            self.bytes[start + i].store(*b, Ordering::Relaxed);
        }
        self.len.store(start + n, Ordering::Release);
    }

    /// Copies the text into `out` (async-signal-safe); returns its length.
    fn read(&self, out: &mut [u8; N]) -> usize {
        let n = self.len.load(Ordering::Acquire).min(N);
        for (i, o) in out[..n].iter_mut().enumerate() {
            *o = self.bytes[i].load(Ordering::Relaxed);
        }
        n
    }
}

impl<const N: usize> std::fmt::Write for &TextBuf<N> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.push(s.as_bytes());
        Ok(())
    }
}

/// What one thread is running: `who` is `plugin NAME@VERSION`, `what` says the entry point and
/// the app (` in generate while generating app `a` (f.yaml:3)`).
struct Slot {
    claimed: AtomicBool,
    depth: AtomicUsize,
    deadline_ms: AtomicU64,
    who: TextBuf<160>,
    what: TextBuf<480>,
}

impl Slot {
    const fn new() -> Self {
        Self {
            claimed: AtomicBool::new(false),
            depth: AtomicUsize::new(0),
            deadline_ms: AtomicU64::new(u64::MAX),
            who: TextBuf::new(),
            what: TextBuf::new(),
        }
    }
}

const SLOTS: usize = 64;
static SLOT: [Slot; SLOTS] = [const { Slot::new() }; SLOTS];

thread_local! {
    /// This thread's slot index, `usize::MAX` before its first call. Const-initialized and
    /// without a destructor, so reading it in a signal handler is a plain TLS load.
    static MY_SLOT: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) };
    /// The app the current thread works on (set by the engine): name and FILE:LINE, copied
    /// into the slot by every call.
    static APP: std::cell::RefCell<(String, String)> =
        const { std::cell::RefCell::new((String::new(), String::new())) };
}

fn my_slot() -> Option<&'static Slot> {
    let i = MY_SLOT.with(|s| s.get());
    if i < SLOTS {
        return Some(&SLOT[i]);
    }
    let i = SLOT.iter().position(|s| {
        s.claimed
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    })?;
    MY_SLOT.with(|s| s.set(i));
    Some(&SLOT[i])
}

fn start() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

fn now_ms() -> u64 {
    start().elapsed().as_millis() as u64
}

/// Sets the time limit of one plugin call (`--plugin-timeout`).
pub fn set_timeout(limit: Duration) {
    TIMEOUT_MS.store(limit.as_millis().max(1) as u64, Ordering::Relaxed);
}

/// The time limit of one plugin call.
pub fn timeout() -> Duration {
    Duration::from_millis(TIMEOUT_MS.load(Ordering::Relaxed))
}

/// Records that plugin `label` (`name@version`) has been loaded: from now on an exit that kure
/// did not start is blamed on plugin code.
pub fn note_loaded(label: &str) {
    if LOADED_ANY.swap(true, Ordering::AcqRel) {
        LOADED.push(b", ");
    }
    LOADED.push(label.as_bytes());
}

/// Runs `f` with app `name` at `location` (FILE:LINE) as the current thread's app context,
/// named by every plugin call inside it.
pub fn with_app<R>(name: &str, location: &dyn std::fmt::Display, f: impl FnOnce() -> R) -> R {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            APP.with(|a| {
                let mut a = a.borrow_mut();
                a.0.clear();
                a.1.clear();
            });
        }
    }
    APP.with(|a| {
        let mut a = a.borrow_mut();
        a.0.clear();
        a.0.push_str(name);
        a.1.clear();
        let _ = std::fmt::Write::write_fmt(&mut a.1, format_args!("{location}"));
    });
    let _reset = Reset;
    f()
}

/// The current thread's app (name, FILE:LINE), if it works on one.
pub fn current_app() -> Option<(String, String)> {
    APP.with(|a| {
        let a = a.borrow();
        (!a.0.is_empty()).then(|| a.clone())
    })
}

/// Runs one call into plugin code: `who` is `plugin NAME@VERSION` (or the file name before the
/// name is known), `entry` the entry point. The record is what the exit hook, the signal
/// handlers and the watchdog name; the watchdog ends the process if the call outlives the
/// time limit.
pub fn call<R>(who: &str, entry: &str, f: impl FnOnce() -> R) -> R {
    let Some(slot) = my_slot() else {
        return f();
    };
    if slot.depth.fetch_add(1, Ordering::AcqRel) == 0 {
        slot.who.clear();
        slot.who.push(who.as_bytes());
        slot.what.clear();
        let mut w = &slot.what;
        let _ = std::fmt::Write::write_fmt(&mut w, format_args!(" in {entry}"));
        APP.with(|a| {
            let a = a.borrow();
            if !a.0.is_empty() {
                let verb = match entry {
                    "validate" => " while validating",
                    _ => " while generating",
                };
                let _ = std::fmt::Write::write_fmt(
                    &mut w,
                    format_args!("{verb} app `{}` ({})", a.0, a.1),
                );
            }
        });
        ensure_watchdog();
        slot.deadline_ms.store(
            now_ms().saturating_add(TIMEOUT_MS.load(Ordering::Relaxed)),
            Ordering::Release,
        );
    }
    struct Leave(&'static Slot);
    impl Drop for Leave {
        fn drop(&mut self) {
            if self.0.depth.fetch_sub(1, Ordering::AcqRel) == 1 {
                self.0.deadline_ms.store(u64::MAX, Ordering::Release);
            }
        }
    }
    let _leave = Leave(slot);
    f()
}

fn ensure_watchdog() {
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        start();
        let _ = std::thread::Builder::new()
            .name("kure-watchdog".into())
            .stack_size(64 << 10)
            .spawn(|| loop {
                let tick = (TIMEOUT_MS.load(Ordering::Relaxed) / 4).clamp(10, 200);
                std::thread::sleep(Duration::from_millis(tick));
                let now = now_ms();
                for slot in &SLOT {
                    if slot.depth.load(Ordering::Acquire) > 0
                        && slot.deadline_ms.load(Ordering::Acquire) <= now
                    {
                        timed_out(slot);
                    }
                }
            });
    });
}

fn timed_out(slot: &Slot) -> ! {
    let limit = TIMEOUT_MS.load(Ordering::Relaxed);
    let mut secs = String::new();
    if limit.is_multiple_of(1000) {
        secs.push_str(&(limit / 1000).to_string());
    } else {
        secs.push_str(&format!("{:.3}", limit as f64 / 1000.0));
    }
    let mut who = [0u8; 160];
    let mut what = [0u8; 480];
    let (nw, nt) = (slot.who.read(&mut who), slot.what.read(&mut what));
    let msg = format!(
        "error: {} did not return within {secs} s{}; kure stopped it and nothing was written (a slow plugin can be given more time with --plugin-timeout or KURE_PLUGIN_TIMEOUT)\n",
        String::from_utf8_lossy(&who[..nw]),
        String::from_utf8_lossy(&what[..nt]),
    );
    raw_write(ERR_FD.load(Ordering::Relaxed), msg.as_bytes());
    dump_capture_raw();
    // SAFETY: _exit ends the process at once; nothing of this process is used afterwards.
    unsafe { libc::_exit(1) }
}

/// Writes all of `bytes` to `fd` with write(2) (async-signal-safe, no allocation).
pub(crate) fn raw_write(fd: i32, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: `bytes` is a valid readable buffer of the given length.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        if n == 0 {
            return;
        }
        bytes = &bytes[n as usize..];
    }
}

/// With `-v`, copies what plugins printed to kure's stderr (async-signal-safe: pread/write).
fn dump_capture_raw() {
    let fd = CAPTURE_FD.load(Ordering::Relaxed);
    if fd < 0 || !VERBOSE.load(Ordering::Relaxed) {
        return;
    }
    let err = ERR_FD.load(Ordering::Relaxed);
    let mut buf = [0u8; 4096];
    let mut off: libc::off_t = 0;
    let mut header = false;
    loop {
        // SAFETY: `buf` is a valid writable buffer of its length; `fd` is our capture file.
        let n = unsafe { libc::pread(fd, buf.as_mut_ptr().cast(), buf.len(), off) };
        if n <= 0 {
            break;
        }
        if !header {
            raw_write(
                err,
                b"--- what plugins printed (kept off kure's output) ---\n",
            );
            header = true;
        }
        raw_write(err, &buf[..n as usize]);
        off += n as libc::off_t;
    }
    if header {
        raw_write(err, b"--- end of plugin output ---\n");
    }
}

/// The paragraph for plugin code ending the process (`how`: `called exit(0)`, `crashed with
/// SIGSEGV (...)`), written without allocating.
fn report_fatal(how: &[&[u8]], tail: &[u8]) {
    let err = ERR_FD.load(Ordering::Relaxed);
    let i = MY_SLOT.with(|s| s.get());
    let slot = (i < SLOTS)
        .then(|| &SLOT[i])
        .filter(|s| s.depth.load(Ordering::Acquire) > 0);
    raw_write(err, b"error: ");
    match slot {
        Some(slot) => {
            let mut who = [0u8; 160];
            let n = slot.who.read(&mut who);
            raw_write(err, &who[..n]);
            for h in how {
                raw_write(err, h);
            }
            let mut what = [0u8; 480];
            let n = slot.what.read(&mut what);
            raw_write(err, &what[..n]);
        }
        None if LOADED_ANY.load(Ordering::Acquire) => {
            raw_write(err, b"plugin code");
            for h in how {
                raw_write(err, h);
            }
            raw_write(
                err,
                b" outside any call from kure (a thread a plugin left running; plugins loaded: ",
            );
            let mut loaded = [0u8; 256];
            let n = LOADED.read(&mut loaded);
            raw_write(err, &loaded[..n]);
            raw_write(err, b")");
        }
        None => {
            raw_write(err, b"kure");
            for h in how {
                raw_write(err, h);
            }
            raw_write(
                err,
                b" (no plugin was running: this is a bug in kure, please report it)",
            );
        }
    }
    raw_write(err, tail);
    dump_capture_raw();
}

fn signal_name(sig: i32) -> &'static [u8] {
    match sig {
        libc::SIGSEGV => b"SIGSEGV (invalid memory access or stack overflow)",
        libc::SIGBUS => b"SIGBUS (bad memory access)",
        libc::SIGILL => b"SIGILL (illegal instruction)",
        libc::SIGFPE => b"SIGFPE (arithmetic fault)",
        libc::SIGABRT => {
            b"SIGABRT (it aborted: a failed allocation, a stack overflow, a panic while panicking, or a panic across the plugin ABI)"
        }
        _ => b"a fatal signal",
    }
}

extern "C" fn on_fatal_signal(
    sig: libc::c_int,
    _info: *mut libc::siginfo_t,
    _ctx: *mut libc::c_void,
) {
    report_fatal(
        &[b" crashed with ", signal_name(sig)],
        b"; kure stopped and nothing was written\n",
    );
    // SAFETY: _exit is async-signal-safe and ends the process.
    unsafe { libc::_exit(1) }
}

fn exit_hook(status: Option<i32>) {
    if EXITING.load(Ordering::Acquire) || !LOADED_ANY.load(Ordering::Acquire) {
        return;
    }
    let mut num = [0u8; 12];
    let digits = match status {
        Some(s) => format_i32(s, &mut num),
        None => &b""[..],
    };
    report_fatal(
        &[b" called exit(", digits, b")"],
        b"; kure stopped and nothing was written\n",
    );
    // SAFETY: _exit ends the process without running further exit handlers.
    unsafe { libc::_exit(1) }
}

fn format_i32(v: i32, buf: &mut [u8; 12]) -> &[u8] {
    let mut n = i64::from(v).unsigned_abs();
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        i -= 1;
        buf[i] = b'-';
    }
    &buf[i..]
}

/// Registers `hook` with glibc's `on_exit`, which, unlike `atexit`, passes the exit status.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub(crate) fn on_exit(hook: extern "C" fn(libc::c_int, *mut libc::c_void)) {
    extern "C" {
        fn on_exit(
            f: extern "C" fn(libc::c_int, *mut libc::c_void),
            arg: *mut libc::c_void,
        ) -> libc::c_int;
    }
    // SAFETY: registers a plain function with glibc's on_exit; the argument is unused.
    unsafe {
        on_exit(hook, std::ptr::null_mut());
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn register_exit_hook() {
    extern "C" fn hook(status: libc::c_int, _arg: *mut libc::c_void) {
        exit_hook(Some(status));
    }
    on_exit(hook);
}

#[cfg(all(unix, not(all(target_os = "linux", target_env = "gnu"))))]
fn register_exit_hook() {
    extern "C" fn hook() {
        exit_hook(None);
    }
    // SAFETY: registers a plain function with atexit.
    unsafe {
        libc::atexit(hook);
    }
}

fn install_signal_handlers() {
    // Rust's runtime gives every thread it starts an alternate signal stack; make sure the
    // current one has one too, so a stack overflow still runs the handler.
    // SAFETY: sigaltstack with a null new stack only queries the current one.
    unsafe {
        let mut cur: libc::stack_t = std::mem::zeroed();
        if libc::sigaltstack(std::ptr::null(), &mut cur) == 0
            && cur.ss_flags & libc::SS_DISABLE != 0
        {
            let size = 64 << 10;
            let stack = Box::leak(vec![0u8; size].into_boxed_slice());
            let new = libc::stack_t {
                ss_sp: stack.as_mut_ptr().cast(),
                ss_flags: 0,
                ss_size: size,
            };
            libc::sigaltstack(&new, std::ptr::null_mut());
        }
    }
    for sig in FATAL_SIGNALS {
        // SAFETY: installs a handler that only uses async-signal-safe operations.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_fatal_signal as *const () as libc::sighandler_t;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(sig, &action, std::ptr::null_mut());
        }
    }
}

/// `-q`: print errors only (no warnings, notes or summaries).
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// Whether `-q` asked for errors only.
pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// Whether `-v` asked for full diagnostics (set by [`install`]).
pub fn verbose() -> bool {
    VERBOSE.load(Ordering::Relaxed)
}

/// Takes over stdout and stderr (see the module docs), installs the exit hook and the fatal
/// signal handlers. Call once, first thing in `main`, before any plugin can be loaded.
pub fn install(verbose: bool) -> io::Result<()> {
    if INSTALLED.swap(true, Ordering::AcqRel) {
        return Ok(());
    }
    VERBOSE.store(verbose, Ordering::Relaxed);
    start();
    // SAFETY: fcntl(F_DUPFD_CLOEXEC) on the standard descriptors; a failure is reported.
    let (out, err) = unsafe {
        (
            libc::fcntl(1, libc::F_DUPFD_CLOEXEC, 3),
            libc::fcntl(2, libc::F_DUPFD_CLOEXEC, 3),
        )
    };
    if out < 0 || err < 0 {
        return Err(io::Error::last_os_error());
    }
    let capture = tempfile::tempfile()?;
    use std::os::fd::IntoRawFd;
    let cap = capture.into_raw_fd();
    // SAFETY: dup2 of our own capture fd over 1 and 2; kure writes through the duplicates.
    unsafe {
        if libc::dup2(cap, 1) < 0 || libc::dup2(cap, 2) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    OUT_FD.store(out, Ordering::Release);
    ERR_FD.store(err, Ordering::Release);
    CAPTURE_FD.store(cap, Ordering::Release);
    std::panic::set_hook(Box::new(|info| {
        let _ = writeln!(stderr(), "error: internal error in kure: {info}");
    }));
    register_exit_hook();
    install_signal_handlers();
    Ok(())
}

/// A writer on one of kure's own descriptors.
#[derive(Debug, Clone, Copy)]
pub struct FdWriter(&'static AtomicI32);

impl Write for FdWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        loop {
            // SAFETY: `buf` is valid for `buf.len()` bytes.
            let n = unsafe {
                libc::write(
                    self.0.load(Ordering::Relaxed),
                    buf.as_ptr().cast(),
                    buf.len(),
                )
            };
            if n >= 0 {
                return Ok(n as usize);
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// kure's stdout: the YAML stream and command results (fd 1 until [`install`]).
pub fn stdout() -> FdWriter {
    FdWriter(&OUT_FD)
}

/// kure's stderr: diagnostics (fd 2 until [`install`]).
pub fn stderr() -> FdWriter {
    FdWriter(&ERR_FD)
}

/// Adds what a plugin printed outside kure's process (a worker's stdout and stderr) to the
/// capture that `-v` shows and the byte count note reports, under a line naming `who`.
pub fn capture_output(who: &str, bytes: &[u8]) {
    let fd = CAPTURE_FD.load(Ordering::Relaxed);
    if fd < 0 || bytes.is_empty() {
        return;
    }
    raw_write(fd, format!("[{who}]\n").as_bytes());
    raw_write(fd, bytes);
    if !bytes.ends_with(b"\n") {
        raw_write(fd, b"\n");
    }
}

/// The signals kure turns into a paragraph in-process (a worker keeps their default action,
/// so its host sees the real signal).
pub(crate) const FATAL_SIGNALS: [i32; 5] = [
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGILL,
    libc::SIGFPE,
    libc::SIGABRT,
];

fn capture_len() -> u64 {
    let fd = CAPTURE_FD.load(Ordering::Relaxed);
    if fd < 0 {
        return 0;
    }
    // SAFETY: fstat on our capture fd into a zeroed stat buffer.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(fd, &mut st) == 0 {
            st.st_size as u64
        } else {
            0
        }
    }
}

/// Ends kure's run: from here on an exit is kure's own. With `-v`, shows what plugins printed;
/// otherwise notes how much they printed. Returns `code` for `main` to return.
pub fn finish(code: u8) -> std::process::ExitCode {
    EXITING.store(true, Ordering::Release);
    if VERBOSE.load(Ordering::Relaxed) {
        dump_capture_raw();
    } else if code == 0 {
        let n = capture_len();
        if n > 0 {
            let _ = writeln!(
                stderr(),
                "note: plugins printed {n} bytes, kept off kure's output; run with -v to see them"
            );
        }
    }
    std::process::ExitCode::from(code)
}

/// Exits with `code` as kure (not as a plugin).
pub fn exit(code: i32) -> ! {
    EXITING.store(true, Ordering::Release);
    std::process::exit(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_format_without_allocating() {
        let mut b = [0u8; 12];
        assert_eq!(format_i32(0, &mut b), b"0");
        assert_eq!(format_i32(42, &mut b), b"42");
        assert_eq!(format_i32(-7, &mut b), b"-7");
        assert_eq!(format_i32(i32::MIN, &mut b), b"-2147483648");
    }

    #[test]
    fn a_call_records_who_and_what_and_clears_its_deadline() {
        with_app("a", &"f.yaml:3", || {
            call("plugin p@1.0.0", "generate", || {
                let slot = my_slot().expect("slot");
                let mut who = [0u8; 160];
                let n = slot.who.read(&mut who);
                assert_eq!(&who[..n], b"plugin p@1.0.0");
                let mut what = [0u8; 480];
                let n = slot.what.read(&mut what);
                assert_eq!(
                    std::str::from_utf8(&what[..n]).expect("utf8"),
                    " in generate while generating app `a` (f.yaml:3)"
                );
                assert!(slot.deadline_ms.load(Ordering::Acquire) < u64::MAX);
            });
        });
        let slot = my_slot().expect("slot");
        assert_eq!(slot.depth.load(Ordering::Acquire), 0);
        assert_eq!(slot.deadline_ms.load(Ordering::Acquire), u64::MAX);
    }

    #[test]
    fn text_buffers_truncate_instead_of_overflowing() {
        let b: TextBuf<8> = TextBuf::new();
        b.push(b"0123456789");
        let mut out = [0u8; 8];
        assert_eq!(b.read(&mut out), 8);
        assert_eq!(&out, b"01234567");
    }
}
