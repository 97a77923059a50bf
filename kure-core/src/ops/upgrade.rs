//! `kure plugins upgrade [NAME...]`: for each installed plugin a configured index lists, the
//! highest version it lists above the installed one, installed from its OCI repository with
//! every usual check (replacing the installed version).

use std::time::Duration;

use crate::model::error::Error;
use crate::ops::session::Session;
use crate::store::catalog;
use crate::store::registry::RegistryOptions;

/// What `upgrade` did for one plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upgrade {
    /// Installed `to` over `from`, from `reference`.
    Upgraded {
        /// Plugin name.
        name: String,
        /// The version before.
        from: String,
        /// The version now.
        to: String,
        /// Where it came from.
        reference: String,
    },
    /// No index lists a higher version.
    UpToDate {
        /// Plugin name.
        name: String,
        /// The installed version.
        version: String,
    },
}

/// Upgrades the installed plugins `names` (all when empty) that an index lists. A name that
/// is not installed is an error; a plugin no index lists is skipped (and said). Stops at the
/// first failed install, which leaves that plugin as it was.
pub fn upgrade(
    session: &Session,
    names: &[String],
    registry: &RegistryOptions,
    timeout: Duration,
) -> Result<(Vec<Upgrade>, Vec<String>), Error> {
    let installed = session.store().read_index()?;
    for n in names {
        if !installed.plugins.iter().any(|p| &p.name == n) {
            return Err(Error::Store(format!(
                "no installed plugin named `{}`; see `kure plugins list`",
                crate::util::shown(n)
            )));
        }
    }
    let (entries, mut notes) = catalog::read_all(session.home(), timeout)?;
    let entries: Vec<_> = entries.into_iter().map(|(_, e)| e).collect();
    let mut done = Vec::new();
    for plugin in installed
        .plugins
        .iter()
        .filter(|p| names.is_empty() || names.contains(&p.name))
    {
        let Ok(current) = semver::Version::parse(&plugin.version) else {
            continue;
        };
        // The best version any index lists for this name, above the installed one.
        let best = entries
            .iter()
            .filter(|e| e.name == plugin.name)
            .flat_map(|e| e.versions.iter().map(move |v| (e, v)))
            .filter_map(|(e, v)| semver::Version::parse(v).ok().map(|p| (p, e, v)))
            .filter(|(p, _, _)| *p > current && p.pre.is_empty())
            .max_by(|a, b| a.0.cmp(&b.0));
        match best {
            Some((_, entry, version)) => {
                let reference = entry.reference(version);
                crate::ops::install::install_pinned(
                    session, &reference, None, true, registry, None,
                )?;
                done.push(Upgrade::Upgraded {
                    name: plugin.name.clone(),
                    from: plugin.version.clone(),
                    to: version.clone(),
                    reference,
                });
            }
            None if entries.iter().any(|e| e.name == plugin.name) => {
                done.push(Upgrade::UpToDate {
                    name: plugin.name.clone(),
                    version: plugin.version.clone(),
                });
            }
            None => notes.push(format!("{}: no configured index lists it", plugin.name)),
        }
    }
    Ok((done, notes))
}
