//! Trust: RSA keys, signatures in the format of `openssl dgst -sha256 -sign`, and the policy
//! deciding which plugin libraries may be loaded.
//!
//! A signature is RSA PKCS#1 v1.5 over the SHA-256 of the library's bytes, stored as raw bytes
//! in `<library>.sig`. The library is hashed once; the digest is checked against each trusted
//! key. When no key accepts the signature, each key is used once more to recover what was
//! signed, so the refusal can say whether the library changed after signing or the signer is
//! not trusted.

pub mod audit;
mod keys;
mod signature;

use std::path::Path;

pub use keys::*;
pub use signature::*;

use crate::plugin::LoadError;

/// Reads the signature file at `sig_path` (a small file: the size limit of
/// [`crate::input::read_small`]); `None` when there is none. The one place kure reads a `.sig`.
pub fn read_signature(sig_path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    match crate::input::read_small(sig_path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// What the host accepts.
#[derive(Debug, Clone, Default)]
pub struct TrustPolicy {
    /// Load plugins without a trusted signature (development only).
    pub allow_unsigned: bool,
    /// Trusted signers.
    pub signers: Vec<PublicKey>,
}

impl TrustPolicy {
    /// Decides whether `bytes` (read from `path`) may be loaded, with the signature at
    /// `<path>.sig`.
    pub fn admit(&self, path: &Path, bytes: &[u8]) -> Result<Admission, LoadError> {
        self.admit_digest(path, &digest(bytes))
    }

    /// Like [`admit`](Self::admit), for bytes whose SHA-256 is already known.
    pub fn admit_digest(&self, path: &Path, digest: &[u8; 32]) -> Result<Admission, LoadError> {
        let sig_path = signature_path(path);
        let sig = read_signature(&sig_path).map_err(|e| LoadError::Signature {
            path: path.to_path_buf(),
            reason: format!("cannot read signature {}: {e}", sig_path.display()),
        })?;
        self.check(path, digest, sig.as_deref(), &sig_path)
    }

    /// Decides on `bytes` given the signature bytes already read (`None`: no signature file).
    pub fn check(
        &self,
        path: &Path,
        digest: &[u8; 32],
        sig: Option<&[u8]>,
        sig_path: &Path,
    ) -> Result<Admission, LoadError> {
        let refuse = |p: SignatureProblem| LoadError::Signature {
            path: path.to_path_buf(),
            reason: p.to_string(),
        };
        let Some(sig) = sig else {
            if self.allow_unsigned {
                return Ok(Admission::Unsigned);
            }
            return Err(refuse(SignatureProblem::Missing {
                sig: sig_path.to_path_buf(),
                lib: path.to_path_buf(),
            }));
        };
        match verify_digest(digest, sig, sig_path, &self.signers) {
            Ok(fingerprint) => Ok(Admission::Signed { fingerprint }),
            Err(_) if self.allow_unsigned => Ok(Admission::Unsigned),
            Err(p) => Err(refuse(p)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_is_read_or_missing_or_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sig = dir.path().join("lib.so.sig");
        assert_eq!(read_signature(&sig).expect("missing is fine"), None);
        std::fs::write(&sig, b"sig").expect("write");
        assert_eq!(read_signature(&sig).expect("read"), Some(b"sig".to_vec()));
        // A directory where the signature should be is an error, not "unsigned".
        let odd = dir.path().join("dir.so.sig");
        std::fs::create_dir(&odd).expect("mkdir");
        assert!(read_signature(&odd).is_err());
    }

    fn key() -> PrivateKey {
        PrivateKey::generate(2048).expect("keygen")
    }

    #[test]
    fn sign_verify_and_diagnose() {
        let k = key();
        let other = key();
        let pubk = k.public_key().expect("pub");
        let sig = k.sign(b"library bytes").expect("sign");
        let p = Path::new("lib.so.sig");
        assert_eq!(
            verify(b"library bytes", &sig, p, std::slice::from_ref(&pubk)),
            Ok(pubk.fingerprint.clone())
        );
        assert!(matches!(
            verify(b"library bytez", &sig, p, std::slice::from_ref(&pubk)),
            Err(SignatureProblem::Modified { .. })
        ));
        let osig = other.sign(b"library bytes").expect("sign");
        assert_eq!(
            verify(b"library bytes", &osig, p, std::slice::from_ref(&pubk)),
            Err(SignatureProblem::UntrustedSigner)
        );
        assert!(matches!(
            verify(
                b"library bytes",
                &sig[..100],
                p,
                std::slice::from_ref(&pubk)
            ),
            Err(SignatureProblem::Malformed { len: 100, .. })
        ));
        assert!(matches!(
            verify(b"x", b"", p, std::slice::from_ref(&pubk)),
            Err(SignatureProblem::Empty(_))
        ));
        assert_eq!(
            verify(b"x", &sig, p, &[]),
            Err(SignatureProblem::NoTrustedSigners)
        );
    }

    #[test]
    fn bad_keys_are_refused_with_reasons() {
        let e = PublicKey::from_pem("hello", Path::new("k.pem")).expect_err("not pem");
        assert!(e.reason.contains("not a PEM public key"));
        let k = key();
        let e = PublicKey::from_pem(&k.to_pem().expect("pem"), Path::new("k.pem"))
            .expect_err("private");
        assert!(e.reason.contains("private key"));
        assert!(PrivateKey::generate(1024).is_err());
    }
}
