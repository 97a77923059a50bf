//! `kure plugins info`: everything the store records about one plugin.

use serde_json::json;

use kure_core::ops::Session;

use crate::common::{print_value, Format};

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
pub fn execute(session: &Session, args: Args) -> anyhow::Result<()> {
    let Args { name, output } = args;
    let info = kure_core::ops::plugins::info(session, &name)?;
    let e = &info.entry;
    let (status, mode, from) = (info.status, info.isolation, &info.isolation_from);
    match output {
        Format::Table | Format::Wide => {
            outln!(
                "Name:        {}\nVersion:     {}\nDescription: {}\nAuthor:      {}",
                e.name,
                e.version,
                kure_core::shown_message(&e.description),
                kure_core::shown(&e.author)
            );
            outln!("Library:     {}\nSHA-256:     {}\nSigner:      {}\nInstalled:   {}\nStatus:      {status}\nIsolation:   {mode} (from {from}; a lock pinning `process` raises it)", info.library.display(), e.sha256, e.signer, e.installed_at);
            if let (Some(source), Some(digest)) = (&e.source, &e.digest) {
                outln!("Source:      {source}\nDigest:      {digest}");
            }
            if !e.requires.is_empty() {
                outln!(
                    "Requires:    {}",
                    kure_core::plugin::requires::describe(&e.requires)
                );
            }
            let required_by = &info.required_by;
            if !required_by.is_empty() {
                outln!("Required by: {}", required_by.join(", "));
            }
            outln!("GVKs:");
            for g in &info.metadata.gvks {
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
            v["gvks"] = serde_json::to_value(&info.metadata.gvks)?;
            print_value(&v, f)?;
        }
    }
    Ok(())
}
