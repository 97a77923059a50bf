//! `kure plugins sync`: install exactly what the lock pins.

use std::path::PathBuf;

use kure_core::ops::{LockChoice, Session};

use crate::common::RegistryArgs;

/// The arguments of `kure plugins sync`.
#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    /// The lock to sync to (default: ./kure.lock).
    #[arg(long, value_name = "FILE")]
    pub lock: Option<PathBuf>,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// Runs `kure plugins sync`.
pub fn sync(session: &Session, args: SyncArgs) -> anyhow::Result<()> {
    let synced = kure_core::ops::sync::sync(
        session,
        &LockChoice {
            file: args.lock,
            required: true,
        },
        &args.registry.options(),
    )?;
    for (plugin, from) in &synced.installed {
        noteln!("installed {plugin} from {from}");
    }
    noteln!(
        "{} plugins installed, {} already as pinned",
        synced.installed.len(),
        synced.present.len()
    );
    Ok(())
}
