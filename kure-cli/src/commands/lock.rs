//! `kure lock`: pin the plugins the inputs use.

use std::path::PathBuf;

use kure_core::ops::lock::{LockOptions, Locked};
use kure_core::ops::Session;

use crate::common::{reported, InputArgs, RegistryArgs};

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
    /// For plugins installed from a registry: how to ask it for every platform's build, which
    /// the lock records so `kure plugins sync` works on each.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// Runs `kure lock`.
pub fn execute(session: &Session, args: Args) -> anyhow::Result<()> {
    let Locked {
        used,
        kept,
        warnings,
    } = reported(kure_core::ops::lock::lock(
        session,
        &LockOptions {
            input: args.input.options(),
            inputs: args.input.files,
            file: args.lock.clone(),
            prune: args.prune,
            registry: args.registry.options(),
        },
    ))?;
    for w in warnings {
        noteln!("warning: {w}");
    }
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
