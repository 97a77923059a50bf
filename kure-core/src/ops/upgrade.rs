//! `kure plugins upgrade [NAME...]`: for each installed plugin a configured index lists, the
//! highest released version it lists above the installed one that every installed plugin's
//! `requires` allows, installed from its OCI repository with every usual check (replacing the
//! installed version, and installing what the new version requires).

use crate::model::error::Error;
use crate::ops::session::Session;
use crate::store::catalog;
use crate::store::registry::RegistryOptions;
use crate::store::requires::satisfies;

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

/// What [`upgrade`] did, what it noted, and the failure that stopped it, if one did.
pub type Partial = (Vec<Upgrade>, Vec<String>, Option<Error>);

/// What `upgrade` did, and what it noted.
#[derive(Debug)]
pub struct Upgraded {
    /// What it did for each plugin.
    pub plugins: Vec<Upgrade>,
    /// What the user should know (plugins no index lists, versions held back).
    pub notes: Vec<String>,
    /// The lock it pinned the new versions in, when there is one (or why it could not).
    pub relocked: Option<Result<crate::ops::lock::Relocked, Error>>,
    /// The upgrade that failed and stopped the others, if one did.
    pub failed: Option<Error>,
}

/// [`upgrade`], then the new versions pinned in the lock `lock` chooses (`./kure.lock` when it
/// exists; none: nothing to pin), as `kure lock` would pin them ([`crate::ops::lock::relock`]).
pub fn upgrade_and_relock(
    session: &Session,
    names: &[String],
    registry: &RegistryOptions,
    lock: &crate::ops::session::LockChoice,
) -> Result<Upgraded, Error> {
    // Read before anything changes: a lock that does not read stops here.
    let lock = crate::ops::session::read_lock(lock)?;
    let (plugins, notes, failed) = upgrade(session, names, registry)?;
    let upgraded: Vec<String> = plugins
        .iter()
        .filter_map(|u| match u {
            Upgrade::Upgraded { name, .. } => Some(name.clone()),
            Upgrade::UpToDate { .. } => None,
        })
        .collect();
    // What was upgraded is pinned even when a later upgrade failed.
    let relocked = match lock {
        Some(lock) if !upgraded.is_empty() => Some(crate::ops::lock::relock(
            session, &lock, &upgraded, registry,
        )),
        _ => None,
    };
    Ok(Upgraded {
        plugins,
        notes,
        relocked,
        failed,
    })
}

/// Upgrades the installed plugins `names` (all when empty) that an index lists. A name that
/// is not installed is an error; a plugin no index lists is skipped (and said). Stops at the
/// first failed install, which leaves that plugin as it was, and returns it with what was
/// upgraded before it.
pub fn upgrade(
    session: &Session,
    names: &[String],
    registry: &RegistryOptions,
) -> Result<Partial, Error> {
    let installed = session.store().read_index()?;
    for n in names {
        if !installed.plugins.iter().any(|p| &p.name == n) {
            return Err(Error::Store(format!(
                "no installed plugin named `{}`; see `kure plugins list`",
                crate::util::shown(n)
            )));
        }
    }
    let (entries, mut notes) = catalog::read_all(session.home(), registry)?;
    let entries: Vec<_> = entries.into_iter().map(|(_, e)| e).collect();
    let mut done = Vec::new();
    let wanted: Vec<String> = installed
        .plugins
        .iter()
        .filter(|p| names.is_empty() || names.contains(&p.name))
        .map(|p| p.name.clone())
        .collect();
    for name in wanted {
        // Read again for each: an earlier upgrade may have changed versions and ranges.
        let installed = match session.store().read_index() {
            Ok(i) => i,
            Err(e) => return Ok((done, notes, Some(e))),
        };
        let Some(plugin) = installed.plugins.iter().find(|p| p.name == name) else {
            continue;
        };
        let Ok(current) = semver::Version::parse(&plugin.version) else {
            continue;
        };
        // What installed plugins require of this one: an upgrade stays inside every range.
        let ranges: Vec<(String, String)> = installed
            .plugins
            .iter()
            .flat_map(|o| {
                o.requires
                    .plugins
                    .iter()
                    .filter(|r| r.name == plugin.name)
                    .map(move |r| (format!("{}@{}", o.name, o.version), r.version.clone()))
            })
            .collect();
        // The released versions any index lists for this name, above the installed one.
        let above: Vec<_> = entries
            .iter()
            .filter(|e| e.name == plugin.name)
            .flat_map(|e| e.versions.iter().map(move |v| (e, v)))
            .filter_map(|(e, v)| semver::Version::parse(v).ok().map(|p| (p, e, v)))
            .filter(|(p, _, _)| *p > current && p.pre.is_empty())
            .collect();
        let best = above
            .iter()
            .filter(|(_, _, v)| ranges.iter().all(|(_, r)| satisfies(r, v)))
            .max_by(|a, b| a.0.cmp(&b.0));
        if let Some((_, _, v)) = above.iter().max_by(|a, b| a.0.cmp(&b.0)) {
            if best.is_none_or(|(_, _, b)| b != v) {
                let held: Vec<String> = ranges
                    .iter()
                    .filter(|(_, r)| !satisfies(r, v))
                    .map(|(by, r)| format!("{by} requires {} {r}", plugin.name))
                    .collect();
                notes.push(format!(
                    "{}: {v} is listed, but {}",
                    plugin.name,
                    held.join("; ")
                ));
            }
        }
        match best {
            Some((_, entry, version)) => {
                let reference = entry.reference(version);
                // A version whose requirements cannot be met is held back, said, and the
                // others go on; any other failure stops here, with what was upgraded before it
                // (that plugin stays as it was).
                let installed =
                    crate::ops::prepare::prepare_pulled(session, &reference, None, registry, None)
                        .and_then(|p| {
                            crate::ops::resolve::with_requirements(session, p, true, registry)
                        });
                match installed {
                    Ok(_) => {}
                    Err(Error::Requires(why)) => {
                        notes.push(format!("{name}: {version} was not installed: {why}"));
                        continue;
                    }
                    Err(e) => return Ok((done, notes, Some(e))),
                }
                done.push(Upgrade::Upgraded {
                    name: plugin.name.clone(),
                    from: plugin.version.clone(),
                    to: (*version).clone(),
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
    Ok((done, notes, None))
}
