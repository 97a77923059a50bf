//! `kure plugins upgrade`: newer versions from the plugin indexes.

use kure_core::ops::upgrade::Upgrade;
use kure_core::ops::Session;

use crate::common::RegistryArgs;

/// The arguments of `kure plugins upgrade`.
#[derive(Debug, clap::Args)]
pub struct UpgradeArgs {
    /// Installed plugins to upgrade (default: every one an index lists).
    pub names: Vec<String>,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// Runs `kure plugins upgrade`.
pub fn upgrade(session: &Session, args: UpgradeArgs) -> anyhow::Result<()> {
    let registry = args.registry.options();
    let (done, notes) = kure_core::ops::upgrade::upgrade(session, &args.names, &registry)?;
    for n in notes {
        noteln!("note: {n}");
    }
    let mut upgraded = false;
    for u in done {
        match u {
            Upgrade::Upgraded {
                name,
                from,
                to,
                reference,
            } => {
                upgraded = true;
                outln!("upgraded {name} {from} -> {to} (from {reference})");
            }
            Upgrade::UpToDate { name, version } => outln!("{name} {version} is up to date"),
        }
    }
    if upgraded {
        noteln!("note: run `kure lock -f SPECS` to pin the new versions where a kure.lock is used");
    }
    Ok(())
}
