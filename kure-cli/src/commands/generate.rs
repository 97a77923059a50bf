//! `kure generate`: specs in, manifests out.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;

use crate::common::{warn_unsigned, GlobalArgs};

/// Generate Kubernetes manifests from application specs.
///
/// Reads every *.yaml/*.yml document under the given files and directories, validates each
/// against its generator's schema, and prints the manifests as one YAML stream (sorted keys,
/// input order). With -o DIR, writes a kustomize tree instead: DIR/<namespace>/<app>/ with one
/// file per object and a kustomization.yaml at every level. DIR is replaced atomically; nothing
/// is written when any input is invalid.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Spec file or directory (repeatable; directories are read recursively).
    #[arg(short = 'f', long = "file", value_name = "PATH", required = true)]
    pub files: Vec<PathBuf>,
    /// Write a kustomize directory tree to DIR instead of printing to stdout.
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Refuse plugins that differ from what FILE pins (default: ./kure.lock when it exists).
    #[arg(long, value_name = "FILE")]
    pub lock: Option<PathBuf>,
}

/// Runs `kure generate`.
pub fn execute(global: &GlobalArgs, args: Args) -> anyhow::Result<()> {
    let docs = kure_core::decode_inputs(&args.files)?;
    let mut engine = global.engine()?;
    engine.resolve(&docs)?;
    warn_unsigned(&engine);
    let lock = args.lock.clone().or_else(|| {
        let p = PathBuf::from(kure_core::lockfile::LOCK_FILE);
        p.exists().then_some(p)
    });
    if let Some(lock) = lock {
        let pins = kure_core::lockfile::read(&lock)?;
        kure_core::lockfile::check(&lock, &pins, &engine, &docs)?;
    }
    engine.validate(&docs)?;
    let apps = engine.generate(&docs)?;
    match &args.output {
        Some(dir) => {
            kure_core::write_dir(dir, &apps)?;
            let objects: usize = apps.iter().map(|a| a.objects.len()).sum();
            eprintln!(
                "wrote {objects} objects for {} apps to {}",
                apps.len(),
                dir.display()
            );
        }
        None => {
            let yaml = kure_core::to_yaml_stream(&apps)?;
            let mut out = std::io::stdout().lock();
            out.write_all(yaml.as_bytes())
                .context("writing to stdout")?;
            out.flush().context("writing to stdout")?;
        }
    }
    Ok(())
}
