//! `kure plugins index add|list|remove|push`: the plugin indexes `search`, `upgrade` and
//! `install` read.

use kure_core::ops::Session;

use crate::common::{print_table, RegistryArgs};

/// The arguments of `kure plugins index`.
#[derive(Debug, clap::Args)]
pub struct IndexArgs {
    #[command(subcommand)]
    command: IndexCommand,
}

#[derive(Debug, clap::Subcommand)]
enum IndexCommand {
    /// Add a plugin index: a YAML file (`apiVersion: kure.dev/v1`, `kind: PluginIndex`,
    /// `plugins:` with name, description, source (oci://REGISTRY/REPOSITORY), versions and
    /// gvks), local, served over HTTPS, or an OCI artifact (`kure plugins index push`). It is
    /// read once now; a bad index is refused.
    Add {
        /// A name for it.
        name: String,
        /// A path, an https:// URL (http:// only on this machine), or oci://REGISTRY/REPO:TAG.
        location: String,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// List the configured indexes.
    List,
    /// Remove an index.
    Remove {
        /// Its name.
        name: String,
    },
    /// Publish an index file as an OCI artifact (one layer of media type
    /// application/vnd.kure.plugin-index.v1+yaml), after checking it as any index is checked,
    /// so it can be served from the registry that holds the plugins
    /// (`kure plugins index add NAME oci://...`).
    Push {
        /// The index file.
        file: std::path::PathBuf,
        /// Where: oci://REGISTRY/REPOSITORY:TAG.
        reference: String,
        #[command(flatten)]
        registry: RegistryArgs,
    },
}

/// Runs `kure plugins index`.
pub fn index(session: &Session, args: IndexArgs) -> anyhow::Result<()> {
    match args.command {
        IndexCommand::Add {
            name,
            location,
            registry,
        } => {
            let n = kure_core::ops::search::add(session, &name, &location, &registry.options())?;
            outln!("added index {name}: {n} plugins");
        }
        IndexCommand::Push {
            file,
            reference,
            registry,
        } => {
            let (n, digest) = kure_core::ops::search::push(&file, &reference, &registry.options())?;
            outln!(
                "pushed index {} ({n} plugins) to {reference} ({digest})",
                file.display()
            );
        }
        IndexCommand::List => {
            let rows: Vec<Vec<String>> = kure_core::ops::search::list(session)?
                .into_iter()
                .map(|i| vec![i.name, i.location])
                .collect();
            print_table(&["NAME", "LOCATION"], &rows);
        }
        IndexCommand::Remove { name } => {
            let i = kure_core::ops::search::remove(session, &name)?;
            outln!("removed index {} ({})", i.name, i.location);
        }
    }
    Ok(())
}
