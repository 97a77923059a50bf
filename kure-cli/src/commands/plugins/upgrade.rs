//! `kure plugins upgrade`: newer versions from the plugin indexes.

use kure_core::ops::upgrade::Upgrade;
use kure_core::ops::Session;

use crate::common::RegistryArgs;

/// The arguments of `kure plugins upgrade`.
#[derive(Debug, clap::Args)]
pub struct UpgradeArgs {
    /// Installed plugins to upgrade (default: every one an index lists).
    pub names: Vec<String>,
    /// The lock to pin the new versions in (default: ./kure.lock when it exists). Only the
    /// GVKs it pinned to an upgraded plugin change.
    #[arg(long, value_name = "FILE")]
    pub lock: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// Runs `kure plugins upgrade`.
pub fn upgrade(session: &Session, args: UpgradeArgs) -> anyhow::Result<()> {
    let registry = args.registry.options();
    let lock = crate::common::lock_choice(args.lock, false);
    let done = kure_core::ops::upgrade::upgrade_and_relock(session, &args.names, &registry, &lock)?;
    for n in &done.notes {
        noteln!("note: {n}");
    }
    let mut upgraded = false;
    for u in done.plugins {
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
    match done.relocked {
        Some(Err(e)) => noteln!("error: the new versions were not pinned: {e}"),
        Some(Ok(r)) => {
            for w in &r.warnings {
                noteln!("warning: {w}");
            }
            outln!(
                "pinned {} GVKs at the new versions in {}",
                r.pinned,
                r.path.display()
            );
            for gvk in &r.dropped {
                noteln!(
                    "warning: {gvk} is no longer provided by the upgraded plugin: its pin was removed; run `kure lock -f SPECS` to see whether the specs still use it"
                );
            }
        }
        None if upgraded => noteln!(
            "note: no kure.lock here; where one is used, run `kure lock -f SPECS` (or pass --lock FILE next time)"
        ),
        None => {}
    }
    match done.failed {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}
