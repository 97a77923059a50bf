//! `kure plugins index add|list|remove|push` and `kure plugins search`.

use kure_core::ops::Session;
use serde_json::json;

use crate::common::{print_table, print_value, Format, RegistryArgs};

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

/// The arguments of `kure plugins search`.
#[derive(Debug, clap::Args)]
pub struct SearchArgs {
    /// A word to look for in names, descriptions and GVKs (any case); all plugins without it.
    pub word: Option<String>,
    /// Output format: table, wide (adds the index and the source), json or yaml.
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub output: Format,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// Runs `kure plugins search`.
pub fn search(session: &Session, args: SearchArgs) -> anyhow::Result<()> {
    let result =
        kure_core::ops::search::search(session, args.word.as_deref(), &args.registry.options())?;
    for why in &result.unreadable {
        noteln!("warning: {why}");
    }
    match args.output {
        Format::Table | Format::Wide => {
            let wide = args.output == Format::Wide;
            let rows: Vec<Vec<String>> = result
                .found
                .iter()
                .map(|f| {
                    let mut row = vec![
                        f.entry.name.clone(),
                        f.entry.latest().unwrap_or("-").to_owned(),
                        f.entry.gvks.join(","),
                        kure_core::shown_max(&f.entry.description, 80),
                        f.installed.clone().unwrap_or_else(|| "-".to_owned()),
                    ];
                    if wide {
                        row.push(f.index.clone());
                        row.push(f.entry.source.clone());
                    }
                    row
                })
                .collect();
            let mut header = vec!["NAME", "VERSION", "GVKS", "DESCRIPTION", "INSTALLED"];
            if wide {
                header.extend(["INDEX", "SOURCE"]);
            }
            if rows.is_empty() {
                outln!("No plugins found.");
            } else {
                print_table(&header, &rows);
            }
        }
        f => {
            let list: Vec<serde_json::Value> = result
                .found
                .iter()
                .map(|x| {
                    json!({"name": x.entry.name, "latest": x.entry.latest(),
                           "versions": x.entry.versions, "gvks": x.entry.gvks,
                           "description": x.entry.description, "source": x.entry.source,
                           "index": x.index, "installed": x.installed})
                })
                .collect();
            print_value(&serde_json::Value::Array(list), f)?;
        }
    }
    Ok(())
}
