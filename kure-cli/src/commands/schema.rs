//! `kure schema`: a generator's JSON Schema, for editors and CI.

use kure_core::ops::Session;

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
pub fn execute(session: &Session, args: Args) -> anyhow::Result<()> {
    let schema =
        kure_core::ops::describe::schema(session, &args.kind, args.api_version.as_deref())?;
    outln!("{}", serde_json::to_string_pretty(&schema)?);
    Ok(())
}
