//! `kure plugins sync`: make this machine's store hold exactly the plugins a lock pins,
//! installing the missing ones from the registry references the lock records (by this
//! platform's digest when it has one), each checked against its pin before it is committed.
//! Offline, a store that already holds everything needs no registry.

use std::collections::BTreeMap;

use crate::model::error::Error;
use crate::ops::prepare::{commit_all, prepare_pulled, Prepared};
use crate::ops::session::{read_lock, LockChoice, Session};
use crate::store::lockfile::Pin;
use crate::store::registry::{OciRef, Platform, RegistryOptions};

/// What `sync` did.
#[derive(Debug, Clone, Default)]
pub struct Synced {
    /// `name@version` already installed with the pinned bytes and signer.
    pub present: Vec<String>,
    /// `name@version` installed now, with where from.
    pub installed: Vec<(String, String)>,
}

/// One plugin the lock pins (several GVKs may pin the same one).
fn plugins(pins: &BTreeMap<String, Pin>) -> Vec<(&String, &Pin)> {
    let mut seen: Vec<(&String, &Pin)> = Vec::new();
    for (gvk, pin) in pins {
        if !seen
            .iter()
            .any(|(_, p)| p.plugin == pin.plugin && p.sha256 == pin.sha256)
        {
            seen.push((gvk, pin));
        }
    }
    seen
}

/// Installs what the lock pins and this store lacks, in parallel; refuses drift (an installed
/// plugin of a pinned name with other bytes or another signer) naming the pin.
pub fn sync(
    session: &Session,
    lock: &LockChoice,
    registry: &RegistryOptions,
) -> Result<Synced, Error> {
    let required = LockChoice {
        file: lock.file.clone(),
        required: true,
    };
    let lock = read_lock(&required)?.ok_or_else(|| Error::Lock {
        path: crate::store::lockfile::LOCK_FILE.into(),
        reason: "no lock to sync from".to_owned(),
    })?;
    let index = session.store().read_index()?;
    let platform = Platform::current().to_string();
    let mut synced = Synced::default();
    let mut missing: Vec<(&String, &Pin, String)> = Vec::new();
    let mut problems = Vec::new();
    for (gvk, pin) in plugins(&lock.pins) {
        let label = format!("{}@{}", pin.plugin, pin.version);
        for r in &pin.requires {
            if !lock
                .pins
                .values()
                .any(|p| format!("{}@{}", p.plugin, p.version) == *r)
            {
                problems.push(format!(
                    "{gvk}: {label} requires {r}, which the lock does not pin; run `kure lock` again"
                ));
            }
        }
        match index.plugins.iter().find(|e| e.name == pin.plugin) {
            Some(e) if e.sha256 == pin.sha256 && e.signer == pin.signer => {
                synced.present.push(label);
            }
            Some(e) => problems.push(format!(
                "{gvk}: installed {}@{} has sha256 {} signed by {}, but the lock pins {label} with sha256 {} signed by {}; remove it (`kure plugins uninstall {}`) or re-lock",
                e.name,
                e.version,
                &e.sha256[..12.min(e.sha256.len())],
                crate::trust::short_fp(&e.signer),
                &pin.sha256[..12],
                crate::trust::short_fp(&pin.signer),
                e.name
            )),
            None => match &pin.source {
                None => problems.push(format!(
                    "{gvk}: {label} is not installed and the lock records no registry for it; install it by hand (`kure plugins install`), or install it from a registry and run `kure lock` again"
                )),
                Some(source) if !pin.platforms.is_empty() && !pin.platforms.contains_key(&platform) => {
                    problems.push(format!(
                        "{gvk}: the lock records builds of {label} for {} but not for this platform ({platform}); push one (`kure plugins push --platform {platform}`) and run `kure lock` again, with {} reachable",
                        pin.platforms.keys().cloned().collect::<Vec<_>>().join(", "),
                        crate::util::shown(source)
                    ));
                }
                Some(source) => {
                    let fetch = match pin.platforms.get(&platform) {
                        Some(b) => OciRef::parse(source)?.at_digest(&b.digest),
                        None => source.clone(),
                    };
                    missing.push((gvk, pin, fetch));
                }
            },
        }
    }
    if !problems.is_empty() {
        return Err(Error::Lock {
            path: lock.path.clone(),
            reason: format!("{}; nothing was installed", problems.join("; ")),
        });
    }
    // Downloaded and checked in parallel, four at a time (a lock is input too, and each
    // library may be up to 1 GiB), then committed in one store transaction: all of them or
    // none, and what each requires is checked against the whole.
    let mut prepared = Vec::new();
    let mut failed = Vec::new();
    for r in prepare_all(session, registry, &missing) {
        match r {
            Ok(p) => prepared.push(p),
            Err(e) => failed.push(e),
        }
    }
    if !failed.is_empty() {
        return Err(Error::Lock {
            path: lock.path.clone(),
            reason: format!("{}; nothing was installed", failed.join("; ")),
        });
    }
    let batch: Vec<(&Prepared, bool)> = prepared.iter().map(|(p, _)| (p, false)).collect();
    commit_all(&session.store(), &batch).map_err(|e| Error::Lock {
        path: lock.path.clone(),
        reason: format!("{e}; nothing was installed"),
    })?;
    synced.installed = prepared
        .into_iter()
        .map(|(p, fetch)| (format!("{}@{}", p.entry.name, p.entry.version), fetch))
        .collect();
    Ok(synced)
}

/// One pin's outcome: prepared (with where it came from), or why not.
type Outcome = Result<(Prepared, String), String>;

/// At most this many plugins are downloaded and checked at once.
const PARALLEL: usize = 4;

/// Downloads and checks every one of `missing`, each against its pin, [`PARALLEL`] at a time
/// (each thread takes the next as soon as it is done: a slow download does not hold the
/// others back); nothing is committed. The results are in the order of `missing`.
fn prepare_all(
    session: &Session,
    registry: &RegistryOptions,
    missing: &[(&String, &Pin, String)],
) -> Vec<Outcome> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    // After a failure the rest would be thrown away (all or none): stop taking more.
    let failed = std::sync::atomic::AtomicBool::new(false);
    let done: std::sync::Mutex<Vec<(usize, Outcome)>> = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL.min(missing.len()) {
            scope.spawn(|| loop {
                if failed.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some((gvk, pin, fetch)) = missing.get(i) else {
                    break;
                };
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    prepare_pulled(
                        session,
                        fetch,
                        pin.source.as_deref(),
                        registry,
                        Some((&pin.sha256, &pin.signer)),
                    )
                }))
                .unwrap_or_else(|_| Err(Error::Store("an install thread panicked".to_owned())))
                .map(|p| (p, fetch.clone()))
                .map_err(|e| format!("{gvk}: {e}"));
                if result.is_err() {
                    failed.store(true, std::sync::atomic::Ordering::SeqCst);
                }
                done.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push((i, result));
            });
        }
    });
    let mut done = done
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}
