//! `kure plugins install` and `uninstall`.

use std::path::PathBuf;

use kure_core::store::InstallOutcome;
use kure_core::trust::short_fp;

use kure_core::ops::Session;
use kure_core::store::registry::OciRef;

use crate::common::RegistryArgs;

/// The arguments of `kure plugins install`.
#[derive(Debug, clap::Args)]
pub struct InstallArgs {
    /// The plugin library, or an OCI artifact pushed with `kure plugins push`
    /// (oci://REGISTRY/REPOSITORY:TAG or @sha256:DIGEST): this machine's build is downloaded,
    /// then checked exactly like a file.
    pub path: PathBuf,
    /// The signature (default PATH.sig).
    #[arg(long, value_name = "SIG")]
    pub sig: Option<PathBuf>,
    /// Replace an installed plugin that provides one of the same GVKs.
    #[arg(long)]
    pub replace: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// Runs `kure plugins install`.
pub fn install(session: &Session, args: InstallArgs) -> anyhow::Result<()> {
    let InstallArgs {
        path,
        sig,
        replace,
        registry,
    } = args;
    let installed = match path.to_str().filter(|p| OciRef::is_oci(p)) {
        Some(reference) => {
            anyhow::ensure!(
                sig.is_none(),
                "--sig is for a library file: an OCI artifact carries its own signature"
            );
            kure_core::ops::install::install_from_registry(
                session,
                reference,
                replace,
                &registry.options(),
            )?
        }
        None => kure_core::ops::install::install_file(
            session,
            &path,
            sig.as_deref(),
            replace,
            &registry.options(),
        )?,
    };
    for dep in &installed.dependencies {
        outln!(
            "installed {}@{} (required) signed by {}{}",
            dep.name,
            dep.version,
            short_fp(&dep.signer),
            dep.source
                .as_deref()
                .map(|s| format!(" from {s}"))
                .unwrap_or_default()
        );
    }
    match installed.outcome {
        InstallOutcome::AlreadyInstalled(e) => {
            outln!(
                "{}@{} is already installed (same sha256); nothing to do",
                e.name,
                e.version
            )
        }
        InstallOutcome::Installed { entry, replaced } => {
            if entry.signer == "unsigned" {
                noteln!(
                    "warning: installed unsigned plugin {}@{} because unsigned plugins are allowed",
                    entry.name,
                    entry.version
                );
            }
            let gvks: Vec<String> = entry
                .gvks
                .iter()
                .map(|g| format!("{}/{}", g.api_version, g.kind))
                .collect();
            outln!(
                "installed {}@{} ({}) signed by {}",
                entry.name,
                entry.version,
                gvks.join(", "),
                short_fp(&entry.signer)
            );
            if let (Some(source), Some(digest)) = (&entry.source, &entry.digest) {
                outln!("from {source} ({digest})");
            }
            if !replaced.is_empty() {
                outln!("replaced {}", replaced.join(", "));
            }
        }
    }
    Ok(())
}

/// The arguments of `kure plugins uninstall`.
#[derive(Debug, clap::Args)]
pub struct UninstallArgs {
    /// Plugin names: several go in one step (all or none), as plugins that require each
    /// other must.
    #[arg(required = true, value_name = "NAME")]
    pub names: Vec<String>,
}

/// Runs `kure plugins uninstall`.
pub fn uninstall(session: &Session, args: UninstallArgs) -> anyhow::Result<()> {
    let UninstallArgs { names } = args;
    for e in kure_core::ops::plugins::uninstall(session, &names)? {
        outln!("uninstalled {}@{}", e.name, e.version);
    }
    Ok(())
}
