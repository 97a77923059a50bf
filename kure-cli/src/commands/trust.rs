//! `kure trust`: manage the public keys whose signatures kure accepts.

use std::path::PathBuf;

use anyhow::Context;
use kure_core::config::{signers_dir, trusted_signers};
use kure_core::trust::PublicKey;

use crate::common::{print_table, GlobalArgs};

/// Manage trusted plugin signers (PEM RSA public keys in $KURE_HOME/trusted-signers).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Trust a public key (SPKI or PKCS#1 PEM, RSA 2048-4096 bits).
    Add {
        /// The PEM public key file.
        key: PathBuf,
    },
    /// List trusted signers: fingerprint (SHA-256 of the DER public key), size, file.
    List,
    /// Stop trusting a key, by fingerprint (or a unique prefix of it).
    Remove {
        /// The fingerprint.
        fingerprint: String,
    },
}

/// Runs `kure trust`.
pub fn execute(global: &GlobalArgs, args: Args) -> anyhow::Result<()> {
    let (home, config) = global.home()?;
    match args.command {
        Command::Add { key } => {
            let k = PublicKey::from_file(&key)?;
            let dir = signers_dir(&home);
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let dest = dir.join(format!("{}.pem", k.fingerprint));
            let tmp = dir.join(format!(".{}.tmp", k.fingerprint));
            std::fs::write(&tmp, k.to_pem())
                .and_then(|()| std::fs::rename(&tmp, &dest))
                .with_context(|| format!("writing {}", dest.display()))?;
            outln!(
                "trusted {} ({} bits) from {}",
                k.fingerprint,
                k.bits(),
                key.display()
            );
        }
        Command::List => {
            let keys = trusted_signers(&home, &config)?;
            let rows: Vec<Vec<String>> = keys
                .iter()
                .map(|k| {
                    vec![
                        k.fingerprint.clone(),
                        k.bits().to_string(),
                        k.source.display().to_string(),
                    ]
                })
                .collect();
            print_table(&["FINGERPRINT", "BITS", "FILE"], &rows);
        }
        Command::Remove { fingerprint } => {
            let keys = trusted_signers(&home, &config)?;
            let matching: Vec<&PublicKey> = keys
                .iter()
                .filter(|k| k.fingerprint.starts_with(&fingerprint.to_lowercase()))
                .collect();
            match matching.as_slice() {
                [] => anyhow::bail!(
                    "no trusted signer with fingerprint {fingerprint}; see `kure trust list`"
                ),
                [k] => {
                    if !k.source.starts_with(signers_dir(&home)) {
                        anyhow::bail!(
                            "{} is trusted through {}/config.yaml (trusted_signers: {}); remove it there",
                            k.fingerprint,
                            home.display(),
                            k.source.display()
                        );
                    }
                    std::fs::remove_file(&k.source)
                        .with_context(|| format!("removing {}", k.source.display()))?;
                    outln!("removed {}", k.fingerprint);
                }
                _ => anyhow::bail!(
                    "fingerprint prefix {fingerprint} matches {} keys; give more digits",
                    matching.len()
                ),
            }
        }
    }
    Ok(())
}
