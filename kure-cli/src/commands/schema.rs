//! `kure schema`: a generator's JSON Schema, for editors and CI.

use crate::common::{find_generator, GlobalArgs};

/// Print the JSON Schema of a generator's spec.
///
/// This is the schema kure enforces: the generator's own, with kure's strictness made explicit
/// (objects that list their fields are closed with `additionalProperties: false`, or
/// `unevaluatedProperties: false` when composed; integer formats such as `int32` carry their
/// range). Point your editor's YAML language server at it to get completion and the same checks
/// while writing specs.
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
    let schema = entry.schema().map_err(|e| match e {
        kure_core::SchemaError::Unavailable(p) => anyhow::anyhow!(
            "{} could not give the JSON Schema of {}: {}",
            entry.provider,
            args.kind,
            p.message
        ),
        kure_core::SchemaError::Unusable(why) => anyhow::anyhow!(
            "the JSON Schema of {} from {} cannot be used: {why}. Report this to the plugin's author",
            args.kind,
            entry.provider
        ),
    })?;
    let schema = schema.enforced();
    outln!("{}", serde_json::to_string_pretty(&schema)?);
    Ok(())
}
