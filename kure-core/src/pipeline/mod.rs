//! The streaming `generate` pipeline: file by file, chunk by chunk, in input order.
//!
//! Each chunk of documents is validated, generated and rendered to YAML on `jobs` threads, then
//! written in input order to a sink that nobody sees until the run succeeds: a spool for
//! stdout (memory, spilling to a temporary file) or the staging directory of `-o DIR`. Memory
//! therefore depends on the chunk and file sizes, not on the number of apps. After the first
//! problem nothing more is generated, but every remaining document is still validated so one
//! run reports every problem, and nothing is written. "After" is per unit of work: the chunk
//! being processed when the problem is found (its other documents may already be generating
//! on another thread), or the part of up to `BATCH_PART` apps a worker process has, whose
//! generator (kure-plugin-api 1.1) runs its own checks inside the one generate call.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::Value;

mod passthrough;

use crate::generate::engine::Engine;
use crate::input::decode::{
    decode_document, decode_value, parse_document, peek_gvk, shown_name, Document, Location,
};
use crate::input::{self, InputOptions};
use crate::model::error::{Diagnostic, Error};
use crate::model::gvk::Gvk;
use crate::output::sink::{Rendered, Sink};
use crate::output::tree::file_stem;
pub use crate::output::Output;

/// Tuning.
#[derive(Debug, Clone)]
pub struct PipelineOptions {
    /// Worker threads for validation, generation and rendering.
    pub jobs: usize,
    /// Documents per chunk.
    pub chunk: usize,
    /// How inputs are found and read (size limit, directories to skip).
    pub input: InputOptions,
    /// Told after each chunk how many documents were processed and which file is being read.
    pub progress: Option<Progress>,
    /// Copy documents in API groups kure does not generate for through unchanged
    /// (`--passthrough`) instead of refusing them as specs.
    pub passthrough: bool,
    /// Only the document starting on this line of each input (`kure kustomize generate`:
    /// the one spec kustomize asked for, read from the user's file so that messages name it).
    pub document: Option<usize>,
}

/// What a progress callback is given: documents processed so far, and the file being read.
pub type ProgressFn = dyn Fn(usize, &std::path::Path) + Send + Sync;

/// A progress callback.
#[derive(Clone)]
pub struct Progress(pub std::sync::Arc<ProgressFn>);

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Progress")
    }
}

impl Default for PipelineOptions {
    fn default() -> Self {
        Self {
            jobs: default_jobs(),
            chunk: 512,
            input: InputOptions::default(),
            progress: None,
            passthrough: false,
            document: None,
        }
    }
}

/// What a successful run produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Applications generated (`validate`: checked).
    pub apps: usize,
    /// Objects written.
    pub objects: usize,
    /// The GVKs the documents use (what `kure lock` pins).
    pub gvks: BTreeSet<Gvk>,
    /// Objects copied through unchanged (`--passthrough`), per GVK.
    pub passed: BTreeMap<Gvk, usize>,
    /// kustomize configuration documents `--passthrough` skipped (not objects), where each is.
    pub skipped: Vec<Location>,
}

/// What identifies an object to kustomize (group, kind, namespace, name), hashed: two apps
/// producing one object collide here.
pub(crate) fn key_hash(o: &Value) -> u64 {
    let get = |keys: &[&str]| {
        crate::util::field(o, keys)
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    let api = get(&["apiVersion"]);
    let group = api.rsplit_once('/').map_or("", |(g, _)| g);
    // No namespace is `default`, as kustomize counts it (and as the -o tree files it).
    let namespace = match get(&["metadata", "namespace"]) {
        "" => "default",
        ns => ns,
    };
    let mut h = DefaultHasher::new();
    (group, get(&["kind"]), namespace, get(&["metadata", "name"])).hash(&mut h);
    h.finish()
}

/// What each worker makes of a generated app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Emit {
    /// Nothing: validate only (or a problem was found, so nothing will be written).
    Nothing,
    /// YAML documents.
    Yaml,
    /// Compact JSON objects.
    Json,
}

impl Emit {
    fn on(self) -> bool {
        self != Emit::Nothing
    }
}

/// Apps per request to a plugin's worker while the previous part is rendered.
const BATCH_PART: usize = 64;

/// What became of one app of a batch.
enum Part {
    /// The plugin's own checks failed.
    Invalid(Vec<Diagnostic>),
    /// Generated (or failed to).
    Generated(Result<Made, Error>),
}

/// What a batch made of one app: objects for the JSON stream, YAML for the YAML one.
enum Made {
    Values(Vec<Value>),
    Yaml(crate::generate::engine::YamlObjects),
}

