//! `kure plugins status` (every check, then each plugin run in a sandboxed worker) and
//! `rebuild-index`.

use std::path::PathBuf;

use crate::common::{print_table, print_value, Format, GlobalArgs};

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
pub fn status(global: &GlobalArgs, args: StatusArgs) -> anyhow::Result<()> {
    let StatusArgs {
        names,
        lock,
        output,
    } = args;
    let policy = global.trust()?;
    let lock = match lock.or_else(|| {
        let p = PathBuf::from(kure_core::store::lockfile::LOCK_FILE);
        p.exists().then_some(p)
    }) {
        Some(p) => Some(kure_core::store::lockfile::Lock::read(&p)?),
        None => None,
    };
    let (_, config) = global.home()?;
    let worker = global.isolation_policy(&config)?.worker;
    let report = kure_core::store::status::plugins_status(
        &global.store(),
        &policy,
        lock.as_ref(),
        &names,
        &worker,
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
pub fn rebuild_index(global: &GlobalArgs) -> anyhow::Result<()> {
    let policy = global.trust()?;
    let (_, config) = global.home()?;
    let worker = global.isolation_policy(&config)?.worker;
    let index = global.store().rebuild_index(&policy, &worker)?;
    outln!("rebuilt the index: {} plugins", index.plugins.len());
    Ok(())
}
