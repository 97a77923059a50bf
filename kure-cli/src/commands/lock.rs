//! `kure lock`: pin the plugins the inputs use.

use std::path::PathBuf;

use crate::common::{report_plugins, GlobalArgs, InputArgs};

/// Write or update kure.lock: for every plugin GVK the inputs use, the plugin name, version,
/// library sha256 and signer. `kure generate` then refuses any other plugin for those GVKs.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub input: InputArgs,
    /// The lock file to write.
    #[arg(long, value_name = "FILE", default_value = kure_core::store::lockfile::LOCK_FILE)]
    pub lock: PathBuf,
    /// Drop the pins of GVKs the inputs do not use. Without it, `kure lock -f subset/` updates
    /// the pins the subset uses and keeps every other pin.
    #[arg(long)]
    pub prune: bool,
}

/// Runs `kure lock`.
pub fn execute(global: &GlobalArgs, args: Args) -> anyhow::Result<()> {
    let mut engine = global.engine()?;
    // `validate`'s stages: every document decoded, its plugin resolved and loaded (under the
    // isolation policy) and every check made, before anything is pinned.
    let options = kure_core::pipeline::PipelineOptions {
        input: args.input.options(),
        ..Default::default()
    };
    let checked = kure_core::pipeline::validate(&mut engine, &args.input.files, &options);
    report_plugins(&engine);
    let summary = checked?;
    let fresh = engine.pins(&summary.gvks);
    // Merge: pins of GVKs these inputs do not use stay, unless --prune.
    let mut pins = if args.prune || !args.lock.exists() {
        Default::default()
    } else {
        kure_core::store::lockfile::read(&args.lock)?
    };
    let kept = pins.keys().filter(|g| !fresh.contains_key(*g)).count();
    let used = fresh.len();
    pins.extend(fresh);
    kure_core::store::lockfile::write(&args.lock, &pins)?;
    let kept = if kept > 0 {
        format!(", {kept} kept from before (--prune drops pins the inputs do not use)")
    } else {
        String::new()
    };
    noteln!(
        "wrote {} ({used} plugin GVKs pinned from the inputs{kept})",
        args.lock.display(),
    );
    Ok(())
}
