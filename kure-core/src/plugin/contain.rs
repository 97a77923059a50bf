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

    /// Writes the text to `fd` straight from the buffer (async-signal-safe; no copy on the
    /// stack, so a signal handler's frame stays small).
    fn write_to(&self, fd: i32) {
        let n = self.len.load(Ordering::Acquire).min(N);
        // `AtomicU8` has the size and alignment of `u8`: the kernel copies the bytes out, and no
        // Rust reference to them as plain bytes is made.
        raw_write_ptr(fd, self.bytes.as_ptr().cast(), n);
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

/// The clock both watchdogs (in-process, and a worker's) measure deadlines with: milliseconds
/// since the first call, never beyond `u64::MAX - 2` (the worker's watchdog keeps the two values
/// above it as markers).
pub(crate) fn start() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

/// Milliseconds on [`start`]'s clock.
pub(crate) fn now_ms() -> u64 {
    u64::try_from(start().elapsed().as_millis()).unwrap_or(u64::MAX - 2)
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
    if !STACK_CHECKED.with(|c| c.get()) {
        ensure_signal_stack();
    }
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

/// Set in a process-isolation worker, which has a watchdog of its own and must stay
/// single-threaded until its sandbox is complete.
static NO_WATCHDOG: AtomicBool = AtomicBool::new(false);

/// Never starts the in-process watchdog thread (the worker's own enforces its time limits).
pub(crate) fn without_watchdog() {
    NO_WATCHDOG.store(true, Ordering::Release);
}

fn ensure_watchdog() {
    if NO_WATCHDOG.load(Ordering::Acquire) {
        return;
    }
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        start();
        let _ = std::thread::Builder::new()
            .name("kure-watchdog".into())
            .stack_size(64 << 10)
            .spawn(|| {
                ensure_signal_stack();
                loop {
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
pub(crate) fn raw_write(fd: i32, bytes: &[u8]) {
    raw_write_ptr(fd, bytes.as_ptr(), bytes.len());
}

/// Writes `len` bytes from `ptr` to `fd` with write(2), retrying short writes and EINTR.
fn raw_write_ptr(fd: i32, mut ptr: *const u8, mut len: usize) {
    while len > 0 {
        // SAFETY: `ptr` points to `len` readable bytes (callers pass a slice or a static buffer).
        let n = unsafe { libc::write(fd, ptr.cast(), len) };
        if n < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        if n == 0 {
            return;
        }
        let n = n as usize;
        // SAFETY: write(2) wrote `n <= len` bytes, so the rest starts `n` bytes further on.
        ptr = unsafe { ptr.add(n) };
        len -= n;
    }
}

/// The buffer [`dump_capture_raw`] copies through: static, so that a signal handler running on
/// the alternate stack does not carry 4 KiB on it. One copier at a time ([`DUMPING`]).
struct DumpBuf(std::cell::UnsafeCell<[u8; 4096]>);
// SAFETY: only the holder of `DUMPING` touches the buffer.
unsafe impl Sync for DumpBuf {}
static DUMP_BUF: DumpBuf = DumpBuf(std::cell::UnsafeCell::new([0; 4096]));
static DUMPING: AtomicBool = AtomicBool::new(false);

/// With `-v`, copies what plugins printed to kure's stderr (async-signal-safe: pread/write).
fn dump_capture_raw() {
    let fd = CAPTURE_FD.load(Ordering::Relaxed);
    if fd < 0 || !VERBOSE.load(Ordering::Relaxed) || DUMPING.swap(true, Ordering::AcqRel) {
        return;
    }
    let err = ERR_FD.load(Ordering::Relaxed);
    let buf = DUMP_BUF.0.get().cast::<u8>();
    let mut off: libc::off_t = 0;
    let mut header = false;
    loop {
        // SAFETY: `buf` is the static 4096-byte buffer, ours while DUMPING is held; `fd` is our
        // capture file.
        let n = unsafe { libc::pread(fd, buf.cast(), 4096, off) };
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
        raw_write_ptr(err, buf, n as usize);
        off += n as libc::off_t;
    }
    if header {
        raw_write(err, b"--- end of plugin output ---\n");
    }
    DUMPING.store(false, Ordering::Release);
}

/// The paragraph for plugin code ending the process (`how`: `called exit(0)`, `crashed with
/// SIGSEGV (...)`), written without allocating and without buffers on the stack: it runs in
/// signal handlers, on an alternate stack that also holds the kernel's signal frame.
fn report_fatal(how: &[&[u8]], tail: &[u8]) {
    let err = ERR_FD.load(Ordering::Relaxed);
    let i = MY_SLOT.with(|s| s.get());
    let slot = (i < SLOTS)
        .then(|| &SLOT[i])
        .filter(|s| s.depth.load(Ordering::Acquire) > 0);
    raw_write(err, b"error: ");
    match slot {
        Some(slot) => {
            slot.who.write_to(err);
            for h in how {
                raw_write(err, h);
            }
            slot.what.write_to(err);
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
            LOADED.write_to(err);
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

/// How kure names a signal that ended plugin code, in-process or in a worker (static text: the
/// fatal-signal handler uses it).
pub(crate) fn signal_description(sig: i32) -> Option<&'static str> {
    Some(match sig {
        libc::SIGSEGV => "SIGSEGV (invalid memory access or stack overflow)",
        libc::SIGBUS => "SIGBUS (bad memory access)",
        libc::SIGILL => "SIGILL (illegal instruction)",
        libc::SIGFPE => "SIGFPE (arithmetic fault)",
        libc::SIGABRT => {
            "SIGABRT (it aborted: a failed allocation, a panic while panicking, or a panic across the plugin ABI)"
        }
        libc::SIGSYS => "SIGSYS (a system call the sandbox forbids)",
        libc::SIGKILL => "SIGKILL",
        libc::SIGTERM => "SIGTERM",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        _ => return None,
    })
}

extern "C" fn on_fatal_signal(
    sig: libc::c_int,
    _info: *mut libc::siginfo_t,
    _ctx: *mut libc::c_void,
) {
    report_fatal(
        &[
            b" crashed with ",
            signal_description(sig).map_or(&b"a fatal signal"[..], str::as_bytes),
        ],
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
    ensure_signal_stack();
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

/// What kure's fatal-signal handler needs on the alternate stack beyond the kernel's signal
/// frame, with room to spare for an unoptimised build and for libc's `write`.
const HANDLER_STACK: usize = 64 << 10;

/// The alternate signal stack every thread that runs plugin code gets: the kernel's smallest
/// stack for this CPU (`AT_MINSIGSTKSZ`: the signal frame, which holds the CPU's whole register
/// state and grows with AVX-512 and AMX), or libc's `SIGSTKSZ` if larger, plus
/// [`HANDLER_STACK`], in whole pages.
pub(crate) fn signal_stack_size() -> usize {
    static SIZE: OnceLock<usize> = OnceLock::new();
    *SIZE.get_or_init(|| {
        #[cfg(target_os = "linux")]
        // SAFETY: getauxval only reads the auxiliary vector; 0 means "not provided".
        let frame = unsafe { libc::getauxval(libc::AT_MINSIGSTKSZ) } as usize;
        #[cfg(not(target_os = "linux"))]
        let frame = 0usize;
        let page = page_size();
        let want = frame.max(libc::SIGSTKSZ) + HANDLER_STACK;
        want.div_ceil(page) * page
    })
}

fn page_size() -> usize {
    // SAFETY: sysconf only reads a system setting.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(page)
        .ok()
        .filter(|p| *p > 0)
        .unwrap_or(4096)
}

/// The alternate stack kure gave this thread; unmapped when the thread ends.
struct SignalStack {
    /// Start of the mapping (the guard page), 0 for none.
    base: std::cell::Cell<usize>,
    /// Length of the mapping, guard page included.
    len: std::cell::Cell<usize>,
}

impl Drop for SignalStack {
    fn drop(&mut self) {
        let (base, len) = (self.base.get(), self.len.get());
        if base == 0 {
            return;
        }
        // SAFETY: sigaltstack only reads and writes the `stack_t`s passed; the mapping is ours
        // and is unmapped only after it is no longer this thread's alternate stack.
        unsafe {
            let mut cur: libc::stack_t = std::mem::zeroed();
            if libc::sigaltstack(std::ptr::null(), &mut cur) != 0 {
                return;
            }
            if cur.ss_sp as usize == base + page_size() {
                if cur.ss_flags & libc::SS_ONSTACK != 0 {
                    return;
                }
                let off = libc::stack_t {
                    ss_sp: std::ptr::null_mut(),
                    ss_flags: libc::SS_DISABLE,
                    ss_size: 0,
                };
                if libc::sigaltstack(&off, std::ptr::null_mut()) != 0 {
                    return;
                }
            }
            libc::munmap(base as *mut libc::c_void, len);
        }
    }
}

thread_local! {
    /// Whether [`ensure_signal_stack`] has run on this thread (const, no destructor: read on
    /// every plugin call).
    static STACK_CHECKED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    static MY_STACK: SignalStack = const {
        SignalStack { base: std::cell::Cell::new(0), len: std::cell::Cell::new(0) }
    };
}

/// Gives the calling thread an alternate signal stack of `signal_stack_size()` unless it already
/// has one at least that large. Rust's runtime gives each thread one sized for its own small
/// handler (8 KiB on x86_64 with glibc): the kernel's signal frame alone can take half of that on
/// a CPU with AVX-512, so kure's handler would overflow it. The new stack has a guard page below
/// it, so even an overflow of it faults instead of writing over other memory. Returns whether
/// the thread now has a large enough alternate stack.
pub fn ensure_signal_stack() -> bool {
    let done = ensure_signal_stack_once();
    // Checked again on the next call if it failed (no memory for the stack, say).
    STACK_CHECKED.with(|c| c.set(done));
    done
}

fn ensure_signal_stack_once() -> bool {
    let size = signal_stack_size();
    // SAFETY: sigaltstack with a null new stack only reads the current one into `cur`.
    let mut cur: libc::stack_t = unsafe { std::mem::zeroed() };
    if unsafe { libc::sigaltstack(std::ptr::null(), &mut cur) } != 0 {
        return false;
    }
    if cur.ss_flags & libc::SS_ONSTACK != 0 {
        // Running on it right now (inside a handler): it cannot be changed.
        return cur.ss_size >= size;
    }
    if cur.ss_flags & libc::SS_DISABLE == 0 && cur.ss_size >= size {
        return true;
    }
    let page = page_size();
    let len = size + page;
    // SAFETY: a fresh private anonymous mapping; nothing else refers to it.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if base == libc::MAP_FAILED {
        return false;
    }
    // SAFETY: the first page of our own mapping becomes the guard page; the stack is the rest,
    // which stays mapped until this thread's `MY_STACK` is dropped.
    let installed = unsafe {
        libc::mprotect(base, page, libc::PROT_NONE) == 0 && {
            let new = libc::stack_t {
                ss_sp: base.cast::<u8>().add(page).cast(),
                ss_flags: 0,
                ss_size: size,
            };
            libc::sigaltstack(&new, std::ptr::null_mut()) == 0
        }
    };
    if !installed {
        // SAFETY: the mapping was never installed as a stack; nothing refers to it.
        unsafe { libc::munmap(base, len) };
        return false;
    }
    // A previous stack of kure's on this thread was smaller (cannot happen: the size is fixed)
    // or was replaced by someone else: free ours only once it is no longer installed.
    let _ = MY_STACK.try_with(|s| {
        let (old_base, old_len) = (s.base.replace(base as usize), s.len.replace(len));
        if old_base != 0 {
            // SAFETY: the old mapping is ours and is not the installed alternate stack any more.
            unsafe { libc::munmap(old_base as *mut libc::c_void, old_len) };
        }
    });
    true
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
    super::reap::adopt_every_orphan();
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

/// Ends kure's run: from here on an exit is kure's own. Ends every plugin worker still alive
/// and every process they left behind. With `-v`, shows what plugins printed; otherwise notes
/// how much they printed. Returns `code` for `main` to return.
pub fn finish(code: u8) -> std::process::ExitCode {
    EXITING.store(true, Ordering::Release);
    super::reap::end_all();
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
    super::reap::end_all();
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

    /// The alternate stack the calling thread has now (size, enabled).
    fn current_signal_stack() -> (usize, bool) {
        // SAFETY: sigaltstack with a null new stack only reads the current one.
        unsafe {
            let mut cur: libc::stack_t = std::mem::zeroed();
            assert_eq!(libc::sigaltstack(std::ptr::null(), &mut cur), 0);
            (cur.ss_size, cur.ss_flags & libc::SS_DISABLE == 0)
        }
    }

    /// Installs an alternate stack of `size` bytes with 16 guard pages below it, the way a
    /// runtime with a small one would; returns nothing (the mapping is leaked on purpose).
    fn install_small_signal_stack(size: usize) {
        let page = page_size();
        let guard = 16 * page;
        let len = guard + size.div_ceil(page) * page;
        // SAFETY: a fresh anonymous mapping, then its guard pages made inaccessible and the
        // rest installed as this thread's alternate stack, ending exactly at the guard.
        unsafe {
            let base = libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            assert_ne!(base, libc::MAP_FAILED);
            assert_eq!(libc::mprotect(base, guard, libc::PROT_NONE), 0);
            let small = libc::stack_t {
                ss_sp: base.cast::<u8>().add(guard).cast(),
                ss_flags: 0,
                ss_size: size,
            };
            assert_eq!(
                libc::sigaltstack(&small, std::ptr::null_mut()),
                0,
                "{}",
                io::Error::last_os_error()
            );
        }
    }

    /// The smallest alternate stack the kernel takes on this CPU: room for its signal frame and
    /// next to nothing for a handler, whatever the CPU's register state.
    fn frame_only_stack() -> usize {
        // SAFETY: getauxval only reads the auxiliary vector.
        let frame = unsafe { libc::getauxval(libc::AT_MINSIGSTKSZ) } as usize;
        frame.max(libc::MINSIGSTKSZ).next_multiple_of(16)
    }

    #[test]
    fn a_thread_gets_a_signal_stack_sized_for_this_cpu() {
        std::thread::spawn(|| {
            let small = frame_only_stack();
            install_small_signal_stack(small);
            assert_eq!(current_signal_stack(), (small, true));
            assert!(ensure_signal_stack());
            let (size, on) = current_signal_stack();
            // SAFETY: getauxval only reads the auxiliary vector.
            let frame = unsafe { libc::getauxval(libc::AT_MINSIGSTKSZ) } as usize;
            assert!(on && size >= frame + (64 << 10), "{size}");
            assert_eq!(size, signal_stack_size());
            // A second call keeps what is there.
            assert!(ensure_signal_stack());
            assert_eq!(current_signal_stack(), (size, true));
        })
        .join()
        .expect("thread");
    }

    /// Regression test for the containment failures on CPUs with large signal frames (AVX-512,
    /// AMX): the handler ran on the runtime's 8 KiB alternate stack, overflowed it, and the
    /// kernel killed kure with SIGSEGV instead of the paragraph. Here the thread's alternate
    /// stack holds the kernel's frame and nothing more, so on any CPU the handler would overflow
    /// it if kure did not replace it before plugin code runs.
    #[test]
    fn a_crash_on_a_thread_with_a_small_signal_stack_is_still_one_paragraph() {
        let mut fds = [0; 2];
        // SAFETY: pipe writes two descriptors into `fds`.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        let (read_end, write_end) = (fds[0], fds[1]);
        // SAFETY: the child only installs containment, runs one thread and ends with _exit or
        // a signal; it never returns into the test harness.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork: {}", io::Error::last_os_error());
        if pid == 0 {
            // SAFETY: in the child: a timer against hanging, and the pipe as its stderr.
            unsafe {
                libc::alarm(30);
                libc::dup2(write_end, 2);
                libc::close(read_end);
            }
            if install(false).is_err() {
                // SAFETY: ends the child.
                unsafe { libc::_exit(3) };
            }
            note_loaded("small@1.0.0");
            let _ = std::thread::spawn(|| {
                install_small_signal_stack(frame_only_stack());
                call("plugin small@1.0.0", "generate", || {
                    // SAFETY: raising SIGABRT is the point: kure's handler must report it.
                    unsafe { libc::raise(libc::SIGABRT) };
                });
            })
            .join();
            // SAFETY: ends the child; reaching this means the handler did not end it.
            unsafe { libc::_exit(4) };
        }
        // SAFETY: the parent closes its copy of the write end so that EOF comes.
        unsafe { libc::close(write_end) };
        // SAFETY: `read_end` is ours; the File owns and closes it.
        let mut pipe = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(read_end) };
        let mut err = String::new();
        std::io::Read::read_to_string(&mut pipe, &mut err).expect("read the child's stderr");
        let mut status = 0;
        // SAFETY: waits for our own child.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(
            libc::WIFEXITED(status),
            "the child died of signal {} instead of reporting: {err:?}",
            libc::WTERMSIG(status)
        );
        assert_eq!(libc::WEXITSTATUS(status), 1, "{err:?}");
        assert_eq!(
            err,
            "error: plugin small@1.0.0 crashed with SIGABRT (it aborted: a failed allocation, a panic while panicking, or a panic across the plugin ABI) in generate; kure stopped and nothing was written\n"
        );
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
