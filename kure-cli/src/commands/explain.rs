//! `kure explain`: a generator's documentation, fields, examples and usage guide.

use kure_core::ops::Session;

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
pub fn execute(session: &Session, args: Args) -> anyhow::Result<()> {
    let e = kure_core::ops::describe::explain(session, &args.kind, args.api_version.as_deref())?;
    let mut out = String::new();
    out.push_str(&format!(
        "KIND:       {}\nAPIVERSION: {}\nPROVIDER:   {}\n\n",
        e.kind, e.api_version, e.provider
    ));
    out.push_str(&format!(
        "DESCRIPTION:\n{}\n",
        indent(&e.docs.documentation, "  ")
    ));
    if !e.fields.is_empty() {
        out.push_str("FIELDS (spec; `a.b` is field b of a, `a[]` an item of list a, `a.*` any key of map a):\n");
        for f in &e.fields {
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
    if !e.docs.usage_guide.trim().is_empty() {
        out.push_str(&format!("USAGE:\n{}\n", indent(&e.docs.usage_guide, "  ")));
    }
    for ex in &e.docs.examples {
        out.push_str(&format!("EXAMPLE {}: {}\n", ex.name, ex.description));
        out.push_str(&indent(&ex.config, "  "));
        out.push('\n');
    }
    out.push_str(&format!(
        "Run `kure schema {}` for the full JSON Schema.\n",
        e.kind
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
