//! `kure lock`: every check `kure validate` makes, then the pins of the plugins the inputs
//! use, merged into the lock file.

use std::path::PathBuf;

use crate::input::InputOptions;
use crate::model::error::Error;
use crate::ops::session::{Ran, Session};
use crate::pipeline::PipelineOptions;
use crate::store::lockfile;

/// What `kure lock` reads and writes.
#[derive(Debug, Clone)]
pub struct LockOptions {
    /// Spec files and directories.
    pub inputs: Vec<PathBuf>,
    /// How they are read.
    pub input: InputOptions,
    /// The lock file written.
    pub file: PathBuf,
    /// Drop the pins of GVKs the inputs do not use (otherwise they are kept).
    pub prune: bool,
    /// How to ask registries for every platform's build of a plugin installed from one.
    pub registry: crate::store::registry::RegistryOptions,
}

/// What `kure lock` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locked {
    /// Plugin GVKs pinned from the inputs.
    pub used: usize,
    /// Pins kept from the earlier lock (none with `prune`).
    pub kept: usize,
    /// What the user should know (a registry that could not be asked).
    pub warnings: Vec<String>,
}

/// Checks every document as `validate` does (each plugin resolved and loaded under the
/// isolation policy), then writes the pins of the plugin GVKs the inputs use.
pub fn lock(session: &Session, opts: &LockOptions) -> Ran<Locked> {
    let mut engine = match session.engine() {
        Ok(e) => e,
        Err(e) => return Ran::early(e),
    };
    let pipeline = PipelineOptions {
        input: opts.input.clone(),
        ..Default::default()
    };
    let checked = crate::pipeline::validate(&mut engine, &opts.inputs, &pipeline);
    let mut warnings = Vec::new();
    let result = checked.and_then(|summary| -> Result<Locked, Error> {
        let mut fresh = engine.pins(&summary.gvks);
        with_requirements(session, &mut fresh)?;
        let mut pins = if opts.prune || !opts.file.exists() {
            Default::default()
        } else {
            lockfile::read(&opts.file)?
        };
        with_sources(session, &mut fresh, &pins, &opts.registry, &mut warnings);
        let kept = pins.keys().filter(|g| !fresh.contains_key(*g)).count();
        let used = fresh.len();
        pins.extend(fresh);
        lockfile::write(&opts.file, &pins)?;
        Ok(Locked {
            used,
            kept,
            warnings: std::mem::take(&mut warnings),
        })
    });
    Ran::new(&engine, result)
}

/// What [`relock`] changed in a lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relocked {
    /// The lock file.
    pub path: PathBuf,
    /// GVKs pinned again (the upgraded plugins' and what they require now).
    pub pinned: usize,
    /// GVKs the lock pinned to an upgraded plugin that its new version no longer provides:
    /// their pins were removed (`kure lock -f SPECS` says whether the specs still use them).
    pub dropped: Vec<String>,
    /// What the user should know (a registry that could not be asked).
    pub warnings: Vec<String>,
}

