//! `kure gvks`: every generator and who provides it.

use serde_json::json;

use crate::common::{print_table, print_value, report_plugins, Format, GlobalArgs};

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
pub fn execute(global: &GlobalArgs, args: Args) -> anyhow::Result<()> {
    let mut engine = global.engine()?;
    engine.use_index()?;
    engine.load_all_plugins()?;
    report_plugins(&engine);
    // (apiVersion, kind, provider, used, winner)
    let mut rows: Vec<(String, String, String, bool, String)> = engine
        .registry()
        .iter()
        .map(|(g, e)| {
            (
                g.api_version(),
                g.kind.clone(),
                e.provider.to_string(),
                true,
                String::new(),
            )
        })
        .collect();
    for (g, loser, winner) in engine.shadowed() {
        rows.push((
            g.api_version(),
            g.kind.clone(),
            loser.clone(),
            false,
            winner.clone(),
        ));
    }
    rows.sort();
    match args.output {
        Format::Table | Format::Wide => {
            let wide = args.output == Format::Wide;
            let table: Vec<Vec<String>> = rows
                .iter()
                .map(|(av, kind, provider, used, winner)| {
                    let mut row = vec![av.clone(), kind.clone()];
                    if *used {
                        row.push(provider.clone());
                    } else {
                        row.push(format!("{provider} (not used: {winner} wins)"));
                    }
                    if wide {
                        row.push(if *used { "yes" } else { "no" }.to_owned());
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
                .map(|(av, kind, provider, used, winner)| {
                    let mut v =
                        json!({"apiVersion": av, "kind": kind, "provider": provider, "used": used});
                    if !used {
                        v["usedInstead"] = json!(winner);
                    }
                    v
                })
                .collect();
            print_value(&serde_json::Value::Array(list), f)?;
        }
    }
    Ok(())
}
