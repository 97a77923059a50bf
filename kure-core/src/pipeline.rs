//! The streaming `generate` pipeline: file by file, chunk by chunk, in input order.
//!
//! Each chunk of documents is validated, generated and rendered to YAML on `jobs` threads, then
//! written in input order to a sink that nobody sees until the run succeeds: a spool for
//! stdout (memory, spilling to a temporary file) or the staging directory of `-o DIR`. Memory
//! therefore depends on the chunk and file sizes, not on the number of apps. After the first
//! problem nothing more is generated, but every remaining document is still validated so one
//! run reports every problem, and nothing is written.

use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::decode::{collect_files, decode_str, Document, Location};
use crate::engine::Engine;
use crate::error::{Diagnostic, Error};
use crate::render::{kustomization, object_yaml, MARKER};

/// Where the manifests go.
#[derive(Debug, Clone)]
pub enum Output {
    /// One YAML stream, written to stdout when the whole run has succeeded.
    Stdout,
    /// A kustomize tree, replacing the directory atomically.
    Dir(PathBuf),
}

/// Tuning.
#[derive(Debug, Clone)]
pub struct PipelineOptions {
    /// Worker threads for validation, generation and rendering.
    pub jobs: usize,
    /// Documents per chunk.
    pub chunk: usize,
    /// A lock file to enforce.
    pub lock: Option<(PathBuf, BTreeMap<String, crate::lockfile::Pin>)>,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        Self {
            jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
            chunk: 512,
            lock: None,
        }
    }
}

/// What a successful run produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Applications generated.
    pub apps: usize,
    /// Objects written.
    pub objects: usize,
}

struct Rendered {
    namespace: String,
    app: String,
    /// (file stem, YAML) per object.
    objects: Vec<(String, String)>,
    keys: Vec<u64>,
}

fn key_hash(o: &Value) -> u64 {
    let get = |p: &str| o.pointer(p).and_then(Value::as_str).unwrap_or("");
    let api = get("/apiVersion");
    let group = api.rsplit_once('/').map_or("", |(g, _)| g);
    let mut h = DefaultHasher::new();
    (
        group,
        get("/kind"),
        get("/metadata/namespace"),
        get("/metadata/name"),
    )
        .hash(&mut h);
    h.finish()
}

fn file_stem(object: &Value) -> String {
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("object");
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("unnamed");
    format!("{}-{}", kind.to_ascii_lowercase(), name)
}

/// A sink nobody sees until `commit`.
enum Sink {
    Spool {
        mem: Vec<u8>,
        file: Option<std::fs::File>,
    },
    Dir(DirSink),
}

const SPOOL_LIMIT: usize = 16 << 20;

impl Sink {
    fn new(output: &Output) -> Result<Self, Error> {
        Ok(match output {
            Output::Stdout => Sink::Spool {
                mem: Vec::new(),
                file: None,
            },
            Output::Dir(d) => Sink::Dir(DirSink::new(d)?),
        })
    }

    fn write(&mut self, r: Rendered) -> Result<(), Error> {
        match self {
            Sink::Spool { mem, file } => {
                for (_, yaml) in &r.objects {
                    mem.extend_from_slice(b"---\n");
                    mem.extend_from_slice(yaml.as_bytes());
                }
                if mem.len() > SPOOL_LIMIT {
                    let f = match file {
                        Some(f) => f,
                        None => file.insert(
                            tempfile::tempfile().map_err(|e| Error::io(std::env::temp_dir(), e))?,
                        ),
                    };
                    f.write_all(mem)
                        .map_err(|e| Error::io(std::env::temp_dir(), e))?;
                    mem.clear();
                }
                Ok(())
            }
            Sink::Dir(d) => d.write(r),
        }
    }

    fn commit(self) -> Result<(), Error> {
        match self {
            Sink::Spool { mem, file } => {
                let stdout = std::io::stdout();
                let mut out = stdout.lock();
                let fail = |e: std::io::Error| Error::io("<stdout>", e);
                if let Some(mut f) = file {
                    f.rewind().map_err(fail)?;
                    let mut buf = vec![0u8; 1 << 20];
                    loop {
                        let n = f.read(&mut buf).map_err(fail)?;
                        if n == 0 {
                            break;
                        }
                        out.write_all(&buf[..n]).map_err(fail)?;
                    }
                }
                out.write_all(&mem).map_err(fail)?;
                out.flush().map_err(fail)
            }
            Sink::Dir(d) => d.commit(),
        }
    }

    fn abort(self) {
        if let Sink::Dir(d) = self {
            let _ = std::fs::remove_dir_all(&d.staging);
        }
    }
}

