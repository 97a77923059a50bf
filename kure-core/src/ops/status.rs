//! `kure plugins status`: every check an installed plugin must pass, run one by one, so an
//! operator sees which one fails: recorded hash, trusted signature, the lock's pins, loading,
//! `initialize`, `health_check` and `shutdown` (with their times). The plugin runs in a
//! sandboxed worker process, so one that crashes fails its check and the others are still
//! checked.
//!
//! Checks stop at the first failure before loading: a library whose bytes or signer are not
//! what they should be is never run.

use std::time::Instant;

use serde::Serialize;

use crate::model::error::Error;
use crate::ops::session::{read_lock, LockChoice, Session};
use crate::plugin::process::{WorkerOptions, WorkerPlugin};
use crate::plugin::{admit, read_library};
use crate::store::lockfile::Lock;
use crate::store::{IndexEntry, Store};
use crate::trust::TrustPolicy;

/// One check of one plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// `hash`, `signature`, `lock`, `load`, `initialize`, `health_check` or `shutdown`.
    pub check: &'static str,
    /// Whether it passed.
    pub ok: bool,
    /// What was found (the signer, the reason of a failure, ...).
    pub detail: String,
    /// How long it took, for the calls into the plugin.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub micros: Option<u64>,
}

/// The status of one installed plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PluginStatus {
    /// Plugin name.
    pub name: String,
    /// Plugin version.
    pub version: String,
    /// Whether every check passed.
    pub ok: bool,
    /// The checks, in the order they ran.
    pub checks: Vec<Check>,
}

fn pass(check: &'static str, detail: impl Into<String>, micros: Option<u64>) -> Check {
    Check {
        check,
        ok: true,
        detail: detail.into(),
        micros,
    }
}

fn fail(check: &'static str, detail: impl Into<String>) -> Check {
    Check {
        check,
        ok: false,
        detail: crate::util::shown_message(&detail.into()),
        micros: None,
    }
}

fn micros(start: Instant) -> Option<u64> {
    Some(start.elapsed().as_micros() as u64)
}

/// Checks the installed plugins named in `names` (all when empty) of the session's store,
/// against the lock `lock` names. An unknown name is an error naming the installed ones.
pub fn status(
    session: &Session,
    names: &[String],
    lock: &LockChoice,
) -> Result<Vec<PluginStatus>, Error> {
    let policy = session.trust()?;
    let lock = read_lock(lock)?;
    let worker = session.worker()?;
    plugins_status(&session.store(), &policy, lock.as_ref(), names, &worker)
}

/// Checks the installed plugins named in `names` (all when empty). An unknown name is an
/// error naming the installed ones.
pub fn plugins_status(
    store: &Store,
    policy: &TrustPolicy,
    lock: Option<&Lock>,
    names: &[String],
    worker: &WorkerOptions,
) -> Result<Vec<PluginStatus>, Error> {
    let index = store.read_index()?;
    for n in names {
        if !index.plugins.iter().any(|e| &e.name == n) {
            let installed: Vec<&str> = index.plugins.iter().map(|e| e.name.as_str()).collect();
            return Err(Error::Store(format!(
                "no installed plugin named `{}` (installed: {})",
                crate::util::shown(n),
                if installed.is_empty() {
                    "none".to_owned()
                } else {
                    installed.join(", ")
                }
            )));
        }
    }
    Ok(index
        .plugins
        .iter()
        .filter(|e| names.is_empty() || names.contains(&e.name))
        .map(|e| one(store, policy, lock, e, worker))
        .collect())
}

fn one(
    store: &Store,
    policy: &TrustPolicy,
    lock: Option<&Lock>,
    e: &IndexEntry,
    worker: &WorkerOptions,
) -> PluginStatus {
    let mut checks = Vec::new();
    run_checks(store, policy, lock, e, worker, &mut checks);
    PluginStatus {
        name: e.name.clone(),
        version: e.version.clone(),
        ok: checks.iter().all(|c| c.ok),
        checks,
    }
}

