//! `kure lock`: pin the plugins the inputs use.

use std::path::PathBuf;

use crate::common::{warn_unsigned, GlobalArgs, InputArgs};

/// Write or update kure.lock: for every plugin GVK the inputs use, the plugin name, version,
/// library sha256 and signer. `kure generate` then refuses any other plugin for those GVKs.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub input: InputArgs,
    /// The lock file to write.
    #[arg(long, value_name = "FILE", default_value = kure_core::lockfile::LOCK_FILE)]
    pub lock: PathBuf,
}

/// Runs `kure lock`.
pub fn execute(global: &GlobalArgs, args: Args) -> anyhow::Result<()> {
    let docs = kure_core::decode_inputs(&args.input.files, &args.input.options())?;
    let mut engine = global.engine()?;
    engine.resolve(&docs)?;
    warn_unsigned(&engine);
    engine.validate(&docs)?;
    let pins = kure_core::lockfile::pins_for(&engine, &docs);
    kure_core::lockfile::write(&args.lock, &pins)?;
    errln!(
        "wrote {} ({} plugin GVKs pinned)",
        args.lock.display(),
        pins.len()
    );
    Ok(())
}
