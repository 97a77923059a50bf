//! `kure gvks`: every generator and who provides it.

use serde_json::json;

use kure_core::ops::Session;

use crate::common::{print_table, print_value, reported, Format};

/// List every generator kure has (built in, installed, `--plugin` libraries and the plugin
/// directories) with its provider. Installed plugins are answered from the store's index and
/// metadata, never loaded; plugin-directory libraries are inspected in a sandboxed worker. When
/// two provide one GVK, both are listed: the one used, and the other marked `not used`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output format: table, wide (adds where each provider comes from), json or yaml.
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    output: Format,
}

/// Runs `kure gvks`.
pub fn execute(session: &Session, args: Args) -> anyhow::Result<()> {
    let rows = reported(kure_core::ops::describe::gvks(session))?;
    match args.output {
        Format::Table | Format::Wide => {
            let wide = args.output == Format::Wide;
            let table: Vec<Vec<String>> = rows
                .iter()
                .map(|p| {
                    let mut row = vec![p.api_version.clone(), p.kind.clone()];
                    if p.used {
                        row.push(p.provider.clone());
                    } else {
                        row.push(format!(
                            "{} (not used: {} wins)",
                            p.provider, p.used_instead
                        ));
                    }
                    if wide {
                        row.push(if p.used { "yes" } else { "no" }.to_owned());
                    }
                    row
                })
                .collect();
            let mut header = vec!["APIVERSION", "KIND", "PROVIDER"];
            if wide {
                header.push("USED");
            }
            print_table(&header, &table);
        }
        f => {
            let list: Vec<serde_json::Value> = rows
                .iter()
                .map(|p| {
                    let mut v = json!({"apiVersion": p.api_version, "kind": p.kind,
                                       "provider": p.provider, "used": p.used});
                    if !p.used {
                        v["usedInstead"] = json!(p.used_instead);
                    }
                    v
                })
                .collect();
            print_value(&serde_json::Value::Array(list), f)?;
        }
    }
    Ok(())
}
