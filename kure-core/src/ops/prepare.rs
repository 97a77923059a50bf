//! The steps of an install: [`prepare`] verifies a library, runs it in a sandboxed worker to
//! read what it provides and checks its documented examples there ([`prepare_pulled`] first
//! downloads it from a registry); [`commit_all`] commits prepared plugins to the store in one
//! transaction of the store's own ([`Store::commit_installs`]). No plugin code runs in kure.
//! `kure plugins install` ([`crate::ops::install`]) and `sync` are made of these.

use std::path::{Path, PathBuf};

use crate::generate::engine::Engine;
use crate::model::error::Error;
use crate::plugin::process::{WorkerOptions, WorkerPlugin};
use crate::plugin::PluginHandle;
use crate::store::registry::RegistryOptions;
use crate::store::{
    content_dir, entry_from_worker, store_err, valid_version, IndexEntry, InstallOutcome, Metadata,
    Staged, Store,
};
use crate::trust::{read_signature, signature_path, TrustPolicy};

/// What to install, and how.
#[derive(Debug)]
pub struct InstallOptions<'a> {
    /// The library.
    pub library: &'a Path,
    /// Its signature (default: `<library>.sig`).
    pub sig: Option<&'a Path>,
    /// Which signers are trusted.
    pub policy: &'a TrustPolicy,
    /// Replace an installed plugin that provides the same GVKs, or the same version with
    /// other bytes.
    pub replace: bool,
    /// The limits of the worker that inspects it.
    pub worker: &'a WorkerOptions,
    /// Where it came from: (registry reference, manifest digest), recorded in the index.
    pub origin: Option<(&'a str, &'a str)>,
    /// The library's sha256 and signer a lock pins (`kure plugins sync`): other bytes or
    /// another signer are refused before any of it runs.
    pub expect: Option<(&'a str, &'a str)>,
}

/// A library verified, inspected and with its examples checked, not yet committed to the
/// store ([`prepare`], [`commit`]).
#[derive(Debug)]
pub struct Prepared {
    sealed: crate::plugin::Sealed,
    library: PathBuf,
    file_name: String,
    sig_bytes: Option<Vec<u8>>,
    /// The index entry it will have.
    pub entry: IndexEntry,
    metadata: Metadata,
    /// Where a registry download was staged (removed when this is dropped).
    staging: Option<tempfile::TempDir>,
    /// What errors call it when it was downloaded: `oci://... (platform)`.
    shown: Option<String>,
}

/// What installing a plugin did, with what it required.
#[derive(Debug, Clone, PartialEq)]
pub struct Installed {
    /// The plugin asked for.
    pub outcome: InstallOutcome,
    /// Plugins installed first because it requires them, in the order installed.
    pub dependencies: Vec<IndexEntry>,
}

/// Verifies the library (signature at `sig` or `<library>.sig`), runs the verified bytes in a
/// sandboxed worker to read its metadata, GVKs, schemas and documentation and to check every
/// documented example, then commits it to `store`. Its `requires` must already be installed
/// (`kure plugins install`, [`crate::ops::install`], installs them first).
pub fn install(store: &Store, opts: &InstallOptions<'_>) -> Result<InstallOutcome, Error> {
    commit(store, &prepare(opts)?, opts.replace)
}

/// Commits a [`prepare`]d plugin to `store` (which refuses it when what it requires is not
/// installed, or when it would break what an installed plugin requires).
pub fn commit(store: &Store, p: &Prepared, replace: bool) -> Result<InstallOutcome, Error> {
    commit_all(store, &[(p, replace)])?
        .pop()
        .ok_or_else(|| store_err("nothing was given to install".to_owned()))
}

/// Commits [`prepare`]d plugins to `store` as one transaction (`replace` per plugin): all of
/// them, or none.
pub fn commit_all(
    store: &Store,
    batch: &[(&Prepared, bool)],
) -> Result<Vec<InstallOutcome>, Error> {
    let staged = batch
        .iter()
        .map(|(p, replace)| {
            (
                Staged {
                    library: &p.library,
                    file_name: p.file_name.clone(),
                    bytes: p.sealed.bytes(),
                    sig_bytes: p.sig_bytes.clone(),
                    entry: p.entry.clone(),
                    metadata: p.metadata.clone(),
                },
                *replace,
            )
        })
        .collect();
    store.commit_installs(staged).map_err(|e| {
        // A downloaded library is kure's own temporary copy: name what the user asked for.
        batch
            .iter()
            .filter_map(|(p, _)| p.shown.as_ref().map(|shown| (p, shown)))
            .fold(e, |e, (p, shown)| {
                if e.to_string().contains(&p.library.display().to_string()) {
                    staged_error(e, &p.library, shown)
                } else {
                    e
                }
            })
    })
}

