//! `kure plugins list`: what the index records (no library is loaded).

use kure_core::ops::plugins::Listed;
use kure_core::ops::Session;
use kure_core::trust::short_fp;
use serde_json::{json, Value};

use crate::common::{print_table, print_value, Format};

/// The arguments of `kure plugins list`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output format: table, wide (more columns), json or yaml.
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub output: Format,
}

/// Runs `kure plugins list`.
pub fn execute(session: &Session, args: Args) -> anyhow::Result<()> {
    let Args { output } = args;
    let listing = kure_core::ops::plugins::list(session)?;
    if !listing.orphans.is_empty() {
        let paths: Vec<String> = listing
            .orphans
            .iter()
            .map(|p| format!("  {}", p.display()))
            .collect();
        noteln!(
            "warning: the plugin store holds {} leftover(s) of interrupted operations; kure never loads them, and the next `kure plugins install` or `uninstall` removes them (`rebuild-index` registers again those that still verify):\n{}",
            listing.orphans.len(),
            paths.join("\n")
        );
    }
    let rows = listing.plugins;
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
                .map(
                    |Listed {
                         entry: e,
                         status,
                         isolation,
                     }| {
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
                            status.to_string(),
                        ];
                        if wide {
                            row.push(isolation.to_string());
                            row.push(e.sha256.clone());
                            row.push(e.source.clone().unwrap_or_else(|| "-".to_owned()));
                        }
                        row
                    },
                )
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
                header.extend(["ISOLATION", "SHA256", "SOURCE"]);
            }
            print_table(&header, &table);
        }
        f => {
            let v: Vec<Value> = rows
                    .iter()
                    .map(|Listed { entry: e, status, isolation }| {
                        json!({
                            "name": e.name, "version": e.version, "author": e.author,
                            "description": e.description,
                            "gvks": e.gvks.iter().map(|g| format!("{}/{}", g.api_version, g.kind)).collect::<Vec<_>>(),
                            "signer": e.signer, "sha256": e.sha256, "status": status.to_string(),
                            "isolation": isolation.to_string(),
                            "source": e.source, "digest": e.digest,
                        })
                    })
                    .collect();
            print_value(&Value::Array(v), f)?;
        }
    }
    Ok(())
}
