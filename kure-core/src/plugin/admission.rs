//! Admission: a library read once into a sealed memfd, hashed, and checked by the trust
//! policy (recorded hash, signature) before any byte of it runs.

use std::path::{Path, PathBuf};

use super::{LoadError, Sealed, Staging};
use crate::trust::{Admission, TrustPolicy};

use super::load::*;

/// A library read once, hashed and admitted by the trust policy, not yet loaded: no byte of
/// it has run. What a caller still has to check (the lock's pins) it checks here, then
/// [`Admitted::load`] runs exactly these bytes.
pub struct Admitted {
    /// The library file.
    pub path: PathBuf,
    pub(super) library: Sealed,
    pub(super) digest: [u8; 32],
    /// How the bytes were admitted (signer or unsigned).
    pub admission: Admission,
    /// SHA-256 of the bytes, hex.
    pub sha256: String,
}

impl Admitted {
    /// Loads exactly the admitted bytes.
    pub fn load(self) -> Result<LoadedPlugin, LoadError> {
        load_admitted(&self.path, self.library, &self.digest, self.admission)
    }

    /// The admitted library.
    pub fn library(&self) -> &Sealed {
        &self.library
    }
}

/// Reads a library once into sealed memory and hashes it; nothing is checked or run.
pub fn read_library(path: &Path) -> Result<(Sealed, [u8; 32]), LoadError> {
    let staging = Staging::new().map_err(|source| LoadError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    read_staged(staging, path)
}

/// [`read_library`] into a staging memfd made earlier (a worker may already hold it).
pub fn read_staged(staging: Staging, path: &Path) -> Result<(Sealed, [u8; 32]), LoadError> {
    let library = staging.read(path).map_err(|source| LoadError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let digest = crate::trust::digest(library.bytes());
    Ok((library, digest))
}

/// Admits bytes read by [`read_library`]: `recorded` (label = name@version, sha256) is an
/// installed plugin's hash from the index, checked before the signature.
pub fn admit(
    path: &Path,
    (library, digest): (Sealed, [u8; 32]),
    policy: &TrustPolicy,
    recorded: Option<(&str, &str)>,
) -> Result<Admitted, LoadError> {
    let sha256 = crate::trust::digest_hex(&digest);
    if let Some((label, sha)) = recorded {
        if sha256 != sha {
            return Err(LoadError::Modified {
                plugin: label.to_owned(),
                path: path.to_path_buf(),
                found: sha256,
                recorded: sha.to_owned(),
            });
        }
    }
    let admission = policy.admit_digest(path, &digest)?;
    Ok(Admitted {
        path: path.to_path_buf(),
        library,
        digest,
        admission,
        sha256,
    })
}

/// Reads `path` once, admits those bytes under `policy`, loads exactly them, checks the ABI
/// and collects what the plugin registers.
pub fn load_plugin(path: &Path, policy: &TrustPolicy) -> Result<LoadedPlugin, LoadError> {
    load_plugin_observed(path, policy, |_| {})
}

/// [`load_plugin`] with `after_verify` called between verification and loading, so a test
/// can change the file on disk there and show that the verified bytes are what runs.
pub fn load_plugin_observed(
    path: &Path,
    policy: &TrustPolicy,
    after_verify: impl FnOnce(&Path),
) -> Result<LoadedPlugin, LoadError> {
    let admitted = admit(path, read_library(path)?, policy, None)?;
    after_verify(path);
    admitted.load()
}
