//! Trust: RSA keys, signatures in the format of `openssl dgst -sha256 -sign`, and the policy
//! deciding which plugin libraries may be loaded.
//!
//! A signature is RSA PKCS#1 v1.5 over the SHA-256 of the library's bytes, stored as raw bytes
//! in `<library>.sig`. The library is hashed once; the digest is checked against each trusted
//! key. When no key accepts the signature, each key is used once more to recover what was
//! signed, so the refusal can say whether the library changed after signing or the signer is
//! not trusted.

pub mod audit;

use std::fmt;
use std::path::{Path, PathBuf};

use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use sha2::{Digest, Sha256};

use crate::plugin::LoadError;

/// What a PEM `PUBLIC KEY` that is not RSA holds, for the message that refuses it: "an EC key
/// (prime256v1)", "an Ed25519 key". `None` when it cannot be read at all.
fn key_algorithm(pem: &str) -> Option<String> {
    use rsa::pkcs8::der::{Decode, Document};
    use rsa::pkcs8::spki::SubjectPublicKeyInfoRef;
    let (_, doc) = Document::from_pem(pem.trim()).ok()?;
    let spki = SubjectPublicKeyInfoRef::from_der(doc.as_bytes()).ok()?;
    let oid = spki.algorithm.oid.to_string();
    let curve = spki
        .algorithm
        .parameters_oid()
        .ok()
        .map(|c| match c.to_string().as_str() {
            "1.2.840.10045.3.1.7" => "prime256v1".to_owned(),
            "1.3.132.0.34" => "secp384r1".to_owned(),
            "1.3.132.0.35" => "secp521r1".to_owned(),
            "1.3.132.0.10" => "secp256k1".to_owned(),
            other => format!("curve {other}"),
        });
    Some(match oid.as_str() {
        "1.2.840.10045.2.1" => match curve {
            Some(c) => format!("an EC key ({c})"),
            None => "an EC key".to_owned(),
        },
        "1.3.101.112" => "an Ed25519 key".to_owned(),
        "1.3.101.113" => "an Ed448 key".to_owned(),
        "1.2.840.10040.4.1" => "a DSA key".to_owned(),
        "1.2.840.113549.1.1.1" => return None,
        other => format!("a key of algorithm {other}"),
    })
}

/// Smallest accepted key size in bits.
pub const MIN_KEY_BITS: usize = 2048;
/// Largest accepted key size in bits.
pub const MAX_KEY_BITS: usize = 4096;

/// A key problem: not PEM, not RSA, wrong size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {reason}", path.display())]
pub struct KeyError {
    /// The key file (or a description of where the key came from).
    pub path: PathBuf,
    /// What is wrong and what to do.
    pub reason: String,
}

/// SHA-256 of some bytes, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    use fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// An RSA public key trusted (or offered) as a plugin signer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    key: RsaPublicKey,
    /// SHA-256 of the key's SubjectPublicKeyInfo DER, hex: the same for SPKI and PKCS#1 PEMs.
    pub fingerprint: String,
    /// Where the key was read from.
    pub source: PathBuf,
}

impl PublicKey {
    /// Parses a PEM public key (SPKI `PUBLIC KEY` or PKCS#1 `RSA PUBLIC KEY`).
    pub fn from_pem(pem: &str, source: &Path) -> Result<Self, KeyError> {
        let err = |reason: String| KeyError {
            path: source.to_path_buf(),
            reason,
        };
        let key = if pem.contains("-----BEGIN PUBLIC KEY-----") {
            RsaPublicKey::from_public_key_pem(pem.trim()).map_err(|e| {
                err(match key_algorithm(pem) {
                    Some(what) => format!(
                        "{what}: kure accepts RSA keys of {MIN_KEY_BITS} to {MAX_KEY_BITS} bits; ask the plugin author for an RSA key"
                    ),
                    None => format!(
                        "not an RSA public key ({e}); kure accepts RSA keys of {MIN_KEY_BITS} to {MAX_KEY_BITS} bits"
                    ),
                })
            })?
        } else if pem.contains("-----BEGIN RSA PUBLIC KEY-----") {
            RsaPublicKey::from_pkcs1_pem(pem.trim())
                .map_err(|e| err(format!("invalid PKCS#1 RSA public key: {e}")))?
        } else if pem.contains("PRIVATE KEY-----") {
            return Err(err(
                "this is a private key; trust the public key instead (openssl pkey -in KEY -pubout)".to_owned(),
            ));
        } else {
            return Err(err(
                "not a PEM public key (expected -----BEGIN PUBLIC KEY----- or -----BEGIN RSA PUBLIC KEY-----)".to_owned(),
            ));
        };
        let bits = key.n().bits();
        if !(MIN_KEY_BITS..=MAX_KEY_BITS).contains(&bits) {
            return Err(err(format!(
                "RSA key of {bits} bits refused: use {MIN_KEY_BITS} to {MAX_KEY_BITS} bits"
            )));
        }
        let der = key
            .to_public_key_der()
            .map_err(|e| err(format!("cannot encode key: {e}")))?;
        Ok(Self {
            fingerprint: sha256_hex(der.as_bytes()),
            key,
            source: source.to_path_buf(),
        })
    }

