//! `kure plugins search`.

use kure_core::ops::Session;
use serde_json::json;

use crate::common::{print_table, print_value, Format, RegistryArgs};

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
