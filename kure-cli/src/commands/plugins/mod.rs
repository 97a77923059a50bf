//! `kure plugins`: author tools (new, keygen, sign, verify) and the store (install,
//! uninstall, list, info, status, rebuild-index); one file per group of subcommands.

mod index;
mod info;
mod install;
mod keys;
mod list;
mod new;
mod push;
mod search;
mod status;
mod sync;
mod upgrade;

use kure_core::ops::Session;

/// Manage plugins: sign and verify libraries, install them into $KURE_HOME/plugins, list them.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Start a plugin: write a standalone crate (Cargo.toml, src/lib.rs with a spec struct and
    /// a generator, docs/*.md, two examples/*.yaml, and a test using kure_plugin_api::testing)
    /// whose `cargo test` passes as written. Its README shows the whole author loop.
    New(new::Args),
    /// Generate an RSA signing key pair: PREFIX.key.pem (private, mode 0600) and PREFIX.pub.pem.
    Keygen(keys::KeygenArgs),
    /// Sign a library: writes LIB.sig (openssl dgst -sha256 -sign compatible).
    Sign(keys::SignArgs),
    /// Check a library's signature against the trusted signers; prints the signer.
    Verify(keys::VerifyArgs),
    /// Verify a plugin, read its metadata, GVKs, schemas and docs, and add it to the store.
    Install(install::InstallArgs),
    /// Publish a signed plugin library to an OCI registry (oci://REGISTRY/REPOSITORY:TAG): an
    /// image index with one manifest per platform, each holding the library and its signature
    /// and a config with name, version and GVKs. `kure plugins install oci://...` installs it.
    Push(push::PushArgs),
    /// Install exactly the plugins the lock pins that this machine lacks, from the registry
    /// references `kure lock` recorded (this platform's digest when recorded), in parallel;
    /// refuse an installed plugin of a pinned name with other bytes or another signer.
    /// Needs no registry when everything is already installed.
    Sync(sync::SyncArgs),
    /// Manage plugin indexes (`add NAME URL|PATH`, `list`, `remove NAME`): YAML files listing
    /// plugins, their OCI repositories and versions, for `kure plugins search`.
    Index(index::IndexArgs),
    /// Search the configured plugin indexes: NAME VERSION GVKS DESCRIPTION INSTALLED. An index
    /// decides nothing about trust: install what it names as any artifact (its signature by a
    /// trusted key).
    Search(search::SearchArgs),
    /// Install, for each installed plugin a configured index lists (or the NAMEs given), the
    /// highest released version above the installed one, from its OCI repository, with every
    /// usual check. Pre-releases are never chosen.
    Upgrade(upgrade::UpgradeArgs),
    /// Remove an installed plugin: library, signature and index entry.
    Uninstall(install::UninstallArgs),
    /// List installed plugins (reads the index; never loads a library).
    List(list::Args),
    /// Show everything recorded about an installed plugin.
    Info(info::Args),
    /// Rebuild a lost or corrupted index from the libraries in the store (verifies each).
    RebuildIndex,
    /// Check installed plugins: recorded hash, trusted signature, lock pins (with ./kure.lock
    /// or --lock), then load each, run initialize and health_check (timed) and shutdown.
    /// Exits 1 if any check fails; a library failing hash, signature or lock is never run.
    Status(status::StatusArgs),
}

/// Runs `kure plugins`.
pub fn execute(session: &Session, args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::New(a) => new::execute(a),
        Command::Keygen(a) => keys::keygen(a),
        Command::Sign(a) => keys::sign(a),
        Command::Verify(a) => keys::verify(session, a),
        Command::Install(a) => install::install(session, a),
        Command::Push(a) => push::push(session, a),
        Command::Index(a) => index::index(session, a),
        Command::Search(a) => search::search(session, a),
        Command::Upgrade(a) => upgrade::upgrade(session, a),
        Command::Sync(a) => sync::sync(session, a),
        Command::Uninstall(a) => install::uninstall(session, a),
        Command::List(a) => list::execute(session, a),
        Command::Info(a) => info::execute(session, a),
        Command::RebuildIndex => status::rebuild_index(session),
        Command::Status(a) => status::status(session, a),
    }
}
