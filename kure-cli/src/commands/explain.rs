//! `kure explain`: a generator's documentation, fields, examples and usage guide.

use crate::common::{find_generator, GlobalArgs};

/// Show what a generator does, its spec fields, examples and a usage guide.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The generator's kind, e.g. FluxHelm.
    pub kind: String,
    /// The generator's apiVersion, when several groups provide KIND.
    #[arg(long, value_name = "GROUP/VERSION")]
    pub api_version: Option<String>,
}

/// `text` indented by `pad`: trailing blank lines dropped, blank lines left empty.
fn indent(text: &str, pad: &str) -> String {
    let mut out = String::new();
    for line in text.trim_end().lines() {
        let line = line.trim_end();
        if !line.is_empty() {
            out.push_str(pad);
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// Runs `kure explain`.
pub fn execute(global: &GlobalArgs, args: Args) -> anyhow::Result<()> {
    let mut engine = global.engine()?;
    let entry = find_generator(&mut engine, &args.kind, args.api_version.as_deref())?;
    let g = &entry.generator;
    let failed = |what: &str, e: kure_core::ErrorPayload| {
        anyhow::anyhow!(
            "{} could not give the {what} of {}: {}",
            entry.provider,
            g.kind(),
            e.message
        )
    };
    let docs = g.documentation().map_err(|e| failed("documentation", e))?;
    let schema = match entry.schema() {
        Ok(s) => s.enforced().clone(),
        Err(kure_core::SchemaError::Unavailable(p)) => return Err(failed("JSON Schema", p.clone())),
        Err(kure_core::SchemaError::Unusable(why)) => anyhow::bail!(
            "the JSON Schema of {} from {} cannot be used: {why}. Report this to the plugin's author",
            g.kind(),
            entry.provider
        ),
    };
    let mut out = String::new();
    out.push_str(&format!(
        "KIND:       {}\nAPIVERSION: {}\nPROVIDER:   {}\n\n",
        g.kind(),
        g.api_version(),
        entry.provider
    ));
    out.push_str(&format!(
        "DESCRIPTION:\n{}\n",
        indent(&docs.documentation, "  ")
    ));
    let fields = kure_core::validate::fields::fields(&schema);
    if !fields.is_empty() {
        out.push_str("FIELDS (spec; `a.b` is field b of a, `a[]` an item of list a, `a.*` any key of map a):\n");
        for f in &fields {
            let req = if f.required { " (required)" } else { "" };
            out.push_str(&format!("  {} <{}>{req}\n", f.path, f.kind));
            if let Some(d) = &f.description {
                out.push_str(&format!("      {d}\n"));
            }
            if !f.constraints.is_empty() {
                out.push_str(&format!("      [{}]\n", f.constraints.join("; ")));
            }
        }
        out.push('\n');
    }
    if !docs.usage_guide.trim().is_empty() {
        out.push_str(&format!("USAGE:\n{}\n", indent(&docs.usage_guide, "  ")));
    }
    for ex in &docs.examples {
        out.push_str(&format!("EXAMPLE {}: {}\n", ex.name, ex.description));
        out.push_str(&indent(&ex.config, "  "));
        out.push('\n');
    }
    out.push_str(&format!(
        "Run `kure schema {}` for the full JSON Schema.\n",
        g.kind()
    ));
    out!("{out}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::indent;

    #[test]
    fn indent_leaves_no_blank_indented_lines() {
        assert_eq!(
            indent("First.\n\nSecond.  \n\n\n", "  "),
            "  First.\n\n  Second.\n"
        );
        assert_eq!(indent("", "  "), "");
    }
}
