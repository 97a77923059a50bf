//! `kure plugins push`: publish a signed library to an OCI registry.

use std::path::PathBuf;

use kure_core::ops::push::PushOptions;
use kure_core::ops::Session;

use crate::common::RegistryArgs;

/// The arguments of `kure plugins push`.
#[derive(Debug, clap::Args)]
pub struct PushArgs {
    /// The plugin library (signed: LIB.sig, or --sig).
    pub lib: PathBuf,
    /// Where: oci://REGISTRY/REPOSITORY:TAG (e.g. oci://ghcr.io/acme/terraform:1.0.0).
    pub reference: String,
    /// The signature (default LIB.sig).
    #[arg(long, value_name = "SIG")]
    pub sig: Option<PathBuf>,
    /// The platform LIB is built for, as OS/ARCH (default: this machine's, e.g. linux/amd64).
    /// Pushing another platform to the same tag adds it to the index; the same platform
    /// replaces its build.
    #[arg(long, value_name = "OS/ARCH")]
    pub platform: Option<String>,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// Runs `kure plugins push`.
pub fn push(session: &Session, args: PushArgs) -> anyhow::Result<()> {
    let (pushed, config) = kure_core::ops::push::push(
        session,
        &PushOptions {
            library: &args.lib,
            sig: args.sig.as_deref(),
            reference: &args.reference,
            platform: args.platform.as_deref(),
            registry: &args.registry.options(),
        },
    )?;
    outln!(
        "pushed {}@{} ({}) to {}\nmanifest {}\nindex    {} (platforms: {})",
        config.name,
        config.version,
        config.gvks.join(", "),
        args.reference,
        pushed.manifest_digest,
        pushed.index_digest,
        pushed.platforms.join(", ")
    );
    Ok(())
}
