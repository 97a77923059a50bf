//! `kure plugins status` (every check, then each plugin run in a sandboxed worker) and
//! `rebuild-index`.

use std::path::PathBuf;

use kure_core::ops::{LockChoice, Session};

use crate::common::{print_table, print_value, Format};

/// The arguments of `kure plugins status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Plugin names (default: every installed plugin).
    pub names: Vec<String>,
    /// The lock to check against (default: ./kure.lock when it exists).
    #[arg(long, value_name = "FILE")]
    pub lock: Option<PathBuf>,
    /// Output format: table, wide (more columns), json or yaml.
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub output: Format,
}

/// Runs `kure plugins status`.
pub fn status(session: &Session, args: StatusArgs) -> anyhow::Result<()> {
    let StatusArgs {
        names,
        lock,
        output,
    } = args;
    let report = kure_core::ops::status::status(
        session,
        &names,
        &LockChoice {
            file: lock,
            required: false,
        },
    )?;
    match output {
        Format::Table | Format::Wide => {
            let rows: Vec<Vec<String>> = report
                .iter()
                .map(|p| {
                    let checks = p
                        .checks
                        .iter()
                        .map(|c| match (c.ok, c.micros) {
                            (true, Some(us)) => format!("{} ok ({us} µs)", c.check),
                            (true, None) => format!("{} ok", c.check),
                            (false, _) => format!("{} FAILED: {}", c.check, c.detail),
                        })
                        .collect::<Vec<_>>()
                        .join(", ");
                    vec![
                        p.name.clone(),
                        p.version.clone(),
                        if p.ok { "ok" } else { "FAILED" }.to_owned(),
                        checks,
                    ]
                })
                .collect();
            print_table(&["NAME", "VERSION", "STATUS", "CHECKS"], &rows);
        }
        f => print_value(&serde_json::to_value(&report)?, f)?,
    }
    let failed: Vec<&str> = report
        .iter()
        .filter(|p| !p.ok)
        .map(|p| p.name.as_str())
        .collect();
    if !failed.is_empty() {
        anyhow::bail!("plugin checks failed: {}", failed.join(", "));
    }
    Ok(())
}

/// Runs `kure plugins rebuild-index`.
pub fn rebuild_index(session: &Session) -> anyhow::Result<()> {
    let index = kure_core::ops::plugins::rebuild_index(session)?;
    outln!("rebuilt the index: {} plugins", index.plugins.len());
    Ok(())
}
