//! `kure plugins install`: verify a library, run it in a sandboxed worker to read what it
//! provides, check its documented examples there, then commit it to the store (a transaction
//! of the store's own, [`Store::commit_install`]). No plugin code runs in kure.

use std::path::Path;

use crate::generate::engine::Engine;
use crate::model::error::Error;
use crate::plugin::process::{WorkerOptions, WorkerPlugin};
use crate::plugin::PluginHandle;
use crate::store::{
    content_dir, entry_from_worker, store_err, valid_version, InstallOutcome, Staged, Store,
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

/// Verifies the library (signature at `sig` or `<library>.sig`), runs the verified bytes in a
/// sandboxed worker to read its metadata, GVKs, schemas and documentation and to check every
/// documented example, then commits it to `store`.
pub fn install(store: &Store, opts: &InstallOptions<'_>) -> Result<InstallOutcome, Error> {
    let InstallOptions {
        library,
        sig,
        policy,
        replace,
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
    let (mut entry, metadata) = match entry_from_worker(&plugin, rel.clone()) {
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
    store.commit_install(
        Staged {
            library,
            file_name,
            bytes,
            sig_bytes,
            entry,
            metadata,
        },
        replace,
    )
}

/// `kure plugins install oci://...`: downloads this machine's build of the artifact into a
/// staging directory under the store (each blob checked against its digest), then installs
/// the staged library exactly as [`install`] installs a file, recording the reference and the
/// manifest digest. The staging directory is removed whatever happens.
pub fn install_from_registry(
    session: &crate::ops::Session,
    reference: &str,
    replace: bool,
    registry: &crate::store::registry::RegistryOptions,
) -> Result<InstallOutcome, Error> {
    install_pinned(session, reference, None, replace, registry, None)
}

/// [`install_from_registry`], refusing a library whose sha256 and signer are not `expect`, and
/// recording `record_as` (a lock's source) as where it came from instead of `reference`.
pub(crate) fn install_pinned(
    session: &crate::ops::Session,
    reference: &str,
    record_as: Option<&str>,
    replace: bool,
    registry: &crate::store::registry::RegistryOptions,
    expect: Option<(&str, &str)>,
) -> Result<InstallOutcome, Error> {
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
    install(
        &store,
        &InstallOptions {
            library: &pulled.library,
            sig: Some(&pulled.signature),
            policy: &session.trust()?,
            replace,
            worker: &session.worker()?,
            origin: Some((record_as.unwrap_or(&pulled.source), &pulled.manifest_digest)),
            expect,
        },
    )
    .map_err(|e| {
        // The staged file is kure's own temporary copy: name what the user asked for.
        let staged = pulled.library.display().to_string();
        let text = e.to_string();
        if text.contains(&staged) {
            Error::Registry(
                text.replace(&staged, &format!("{reference} ({})", Platform::current())),
            )
        } else {
            Error::Registry(format!("{text} (from {reference})"))
        }
    })
}