    /// Parses one or more concatenated PEM public keys (a bundle such as
    /// `/etc/kure/trusted-signers.pem`). Text between the blocks is ignored; a bundle without a
    /// key, or with a block that is not a usable public key, is an error naming the block.
    pub fn from_pem_bundle(text: &str, source: &Path) -> Result<Vec<Self>, KeyError> {
        let blocks = pem::parse_many(text).map_err(|e| KeyError {
            path: source.to_path_buf(),
            reason: format!("not a PEM bundle: {e}"),
        })?;
        if blocks.is_empty() {
            return Err(KeyError {
                path: source.to_path_buf(),
                reason: "no PEM public key in it (expected -----BEGIN PUBLIC KEY----- blocks)"
                    .to_owned(),
            });
        }
        blocks
            .iter()
            .enumerate()
            .map(|(i, b)| {
                Self::from_pem(&pem::encode(b), source).map_err(|e| KeyError {
                    path: e.path,
                    reason: format!("key {} of {}: {}", i + 1, blocks.len(), e.reason),
                })
            })
            .collect()
    }

    /// Reads a PEM public key file.
    pub fn from_file(path: &Path) -> Result<Self, KeyError> {
        let pem = crate::input::read_small_text(path).map_err(|e| KeyError {
            path: path.to_path_buf(),
            reason: format!("cannot read key: {e}"),
        })?;
        Self::from_pem(&pem, path)
    }

    /// Key size in bits.
    pub fn bits(&self) -> usize {
        self.key.n().bits()
    }

    /// The key as SPKI PEM.
    pub fn to_pem(&self) -> String {
        self.key
            .to_public_key_pem(LineEnding::LF)
            .unwrap_or_default()
    }

    /// Checks `sig` over a SHA-256 `digest`.
    pub fn verify_digest(&self, digest: &[u8], sig: &[u8]) -> bool {
        self.key
            .verify(Pkcs1v15Sign::new::<Sha256>(), digest, sig)
            .is_ok()
    }

    /// If `sig` was made by this key (valid PKCS#1 v1.5 SHA-256 structure), the digest it
    /// signs. Used only to explain a failed verification.
    fn recover_digest(&self, sig: &[u8]) -> Option<Vec<u8>> {
        const PREFIX: [u8; 19] = [
            0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x01, 0x05, 0x00, 0x04, 0x20,
        ];
        let k = self.key.size();
        if sig.len() != k {
            return None;
        }
        let s = BigUint::from_bytes_be(sig);
        if &s >= self.key.n() {
            return None;
        }
        let m = s.modpow(self.key.e(), self.key.n()).to_bytes_be();
        let mut em = vec![0u8; k - m.len()];
        em.extend_from_slice(&m);
        if em.len() < 11 + PREFIX.len() + 32 || em[0] != 0 || em[1] != 1 {
            return None;
        }
        let sep = em[2..].iter().position(|b| *b != 0xff)? + 2;
        if em[sep] != 0 || sep < 10 {
            return None;
        }
        let rest = &em[sep + 1..];
        (rest.len() == PREFIX.len() + 32 && rest[..PREFIX.len()] == PREFIX)
            .then(|| rest[PREFIX.len()..].to_vec())
    }
}

/// A private key for signing plugins.
pub struct PrivateKey {
    key: RsaPrivateKey,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKey(..)")
    }
}

