//! `kure plugins keygen`, `sign` and `verify`: the author's signing tools.

use std::path::PathBuf;

use kure_core::ops::Session;

/// The arguments of `kure plugins keygen`.
#[derive(Debug, clap::Args)]
pub struct KeygenArgs {
    /// Path prefix of the two files.
    #[arg(long, value_name = "PREFIX")]
    pub out: PathBuf,
    /// Key size in bits (2048 to 4096).
    #[arg(long, default_value_t = 3072)]
    pub bits: usize,
    /// Write the private key even inside a Git work tree where Git does not ignore it
    /// (refused otherwise: it would be one `git add` away from being published).
    #[arg(long)]
    pub force: bool,
}

/// Runs `kure plugins keygen`.
pub fn keygen(args: KeygenArgs) -> anyhow::Result<()> {
    let pair = kure_core::ops::trust::keygen(&args.out, args.bits, args.force)?;
    outln!(
        "private key: {}\npublic key:  {}\nfingerprint: {}",
        pair.private.display(),
        pair.public.display(),
        pair.fingerprint
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
    let (out, signer) = kure_core::ops::trust::sign(&lib, &key, out.as_deref())?;
    outln!(
        "signed {} -> {} (signer {signer})",
        lib.display(),
        out.display()
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
pub fn verify(session: &Session, args: VerifyArgs) -> anyhow::Result<()> {
    let VerifyArgs { lib, sig } = args;
    let (fp, source) = kure_core::ops::trust::verify(session, &lib, sig.as_deref())?;
    outln!(
        "verified: {} is signed by {fp} ({})",
        lib.display(),
        source.map(|s| s.display().to_string()).unwrap_or_default()
    );
    Ok(())
}
