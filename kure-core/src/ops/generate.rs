//! `kure generate` and `kure validate`: a session's engine, the lock, then the pipeline.

use std::path::PathBuf;

use crate::model::error::Error;
use crate::ops::session::{LockChoice, Ran, Session};
use crate::pipeline::{Output, PipelineOptions, Summary};

/// What `kure generate` reads, checks against and writes.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// Spec files and directories (`-` is standard input).
    pub inputs: Vec<PathBuf>,
    /// Where the manifests go.
    pub output: Output,
    /// The lock plugins must match.
    pub lock: LockChoice,
    /// Threads, chunks, input limits and progress.
    pub pipeline: PipelineOptions,
}

/// Generates manifests for every spec of `opts.inputs` (see [`crate::pipeline::generate`]).
pub fn generate(session: &Session, opts: &GenerateOptions) -> Ran<Summary> {
    let mut engine = match session.locked_engine(&opts.lock) {
        Ok(e) => e,
        Err(e) => return Ran::early(e),
    };
    let result = crate::pipeline::generate(&mut engine, &opts.inputs, &opts.output, &opts.pipeline);
    Ran::new(&engine, result)
}

/// What `kure validate` checks.
#[derive(Debug, Clone)]
pub struct ValidateOptions {
    /// Spec files and directories.
    pub inputs: Vec<PathBuf>,
    /// Check the JSON Schema only and never load a plugin (installed plugins answer from the
    /// schema recorded at install; the lock is not read).
    pub schema_only: bool,
    /// The lock plugins must match (not read with `schema_only`).
    pub lock: LockChoice,
    /// Threads, chunks, input limits and progress.
    pub pipeline: PipelineOptions,
}

/// Makes every check `generate` makes (or only the schema's): `apps` counts the specs
/// checked, `passed` the objects `--passthrough` would copy.
pub fn validate(session: &Session, opts: &ValidateOptions) -> Ran<Summary> {
    if opts.schema_only {
        let mut engine = match session.engine() {
            Ok(e) => e,
            Err(e) => return Ran::early(e),
        };
        let result = (|| -> Result<Summary, Error> {
            let docs = crate::input::decode::decode_inputs(&opts.inputs, &opts.pipeline.input)?;
            engine.resolve_offline(&docs)?;
            engine.validate_schemas(&docs)?;
            Ok(Summary {
                apps: docs.len(),
                gvks: docs.iter().map(|d| d.gvk.clone()).collect(),
                ..Summary::default()
            })
        })();
        return Ran::new(&engine, result);
    }
    let mut engine = match session.locked_engine(&opts.lock) {
        Ok(e) => e,
        Err(e) => return Ran::early(e),
    };
    let result = crate::pipeline::validate(&mut engine, &opts.inputs, &opts.pipeline);
    Ran::new(&engine, result)
}