impl PrivateKey {
    /// Generates a key of `bits` (2048 to 4096).
    pub fn generate(bits: usize) -> Result<Self, KeyError> {
        if !(MIN_KEY_BITS..=MAX_KEY_BITS).contains(&bits) {
            return Err(KeyError {
                path: PathBuf::from("--bits"),
                reason: format!("{bits} bits refused: use {MIN_KEY_BITS} to {MAX_KEY_BITS}"),
            });
        }
        let key = RsaPrivateKey::new(&mut rand_core::OsRng, bits).map_err(|e| KeyError {
            path: PathBuf::from("keygen"),
            reason: e.to_string(),
        })?;
        Ok(Self { key })
    }

    /// Reads a PEM private key (PKCS#8 `PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`).
    pub fn from_file(path: &Path) -> Result<Self, KeyError> {
        let err = |reason: String| KeyError {
            path: path.to_path_buf(),
            reason,
        };
        let pem = crate::input::read_small_text(path)
            .map_err(|e| err(format!("cannot read key: {e}")))?;
        let key = if pem.contains("-----BEGIN PRIVATE KEY-----") {
            RsaPrivateKey::from_pkcs8_pem(pem.trim())
                .map_err(|e| err(format!("not an RSA private key ({e})")))?
        } else if pem.contains("-----BEGIN RSA PRIVATE KEY-----") {
            RsaPrivateKey::from_pkcs1_pem(pem.trim())
                .map_err(|e| err(format!("invalid RSA private key: {e}")))?
        } else if pem.contains("ENCRYPTED PRIVATE KEY") {
            return Err(err(
                "encrypted private keys are not supported; decrypt it with `openssl pkey`"
                    .to_owned(),
            ));
        } else {
            return Err(err(
                "not a PEM private key (expected -----BEGIN PRIVATE KEY-----)".to_owned(),
            ));
        };
        let bits = key.n().bits();
        if !(MIN_KEY_BITS..=MAX_KEY_BITS).contains(&bits) {
            return Err(err(format!(
                "RSA key of {bits} bits refused: use {MIN_KEY_BITS} to {MAX_KEY_BITS} bits"
            )));
        }
        Ok(Self { key })
    }

    /// The matching public key.
    pub fn public_key(&self) -> Result<PublicKey, KeyError> {
        let pem = self
            .key
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| KeyError {
                path: PathBuf::from("key"),
                reason: e.to_string(),
            })?;
        PublicKey::from_pem(&pem, Path::new("generated key"))
    }

    /// PKCS#8 PEM of the private key.
    pub fn to_pem(&self) -> Result<String, KeyError> {
        self.key
            .to_pkcs8_pem(LineEnding::LF)
            .map(|p| p.to_string())
            .map_err(|e| KeyError {
                path: PathBuf::from("key"),
                reason: e.to_string(),
            })
    }

    /// Signs `bytes`: exactly what `openssl dgst -sha256 -sign KEY` writes.
    pub fn sign(&self, bytes: &[u8]) -> Result<Vec<u8>, KeyError> {
        let digest = Sha256::digest(bytes);
        self.key
            .sign(Pkcs1v15Sign::new::<Sha256>(), &digest)
            .map_err(|e| KeyError {
                path: PathBuf::from("key"),
                reason: format!("signing failed: {e}"),
            })
    }
}

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
    Missing(PathBuf),
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
            SignatureProblem::Missing(p) => write!(
                f,
                "no signature: {} does not exist; sign the library with `kure plugins sign LIB --key KEY.pem` (or `openssl dgst -sha256 -sign KEY.pem -out LIB.sig LIB`), or pass --allow-unsigned for development",
                p.display()
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
    if !signers.iter().any(|k| k.key.size() == sig.len()) {
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
        let sig = match crate::input::read_small(&sig_path) {
            Ok(s) => Some(s),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(LoadError::Signature {
                    path: path.to_path_buf(),
                    reason: format!("cannot read signature {}: {e}", sig_path.display()),
                })
            }
        };
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
            return Err(refuse(SignatureProblem::Missing(sig_path.to_path_buf())));
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
    fn fingerprint_is_the_same_for_spki_and_pkcs1() {
        use rsa::pkcs1::EncodeRsaPublicKey;
        let k = key();
        let spki = k.public_key().expect("pub");
        let pkcs1 = k
            .key
            .to_public_key()
            .to_pkcs1_pem(LineEnding::LF)
            .expect("pkcs1");
        let from_pkcs1 = PublicKey::from_pem(&pkcs1, Path::new("k.pem")).expect("parse");
        assert_eq!(spki.fingerprint, from_pkcs1.fingerprint);
        assert_eq!(spki.fingerprint.len(), 64);
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
