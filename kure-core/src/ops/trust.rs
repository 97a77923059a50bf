//! `kure trust add|list|remove` (the user's trusted signers) and `kure plugins verify`.

use std::path::{Path, PathBuf};

use crate::config::{signer_sources, signers_dir, system_dir, KeyOrigin};
use crate::model::error::Error;
use crate::ops::session::Session;
use crate::trust::{self, PublicKey, SignatureProblem};

/// Trusts the PEM public key in `key`: a copy named by its fingerprint in the user's signers
/// directory, written atomically. The key trusted.
pub fn add(session: &Session, key: &Path) -> Result<PublicKey, Error> {
    let k = PublicKey::from_file(key).map_err(|e| Error::Trust(e.to_string()))?;
    let dir = signers_dir(session.home());
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let dest = dir.join(format!("{}.pem", k.fingerprint));
    crate::util::write_atomic(&dest, k.to_pem().as_bytes()).map_err(|e| Error::io(&dest, e))?;
    Ok(k)
}

/// Every trusted signer and where it comes from (the user's, the system's, config.yaml).
pub fn signers(session: &Session) -> Result<Vec<(PublicKey, KeyOrigin)>, Error> {
    signer_sources(session.home(), &system_dir(), session.config())
}

/// Stops trusting the key whose fingerprint starts with `fingerprint`: removes the user's
/// copies. A key that is also trusted through the system or config.yaml is an error saying
/// where (after the user's copies were removed). The fingerprint and the files removed.
pub fn remove(session: &Session, fingerprint: &str) -> Result<(String, Vec<PathBuf>), Error> {
    let home = session.home();
    let keys = signers(session)?;
    let wanted = fingerprint.to_lowercase();
    let shown = crate::util::shown(fingerprint);
    let mut fingerprints: Vec<&str> = keys
        .iter()
        .map(|(k, _)| k.fingerprint.as_str())
        .filter(|fp| fp.starts_with(&wanted))
        .collect();
    fingerprints.dedup();
    let fp = match fingerprints.as_slice() {
        [] => {
            return Err(Error::Trust(format!(
                "no trusted signer with fingerprint {shown}; see `kure trust list`"
            )))
        }
        [fp] => (*fp).to_owned(),
        many => {
            return Err(Error::Trust(format!(
                "fingerprint prefix {shown} matches {} keys; give more digits",
                many.len()
            )))
        }
    };
    let copies: Vec<&(PublicKey, KeyOrigin)> =
        keys.iter().filter(|(k, _)| k.fingerprint == fp).collect();
    let mut removed = Vec::new();
    for (k, origin) in &copies {
        if *origin == KeyOrigin::User && k.source.starts_with(signers_dir(home)) {
            std::fs::remove_file(&k.source).map_err(|e| Error::io(&k.source, e))?;
            removed.push(k.source.clone());
        }
    }
    let remaining: Vec<String> = copies
        .iter()
        .filter(|(_, origin)| *origin != KeyOrigin::User)
        .map(|(k, origin)| match origin {
            KeyOrigin::Config => format!(
                "`trusted_signers: [{}]` in a config.yaml ({} or {})",
                k.source.display(),
                home.join("config.yaml").display(),
                system_dir().join("config.yaml").display()
            ),
            _ => format!(
                "{} ({origin}, which an administrator changes)",
                k.source.display()
            ),
        })
        .collect();
    if !remaining.is_empty() {
        let done = if removed.is_empty() {
            String::new()
        } else {
            let files: Vec<String> = removed.iter().map(|p| p.display().to_string()).collect();
            format!("removed {}; but ", files.join(", "))
        };
        return Err(Error::Trust(format!(
            "{done}{fp} is still trusted through {}; remove it there",
            remaining.join(" and ")
        )));
    }
    Ok((fp, removed))
}

/// Checks `lib`'s signature (`sig`, default `<lib>.sig`) against the session's trusted
/// signers, reading the library streamed. The signer's fingerprint and key file.
pub fn verify(
    session: &Session,
    lib: &Path,
    sig: Option<&Path>,
) -> Result<(String, Option<PathBuf>), Error> {
    let policy = session.trust()?;
    let digest = trust::digest_file(lib).map_err(|e| Error::io(lib, e))?;
    let sig_path = sig.map_or_else(|| trust::signature_path(lib), Path::to_path_buf);
    let refused = |p: SignatureProblem| Error::Trust(format!("{}: {p}", lib.display()));
    let sig = trust::read_signature(&sig_path)
        .map_err(|e| Error::io(&sig_path, e))?
        .ok_or_else(|| {
            refused(SignatureProblem::Missing {
                sig: sig_path.clone(),
                lib: lib.to_path_buf(),
            })
        })?;
    let fp = trust::verify_digest(&digest, &sig, &sig_path, &policy.signers).map_err(refused)?;
    let source = policy
        .signers
        .iter()
        .find(|k| k.fingerprint == fp)
        .map(|k| k.source.clone());
    Ok((fp, source))
}

/// Whether Git ignores `path` in the work tree `root` (`git check-ignore`). Anything else
/// (no git, not a repository Git accepts) is "no": the key is then refused.
fn git_ignores(root: &Path, path: &Path) -> bool {
    std::process::Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["check-ignore", "-q", "--"])
        .arg(path)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A key pair `keygen` wrote.
