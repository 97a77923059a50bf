//! Installing what a plugin requires: for each required plugin (name and semver range) or GVK
//! that neither kure nor the store provides, the highest released version a configured index
//! lists that satisfies every constraint known, downloaded and checked like any install, and
//! resolved in turn. Conflicts are refused naming both constraints. Everything is prepared
//! (verified, inspected, examples run) first, then committed in one store transaction: the
//! plugin and what it requires are all installed, or none.

use crate::model::error::Error;
use crate::model::gvk::Gvk;
use crate::ops::prepare::{commit, commit_all, prepare_pulled, Installed, Prepared};
use crate::ops::session::Session;
use crate::store::catalog::{self, CatalogEntry};
use crate::store::registry::RegistryOptions;
use crate::store::requires::{provided, satisfies};
use crate::store::{IndexEntry, InstallOutcome};

/// At most this many plugins are installed for one plugin's requirements.
const MAX_DEPENDENCIES: usize = 16;

/// What a dependency fetched for a requirement must be.
enum Expect {
    /// A version in every range.
    Ranges(Vec<Constraint>),
    /// A provider of the GVK.
    Provides(Gvk),
}

/// A constraint on a plugin name, and who made it.
#[derive(Debug, Clone)]
struct Constraint {
    name: String,
    range: String,
    by: String,
}

/// Installs what `target` requires (see the module), then `target`.
pub(crate) fn with_requirements(
    session: &Session,
    target: Prepared,
    replace: bool,
    registry: &RegistryOptions,
) -> Result<Installed, Error> {
    let store = session.store();
    let installed = store.read_index()?.plugins;
    let who = format!("{}@{}", target.entry.name, target.entry.version);
    // Without requirements the store's own checks are all there is to it.
    if target.entry.requires.plugins.is_empty() && target.entry.requires.gvks.is_empty() {
        return Ok(Installed {
            outcome: commit(&store, &target, replace)?,
            dependencies: Vec::new(),
        });
    }
    let mut resolver = Resolver {
        session,
        registry,
        installed,
        catalog: None,
        planned: Vec::new(),
        constraints: Vec::new(),
        target: target.entry.clone(),
    };
    resolver
        .resolve(&target.entry)
        .map_err(|why| Error::Requires(format!("plugin {who} was not installed: {why}")))?;
    // One transaction: the dependencies and the target, all or none.
    let mut batch: Vec<(&Prepared, bool)> = resolver.planned.iter().map(|p| (p, false)).collect();
    batch.push((&target, replace));
    let mut outcomes = commit_all(&store, &batch)?;
    let outcome = outcomes
        .pop()
        .ok_or_else(|| Error::Store("nothing was installed".to_owned()))?;
    let dependencies = outcomes
        .into_iter()
        .filter_map(|o| match o {
            InstallOutcome::Installed { entry, .. } => Some(entry),
            InstallOutcome::AlreadyInstalled(_) => None,
        })
        .collect();
    Ok(Installed {
        outcome,
        dependencies,
    })
}

struct Resolver<'a> {
    session: &'a Session,
    registry: &'a RegistryOptions,
    installed: Vec<IndexEntry>,
    /// The configured indexes, read when first needed.
    catalog: Option<Vec<CatalogEntry>>,
    /// Prepared dependencies, in the order found.
    planned: Vec<Prepared>,
    constraints: Vec<Constraint>,
    target: IndexEntry,
}

