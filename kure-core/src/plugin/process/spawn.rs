//! Starting, ending and reaping worker processes, draining what they print, and the paragraph
//! that says how a worker died.

use kure_plugin_api::abi::ErrorKind;
use std::collections::VecDeque;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use kure_plugin_api::abi::ErrorPayload;

use serde_json::Value;

use crate::plugin::sandbox;

use super::*;

/// One running worker process.
pub(super) struct Proc {
    pub(super) child: Child,
    pub(super) pid: i32,
    pub(super) channel: UnixStream,
    pub(super) initialized: bool,
    /// What this process printed (its plugin's record holds every process's).
    pub(super) own: Arc<OutputTail>,
    pub(super) reaped: bool,
}

impl Proc {
    /// Kills the worker's process group and reaps the worker.
    pub(super) fn end(&mut self) -> io::Result<ExitStatus> {
        kill_group(self.pid);
        let status = self.child.wait();
        self.reaped = true;
        crate::plugin::reap::worker_reaped(self.child.id());
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
pub(super) fn reap_in_background(mut proc: Proc) {
    let _ = std::thread::Builder::new()
        .name("kure-worker-reaper".into())
        .spawn(move || {
            let _ = proc.end();
        });
}

/// Signals the worker's process group (the worker leads it: `setpgid(0, 0)` before exec). Only
/// called before the worker is reaped, so the group id cannot have been reused.
pub(super) fn kill_group(pid: i32) {
    if pid > 0 {
        // SAFETY: kill(2) with a negative pid signals one process group; no memory involved.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
}

/// Whether the worker has exited, without reaping it (`WNOWAIT`).
#[cfg(target_os = "linux")]
pub(super) fn has_exited(pid: i32) -> bool {
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
pub(super) fn has_exited(_pid: i32) -> bool {
    false
}

/// Whether the worker exits within `limit`, without reaping it. A worker that was told to stop
/// exits within a fraction of a millisecond, so the polling starts fine and backs off.
pub(super) fn exits_within(pid: i32, limit: Duration) -> bool {
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

/// What a worker printed (stdout and stderr, one pipe): the last [`OUTPUT_TAIL`] bytes.
#[derive(Default)]
pub(super) struct OutputTail {
    pub(super) inner: Mutex<Tail>,
    pub(super) cv: Condvar,
}

#[derive(Default)]
pub(super) struct Tail {
    pub(super) buf: VecDeque<u8>,
    pub(super) total: u64,
    /// Drain threads still reading.
    pub(super) open: usize,
}

impl OutputTail {
    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Tail> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    #[cfg(test)]
    pub(super) fn total(&self) -> u64 {
        self.lock().total
    }

    pub(super) fn push(&self, bytes: &[u8]) {
        let mut t = self.lock();
        t.total += bytes.len() as u64;
        t.buf.extend(bytes);
        let excess = t.buf.len().saturating_sub(OUTPUT_TAIL);
        t.buf.drain(..excess);
    }

    /// What was printed from offset `from` on, as far as it is still kept.
    pub(super) fn since(&self, from: u64) -> Vec<u8> {
        let t = self.lock();
        let kept_from = t.total - t.buf.len() as u64;
        let skip = usize::try_from(from.saturating_sub(kept_from)).unwrap_or(usize::MAX);
        t.buf.iter().skip(skip).copied().collect()
    }

    pub(super) fn close_one(&self) {
        let mut t = self.lock();
        t.open = t.open.saturating_sub(1);
        self.cv.notify_all();
    }

    /// Waits (at most `limit`) until every drain thread has read to the end of its pipe.
    pub(super) fn settle(&self, limit: Duration) {
        let t = self.lock();
        let _ = self.cv.wait_timeout_while(t, limit, |t| t.open > 0);
    }
}

/// Reads one worker's output pipe into `outputs` (its own record and its plugin's) until
/// every writer closed it.
pub(super) fn start_drain(outputs: [Arc<OutputTail>; 2], mut reader: io::PipeReader) {
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
pub(super) type SpawnJob = (Command, Vec<OwnedFd>, mpsc::Sender<io::Result<Child>>);

/// A worker process being started on the spawner thread.
pub(super) struct Launched {
    /// `None` once taken by [`Launched::started`].
    pub(super) child: Option<mpsc::Receiver<io::Result<Child>>>,
    pub(super) channel: Option<UnixStream>,
    pub(super) own: Arc<OutputTail>,
}

impl Launched {
    /// Waits until the worker process exists (its `exec` succeeded or failed).
    pub(super) fn started(mut self) -> Result<Proc, StartError> {
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
                    crate::plugin::reap::worker_reaped(child.id());
                });
        }
    }
}

/// Spawns `cmd` from one long-lived thread, without waiting: a worker's `PR_SET_PDEATHSIG`
/// fires when the *thread* that spawned it ends, and the pipeline calls plugins from
/// short-lived threads. `keep` stays open until the spawn is done. A child nobody waits for
/// any more (its [`Launched`] was dropped) is killed and reaped there.
pub(super) fn spawn_child(cmd: Command, keep: Vec<OwnedFd>) -> mpsc::Receiver<io::Result<Child>> {
    fn run((mut cmd, keep, reply): SpawnJob) {
        // Registered as a worker before anything can take it for a stray.
        let mut spawning = crate::plugin::reap::Spawning::begin();
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
            crate::plugin::reap::worker_reaped(child.id());
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
pub(super) fn child_setup(library: i32, channel: i32) -> io::Result<()> {
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
pub(super) enum StartError {
    Spawn(io::Error),
    Refused(Refused),
    Failed(ErrorPayload),
}

/// Everything needed to start (and restart) a plugin's worker.
pub(super) struct Launch {
    pub(super) exe: PathBuf,
    pub(super) path: PathBuf,
    pub(super) memfd: OwnedFd,
    pub(super) memory_bytes: u64,
    pub(super) cpu_seconds: u64,
    pub(super) timeout: Duration,
}

pub(super) fn seconds(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        d.as_secs().to_string()
    } else {
        format!("{:.3}", d.as_secs_f64())
    }
}

/// How a message names signal `sig` (the one table in [`crate::plugin::contain`]).
pub(super) fn signal_name(sig: i32) -> String {
    crate::plugin::contain::signal_description(sig)
        .map_or_else(|| format!("signal {sig}"), str::to_owned)
}

/// Whether the output says an allocation failed (Rust's, C++'s and C's usual words).
pub(super) fn allocation_failed(output: &str) -> bool {
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
pub(super) fn telling_line(printed: &str) -> Option<&str> {
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
    pub(super) fn memory_mib(&self) -> u64 {
        self.memory_bytes >> 20
    }

    /// Starts a worker and completes the handshake.
    /// Starts a worker process and waits for its handshake answer.
    pub(super) fn start(
        &self,
        who: &str,
        output: &Arc<OutputTail>,
    ) -> Result<(Proc, Ready), StartError> {
        let launched = self.launch(output)?;
        self.handshake(who, launched)
    }

    /// Starts a worker process on the spawner thread, without waiting for it: it execs,
    /// applies its sandbox and waits for kure's handshake before it looks at the library.
    pub(super) fn launch(&self, output: &Arc<OutputTail>) -> Result<Launched, StartError> {
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
    pub(super) fn handshake(
        &self,
        who: &str,
        launched: Launched,
    ) -> Result<(Proc, Ready), StartError> {
        let mut proc = launched.started()?;
        let op = "startup (loading the library: its constructors, metadata and register)";
        let hello = serde_json::to_vec(&Hello {
            protocol: PROTOCOL_VERSION,
            kure: KURE_VERSION.to_owned(),
        })
        .map_err(|e| StartError::Failed(payload(ErrorKind::Internal, e.to_string())))?;
        let value = match exchange(&mut proc, &hello, 1, self.timeout).and_then(Answer::json) {
            Ok(v) => v,
            Err(t) => return Err(StartError::Failed(self.bury(who, proc, t, op).payload)),
        };
        if value.get("error").is_some() {
            let refused: Result<Refused, _> = serde_json::from_value(value);
            drop(proc);
            return Err(match refused {
                Ok(r) => StartError::Refused(r),
                Err(e) => StartError::Failed(payload(ErrorKind::Protocol,
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
            return Err(StartError::Failed(payload(ErrorKind::Protocol, message)));
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
    pub(super) fn bury(&self, who: &str, mut proc: Proc, trouble: Trouble, op: &str) -> Failed {
        // A worker whose channel closed is normally dying: give it a moment, so that its own
        // exit status (the signal) is what gets reported.
        let hung_up =
            matches!(trouble, Trouble::Gone) && !exits_within(proc.pid, Duration::from_secs(2));
        let status = proc.end();
        proc.own.settle(Duration::from_millis(500));
        let printed = String::from_utf8_lossy(&proc.own.since(0)).into_owned();
        let (kind, what, index) = match trouble {
            Trouble::HostTimeout(backstop) => (
                ErrorKind::WorkerTimeout,
                format!(
                    "did not answer within {} s (the limit is {} s per plugin call; raise it with --plugin-timeout)",
                    seconds(backstop),
                    seconds(self.timeout)
                ),
                None,
            ),
            Trouble::WorkerTimeout { entry, index } => (
                ErrorKind::WorkerTimeout,
                format!(
                    "did not return from {entry} within {} s (raise the limit with --plugin-timeout)",
                    seconds(self.timeout)
                ),
                index,
            ),
            Trouble::Protocol(reason) => (
                ErrorKind::Protocol,
                format!("broke the worker protocol ({reason})"),
                None,
            ),
            Trouble::Gone if hung_up => (
                ErrorKind::WorkerCrashed,
                "closed its channel to kure without exiting, so kure killed it".to_owned(),
                None,
            ),
            Trouble::Gone => (ErrorKind::WorkerCrashed, self.death(status, &printed), None),
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
    pub(super) fn death(&self, status: io::Result<ExitStatus>, printed: &str) -> String {
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
