//! `kure kustomize`: kure as a kustomize generator.

use std::path::PathBuf;

use kure_core::ops::session::absolute;
use kure_core::ops::Session;

use crate::common::print_table;

/// Use kure from kustomize: install exec generator plugins so that a kustomization's
/// `generators:` can list kure specs (`kubectl kustomize --enable-alpha-plugins`).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Write an executable KUSTOMIZE_PLUGIN_HOME/GROUP/VERSION/<kind>/KIND for every GVK kure
    /// generates (built-ins and installed plugins): a shim running `kure generate -f CONFIG`,
    /// so kure's validation, trust rules and ./kure.lock apply. Existing shims are replaced.
    InstallPlugins {
        /// The plugin home (default: $KUSTOMIZE_PLUGIN_HOME, else
        /// $XDG_CONFIG_HOME/kustomize/plugin, else ~/.config/kustomize/plugin).
        #[arg(long, value_name = "DIR")]
        home: Option<PathBuf>,
        /// The kure binary the shims run (default: this one).
        #[arg(long, value_name = "PATH")]
        kure: Option<PathBuf>,
    },
}

/// Runs `kure kustomize`.
pub fn execute(session: &Session, args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::InstallPlugins { home, kure } => {
            let home = absolute(&home.unwrap_or_else(kure_core::ops::kustomize::plugin_home));
            let kure = match kure {
                Some(k) => absolute(&k),
                None => std::env::current_exe()?,
            };
            let written = kure_core::ops::kustomize::install_plugins(session, &home, &kure)?;
            let rows: Vec<Vec<String>> = written
                .iter()
                .map(|(g, p)| vec![g.api_version(), g.kind.clone(), p.display().to_string()])
                .collect();
            print_table(&["APIVERSION", "KIND", "PLUGIN"], &rows);
            noteln!(
                "run kustomize with --enable-alpha-plugins (KUSTOMIZE_PLUGIN_HOME={} if it is not the default) and list kure specs under `generators:`",
                home.display()
            );
            noteln!(
                "the shims run {} (this path, not whichever kure is on PATH): after moving or replacing that binary, run `kure kustomize install-plugins` again (or pass --kure PATH)",
                kure.display()
            );
        }
    }
    Ok(())
}
