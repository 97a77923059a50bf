//! `kure plugins push LIB oci://REGISTRY/REPO:TAG`: publish a signed library as an OCI
//! artifact (see [`crate::store::registry`]). The library must pass the trust policy (its
//! signature by a trusted key, or unsigned plugins allowed) and is inspected in a sandboxed
//! worker for the config: no plugin code runs in kure.

use std::path::Path;

use crate::model::error::Error;
use crate::ops::session::Session;
use crate::plugin::process::WorkerPlugin;
use crate::store::registry::{
    push_layers, OciRef, Platform, PluginConfig, Pushed, RegistryOptions, LIBRARY_MEDIA_TYPE,
    SIGNATURE_MEDIA_TYPE,
};
use crate::trust::{read_signature, signature_path};

/// What to push, and where.
#[derive(Debug)]
pub struct PushOptions<'a> {
    /// The library.
    pub library: &'a Path,
    /// Its signature (default: `<library>.sig`).
    pub sig: Option<&'a Path>,
    /// `oci://REGISTRY/REPO:TAG`.
    pub reference: &'a str,
    /// The platform the library is built for (default: this machine's).
    pub platform: Option<&'a str>,
    /// How to talk to the registry.
    pub registry: &'a RegistryOptions,
}

/// Pushes the library and its signature; what was pushed, and the config it carries.
pub fn push(session: &Session, opts: &PushOptions<'_>) -> Result<(Pushed, PluginConfig), Error> {
    let reference = OciRef::parse(opts.reference)?;
    let platform = match opts.platform {
        Some(p) => Platform::parse(p)?,
        None => Platform::current(),
    };
    let library = opts.library;
    let sealed = crate::plugin::Sealed::read(library).map_err(|e| Error::io(library, e))?;
    let sig_path = opts
        .sig
        .map_or_else(|| signature_path(library), Path::to_path_buf);
    let sig = read_signature(&sig_path)
        .map_err(|e| Error::io(&sig_path, e))?
        .ok_or_else(|| {
            Error::Registry(format!(
                "{}: no signature at {}; sign it first (`kure plugins sign {} --key KEY.pem`): a registry artifact always carries one",
                library.display(),
                sig_path.display(),
                library.display()
            ))
        })?;
    let digest = crate::trust::digest(sealed.bytes());
    let admission = session
        .trust()?
        .check(library, &digest, Some(&sig), &sig_path)?;
    let plugin = std::sync::Arc::new(WorkerPlugin::spawn(
        library,
        &sealed,
        &crate::trust::digest_hex(&digest),
        admission,
        &session.worker()?,
    )?);
    let config = PluginConfig {
        name: plugin.name.clone(),
        version: plugin.version.clone(),
        gvks: plugin
            .generators()
            .iter()
            .map(|g| format!("{}/{}", g.api_version(), g.kind()))
            .collect(),
        abi_version: plugin.abi_info.abi_version,
        api_version: plugin.abi_info.api_crate_version.clone(),
        author: plugin.author.clone(),
        description: plugin.description.clone(),
        requires: plugin.abi_info.requires.clone(),
    };
    let _ = plugin.shutdown();
    let pushed = push_layers(
        &reference,
        &platform,
        &config,
        vec![
            (LIBRARY_MEDIA_TYPE, sealed.bytes().to_vec()),
            (SIGNATURE_MEDIA_TYPE, sig),
        ],
        opts.registry,
    )?;
    Ok((pushed, config))
}
