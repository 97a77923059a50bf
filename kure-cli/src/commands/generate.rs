//! `kure generate`: specs in, manifests out.

use std::path::PathBuf;

use kure_core::ops::generate::GenerateOptions;
use kure_core::ops::Session;
use kure_core::pipeline::{Output, PipelineOptions};

use crate::common::{lock_choice, reported, InputArgs};

/// Generate Kubernetes manifests from application specs.
///
/// Reads every *.yaml/*.yml document under the given files and directories (hidden entries
/// and kure output directories are skipped; `-f -` reads standard input), validates each
/// against its generator's schema, and prints the manifests as one YAML stream (sorted keys,
/// input order). With -o DIR, writes a kustomize tree instead: DIR/<namespace>/<app>/ with one
/// file per object and a kustomization.yaml at every level. DIR is replaced atomically; nothing
/// is written when any input is invalid. Documents stream through in chunks, so memory does not
/// grow with the number of apps.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub input: InputArgs,
    /// Write a kustomize directory tree to DIR instead of printing to stdout. DIR must be
    /// absent, empty, or an earlier kure output; it is swapped whole for the new tree (one
    /// atomic rename on Linux), so a symbolic link as DIR is refused: pass the directory itself.
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Refuse plugins that differ from what FILE pins (default: ./kure.lock when it exists).
    #[arg(long, value_name = "FILE")]
    pub lock: Option<PathBuf>,
    /// Require the lock (--lock FILE, or ./kure.lock): fail when it is missing, as every
    /// plugin GVK used must then be pinned (like `cargo build --locked`). For CI.
    #[arg(long)]
    pub locked: bool,
    /// The stream's format: `yaml` (documents separated by `---`) or `json` (one `v1` `List`
    /// holding every object, as `kubectl get -o json` prints). `-o DIR` always writes YAML.
    #[arg(long, value_enum, default_value_t = StreamFormat::Yaml, conflicts_with = "output")]
    pub format: StreamFormat,
    /// Worker threads (default: the number of CPUs). Output order never depends on it.
    #[arg(short = 'j', long, value_name = "N")]
    pub jobs: Option<usize>,
    /// For directories that mix plain manifests with kure specs: copy every document in an
    /// API group kure does not generate for (a ConfigMap, a CRD's object) to the output
    /// unchanged (its text as written), instead of refusing it as a spec; under -o DIR in
    /// <namespace>/_passthrough/. kustomize files (kind Kustomization) are left out and
    /// named, since kure writes its own. A misspelt kind in kure's own groups, or a kure kind
    /// in a misspelt group, is still an error, and stderr lists what was copied, so a spec
    /// whose plugin is missing is seen.
    #[arg(long)]
    pub passthrough: bool,
}

/// The format of the stream `generate` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StreamFormat {
    /// YAML documents separated by `---`.
    Yaml,
    /// One JSON `List` of every object.
    Json,
}

/// Runs `kure generate`.
pub fn execute(session: &Session, args: Args) -> anyhow::Result<()> {
    // Sets the message format, which decides whether a bar is shown.
    let input = args.input.options();
    let bar = crate::progress::Bar::new(crate::common::json_messages());
    let mut pipeline = PipelineOptions {
        input,
        progress: bar.as_ref().map(crate::progress::Bar::callback),
        passthrough: args.passthrough,
        ..PipelineOptions::default()
    };
    if let Some(j) = args.jobs {
        anyhow::ensure!(j >= 1, "--jobs must be at least 1");
        pipeline.jobs = j;
    }
    let output = match (&args.output, args.format) {
        (Some(dir), _) => Output::Dir(dir.clone()),
        (None, StreamFormat::Yaml) => Output::Stdout,
        (None, StreamFormat::Json) => Output::StdoutJson,
    };
    let ran = kure_core::ops::generate::generate(
        session,
        &GenerateOptions {
            inputs: args.input.files,
            output,
            lock: lock_choice(args.lock, args.locked),
            pipeline,
        },
    );
    if let Some(bar) = &bar {
        bar.finish();
    }
    let summary = reported(ran)?;
    if let Some(dir) = &args.output {
        noteln!(
            "wrote {} objects for {} apps to {}",
            summary.objects,
            summary.apps,
            dir.display()
        );
    }
    note_passthrough(&summary, "copied");
    Ok(())
}

/// Says on stderr what `--passthrough` copied (`verb`) and left out: a spec whose plugin is
/// not installed is copied too, and this is where its kind shows.
pub(crate) fn note_passthrough(summary: &kure_core::pipeline::Summary, verb: &str) {
    if !summary.passed.is_empty() {
        let total: usize = summary.passed.values().sum();
        let kinds: Vec<String> = summary
            .passed
            .iter()
            .map(|(gvk, n)| format!("{} {} ({})", n, gvk.kind, gvk.api_version()))
            .collect();
        noteln!(
            "note: {total} {} {verb} through unchanged (--passthrough): {}",
            if total == 1 { "object" } else { "objects" },
            kinds.join(", ")
        );
    }
    for location in &summary.skipped {
        noteln!(
            "note: {location}: kustomize configuration left out (--passthrough copies objects; kure writes its own kustomization files)"
        );
    }
}
