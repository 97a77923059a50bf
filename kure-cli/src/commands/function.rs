//! `kure fn`: kure as a KRM function (kustomize, kpt).

use std::path::PathBuf;

use kure_core::ops::Session;

use crate::common::{lock_choice, reported};

/// Run as a KRM function: read a ResourceList (config.kubernetes.io/v1) on stdin, replace
/// every item (and the functionConfig) that is a kure spec with the objects it generates, pass
/// every other item through untouched, and write the ResourceList to stdout. Problems become
/// `results` (severity, message, file, field) and the exit status is 1. For kustomize:
/// `generators:` with a `config.kubernetes.io/function: {exec: {path: kure, args: [fn]}}`
/// annotation and `kustomize build --enable-alpha-plugins --enable-exec`; for kpt: an exec
/// function in a pipeline.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Refuse plugins that differ from what FILE pins (default: ./kure.lock when it exists).
    #[arg(long, value_name = "FILE")]
    pub lock: Option<PathBuf>,
    /// Largest ResourceList read from stdin, e.g. 256MiB (default 64MiB).
    #[arg(long, value_name = "SIZE", value_parser = kure_core::config::parse_bytes)]
    pub max_input_bytes: Option<u64>,
    /// Worker threads (default: the number of CPUs). Output order never depends on it.
    #[arg(short = 'j', long, value_name = "N")]
    pub jobs: Option<usize>,
}

/// Runs `kure fn`.
pub fn execute(session: &Session, args: Args) -> anyhow::Result<()> {
    let mut options = kure_core::ops::krm::FnOptions::default();
    if let Some(j) = args.jobs {
        anyhow::ensure!(j >= 1, "--jobs must be at least 1");
        options.jobs = j;
    }
    let max = args
        .max_input_bytes
        .unwrap_or(kure_core::InputOptions::default().max_bytes);
    let output = reported(kure_core::ops::krm::function(
        session,
        &lock_choice(args.lock, false),
        max,
        &options,
    ))?;
    out!("{}", output.text);
    if output.failed {
        anyhow::bail!(
            "the ResourceList has problems: see its `results` (the items are returned unchanged)"
        );
    }
    Ok(())
}
