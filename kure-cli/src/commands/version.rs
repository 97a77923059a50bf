//! `kure version`.

use kure_core::ops::Session;

/// Print kure's version and the plugin ABI it loads.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `kure version`.
pub fn execute(_session: &Session, _args: Args) -> anyhow::Result<()> {
    outln!("kure {}", env!("CARGO_PKG_VERSION"));
    outln!(
        "plugin API: kure-plugin-api {} (ABI {})",
        kure_core::PLUGIN_API_VERSION,
        kure_core::PLUGIN_ABI_VERSION
    );
    Ok(())
}