struct DirSink {
    dir: PathBuf,
    staging: PathBuf,
    /// namespace -> app -> file names.
    layout: BTreeMap<String, BTreeMap<String, Vec<String>>>,
}

impl DirSink {
    fn fail(&self, reason: String) -> Error {
        Error::Output {
            path: self.dir.clone(),
            reason,
        }
    }

    fn new(dir: &Path) -> Result<Self, Error> {
        crate::render::check_output_dir(dir)?;
        let staging = crate::render::staging_path(dir, "staging")?;
        let _ = std::fs::remove_dir_all(&staging);
        std::fs::create_dir_all(&staging).map_err(|e| Error::Output {
            path: dir.to_path_buf(),
            reason: format!("cannot create {}: {e}", staging.display()),
        })?;
        Ok(Self {
            dir: dir.to_path_buf(),
            staging,
            layout: BTreeMap::new(),
        })
    }

    fn write(&mut self, r: Rendered) -> Result<(), Error> {
        let names = self
            .layout
            .entry(r.namespace.clone())
            .or_default()
            .entry(r.app.clone())
            .or_default();
        let app_dir = self.staging.join(&r.namespace).join(&r.app);
        if names.is_empty() {
            std::fs::create_dir_all(&app_dir).map_err(|e| Error::Output {
                path: self.dir.clone(),
                reason: format!("{e} (the previous output is untouched)"),
            })?;
        }
        for (stem, yaml) in r.objects {
            let mut file = format!("{stem}.yaml");
            let mut n = 2;
            while names.contains(&file) {
                file = format!("{stem}-{n}.yaml");
                n += 1;
            }
            std::fs::write(app_dir.join(&file), yaml).map_err(|e| Error::Output {
                path: self.dir.clone(),
                reason: format!("{e} (the previous output is untouched)"),
            })?;
            names.push(file);
        }
        Ok(())
    }

    fn commit(self) -> Result<(), Error> {
        let write = |rel: PathBuf, contents: String| {
            std::fs::write(self.staging.join(&rel), contents)
                .map_err(|e| self.fail(format!("{e} (the previous output is untouched)")))
        };
        let mut namespaces = Vec::new();
        for (ns, apps) in &self.layout {
            for (app, files) in apps {
                write(
                    Path::new(ns).join(app).join("kustomization.yaml"),
                    kustomization(files),
                )?;
            }
            write(
                Path::new(ns).join("kustomization.yaml"),
                kustomization(&apps.keys().cloned().collect::<Vec<_>>()),
            )?;
            namespaces.push(ns.clone());
        }
        write(
            PathBuf::from("kustomization.yaml"),
            kustomization(&namespaces),
        )?;
        write(
            PathBuf::from(MARKER),
            "This directory is written by `kure generate -o`; it is replaced on every run.\n"
                .to_owned(),
        )?;
        crate::render::swap_into_place(&self.staging, &self.dir)
    }
}

/// Validates, generates and renders one document.
fn process(
    engine: &Engine,
    doc: &Document,
    generate: bool,
) -> Result<Option<Rendered>, Vec<Diagnostic>> {
    engine
        .validate(std::slice::from_ref(doc))
        .map_err(|e| match e {
            Error::Invalid(d) => d,
            other => vec![Diagnostic {
                location: doc.location.clone(),
                message: other.to_string(),
            }],
        })?;
    if !generate {
        return Ok(None);
    }
    let objects = engine.generate_one(doc).map_err(|e| {
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
        }]
    })?;
    let mut rendered = Vec::with_capacity(objects.len());
    let mut keys = Vec::with_capacity(objects.len());
    for o in &objects {
        let yaml = object_yaml(o).map_err(|e| {
            vec![Diagnostic {
                location: doc.location.clone(),
                message: e.to_string(),
            }]
        })?;
        rendered.push((file_stem(o), yaml));
        keys.push(key_hash(o));
    }
    Ok(Some(Rendered {
        namespace: doc
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_owned()),
        app: doc.name.clone(),
        objects: rendered,
        keys,
    }))
}

struct Run<'a> {
    engine: &'a mut Engine,
    options: &'a PipelineOptions,
    sink: Option<Sink>,
    problems: Vec<Diagnostic>,
    fatal: Option<Error>,
    /// object key hash -> index into `apps`.
    seen: HashMap<u64, u32>,
    /// (name, location) of every app, for duplicate-object messages.
    apps: Vec<(Box<str>, Location)>,
    summary: Summary,
    locked: std::collections::HashSet<crate::gvk::Gvk>,
}

