//! The host side of process isolation: a plugin's workers ([`WorkerPlugin`]), started on
//! first need, restarted after a crash, and asked in batches.

use kure_plugin_api::abi::ErrorKind;
use std::borrow::Cow;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use kure_plugin_api::abi::ErrorPayload;

use kure_plugin_api::host::DynGenerator;
use kure_plugin_api::sdk::Documentation;
use serde_json::Value;

use super::wire::{self, BatchOp};
use crate::plugin::sandbox;
use crate::plugin::PluginIdentity;
use crate::plugin::{Sealed, Staging};
use crate::trust::{Admission, TrustPolicy};

use super::*;

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

/// What the worker sandbox does not enforce on this system (computed once, by kure).
pub(super) fn expected_warnings() -> &'static [String] {
    static WARNINGS: OnceLock<Vec<String>> = OnceLock::new();
    WARNINGS.get_or_init(|| sandbox::expected_report().warnings())
}

/// A worker process started for a library that is not yet sealed and admitted
/// ([`WorkerPlugin::start`]). It runs only kure's own code, sandboxed, until
/// [`finish`](Self::finish). Dropping it kills the worker.
pub struct Starting {
    pub(super) path: PathBuf,
    pub(super) launch: Launch,
    pub(super) output: Arc<OutputTail>,
    pub(super) launched: Launched,
    pub(super) max_restarts: u32,
    pub(super) pool: usize,
    pub(super) print_sandbox_warnings: bool,
}