/// What a worker thread made of one raw document.
enum Outcome {
    /// Blank document.
    Empty,
    /// Problems to report.
    Problems(Vec<Diagnostic>),
    /// Its GVK has not been resolved and checked against the lock yet: the main thread does
    /// that, then processes it.
    Unresolved(Box<Document>),
    /// Valid as far as kure can tell; its generator takes many apps at once (a worker
    /// process), so the thread that staged it validates and generates it with the others of
    /// its GVK in that thread's part of the chunk.
    Batch(Box<Document>),
    /// Valid; rendered unless generation had stopped.
    Done(Box<Document>, Option<Rendered>),
    /// `--passthrough`: parsed, but whether its GVK is kure's is not decided yet: the main
    /// thread resolves it, then classifies it again. (location, value, text)
    Undecided(Box<(Location, Value, String)>),
    /// `--passthrough`: copied through unchanged.
    Passed(Box<passthrough::Passed>),
    /// `--passthrough`: kustomize configuration, not an object; left out.
    Skipped(Location),
}

/// The GVKs the workers of a chunk may act on without the main thread.
#[derive(Clone, Copy)]
struct Known<'a> {
    /// Resolved (and checked against the lock).
    checked: &'a HashSet<Gvk>,
    /// Under `--passthrough`: the resolved GVKs that are not kure's.
    passed: Option<&'a HashSet<Gvk>>,
}

/// Decodes, validates, generates and renders one raw document.
fn process_raw(
    engine: &Engine,
    known: Known<'_>,
    location: &Location,
    text: &str,
    emit: Emit,
) -> Outcome {
    if known.passed.is_some() {
        return match parse_document(location, text) {
            Ok(Some(value)) => classify(engine, known, location.clone(), value, text, emit),
            Ok(None) => Outcome::Empty,
            Err(d) => Outcome::Problems(vec![d]),
        };
    }
    let doc = match decode_document(location, text) {
        Ok(Some(d)) => d,
        Ok(None) => return Outcome::Empty,
        Err(d) => return Outcome::Problems(vec![d]),
    };
    if !known.checked.contains(&doc.gvk) {
        return Outcome::Unresolved(Box::new(doc));
    }
    stage(engine, doc, emit)
}

/// Under `--passthrough`: a parsed document copied through, left out (kustomize
/// configuration), set aside for the main thread (a GVK not decided yet), or processed as a
/// spec.
fn classify(
    engine: &Engine,
    known: Known<'_>,
    location: Location,
    value: Value,
    text: &str,
    emit: Emit,
) -> Outcome {
    if let Some(gvk) = peek_gvk(&value) {
        if passthrough::is_kustomize_config(&gvk) {
            return Outcome::Skipped(location);
        }
        if known.passed.is_some_and(|p| p.contains(&gvk)) {
            return match passthrough::pass(location, text, gvk, value, emit) {
                Ok(p) => Outcome::Passed(Box::new(p)),
                Err(d) => Outcome::Problems(vec![d]),
            };
        }
        if !known.checked.contains(&gvk) {
            return Outcome::Undecided(Box::new((location, value, text.to_owned())));
        }
    }
    match decode_value(&location, value, text.to_owned()) {
        Ok(doc) if known.checked.contains(&doc.gvk) => stage(engine, doc, emit),
        Ok(doc) => Outcome::Unresolved(Box::new(doc)),
        Err(d) => Outcome::Problems(vec![d]),
    }
}

/// Processes one decoded document of a resolved GVK (or sets it aside for a batch).
fn stage(engine: &Engine, doc: Document, emit: Emit) -> Outcome {
    if engine.batched(&doc.gvk) {
        return match engine.check_spec(&doc) {
            Ok(_) => Outcome::Batch(Box::new(doc)),
            Err(d) => Outcome::Problems(d),
        };
    }
    match process(engine, &doc, emit) {
        Ok(r) => Outcome::Done(Box::new(doc), r),
        Err(d) => Outcome::Problems(d),
    }
}

/// `f` over up to `jobs` consecutive parts of `items`, one thread each; results in order
/// (`f` returns one result per item of its part).
pub(crate) fn par_parts<T: Sync, R: Send>(
    items: &[T],
    jobs: usize,
    f: impl Fn(&[T]) -> Vec<R> + Sync,
) -> Vec<R> {
    let jobs = jobs.max(1).min(items.len().max(1));
    if jobs == 1 {
        return f(items);
    }
    on_threads(items.chunks(items.len().div_ceil(jobs)).collect(), f)
}

/// [`par_parts`] for items it takes by value (each thread owns its part).
pub(crate) fn par_owned<T: Send, R: Send>(
    mut items: Vec<T>,
    jobs: usize,
    f: impl Fn(Vec<T>) -> Vec<R> + Sync,
) -> Vec<R> {
    let jobs = jobs.max(1).min(items.len().max(1));
    if jobs == 1 {
        return f(items);
    }
    let per = items.len().div_ceil(jobs);
    let mut parts = Vec::with_capacity(jobs);
    while items.len() > per {
        let rest = items.split_off(per);
        parts.push(std::mem::replace(&mut items, rest));
    }
    parts.push(items);
    on_threads(parts, f)
}

