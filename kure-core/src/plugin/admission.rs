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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trust::{signature_path, PrivateKey};

    /// Bytes that are not a plugin: admission never looks inside them, and never runs them.
    fn library(dir: &Path) -> PathBuf {
        let p = dir.join("libthing.so");
        std::fs::write(&p, b"\x7fELF not really a library").expect("write");
        p
    }

    fn key() -> &'static PrivateKey {
        static KEY: std::sync::OnceLock<PrivateKey> = std::sync::OnceLock::new();
        KEY.get_or_init(|| PrivateKey::generate(2048).expect("key"))
    }

    fn policy(allow_unsigned: bool, trusted: bool) -> TrustPolicy {
        TrustPolicy {
            allow_unsigned,
            signers: if trusted {
                vec![key().public_key().expect("public key")]
            } else {
                Vec::new()
            },
        }
    }

    #[test]
    fn signed_bytes_are_admitted_with_their_signer_and_hash() {
        let dir = tempfile::tempdir().expect("tmp");
        let lib = library(dir.path());
        let bytes = std::fs::read(&lib).expect("read");
        std::fs::write(signature_path(&lib), key().sign(&bytes).expect("sign")).expect("sig");
        let a = admit(
            &lib,
            read_library(&lib).expect("read"),
            &policy(false, true),
            None,
        )
        .expect("admitted");
        let fp = key().public_key().expect("public").fingerprint;
        assert_eq!(a.admission, Admission::Signed { fingerprint: fp });
        assert_eq!(
            a.sha256,
            crate::trust::digest_hex(&crate::trust::digest(&bytes))
        );
        assert_eq!(a.library().bytes(), &bytes[..]);
    }

    #[test]
    fn unsigned_or_untrusted_bytes_are_refused_unless_unsigned_is_allowed() {
        let dir = tempfile::tempdir().expect("tmp");
        let lib = library(dir.path());
        let refused = |p: &TrustPolicy| {
            admit(&lib, read_library(&lib).expect("read"), p, None)
                .err()
                .map(|e| e.to_string())
        };
        let no_sig = refused(&policy(false, true)).expect("no signature: refused");
        assert!(no_sig.contains("libthing.so"), "{no_sig}");
        let allowed = admit(
            &lib,
            read_library(&lib).expect("read"),
            &policy(true, true),
            None,
        )
        .expect("unsigned allowed");
        assert_eq!(allowed.admission, Admission::Unsigned);
        // Signed, but by a key nobody trusts.
        let bytes = std::fs::read(&lib).expect("read");
        std::fs::write(signature_path(&lib), key().sign(&bytes).expect("sign")).expect("sig");
        assert!(refused(&policy(false, false)).is_some());
        // A signature of other bytes.
        std::fs::write(&lib, b"\x7fELF other bytes").expect("rewrite");
        assert!(refused(&policy(false, true)).is_some());
    }

    #[test]
    fn a_recorded_hash_is_checked_before_the_signature() {
        let dir = tempfile::tempdir().expect("tmp");
        let lib = library(dir.path());
        // No signature at all: the hash mismatch is what is reported.
        let e = admit(
            &lib,
            read_library(&lib).expect("read"),
            &policy(true, false),
            Some(("thing@1.0.0", "00ff")),
        )
        .err()
        .expect("modified");
        assert!(matches!(e, LoadError::Modified { .. }), "{e}");
        let text = e.to_string();
        assert!(
            text.contains("thing@1.0.0") && text.contains("00ff"),
            "{text}"
        );
    }
}