/// Everything [`install`] does but the commit.
pub fn prepare(opts: &InstallOptions<'_>) -> Result<Prepared, Error> {
    let InstallOptions {
        library,
        sig,
        policy,
        replace: _,
        worker,
        origin,
        expect,
    } = *opts;
    let sealed = crate::plugin::Sealed::read(library).map_err(|e| Error::io(library, e))?;
    let bytes = sealed.bytes();
    let sig_path = sig.map_or_else(|| signature_path(library), Path::to_path_buf);
    let sig_bytes = read_signature(&sig_path).map_err(|e| Error::io(&sig_path, e))?;
    let digest = crate::trust::digest(bytes);
    let admission = policy.check(library, &digest, sig_bytes.as_deref(), &sig_path)?;
    if let Some((sha256, signer)) = expect {
        let found = crate::trust::digest_hex(&digest);
        if found != sha256 || admission.signer() != signer {
            return Err(Error::Store(format!(
                "{} has sha256 {} signed by {}, but the lock pins sha256 {} signed by {}; nothing was installed",
                library.display(),
                &found[..12],
                crate::trust::short_fp(admission.signer()),
                crate::util::shown(&sha256[..12.min(sha256.len())]),
                crate::trust::short_fp(signer)
            )));
        }
    }
    let plugin = std::sync::Arc::new(WorkerPlugin::spawn(
        library,
        &sealed,
        &crate::trust::digest_hex(&digest),
        admission,
        worker,
    )?);
    if !valid_version(&plugin.version) {
        return Err(store_err(format!(
            "plugin {} ({}) declares version `{}`, which is not usable as a directory name (letters, digits, `.`, `-`, `+`, `_`)",
            plugin.name,
            library.display(),
            plugin.version
        )));
    }
    let file_name = library
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .ok_or_else(|| store_err(format!("{} has no file name", library.display())))?;
    if file_name.starts_with('.') {
        return Err(store_err(format!(
            "{} is a hidden file; rename the library (e.g. libNAME.so) and its signature",
            library.display()
        )));
    }
    let rel = Path::new(&plugin.name)
        .join(&plugin.version)
        .join(content_dir(&plugin.sha256))
        .join(&file_name);
    // What the worker reports came from plugin code: its `requires` is checked here again.
    let found = entry_from_worker(&plugin, rel.clone()).and_then(|(entry, metadata)| {
        crate::plugin::requires::check_host(&entry.requires).map_err(|why| {
            store_err(format!(
                "plugin {}@{} ({}) {why}; nothing was installed",
                entry.name,
                entry.version,
                library.display()
            ))
        })?;
        Ok((entry, metadata))
    });
    let (mut entry, metadata) = match found {
        Ok(found) => found,
        Err(e) => {
            let _ = plugin.shutdown();
            return Err(e);
        }
    };
    if let Some((source, digest)) = origin {
        entry.source = Some(source.to_owned());
        entry.digest = Some(digest.to_owned());
    }
    // Every documented example must validate and generate, in the sandboxed worker (which
    // the check then shuts down).
    Engine::check_examples(PluginHandle::Process(plugin.clone()))
    .map_err(|e| match e {
        Error::Invalid(_) => store_err(format!(
            "plugin {}@{} ({}) was not installed: its documented examples must validate and generate, and they do not:\n{e}\nFix the examples (`kure explain` shows them) or the generator, then build and sign it again",
            plugin.name,
            plugin.version,
            library.display()
        )),
        other => store_err(format!("{other}; nothing was installed")),
    })?;
    Ok(Prepared {
        sealed,
        library: library.to_path_buf(),
        file_name,
        sig_bytes,
        entry,
        metadata,
        staging: None,
        shown: None,
    })
}

/// Downloads this platform's build of `reference` into a staging directory of the store and
/// [`prepare`]s it; errors name the reference, not the staged file.
pub fn prepare_pulled(
    session: &crate::ops::Session,
    reference: &str,
    record_as: Option<&str>,
    registry: &RegistryOptions,
    expect: Option<(&str, &str)>,
) -> Result<Prepared, Error> {
    use crate::store::registry::{pull, OciRef, Platform};
    let reference = OciRef::parse(reference)?;
    let store = session.store();
    let dir = store.plugins_dir();
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let staging = tempfile::Builder::new()
        .prefix(&format!(".pull-{}-", std::process::id()))
        .tempdir_in(&dir)
        .map_err(|e| Error::io(&dir, e))?;
    let pulled = pull(
        &reference,
        &Platform::current(),
        staging.path(),
        registry,
        expect.map(|(sha256, _)| sha256),
    )?;
    let shown = format!("{reference} ({})", Platform::current());
    let mut prepared = prepare(&InstallOptions {
        library: &pulled.library,
        sig: Some(&pulled.signature),
        policy: &session.trust()?,
        replace: false,
        worker: &session.worker()?,
        origin: Some((record_as.unwrap_or(&pulled.source), &pulled.manifest_digest)),
        expect,
    })
    .map_err(|e| staged_error(e, &pulled.library, &shown))?;
    prepared.staging = Some(staging);
    prepared.shown = Some(shown);
    Ok(prepared)
}

/// `e` about the staged copy `staged`, told about `shown` (what the user asked for). A
/// refusal over requirements stays one (`upgrade` holds such a version back and goes on).
fn staged_error(e: Error, staged: &Path, shown: &str) -> Error {
    let staged = staged.display().to_string();
    let retold = |text: String| {
        if text.contains(&staged) {
            text.replace(&staged, shown)
        } else {
            format!("{text} (from {shown})")
        }
    };
    match e {
        Error::Requires(text) => Error::Requires(retold(text)),
        other => Error::Registry(retold(other.to_string())),
    }
}