/// The worker threads a run uses unless told otherwise: one per CPU.
pub(crate) fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `f` on each part, one scoped thread each; the results in the parts' order (a panic in
/// `f` is resumed here).
pub(crate) fn on_threads<P: Send, R: Send>(
    parts: Vec<P>,
    f: impl Fn(P) -> Vec<R> + Sync,
) -> Vec<R> {
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = parts
            .into_iter()
            .map(|part| s.spawn(move || f(part)))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// What stopped one app: the failed checks' diagnostics, or a generator's failure as one.
pub(crate) fn generate_problem(doc: &Document, e: Error) -> Vec<Diagnostic> {
    if let Error::Invalid(d) = e {
        return d;
    }
    vec![Diagnostic {
        location: doc.location.clone(),
        message: match e {
            Error::Generate {
                app,
                gvk,
                provider,
                message,
                ..
            } => format!("app `{app}` ({gvk}): {provider} failed: {message}"),
            other => other.to_string(),
        },
        field: None,
    }]
}

/// Validates and generates the documents set aside for batches, per GVK, in parts of
/// [`BATCH_PART`] apps per request to the plugin's worker; while the worker handles part
/// k+1, this thread renders part k. `stop` is the chunk's: the first problem any thread meets
/// ends the plugin generate calls of every thread.
fn batches(engine: &Engine, outcomes: &mut [Outcome], emit: Emit, stop: &AtomicBool) {
    let mut groups: BTreeMap<Gvk, Vec<usize>> = BTreeMap::new();
    for (i, o) in outcomes.iter().enumerate() {
        if let Outcome::Batch(doc) = o {
            groups.entry(doc.gvk.clone()).or_default().push(i);
        }
    }
    if groups.is_empty() {
        return;
    }
    // Generation stops at the first problem of the chunk, whichever thread met it.
    if outcomes.iter().any(|o| matches!(o, Outcome::Problems(_))) {
        stop.store(true, Ordering::Release);
    }
    let json = emit == Emit::Json;
    let mut generate = emit.on();
    for (gvk, indices) in groups {
        let docs: Vec<Box<Document>> = indices
            .iter()
            .filter_map(
                |&i| match std::mem::replace(&mut outcomes[i], Outcome::Empty) {
                    Outcome::Batch(doc) => Some(doc),
                    _ => None,
                },
            )
            .collect();
        let refs: Vec<&Document> = docs.iter().map(|d| &**d).collect();
        // Per app: what it came to (None: not generated). The documents themselves stay in
        // `docs` until the end.
        let mut results: Vec<Option<Result<Rendered, Vec<Diagnostic>>>> =
            (0..docs.len()).map(|_| None).collect();
        let all: Vec<usize> = (0..docs.len()).collect();
        let (tx, rx) = std::sync::mpsc::channel();
        let (refs, gvk) = (&refs, &gvk);
        let gen = generate;
        let together = engine.generate_validates(gvk);
        // Objects for the JSON stream; YAML (transcoded from the worker's answers) otherwise.
        let make = move |batch: &[&Document]| -> Vec<Result<Made, Error>> {
            if json {
                engine
                    .generate_batch(gvk, batch)
                    .into_iter()
                    .map(|r| r.map(Made::Values))
                    .collect()
            } else {
                engine
                    .render_batch(gvk, batch)
                    .into_iter()
                    .map(|r| r.map(Made::Yaml))
                    .collect()
            }
        };
        std::thread::scope(|scope| {
            scope.spawn(move || {
                let mut invalid = false;
                for part in all.chunks(BATCH_PART) {
                    let batch: Vec<&Document> = part.iter().map(|&n| refs[n]).collect();
                    let mut valid = Vec::new();
                    let mut done: Vec<(usize, Part)> = Vec::new();
                    if gen && together && !invalid && !stop.load(Ordering::Acquire) {
                        // One round trip: the generator runs its own checks.
                        for (&n, r) in part.iter().zip(make(&batch)) {
                            if let Err(Error::Invalid(d)) = r {
                                invalid = true;
                                stop.store(true, Ordering::Release);
                                done.push((n, Part::Invalid(d)));
                            } else {
                                done.push((n, Part::Generated(r)));
                            }
                        }
                        if tx.send(done).is_err() {
                            break;
                        }
                        continue;
                    }
                    for (&n, v) in part.iter().zip(engine.validate_batch(gvk, &batch)) {
                        match v {
                            Ok(()) => valid.push(n),
                            Err(d) => {
                                invalid = true;
                                stop.store(true, Ordering::Release);
                                done.push((n, Part::Invalid(d)));
                            }
                        }
                    }
                    if gen && !invalid && !stop.load(Ordering::Acquire) && !valid.is_empty() {
                        let batch: Vec<&Document> = valid.iter().map(|&n| refs[n]).collect();
                        done.extend(
                            valid
                                .iter()
                                .copied()
                                .zip(make(&batch))
                                .map(|(n, r)| (n, Part::Generated(r))),
                        );
                    }
                    if tx.send(done).is_err() {
                        break;
                    }
                }
            });
            for done in rx {
                for (n, part) in done {
                    results[n] = Some(match part {
                        Part::Invalid(d) => {
                            generate = false;
                            Err(d)
                        }
                        Part::Generated(Err(e)) => Err(generate_problem(refs[n], e)),
                        Part::Generated(Ok(Made::Values(objects))) => {
                            Ok(render_json(refs[n], &objects))
                        }
                        Part::Generated(Ok(Made::Yaml(objects))) => Ok(assemble(refs[n], objects)),
                    });
                }
            }
        });
        for ((i, doc), r) in indices.into_iter().zip(docs).zip(results) {
            outcomes[i] = match r {
                None => Outcome::Done(doc, None),
                Some(Ok(rendered)) => Outcome::Done(doc, Some(rendered)),
                Some(Err(d)) => Outcome::Problems(d),
            };
        }
    }
}

/// Validates, generates and renders one document (validates only once generation is off).
fn process(
    engine: &Engine,
    doc: &Document,
    emit: Emit,
) -> Result<Option<Rendered>, Vec<Diagnostic>> {
    if !emit.on() {
        return engine
            .validate(std::slice::from_ref(doc))
            .map(|()| None)
            .map_err(|e| generate_problem(doc, e));
    }
    if emit == Emit::Yaml {
        let objects = engine
            .check_and_render(doc)
            .map_err(|e| generate_problem(doc, e))?;
        return Ok(Some(assemble(doc, objects)));
    }
    let objects = engine
        .check_and_generate(doc)
        .map_err(|e| generate_problem(doc, e))?;
    Ok(Some(render_json(doc, &objects)))
}

/// One app's objects as compact JSON (`--format json`), with the keys that find objects two
/// apps produce.
fn render_json(doc: &Document, objects: &[Value]) -> Rendered {
    let texts = objects
        .iter()
        .map(|o| (o, crate::plugin::json::json_text(o)))
        .collect();
    assemble(doc, texts)
}

/// One app's rendered objects, each with the object (or its header) that names its file and
/// finds it when two apps make it.
fn assemble<V: std::borrow::Borrow<Value>>(doc: &Document, objects: Vec<(V, String)>) -> Rendered {
    let mut rendered = Vec::with_capacity(objects.len());
    let mut keys = Vec::with_capacity(objects.len());
    for (o, text) in objects {
        let o = o.borrow();
        rendered.push((file_stem(o), text));
        keys.push(key_hash(o));
    }
    Rendered {
        namespace: doc
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_owned()),
        app: doc.name.clone(),
        objects: rendered,
        keys,
    }
}

