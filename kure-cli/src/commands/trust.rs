//! `kure trust`: manage the public keys whose signatures kure accepts.

use std::path::PathBuf;

use anyhow::Context;
use kure_core::config::{signer_sources, signers_dir, system_dir, KeyOrigin};
use kure_core::trust::PublicKey;

use crate::common::{print_table, print_value, Format, GlobalArgs};

/// Manage trusted plugin signers: PEM RSA public keys in $KURE_HOME/trusted-signers (the user's),
/// and the system's /etc/kure/trusted-signers.pem (one or more keys) and
/// /etc/kure/trusted-signers/*.pem (KURE_SYSTEM_DIR moves /etc/kure).
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
    /// List trusted signers: fingerprint (SHA-256 of the DER public key), size, where the key
    /// comes from (user, system, system bundle, config.yaml) and its file.
    List {
        /// Output format: table, wide, json or yaml.
        #[arg(short, long, value_enum, default_value_t = Format::Table)]
        output: Format,
    },
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
        Command::List { output } => {
            let keys = signer_sources(&home, &system_dir(), &config)?;
            if matches!(output, Format::Json | Format::Yaml) {
                let list: Vec<serde_json::Value> = keys
                    .iter()
                    .map(|(k, origin)| {
                        serde_json::json!({
                            "fingerprint": k.fingerprint,
                            "bits": k.bits(),
                            "source": origin.to_string(),
                            "file": k.source.display().to_string(),
                        })
                    })
                    .collect();
                return print_value(&serde_json::Value::Array(list), output);
            }
            if keys.is_empty() {
                outln!(
                    "No trusted signers. Add one with `kure trust add KEY.pem`, or put PEM keys in {}.",
                    system_dir().join("trusted-signers.pem").display()
                );
                return Ok(());
            }
            let rows: Vec<Vec<String>> = keys
                .iter()
                .map(|(k, origin)| {
                    vec![
                        k.fingerprint.clone(),
                        k.bits().to_string(),
                        origin.to_string(),
                        k.source.display().to_string(),
                    ]
                })
                .collect();
            print_table(&["FINGERPRINT", "BITS", "SOURCE", "FILE"], &rows);
        }
        Command::Remove { fingerprint } => {
            let keys = signer_sources(&home, &system_dir(), &config)?;
            let wanted = fingerprint.to_lowercase();
            let mut fingerprints: Vec<&str> = keys
                .iter()
                .map(|(k, _)| k.fingerprint.as_str())
                .filter(|fp| fp.starts_with(&wanted))
                .collect();
            fingerprints.dedup();
            let fp = match fingerprints.as_slice() {
                [] => anyhow::bail!(
                    "no trusted signer with fingerprint {fingerprint}; see `kure trust list`"
                ),
                [fp] => (*fp).to_owned(),
                many => anyhow::bail!(
                    "fingerprint prefix {fingerprint} matches {} keys; give more digits",
                    many.len()
                ),
            };
            let copies: Vec<&(PublicKey, KeyOrigin)> =
                keys.iter().filter(|(k, _)| k.fingerprint == fp).collect();
            let mut removed = Vec::new();
            for (k, origin) in &copies {
                if *origin == KeyOrigin::User && k.source.starts_with(signers_dir(&home)) {
                    std::fs::remove_file(&k.source)
                        .with_context(|| format!("removing {}", k.source.display()))?;
                    removed.push(k.source.display().to_string());
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
                    format!("removed {}; but ", removed.join(", "))
                };
                anyhow::bail!(
                    "{done}{fp} is still trusted through {}; remove it there",
                    remaining.join(" and ")
                );
            }
            outln!("removed {fp} ({})", removed.join(", "));
        }
    }
    Ok(())
}
