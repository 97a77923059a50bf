//! `kure gvks`: every generator and who provides it.

use crate::common::{print_table, warn_unsigned, GlobalArgs};

/// List every registered generator (built-in, installed, and in the plugin directories) with
/// its provider.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `kure gvks`.
pub fn execute(global: &GlobalArgs, _args: Args) -> anyhow::Result<()> {
    let mut engine = global.engine()?;
    engine.use_index()?;
    engine.load_all_plugins()?;
    warn_unsigned(&engine);
    let rows: Vec<Vec<String>> = engine
        .registry()
        .iter()
        .map(|(g, e)| vec![g.api_version(), g.kind.clone(), e.provider.to_string()])
        .collect();
    print_table(&["APIVERSION", "KIND", "PROVIDER"], &rows);
    Ok(())
}