struct Run<'a> {
    engine: &'a mut Engine,
    options: &'a PipelineOptions,
    sink: Option<Sink>,
    problems: Vec<Diagnostic>,
    /// object key hash -> index into `apps`.
    seen: HashMap<u64, u32>,
    /// (file index, line) of every app, for duplicate-object messages: 8 bytes an app.
    apps: Vec<(u32, u32)>,
    /// The input files, by index.
    files: Vec<PathBuf>,
    summary: Summary,
    docs: usize,
    /// GVKs resolved (and checked against the lock); workers handle only these.
    checked: HashSet<Gvk>,
    /// Under `--passthrough`: the resolved GVKs kure does not generate for.
    passed: Option<HashSet<Gvk>>,
    /// Indices into `apps` of the objects copied through (for duplicate messages).
    copied: HashSet<u32>,
    /// Whether apps are generated and written (`generate`), or only checked (`validate`).
    generating: bool,
    /// Whether the objects are written as JSON.
    json: bool,
}

impl Run<'_> {
    /// What the workers make of the next apps: nothing once a problem was found.
    fn emit(&self) -> Emit {
        match (self.generating && self.problems.is_empty(), self.json) {
            (false, _) => Emit::Nothing,
            (true, false) => Emit::Yaml,
            (true, true) => Emit::Json,
        }
    }

    /// Loads what `gvk` needs and checks it against the lock, once per GVK; under
    /// `--passthrough`, also decides whether kure generates for it.
    fn resolve(&mut self, gvk: &Gvk) -> Result<(), Error> {
        if self.checked.contains(gvk) {
            return Ok(());
        }
        // The engine loads under the lock's rules and confirms what registered.
        self.engine.resolve_gvks(std::slice::from_ref(gvk))?;
        if let Some(passed) = &mut self.passed {
            // A kure kind in a misspelt group is a wrong spec (reported with a did-you-mean),
            // not a plain object to copy.
            if !self.engine.generates_for(gvk)
                && self.engine.registry().misspelt_group(gvk).is_none()
            {
                passed.insert(gvk.clone());
            }
        }
        self.checked.insert(gvk.clone());
        Ok(())
    }

    /// `items`: (file index, location, text) of each raw document, in input order.
    fn chunk(&mut self, items: Vec<(u32, Location, String)>) -> Result<(), Error> {
        let emit = self.emit();
        let jobs = self.options.jobs;
        // Set by the first problem any thread meets: no more plugin generate calls.
        let stop = &AtomicBool::new(false);
        // Each thread also runs the batches of its part: a plugin in process isolation gets
        // one worker process per thread.
        let mut outcomes: Vec<Outcome> = {
            let engine: &Engine = self.engine;
            let known = Known {
                checked: &self.checked,
                passed: self.passed.as_ref(),
            };
            par_parts(&items, jobs, |part| {
                let mut outcomes: Vec<Outcome> = part
                    .iter()
                    .map(|(_, l, t)| process_raw(engine, known, l, t, emit))
                    .collect();
                batches(engine, &mut outcomes, emit, stop);
                outcomes
            })
        };
        // GVKs met for the first time: resolved (and checked against the lock) here, in input
        // order, then their documents are processed like the others.
        let unresolved: Vec<usize> = (0..outcomes.len())
            .filter(|&i| matches!(outcomes[i], Outcome::Unresolved(_) | Outcome::Undecided(_)))
            .collect();
        if !unresolved.is_empty() {
            let mut docs = Vec::with_capacity(unresolved.len());
            for &i in &unresolved {
                let outcome = std::mem::replace(&mut outcomes[i], Outcome::Empty);
                match &outcome {
                    Outcome::Unresolved(doc) => self.resolve(&doc.gvk)?,
                    Outcome::Undecided(raw) => {
                        if let Some(gvk) = peek_gvk(&raw.1) {
                            self.resolve(&gvk)?;
                        }
                    }
                    _ => continue,
                }
                docs.push(outcome);
            }
            let engine: &Engine = self.engine;
            let known = Known {
                checked: &self.checked,
                passed: self.passed.as_ref(),
            };
            let staged = par_owned(docs, jobs, |part| {
                let mut outcomes: Vec<Outcome> = part
                    .into_iter()
                    .map(|outcome| match outcome {
                        Outcome::Unresolved(doc) => stage(engine, *doc, emit),
                        Outcome::Undecided(raw) => {
                            let (location, value, text) = *raw;
                            classify(engine, known, location, value, &text, emit)
                        }
                        other => other,
                    })
                    .collect();
                batches(engine, &mut outcomes, emit, stop);
                outcomes
            });
            for (i, o) in unresolved.into_iter().zip(staged) {
                outcomes[i] = o;
            }
        }
        for ((file, _, _), outcome) in items.iter().zip(outcomes) {
            let (doc, result) = match outcome {
                Outcome::Empty => continue,
                Outcome::Problems(d) => {
                    self.docs += 1;
                    self.problems.extend(d);
                    continue;
                }
                Outcome::Skipped(location) => {
                    self.summary.skipped.push(location);
                    continue;
                }
                Outcome::Passed(p) => {
                    self.docs += 1;
                    *self.summary.passed.entry(p.gvk).or_default() += 1;
                    if let Some(r) = p.rendered.filter(|_| self.problems.is_empty()) {
                        self.accept(&p.location, None, *file, r)?;
                    }
                    continue;
                }
                Outcome::Undecided(raw) => {
                    return Err(Error::Input {
                        path: raw.0.file.clone(),
                        reason: format!(
                            "internal error in kure: the document at line {} was not processed; nothing was written. Please report this",
                            raw.0.line
                        ),
                    });
                }
                Outcome::Unresolved(doc) | Outcome::Batch(doc) => {
                    // Both are processed above; one left here is a bug in kure, and reported
                    // as one rather than processed a second way.
                    return Err(Error::Input {
                        path: doc.location.file.clone(),
                        reason: format!(
                            "internal error in kure: the app `{}` at line {} was not processed; nothing was written. Please report this",
                            crate::util::shown(&doc.name),
                            doc.location.line
                        ),
                    });
                }
                Outcome::Done(doc, r) => (doc, Ok::<_, Vec<Diagnostic>>(r)),
            };
            self.docs += 1;
            if !self.summary.gvks.contains(&doc.gvk) {
                self.summary.gvks.insert(doc.gvk.clone());
            }
            match result {
                Err(d) => self.problems.extend(d),
                Ok(Some(r)) if self.problems.is_empty() => {
                    self.accept(&doc.location, Some(&doc.name), *file, r)?
                }
                Ok(_) => {}
            }
        }
        Ok(())
    }

    /// Checks a rendered app (`app`: its name) or copied object (`None`) for objects another
    /// one produced, then writes it.
    fn accept(
        &mut self,
        location: &Location,
        app: Option<&str>,
        file: u32,
        r: Rendered,
    ) -> Result<(), Error> {
        let me = self.apps.len() as u32;
        for (k, (stem, _)) in r.keys.iter().zip(&r.objects) {
            if let Some(prev) = self.seen.insert(*k, me) {
                if prev == me {
                    // One app (a plugin) returned the same object twice.
                    self.problems.push(Diagnostic {
                        location: location.clone(),
                        message: format!(
                            "app `{}` produced {stem} in namespace `{}` twice; the generator must return each object once",
                            app.unwrap_or("?"),
                            r.namespace
                        ),
                        field: None,
                    });
                    continue;
                }
                let (pfile, line) = self.apps[prev as usize];
                let ploc = Location::new(self.files[pfile as usize].clone(), line as usize);
                let ns = &r.namespace;
                let message = match (app, self.copied.contains(&prev)) {
                    (Some(app), false) => format!(
                        "app `{app}` produced {stem} in namespace `{ns}`, which the app at {ploc} also produced; rename one of the apps"
                    ),
                    (Some(app), true) => format!(
                        "app `{app}` produced {stem} in namespace `{ns}`, which the object at {ploc} (copied through with --passthrough) also is; rename the app or remove that object"
                    ),
                    (None, copied) => format!(
                        "this object (copied through with --passthrough) is {stem} in namespace `{ns}`, which the {} at {ploc} also {}; remove one of them",
                        if copied { "object" } else { "app" },
                        if copied { "is" } else { "produced" }
                    ),
                };
                self.problems.push(Diagnostic {
                    location: location.clone(),
                    message,
                    field: None,
                });
            }
        }
        if app.is_none() {
            self.copied.insert(me);
        }
        self.apps.push((file, location.line as u32));
        if self.problems.is_empty() {
            if app.is_some() {
                self.summary.apps += 1;
                self.summary.objects += r.objects.len();
            }
            if let Some(sink) = self.sink.as_mut() {
                sink.write(r)?;
            }
        }
        Ok(())
    }
}

