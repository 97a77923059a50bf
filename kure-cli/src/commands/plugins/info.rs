//! `kure plugins info`: everything the store records about one plugin.

use serde_json::json;

use crate::common::{print_value, Format, GlobalArgs};

/// The arguments of `kure plugins info`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Plugin name.
    pub name: String,
    /// Output format: table, wide (more columns), json or yaml.
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub output: Format,
}

/// Runs `kure plugins info`.
pub fn execute(global: &GlobalArgs, args: Args) -> anyhow::Result<()> {
    let Args { name, output } = args;
    let (_, config) = global.home()?;
    let (mode, source) = global.isolation_policy(&config)?.requested(&name);
    let from = match source {
        kure_core::plugin::isolation::Source::Default => "the default".to_owned(),
        kure_core::plugin::isolation::Source::PerPlugin => {
            format!("`plugins: {{{name}: ...}}` in config.yaml")
        }
        kure_core::plugin::isolation::Source::Global(from) => from,
    };
    let store = global.store();
    let index = store.read_index()?;
    let e = index
        .plugins
        .iter()
        .find(|e| e.name == name)
        .ok_or_else(|| {
            anyhow::anyhow!("no installed plugin named `{name}`; see `kure plugins list`")
        })?;
    let status = store.status(e);
    let metadata = store.metadata(e)?;
    match output {
        Format::Table | Format::Wide => {
            outln!(
                "Name:        {}\nVersion:     {}\nDescription: {}\nAuthor:      {}",
                e.name,
                e.version,
                kure_core::shown_message(&e.description),
                kure_core::shown(&e.author)
            );
            outln!("Library:     {}\nSHA-256:     {}\nSigner:      {}\nInstalled:   {}\nStatus:      {status}\nIsolation:   {mode} (from {from}; a lock pinning `process` raises it)", store.library_path(e).display(), e.sha256, e.signer, e.installed_at);
            outln!("GVKs:");
            for g in &metadata.gvks {
                outln!(
                    "  {}/{} ({} examples; `kure explain {}`)",
                    g.api_version,
                    g.kind,
                    g.documentation.examples.len(),
                    g.kind
                );
            }
        }
        f => {
            let mut v = serde_json::to_value(e)?;
            v["status"] = json!(status.to_string());
            v["isolation"] = json!(mode.to_string());
            v["gvks"] = serde_json::to_value(&metadata.gvks)?;
            print_value(&v, f)?;
        }
    }
    Ok(())
}