impl Resolver<'_> {
    /// Every plugin that will be in the store: installed ones (but the target's older
    /// versions), planned ones and the target.
    fn will_have(&self) -> Vec<IndexEntry> {
        self.installed
            .iter()
            .filter(|e| e.name != self.target.name)
            .cloned()
            .chain(self.planned.iter().map(|p| p.entry.clone()))
            .chain(std::iter::once(self.target.clone()))
            .collect()
    }

    /// The configured indexes' entries, read when first needed (none configured: none, and
    /// every "not installed" says how to add one).
    fn catalog(&mut self) -> Result<&[CatalogEntry], String> {
        if self.catalog.is_none() {
            let home = self.session.home();
            let configured = !catalog::list(home).map_err(|e| e.to_string())?.is_empty();
            let entries = if configured {
                let (entries, _unreadable) =
                    catalog::read_all(home, self.registry).map_err(|e| e.to_string())?;
                entries.into_iter().map(|(_, e)| e).collect()
            } else {
                Vec::new()
            };
            self.catalog = Some(entries);
        }
        Ok(self.catalog.as_deref().unwrap_or_default())
    }

    /// Resolves what `entry` requires, recursively.
    fn resolve(&mut self, entry: &IndexEntry) -> Result<(), String> {
        let by = format!("{}@{}", entry.name, entry.version);
        for r in &entry.requires.plugins {
            self.constraints.push(Constraint {
                name: r.name.clone(),
                range: r.version.clone(),
                by: by.clone(),
            });
            if let Some(have) = self.will_have().into_iter().find(|e| e.name == r.name) {
                if satisfies(&r.version, &have.version) {
                    continue;
                }
                let chosen_by = self
                    .constraints
                    .iter()
                    .filter(|c| c.name == r.name && c.by != by)
                    .map(|c| format!("{} requires {} {}", c.by, c.name, c.range))
                    .collect::<Vec<_>>();
                let have_why = if self
                    .installed
                    .iter()
                    .any(|e| e.name == have.name && e.version == have.version)
                {
                    let holding: Vec<String> = self
                        .installed
                        .iter()
                        .flat_map(|o| {
                            o.requires
                                .plugins
                                .iter()
                                .filter(|q| q.name == have.name)
                                .map(move |q| {
                                    format!(
                                        "{}@{} requires {} {}",
                                        o.name, o.version, q.name, q.version
                                    )
                                })
                        })
                        .collect();
                    if holding.is_empty() {
                        format!(
                            "{}@{} is installed (upgrade it first: `kure plugins upgrade {}`)",
                            have.name, have.version, have.name
                        )
                    } else {
                        format!(
                            "{}@{} is installed ({})",
                            have.name,
                            have.version,
                            holding.join("; ")
                        )
                    }
                } else if have.name == self.target.name {
                    format!(
                        "the plugin being installed is {}@{}",
                        have.name, have.version
                    )
                } else {
                    format!(
                        "{}@{} was chosen ({})",
                        have.name,
                        have.version,
                        chosen_by.join("; ")
                    )
                };
                return Err(format!(
                    "{by} requires plugin {} {}, and {have_why}; these conflict. Install a version of {} that both accept, or versions of the requiring plugins that agree",
                    r.name, r.version, r.name
                ));
            }
            let ranges: Vec<Constraint> = self
                .constraints
                .iter()
                .filter(|c| c.name == r.name)
                .cloned()
                .collect();
            let found = self.best_by_name(&r.name, &ranges)?;
            self.fetch(found, &by, &Expect::Ranges(ranges))?;
        }
        for g in &entry.requires.gvks {
            let Ok(gvk) = Gvk::parse(&g.api_version, &g.kind) else {
                return Err(format!("{by} requires a GVK that is not one"));
            };
            if provided(&self.will_have(), &gvk) {
                continue;
            }
            let wanted = format!("{}/{}", gvk.api_version(), gvk.kind);
            let found = self.best_by_gvk(&wanted, &by)?;
            self.fetch(found, &by, &Expect::Provides(gvk))?;
        }
        Ok(())
    }

    /// Downloads and prepares `reference`, checks it is what the index said it is, then
    /// resolves what it requires.
    fn fetch(
        &mut self,
        (name, reference): (String, String),
        by: &str,
        expect: &Expect,
    ) -> Result<(), String> {
        if self.planned.len() >= MAX_DEPENDENCIES {
            return Err(format!(
                "resolving its requirements needs more than {MAX_DEPENDENCIES} plugins; install some of them first"
            ));
        }
        let prepared = prepare_pulled(self.session, &reference, None, self.registry, None)
            .map_err(|e| {
                format!("{by} requires {name}, and installing it from {reference} failed: {e}")
            })?;
        let got = &prepared.entry;
        let fits = got.name == name
            && match expect {
                Expect::Ranges(ranges) => ranges.iter().all(|c| satisfies(&c.range, &got.version)),
                Expect::Provides(gvk) => got.parsed_gvks().contains(gvk),
            };
        if !fits {
            return Err(format!(
                "{by} requires {name}, and an index points at {reference} for it, but that artifact is plugin {}@{} providing {}, which does not fit; the index is wrong (nothing was installed)",
                got.name,
                got.version,
                got.gvks
                    .iter()
                    .map(|g| format!("{}/{}", g.api_version, g.kind))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let entry = prepared.entry.clone();
        self.planned.push(prepared);
        self.resolve(&entry)
    }

    /// The highest released version of `name` an index lists that satisfies every range.
    fn best_by_name(
        &mut self,
        name: &str,
        ranges: &[Constraint],
    ) -> Result<(String, String), String> {
        let wanted: Vec<String> = ranges
            .iter()
            .map(|c| format!("{} requires {name} {}", c.by, c.range))
            .collect();
        let catalog = self.catalog()?;
        let listed: Vec<&CatalogEntry> = catalog.iter().filter(|e| e.name == name).collect();
        if listed.is_empty() {
            return Err(format!(
                "{}, which is not installed and no configured index lists; install it first (`kure plugins install`), or add an index that lists it (`kure plugins index add`)",
                wanted.join("; ")
            ));
        }
        let best = listed
            .iter()
            .flat_map(|e| e.versions.iter().map(move |v| (*e, v)))
            .filter(|(_, v)| ranges.iter().all(|c| satisfies(&c.range, v)))
            .filter_map(|(e, v)| semver::Version::parse(v).ok().map(|p| (p, e, v)))
            .max_by(|a, b| a.0.cmp(&b.0));
        match best {
            Some((_, e, v)) => Ok((name.to_owned(), e.reference(v))),
            None => Err(format!(
                "{}, and no version the indexes list ({}) satisfies that",
                wanted.join("; "),
                listed
                    .iter()
                    .flat_map(|e| e.versions.iter().cloned())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }

    /// The highest released version of a plugin an index lists as providing `gvk`.
    fn best_by_gvk(&mut self, gvk: &str, by: &str) -> Result<(String, String), String> {
        // A plugin that will be in the store does not provide it (else it would be met):
        // another version of it is not fetched behind its back.
        let taken: Vec<String> = self.will_have().into_iter().map(|e| e.name).collect();
        let catalog = self.catalog()?;
        catalog
            .iter()
            .filter(|e| e.gvks.iter().any(|g| g == gvk) && !taken.contains(&e.name))
            .flat_map(|e| e.versions.iter().map(move |v| (e, v)))
            .filter_map(|(e, v)| semver::Version::parse(v).ok().map(|p| (p, e, v)))
            .filter(|(p, _, _)| p.pre.is_empty())
            .max_by(|a, b| a.0.cmp(&b.0))
            .map(|(_, e, v)| (e.name.clone(), e.reference(v)))
            .ok_or_else(|| {
                format!(
                    "{by} requires a generator of {gvk}, which neither kure nor an installed plugin provides, and no configured index lists a plugin that does; install one first, or add an index that lists one (`kure plugins index add`)"
                )
            })
    }
}