/// After `kure plugins upgrade`: pins, in `lock`, every GVK it pinned to one of the plugins
/// `names` to the version installed now, with what that version requires and where it came
/// from (every platform's build, when the registry answers). Other pins stay as they are.
pub fn relock(
    session: &Session,
    lock: &lockfile::Lock,
    names: &[String],
    registry: &crate::store::registry::RegistryOptions,
) -> Result<Relocked, Error> {
    let index = session.store().read_index()?;
    let mut pins = lock.pins.clone();
    let mut fresh = std::collections::BTreeMap::new();
    let mut dropped = Vec::new();
    for (gvk, pin) in &lock.pins {
        if !names.contains(&pin.plugin) {
            continue;
        }
        pins.remove(gvk);
        let now = index
            .plugins
            .iter()
            .find(|e| e.name == pin.plugin)
            .filter(|e| {
                e.gvks
                    .iter()
                    .any(|g| format!("{}/{}", g.api_version, g.kind) == *gvk)
            });
        match now {
            Some(e) => {
                fresh.insert(gvk.clone(), entry_pin(e, pin.isolation));
            }
            None => dropped.push(gvk.clone()),
        }
    }
    with_requirements(session, &mut fresh)?;
    // A GVK the lock pins already to a plugin that was not upgraded keeps its pin: what the
    // new versions require is added, never swapped for another provider.
    fresh.retain(|gvk, pin| names.contains(&pin.plugin) || !pins.contains_key(gvk));
    let mut warnings = Vec::new();
    with_sources(session, &mut fresh, &lock.pins, registry, &mut warnings);
    // The pins that stay and named an upgraded plugin's old version as what they require
    // name its new one.
    let now: Vec<(String, String)> = fresh
        .values()
        .map(|p| (p.plugin.clone(), format!("{}@{}", p.plugin, p.version)))
        .collect();
    for pin in pins.values_mut() {
        for edge in &mut pin.requires {
            let name = edge.split_once('@').map_or(edge.as_str(), |(n, _)| n);
            if let Some((_, new)) = now.iter().find(|(n, _)| n == name) {
                edge.clone_from(new);
            }
        }
    }
    let pinned = fresh.len();
    if pinned == 0 && dropped.is_empty() {
        return Ok(Relocked {
            path: lock.path.clone(),
            pinned,
            dropped,
            warnings,
        });
    }
    pins.extend(fresh);
    lockfile::write(&lock.path, &pins)?;
    Ok(Relocked {
        path: lock.path.clone(),
        pinned,
        dropped,
        warnings,
    })
}

/// The pin of an installed plugin (its source and requirements are added after).
fn entry_pin(
    e: &crate::store::IndexEntry,
    isolation: Option<crate::plugin::isolation::Isolation>,
) -> lockfile::Pin {
    lockfile::Pin {
        plugin: e.name.clone(),
        version: e.version.clone(),
        sha256: e.sha256.clone(),
        signer: e.signer.clone(),
        isolation,
        source: None,
        platforms: Default::default(),
        requires: Vec::new(),
    }
}

/// Adds what the pinned plugins require, as the store resolved it: each required plugin's
/// GVKs are pinned too, and the requiring pin lists it (`requires: [name@version]`), so that
/// `sync` installs it first. A requirement the store does not meet is refused.
fn with_requirements(
    session: &Session,
    fresh: &mut std::collections::BTreeMap<String, lockfile::Pin>,
) -> Result<(), Error> {
    use crate::store::requires::{is_builtin, satisfies};
    let index = session.store().read_index()?;
    let mut todo: Vec<(String, String)> = fresh
        .values()
        .map(|p| (p.plugin.clone(), p.sha256.clone()))
        .collect();
    let mut done: Vec<(String, String)> = Vec::new();
    while let Some(next) = todo.pop() {
        if done.contains(&next) {
            continue;
        }
        done.push(next.clone());
        // Plugins loaded from a directory (not the store) have no recorded requirements.
        let Some(entry) = index
            .plugins
            .iter()
            .find(|e| e.name == next.0 && e.sha256 == next.1)
        else {
            continue;
        };
        let mut deps: Vec<&crate::store::IndexEntry> = Vec::new();
        for r in &entry.requires.plugins {
            match index.plugins.iter().find(|e| e.name == r.name) {
                Some(d) if satisfies(&r.version, &d.version) => deps.push(d),
                found => {
                    return Err(Error::Store(format!(
                        "plugin {}@{} requires plugin {} {}, and {}; install it (`kure plugins install`) or fix the store, then lock again",
                        entry.name,
                        entry.version,
                        r.name,
                        r.version,
                        found.map_or("it is not installed".to_owned(), |d| format!(
                            "{}@{} is installed",
                            d.name, d.version
                        ))
                    )))
                }
            }
        }
        for g in &entry.requires.gvks {
            let Ok(gvk) = crate::model::gvk::Gvk::parse(&g.api_version, &g.kind) else {
                continue;
            };
            if let Some(d) = index
                .plugins
                .iter()
                .find(|e| e.parsed_gvks().contains(&gvk))
            {
                deps.push(d);
            } else if !is_builtin(&gvk) {
                return Err(Error::Store(format!(
                    "plugin {}@{} requires a generator of {gvk}, which neither kure nor an installed plugin provides; install one, then lock again",
                    entry.name, entry.version
                )));
            }
        }
        if let Some(d) = deps.iter().find(|d| d.gvks.is_empty()) {
            return Err(Error::Store(format!(
                "plugin {}@{} requires plugin {}, which provides no GVK, so a lock (GVK -> plugin) cannot pin it",
                entry.name, entry.version, d.name
            )));
        }
        let mut edges: Vec<String> = deps
            .iter()
            .map(|d| format!("{}@{}", d.name, d.version))
            .collect();
        edges.sort();
        edges.dedup();
        for pin in fresh
            .values_mut()
            .filter(|p| p.plugin == entry.name && p.sha256 == entry.sha256)
        {
            pin.requires.clone_from(&edges);
        }
        for d in deps {
            for g in &d.gvks {
                fresh
                    .entry(format!("{}/{}", g.api_version, g.kind))
                    .or_insert_with(|| entry_pin(d, None));
            }
            todo.push((d.name.clone(), d.sha256.clone()));
        }
    }
    Ok(())
}

