//! `kure trust`: manage the public keys whose signatures kure accepts.

use std::path::PathBuf;

use kure_core::config::system_dir;
use kure_core::ops::Session;

use crate::common::{print_table, print_value, Format};

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
pub fn execute(session: &Session, args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::Add { key } => {
            let k = kure_core::ops::trust::add(session, &key)?;
            outln!(
                "trusted {} ({} bits) from {}",
                k.fingerprint,
                k.bits(),
                key.display()
            );
        }
        Command::List { output } => {
            let keys = kure_core::ops::trust::signers(session)?;
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
            let (fp, removed) = kure_core::ops::trust::remove(session, &fingerprint)?;
            let files: Vec<String> = removed.iter().map(|p| p.display().to_string()).collect();
            outln!("removed {fp} ({})", files.join(", "));
        }
    }
    Ok(())
}
