//! `kure gvks`: every generator and who provides it.

use crate::common::{warn_unsigned, GlobalArgs};

/// List every registered generator (built-in and from plugins) with its provider.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `kure gvks`.
pub fn execute(global: &GlobalArgs, _args: Args) -> anyhow::Result<()> {
    let mut engine = global.engine();
    engine.load_all_plugins()?;
    warn_unsigned(&engine);
    let rows: Vec<[String; 3]> = engine
        .registry()
        .iter()
        .map(|(g, e)| [g.api_version(), g.kind.clone(), e.provider.to_string()])
        .collect();
    let w0 = rows.iter().map(|r| r[0].len()).max().unwrap_or(0).max(10);
    let w1 = rows.iter().map(|r| r[1].len()).max().unwrap_or(0).max(4);
    println!("{:w0$}  {:w1$}  PROVIDER", "APIVERSION", "KIND");
    for r in rows {
        println!("{:w0$}  {:w1$}  {}", r[0], r[1], r[2]);
    }
    Ok(())
}
