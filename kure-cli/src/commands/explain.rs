//! `kure explain`: a generator's documentation, fields, examples and usage guide.

use serde_json::Value;

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

fn field_type(schema: &Value, root: &Value) -> String {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap_or(r);
        if let Some(target) = r.strip_prefix('#').and_then(|p| root.pointer(p)) {
            if let Some(e) = target.get("enum").and_then(Value::as_array) {
                return e
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(" | ");
            }
        }
        return name.to_owned();
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array) {
        return e
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" | ");
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(bs) = schema.get(key).and_then(Value::as_array) {
            return bs
                .iter()
                .filter(|b| b.get("type").and_then(Value::as_str) != Some("null"))
                .map(|b| field_type(b, root))
                .collect::<Vec<_>>()
                .join(" | ");
        }
    }
    match schema.get("type") {
        Some(Value::String(t)) if t == "array" => {
            format!(
                "[]{}",
                schema
                    .get("items")
                    .map_or("any".to_owned(), |i| field_type(i, root))
            )
        }
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect::<Vec<_>>()
            .join(" | "),
        _ => "any".to_owned(),
    }
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
    let schema = g.json_schema().map_err(|e| failed("JSON Schema", e))?;
    let mut out = String::new();
    out.push_str(&format!(
        "KIND:       {}\nAPIVERSION: {}\nPROVIDER:   {}\n\n",
        g.kind(),
        g.api_version(),
        entry.provider
    ));
    out.push_str(&format!(
        "DESCRIPTION:\n  {}\n\n",
        docs.documentation.replace('\n', "\n  ")
    ));
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        out.push_str("FIELDS (spec):\n");
        for (name, s) in props {
            let req = if required.contains(&name.as_str()) {
                " (required)"
            } else {
                ""
            };
            out.push_str(&format!("  {name} <{}>{req}\n", field_type(s, &schema)));
            if let Some(d) = s.get("description").and_then(Value::as_str) {
                out.push_str(&format!("      {}\n", d.replace('\n', " ")));
            }
        }
        out.push('\n');
    }
    if !docs.usage_guide.is_empty() {
        out.push_str(&format!(
            "USAGE:\n  {}\n\n",
            docs.usage_guide.replace('\n', "\n  ")
        ));
    }
    for ex in &docs.examples {
        out.push_str(&format!("EXAMPLE {}: {}\n", ex.name, ex.description));
        for line in ex.config.lines() {
            out.push_str(&format!("  {line}\n"));
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "Run `kure schema {}` for the full JSON Schema.\n",
        g.kind()
    ));
    out!("{out}");
    Ok(())
}
