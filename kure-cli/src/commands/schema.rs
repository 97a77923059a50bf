//! `kure schema`: a generator's JSON Schema, for editors and CI.

use crate::common::{find_generator, GlobalArgs};

/// Print the JSON Schema of a generator's spec.
///
/// Point your editor's YAML language server at it to get completion and checks while writing
/// specs.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The generator's kind, e.g. AppWorkload.
    pub kind: String,
    /// The generator's apiVersion, when several groups provide KIND.
    #[arg(long, value_name = "GROUP/VERSION")]
    pub api_version: Option<String>,
}

/// Runs `kure schema`.
pub fn execute(global: &GlobalArgs, args: Args) -> anyhow::Result<()> {
    let mut engine = global.engine()?;
    let entry = find_generator(&mut engine, &args.kind, args.api_version.as_deref())?;
    let schema = entry.generator.json_schema().map_err(|e| {
        anyhow::anyhow!(
            "{} could not give the JSON Schema of {}: {}",
            entry.provider,
            args.kind,
            e.message
        )
    })?;
    outln!("{}", serde_json::to_string_pretty(&schema)?);
    Ok(())
}