/// Runs `kure generate` over `inputs`.
pub fn generate(
    engine: &mut Engine,
    inputs: &[PathBuf],
    output: &Output,
    options: &PipelineOptions,
) -> Result<Summary, Error> {
    run(engine, inputs, Some(output), options)
}

/// Runs `kure validate` over `inputs`: `generate` without generating or writing. Every check
/// `generate` makes before it runs a generator is made, the plugin's own `validate` included
/// (so plugins load, under the isolation policy); `apps` counts the documents checked.
pub fn validate(
    engine: &mut Engine,
    inputs: &[PathBuf],
    options: &PipelineOptions,
) -> Result<Summary, Error> {
    run(engine, inputs, None, options)
}

fn run(
    engine: &mut Engine,
    inputs: &[PathBuf],
    output: Option<&Output>,
    options: &PipelineOptions,
) -> Result<Summary, Error> {
    match stages(engine, inputs, output, options)? {
        (Ok(s), Some(sink)) => sink.commit().map(|()| s),
        (Err(e), _) => Err(e),
        (Ok(s), None) => Ok(s),
    }
}

/// The run up to the commit: its outcome, and the sink holding everything to write (`None`
/// for `validate`). The outer `Err` is an error before anything was read.
fn stages(
    engine: &mut Engine,
    inputs: &[PathBuf],
    output: Option<&Output>,
    options: &PipelineOptions,
) -> Result<(Result<Summary, Error>, Option<Sink>), Error> {
    let mut input_options = options.input.clone();
    if let Some(Output::Dir(dir)) = output {
        // The output is never input: `kure generate -f . -o out` can run again.
        input_options.skip.push(dir.clone());
    }
    let files = input::collect_files(inputs, &input_options)?;
    // Read through absolute paths fixed now: a plugin's chdir cannot change what is read.
    let absolute: Vec<PathBuf> = files
        .iter()
        .map(|f| {
            if input::is_stdin(f) {
                f.clone()
            } else {
                std::path::absolute(f).unwrap_or_else(|_| f.clone())
            }
        })
        .collect();
    let files: Vec<PathBuf> = files.iter().map(|f| shown_name(f)).collect();
    let checked: HashSet<Gvk> = engine.builtin_gvks().collect();
    let mut run = Run {
        engine,
        options,
        sink: output.map(Sink::new).transpose()?,
        problems: Vec::new(),
        seen: HashMap::new(),
        apps: Vec::new(),
        files,
        summary: Summary::default(),
        docs: 0,
        checked,
        passed: options.passthrough.then(HashSet::new),
        copied: HashSet::new(),
        generating: output.is_some(),
        json: matches!(output, Some(Output::StdoutJson)),
    };
    let result = (|| -> Result<(), Error> {
        let mut pending: Vec<(u32, Location, String)> = Vec::new();
        for (index, path) in absolute.iter().enumerate() {
            let file = run.files[index].clone();
            let text = input::read(path, &file, input_options.max_bytes)?;
            let pieces = match crate::input::decode::documents(&file, &text) {
                Ok(pieces) => pieces,
                Err(d) => {
                    run.docs += 1;
                    run.problems.push(d);
                    continue;
                }
            };
            for (line, chunk) in pieces {
                if options.document.is_some_and(|only| only != line) {
                    continue;
                }
                pending.push((index as u32, Location::new(file.clone(), line), chunk));
                if pending.len() >= options.chunk {
                    run.chunk(std::mem::take(&mut pending))?;
                    if let Some(p) = &options.progress {
                        (p.0)(run.docs, &file);
                    }
                }
            }
        }
        run.chunk(pending)
    })();
    let sink = run.sink.take();
    // The last plugin code kure runs; only then is anything written.
    let shutdown = run.engine.shutdown();
    let outcome = match result.and(shutdown) {
        Err(e) => Err(e),
        Ok(()) if !run.problems.is_empty() => {
            Err(Error::Invalid(std::mem::take(&mut run.problems)))
        }
        Ok(()) if run.docs == 0 => {
            let names: Vec<String> = inputs.iter().map(|p| p.display().to_string()).collect();
            Err(Error::NoInput(names.join(", ")))
        }
        Ok(()) if run.generating => Ok(run.summary.clone()),
        Ok(()) => Ok(Summary {
            apps: run.docs - run.summary.passed.values().sum::<usize>(),
            objects: 0,
            gvks: std::mem::take(&mut run.summary.gvks),
            passed: std::mem::take(&mut run.summary.passed),
            skipped: std::mem::take(&mut run.summary.skipped),
        }),
    };
    Ok((outcome, sink))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EngineOptions;

    fn app(name: &str, replicas: usize) -> String {
        format!("---\napiVersion: generators.gokure.dev/v1alpha1\nkind: AppWorkload\nmetadata:\n  name: {name}\nspec:\n  workload: Deployment\n  replicas: {replicas}\n  containers:\n    - name: web\n      image: web:1\n      ports:\n        - containerPort: 80\n")
    }

    /// A run up to the commit with these options: its summary, and what it would print.
    fn staged(inputs: &[PathBuf], options: PipelineOptions) -> (Summary, String) {
        let mut engine = Engine::new(EngineOptions::default());
        let (outcome, sink) =
            stages(&mut engine, inputs, Some(&Output::Stdout), &options).expect("inputs read");
        let summary = outcome.expect("generated");
        let Some(Sink::Stdout(spool)) = sink else {
            panic!("a stream sink");
        };
        let mut text = String::new();
        std::io::Read::read_to_string(&mut spool.reader().expect("spool"), &mut text)
            .expect("utf-8");
        (summary, text)
    }

    /// What `generate` would print, taken from the sink before the commit.
    fn stream(inputs: &[PathBuf], jobs: usize, chunk: usize) -> String {
        let options = PipelineOptions {
            jobs,
            chunk,
            ..PipelineOptions::default()
        };
        let (summary, text) = staged(inputs, options);
        assert_eq!(summary.apps, 25);
        text
    }

    #[test]
    fn output_is_in_input_order_whatever_the_threads_and_chunks() {
        let dir = tempfile::tempdir().expect("tempdir");
        // Three files of different sizes, read in name order; chunks cross file boundaries.
        let mut names = Vec::new();
        for (file, count) in [("b.yaml", 11), ("a.yaml", 9), ("c.yaml", 5)] {
            let apps: Vec<String> = (0..count)
                .map(|i| format!("{file}-{i}").replace(".yaml", ""))
                .collect();
            let text: String = apps
                .iter()
                .enumerate()
                .map(|(i, a)| app(a, i % 4 + 1))
                .collect();
            std::fs::write(dir.path().join(file), text).expect("write");
            names.push((file, apps));
        }
        names.sort();
        let expected: Vec<String> = names.into_iter().flat_map(|(_, apps)| apps).collect();
        let inputs = [dir.path().to_path_buf()];
        let reference = stream(&inputs, 1, 10_000);
        // Each app's Deployment then its Service, apps in file and document order.
        let order: Vec<&str> = reference
            .lines()
            .filter_map(|l| l.strip_prefix("  name: "))
            .collect();
        let pairs: Vec<String> = expected
            .iter()
            .flat_map(|a| [a.clone(), a.clone()])
            .collect();
        assert_eq!(order, pairs);
        let kinds: Vec<&str> = reference
            .lines()
            .filter_map(|l| l.strip_prefix("kind: "))
            .collect();
        assert!(
            kinds.chunks(2).all(|k| k == ["Deployment", "Service"]),
            "{kinds:?}"
        );
        for (jobs, chunk) in [(2, 1), (2, 3), (3, 7), (4, 64)] {
            assert_eq!(
                stream(&inputs, jobs, chunk),
                reference,
                "jobs {jobs}, chunk {chunk}"
            );
        }
    }

    /// `--passthrough`: plain objects between specs, of GVKs met in different chunks and on
    /// different threads, come out where they were, whatever the threads and chunks; a
    /// kustomization is left out and counted.
    #[test]
    fn copied_objects_keep_their_place_whatever_the_threads_and_chunks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut text = String::from(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: []\n",
        );
        let mut expected = Vec::new();
        for i in 0..12 {
            text.push_str(&app(&format!("app-{i}"), 1));
            expected.extend([format!("Deployment app-{i}"), format!("Service app-{i}")]);
            let kind = ["ConfigMap", "Secret", "Widget"][i % 3];
            let api = if kind == "Widget" {
                "example.com/v1"
            } else {
                "v1"
            };
            text.push_str(&format!(
                "---\napiVersion: {api}\nkind: {kind}\nmetadata:\n  name: obj-{i}\ndata: {{}}\n"
            ));
            expected.push(format!("{kind} obj-{i}"));
        }
        std::fs::write(dir.path().join("mixed.yaml"), text).expect("write");
        let run = |jobs, chunk| {
            let options = PipelineOptions {
                jobs,
                chunk,
                passthrough: true,
                ..PipelineOptions::default()
            };
            let (summary, out) = staged(&[dir.path().to_path_buf()], options);
            assert_eq!(summary.apps, 12);
            assert_eq!(summary.passed.values().sum::<usize>(), 12);
            assert_eq!(summary.skipped.len(), 1);
            out
        };
        let reference = run(1, 10_000);
        let objects: Vec<String> = reference
            .split("---\n")
            .filter(|d| !d.is_empty())
            .map(|d| {
                let v: Value = yaml_serde::from_str(d).expect("yaml");
                format!(
                    "{} {}",
                    v["kind"].as_str().expect("kind"),
                    v["metadata"]["name"].as_str().expect("name")
                )
            })
            .collect();
        assert_eq!(objects, expected);
        for (jobs, chunk) in [(2, 1), (2, 2), (3, 5), (2, 64)] {
            assert_eq!(run(jobs, chunk), reference, "jobs {jobs}, chunk {chunk}");
        }
    }

    /// The problems of a run, as (FILE:LINE, message) in the order reported.
    fn problems(inputs: &[PathBuf], jobs: usize, chunk: usize) -> Vec<(String, String)> {
        let mut engine = Engine::new(EngineOptions::default());
        let options = PipelineOptions {
            jobs,
            chunk,
            ..PipelineOptions::default()
        };
        let (outcome, _) =
            stages(&mut engine, inputs, Some(&Output::Stdout), &options).expect("inputs read");
        match outcome {
            Err(Error::Invalid(d)) => d
                .into_iter()
                .map(|d| (d.location.to_string(), d.message))
                .collect(),
            other => panic!("expected problems, got {other:?}"),
        }
    }

    /// GVKs met for the first time anywhere in a chunk are resolved after it is decoded, then
    /// their documents are staged: the problems are the same, in input order, however the
    /// input is cut and wherever the new GVKs fall.
    #[test]
    fn problems_are_in_input_order_wherever_new_gvks_fall() {
        let dir = tempfile::tempdir().expect("tempdir");
        let unknown = |kind: &str, name: &str| {
            format!("---\napiVersion: nobody.kure.dev/v1\nkind: {kind}\nmetadata:\n  name: {name}\nspec: {{}}\n")
        };
        let text = [
            unknown("First", "u1"),
            "---\nkind: [\n".to_owned(),
            app("a1", 1),
            unknown("Second", "u2"),
            "---\n".to_owned(),
            app("a2", 2),
            unknown("First", "u3"),
            app("bad", 0).replace("replicas: 0", "replicas: many"),
            unknown("Third", "u4"),
        ]
        .concat();
        std::fs::write(dir.path().join("mixed.yaml"), text).expect("write");
        let inputs = [dir.path().join("mixed.yaml")];
        let reference = problems(&inputs, 1, 10_000);
        let lines: Vec<&str> = reference
            .iter()
            .map(|(at, _)| at.rsplit(':').next().unwrap_or(""))
            .collect();
        // u1, the syntax error, u2, u3, bad's replicas, u4: each once, in the file's order.
        assert_eq!(reference.len(), 6, "{reference:#?}");
        let numbers: Vec<usize> = lines.iter().map(|l| l.parse().expect("a line")).collect();
        assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{reference:#?}");
        assert!(reference[0].1.contains("First"), "{reference:#?}");
        assert!(reference[4].1.contains("replicas"), "{reference:#?}");
        for (jobs, chunk) in [(2, 1), (2, 2), (2, 3), (3, 4), (2, 6)] {
            assert_eq!(
                problems(&inputs, jobs, chunk),
                reference,
                "jobs {jobs}, chunk {chunk}"
            );
        }
    }
}
