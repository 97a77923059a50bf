//! `kure validate`: check specs without generating.

use crate::common::{warn_unsigned, GlobalArgs, InputArgs};

/// Check application specs against their generators' schemas without generating anything.
///
/// Reports every problem with file, line and field path; exits 1 if any is found. Installed
/// plugins are checked against the schema recorded at install time, without loading them (their
/// own extra checks run in `kure generate`).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub input: InputArgs,
}

/// Runs `kure validate`.
pub fn execute(global: &GlobalArgs, args: Args) -> anyhow::Result<()> {
    let docs = kure_core::decode_inputs(&args.input.files, &args.input.options())?;
    let mut engine = global.engine()?;
    engine.resolve_offline(&docs)?;
    warn_unsigned(&engine);
    engine.validate(&docs)?;
    outln!("{} documents valid", docs.len());
    Ok(())
}