impl std::fmt::Debug for Starting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Starting")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Starting {
    pub(super) fn launch(
        path: &Path,
        memfd: OwnedFd,
        opts: &WorkerOptions,
    ) -> Result<Self, WorkerError> {
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
            identity: PluginIdentity {
                name: ready.plugin.name.clone(),
                version: ready.plugin.version.clone(),
                description: ready.plugin.description.clone(),
                author: ready.plugin.author.clone(),
                path,
                admission,
                sha256: sha256.to_owned(),
                abi_info: ready.abi_info,
            },
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

pub(super) fn start_error(path: &Path, launch: &Launch, e: StartError) -> WorkerError {
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
pub(super) type Bytes = Result<Vec<u8>, ErrorPayload>;

/// A plugin running in process isolation: metadata from the worker's handshake, and the
/// channel to the worker (restarted when it died, at most `max_restarts` times).
pub struct WorkerPlugin {
    /// Who it is (its fields read through this struct too: `plugin.name`).
    pub identity: PluginIdentity,
    /// The GVKs it registered generators for, in registration order.
    pub gvks: Vec<PluginGvk>,
    /// One line per sandbox layer the running kernel does not (fully) enforce.
    pub sandbox_warnings: Vec<String>,
    pub(super) who: String,
    pub(super) info: PluginInfo,
    pub(super) launch: Launch,
    pub(super) max_restarts: u32,
    pub(super) output: Arc<OutputTail>,
    /// Worker processes serving this plugin, started as concurrent calls need them; slot 0
    /// holds the one that answered the handshake.
    pub(super) slots: Vec<Mutex<State>>,
    /// Restarts of dead workers so far, all slots together.
    pub(super) restarts: AtomicU32,
    pub(super) closed: AtomicBool,
}

/// One worker process of a plugin (or none yet).
pub(super) struct State {
    pub(super) proc: Option<Proc>,
    /// A process ran in this slot before: starting another one is a restart.
    pub(super) started: bool,
}

impl std::ops::Deref for WorkerPlugin {
    type Target = PluginIdentity;
    fn deref(&self) -> &PluginIdentity {
        &self.identity
    }
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

pub(super) fn op_label(op: &str, api_version: &str, kind: &str, apps: usize) -> String {
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
        let (library, digest) = crate::plugin::read_library(path)?;
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

    pub(super) fn slot(&self, i: usize) -> std::sync::MutexGuard<'_, State> {
        self.slots[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A free worker slot, the lowest first (one caller at a time never starts a second
    /// process); when every slot is busy, waits for the first.
    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, State> {
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
    pub(super) fn ensure_running(&self, state: &mut State, label: &str) -> Result<(), Failed> {
        let not_attempted = |message: String| Failed {
            payload: payload(ErrorKind::WorkerCrashed, message),
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
    pub(super) fn round_trip(
        &self,
        state: &mut State,
        request: &Request<'_>,
        calls: usize,
        label: &str,
    ) -> Result<Value, Failed> {
        let body = serde_json::to_vec(request).map_err(|e| Failed {
            payload: payload(
                ErrorKind::Internal,
                format!("cannot encode a worker request: {e}"),
            ),
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
    pub(super) fn exchange(
        &self,
        state: &mut State,
        body: &[u8],
        calls: usize,
        label: &str,
    ) -> Result<Answer, Failed> {
        self.ensure_running(state, label)?;
        let Some(proc) = state.proc.as_mut() else {
            return Err(Failed {
                payload: payload(ErrorKind::Internal, "no worker is running".to_owned()),
                index: None,
                attempted: false,
            });
        };
        match exchange(proc, body, calls, self.launch.timeout) {
            Ok(v) => Ok(v),
            Err(trouble) => {
                let Some(proc) = state.proc.take() else {
                    return Err(Failed {
                        payload: payload(ErrorKind::Internal, "no worker is running".to_owned()),
                        index: None,
                        attempted: true,
                    });
                };
                Err(self.launch.bury(&self.who, proc, trouble, label))
            }
        }
    }

    /// Ends the worker for a protocol violation found after the exchange.
    pub(super) fn protocol_failure(
        &self,
        state: &mut State,
        reason: String,
        label: &str,
    ) -> Failed {
        match state.proc.take() {
            Some(proc) => self
                .launch
                .bury(&self.who, proc, Trouble::Protocol(reason), label),
            None => Failed {
                payload: payload(ErrorKind::Protocol, reason),
                index: None,
                attempted: true,
            },
        }
    }

    /// `initialize` (once per worker process) before the first `generate`.
    pub(super) fn ensure_initialized(&self, state: &mut State, label: &str) -> Result<(), Failed> {
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
    pub(super) fn batch_frame(
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
    pub(super) fn batch(
        &self,
        op: BatchOp,
        api_version: &str,
        kind: &str,
        items: &[String],
    ) -> Vec<Bytes> {
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

    pub(super) fn chunk(
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
            Ok(Err(e)) if e.kind == ErrorKind::TooLarge && n > 1 => {}
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
                        Err(payload(
                            ErrorKind::Protocol,
                            "no result for the app".to_owned(),
                        ))
                    }),
                    Ok(Err(e)) => Err(e),
                    Err(f) => Err(f.payload),
                },
            );
        }
        slots
            .into_iter()
            .map(|s| s.unwrap_or_else(|| Err(payload(ErrorKind::Internal, "no result".to_owned()))))
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
            .map(|r| r.and_then(|json| crate::plugin::json::parse_objects(&json)))
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
                            ErrorKind::InvalidOutput,
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
    pub(super) fn single<T: serde::de::DeserializeOwned>(
        &self,
        request: &Request<'_>,
        label: &str,
    ) -> Result<T, ErrorPayload> {
        self.single_in(&mut self.lock(), request, label)
    }

    /// [`Self::single`] in a given slot.
    pub(super) fn single_in<T: serde::de::DeserializeOwned>(
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

    pub(super) fn end(&self, state: &mut State) -> Result<(), ErrorPayload> {
        let Some(mut proc) = state.proc.take() else {
            return Ok(());
        };
        let body = serde_json::to_vec(&Request::Shutdown).map_err(|e| {
            payload(
                ErrorKind::Internal,
                format!("cannot encode a worker request: {e}"),
            )
        })?;
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
                        .unwrap_or_else(|_| {
                            payload(ErrorKind::Protocol, "an unreadable error".to_owned())
                        })),
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