fn run_checks(
    store: &Store,
    policy: &TrustPolicy,
    lock: Option<&Lock>,
    e: &IndexEntry,
    worker: &WorkerOptions,
    checks: &mut Vec<Check>,
) {
    let path = store.library_path(e);
    let (library, digest) = match read_library(&path) {
        Ok(r) => r,
        Err(err) => return checks.push(fail("hash", err.to_string())),
    };
    let sha256 = crate::trust::digest_hex(&digest);
    if sha256 != e.sha256 {
        return checks.push(fail(
            "hash",
            format!(
                "the library was modified after it was installed (sha256 {}, recorded {}); reinstall it",
                &sha256[..12],
                &e.sha256[..12.min(e.sha256.len())]
            ),
        ));
    }
    checks.push(pass("hash", format!("sha256 {}", &sha256[..12]), None));
    let admitted = match admit(&path, (library, digest), policy, None) {
        Ok(a) => a,
        Err(err) => return checks.push(fail("signature", err.to_string())),
    };
    checks.push(pass(
        "signature",
        admitted.admission.signer().to_owned(),
        None,
    ));
    if let Some(lock) = lock {
        let mut pinned = 0;
        for g in &e.gvks {
            let key = format!("{}/{}", g.api_version, g.kind);
            if !lock.pins.contains_key(&key) {
                continue;
            }
            pinned += 1;
            if let Err(err) = lock.check_before_load(
                &key,
                &path,
                &admitted.sha256,
                admitted.admission.signer(),
                Some((&e.name, &e.version)),
            ) {
                return checks.push(fail("lock", err.to_string()));
            }
        }
        checks.push(pass(
            "lock",
            if pinned == 0 {
                format!("{} pins none of its GVKs", lock.path.display())
            } else {
                format!("{pinned} GVK(s) match {}", lock.path.display())
            },
            None,
        ));
    }
    let start = Instant::now();
    let plugin = match WorkerPlugin::spawn(
        &path,
        admitted.library(),
        &admitted.sha256,
        admitted.admission.clone(),
        worker,
    ) {
        Ok(p) => p,
        Err(err) => return checks.push(fail("load", err.to_string())),
    };
    let sandbox = if plugin.sandbox_warnings.is_empty() {
        "in a sandboxed worker process (no writes, no reads once loaded, no network, no new processes, no capabilities)".to_owned()
    } else {
        format!(
            "in a worker process, sandbox incomplete: {}",
            plugin.sandbox_warnings.join("; ")
        )
    };
    checks.push(pass("load", sandbox, micros(start)));
    match plugin.initialize() {
        Ok(t) => checks.push(pass("initialize", "ok", Some(t.initialize_us))),
        Err(err) => return checks.push(fail("initialize", err.message)),
    }
    match plugin.health_check() {
        Ok(t) => checks.push(pass("health_check", "healthy", Some(t.health_check_us))),
        Err(err) => return checks.push(fail("health_check", err.message)),
    }
    let start = Instant::now();
    match plugin.shutdown() {
        Ok(()) => checks.push(pass("shutdown", "ok", micros(start))),
        Err(err) => checks.push(fail("shutdown", err.message)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_plugin_name_is_an_error_naming_the_installed_ones_escaped() {
        let home = tempfile::tempdir().expect("tmp");
        let store = Store::new(home.path().to_path_buf());
        let e = plugins_status(
            &store,
            &TrustPolicy::default(),
            None,
            &["no\x1b[31mpe".to_owned()],
            &WorkerOptions::default(),
        )
        .expect_err("unknown");
        let text = e.to_string();
        assert!(text.contains("no installed plugin named"), "{text}");
        assert!(text.contains("(installed: none)"), "{text}");
        assert!(
            !text.contains('\x1b'),
            "an escape reached the message: {text:?}"
        );
        // No names: every installed plugin, here none, and no error.
        let all = plugins_status(
            &store,
            &TrustPolicy::default(),
            None,
            &[],
            &WorkerOptions::default(),
        )
        .expect("empty store");
        assert!(all.is_empty());
    }
}
