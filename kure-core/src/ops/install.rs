//! `kure plugins install FILE|oci://...`: the plugin and what it requires (resolved by
//! [`crate::ops::resolve`]), prepared ([`crate::ops::prepare`]) and committed in one store
//! transaction: all of it, or nothing.

use std::path::Path;

use crate::model::error::Error;
pub use crate::ops::prepare::Installed;
use crate::ops::prepare::{prepare, prepare_pulled, InstallOptions};
use crate::store::registry::RegistryOptions;

/// `kure plugins install FILE`: [`crate::ops::prepare::install`], after installing what the plugin requires
/// (each from the highest version a configured index lists that satisfies every constraint,
/// with every check). Nothing is installed when any of it fails.
pub fn install_file(
    session: &crate::ops::Session,
    library: &Path,
    sig: Option<&Path>,
    replace: bool,
    registry: &RegistryOptions,
) -> Result<Installed, Error> {
    let prepared = prepare(&InstallOptions {
        library,
        sig,
        policy: &session.trust()?,
        replace,
        worker: &session.worker()?,
        origin: None,
        expect: None,
    })?;
    crate::ops::resolve::with_requirements(session, prepared, replace, registry)
}

/// `kure plugins install oci://...`: downloads this machine's build of the artifact into a
/// staging directory under the store (each blob checked against its digest), then installs
/// the staged library as [`install_file`] installs a file, recording the reference and the
/// manifest digest. The staging directory is removed whatever happens.
pub fn install_from_registry(
    session: &crate::ops::Session,
    reference: &str,
    replace: bool,
    registry: &RegistryOptions,
) -> Result<Installed, Error> {
    let prepared = prepare_pulled(session, reference, None, registry, None)?;
    crate::ops::resolve::with_requirements(session, prepared, replace, registry)
}