#[derive(Debug, Clone)]
pub struct KeyPair {
    /// The private key (PKCS#8 PEM, mode 0600).
    pub private: PathBuf,
    /// The public key (SPKI PEM).
    pub public: PathBuf,
    /// The public key's fingerprint.
    pub fingerprint: String,
}

/// `kure plugins keygen`: an RSA key pair of `bits` bits in `PREFIX.key.pem` and
/// `PREFIX.pub.pem`. An existing file is never overwritten.
pub fn keygen(prefix: &Path, bits: usize, force: bool) -> Result<KeyPair, Error> {
    let key_err = |e: trust::KeyError| Error::Trust(e.to_string());
    if !force {
        let dir = crate::ops::session::absolute(prefix)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let key =
            crate::ops::session::absolute(&PathBuf::from(format!("{}.key.pem", prefix.display())));
        if let Some(root) = dir.ancestors().find(|d| d.join(".git").exists()) {
            if !git_ignores(root, &key) {
                return Err(Error::Trust(format!(
                    "{} is inside the Git work tree {} and Git does not ignore {}: a private key there is one `git add` away from being published. Write it outside the repository (e.g. --out ~/.kure/keys/NAME), ignore it in .gitignore, or pass --force",
                    dir.display(),
                    root.display(),
                    key.display()
                )));
            }
        }
    }
    let key = trust::PrivateKey::generate(bits).map_err(key_err)?;
    let public_key = key.public_key().map_err(key_err)?;
    let private = PathBuf::from(format!("{}.key.pem", prefix.display()));
    let public = PathBuf::from(format!("{}.pub.pem", prefix.display()));
    for p in [&private, &public] {
        if p.exists() {
            return Err(Error::Trust(format!(
                "{} exists; refusing to overwrite a key",
                p.display()
            )));
        }
    }
    // A directory for keys (`~/.kure/keys`) is made, readable by its owner only.
    if let Some(parent) = private.parent().filter(|p| !p.as_os_str().is_empty()) {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(|e| Error::io(parent, e))?;
    }
    write_new(&private, key.to_pem().map_err(key_err)?.as_bytes(), 0o600)?;
    write_new(&public, public_key.to_pem().as_bytes(), 0o644)?;
    Ok(KeyPair {
        private,
        public,
        fingerprint: public_key.fingerprint,
    })
}

/// `kure plugins sign`: signs `lib` with the private key in `key`, writing the signature to
/// `out` (default `<lib>.sig`) atomically. Where it wrote, and the signer's fingerprint.
pub fn sign(lib: &Path, key: &Path, out: Option<&Path>) -> Result<(PathBuf, String), Error> {
    let key_err = |e: trust::KeyError| Error::Trust(e.to_string());
    let key = trust::PrivateKey::from_file(key).map_err(key_err)?;
    let bytes = std::fs::read(lib).map_err(|e| Error::io(lib, e))?;
    let sig = key.sign(&bytes).map_err(key_err)?;
    let out = out.map_or_else(|| trust::signature_path(lib), Path::to_path_buf);
    crate::util::write_atomic(&out, &sig).map_err(|e| Error::io(&out, e))?;
    Ok((out, key.public_key().map_err(key_err)?.fingerprint))
}

/// Writes a new file (never an existing one) with `mode`.
fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<(), Error> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| {
            Error::Trust(format!(
                "creating {} (refusing to overwrite an existing key): {e}",
                path.display()
            ))
        })?;
    f.write_all(contents).map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 29: `kure plugins keygen --out signing` in a plugin's repository put the private
    /// key where `git add .` takes it.
    #[test]
    fn keygen_refuses_a_git_work_tree_unless_forced() {
        let repo = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(repo.path().join(".git")).expect(".git");
        std::fs::create_dir_all(repo.path().join("keys")).expect("keys");
        let prefix = repo.path().join("keys/signing");
        let e = keygen(&prefix, 2048, false).expect_err("inside a work tree");
        assert!(e.to_string().contains("inside the Git work tree"), "{e}");
        assert!(!repo.path().join("keys/signing.key.pem").exists());
        let pair = keygen(&prefix, 2048, true).expect("forced");
        assert!(pair.private.exists() && pair.public.exists());
        let outside = tempfile::tempdir().expect("tmp");
        keygen(&outside.path().join("keys/new/k"), 2048, false).expect("not a work tree");
        assert!(outside.path().join("keys/new/k.key.pem").is_file());
    }

    /// A path the repository's .gitignore covers (the scaffold's `*.key.pem`, `make demo`'s
    /// `target/`) is not one `git add` away: the key is written there.
    #[test]
    fn keygen_writes_where_git_ignores_the_key() {
        let repo = tempfile::tempdir().expect("tmp");
        let git = std::process::Command::new("git")
            .arg("init")
            .arg("-q")
            .arg(repo.path())
            .status();
        if !git.is_ok_and(|s| s.success()) {
            // CI skips nothing.
            assert!(
                std::env::var_os("CI").is_none(),
                "git cannot init a repository"
            );
            eprintln!("SKIPPED keygen_writes_where_git_ignores_the_key: git cannot init a repository here");
            return;
        }
        std::fs::write(repo.path().join(".gitignore"), "/target\n").expect("ignore");
        keygen(&repo.path().join("target/demo/k"), 2048, false).expect("ignored by git");
        assert!(repo.path().join("target/demo/k.key.pem").is_file());
        let e = keygen(&repo.path().join("keys/k"), 2048, false).expect_err("not ignored");
        assert!(e.to_string().contains("Git does not ignore"), "{e}");
    }
}
