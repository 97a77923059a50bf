//! `kure plugins keygen`, `sign` and `verify`: the author's signing tools.

use std::path::{Path, PathBuf};

use anyhow::Context;
use kure_core::trust::{self, signature_path, PrivateKey};

use crate::common::GlobalArgs;

/// The arguments of `kure plugins keygen`.
#[derive(Debug, clap::Args)]
pub struct KeygenArgs {
    /// Path prefix of the two files.
    #[arg(long, value_name = "PREFIX")]
    pub out: PathBuf,
    /// Key size in bits (2048 to 4096).
    #[arg(long, default_value_t = 3072)]
    pub bits: usize,
}

/// Runs `kure plugins keygen`.
pub fn keygen(args: KeygenArgs) -> anyhow::Result<()> {
    let KeygenArgs { out, bits } = args;
    let key = PrivateKey::generate(bits)?;
    let pubkey = key.public_key()?;
    let priv_path = PathBuf::from(format!("{}.key.pem", out.display()));
    let pub_path = PathBuf::from(format!("{}.pub.pem", out.display()));
    if pub_path.exists() {
        anyhow::bail!("{} exists; refusing to overwrite a key", pub_path.display());
    }
    write_private(&priv_path, &key.to_pem()?)?;
    std::fs::write(&pub_path, pubkey.to_pem())
        .with_context(|| format!("writing {}", pub_path.display()))?;
    outln!(
        "private key: {}\npublic key:  {}\nfingerprint: {}",
        priv_path.display(),
        pub_path.display(),
        pubkey.fingerprint
    );
    Ok(())
}

/// The arguments of `kure plugins sign`.
#[derive(Debug, clap::Args)]
pub struct SignArgs {
    /// The plugin library.
    pub lib: PathBuf,
    /// The PEM private key (PKCS#8 or PKCS#1).
    #[arg(long, value_name = "KEY.pem")]
    pub key: PathBuf,
    /// Where to write the signature (default LIB.sig).
    #[arg(long, value_name = "SIG")]
    pub out: Option<PathBuf>,
}

/// Runs `kure plugins sign`.
pub fn sign(args: SignArgs) -> anyhow::Result<()> {
    let SignArgs { lib, key, out } = args;
    let key = PrivateKey::from_file(&key)?;
    let bytes = std::fs::read(&lib).with_context(|| format!("reading {}", lib.display()))?;
    let sig = key.sign(&bytes)?;
    let out = out.unwrap_or_else(|| signature_path(&lib));
    std::fs::write(&out, sig).with_context(|| format!("writing {}", out.display()))?;
    outln!(
        "signed {} -> {} (signer {})",
        lib.display(),
        out.display(),
        key.public_key()?.fingerprint
    );
    Ok(())
}

/// The arguments of `kure plugins verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The plugin library.
    pub lib: PathBuf,
    /// The signature (default LIB.sig).
    #[arg(long, value_name = "SIG")]
    pub sig: Option<PathBuf>,
}

/// Runs `kure plugins verify`.
pub fn verify(global: &GlobalArgs, args: VerifyArgs) -> anyhow::Result<()> {
    let VerifyArgs { lib, sig } = args;
    let policy = global.trust()?;
    // Streamed: a large library is never held in memory whole.
    let digest = trust::digest_file(&lib).with_context(|| format!("reading {}", lib.display()))?;
    let sig_path = sig.unwrap_or_else(|| signature_path(&lib));
    let Some(sig) = trust::read_signature(&sig_path)
        .with_context(|| format!("reading {}", sig_path.display()))?
    else {
        anyhow::bail!(
            "{}: {}",
            lib.display(),
            trust::SignatureProblem::Missing(sig_path)
        )
    };
    match trust::verify_digest(&digest, &sig, &sig_path, &policy.signers) {
        Ok(fp) => {
            let source = policy
                .signers
                .iter()
                .find(|k| k.fingerprint == fp)
                .map(|k| k.source.display().to_string());
            outln!(
                "verified: {} is signed by {fp} ({})",
                lib.display(),
                source.unwrap_or_default()
            );
        }
        Err(p) => anyhow::bail!("{}: {p}", lib.display()),
    }
    Ok(())
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).with_context(|| {
        format!(
            "creating {} (refusing to overwrite an existing key)",
            path.display()
        )
    })?;
    f.write_all(contents.as_bytes())?;
    Ok(())
}
