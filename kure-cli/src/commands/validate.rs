//! `kure validate`: every check `kure generate` makes, without generating.

use std::path::PathBuf;

use kure_core::ops::generate::ValidateOptions;
use kure_core::ops::Session;
use kure_core::pipeline::PipelineOptions;

use crate::common::{lock_choice, reported, InputArgs};

/// Check application specs without generating anything.
///
/// Makes every check `kure generate` makes before it generates: the spec against its
/// generator's JSON Schema, the lock, and the generator's own checks. A plugin's own checks
/// need the plugin: it is loaded under the isolation policy, exactly as `generate` would load
/// it. Reports every problem with file, line and field path; exits 1 if any is found.
///
/// With --schema-only, only the JSON Schema is checked: installed plugins are not loaded (their
/// schema is the one recorded at install), and no generator's own checks run.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub input: InputArgs,
    /// Check the JSON Schema only; never load a plugin (the plugin's own checks run in
    /// `kure generate` and in `kure validate` without this flag).
    #[arg(long)]
    pub schema_only: bool,
    /// Refuse plugins that differ from what FILE pins (default: ./kure.lock when it exists).
    #[arg(long, value_name = "FILE", conflicts_with = "schema_only")]
    pub lock: Option<PathBuf>,
    /// Require the lock (--lock FILE, or ./kure.lock), as `kure generate --locked` does.
    #[arg(long, conflicts_with = "schema_only")]
    pub locked: bool,
    /// Accept documents in API groups kure does not generate for (plain manifests beside the
    /// specs), as `kure generate --passthrough` copies them: each is checked only for a kind,
    /// a name and a namespace Kubernetes accepts.
    #[arg(long, conflicts_with = "schema_only")]
    pub passthrough: bool,
}

/// Runs `kure validate`.
pub fn execute(session: &Session, args: Args) -> anyhow::Result<()> {
    // Sets the message format, which decides whether a bar is shown.
    let input = args.input.options();
    let bar = (!args.schema_only)
        .then(|| crate::progress::Bar::new(crate::common::json_messages()))
        .flatten();
    let pipeline = PipelineOptions {
        input,
        progress: bar.as_ref().map(crate::progress::Bar::callback),
        passthrough: args.passthrough,
        ..PipelineOptions::default()
    };
    let ran = kure_core::ops::generate::validate(
        session,
        &ValidateOptions {
            inputs: args.input.files,
            schema_only: args.schema_only,
            lock: lock_choice(args.lock, args.locked),
            pipeline,
        },
    );
    if let Some(bar) = &bar {
        bar.finish();
    }
    let summary = reported(ran)?;
    let checked = summary.apps;
    let noun = if checked == 1 {
        "document"
    } else {
        "documents"
    };
    if !kure_core::plugin::contain::quiet() {
        outln!("{checked} {noun} valid");
    }
    crate::commands::generate::note_passthrough(&summary, "would be copied");
    Ok(())
}
