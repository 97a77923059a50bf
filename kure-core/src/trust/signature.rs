//! Signatures in the format of `openssl dgst -sha256 -sign`: RSA PKCS#1 v1.5 over the SHA-256
//! of a library's bytes, stored raw in `<library>.sig`, and what is wrong when one does not
//! verify.

use std::fmt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::keys::{hex, PublicKey, MAX_KEY_BITS, MIN_KEY_BITS};
/// Where a library's signature is expected: `<library>.sig`.
pub fn signature_path(library: &Path) -> PathBuf {
    let mut s = library.as_os_str().to_owned();
    s.push(".sig");
    PathBuf::from(s)
}

/// The signer recorded for a library admitted without a signature.
pub const UNSIGNED: &str = "unsigned";

/// How a library was admitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// A trusted key signed exactly these bytes.
    Signed {
        /// The signer's fingerprint.
        fingerprint: String,
    },
    /// Loaded without a trusted signature because unsigned plugins are allowed.
    Unsigned,
}

impl Admission {
    /// The signer fingerprint, or `unsigned`.
    pub fn signer(&self) -> &str {
        match self {
            Admission::Signed { fingerprint } => fingerprint,
            Admission::Unsigned => UNSIGNED,
        }
    }
}

/// Why a signature does not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureProblem {
    /// No `.sig` file.
    Missing {
        /// The signature file that is not there.
        sig: PathBuf,
        /// The library it would sign.
        lib: PathBuf,
    },
    /// The `.sig` file is empty.
    Empty(PathBuf),
    /// No trusted signers are configured.
    NoTrustedSigners,
    /// Not of any trusted key's size: truncated or not an RSA signature.
    Malformed {
        /// The signature file.
        path: PathBuf,
        /// Its length.
        len: usize,
    },
    /// A trusted key made it, over different bytes.
    Modified {
        /// The key that signed.
        fingerprint: String,
    },
    /// No trusted key made it.
    UntrustedSigner,
}

impl fmt::Display for SignatureProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignatureProblem::Missing { sig, lib } => write!(
                f,
                "no signature: {} does not exist; sign the library with `kure plugins sign {} --key KEY.pem` (or `openssl dgst -sha256 -sign KEY.pem -out LIB.sig LIB`), or pass --allow-unsigned for development",
                sig.display(),
                lib.display()
            ),
            SignatureProblem::Empty(p) => write!(f, "the signature file {} is empty; sign the library again", p.display()),
            SignatureProblem::NoTrustedSigners => f.write_str(
                "no trusted signers are configured; trust the plugin author's public key with `kure trust add KEY.pem`",
            ),
            SignatureProblem::Malformed { path, len } => {
                let bits = len * 8;
                if len % 16 == 0 && (512..=16_384).contains(&bits) {
                    // An RSA signature is as long as its key: this one has another size.
                    write!(
                        f,
                        "the signature {} was made with a {bits}-bit key; kure accepts RSA keys of {MIN_KEY_BITS} to {MAX_KEY_BITS} bits (and only those it trusts): sign the library with such a key",
                        path.display()
                    )
                } else {
                    write!(
                        f,
                        "the signature file {} is truncated or not an RSA signature ({len} bytes); sign the library again",
                        path.display()
                    )
                }
            }
            SignatureProblem::Modified { fingerprint } => write!(
                f,
                "bad signature: the library's bytes are not what trusted signer {} signed (the library was modified after signing, or the signature belongs to another file)",
                short_fp(fingerprint)
            ),
            SignatureProblem::UntrustedSigner => f.write_str(
                "bad signature: it was not made by any trusted signer (unknown signer); trust the author's key with `kure trust add KEY.pem` if you trust them",
            ),
        }
    }
}

/// The first 16 hex digits of a fingerprint, for messages.
pub fn short_fp(fp: &str) -> &str {
    &fp[..fp.len().min(16)]
}

/// SHA-256 of some bytes.
pub fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// SHA-256 of a file, read in 1 MiB blocks (no copy of the whole file in memory).
pub fn digest_file(path: &Path) -> std::io::Result<[u8; 32]> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().into())
}

/// Hex of a digest.
pub fn digest_hex(d: &[u8; 32]) -> String {
    hex(d)
}

/// Verifies a library's bytes against a signature and a set of trusted keys.
pub fn verify(
    bytes: &[u8],
    sig: &[u8],
    sig_path: &Path,
    signers: &[PublicKey],
) -> Result<String, SignatureProblem> {
    verify_digest(&digest(bytes), sig, sig_path, signers)
}

/// Verifies a signature over a SHA-256 digest; see [`verify`].
pub fn verify_digest(
    digest: &[u8; 32],
    sig: &[u8],
    sig_path: &Path,
    signers: &[PublicKey],
) -> Result<String, SignatureProblem> {
    if sig.is_empty() {
        return Err(SignatureProblem::Empty(sig_path.to_path_buf()));
    }
    if signers.is_empty() {
        return Err(SignatureProblem::NoTrustedSigners);
    }
    if let Some(k) = signers.iter().find(|k| k.verify_digest(digest, sig)) {
        return Ok(k.fingerprint.clone());
    }
    let plausible_rsa =
        (MIN_KEY_BITS / 8..=MAX_KEY_BITS / 8).contains(&sig.len()) && sig.len().is_multiple_of(8);
    if !signers.iter().any(|k| k.signature_len() == sig.len()) {
        if plausible_rsa {
            return Err(SignatureProblem::UntrustedSigner);
        }
        return Err(SignatureProblem::Malformed {
            path: sig_path.to_path_buf(),
            len: sig.len(),
        });
    }
    match signers.iter().find(|k| k.recover_digest(sig).is_some()) {
        Some(k) => Err(SignatureProblem::Modified {
            fingerprint: k.fingerprint.clone(),
        }),
        None => Err(SignatureProblem::UntrustedSigner),
    }
}
