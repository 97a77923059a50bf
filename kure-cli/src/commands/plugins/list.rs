//! `kure plugins list`: what the index records (no library is loaded).

use kure_core::store::IndexEntry;
use kure_core::trust::short_fp;
use serde_json::{json, Value};

use crate::common::{print_table, print_value, Format, GlobalArgs};

/// The arguments of `kure plugins list`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output format: table, wide (more columns), json or yaml.
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub output: Format,
}

/// Runs `kure plugins list`.
pub fn execute(global: &GlobalArgs, args: Args) -> anyhow::Result<()> {
    let Args { output } = args;
    let (_, config) = global.home()?;
    let isolation = global.isolation_policy(&config)?;
    let mode = |name: &str| isolation.requested(name).0.to_string();
    let store = global.store();
    let index = store.read_index()?;
    let orphans = store.orphans()?;
    if !orphans.is_empty() {
        let paths: Vec<String> = orphans
            .iter()
            .map(|p| format!("  {}", p.display()))
            .collect();
        noteln!(
                "warning: the plugin store holds {} leftover(s) of interrupted operations; kure never loads them, and the next `kure plugins install` or `uninstall` removes them (`rebuild-index` registers again those that still verify):\n{}",
                orphans.len(),
                paths.join("\n")
            );
    }
    let rows: Vec<(IndexEntry, String)> = index
        .plugins
        .into_iter()
        .map(|e| {
            let s = store.status(&e).to_string();
            (e, s)
        })
        .collect();
    match output {
        Format::Table | Format::Wide if rows.is_empty() => {
            outln!("No plugins installed.")
        }
        Format::Table | Format::Wide => {
            let wide = output == Format::Wide;
            // Name and version were checked when the index was read; author and
            // description are the plugin's own words, shown escaped.
            let table: Vec<Vec<String>> = rows
                .iter()
                .map(|(e, status)| {
                    let gvks: Vec<String> = e
                        .gvks
                        .iter()
                        .map(|g| format!("{}/{}", g.api_version, g.kind))
                        .collect();
                    let mut row = vec![
                        e.name.clone(),
                        e.version.clone(),
                        kure_core::shown_max(&e.author, 60),
                        kure_core::shown_max(&e.description, 80),
                        gvks.join(","),
                        short_fp(&e.signer).to_owned(),
                        status.clone(),
                    ];
                    if wide {
                        row.push(mode(&e.name));
                        row.push(e.sha256.clone());
                    }
                    row
                })
                .collect();
            let mut header = vec![
                "NAME",
                "VERSION",
                "AUTHOR",
                "DESCRIPTION",
                "GVKS",
                "SIGNER",
                "STATUS",
            ];
            if wide {
                header.extend(["ISOLATION", "SHA256"]);
            }
            print_table(&header, &table);
        }
        f => {
            let v: Vec<Value> = rows
                    .iter()
                    .map(|(e, status)| {
                        json!({
                            "name": e.name, "version": e.version, "author": e.author,
                            "description": e.description,
                            "gvks": e.gvks.iter().map(|g| format!("{}/{}", g.api_version, g.kind)).collect::<Vec<_>>(),
                            "signer": e.signer, "sha256": e.sha256, "status": status,
                            "isolation": mode(&e.name),
                        })
                    })
                    .collect();
            print_value(&Value::Array(v), f)?;
        }
    }
    Ok(())
}
