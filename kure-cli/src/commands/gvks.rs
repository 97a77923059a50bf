//! `kure gvks`: every generator and who provides it.

use crate::common::{print_table, report_plugins, GlobalArgs};

/// List every registered generator (built-in, installed, `--plugin` libraries and the plugin
/// directories) with its provider. When two provide one GVK, both are listed: the one used, and
/// the other marked `not used`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `kure gvks`.
pub fn execute(global: &GlobalArgs, _args: Args) -> anyhow::Result<()> {
    let mut engine = global.engine()?;
    engine.use_index()?;
    engine.load_all_plugins()?;
    report_plugins(&engine);
    let mut rows: Vec<Vec<String>> = engine
        .registry()
        .iter()
        .map(|(g, e)| vec![g.api_version(), g.kind.clone(), e.provider.to_string()])
        .collect();
    for (g, loser, winner) in engine.shadowed() {
        rows.push(vec![
            g.api_version(),
            g.kind.clone(),
            format!("{loser} (not used: {winner} wins)"),
        ]);
    }
    rows.sort();
    print_table(&["APIVERSION", "KIND", "PROVIDER"], &rows);
    Ok(())
}