impl Run<'_> {
    fn chunk(&mut self, docs: Vec<Document>) -> Result<(), Error> {
        // Plugins are loaded when a GVK first appears; a load failure ends the run.
        let unknown: Vec<Document> = docs
            .iter()
            .filter(|d| self.engine.registry().get(&d.gvk).is_none())
            .cloned()
            .collect();
        if !unknown.is_empty() {
            self.engine.resolve(&unknown)?;
        }
        if let Some((path, pins)) = &self.options.lock {
            let fresh: Vec<Document> = docs
                .iter()
                .filter(|d| self.locked.insert(d.gvk.clone()))
                .cloned()
                .collect();
            if !fresh.is_empty() {
                crate::lockfile::check(path, pins, self.engine, &fresh)?;
            }
        }
        let generate = self.problems.is_empty();
        let engine: &Engine = self.engine;
        let jobs = self.options.jobs.max(1).min(docs.len().max(1));
        let results: Vec<Result<Option<Rendered>, Vec<Diagnostic>>> = if jobs == 1 {
            docs.iter().map(|d| process(engine, d, generate)).collect()
        } else {
            let per = docs.len().div_ceil(jobs);
            std::thread::scope(|s| {
                let handles: Vec<_> = docs
                    .chunks(per)
                    .map(|part| {
                        s.spawn(move || {
                            part.iter()
                                .map(|d| process(engine, d, generate))
                                .collect::<Vec<_>>()
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .flat_map(|h| match h.join() {
                        Ok(v) => v,
                        Err(_) => vec![Err(vec![Diagnostic {
                            location: Location {
                                file: PathBuf::from("<kure>"),
                                line: 0,
                            },
                            message: "internal error: a worker thread panicked".to_owned(),
                        }])],
                    })
                    .collect()
            })
        };
        for (doc, result) in docs.iter().zip(results) {
            match result {
                Err(d) => self.problems.extend(d),
                Ok(None) => {}
                Ok(Some(r)) if self.problems.is_empty() => {
                    let me = self.apps.len() as u32;
                    for (k, (stem, _)) in r.keys.iter().zip(&r.objects) {
                        if let Some(prev) = self.seen.insert(*k, me) {
                            let (pname, ploc) = &self.apps[prev as usize];
                            self.problems.push(Diagnostic {
                                location: doc.location.clone(),
                                message: format!(
                                    "app `{}` produced {stem} in namespace `{}`, which app `{pname}` ({ploc}) also produced; rename one of the apps",
                                    doc.name, r.namespace
                                ),
                            });
                        }
                    }
                    self.apps
                        .push((doc.name.as_str().into(), doc.location.clone()));
                    if self.problems.is_empty() {
                        self.summary.apps += 1;
                        self.summary.objects += r.objects.len();
                        if let Some(sink) = self.sink.as_mut() {
                            sink.write(r)?;
                        }
                    }
                }
                Ok(Some(_)) => {}
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
    let files = collect_files(inputs)?;
    let sink = Sink::new(output)?;
    let mut run = Run {
        engine,
        options,
        sink: Some(sink),
        problems: Vec::new(),
        fatal: None,
        seen: HashMap::new(),
        apps: Vec::new(),
        summary: Summary::default(),
        locked: Default::default(),
    };
    let mut total_docs = 0usize;
    let mut pending: Vec<Document> = Vec::new();
    for file in &files {
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                run.fatal = Some(Error::io(file, e));
                break;
            }
        };
        let mut decode_problems = Vec::new();
        decode_str(file, &text, &mut pending, &mut decode_problems);
        run.problems.extend(decode_problems);
        while pending.len() >= options.chunk {
            let rest = pending.split_off(options.chunk);
            let chunk = std::mem::replace(&mut pending, rest);
            total_docs += chunk.len();
            if let Err(e) = run.chunk(chunk) {
                run.fatal = Some(e);
                break;
            }
        }
        if run.fatal.is_some() {
            break;
        }
    }
    if run.fatal.is_none() && !pending.is_empty() {
        total_docs += pending.len();
        if let Err(e) = run.chunk(std::mem::take(&mut pending)) {
            run.fatal = Some(e);
        }
    }
    let sink = run.sink.take();
    let outcome = if let Some(e) = run.fatal.take() {
        Err(e)
    } else if !run.problems.is_empty() {
        Err(Error::Invalid(std::mem::take(&mut run.problems)))
    } else if total_docs == 0 {
        let names: Vec<String> = inputs.iter().map(|p| p.display().to_string()).collect();
        Err(Error::NoInput(names.join(", ")))
    } else {
        Ok(run.summary.clone())
    };
    match (outcome, sink) {
        (Ok(s), Some(sink)) => sink.commit().map(|()| s),
        (Err(e), Some(sink)) => {
            sink.abort();
            Err(e)
        }
        (r, None) => r,
    }
}