/// Adds to each of `fresh` the registry reference its installed plugin came from and every
/// platform's build the registry holds under it (manifest digest, library sha256). Without the
/// registry (offline, or it refuses), this platform's build from the store is recorded, with
/// the other platforms an `old` pin of the same plugin, version and source listed, and a
/// warning says so.
fn with_sources(
    session: &Session,
    fresh: &mut std::collections::BTreeMap<String, lockfile::Pin>,
    old: &std::collections::BTreeMap<String, lockfile::Pin>,
    registry: &crate::store::registry::RegistryOptions,
    warnings: &mut Vec<String>,
) {
    use crate::store::registry::{builds, OciRef, Platform};
    let Ok(index) = session.store().read_index() else {
        return;
    };
    let here = Platform::current().to_string();
    let mut asked: std::collections::BTreeMap<String, Result<_, String>> = Default::default();
    for (gvk, pin) in fresh.iter_mut() {
        let Some(entry) = index
            .plugins
            .iter()
            .find(|e| e.name == pin.plugin && e.sha256 == pin.sha256)
        else {
            continue;
        };
        let (Some(source), Some(digest)) = (&entry.source, &entry.digest) else {
            continue;
        };
        pin.source = Some(source.clone());
        let found = asked
            .entry(source.clone())
            .or_insert_with(|| {
                OciRef::parse(source)
                    .and_then(|r| builds(&r, registry))
                    .map_err(|e| e.to_string())
            })
            .clone();
        match found {
            Ok(all) if all.get(&here).is_some_and(|b| b.sha256 == pin.sha256) => {
                pin.platforms = all
                    .into_iter()
                    .map(|(p, b)| {
                        let build = lockfile::PlatformBuild {
                            digest: b.digest,
                            sha256: b.sha256,
                        };
                        (p, build)
                    })
                    .collect();
            }
            other => {
                let why = match other {
                    Ok(_) => format!(
                        "{source} no longer holds the {here} build installed here (its tag moved)"
                    ),
                    Err(e) => e,
                };
                warnings.push(format!(
                    "{gvk}: recorded this platform's build only ({why}); run `kure lock` again with the registry reachable to record every platform"
                ));
                if let Some(before) = old.get(gvk).filter(|b| {
                    b.source.as_ref() == Some(source)
                        && b.plugin == pin.plugin
                        && b.version == pin.version
                }) {
                    pin.platforms = before.platforms.clone();
                }
                pin.platforms.insert(
                    here.clone(),
                    lockfile::PlatformBuild {
                        digest: digest.clone(),
                        sha256: pin.sha256.clone(),
                    },
                );
            }
        }
    }
}
