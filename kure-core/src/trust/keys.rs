//! RSA keys: trusted public keys (PEM, one or a bundle) and the private keys that sign
//! plugins, with their fingerprints.

use std::fmt;
use std::path::{Path, PathBuf};

use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use sha2::{Digest, Sha256};

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

pub(crate) fn hex(bytes: &[u8]) -> String {
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
    /// The size of the key's signatures, in bytes.
    pub(crate) fn signature_len(&self) -> usize {
        self.key.size()
    }

    pub(crate) fn recover_digest(&self, sig: &[u8]) -> Option<Vec<u8>> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_the_same_for_spki_and_pkcs1() {
        use rsa::pkcs1::EncodeRsaPublicKey;
        let k = PrivateKey::generate(2048).expect("keygen");
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
}
